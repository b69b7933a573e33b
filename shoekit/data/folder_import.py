"""Turn a folder-per-identity image collection (`root/<identity>/<image>`) into a dataset folder.

Identities are split by a seeded shuffle: a share goes to `train`, the rest are test
identities, each with `queries_per_identity` images (seeded choice) in `query` and the others
in `gallery`. Without `out`, the manifest is written into `root` itself (images stay where
they are); with `out`, the images are copied to `out/<identity>/` and the manifest written
there.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from shoekit.data.image_policy import MIN_SIDE
from shoekit.data.manifest import MANIFEST_NAME, image_problem, write_manifest
from shoekit.errors import ImageError, ManifestError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class ImportResult:
    """What `import_folder` wrote: the manifest table and file, and what it skipped (and why)."""

    manifest: pd.DataFrame
    manifest_file: Path
    warnings: list[str]


def list_identity_images(root: Path) -> dict[str, list[str]]:
    """identity -> image paths relative to `root` (`<identity>/<file>`), both sorted.

    Only direct sub-folders of `root` and image files directly inside them count; hidden
    entries are ignored.
    """
    if not root.is_dir():
        raise ImageError(f"{root}: not a folder; give a folder holding one sub-folder per "
                         "identity with that identity's images inside")
    images = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f.name for f in folder.iterdir() if f.is_file()
                       and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES)
        images[folder.name] = [f"{folder.name}/{name}" for name in files]
    return images


def readable_images(root: Path, images: dict[str, list[str]],
                    min_size: int) -> tuple[dict[str, list[str]], list[str]]:
    """Drop images PIL cannot decode, smaller than min_size px on a side or over the image
    policy's pixel limit; warn for each."""
    kept: dict[str, list[str]] = {identity: [] for identity in images}
    warnings = []
    pairs = [(identity, path) for identity, paths in images.items() for path in paths]
    for identity, path in tqdm(pairs, desc="checking images", unit="image", leave=False):
        if why := image_problem(root / path, min_side=min_size):
            warnings.append(f"{root / path}: skipped, cannot use this image ({why})")
        else:
            kept[identity].append(path)
    return kept, warnings


def split_identities(identities: list[str], train_fraction: float,
                     seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of identities into (train, test), each sorted; at least one test identity."""
    if not 0.0 <= train_fraction < 1.0:
        raise ManifestError(f"train fraction {train_fraction} must be in [0, 1): "
                            "at least one identity has to be left for testing")
    order = np.random.default_rng(seed).permutation(len(identities))
    shuffled = [identities[i] for i in order]
    train_count = min(int(round(train_fraction * len(identities))), len(identities) - 1)
    return sorted(shuffled[:train_count]), sorted(shuffled[train_count:])


def import_folder(root: str | Path, out: str | Path | None = None, *, seed: int = 0,
                  train_fraction: float = 0.5, queries_per_identity: int = 1,
                  min_size: int = MIN_SIDE, overwrite: bool = False) -> ImportResult:
    """Write a manifest for `root/<identity>/<image>` with a seeded split by identity.

    Identities with fewer than `queries_per_identity + 1` usable images cannot be tested and
    are skipped, as are images that do not decode or are smaller than `min_size` px: each is
    reported in `warnings` (and logged). Raises ManifestError when fewer than two identities
    remain. Paths in the manifest are `<identity>/<file>`. A manifest already at the destination
    (ROOT itself without `out`) is replaced only with `overwrite`: it may hold hand edits or a
    built dataset; nothing is written otherwise.
    """
    root = Path(root)
    destination = root if out is None else Path(out)
    existing = destination / MANIFEST_NAME
    if existing.exists() and not overwrite:
        raise ManifestError(f"{existing}: already exists (a dataset, or an earlier import with its split "
                            "and any hand edits); pass --overwrite to replace it, or choose another --out")
    images, warnings = readable_images(root, list_identity_images(root), min_size)
    needed = queries_per_identity + 1
    for identity, paths in images.items():
        if len(paths) < needed:
            warnings.append(f"{root / identity}: identity skipped, it has {len(paths)} usable "
                            f"image(s) and needs {needed} ({queries_per_identity} query + 1 "
                            "gallery); add images or remove the folder")
    usable = sorted(identity for identity, paths in images.items() if len(paths) >= needed)
    if len(usable) < 2:
        raise ManifestError(f"{root}: {len(usable)} identity folder(s) with at least {needed} "
                            "usable images; need 2 or more (one sub-folder per identity)")
    train, test = split_identities(usable, train_fraction, seed)
    rng = np.random.default_rng([seed, 1])  # a stream apart from the identity split's
    records = [(path, identity, "train") for identity in train for path in images[identity]]
    for identity in test:
        paths = images[identity]
        queries = set(rng.choice(len(paths), size=queries_per_identity, replace=False).tolist())
        records += [(path, identity, "query" if i in queries else "gallery")
                    for i, path in enumerate(paths)]
    table = pd.DataFrame(records, columns=["path", "identity", "split"])
    destination.mkdir(parents=True, exist_ok=True)
    if destination.resolve() != root.resolve():
        copy_images(root, destination, table["path"])
    for warning in warnings:
        log.warning(warning)
    return ImportResult(table, write_manifest(table, destination), warnings)


def copy_images(root: Path, out: Path, paths: pd.Series) -> None:
    """Copy `root/<path>` to `out/<path>` for every path (folders created as needed)."""
    for path in paths:
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / path, target)
