"""Side-by-side explanation panels, as in the paper's Fig. 9.

Each pair is one row: query | query CAM overlay | query Guided Grad-CAM, then the match the same
way, its frame green (same shoe type as the query), red (another) or grey (unknown).
"""

from __future__ import annotations

import cv2
import numpy as np

from shoekit.data.masks import SHOE_LEVEL
from shoekit.explain.results import ImageExplanation, PairExplanation, QueryExplanation
from shoekit.figures.sheet import add_caption, border_colour, hstack, labelled_tile, vstack

OUTLINE_COLOUR = (0, 255, 255)  # cyan: apart from the CAM colour map's reds and blues
OUTLINE_SCALE = 4               # the outline is drawn on the image enlarged this much, so it stays thin


def image_panels(explained: ImageExplanation, mask: np.ndarray | None = None) -> list[np.ndarray]:
    """original, CAM overlay, Guided Grad-CAM: three `(H, W, 3)` uint8 images; with the crop's
    shoe `mask` (H, W) float in [0, 1], each outlined with it (and `OUTLINE_SCALE` times larger)."""
    panels = [explained.image, explained.overlay, explained.guided_gradcam_image]
    return panels if mask is None else [outline_mask(panel, mask) for panel in panels]


def outline_mask(image: np.ndarray, mask: np.ndarray, colour=OUTLINE_COLOUR) -> np.ndarray:
    """`image` (H, W, 3) uint8 enlarged `OUTLINE_SCALE` times (nearest neighbour) with the outline
    of the shoe in `mask` (H, W) float in [0, 1] drawn on it in `colour`, one pixel wide."""
    height, width = image.shape[:2]
    size = (width * OUTLINE_SCALE, height * OUTLINE_SCALE)
    large = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    shoe = (cv2.resize(np.asarray(mask, np.float32), size, interpolation=cv2.INTER_LINEAR) >= SHOE_LEVEL)
    contours, _ = cv2.findContours(shoe.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(np.ascontiguousarray(large), contours, -1, colour, 1)


def pair_title(pair: PairExplanation) -> str:
    identity = f" {pair.identity}" if pair.identity is not None else ""
    return f"#{pair.rank}{identity} d {pair.distance:.3f}"


def pair_sheet(pair: PairExplanation, method: str = "cam", tile: int = 128) -> np.ndarray:
    """One pair as a row of six captioned tiles: `(H, W, 3)` uint8."""
    identity = f" {pair.identity}" if pair.identity is not None else ""
    query_captions = [["query", ""], [f"{method} -> match", ""], ["guided grad-cam", ""]]
    match_captions = [[f"#{pair.rank}{identity}", f"d {pair.distance:.3f}"], [f"{method} -> query", ""],
                      ["guided grad-cam", ""]]
    query = [labelled_tile(image, captions, tile)
             for image, captions in zip(image_panels(pair.query), query_captions)]
    colour = border_colour(pair.correct)
    match = [labelled_tile(image, captions, tile, colour)
             for image, captions in zip(image_panels(pair.match), match_captions)]
    return hstack([hstack(query, gap=2), hstack(match, gap=2)], gap=18)


def explanation_title(explanation: QueryExplanation) -> str:
    identity = f" ({explanation.query_identity})" if explanation.query_identity is not None else ""
    return (f"query{identity} vs top {len(explanation.pairs)}: {explanation.method} on "
            f"{explanation.layer}, {explanation.head} features")


def explanation_sheet(explanation: QueryExplanation, tile: int = 128) -> np.ndarray:
    """All pairs, one row each, under a title line: `(H, W, 3)` uint8, ready for a PNG."""
    rows = vstack([pair_sheet(pair, explanation.method, tile) for pair in explanation.pairs], gap=10)
    title = add_caption(np.zeros((0, rows.shape[1], 3), np.uint8), [explanation_title(explanation)])
    return vstack([title, rows], gap=4)


def explanation_figure(explanation: QueryExplanation, tile_inches: float = 1.4):
    """The same panels as a matplotlib Figure: one row per pair, six columns."""
    from matplotlib.figure import Figure

    count = len(explanation.pairs)
    figure = Figure(figsize=(6 * tile_inches, 1.2 * tile_inches * count + 0.4), layout="constrained")
    figure.suptitle(explanation_title(explanation), fontsize="medium")
    grid = figure.subplots(count, 6, squeeze=False)
    titles = ["query", f"{explanation.method}", "Guided Grad-CAM"]
    for axes_row, pair in zip(grid, explanation.pairs):
        images = image_panels(pair.query) + image_panels(pair.match)
        labels = titles + [pair_title(pair)] + titles[1:]
        colours = [None] * 3 + [border_colour(pair.correct)] * 3
        for axes, image, label, colour in zip(axes_row, images, labels, colours):
            axes.imshow(image)
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_title(label, fontsize="small")
            if colour is not None:
                for spine in axes.spines.values():
                    spine.set(color=np.array(colour) / 255, linewidth=3)
    return figure
