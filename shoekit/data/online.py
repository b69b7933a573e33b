"""Fresh CCTV renders of the training identities, and the record that makes them possible.

`make-dataset` writes `DATA/cutouts.json`, the owner of this file format: where the training
identities' cut-outs are (a cut-out folder, or the procedural generator's count and seed) and
which views each training identity has. With it, `shoekit train --render online` replaces the
fixed training crops by new renders through the CCTV simulation every epoch:

- `OnlineRenders`: item i of epoch e is the identity of training row i, seen from a view, on a
  floor and through a camera all drawn from `stable_seed(seed, "online", e, i)`, aligned
  toe–heel like the test crops, then resized and flipped (and any other augmentation) by the
  training transform under torch's random generator seeded from the same draw. A pure function of
  (seed, epoch, index), so DataLoader workers, resumed runs and uninterrupted runs agree bit
  for bit; and different in every epoch, so the network never sees the same crop twice.
- `validation_protocol`: held-out identities rendered once as a small query/gallery benchmark in
  the test split's protocol (two query views far apart, gallery on the other floors and views).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from shoekit.data.alignment import align as align_toe_heel
from shoekit.data.cctv import simulate_crop
from shoekit.data.cutout import Cutout, load_cutout
from shoekit.data.datasets import eval_transform
from shoekit.errors import DataError

RECORD_NAME = "cutouts.json"
RECORD_VERSION = 1


@dataclass(frozen=True)
class CutoutRecord:
    """Where a dataset's training cut-outs are: `source` "folder" (cut-out image files under
    `folder`, paths in `views` relative to it) or "procedural" (`count` types made with `seed`,
    views named as in `procedural.VIEWS`); `views` maps each training identity to
    {view: relative path or ""}; `size` is the crop side (px) the dataset was rendered at;
    `view_exclusion` and `query_view_gap` are the builder's protocol settings."""

    source: str
    views: dict[str, dict[str, str]]
    size: int
    folder: str = ""
    count: int = 0
    seed: int = 0
    view_exclusion: int = 5
    query_view_gap: int = 20

    def to_json(self) -> str:
        return json.dumps({"format_version": RECORD_VERSION, **self.__dict__}, indent=2,
                          sort_keys=True) + "\n"


def record_path(data: str | Path) -> Path:
    return Path(data) / RECORD_NAME


def has_record(data: str | Path) -> bool:
    return record_path(data).is_file()


def read_record(data: str | Path) -> CutoutRecord:
    """The dataset's cut-out record; DataError naming the file when it is missing or broken,
    or when the cut-out folder it names is gone."""
    path = record_path(data)
    if not path.is_file():
        raise DataError(f"{path}: no cut-out record, so this dataset's training crops cannot be "
                        "rendered afresh; rebuild it with shoekit make-dataset --cutouts DIR or "
                        "--procedural N, or train with --render fixed")
    try:
        values = json.loads(path.read_text())
        version = values.pop("format_version")
        if version != RECORD_VERSION:
            raise DataError(f"{path}: format version {version}, this shoekit reads "
                            f"{RECORD_VERSION}; rebuild the dataset with this version")
        record = CutoutRecord(**values)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{path}: unreadable cut-out record ({error}); rebuild the dataset with "
                        "shoekit make-dataset or train with --render fixed") from error
    if record.source == "folder" and not Path(record.folder).is_dir():
        raise DataError(f"{path}: the cut-out folder {record.folder} it names is missing; "
                        "restore it there or train with --render fixed")
    if record.source not in ("folder", "procedural"):
        raise DataError(f"{path}: unknown source {record.source!r}; rebuild the dataset")
    return record


class CutoutSource:
    """Loads (and keeps) the cut-outs of a record: `cutout(identity, view)` -> Cutout.

    Each process fills its own cache on first use (a 128 px RGBA cut-out is 64 KB)."""

    def __init__(self, record: CutoutRecord):
        self.record = record
        self._types = None
        self.cutout = lru_cache(maxsize=None)(self._load)

    def _load(self, identity: str, view: str) -> Cutout:
        if self.record.source == "folder":
            return load_cutout(Path(self.record.folder) / self.record.views[identity][view])
        from shoekit.data.procedural import make_shoe_types, render_cutout

        if self._types is None:
            self._types = {shoe.name: shoe for shoe in make_shoe_types(self.record.count,
                                                                       self.record.seed)}
        return render_cutout(self._types[identity], view)

    def preload(self, identities) -> None:
        """Load every cut-out of `identities` now: DataLoader workers forked later share them
        instead of each loading its own (their caches die with them at every epoch's end)."""
        for identity in identities:
            for view in self.views(identity):
                self.cutout(identity, view)

    def views(self, identity: str) -> list[str]:
        return list(self.record.views[identity])


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from `parts`, the same on every machine (see `planning.stable_seed`)."""
    from shoekit.data.planning import stable_seed as planning_seed

    return planning_seed(*parts)


class OnlineRenders(torch.utils.data.Dataset):
    """Fresh renders standing in for the training rows: item i is `identities[i]` rendered
    afresh every epoch (see the module docstring), as `(transform(render), label, i)`, the
    transform taking the (S, S, 3) uint8 render to a float tensor (3, H, W) in [0, 1] (e.g.
    `datasets.train_transform`). Call `set_epoch(e)` before each epoch's DataLoader is made
    (its workers are forked with the epoch set). `labels`, `identities`, `label_map` and a
    replaceable `transform` are as in ShoeCrops."""

    def __init__(self, source: CutoutSource, identities: list[str], label_map: dict[str, int],
                 transform: Callable, seed: int, align: bool = True):
        self.source = source
        self.identities = list(identities)
        self.label_map = label_map
        self.labels = [label_map[identity] for identity in self.identities]
        self.transform = transform
        self.seed = seed
        self.align = align
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.identities)

    def render(self, index: int) -> np.ndarray:
        """Item `index`'s crop of this epoch before resizing: (S, S, 3) uint8, S the dataset's size."""
        seed = stable_seed(self.seed, "online", self.epoch, index)
        identity = self.identities[index]
        views = self.source.views(identity)
        view = views[int(np.random.default_rng([seed, 2]).integers(len(views)))]
        crop = simulate_crop(self.source.cutout(identity, view), seed=seed,
                             size=self.source.record.size)
        return align_toe_heel(crop.image, crop.toe, crop.heel) if self.align else crop.image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        image = self.render(index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed(self.seed, "augment", self.epoch, index))
            return self.transform(image), self.labels[index], index


@dataclass
class ValidationSet:
    """Held-out identities as a query/gallery benchmark: `query` (Q, 3, S, S) and `gallery`
    (G, 3, S, S) float tensors in [0, 1], with their identities."""

    query: torch.Tensor
    query_ids: list[str]
    gallery: torch.Tensor
    gallery_ids: list[str]


def split_identities(identities: list[str], count: int, seed: int,
                     option: str = "--val-identities") -> tuple[list[str], list[str]]:
    """(training, validation) identities: `count` of the sorted `identities` held out by `seed`.
    DataError when that leaves fewer than 2 for training or validation (with count > 0)."""
    names = sorted(set(identities))
    if count == 0:
        return names, []
    if count < 2 or count > len(names) - 2:
        raise DataError(f"{option} {count}: the training split has {len(names)} identities; hold "
                        f"out between 2 and {max(len(names) - 2, 2)} (or 0 for no validation)")
    order = np.random.default_rng(stable_seed(seed, "validation")).permutation(len(names))
    held = sorted(names[i] for i in order[:count])
    return [name for name in names if name not in held], held


def render_validation(source: CutoutSource, identities: list[str], size: int, seed: int,
                      gallery_crops: int = 8, align: bool = True) -> ValidationSet:
    """Render the validation benchmark of `identities` in the test split's protocol: per
    identity two query crops (two views far apart, two floors) and `gallery_crops` gallery
    crops on the other floors, leaving out the views next to a query's; resized to `size`."""
    from shoekit.data.planning import NamedViews, TrajectoryViews, query_gallery_specs

    record = source.record
    named = record.source == "procedural"
    policy = NamedViews() if named else TrajectoryViews(record.view_exclusion, record.query_view_gap)
    resize = eval_transform(size)
    crops: dict[str, list] = {"query": [], "gallery": []}
    ids: dict[str, list[str]] = {"query": [], "gallery": []}
    for identity in identities:
        rng = np.random.default_rng(stable_seed(seed, "validation-plan", identity))
        plan = policy.plan(source.views(identity), rng)
        if plan is None:
            raise DataError(f"validation identity {identity} has too few views for the test "
                            f"protocol ({policy.requirement()}); choose another --seed")
        for spec in query_gallery_specs(identity, plan, gallery_crops, seed, rng):
            crop = simulate_crop(source.cutout(identity, spec.view), seed=spec.seed,
                                 floor=spec.floor, camera=spec.camera, size=record.size)
            image = align_toe_heel(crop.image, crop.toe, crop.heel) if align else crop.image
            crops[spec.split].append(resize(image))
            ids[spec.split].append(identity)
    return ValidationSet(torch.stack(crops["query"]), ids["query"],
                         torch.stack(crops["gallery"]), ids["gallery"])
