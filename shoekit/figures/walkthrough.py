"""Small pictures of how the model works, as `(H, W, 3)` uint8 RGB images (no plotting library):
feature maps as grids, attention gates as coloured strips, a feature vector as bars, the
similarity of every gallery crop in rank order. Used by the workbench's "How it works" page and
its PDF handout, so both show the same pictures.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from shoekit.explain.stages import StageMaps
from shoekit.figures.sheet import BACKGROUND, CORRECT, NEUTRAL, WRONG, add_border, hstack, vstack

GRID_TILE_PX = 44
STRIP_WIDTH_PX = 512
STRIP_HEIGHT_PX = 22
BAR_HEIGHT_PX = 90
BAR_COLOUR = (31, 78, 156)
DIVERGING_LOW = np.array([33.0, 102.0, 172.0])       # blue
DIVERGING_MIDDLE = np.array([247.0, 247.0, 247.0])   # near white
DIVERGING_HIGH = np.array([178.0, 24.0, 43.0])       # red


def viridis(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """`values` `(...)` mapped linearly from [low, high] onto the viridis colour map (dark blue to
    yellow): `(..., 3)` uint8 RGB."""
    span = max(high - low, 1e-12)
    levels = np.clip((np.asarray(values, np.float64) - low) / span, 0, 1)
    indices = np.rint(levels * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(indices.reshape(-1, 1), cv2.COLORMAP_VIRIDIS).reshape(*indices.shape, 3)
    return bgr[..., ::-1].copy()


def feature_grid(stage: StageMaps, tile: int = GRID_TILE_PX, columns: int = 4) -> np.ndarray:
    """The stage's maps `(k, h, w)` as a grid of `tile` px squares, `columns` per line, each map
    scaled to its own min..max (bright = strongly active), nearest-neighbour so cells stay visible."""
    tiles = []
    for feature in stage.maps:
        low, high = float(feature.min()), float(feature.max())
        coloured = viridis(feature, low, high if high > low else low + 1)
        tiles.append(add_border(cv2.resize(coloured, (tile, tile), interpolation=cv2.INTER_NEAREST),
                                (BACKGROUND,) * 3, 1))
    lines = [hstack(tiles[start:start + columns], gap=1) for start in range(0, len(tiles), columns)]
    return vstack(lines, gap=1)


def diverging(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """`values` `(...)` on a blue-white-red scale over [low, high] (blue at `low`, white in the
    middle, red at `high`; plotly's "RdBu_r" ends): `(..., 3)` uint8 RGB."""
    levels = np.clip((np.asarray(values, np.float64) - low) / max(high - low, 1e-12), 0, 1)[..., None]
    lower = DIVERGING_LOW + (DIVERGING_MIDDLE - DIVERGING_LOW) * np.minimum(levels * 2, 1)
    upper = DIVERGING_MIDDLE + (DIVERGING_HIGH - DIVERGING_MIDDLE) * np.maximum(levels * 2 - 1, 0)
    return np.rint(np.where(levels < 0.5, lower, upper)).astype(np.uint8)


def gate_strip(channel: np.ndarray, value_range: tuple[float, float], width: int = STRIP_WIDTH_PX,
               height: int = STRIP_HEIGHT_PX) -> np.ndarray:
    """One image's channel weights `(C,)` as a coloured strip `(height, width, 3)`: channel order
    left to right, blue at the low end of `value_range`, white in its middle, red at its high end."""
    row = diverging(np.asarray(channel)[None], *value_range)
    interpolation = cv2.INTER_NEAREST if width >= row.shape[1] else cv2.INTER_AREA
    return cv2.resize(row, (width, height), interpolation=interpolation)


def spatial_map(spatial: np.ndarray, size: int = 96) -> np.ndarray:
    """CBAM's spatial gate `(H, W)` in (0, 1) as a `size` px square image (0 blue, 1 red)."""
    return cv2.resize(diverging(spatial, 0.0, 1.0), (size, size), interpolation=cv2.INTER_NEAREST)


def binned(values: np.ndarray, bins: int) -> np.ndarray:
    """`values` `(D,)` averaged into at most `bins` consecutive groups `(min(D, bins),)`."""
    values = np.asarray(values, np.float64)
    if len(values) <= bins:
        return values
    return np.array([chunk.mean() for chunk in np.array_split(values, bins)])


def draw_bars(heights: np.ndarray, colours: Sequence[tuple[int, int, int]], width: int, height: int) -> np.ndarray:
    """Bars `heights` `(n,)` in [0, 1] of the full height, left to right, each bar `colours[i]`,
    on white with a grey base line: `(height, width, 3)` uint8."""
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    edges = np.linspace(0, width, len(heights) + 1).round().astype(int)
    for index, value in enumerate(np.clip(heights, 0, 1)):
        top = height - 1 - int(round(value * (height - 2)))
        image[top:height - 1, edges[index]:max(edges[index + 1], edges[index] + 1)] = colours[index]
    image[height - 1] = NEUTRAL
    return image


def feature_bars(feature: np.ndarray, width: int = STRIP_WIDTH_PX, height: int = BAR_HEIGHT_PX) -> np.ndarray:
    """A feature vector `(D,)` (≥ 0 after ReLU and pooling) as bars, one per value or per group of
    neighbouring values when D > width (their mean), scaled to the largest."""
    values = binned(np.abs(feature), width)
    top = float(values.max()) or 1.0
    return draw_bars(values / top, [BAR_COLOUR] * len(values), width, height)


def similarity_bars(distances: np.ndarray, correct: Sequence[bool | None], width: int = STRIP_WIDTH_PX,
                    height: int = BAR_HEIGHT_PX) -> np.ndarray:
    """Every gallery crop in rank order as a bar of its cosine similarity 1 − distance (distances
    `(G,)` in [0, 2], best first; bars below 0 drawn empty), green for the query's shoe type, red
    for another, grey when unknown. Wider galleries than `width` px are cut to the first `width`."""
    distances = np.asarray(distances, np.float64)[:width]
    colours = [NEUTRAL if flag is None else CORRECT if flag else WRONG for flag in list(correct)[:width]]
    return draw_bars(np.clip(1.0 - distances, 0, 1), colours, width, height)
