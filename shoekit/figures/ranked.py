"""Ranked retrieval gallery: each query beside its top-k crops, green/red for correct/wrong."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shoekit.explain.evaluation import EvaluationResults
from shoekit.figures.sheet import border_colour, hstack, labelled_tile, vstack


@dataclass
class RankedRow:
    """One query and its top matches. Images `(H, W, 3)` uint8; `distances` `(k,)` best first;
    `ap` the query's average precision (NaN: its type has no gallery crop)."""

    query_index: int
    query: np.ndarray
    query_identity: str
    ap: float
    matches: list[np.ndarray]
    identities: list[str]
    distances: np.ndarray

    @property
    def correct(self) -> list[bool]:
        return [identity == self.query_identity for identity in self.identities]


def query_order(ap: np.ndarray, best_first: bool = True) -> np.ndarray:
    """Query indices `(Q,)` sorted by AP (best or worst first); NaN APs last; ties keep order."""
    ap = np.asarray(ap, dtype=float)
    key = np.where(np.isnan(ap), 0.0, -ap if best_first else ap)
    return np.lexsort((np.arange(len(ap)), key, np.isnan(ap)))


def ranked_rows(results: EvaluationResults, query_indices: Sequence[int], top: int = 5) -> list[RankedRow]:
    """Load the crops of the given queries and of their `top` matches from an evaluation."""
    rows = []
    for index in query_indices:
        positions, distances = results.top_matches(int(index), top)
        rows.append(RankedRow(
            query_index=int(index), query=results.query_image(int(index)),
            query_identity=results.queries.identities[int(index)], ap=float(results.ap[int(index)]),
            matches=[results.gallery_image(int(position)) for position in positions],
            identities=[results.gallery.identities[int(position)] for position in positions],
            distances=np.asarray(distances, dtype=float)))
    return rows


def ap_text(ap: float) -> str:
    return "AP n/a" if np.isnan(ap) else f"AP {100 * ap:.0f}%"


def ranked_gallery_sheet(rows: Sequence[RankedRow], tile: int = 96) -> np.ndarray:
    """One line per query: the query (grey frame), then its matches framed green/red with
    rank, identity and distance underneath. Returns an `(H, W, 3)` uint8 image."""
    lines = []
    for row in rows:
        query = labelled_tile(row.query, [f"query {row.query_index}", row.query_identity, ap_text(row.ap)],
                              tile, border_colour(None))
        matches = [labelled_tile(image, [f"#{rank} {identity}", f"d {distance:.3f}"], tile,
                                 border_colour(correct))
                   for rank, (image, identity, distance, correct)
                   in enumerate(zip(row.matches, row.identities, row.distances, row.correct), start=1)]
        lines.append(hstack([query, hstack(matches, gap=4)], gap=16) if matches else query)
    return vstack(lines, gap=10)


def ranked_gallery_figure(rows: Sequence[RankedRow], tile_inches: float = 1.3):
    """The same layout as a matplotlib Figure (one row per query)."""
    from matplotlib.figure import Figure

    columns = 1 + max(len(row.matches) for row in rows)
    figure = Figure(figsize=(tile_inches * columns, 1.35 * tile_inches * len(rows)), layout="constrained")
    grid = figure.subplots(len(rows), columns, squeeze=False)
    for axes_row, row in zip(grid, rows):
        query_label = f"query {row.query_index}\n{row.query_identity}, {ap_text(row.ap)}"
        panels = [(row.query, border_colour(None), query_label)]
        panels += [(image, border_colour(correct), f"#{rank} {identity}\nd {distance:.3f}")
                   for rank, (image, identity, distance, correct)
                   in enumerate(zip(row.matches, row.identities, row.distances, row.correct), start=1)]
        for axes, (image, colour, label) in zip(axes_row, panels):
            axes.imshow(image)
            axes.set_xticks([])
            axes.set_yticks([])
            for spine in axes.spines.values():
                spine.set(color=np.array(colour) / 255, linewidth=3)
            axes.set_xlabel(label, fontsize="small")
        for axes in axes_row[len(panels):]:
            axes.set_axis_off()
    return figure
