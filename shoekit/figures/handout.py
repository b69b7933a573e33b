"""A walk-through as a PDF handout for a class: a cover page, then one page per step with its
pictures and its plain-language text underneath (matplotlib's PdfPages, A4 portrait).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

A4_PORTRAIT_INCHES = (8.27, 11.69)
TEXT_WIDTH_CHARACTERS = 95
PICTURES_PER_ROW = 3
WIDE_RATIO = 3.0          # width / height over which a picture takes a row of its own
SQUARE_ROW_HEIGHT = 0.17  # share of the page height per row of square pictures
WIDE_ROW_HEIGHT = 0.08    # per row of wide pictures


@dataclass(frozen=True)
class HandoutStep:
    """One step: `title`, `text` (a few plain sentences), `pictures` [(image `(H, W, 3)` uint8, caption)]."""

    title: str
    text: str
    pictures: Sequence[tuple[np.ndarray, str]] = field(default_factory=tuple)


def wrapped(text: str, width: int = TEXT_WIDTH_CHARACTERS) -> str:
    """`text` wrapped to `width` characters per line, paragraphs (blank lines) kept."""
    return "\n\n".join(textwrap.fill(paragraph, width) for paragraph in text.split("\n\n"))


def cover_page(title: str, lines: Sequence[str], steps: Sequence[HandoutStep]):
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_PORTRAIT_INCHES)
    figure.text(0.08, 0.9, title, fontsize=20, weight="bold")
    body = [wrapped(line) for line in lines] + ["", "Steps:"]
    body += [f"  {number}. {step.title}" for number, step in enumerate(steps, start=1)]
    figure.text(0.08, 0.85, "\n".join(body), fontsize=11, va="top", linespacing=1.5)
    return figure


def picture_layout(pictures: Sequence[tuple[np.ndarray, str]]) -> tuple[int, int, float]:
    """(rows, columns, row height as a share of the page) for a step's pictures: wide pictures
    (strips and bars, over 3:1) one per row, others three per row."""
    wide = any(image.shape[1] > WIDE_RATIO * image.shape[0] for image, _ in pictures)
    columns = 1 if wide else min(len(pictures), PICTURES_PER_ROW)
    rows = -(-len(pictures) // columns)
    return rows, columns, WIDE_ROW_HEIGHT if wide else SQUARE_ROW_HEIGHT


def step_page(number: int, step: HandoutStep):
    """One step's page: title, its pictures (see `picture_layout`) with captions, the text below."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_PORTRAIT_INCHES)
    figure.text(0.08, 0.94, f"{number}. {step.title}", fontsize=16, weight="bold")
    top = 0.91
    if step.pictures:
        rows, columns, row_height = picture_layout(step.pictures)
        bottom = top - rows * row_height
        grid = figure.add_gridspec(rows, columns, left=0.1, right=0.9, top=top, bottom=bottom, wspace=0.1, hspace=0.45)
        for index, (image, caption) in enumerate(step.pictures):
            axes = figure.add_subplot(grid[index // columns, index % columns])
            axes.imshow(image, interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_xlabel("\n".join(textwrap.wrap(caption, 40)), fontsize=8)
        top = bottom - 0.05
    figure.text(0.08, top, wrapped(step.text), fontsize=11, va="top", linespacing=1.45)
    return figure


def handout_pdf(title: str, lines: Sequence[str], steps: Sequence[HandoutStep]) -> bytes:
    """The handout as PDF bytes: 1 + len(steps) pages (a cover with `title`, the `lines` saying
    which run and crop it shows, and the list of steps; then one page per step)."""
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Creator": "shoekit"}) as pdf:
        pdf.savefig(cover_page(title, lines, steps))
        for number, step in enumerate(steps, start=1):
            pdf.savefig(step_page(number, step))
    return buffer.getvalue()
