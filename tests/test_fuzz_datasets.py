"""Property-based fuzzing of dataset folders: random manifests and random image bytes.

Every generated folder is validated (`validate_dataset`, images decoded) and every row of it
read as `ShoeCrops` would read it for training or evaluation. Whatever the input, the outcome
is success or a ShoekitError whose message names the file or the manifest row; never another
exception. Bounded (`max_examples`) to take seconds.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shoekit.data.datasets import ShoeCrops
from shoekit.data.manifest import SPLITS, validate_dataset
from shoekit.errors import ShoekitError

IMAGE_NAMES = ("a.png", "b/c.png")  # files the folder holds (their bytes are drawn)
PATHS = (*IMAGE_NAMES, "./a.png", "b//c.png", "../outside.png", "/etc/hostname", "link.png",
         "linkdir/outside.png", "missing.png", "b", "", " a.png", "a.PNG", "b\\c.png")
KEYPOINTS = ("toe_x", "toe_y", "heel_x", "heel_y")
COLUMNS = ("path", "identity", "split", "camera", "background", "view", "toe_x", "toe_y", "heel_x",
           "heel_y", "junk", "")


def png_bytes(width: int, height: int, mode: str) -> bytes:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.default_rng(width * 100 + height).integers(0, 256, (height, width, channels), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(buffer, format="PNG")
    return buffer.getvalue()


image_bytes = st.one_of(
    st.builds(png_bytes, st.integers(1, 40), st.integers(1, 40), st.sampled_from(["RGB", "RGBA", "L"])),
    st.builds(png_bytes, st.integers(16, 40), st.integers(16, 40), st.sampled_from(["RGB", "RGBA", "L"])),
    st.builds(lambda data, cut: data[:cut], st.builds(png_bytes, st.just(24), st.just(24), st.just("RGB")),
              st.integers(0, 200)),  # truncated
    st.binary(max_size=64),
)
cells = st.one_of(st.sampled_from(PATHS), st.sampled_from(SPLITS), st.sampled_from(["", "Train", "x", "id1"]),
                  st.sampled_from(["12.5", "-3", "nan", "inf", "1e400", "4,5"]), st.text(max_size=8))
header = st.one_of(st.just(["path", "identity", "split"]),
                   st.just(["path", "identity", "split", "camera"]),
                   st.just(["path", "identity", "split", "toe_x", "toe_y", "heel_x", "heel_y"]),
                   st.lists(st.sampled_from(COLUMNS), max_size=8))
row = st.fixed_dictionaries({"path": st.sampled_from(PATHS), "identity": st.sampled_from(["id0", "id1", "id2", ""]),
                             "split": st.sampled_from([*SPLITS, *SPLITS, "", "test"]),
                             "toe_x": st.sampled_from(["30", "2.5", "", "nan", "inf", "-1e9"])})


@st.composite
def manifests(draw) -> bytes:
    """A manifest file's bytes: a header and rows (mostly well-formed rows in the header's
    columns, some random cells, duplicates, empty lines), in a drawn text encoding."""
    columns = draw(header)
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 9)) < 8:  # mostly rows in the header's columns
            base = draw(row)
            rows.append([base.get(column, base.get("toe_x") if column in KEYPOINTS else draw(cells))
                         for column in columns])
        else:
            rows.append(draw(st.lists(cells, max_size=len(columns) + 2)))
    if rows and draw(st.booleans()):
        rows.append(list(rows[0]))  # a duplicate row
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerows([columns, *rows])
    body = text.getvalue() + draw(st.sampled_from(["", "\n", "\n\n,,\n"]))
    encoding = draw(st.sampled_from(["utf-8"] * 5 + ["utf-8-sig", "latin-1", "utf-16"]))
    return body.encode(encoding, errors="replace")


@st.composite
def plausible_manifests(draw) -> bytes:
    """A manifest a user could have written: each listed image once (sometimes also a link or a
    missing file), known splits, identities given, maybe keypoints (any numbers, infinities
    included, or none for a row); UTF-8."""
    keypoints = draw(st.booleans())
    paths = draw(st.lists(st.sampled_from(IMAGE_NAMES), unique=True, min_size=1))
    if draw(st.integers(0, 3)) == 0:
        paths.append(draw(st.sampled_from(["link.png", "linkdir/outside.png", "missing.png"])))
    number = st.sampled_from(["0", "12.5", "39", "-4", "1e9", "inf", "-inf"])
    lines = ["path,identity,split" + (",toe_x,toe_y,heel_x,heel_y" if keypoints else "")]
    for path in paths:
        cells = [path, draw(st.sampled_from(["id0", "id1", "id2"])), draw(st.sampled_from(SPLITS))]
        if keypoints:
            given = draw(st.booleans())
            cells += [draw(number) if given else "" for _ in KEYPOINTS]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def write_folder(root: Path, manifest: bytes, images: list[bytes]) -> Path:
    """root/data: the manifest, IMAGE_NAMES with `images`, a link to a file outside and a link to
    a folder outside (root/outside.png, root/elsewhere/)."""
    data = root / "data"
    (data / "b").mkdir(parents=True)
    (root / "elsewhere").mkdir()
    (root / "outside.png").write_bytes(png_bytes(20, 20, "RGB"))
    (root / "elsewhere" / "outside.png").write_bytes(png_bytes(20, 20, "RGB"))
    for name, content in zip(IMAGE_NAMES, images):
        (data / name).write_bytes(content)
    (data / "link.png").symlink_to(root / "outside.png")
    (data / "linkdir").symlink_to(root / "elsewhere", target_is_directory=True)
    (data / "manifest.csv").write_bytes(manifest)
    return data


def read_everything(data: Path) -> None:
    """What training and evaluation do with a folder: validate it, then read every row's image."""
    validate_dataset(data)
    crops = ShoeCrops(data, SPLITS)
    for index in range(len(crops)):
        crops[index]


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifest=st.one_of(manifests(), plausible_manifests()),
       images=st.lists(image_bytes, min_size=2, max_size=2))
def test_any_dataset_folder_is_read_or_named(manifest, images):
    with tempfile.TemporaryDirectory() as scratch:
        data = write_folder(Path(scratch), manifest, images)
        try:
            read_everything(data)
        except ShoekitError as error:
            message = str(error)
            assert str(data) in message, message  # names the manifest, its row or the image file
