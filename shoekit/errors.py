"""Errors shoekit raises on bad input: each message names the file (or row) and the fix."""

import re

RAISED_LINE = re.compile(r"\nshoekit(?:\.\w+)+: ")  # "shoekit.errors.ImageError: " ending a traceback
WORKER_PREFIX = "Caught "  # how torch's DataLoader starts an error it re-raises from a worker
WORKER_TRACEBACK = "\nOriginal Traceback (most recent call last):"


def worker_message(message: str) -> str:
    """The original message of an error torch's DataLoader re-raised from a worker process (it
    rebuilds the error with the worker's whole traceback as its message); others unchanged."""
    if not (message.startswith(WORKER_PREFIX) and WORKER_TRACEBACK in message):
        return message
    raised = list(RAISED_LINE.finditer(message))
    return message[raised[-1].end():].rstrip("\n") if raised else message


class ShoekitError(Exception):
    """Base class: the command line prints these as one clear line, never a traceback (also
    when the error happened in a DataLoader worker process: `worker_message`)."""

    def __init__(self, message: str = "", *args):
        super().__init__(worker_message(str(message)), *args)


class ManifestError(ShoekitError):
    """A dataset folder's manifest.csv is missing, malformed or inconsistent."""


class ImageError(ShoekitError):
    """An image file is missing, unreadable, or of a size/mode shoekit cannot use."""


class CheckpointError(ShoekitError):
    """A checkpoint or run folder does not match the model or is incomplete."""


class SettingsError(ShoekitError, ValueError):
    """Options that cannot be used together or are out of range (e.g. --rerank with a faiss index)."""


class DataError(ShoekitError):
    """A dataset's training sources (its cut-out record or cut-out folder) or a data option
    (such as --val-identities) cannot be used as asked."""


class TrainingError(ShoekitError):
    """Training cannot go on as configured (for example, its loss stopped being finite)."""
