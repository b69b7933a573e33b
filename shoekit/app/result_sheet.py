"""Export a search result for a case file: a CSV of the ranked gallery and a PNG sheet.

Both carry the identity of what produced them (run folder, attention, epochs, feature head,
dataset manifest hash), so a result can be traced back to the exact model and data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import pandas as pd

from shoekit.figures.sheet import add_caption, border_colour, hstack, labelled_tile, vstack

SHEET_COLUMNS = 11  # tiles per line: the query and 10 matches


@dataclass(frozen=True)
class ResultIdentity:
    """Where a ranking came from: written into every CSV row and onto the PNG sheet."""

    run: str
    attention: str
    epochs_trained: int
    head: str
    manifest_hash: str
    query: str

    def caption_lines(self) -> list[str]:
        """The sheet's footer, one short line per fact (the sheet's font is plain ASCII)."""
        return [f"run {self.run} ({self.attention}, {self.epochs_trained} epochs), head {self.head}",
                f"dataset manifest sha256 {self.manifest_hash[:16]}", f"query {self.query}"]


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


def result_sheet(query_image: np.ndarray, match_images: Sequence[np.ndarray], matches: pd.DataFrame,
                 identity: ResultIdentity, tile: int = 120) -> np.ndarray:
    """The sheet as an image: the query, then each match framed and captioned with rank,
    identity and distance; the identity's caption line underneath. `(H, W, 3)` uint8.

    `query_image` and `match_images[k]`: `(H, W, 3)` uint8 RGB (any size); `matches`: the
    ranked table, rows in the order of `match_images`. A `correct` column, when present,
    frames matches green (True) or red (False); grey otherwise.
    """
    if len(match_images) != len(matches):
        raise ValueError(f"{len(match_images)} match images but {len(matches)} table rows")
    tiles = [labelled_tile(query_image, ["query"], tile, border_colour(None))]
    for image, record in zip(match_images, matches.itertuples(index=False)):
        tiles.append(labelled_tile(image, [f"#{record.rank} {record.identity}", f"d {record.distance:.3f}"],
                                   tile, border_colour(getattr(record, "correct", None))))
    rows = [hstack(tiles[start:start + SHEET_COLUMNS], gap=4) for start in range(0, len(tiles), SHEET_COLUMNS)]
    body = vstack(rows, gap=8)
    footer = add_caption(np.zeros((0, body.shape[1], 3), np.uint8), identity.caption_lines())
    return vstack([body, footer], gap=4)


def result_sheet_png(query_image: np.ndarray, match_images: Sequence[np.ndarray], matches: pd.DataFrame,
                     identity: ResultIdentity, tile: int = 120) -> bytes:
    """`result_sheet` encoded as the bytes of a PNG file (for a download)."""
    sheet = result_sheet(query_image, match_images, matches, identity, tile)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not PNG-encode the result sheet")
    return encoded.tobytes()
