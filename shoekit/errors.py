"""Errors shoekit raises on bad input: each message names the file (or row) and the fix."""


class ShoekitError(Exception):
    """Base class: the command line prints these as one clear line, never a traceback."""


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
