"""Indexes of a run's gallery: extract features with the run's model, build, save; query features.

    index = build_run_index("runs/dual_pool", "max", "gallery.index", data="city-cams/")
    queries, source = query_features("runs/dual_pool", "max", images)   # images: list of paths

Extraction uses the run's image size, alignment and (by default) bf16 autocast, as
`shoekit evaluate` does; under torchrun each process extracts one shard and rank 0 builds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from shoekit.data import ShoeCrops, eval_transform, manifest_hash
from shoekit.distributed import init_distributed
from shoekit.evaluate import extract_features
from shoekit.index.errors import GalleryIndexError
from shoekit.index.gallery import GalleryIndex
from shoekit.index.settings import IndexSettings
from shoekit.index.source import FeatureSource, model_fingerprint
from shoekit.models import feature_dim
from shoekit.models.heads import check_head
from shoekit.outputs import check_output_file
from shoekit.precision import bf16_supported, resolve_device
from shoekit.query_image import load_query_image
from shoekit.runs import TrainedRun, load_run

log = logging.getLogger(__name__)

GALLERY_SPLITS: tuple[str, ...] = ("gallery", "distractor")


def run_source(run: TrainedRun, head: str, data: str = "", data_hash: str = "") -> FeatureSource:
    """The FeatureSource of `head` features of `run` (of dataset `data` when given)."""
    return FeatureSource(model=model_fingerprint(run.model), head=check_head(head),
                         feature_dim=feature_dim(head, len(run.class_names)), run=str(run.path),
                         attention=run.config.attention, data=str(data), manifest_hash=data_hash)


def build_run_index(run_dir: str | Path, head: str, out: str | Path, data: str | None = None,
                    splits=GALLERY_SPLITS, settings: IndexSettings = IndexSettings(), batch_size: int = 128,
                    bf16: bool = True, device: str = "auto", overwrite: bool = False,
                    progress: bool = True) -> GalleryIndex | None:
    """Extract `head` features of the `splits` rows of `data` (default: the run's dataset) with the
    run's model, index and save them to `out`. Returns the index (None on ranks other than 0)."""
    out = check_output_file(out, overwrite)
    run = load_run(run_dir)
    data = data or run.config.data
    gallery = ShoeCrops(data, list(splits), transform=eval_transform(run.config.image_size), align=run.config.align)
    if len(gallery) == 0:
        raise GalleryIndexError(f"{data}/manifest.csv has no rows of split {', '.join(splits)}; "
                                "choose other --split values")
    context = init_distributed(device)
    use_bf16 = bf16 and bf16_supported(context.device)
    log.info("extracting %s features of %d crops of %s", head, len(gallery), data)
    features = context.extract(lambda dataset: extract_features(
        run.model, dataset, [head], batch_size, context.device, use_bf16, progress and context.is_main), gallery)
    if not context.is_main:
        context.barrier()
        return None
    source = run_source(run, head, str(data), manifest_hash(data))
    index = GalleryIndex.build(features[head], source, settings, rows=gallery.rows["row"].to_numpy(),
                               identities=gallery.identities, paths=gallery.rows["path"].astype(str).tolist(),
                               progress=progress)
    index.save(out, overwrite=overwrite)
    context.barrier()
    return index


def query_features(run_dir: str | Path, head: str, images=(), data: str | None = None, split: str = "query",
                   batch_size: int = 128, bf16: bool = True, device: str = "auto"
                   ) -> tuple[np.ndarray, FeatureSource, list[str], list[str]]:
    """`head` features (Q, D) float32 of image files `images`, or of the `split` rows of `data`.

    Image files are read as query images (`shoekit.query_image`: its checks and messages, its
    notes logged as warnings). Returns (features, their FeatureSource, query names (paths),
    query identities ("" when unknown)).
    """
    run = load_run(run_dir)
    transform = eval_transform(run.config.image_size)
    if data is not None:
        dataset = ShoeCrops(data, [split], transform=transform, align=run.config.align)
        names = [str(Path(data) / path) for path in dataset.rows["path"]]
        identities = list(dataset.identities)
    else:
        loaded = [load_query_image(path) for path in images]
        for image in loaded:
            for note in image.notes:
                log.warning("%s: %s", image.name, note)
        dataset = [(transform(image.rgb), 0, number) for number, image in enumerate(loaded)]
        names, identities = [str(path) for path in images], [""] * len(images)
    torch_device = resolve_device(device)
    features = extract_features(run.model, dataset, [head], batch_size, torch_device,
                                bf16 and bf16_supported(torch_device), progress=False)[head]
    return features, run_source(run, head), names, identities
