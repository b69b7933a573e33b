"""Export a search result for a case file: a CSV of the ranked gallery and a PNG sheet.

Both carry the identity of what produced them (run folder, attention, epochs, feature head,
dataset manifest hash), so a result can be traced back to the exact model and data.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ResultIdentity:
    """Where a ranking came from: written into every CSV row and onto the PNG sheet."""

    run: str
    attention: str
    epochs_trained: int
    head: str
    manifest_hash: str
    query: str

    def caption(self) -> str:
        """One line for the sheet's footer."""
        return (f"run {self.run} · {self.attention} · {self.epochs_trained} epochs · head {self.head} · "
                f"manifest {self.manifest_hash[:12]} · query {self.query}")


def result_csv(matches: pd.DataFrame, identity: ResultIdentity) -> str:
    """The ranked matches (`shoekit.search.ranked_matches` table) as CSV text.

    The identity's fields come first in every row (query, run, attention, epochs_trained, head,
    manifest_hash), then the match columns; distances with 6 decimals.
    """
    fields = asdict(identity)
    meta = {"query": fields.pop("query"), **fields}
    table = pd.concat([pd.DataFrame({key: [value] * len(matches) for key, value in meta.items()}),
                       matches.reset_index(drop=True)], axis=1)
    return table.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def result_sheet_png(query_image: np.ndarray, match_images: Sequence[np.ndarray], matches: pd.DataFrame,
                     identity: ResultIdentity, dpi: int = 120) -> bytes:
    """A PNG sheet: the query, then each match with rank, identity and distance; identity below.

    `query_image` and `match_images[k]`: `(H, W, 3)` uint8 RGB (any sizes); `matches`: the
    ranked table (rows in the order of `match_images`). A `correct` column, when present, draws
    green (True) or red (False) frames. Returns the PNG file's bytes.
    """
    from matplotlib.figure import Figure

    if len(match_images) != len(matches):
        raise ValueError(f"{len(match_images)} match images but {len(matches)} table rows")
    columns = 1 + len(match_images)
    figure = Figure(figsize=(1.7 * columns, 2.5), dpi=dpi)
    axes = figure.subplots(1, columns, squeeze=False)[0]
    draw_tile(axes[0], query_image, "query", "#1f4e9c")
    for axis, image, record in zip(axes[1:], match_images, matches.itertuples(index=False)):
        correct = getattr(record, "correct", None)
        colour = "#666666" if correct is None else ("#1a9641" if correct else "#d7191c")
        draw_tile(axis, image, f"#{record.rank} {record.identity}\nd={record.distance:.3f}", colour)
    figure.text(0.01, 0.02, identity.caption(), fontsize=6, color="#333333")
    figure.subplots_adjust(left=0.01, right=0.99, top=0.82, bottom=0.1, wspace=0.08)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def draw_tile(axis, image: np.ndarray, title: str, colour: str) -> None:
    """One image with a coloured frame and a title, no ticks."""
    axis.imshow(image)
    axis.set_title(title, fontsize=7, color=colour)
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)
