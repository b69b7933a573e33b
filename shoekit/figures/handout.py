"""A walk-through as a PDF handout for a class: a cover page, then one page per step with its
pictures in a row and its plain-language text underneath (matplotlib's PdfPages, A4 portrait).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

A4_PORTRAIT_INCHES = (8.27, 11.69)
TEXT_WIDTH_CHARACTERS = 95


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


def step_page(number: int, step: HandoutStep):
    """One step's page: title, its pictures side by side (up to 6), the text below."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_PORTRAIT_INCHES)
    figure.text(0.08, 0.94, f"{number}. {step.title}", fontsize=16, weight="bold")
    pictures = list(step.pictures)[:6]
    if pictures:
        grid = figure.add_gridspec(1, len(pictures), left=0.06, right=0.94, top=0.9, bottom=0.5, wspace=0.08)
        for column, (image, caption) in enumerate(pictures):
            axes = figure.add_subplot(grid[0, column])
            axes.imshow(image, interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_xlabel("\n".join(textwrap.wrap(caption, 28)), fontsize=8)
    figure.text(0.08, 0.44 if pictures else 0.88, wrapped(step.text), fontsize=11, va="top", linespacing=1.45)
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
