"""What `shoekit train` trains and validates on: fixed crops or fresh renders, minus held-out
validation identities, and the validation benchmark made of those.

`training_data(config)` resolves `config.render` ("auto" is "online" wherever the dataset has a
cut-out record, see `shoekit.data.online`), holds `config.val_identities` training identities
out, and returns the training dataset, its class names and the validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from shoekit.choices import RENDERS
from shoekit.config import TrainConfig
from shoekit.data.datasets import ShoeCrops, eval_transform, train_transform
from shoekit.data.manifest import read_manifest
from shoekit.data.online import (CutoutSource, OnlineRenders, ValidationSet, has_record, read_record,
                                 render_validation, split_identities)
from shoekit.errors import DataError, ManifestError, SettingsError

FIXED_QUERIES_PER_IDENTITY = 2


@dataclass
class TrainingData:
    """`dataset` yields (image, label, index); `class_names[label]` is its identity;
    `validation` is None without held-out identities; `render` is "online" or "fixed"."""

    dataset: torch.utils.data.Dataset
    class_names: list[str]
    validation: ValidationSet | None
    render: str


def resolve_render(config: TrainConfig) -> str:
    """"online" or "fixed" for `config.render`; DataError for "online" without a record."""
    if config.render not in RENDERS:
        raise DataError(f"unknown --render {config.render!r}; choose one of {', '.join(RENDERS)}")
    if config.render == "fixed":
        return "fixed"
    if config.render == "online" or has_record(config.data):
        read_record(config.data)  # raises when missing, broken, or its folder is gone
        return "online"
    return "fixed"


def epoch_size(config: TrainConfig, epoch: int, budget_share: float = 0.0) -> int:
    """The training image size (px) of `epoch`: `config.train_sizes` spread in equal chunks, in
    order (small first), over the epochs or, with `config.budget_minutes`, over the budget's spent
    share `budget_share` (0-1); `config.image_size` throughout without train_sizes."""
    sizes = config.train_sizes or [config.image_size]
    if any(size < 16 for size in sizes):
        raise SettingsError(f"--train-sizes {' '.join(map(str, sizes))}: every size must be at least 16 px")
    if config.budget_minutes > 0:
        return sizes[min(int(budget_share * len(sizes)), len(sizes) - 1)]
    return sizes[min(epoch * len(sizes) // max(config.epochs, 1), len(sizes) - 1)]


def crop_augmentation(config: TrainConfig, size: int):
    """The training transform at `size` px: resize and flip, plus the named augmentations (for
    fresh renders they come on top of the simulation's own floor, camera, pose, blur, light,
    noise and JPEG draw; each is off by default and none has been measured yet)."""
    return train_transform(size, config.random_erasing, config.crop_scale, config.color_jitter, config.blur)


def set_epoch(dataset: torch.utils.data.Dataset, config: TrainConfig, epoch: int, size: int) -> None:
    """Prepare `dataset` for `epoch` at `size` px (new renders for online, the transform for both)."""
    if isinstance(dataset, OnlineRenders):
        dataset.set_epoch(epoch)
    dataset.transform = crop_augmentation(config, size)


def training_data(config: TrainConfig) -> TrainingData:
    """The training dataset and validation set of `config` (see the module docstring).

    Raises ManifestError when the manifest has no training rows, DataError for --render online
    without a usable cut-out record or for too many --val-identities."""
    manifest = read_manifest(config.data)
    train_rows = manifest[manifest["split"] == "train"]
    if train_rows.empty:
        raise ManifestError(f"{config.data}/manifest.csv has no rows with split 'train'; training "
                            "needs some (build a dataset with shoekit make-dataset)")
    kept, _ = split_identities(train_rows["identity"].tolist(), config.val_identities, config.seed)
    label_map = {identity: label for label, identity in enumerate(kept)}
    render = resolve_render(config)
    size = epoch_size(config, 0)
    if render == "online":
        source = CutoutSource(read_record(config.data))
        unknown = sorted(set(train_rows["identity"]) - set(source.record.views))
        if unknown:
            raise DataError(f"{config.data}/cutouts.json has no cut-outs of training identities "
                            f"{', '.join(unknown[:5])}; rebuild the dataset or use --render fixed")
        identities = [identity for identity in train_rows["identity"] if identity in label_map]
        source.preload(kept)
        dataset = OnlineRenders(source, identities, label_map, crop_augmentation(config, size), config.seed,
                                config.align)
    else:
        dataset = ShoeCrops(config.data, ["train"], transform=crop_augmentation(config, size),
                            align=config.align, label_map=label_map, cache=config.cache_images,
                            identities=kept)
    return TrainingData(dataset, kept, validation_set(config), render)


def fixed_validation(config: TrainConfig, identities: Sequence[str]) -> ValidationSet:
    """The held-out identities' training crops as a benchmark: each identity's first two crops
    (manifest order) are queries, the rest its gallery."""
    crops = ShoeCrops(config.data, ["train"], transform=eval_transform(config.image_size),
                      align=config.align, identities=identities, label_map=None)
    order = np.asarray(crops.identities)
    first = {identity: np.flatnonzero(order == identity)[:FIXED_QUERIES_PER_IDENTITY] for identity in identities}
    query_index = sorted(int(i) for indices in first.values() for i in indices)
    gallery_index = [i for i in range(len(crops)) if i not in set(query_index)]
    if not gallery_index:
        raise DataError(f"--val-identities {len(identities)}: the held-out identities have no crops "
                        f"beyond their {FIXED_QUERIES_PER_IDENTITY} queries in {config.data}; "
                        "hold out identities with more training crops or use 0")
    images = lambda indices: torch.stack([crops[i][0] for i in indices])  # noqa: E731
    return ValidationSet(images(query_index), [crops.identities[i] for i in query_index],
                         images(gallery_index), [crops.identities[i] for i in gallery_index])


def validation_set(config: TrainConfig, size: int | None = None) -> ValidationSet | None:
    """The validation benchmark of a run's `config` with its images at `size` px (default: the
    run's evaluation size), as its training saw it; None without --val-identities."""
    manifest = read_manifest(config.data)
    identities = manifest.loc[manifest["split"] == "train", "identity"].tolist()
    _, held = split_identities(identities, config.val_identities, config.seed)
    if not held:
        return None
    config = replace(config, image_size=size or config.image_size)
    if resolve_render(config) == "online":
        source = CutoutSource(read_record(config.data))
        return render_validation(source, held, config.image_size, config.seed, align=config.align)
    return fixed_validation(config, held)
