"""How far to trust a score: similarities of matching vs non-matching pairs, TPR at fixed FPR.

A pair is (query crop, gallery or distractor crop); it matches when both show the same shoe
type. Scores are cosine similarities of L2-normalised features (higher = more alike), i.e.
1 − the cosine distance used for ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shoekit.explain.evaluation import load_evaluation

DEFAULT_FPRS = (0.01, 0.001)


def pair_scores(query_features: np.ndarray, gallery_features: np.ndarray, query_ids: Sequence,
                gallery_ids: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of all query × gallery pairs, split into (matching, non_matching).

    Features `(Q, D)` and `(G, D)` (normalised here), identities `(Q,)` and `(G,)`;
    returns two float32 1-D arrays whose lengths add up to Q·G.
    """
    from shoekit.metrics import l2_normalize

    scores = l2_normalize(query_features) @ l2_normalize(gallery_features).T
    same = np.asarray(query_ids)[:, None] == np.asarray(gallery_ids)[None, :]
    return scores[same].astype(np.float32), scores[~same].astype(np.float32)


def tpr_at_fpr(matching: np.ndarray, non_matching: np.ndarray, fprs: Sequence[float] = DEFAULT_FPRS
               ) -> pd.DataFrame:
    """For each target FPR, the score threshold and the share of matching pairs above it.

    Threshold: the lowest score that at most a `target_fpr` share of non-matching pairs
    exceed (a pair is accepted when its score is strictly above it). Columns: target_fpr,
    threshold, tpr, fpr (achieved, ≤ target), non_matching_pairs. `tpr` is NaN when there are
    fewer than 1/target_fpr non-matching pairs: the data cannot resolve that FPR.
    """
    matching, non_matching = np.asarray(matching, float), np.asarray(non_matching, float)
    descending = np.sort(non_matching)[::-1]
    rows = []
    for target in fprs:
        allowed = int(np.floor(target * len(descending)))
        threshold = descending[allowed] if allowed < len(descending) else -np.inf
        resolvable = len(descending) * target >= 1
        rows.append({
            "target_fpr": float(target),
            "threshold": float(threshold),
            "tpr": float(np.mean(matching > threshold)) if resolvable and len(matching) else float("nan"),
            "fpr": float(np.mean(non_matching > threshold)) if len(non_matching) else float("nan"),
            "non_matching_pairs": len(non_matching),
        })
    return pd.DataFrame(rows)


def read_pair_scores(run_dir: str | Path, head: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """(matching, non_matching) similarities from a run's saved features (RUN/eval/HEAD/features.npz)."""
    results = load_evaluation(run_dir, head)
    query_features, gallery_features = results.features()
    return pair_scores(query_features, gallery_features, results.queries.identities,
                       results.gallery.identities)


def score_histogram(matching: np.ndarray, non_matching: np.ndarray, bins: int = 50) -> pd.DataFrame:
    """Both kinds of pair counted in `bins` bins spanning all scores: columns left, right (bin
    edges, cosine similarity), matching, non_matching (pair counts)."""
    edges = np.histogram_bin_edges(np.concatenate([matching, non_matching]), bins=bins)
    return pd.DataFrame({"left": edges[:-1], "right": edges[1:], "matching": np.histogram(matching, edges)[0],
                         "non_matching": np.histogram(non_matching, edges)[0]})


def score_figure(matching: np.ndarray, non_matching: np.ndarray, fprs: Sequence[float] = DEFAULT_FPRS,
                 bins: int = 50, title: str = "Scores of matching and non-matching pairs"):
    """matplotlib Figure: both score histograms (density) with the threshold of each target FPR."""
    return score_histogram_figure(score_histogram(matching, non_matching, bins),
                                  tpr_at_fpr(matching, non_matching, fprs), title)


def score_histogram_figure(histogram: pd.DataFrame, thresholds: pd.DataFrame,
                           title: str = "Scores of matching and non-matching pairs"):
    """matplotlib Figure from counted pairs: `histogram` (left, right, matching, non_matching, as
    `score_histogram` or a results folder's scores.csv) drawn as densities, and a dashed line at
    each finite threshold of `thresholds` (`tpr_at_fpr`'s table)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    widths = (histogram["right"] - histogram["left"]).to_numpy(float)
    for column, colour, kind in (("non_matching", "tab:red", "non-matching"), ("matching", "tab:green", "matching")):
        counts = histogram[column].to_numpy(float)
        density = counts / max(counts.sum(), 1) / widths
        axes.bar(histogram["left"], density, width=widths, align="edge", alpha=0.6, color=colour,
                 label=f"{kind} ({int(counts.sum())} pairs)")
    for row in thresholds.itertuples():
        if not np.isfinite(row.threshold):
            continue
        tpr = "n/a (too few pairs)" if np.isnan(row.tpr) else f"{100 * row.tpr:.1f}%"
        axes.axvline(row.threshold, color="black", linestyle="--", linewidth=1,
                     label=f"FPR {100 * row.target_fpr:g}%: score > {row.threshold:.3f}, TPR {tpr}")
    axes.set(xlabel="cosine similarity", ylabel="density", title=title)
    axes.legend(fontsize="small")
    return figure
