"""Evaluation: features of query and gallery (+ distractor) crops, ranking and metrics.

For each head, `evaluate_run` writes to `RUN/eval/NAME/`:
    metrics.json   rank1/5/10, mAP (fractions), query counts, metric, precision, manifest hash,
                   query_expansion and rerank settings
    cmc.csv        rank, cmc
    rankings.npz   query_rows (Q,), gallery_rows (G,) manifest row numbers; top_indices (Q, K)
                   into gallery_rows (-1 where an approximate index found fewer than K),
                   top_distances (Q, K); ap (Q,) (NaN: no positive in gallery)
    features.npz   query (Q, D), gallery (G, D) L2-normalised float32 (the queries as ranked, i.e.
                   expanded with query expansion), with their manifest rows
merges its rows into the table `RUN/eval/metrics.csv` (column `head`: NAME), and sets
`metrics.json["eval"][NAME]`. NAME is the head (`max`), or with post-processing (`shoekit.rerank`)
the head plus `+qeK` for average query expansion over the top K gallery crops and `+rr` for
k-reciprocal re-ranking (`max+qe5`, `max+rr`, `max+qe5+rr`), so plain results are kept.
Re-ranking needs exact ranking; its top_distances are the re-ranked distances, not `metric`.

Galleries of `index.exact_threshold` items or more are ranked by a faiss index (`shoekit.index`)
to depth `index_depth` instead of a full distance matrix; metrics.json then names the index and
counts the positives beyond that depth (0: the same metrics as exact ranking). Features come from
the torch model, or with `backend="onnx"` from the run's ONNX exports (`shoekit export`); under
torchrun each process extracts one shard and rank 0 ranks and writes.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
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
from shoekit.runs import EVAL_DIR, TrainedRun, atomic_write, load_run, update_metrics, write_json, write_text

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


def save_npz(path: Path, **arrays) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, write)


def eval_name(head: str, query_expansion: int = 0, rerank: bool = False) -> str:
    """Folder and metrics key of an evaluation: `max`, `max+qe5`, `max+rr`, `max+qe5+rr`."""
    return head + (f"+qe{query_expansion}" if query_expansion else "") + ("+rr" if rerank else "")


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


def evaluate_head(out_dir: Path, query_feats, gallery_feats, query: ShoeCrops, gallery: ShoeCrops,
                  metric: str, same_camera_junk: bool, index: IndexSettings | None = None,
                  index_depth: int = 1000, rerank: bool = False, query_expansion: int = 0) -> dict:
    """Rank (exactly, or with `index` for large galleries), score and write one head's files;
    returns its summary metrics.

    `query_expansion` > 0 replaces each query by its average with its top gallery neighbours
    before ranking; `rerank` ranks by k-reciprocal re-ranked distances (exact ranking only).
    """
    num_gallery = len(gallery_feats)
    check_post_processing(index, num_gallery, rerank, query_expansion)
    query_feats, gallery_feats = l2_normalize(query_feats), l2_normalize(gallery_feats)
    query_feats = average_query_expansion(query_feats, gallery_feats, query_expansion)
    cams = {}
    if same_camera_junk:
        cams = {"query_cams": query.rows["camera"].to_numpy(), "gallery_cams": gallery.rows["camera"].to_numpy()}
    ranking = {"ranking": "exact"}
    if uses_exact_ranking(index, num_gallery):
        if rerank:
            distmat = k_reciprocal_rerank(query_feats, gallery_feats)
        else:
            distmat = distance_matrix(query_feats, gallery_feats, metric)
        result = rank_metrics(distmat, np.array(query.identities), np.array(gallery.identities),
                              max_rank=min(50, num_gallery), **cams)
        top = np.argsort(distmat, axis=1, kind="stable")[:, :TOP_K]
        top_distances = np.take_along_axis(distmat, top, axis=1)
    else:
        result, top, top_distances = rank_with_index(
            query_feats, gallery_feats, np.array(query.identities), np.array(gallery.identities), metric,
            index, depth=index_depth, keep=TOP_K, max_rank=min(50, num_gallery), **cams)
        ranking = {"ranking": index.resolved(num_gallery).kind, "ranking_depth": min(index_depth, num_gallery),
                   "positives_beyond_depth": result["positives_beyond_depth"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_npz(out_dir / "rankings.npz", query_rows=query.rows["row"].to_numpy(),
             gallery_rows=gallery.rows["row"].to_numpy(), top_indices=top,
             top_distances=top_distances, ap=result["ap"])
    save_npz(out_dir / "features.npz", query=query_feats, gallery=gallery_feats,
             query_rows=query.rows["row"].to_numpy(), gallery_rows=gallery.rows["row"].to_numpy())
    cmc = pd.DataFrame({"rank": np.arange(1, len(result["cmc"]) + 1), "cmc": result["cmc"]})
    write_text(out_dir / "cmc.csv", cmc.to_csv(index=False))
    summary = {key: result[key] for key in ("rank1", "rank5", "rank10", "mAP",
                                            "num_valid_queries", "num_invalid_queries")}
    summary.update(metric=metric, feature_dim=int(query_feats.shape[1]),
                   num_gallery=int(num_gallery), same_camera_junk=same_camera_junk,
                   query_expansion=int(query_expansion), rerank=bool(rerank), **ranking)
    return summary


def check_same_data(eval_dir: Path, data, data_hash: str) -> None:
    """SettingsError when `eval_dir` holds an evaluation made on another dataset than `data`
    (by manifest hash): replacing it silently would make explain use other crops."""
    path = eval_dir / "metrics.json"
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # none yet, or unreadable: nothing worth keeping
    if isinstance(earlier, dict) and earlier.get("manifest_hash", data_hash) != data_hash:
        raise SettingsError(f"{eval_dir}: holds an evaluation on {earlier.get('data', 'other data')} "
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


def write_eval_table(run_dir: Path, results: dict[str, dict]) -> None:
    """Merge `results` into RUN/eval/metrics.csv: rows of the same name replaced in place, new ones appended."""
    path = Path(run_dir) / EVAL_DIR / "metrics.csv"
    rows = {}
    if path.is_file():
        try:
            rows = {str(row["head"]): row for row in pd.read_csv(path).to_dict("records")}
        except (pd.errors.ParserError, pd.errors.EmptyDataError, KeyError):
            log.warning("%s: unreadable, rewritten with this evaluation only", path)
    rows.update({name: {"head": name, **summary} for name, summary in results.items()})
    write_text(path, pd.DataFrame(list(rows.values())).to_csv(index=False))


def feature_extraction(run: TrainedRun, heads, backend: str, onnx_models, batch_size: int,
                       device: torch.device, bf16: bool, progress: bool, compile: bool = False):
    """(heads, dataset -> {head: (N, D) float32}) for the torch model or the run's ONNX exports."""
    if backend == "torch":
        heads = tuple(heads or run.model.heads)
        for head in heads:
            run.model.check_head(head)  # before any extraction: "bnneck" needs a BNNeck model
        return heads, partial(extract_features, run.model, heads=heads, batch_size=batch_size,
                              device=device, bf16=bf16, progress=progress, compile=compile)
    if backend == "onnx":
        from shoekit.index.source import model_fingerprint
        from shoekit.onnx_backend import extract_onnx_features, load_exports

        models = load_exports(run.path, model_fingerprint(run.model), run.config.image_size, heads,
                              onnx_models or (), device.type)
        return tuple(models), partial(extract_onnx_features, models, batch_size=batch_size, progress=progress)
    raise ValueError(f"unknown backend {backend!r}; choose 'torch' or 'onnx'")


def evaluate_run(run_dir: str | Path, heads=None, metric: str = "cosine", data: str | None = None,
                 batch_size: int = 128, bf16: bool = True, same_camera_junk: bool = False,
                 device: str = "auto", progress: bool = True, backend: str = "torch", onnx_models=(),
                 index: IndexSettings | None = IndexSettings(), index_depth: int = 1000,
                 rerank: bool = False, query_expansion: int = 0, compile: bool = False,
                 overwrite: bool = False) -> dict[str, dict]:
    """Evaluate a trained run on its dataset (or `data`) for every head; returns {name: summary}.

    `heads`: None for every head (torch) or every exported head (onnx); `onnx_models`: ONNX
    files to use instead of RUN/export/HEAD.onnx; `index`: None ranks exactly whatever the size.
    `query_expansion` K > 0 (average query expansion) and `rerank` (k-reciprocal re-ranking,
    exact ranking only) store results under `eval_name(head, K, rerank)`, e.g. `max+qe5+rr`.
    `compile`: extract with `torch.compile` (torch backend; worth it for large galleries).
    An evaluation of the same name made on other data (another manifest) is replaced only with
    `overwrite` (SettingsError before any work otherwise): explain and the workbench read it.
    """
    run = load_run(run_dir)
    data = data or run.config.data
    for warning in validate_dataset(data, check_images=False):
        log.warning("%s", warning)
    transform = eval_transform(run.config.image_size)
    query = ShoeCrops(data, ["query"], transform=transform, align=run.config.align)
    gallery = ShoeCrops(data, ["gallery", "distractor"], transform=transform, align=run.config.align)
    if len(query) == 0 or len(gallery) == 0:
        raise ManifestError(f"{data}/manifest.csv has {len(query)} query and {len(gallery)} gallery/"
                            "distractor rows; evaluation needs both (build one with shoekit make-dataset)")
    if same_camera_junk and "camera" not in query.rows:
        raise ManifestError(f"{data}/manifest.csv has no camera column; drop --same-camera-junk")
    check_post_processing(index, len(gallery), rerank, query_expansion)
    context = init_distributed(device)
    use_bf16 = backend == "torch" and bf16 and bf16_supported(context.device)
    heads, extract = feature_extraction(run, heads, backend, onnx_models, batch_size, context.device, use_bf16,
                                        progress and context.is_main, compile)
    data_hash = manifest_hash(data)
    if not overwrite:
        for head in heads:
            check_same_data(Path(run_dir) / EVAL_DIR / eval_name(head, query_expansion, rerank), data, data_hash)
    log.info("extracting features: %d queries, %d gallery + distractor crops", len(query), len(gallery))
    query_feats = context.extract(extract, query)
    gallery_feats = context.extract(extract, gallery)
    if not context.is_main:
        return context.broadcast(None)
    for split, feats, crops in (("query", query_feats, query), ("gallery", gallery_feats, gallery)):
        check_finite(feats, split, crops, run_dir)
    precision = "onnx-fp32" if backend == "onnx" else "bf16" if use_bf16 else "fp32"
    results = {}
    for head in heads:
        name = eval_name(head, query_expansion, rerank)
        summary = evaluate_head(Path(run_dir) / EVAL_DIR / name, query_feats[head], gallery_feats[head],
                                query, gallery, metric, same_camera_junk, index, index_depth,
                                rerank=rerank, query_expansion=query_expansion)
        summary.update(precision=precision, manifest_hash=data_hash, data=str(data))
        write_json(Path(run_dir) / EVAL_DIR / name / "metrics.json", summary)
        results[name] = summary
    write_eval_table(run_dir, results)
    update_metrics(run_dir, "eval", results)
    return context.broadcast(results)
