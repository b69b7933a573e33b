"""Shared fixtures: a tiny synthetic dataset folder and a tiny trained run (session-wide).

The images are 32×32 colour patterns, one pattern per identity plus noise, so a ResNet50 can
learn them in two epochs on a CPU; nothing depends on ../shared or the procedural shoes.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib

# Before torch loads OpenMP: threads sleep instead of spinning when they wait. With a Streamlit
# server, a browser and pytest sharing 2 cores, spinning made torch 10-40x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

TINY_SIZE = 32


def copy_run(run: Path, to: Path, ignore=None) -> Path:
    """A copy of a run folder whose checkpoint.pt is a hard link, not a copy (a ResNet50's weights:
    ~100 MB each). shoekit replaces checkpoints atomically (new file, rename), so the source is safe;
    a test that rewrites a copy's checkpoint in place must unlink it first."""
    def link_checkpoint(source: str, target: str) -> None:
        if Path(source).name != "checkpoint.pt":
            shutil.copy2(source, target)
            return
        try:
            os.link(source, target)
        except OSError:  # another filesystem
            shutil.copy2(source, target)
    return Path(shutil.copytree(run, to, ignore=ignore, copy_function=link_checkpoint))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG file that declares `width` × `height` RGB pixels in its header and holds no pixel
    data: what the image policy must refuse before decoding (Pillow opens it; loading fails)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


def identity_pattern(identity: int, rng: np.random.Generator, size: int = TINY_SIZE) -> np.ndarray:
    """(size, size, 3) uint8: a colour and stripe layout fixed by `identity`, plus noise."""
    palette = np.random.default_rng(1000 + identity)
    base = palette.integers(40, 215, size=3)
    accent = palette.integers(0, 255, size=3)
    image = np.tile(base, (size, size, 1)).astype(np.float32)
    period = 4 + identity % 5
    stripes = (np.arange(size) // period) % 2 == 0
    if identity % 2:
        image[:, stripes] = accent
    else:
        image[stripes, :] = accent
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_tiny_dataset(root: Path, seed: int = 0) -> Path:
    """4 train identities × 8 crops, 3 test identities (2 query + 3 gallery), 2 distractors × 3."""
    rng = np.random.default_rng(seed)
    rows = []
    layout = [(i, "train", 8) for i in range(4)] + [(i, None, 5) for i in range(4, 7)] + \
             [(i, "distractor", 3) for i in range(7, 9)]
    for identity, split, count in layout:
        for k in range(count):
            row_split = split or ("query" if k < 2 else "gallery")
            path = f"images/id{identity}/{k}.png"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(identity_pattern(identity, rng)).save(root / path)
            rows.append({"path": path, "identity": f"id{identity}", "split": row_split,
                         "camera": f"cam{k % 2 + 1}"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_tiny_dataset(tmp_path / "tiny")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A dual_pool run trained 3 epochs on the tiny dataset and evaluated on every head."""
    from shoekit.config import TrainConfig
    from shoekit.evaluate import evaluate_run
    from shoekit.train import train

    root = tmp_path_factory.mktemp("session")
    data = write_tiny_dataset(root / "tiny")
    config = TrainConfig(data=str(data), attention="dual_pool", image_size=TINY_SIZE, epochs=3,
                         batch_size=8, lr=1e-3, warmup_steps=2, num_workers=0, seed=0)
    train(config, root / "run", progress=False)
    evaluate_run(root / "run", batch_size=16, progress=False)
    return root / "run"


def add_masks(data: Path) -> None:
    """Shoe masks for every crop of a dataset folder (where make-dataset puts them): the centre
    half of each image is 'shoe'."""
    from shoekit.data.masks import mask_location, write_mask

    for path in pd.read_csv(data / "manifest.csv")["path"]:
        with Image.open(data / path) as image:
            width, height = image.size
        mask = np.zeros((height, width), np.uint8)
        mask[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 255
        write_mask(data / mask_location(path), mask)


def masked_copy(run: Path, tmp_path: Path) -> Path:
    """tmp_path/run: a copy of `run` whose dataset (copied to tmp_path/data) has shoe masks; its
    config and evaluations point at the copy."""
    import json

    copy = copy_run(run, tmp_path / "run")
    config = json.loads((copy / "config.json").read_text())
    data = Path(shutil.copytree(config["data"], tmp_path / "data"))
    add_masks(data)
    config["data"] = str(data)
    (copy / "config.json").write_text(json.dumps(config))
    for metrics in (copy / "eval").glob("*/metrics.json"):
        values = json.loads(metrics.read_text())
        values["data"] = str(data)
        metrics.write_text(json.dumps(values))
    return copy
