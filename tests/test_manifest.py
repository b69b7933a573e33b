"""manifest.csv: reading, row-level checks, dataset validation, hashing and writing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from shoekit.data.manifest import (KEYPOINT_COLUMNS, manifest_hash, read_manifest,
                                   validate_dataset, write_manifest)
from shoekit.errors import ManifestError


def write_csv(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_text(text)
    return root


def write_images(root: Path, paths: list[str]) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(root / path)


def dataset(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A folder with 16x16 images for `rows` of (path, identity, split)."""
    write_images(root, [path for path, _, _ in rows])
    body = "".join(f"{path},{identity},{split}\n" for path, identity, split in rows)
    return write_csv(root, "path,identity,split\n" + body)


def test_read_manifest_types_and_row_index(tiny_dataset):
    table = read_manifest(tiny_dataset)
    assert list(table.columns[:3]) == ["path", "identity", "split"]
    assert table.index.tolist() == list(range(len(table)))
    assert set(table["split"]) == {"train", "query", "gallery", "distractor"}
    assert all(isinstance(value, str) for value in table["identity"])


def test_missing_manifest_names_file_and_fix(tmp_path):
    with pytest.raises(ManifestError, match=r"manifest\.csv.*make-dataset"):
        read_manifest(tmp_path)


def test_missing_required_column_is_named(tmp_path):
    write_csv(tmp_path, "path,identity\na.png,x\n")
    with pytest.raises(ManifestError, match=r"missing required column\(s\) split"):
        read_manifest(tmp_path)


def test_unknown_split_names_row_line_value_and_fix(tmp_path):
    write_csv(tmp_path, "path,identity,split\na.png,x,train\nb.png,x,tset\n")
    with pytest.raises(ManifestError) as error:
        read_manifest(tmp_path)
    message = str(error.value)
    assert "row 1 (line 3)" in message and "'tset'" in message and "spelling" in message


@pytest.mark.parametrize("path, why", [("/etc/passwd", "is absolute"),
                                       ("../outside.png", "leaves the dataset folder"),
                                       ("images/../../x.png", "leaves the dataset folder")])
def test_paths_must_stay_inside_the_folder(tmp_path, path, why):
    write_csv(tmp_path, f"path,identity,split\n{path},x,train\n")
    with pytest.raises(ManifestError, match=why):
        read_manifest(tmp_path)


def test_empty_required_value_is_reported(tmp_path):
    write_csv(tmp_path, "path,identity,split\na.png,,train\n")
    with pytest.raises(ManifestError, match=r"row 0 \(line 2\): empty `identity`"):
        read_manifest(tmp_path)


def test_keypoints_parse_as_float_with_nan_for_rows_without(tmp_path):
    write_csv(tmp_path, "path,identity,split,toe_x,toe_y,heel_x,heel_y\n"
                        "a.png,x,train,10,20.5,30,40\nb.png,x,train,,,,\n")
    table = read_manifest(tmp_path)
    assert table.loc[0, list(KEYPOINT_COLUMNS)].tolist() == [10.0, 20.5, 30.0, 40.0]
    assert table.loc[1, list(KEYPOINT_COLUMNS)].isna().all()


def test_keypoint_problems_are_named(tmp_path):
    write_csv(tmp_path, "path,identity,split,toe_x,toe_y,heel_x,heel_y\n"
                        "a.png,x,train,ten,20,30,40\nb.png,x,train,1,,,\n")
    with pytest.raises(ManifestError) as error:
        read_manifest(tmp_path)
    message = str(error.value)
    assert "row 0 (line 2): toe_x 'ten' is not a number" in message
    assert "row 1 (line 3): only some of" in message


def test_partial_keypoint_columns_rejected(tmp_path):
    write_csv(tmp_path, "path,identity,split,toe_x,toe_y\na.png,x,train,1,2\n")
    with pytest.raises(ManifestError, match="heel_x, heel_y missing"):
        read_manifest(tmp_path)


def test_many_problems_are_listed_with_a_count(tmp_path):
    body = "".join(f"{i}.png,x,nope\n" for i in range(25))
    write_csv(tmp_path, "path,identity,split\n" + body)
    with pytest.raises(ManifestError, match=r"25 problem\(s\)[\s\S]*and 5 more"):
        read_manifest(tmp_path)


def test_validate_tiny_dataset_has_no_warnings(tiny_dataset):
    assert validate_dataset(tiny_dataset) == []


def test_missing_image_names_row_and_file(tmp_path):
    root = dataset(tmp_path, [("a.png", "x", "train")])
    (root / "manifest.csv").write_text("path,identity,split\na.png,x,train\ngone.png,x,train\n")
    with pytest.raises(ManifestError, match=r"row 1 \(line 3\): image .*gone\.png does not exist"):
        validate_dataset(root)


def test_a_link_out_of_the_folder_is_refused_and_links_inside_are_read(tmp_path):
    outside = tmp_path / "elsewhere"
    write_images(outside, ["secret.png"])
    root = dataset(tmp_path / "data", [("a.png", "x", "train"), ("b/c.png", "x", "train")])
    (root / "inside.png").symlink_to(root / "b/c.png")
    (root / "manifest.csv").write_text("path,identity,split\na.png,x,train\ninside.png,x,train\n")
    assert validate_dataset(root) == []
    (root / "escape.png").symlink_to(outside / "secret.png")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "manifest.csv").write_text("path,identity,split\na.png,x,train\nescape.png,x,train\n"
                                       "linked/secret.png,x,train\n")
    with pytest.raises(ManifestError, match=r"(?s)row 1 \(line 3\): image .*escape\.png is a link to "
                       r".*secret\.png, outside the dataset folder.*row 2 \(line 4\)"):
        validate_dataset(root)
    (tmp_path / "alias").symlink_to(root / "b", target_is_directory=True)  # the dataset folder itself a link
    (root / "b/manifest.csv").write_text("path,identity,split\nc.png,x,train\n")
    assert validate_dataset(tmp_path / "alias") == []


def test_unreadable_image_only_checked_when_asked(tmp_path):
    root = dataset(tmp_path, [("a.png", "x", "train")])
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "manifest.csv").write_text("path,identity,split\na.png,x,train\nbroken.png,x,train\n")
    assert validate_dataset(root, check_images=False) == []
    with pytest.raises(ManifestError, match=r"row 1 \(line 3\): image .*broken\.png cannot be read"):
        validate_dataset(root)


def test_identity_in_train_and_test_is_an_error(tmp_path):
    root = dataset(tmp_path, [("a.png", "x", "train"), ("b.png", "x", "query"),
                              ("c.png", "x", "gallery")])
    with pytest.raises(ManifestError) as error:
        validate_dataset(root)
    message = str(error.value)
    assert "row 1 (line 3): identity 'x' is in split 'query' and also in 'train'" in message
    assert "row 2 (line 4): identity 'x' is in split 'gallery'" in message


def test_distractor_that_is_a_query_identity_is_an_error(tmp_path):
    root = dataset(tmp_path, [("a.png", "y", "query"), ("b.png", "y", "gallery"),
                              ("c.png", "y", "distractor")])
    with pytest.raises(ManifestError, match=r"row 2 \(line 4\): distractor identity 'y'"):
        validate_dataset(root)


def test_query_identity_without_gallery_is_a_warning(tmp_path):
    root = dataset(tmp_path, [("a.png", "x", "train"), ("b.png", "y", "query"),
                              ("c.png", "z", "query"), ("d.png", "z", "gallery")])
    warnings = validate_dataset(root)
    assert len(warnings) == 1
    assert "row 1 (line 3): query identity 'y' has no gallery image" in warnings[0]


def test_duplicate_path_is_an_error(tmp_path):
    root = dataset(tmp_path, [("a.png", "x", "query"), ("./a.png", "x", "gallery")])
    with pytest.raises(ManifestError, match=r"row 1 .*already listed in row 0"):
        validate_dataset(root)


def test_manifest_hash_is_sha256_of_the_bytes(tiny_dataset):
    expected = hashlib.sha256((tiny_dataset / "manifest.csv").read_bytes()).hexdigest()
    assert manifest_hash(tiny_dataset) == expected
    with (tiny_dataset / "manifest.csv").open("a") as file:
        file.write("images/id0/0.png,id0,train,cam1\n")
    assert manifest_hash(tiny_dataset) != expected


def test_write_manifest_orders_columns_and_is_byte_stable(tmp_path):
    table = pd.DataFrame({"view": ["3"], "split": ["train"], "path": ["a.png"], "identity": ["x"],
                          "toe_x": [1.234], "toe_y": [2.0], "heel_x": [3.0], "heel_y": [np.nan],
                          "note": ["kept"]})
    first = write_manifest(table, tmp_path).read_bytes()
    assert first == write_manifest(table, tmp_path).read_bytes()
    assert first.decode() == ("path,identity,split,view,toe_x,toe_y,heel_x,heel_y,note\n"
                              "a.png,x,train,3,1.23,2.00,3.00,,kept\n")


def test_byte_order_mark_is_accepted_and_empty_file_rejected(tmp_path):
    (tmp_path / "manifest.csv").write_bytes(b"\xef\xbb\xbfpath,identity,split\na.png,x,train\n")
    assert read_manifest(tmp_path)["path"].tolist() == ["a.png"]
    (tmp_path / "manifest.csv").write_bytes(b"")
    with pytest.raises(ManifestError, match="not a readable CSV file"):
        read_manifest(tmp_path)
