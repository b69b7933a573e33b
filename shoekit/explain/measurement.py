"""`shoekit explain --measure RUN`: the explanation measures over a run's test queries.

For every test query and each of its top-K matches (from RUN/eval/HEAD, both directions: the
query's map of its similarity to the match, and the match's map of its similarity to the query),
per CAM method × target layer, it computes on each explained crop (`shoekit.explain.measures`):

- `energy_share`, `energy_ratio`, `pointing`: the CAM against the crop's shoe mask;
- `ggc_energy_share`, `ggc_energy_ratio`: the same for Guided Grad-CAM (|values| summed over colour);
- `deletion_auc`, `insertion_auc`: faithfulness to the similarity (the model in the run's
  precision scores the perturbed crops); `cam_mult` (as pytorch-grad-cam's
  CamMultImageConfidenceChange: the similarity's change when the crop is multiplied by its map) and
  `road_morf` (the package's ROAD imputation, most relevant first: the similarity's change when the
  hottest 20% of pixels are filled in from their neighbours; more negative is more faithful);
- `sanity_spearman`: rank correlation with the map the same architecture gives with random weights.

Rows of the table: `trained` (the run's model), `untrained` (same architecture, random weights,
explaining its own similarities: masks and sanity only), `random` (a random heatmap of a layer4
CAM's smoothness in place of the CAM: masks and faithfulness). Each metric: the mean over
explained crops and a 95 % bootstrap interval. Files (RUN/explain/, written atomically at the end):
`measures.csv` (method, layer, model, metric, mean, low, high, count), `measures.md` (the table)
and `measures_crops.csv` (every crop's values).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pytorch_grad_cam.metrics.road import ROADMostRelevantFirst
from tqdm.auto import tqdm

from shoekit.errors import ShoekitError
from shoekit.explain.evaluation import EvaluationResults, load_evaluation
from shoekit.explain.explainer import Explainer
from shoekit.explain.layers import target_layer_names
from shoekit.explain.measures import (bootstrap_interval, deletion_insertion, energy_ratio, energy_share,
                                      pointing_hit, random_heatmap, rank_correlation)
from shoekit.explain.options import CAM_METHOD_CLASSES, default_layer
from shoekit.explain.targets import SimilarityTarget
from shoekit.models import build_model
from shoekit.precision import autocast, bf16_supported
from shoekit.runs import MEASURE_DIR, load_run, write_text

MODELS = ("trained", "untrained", "random")
METRICS = ("energy_share", "energy_ratio", "pointing", "ggc_energy_share", "ggc_energy_ratio",
           "deletion_auc", "insertion_auc", "cam_mult", "road_morf", "sanity_spearman")
ROAD_PERCENTILE = 80  # ROAD removes the pixels above this percentile of the map: its hottest 20%


@dataclass
class MeasureOptions:
    """What `measure_run` explains: `top` matches per query (both directions), CAM `methods` and
    target `layers` (empty: `default_layer` of the run's input size), the evaluated `head`, at most
    `queries` queries (None: all), `seed` for the random weights and heatmaps."""

    top: int = 5
    methods: tuple[str, ...] = ("gradcam",)
    layers: tuple[str, ...] = ()
    head: str = "max"
    queries: int | None = None
    seed: int = 0
    progress: bool = True


@dataclass
class MeasureReport:
    """What `measure_run` wrote: the summary table and its files."""

    table: pd.DataFrame
    crops: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    def headline(self) -> str:
        """One line: the trained model's Grad-CAM energy ratio against the untrained model's."""
        rows = self.table[(self.table["metric"] == "energy_ratio")].set_index(["method", "layer", "model"])
        method, layer = self.table["method"].iloc[0], self.table["layer"].iloc[0]
        trained, untrained = (rows.loc[(method, layer, model)] for model in ("trained", "untrained"))
        return (f"{method} on {layer}: energy on the shoe {trained['mean']:.2f}× a uniform map "
                f"(95% CI {trained['low']:.2f}-{trained['high']:.2f}) for the trained model, "
                f"{untrained['mean']:.2f}× untrained, over {int(trained['count'])} explained crops")


def check_masks(results: EvaluationResults, queries: list[int], positions: np.ndarray) -> None:
    """ShoekitError naming the fix when a crop to be explained has no shoe mask."""
    missing = [results.queries.row_name(q) for q in queries if results.queries.mask_path(q) is None]
    missing += [results.gallery.row_name(int(p)) for p in np.unique(positions)
                if results.gallery.mask_path(int(p)) is None]
    if missing:
        raise ShoekitError(f"{len(missing)} crop(s) to explain have no shoe mask (first: {missing[0]}); "
                           f"rebuild {results.queries.root} with shoekit make-dataset (it writes masks/), or "
                           "add a `mask` column to its manifest.csv naming each crop's mask PNG")


def model_mask(crops, index: int, size: int) -> np.ndarray:
    """Crop `index`'s shoe mask at the model's input size (size, size), float32 in [0, 1]."""
    mask = crops.load_mask(index)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)


class Scorer:
    """Cosine similarity of perturbed crops (B, 3, H, W) float32 to a reference feature, with the
    run's model in its evaluation precision (bf16 autocast where supported)."""

    def __init__(self, model: torch.nn.Module, head: str, bf16: bool):
        self.model, self.head = model.eval(), head
        self.device = next(model.parameters()).device
        self.bf16 = bf16 and bf16_supported(self.device)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.bf16):
            return F.normalize(self.model.features(images.to(self.device), self.head).float(), dim=1)

    def pair_similarity(self, references: torch.Tensor):
        """score(images (B, 3, H, W), items (B,)) -> (B,): each image's cosine similarity to the
        reference feature of its item, `references` (N, D) normalised."""
        def score(images: np.ndarray, items: np.ndarray) -> np.ndarray:
            features = self.features(torch.from_numpy(np.ascontiguousarray(images)))
            return (features * references[torch.as_tensor(items)]).sum(dim=1).cpu().numpy()
        return score


def explained_items(results: EvaluationResults, queries: list[int], top: int
                    ) -> dict[int, list[tuple[str, int, str, int]]]:
    """Per query, (side, index, other side, other index) of each crop explained for it: the query
    against each of its top matches, and each match against the query."""
    items = {}
    for query in queries:
        positions, _ = results.top_matches(query, top)
        items[query] = [item for position in positions for item in
                        (("query", query, "gallery", int(position)), ("gallery", int(position), "query", query))]
    return items


def batched_features(explainer: Explainer, images: dict, batch_size: int = 64) -> dict:
    """The explainer's fp32 feature (D,) of every image in `images` (key -> (3, H, W)), by key."""
    keys = list(images)
    chunks = [explainer.features(torch.stack([images[key] for key in keys[start:start + batch_size]]))
              for start in range(0, len(keys), batch_size)]
    return dict(zip(keys, torch.cat(chunks)))


def measure_items(items, images, masks, explainers, features, scorer, crops, head, rng, method, layer) -> list[dict]:
    """The per-crop rows (one per model of MODELS) of the explained crops `items` (one query's:
    its matches both ways), their CAMs and curves computed in batches."""
    keys = [(side, index) for side, index, _, _ in items]
    references = [(other_side, other) for _, _, other_side, other in items]
    stacked = torch.stack([images[key] for key in keys])
    maps, targets = {}, {}
    for name, explainer in explainers.items():
        targets[name] = [SimilarityTarget(features[name][reference], head) for reference in references]
        maps[name] = explainer.cams(stacked, targets[name])
    guided = np.stack([np.abs(explainers["trained"].guided_backprop(image, target)).sum(axis=2)
                       for image, target in zip(stacked, targets["trained"])]) * maps["trained"]
    maps["random"] = np.stack([random_heatmap(maps["trained"].shape[1:], rng) for _ in keys])
    reference_features = scorer.features(torch.stack([images[reference] for reference in references]))
    score = scorer.pair_similarity(reference_features)
    pixels = stacked.numpy()
    faithful = {name: deletion_insertion(score, pixels, maps[name]) for name in ("trained", "random")}
    plain = score(pixels, np.arange(len(keys)))
    multiplied = {name: score(pixels * maps[name][:, None], np.arange(len(keys))) - plain
                  for name in ("trained", "random")}
    road = ROADMostRelevantFirst(ROAD_PERCENTILE)
    with warnings.catch_warnings():  # the package's imputer uses a numpy form NumPy 2 deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        imputed = {name: np.stack([road.perturbation(torch.from_numpy(image), torch.from_numpy(heatmap)).numpy()
                                   for image, heatmap in zip(pixels, maps[name])]) for name in ("trained", "random")}
    road_change = {name: score(imputed[name], np.arange(len(keys))) - plain for name in imputed}
    rows = []
    for position, (side, index, other_side, other) in enumerate(items):
        mask = masks[(side, index)]
        for name in MODELS:
            heatmap = maps[name][position]
            row = {"method": method, "layer": layer, "model": name, "side": side, "index": index,
                   "reference_side": other_side, "reference_index": other,
                   "row": int(crops[side].rows["row"].iat[index]),
                   "energy_share": energy_share(heatmap, mask), "energy_ratio": energy_ratio(heatmap, mask),
                   "pointing": float(pointing_hit(heatmap, mask))}
            if name == "trained":
                row.update(ggc_energy_share=energy_share(guided[position], mask),
                           ggc_energy_ratio=energy_ratio(guided[position], mask),
                           sanity_spearman=rank_correlation(heatmap, maps["untrained"][position]))
            if name in faithful:
                row.update(deletion_auc=faithful[name][position, 0], insertion_auc=faithful[name][position, 1],
                           cam_mult=float(multiplied[name][position]),
                           road_morf=float(road_change[name][position]))
            rows.append(row)
    return rows


def measure_run(run_dir: str | Path, options: MeasureOptions = MeasureOptions()) -> MeasureReport:
    """Measure the run's explanations (see the module docstring) and write RUN/explain/measures.*."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    for method in options.methods:
        if method not in CAM_METHOD_CLASSES:
            raise ShoekitError(f"unknown --methods {method!r}; choose from {', '.join(CAM_METHOD_CLASSES)}")
    layers = target_layer_names(run.model)
    chosen_layers = options.layers or (default_layer(run.config.image_size, run.config.last_stride),)
    for layer in chosen_layers:
        if layer not in layers:
            raise ShoekitError(f"unknown --layers {layer!r}; choose from {', '.join(layers)}")
    if options.top < 1:
        raise ShoekitError(f"--top must be at least 1, not {options.top}")
    results = load_evaluation(run_dir, options.head)
    queries = list(range(len(results.queries)))[: options.queries]
    check_masks(results, queries, results.top_indices[queries, : options.top])
    items = explained_items(results, queries, options.top)
    size = run.config.image_size
    crops = {"query": results.queries, "gallery": results.gallery}
    images = {(side, index): crops[side][index][0] for batch in items.values() for side, index, _, _ in batch}
    masks = {key: model_mask(crops[key[0]], key[1], size) for key in images}

    torch.manual_seed(options.seed)
    untrained = build_model(run.config.attention, len(run.class_names), neck=run.config.neck,
                            last_stride=run.config.last_stride, classifier=run.config.classifier,
                            cos_scale=run.config.cos_scale).eval()  # default init, not zero-init residuals
    models = {"trained": run.model.eval(), "untrained": untrained}
    scorer = Scorer(run.model, options.head, run.config.bf16)
    rng = np.random.default_rng(options.seed)
    records = []
    combos = [(method, layer) for method in options.methods for layer in chosen_layers]
    bar = tqdm(total=len(combos) * sum(map(len, items.values())), desc="measuring explanations", unit="crop",
               disable=not options.progress)
    for method, layer in combos:
        explainers = {name: Explainer(model, options.head, method, layer) for name, model in models.items()}
        features = {name: batched_features(explainer, images) for name, explainer in explainers.items()}
        for batch in items.values():
            records += measure_items(batch, images, masks, explainers, features, scorer, crops, options.head, rng,
                                     method, layer)
            bar.update(len(batch))
    bar.close()
    crops_table = pd.DataFrame(records)
    table = summarise(crops_table, rng)
    files = write_measures(run_dir, table, crops_table, options)
    return MeasureReport(table, crops_table, files)


def summarise(crops_table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Per method × layer × model and metric: mean, 95% bootstrap interval, count (non-NaN crops)."""
    rows = []
    for (method, layer, model), group in crops_table.groupby(["method", "layer", "model"], sort=False):
        for metric in METRICS:
            if metric not in group or group[metric].isna().all():
                continue
            values = group[metric].to_numpy(np.float64)
            low, high = bootstrap_interval(values, rng)
            rows.append({"method": method, "layer": layer, "model": model, "metric": metric,
                         "mean": float(np.nanmean(values)), "low": low, "high": high,
                         "count": int((~np.isnan(values)).sum())})
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame) -> str:
    """The summary as a Markdown table: one row per method × layer × model, one column per metric
    ("mean [low, high]"; "–" where a metric does not apply)."""
    metrics = [metric for metric in METRICS if metric in set(table["metric"])]
    lines = ["| method | layer | model | " + " | ".join(metrics) + " |",
             "|---|---|---|" + "---|" * len(metrics)]
    for (method, layer, model), group in table.groupby(["method", "layer", "model"], sort=False):
        cells = group.set_index("metric")
        values = [f"{cells.at[m, 'mean']:.3f} [{cells.at[m, 'low']:.3f}, {cells.at[m, 'high']:.3f}]"
                  if m in cells.index else "–" for m in metrics]
        lines.append(f"| {method} | {layer} | {model} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def write_measures(run_dir: Path, table: pd.DataFrame, crops_table: pd.DataFrame,
                   options: MeasureOptions) -> list[Path]:
    """Write RUN/explain/measures.csv, measures.md and measures_crops.csv (each atomically)."""
    folder = run_dir / MEASURE_DIR
    header = (f"# Explanation measures of {run_dir}\n\n{options.head} features, top {options.top} matches per "
              f"query, both directions; mean [95% bootstrap interval] over explained crops.\n\n")
    files = {folder / "measures.csv": table.to_csv(index=False),
             folder / "measures.md": header + markdown_table(table),
             folder / "measures_crops.csv": crops_table.to_csv(index=False)}
    for path, text in files.items():
        write_text(path, text)
    return list(files)


def read_measures(run_dir: str | Path) -> pd.DataFrame | None:
    """RUN/explain/measures.csv as written by `measure_run`, or None when the run has none."""
    path = Path(run_dir) / MEASURE_DIR / "measures.csv"
    return pd.read_csv(path) if path.is_file() else None
