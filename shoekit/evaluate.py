"""Evaluation: features of query and gallery (+ distractor) crops, ranking and metrics.

`evaluate_run(run, EvaluationOptions(...))` extracts each head's features, ranks them with
`rank_head` (pure: features in, rankings and metrics out) and saves each head with `save_head`
as `RUN/eval/NAME/` (the files are `shoekit.runs`'s: metrics.json, cmc.csv, rankings.npz,
features.npz), merges its rows into `RUN/eval/metrics.csv` and sets
`metrics.json["eval"][NAME]`. NAME is the head (`max`), or with test-time flipping and
post-processing (`shoekit.rerank`) the head plus `+flip` for features averaged with the mirror
image's, `+qeK` for average query expansion over the top K gallery crops and `+rr` for
k-reciprocal re-ranking (`max+flip`, `max+qe5`, `max+rr`, `max+flip+qe5+rr`), so plain
results are kept. Re-ranking needs exact ranking; its top_distances are the re-ranked
distances, not `metric`.

Galleries of `index.exact_threshold` items or more are ranked by a faiss index (`shoekit.index`)
to depth `index_depth` instead of a full distance matrix; metrics.json then names the index and
counts the positives beyond that depth (0: the same metrics as exact ranking). Features come from
the torch model, or with `backend="onnx"` from the run's ONNX exports (`shoekit export`); under
torchrun each process extracts one shard and rank 0 ranks and writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from shoekit.data import ShoeCrops, eval_transform, manifest_hash, validate_dataset
from shoekit.distributed import init_distributed
from shoekit.errors import CheckpointError, ManifestError, SettingsError
from shoekit.index import IndexSettings, rank_with_index
from shoekit.metrics import distance_matrix, l2_normalize, rank_metrics
from shoekit.models import AttentionResNet50
from shoekit.precision import autocast, bf16_supported, compiled, to_device
from shoekit.rerank import average_query_expansion, k_reciprocal_rerank
from shoekit.runs import (Rankings, SavedFeatures, TrainedRun, earlier_eval_metrics, eval_dir, load_run,
                          update_metrics, write_eval_table, write_evaluation)

log = logging.getLogger(__name__)
TOP_K = 100


@torch.inference_mode()
def extract_features(model: AttentionResNet50, dataset, heads, batch_size: int = 128,
                     device: torch.device | None = None, bf16: bool = True,
                     progress: bool = True, compile: bool = False) -> dict[str, np.ndarray]:
    """One pass over `dataset` -> {head: (N, D) float32, not normalised}, in dataset order.

    `compile`: run the backbone through `torch.compile` (see `shoekit.precision.compiled`)."""
    device = device or next(model.parameters()).device
    use_bf16 = bf16 and bf16_supported(device)
    model.eval().to(device, memory_format=torch.channels_last if use_bf16 else torch.contiguous_format)
    outputs = {head: [] for head in heads}
    feature_map = compiled(model.feature_map, compile, inference=True)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for images, _, _ in tqdm(loader, desc="  features", leave=False, disable=not progress, unit="batch"):
        with autocast(device, use_bf16):
            maps = feature_map(to_device(images, device, channels_last=use_bf16))
            for head in heads:
                outputs[head].append(model.head_features(maps, head).float().cpu().numpy())
    return {head: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
            for head, chunks in outputs.items()}


def eval_name(head: str, query_expansion: int = 0, rerank: bool = False, flip: bool = False) -> str:
    """Folder and metrics key of an evaluation: `max`, `max+flip`, `max+qe5`, `max+rr`, `max+flip+qe5+rr`."""
    return (head + ("+flip" if flip else "") + (f"+qe{query_expansion}" if query_expansion else "")
            + ("+rr" if rerank else ""))


class MirroredCrops(torch.utils.data.Dataset):
    """`dataset`'s items `(image (3, H, W), label, index)` with each image mirrored left to right."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, label, position = self.dataset[index]
        return image.flip(-1), label, position


def flip_averaged(extract):
    """`extract` (dataset -> {head: (N, D) features}) made to return, per crop, the sum of its
    L2-normalised features and those of its mirror image (fast-reid's test-time flip): the
    direction of the mean of the two, which every ranking normalises again."""
    def extract_both(dataset) -> dict[str, np.ndarray]:
        plain, mirrored = extract(dataset), extract(MirroredCrops(dataset))
        return {head: l2_normalize(plain[head]) + l2_normalize(mirrored[head]) for head in plain}
    return extract_both


def uses_exact_ranking(index: IndexSettings | None, num_gallery: int) -> bool:
    return index is None or index.resolved(num_gallery).kind == "exact"


def check_post_processing(index: IndexSettings | None, num_gallery: int, rerank: bool,
                          query_expansion: int) -> None:
    """SettingsError (a ValueError) for a negative query expansion, or re-ranking with a faiss index."""
    if query_expansion < 0:
        raise SettingsError(f"query expansion must be >= 0 gallery neighbours (0 = off), not {query_expansion}")
    if rerank and not uses_exact_ranking(index, num_gallery):
        threshold = f" (--exact-threshold {index.exact_threshold})" if index.kind == "auto" else ""
        raise SettingsError(
            f"re-ranking needs exact ranking (a full query x gallery distance matrix), but --index "
            f"{index.kind}{threshold} ranks these {num_gallery} gallery crops with a faiss "
            f"{index.resolved(num_gallery).kind} index; pass --index exact (re-ranking memory grows as "
            "(queries + gallery)^2) or drop --rerank")



@dataclass(frozen=True)
class EvaluationOptions:
    """How `evaluate_run` evaluates a run (the options of `shoekit evaluate`).

    `heads`: None for every head (torch) or every exported head (onnx); `metric`: "cosine" or
    "euclidean"; `data`: a dataset folder instead of the run's own; `batch_size` crops per
    forward pass; `bf16`: autocast where the device supports it (torch backend);
    `same_camera_junk`: gallery crops of the query's identity and camera are ignored;
    `device`: "auto", "cpu", "cuda", ...; `backend` "torch" or "onnx" (`onnx_models`: ONNX files
    instead of RUN/export/HEAD.onnx); `index`: None ranks exactly whatever the size, else galleries
    of `index.exact_threshold` items or more are ranked by a faiss index to `index_depth`;
    `flip`: every crop's features averaged with its left-right mirror image's (twice the extraction
    time); `query_expansion` K > 0: average query expansion over the top K gallery crops; `rerank`:
    k-reciprocal re-ranking (exact ranking only); `compile`: extract with `torch.compile`;
    `overwrite`: replace an evaluation of the same name made on other data.
    """

    heads: tuple[str, ...] | None = None
    metric: str = "cosine"
    data: str | None = None
    batch_size: int = 128
    bf16: bool = True
    same_camera_junk: bool = False
    device: str = "auto"
    progress: bool = True
    backend: str = "torch"
    onnx_models: tuple = ()
    index: IndexSettings | None = field(default_factory=IndexSettings)
    index_depth: int = 1000
    flip: bool = False
    rerank: bool = False
    query_expansion: int = 0
    compile: bool = False
    overwrite: bool = False

    def name(self, head: str) -> str:
        """The evaluation's folder and metrics key for `head` (see `eval_name`)."""
        return eval_name(head, self.query_expansion, self.rerank, self.flip)


@dataclass(frozen=True)
class HeadRanking:
    """One head's ranking of Q queries against G gallery crops, and its metrics.

    query_features `(Q, D)` (L2-normalised, after query expansion: the queries as ranked) and
    gallery_features `(G, D)` float32; top_indices `(Q, K)` gallery positions, best first (-1
    where an approximate index found fewer than K); top_distances `(Q, K)` (`metric`, or the
    re-ranked distances); ap `(Q,)` (NaN: no positive in the gallery); cmc `(R,)` fractions;
    summary: rank1/5/10, mAP, query counts and the ranking settings.
    """

    query_features: np.ndarray
    gallery_features: np.ndarray
    top_indices: np.ndarray
    top_distances: np.ndarray
    ap: np.ndarray
    cmc: np.ndarray
    summary: dict


def rank_head(query_feats: np.ndarray, gallery_feats: np.ndarray, query_ids, gallery_ids,
              options: EvaluationOptions = EvaluationOptions(), query_cams=None, gallery_cams=None
              ) -> HeadRanking:
    """Rank `(Q, D)` query features against `(G, D)` gallery features (exactly, or with
    `options.index` for large galleries) and score the ranking; writes nothing.

    `query_ids` `(Q,)`, `gallery_ids` `(G,)`: identities; with `options.same_camera_junk`,
    `query_cams` `(Q,)` and `gallery_cams` `(G,)` mark the junk. `options.query_expansion` > 0
    replaces each query by its average with its top gallery neighbours before ranking;
    `options.rerank` ranks by k-reciprocal re-ranked distances. SettingsError for settings that
    cannot rank these features (see `check_post_processing`).
    """
    num_gallery, index = len(gallery_feats), options.index
    check_post_processing(index, num_gallery, options.rerank, options.query_expansion)
    query_feats, gallery_feats = l2_normalize(query_feats), l2_normalize(gallery_feats)
    query_feats = average_query_expansion(query_feats, gallery_feats, options.query_expansion)
    cams = {"query_cams": query_cams, "gallery_cams": gallery_cams} if options.same_camera_junk else {}
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    ranking = {"ranking": "exact"}
    if uses_exact_ranking(index, num_gallery):
        if options.rerank:
            distmat = k_reciprocal_rerank(query_feats, gallery_feats)
        else:
            distmat = distance_matrix(query_feats, gallery_feats, options.metric)
        result = rank_metrics(distmat, query_ids, gallery_ids, max_rank=min(50, num_gallery), **cams)
        top = np.argsort(distmat, axis=1, kind="stable")[:, :TOP_K]
        top_distances = np.take_along_axis(distmat, top, axis=1)
    else:
        result, top, top_distances = rank_with_index(
            query_feats, gallery_feats, query_ids, gallery_ids, options.metric, index, depth=options.index_depth,
            keep=TOP_K, max_rank=min(50, num_gallery), **cams)
        ranking = {"ranking": index.resolved(num_gallery).kind,
                   "ranking_depth": min(options.index_depth, num_gallery),
                   "positives_beyond_depth": result["positives_beyond_depth"]}
    summary = {key: result[key] for key in ("rank1", "rank5", "rank10", "mAP",
                                            "num_valid_queries", "num_invalid_queries")}
    summary.update(metric=options.metric, feature_dim=int(query_feats.shape[1]),
                   num_gallery=int(num_gallery), same_camera_junk=options.same_camera_junk,
                   flip=bool(options.flip), query_expansion=int(options.query_expansion),
                   rerank=bool(options.rerank), **ranking)
    return HeadRanking(query_features=query_feats, gallery_features=gallery_feats, top_indices=top,
                       top_distances=top_distances, ap=result["ap"], cmc=result["cmc"], summary=summary)


def save_head(run_dir: Path, name: str, ranked: HeadRanking, query: ShoeCrops, gallery: ShoeCrops,
              recorded: dict) -> dict:
    """Write `ranked` as evaluation `name` of the run (`shoekit.runs.write_evaluation`), its rows
    those of `query` and `gallery`; metrics.json is its summary plus `recorded` (precision,
    manifest hash, data). Returns that metrics dict."""
    query_rows, gallery_rows = query.rows["row"].to_numpy(), gallery.rows["row"].to_numpy()
    metrics = {**ranked.summary, **recorded}
    write_evaluation(run_dir, name, metrics, ranked.cmc,
                     Rankings(query_rows, gallery_rows, ranked.top_indices, ranked.top_distances, ranked.ap),
                     SavedFeatures(ranked.query_features, ranked.gallery_features, query_rows, gallery_rows))
    return metrics


def check_same_data(run_dir: Path, name: str, data, data_hash: str) -> None:
    """SettingsError when evaluation `name` of the run was made on another dataset than `data`
    (by manifest hash): replacing it silently would make explain use other crops."""
    try:
        earlier = earlier_eval_metrics(run_dir, name)
    except CheckpointError:
        return  # unreadable: nothing worth keeping
    if earlier is not None and earlier.get("manifest_hash", data_hash) != data_hash:
        raise SettingsError(f"{eval_dir(run_dir, name)}: holds an evaluation on {earlier.get('data', 'other data')} "
                            f"(another manifest than {data}); pass --overwrite to replace it (explain and "
                            "the workbench then use the new data), or evaluate a copy of the run folder")


def check_finite(features: dict[str, np.ndarray], split: str, crops: ShoeCrops, run_dir) -> None:
    """CheckpointError naming the run when any head's (N, D) features hold NaN or inf: ranking
    them would order the gallery arbitrarily and still report believable metrics."""
    for head, values in features.items():
        broken = ~np.isfinite(values).all(axis=1)
        if broken.any():
            rows = crops.rows["row"].to_numpy()[broken][:5].tolist()
            raise CheckpointError(
                f"{run_dir}: the {head} features of {int(broken.sum())} {split} crop(s) hold NaN or inf "
                f"(manifest rows {rows}); the model's weights are not finite (training diverged) or "
                "bf16 overflowed: retrain with a lower --lr, or evaluate with --no-bf16")


def feature_extraction(run: TrainedRun, options: EvaluationOptions, device: torch.device, bf16: bool,
                       progress: bool):
    """(heads, dataset -> {head: (N, D) float32}) for the torch model or the run's ONNX exports."""
    if options.backend == "torch":
        heads = tuple(options.heads or run.model.heads)
        for head in heads:
            run.model.check_head(head)  # before any extraction: "bnneck" needs a BNNeck model
        return heads, partial(extract_features, run.model, heads=heads, batch_size=options.batch_size,
                              device=device, bf16=bf16, progress=progress, compile=options.compile)
    if options.backend == "onnx":
        from shoekit.index.source import model_fingerprint
        from shoekit.onnx_backend import extract_onnx_features, load_exports

        models = load_exports(run.path, model_fingerprint(run.model), run.config.image_size, options.heads,
                              options.onnx_models or (), device.type)
        return tuple(models), partial(extract_onnx_features, models, batch_size=options.batch_size,
                                      progress=progress)
    raise ValueError(f"unknown backend {options.backend!r}; choose 'torch' or 'onnx'")


def evaluation_crops(run: TrainedRun, options: EvaluationOptions) -> tuple[str, ShoeCrops, ShoeCrops]:
    """The dataset folder, query crops and gallery + distractor crops to evaluate on;
    ManifestError when the dataset cannot give an evaluation with these options."""
    data = options.data or run.config.data
    for warning in validate_dataset(data, check_images=False):
        log.warning("%s", warning)
    transform = eval_transform(run.config.image_size)
    query = ShoeCrops(data, ["query"], transform=transform, align=run.config.align)
    gallery = ShoeCrops(data, ["gallery", "distractor"], transform=transform, align=run.config.align)
    if len(query) == 0 or len(gallery) == 0:
        raise ManifestError(f"{data}/manifest.csv has {len(query)} query and {len(gallery)} gallery/"
                            "distractor rows; evaluation needs both (build one with shoekit make-dataset)")
    if options.same_camera_junk and "camera" not in query.rows:
        raise ManifestError(f"{data}/manifest.csv has no camera column; drop --same-camera-junk")
    return data, query, gallery


def evaluate_run(run_dir: str | Path, options: EvaluationOptions | None = None, **settings) -> dict[str, dict]:
    """Evaluate a trained run on its dataset (or `options.data`) for every head; returns {name: metrics}.

    `settings` are EvaluationOptions fields, applied over `options` (`evaluate_run(run, heads=("max",))`).
    Each head's evaluation is stored under `options.name(head)`, e.g. `max+qe5+rr`
    (`shoekit.runs.write_evaluation`), merged into RUN/eval/metrics.csv and
    RUN/metrics.json["eval"]. An evaluation of the same name made on other data (another
    manifest) is replaced only with `overwrite` (SettingsError before any work otherwise):
    explain and the workbench read it.
    """
    options = replace(options or EvaluationOptions(), **settings)
    run = load_run(run_dir)
    data, query, gallery = evaluation_crops(run, options)
    check_post_processing(options.index, len(gallery), options.rerank, options.query_expansion)
    context = init_distributed(options.device)
    use_bf16 = options.backend == "torch" and options.bf16 and bf16_supported(context.device)
    heads, extract = feature_extraction(run, options, context.device, use_bf16, options.progress and context.is_main)
    if options.flip:
        extract = flip_averaged(extract)
    data_hash = manifest_hash(data)
    if not options.overwrite:
        for head in heads:
            check_same_data(run_dir, options.name(head), data, data_hash)
    log.info("extracting features: %d queries, %d gallery + distractor crops", len(query), len(gallery))
    query_feats = context.extract(extract, query)
    gallery_feats = context.extract(extract, gallery)
    if not context.is_main:
        return context.broadcast(None)
    for split, feats, crops in (("query", query_feats, query), ("gallery", gallery_feats, gallery)):
        check_finite(feats, split, crops, run_dir)
    precision = "onnx-fp32" if options.backend == "onnx" else "bf16" if use_bf16 else "fp32"
    cams = {}
    if options.same_camera_junk:
        cams = {"query_cams": query.rows["camera"].to_numpy(), "gallery_cams": gallery.rows["camera"].to_numpy()}
    results = {}
    for head in heads:
        ranked = rank_head(query_feats[head], gallery_feats[head], query.identities, gallery.identities,
                           options, **cams)
        results[options.name(head)] = save_head(run_dir, options.name(head), ranked, query, gallery,
                                                {"precision": precision, "manifest_hash": data_hash,
                                                 "data": str(data)})
    write_eval_table(run_dir, results)
    update_metrics(run_dir, "eval", results)
    return context.broadcast(results)
