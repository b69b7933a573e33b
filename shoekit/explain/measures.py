"""How far a heatmap can be trusted, as numbers: where its energy lies (against a shoe mask), how
faithful it is to the model (deletion / insertion), and whether it depends on the weights at all.

All functions are pure numpy on one image's maps: `heatmap` (H, W) float, non-negative (a CAM in
[0, 1], or the absolute Guided Grad-CAM summed over colour); `mask` (H, W) float in [0, 1], the
share of each pixel that is shoe (`shoekit.data.masks`), counted as shoe at `SHOE_LEVEL` and above.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from shoekit.data.masks import SHOE_LEVEL

DELETION_STEPS = 6  # the curves score the image with 0, 1/6, ..., 6/6 of its pixels removed or revealed


def shoe_pixels(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels that are shoe."""
    return np.asarray(mask) >= SHOE_LEVEL


def energy_share(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """Share of the heatmap's total mass that lies on the shoe, in [0, 1]; NaN for an all-zero map."""
    heatmap = np.asarray(heatmap, np.float64)
    total = heatmap.sum()
    return float(heatmap[shoe_pixels(mask)].sum() / total) if total > 0 else float("nan")


def energy_ratio(heatmap: np.ndarray, mask: np.ndarray) -> float:
    """`energy_share` divided by the shoe's share of the image: 1.0 is what a uniform map scores,
    above 1 the map favours the shoe. NaN when the image has no shoe pixel or the map is all zero."""
    area = shoe_pixels(mask).mean()
    return energy_share(heatmap, mask) / area if area > 0 else float("nan")


def pointing_hit(heatmap: np.ndarray, mask: np.ndarray) -> bool:
    """The pointing game: whether the heatmap's hottest pixel is shoe. A coarse map upsampled from a
    few cells has a whole block of equally hot pixels: then most of that block must be shoe."""
    heatmap = np.asarray(heatmap, np.float64)
    hottest = heatmap >= heatmap.max() - 1e-6 * max(abs(heatmap.max()), 1.0)
    return bool(shoe_pixels(mask)[hottest].mean() > 0.5)


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation of two maps' pixels (ties get their mean rank); NaN when either
    map is constant. Adebayo et al.'s sanity check compares a model's maps with those of the same
    network with random weights: a method that explains the model gives a low correlation."""
    ranks = [rank_values(np.asarray(values, np.float64).ravel()) for values in (first, second)]
    if ranks[0].std() == 0 or ranks[1].std() == 0:
        return float("nan")
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def rank_values(values: np.ndarray) -> np.ndarray:
    """Ranks (0-based, float) of a 1-d array, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    unique, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(unique))
    counts = np.bincount(inverse, minlength=len(unique))
    return (sums / counts)[inverse]


def blurred_baseline(image: np.ndarray) -> np.ndarray:
    """What removed pixels become: `image` (C, H, W) float blurred until no shoe detail is left
    (Gaussian, sigma = a quarter of the side), keeping its colours; same shape and dtype."""
    channels_last = np.ascontiguousarray(np.moveaxis(np.asarray(image, np.float32), 0, -1))
    sigma = max(channels_last.shape[:2]) / 4.0
    blurred = cv2.GaussianBlur(channels_last, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.moveaxis(blurred.reshape(channels_last.shape), -1, 0).astype(image.dtype)


def perturbation_series(image: np.ndarray, heatmap: np.ndarray, mode: str,
                        steps: int = DELETION_STEPS, baseline: np.ndarray | None = None) -> np.ndarray:
    """(steps + 1, C, H, W): `image` (C, H, W) with its hottest pixels first removed ("deletion":
    replaced by the baseline, 0 to all of them) or revealed ("insertion": the baseline with the
    hottest pixels put back). Pixels enter in the heatmap's order, ties in row-major order."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"unknown mode {mode!r}; choose 'deletion' or 'insertion'")
    image = np.asarray(image, np.float32)
    baseline = blurred_baseline(image) if baseline is None else np.asarray(baseline, np.float32)
    order = np.argsort(-np.asarray(heatmap, np.float64).ravel(), kind="stable")
    pixels = order.size
    start, end = (image, baseline) if mode == "deletion" else (baseline, image)
    series = np.repeat(start.reshape(1, image.shape[0], -1), steps + 1, axis=0)
    flat_end = end.reshape(image.shape[0], -1)
    for step in range(1, steps + 1):
        changed = order[: round(pixels * step / steps)]
        series[step][:, changed] = flat_end[:, changed]
    return series.reshape(steps + 1, *image.shape)


def curve_area(scores: np.ndarray) -> float:
    """Area under a curve of `scores` sampled at evenly spaced fractions 0..1 (trapezoid rule)."""
    scores = np.asarray(scores, np.float64)
    return float(((scores[1:] + scores[:-1]) / 2.0).mean())


def deletion_insertion(score: Callable[[np.ndarray, np.ndarray], np.ndarray], images: np.ndarray,
                       heatmaps: np.ndarray, steps: int = DELETION_STEPS, batch_size: int = 64) -> np.ndarray:
    """(N, 2) float64: the deletion and insertion AUC of each heatmap `heatmaps[i]` (H, W) on its
    image `images[i]` (C, H, W). `score(batch, items)` maps images (B, C, H, W) float32 derived
    from images `items` (B,) int to the explained number (B,), here the cosine similarity to each
    item's reference crop; it is called in batches of at most `batch_size`, and the image itself
    and its baseline, shared by both curves, are scored once.
    A faithful map has a low deletion area (the score falls as soon as its hot pixels go) and a
    high insertion area."""
    images = np.asarray(images, np.float32)
    series, spans = [], []
    for image, heatmap in zip(images, heatmaps):
        baseline = blurred_baseline(image)
        deletion = perturbation_series(image, heatmap, "deletion", steps, baseline)
        insertion = perturbation_series(image, heatmap, "insertion", steps, baseline)
        spans.append(len(series))
        series += [image, baseline, *deletion[1:-1], *insertion[1:-1]]
    stacked = np.stack(series)
    items = np.repeat(np.arange(len(images)), 2 * steps)  # 2 + 2 (steps - 1) images per item
    scores = np.concatenate([np.asarray(score(stacked[start:start + batch_size], items[start:start + batch_size]),
                                        np.float64) for start in range(0, len(stacked), batch_size)])
    areas = np.empty((len(images), 2))
    inner = steps - 1
    for item, start in enumerate(spans):
        original, removed = scores[start], scores[start + 1]
        deleted = scores[start + 2: start + 2 + inner]
        inserted = scores[start + 2 + inner: start + 2 + 2 * inner]
        areas[item] = (curve_area([original, *deleted, removed]), curve_area([removed, *inserted, original]))
    return areas


def random_heatmap(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random map as smooth as a layer4 CAM: uniform noise on a grid 1/32 of the image's side,
    upsampled bilinearly to `shape` (H, W); float32 in [0, 1]."""
    grid = (max(1, shape[0] // 32), max(1, shape[1] // 32))
    noise = rng.random(grid, dtype=np.float32)
    return cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, resamples: int = 1000,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaNs left out); NaNs when none remain."""
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))
