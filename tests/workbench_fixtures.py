"""Fixtures and file makers for the workbench tests (import the fixtures into a test module).

`runs_root`: a runs folder holding the session's tiny trained run (a symlink, no copy) and one
broken run folder the catalog must name and skip. The file makers return the bytes of small
uploads: a frame, a 16-bit image, a video, things that are not images.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

BROKEN_RUN = "broken_old_run"


def write_broken_run(folder: Path) -> Path:
    """A run folder whose config has a setting this shoekit does not know (an older version's)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"attention": "dual_pool", "dropout_rate": 0.5}))
    return folder


@pytest.fixture
def runs_root(tmp_path: Path, trained_run: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    (root / "tiny_dual").symlink_to(trained_run, target_is_directory=True)
    write_broken_run(root / BROKEN_RUN)
    return root


@pytest.fixture
def masked_runs_root(tmp_path: Path, trained_run: Path) -> Path:
    """A runs folder holding a copy of the tiny run whose dataset has shoe masks (so the Match page
    outlines the shoe), and the broken run folder."""
    from tests.conftest import masked_copy

    root = tmp_path / "masked_runs"
    root.mkdir()
    masked_copy(trained_run, tmp_path / "masked").rename(root / "tiny_dual")
    write_broken_run(root / BROKEN_RUN)
    return root


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def frame_png(width: int = 160, height: int = 120, seed: int = 0) -> bytes:
    """A CCTV-like frame: noisy grey floor with a dark shoe-shaped blob in the middle."""
    rng = np.random.default_rng(seed)
    frame = rng.normal(150, 12, (height, width, 3)).clip(0, 255).astype(np.uint8)
    cv2.ellipse(frame, (width // 2, height // 2), (width // 6, height // 10), 15, 0, 360, (60, 40, 30), -1)
    return png_bytes(Image.fromarray(frame))


def sixteen_bit_png(size: int = 40) -> bytes:
    """A 16-bit grayscale PNG (mode I;16), an odd mode the workbench must convert."""
    ramp = (np.arange(size * size, dtype=np.uint16).reshape(size, size) * 40)
    return png_bytes(Image.fromarray(ramp))


def huge_png() -> bytes:
    """A tiny file whose header says 8000×7000 px (56 MP): over the query-image pixel limit."""
    return png_bytes(Image.new("1", (8000, 7000)))


def video_avi(path: Path, frames: int = 6, size: tuple[int, int] = (96, 72)) -> Path:
    """An MJPEG AVI of `frames` frames, a bright square moving right, written with OpenCV."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for index in range(frames):
        frame = np.full((size[1], size[0], 3), 90, np.uint8)
        cv2.rectangle(frame, (10 + 8 * index, 20), (40 + 8 * index, 50), (230, 230, 230), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def strong_gate_runs_root(tmp_path_factory, trained_run: Path) -> Path:
    """A runs folder holding a copy of the tiny run whose attention MLPs end in biases drawn from ±3
    (gates far from the trained ≈ 1, so switching a stage's attention off visibly moves the
    ranking), evaluated again on the max head with those weights."""
    import torch

    from shoekit.evaluate import evaluate_run
    from shoekit.runs import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
    from tests.conftest import copy_run

    root = tmp_path_factory.mktemp("strong_gates") / "runs"
    run = copy_run(trained_run, root / "strong_gates")
    checkpoint = load_checkpoint(run / CHECKPOINT_FILE)
    generator = torch.Generator().manual_seed(0)
    for name, tensor in checkpoint["model"].items():
        if ".attention." in name and name.endswith("mlp.2.bias"):
            checkpoint["model"][name] = torch.rand(tensor.shape, generator=generator) * 6 - 3
    (run / CHECKPOINT_FILE).unlink()  # a hard link to the session's checkpoint: never rewrite it in place
    save_checkpoint(run / CHECKPOINT_FILE, checkpoint)
    evaluate_run(run, heads=("max",), batch_size=16, progress=False)
    return root
