"""Folder-per-identity import: seeded identity split, skipped inputs, the import-folder command."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoekit.commands import import_folder as import_folder_command
from shoekit.data.folder_import import import_folder
from shoekit.data.manifest import read_manifest, validate_dataset
from shoekit.errors import ManifestError


def collection(root: Path, identities: int = 6, images: int = 3) -> Path:
    """root/id<k>/<n>.png, 20x20 images, plus junk the import must skip or ignore."""
    for k in range(identities):
        for n in range(images):
            (root / f"id{k}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((20, 20, 3), 10 * k + n, np.uint8)).save(root / f"id{k}/{n}.png")
    (root / "id0/notes.txt").write_text("not an image")
    (root / "id0/.hidden.png").write_bytes(b"")
    (root / "id1/broken.jpg").write_bytes(b"garbage")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "id2/tiny.png")
    (root / "lonely").mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "lonely/only.png")
    return root


def test_import_writes_a_valid_manifest_in_place(tmp_path):
    root = collection(tmp_path / "shoes")
    result = import_folder(root, seed=3, train_fraction=0.5)
    assert result.manifest_file == root / "manifest.csv"
    assert validate_dataset(root) == []
    table = read_manifest(root)
    assert len(table) == 18 and not table["path"].str.contains("broken|tiny|notes|hidden").any()
    train = set(table.loc[table["split"] == "train", "identity"])
    test = set(table.loc[table["split"] != "train", "identity"])
    assert len(train) == 3 and len(test) == 3 and not train & test
    per_test = table[table["split"] != "train"].groupby("identity")["split"].value_counts()
    assert all(per_test[(identity, "query")] == 1 and per_test[(identity, "gallery")] == 2
               for identity in test)


def test_skipped_inputs_are_reported(tmp_path):
    result = import_folder(collection(tmp_path / "shoes"))
    text = "\n".join(result.warnings)
    assert "broken.jpg: skipped" in text and "tiny.png: skipped" in text and "4×4 px is too small" in text
    assert "lonely: identity skipped, it has 1 usable image(s) and needs 2" in text
    assert len(result.warnings) == 3


def test_split_is_seeded(tmp_path):
    root = collection(tmp_path / "shoes")
    splits = [import_folder(root, seed=seed, overwrite=True).manifest["split"].tolist()
              for seed in (0, 0, 1, 2)]
    assert splits[0] == splits[1]
    assert any(other != splits[0] for other in splits[2:])


def test_import_to_another_folder_copies_images(tmp_path):
    root = collection(tmp_path / "shoes")
    result = import_folder(root, tmp_path / "copy", queries_per_identity=2)
    assert not (root / "manifest.csv").exists()
    assert validate_dataset(tmp_path / "copy") == []
    assert (result.manifest["split"] == "query").sum() == 2 * 3


def test_an_existing_manifest_is_kept_without_overwrite(tmp_path):
    root = collection(tmp_path / "shoes")
    import_folder(root, seed=0)
    edited = (root / "manifest.csv").read_text() + "# hand edit\n"
    (root / "manifest.csv").write_text(edited)
    with pytest.raises(ManifestError, match="manifest.csv: already exists.*--overwrite"):
        import_folder(root, seed=1)  # in place again, another split
    assert (root / "manifest.csv").read_text() == edited
    dataset = tmp_path / "dataset"
    import_folder(collection(tmp_path / "other"), dataset)
    before = (dataset / "manifest.csv").read_bytes()
    with pytest.raises(ManifestError, match="already exists"):
        import_folder(root, dataset)  # --out an existing dataset
    assert (dataset / "manifest.csv").read_bytes() == before
    assert import_folder(root, dataset, overwrite=True).manifest_file == dataset / "manifest.csv"


def test_too_few_identities_is_an_error(tmp_path):
    root = tmp_path / "shoes"
    (root / "solo").mkdir(parents=True)
    for n in range(3):
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / f"solo/{n}.png")
    with pytest.raises(ManifestError, match="1 identity folder"):
        import_folder(root)


def test_import_folder_command(tmp_path, caplog):
    root = collection(tmp_path / "shoes")
    parser = argparse.ArgumentParser()
    import_folder_command.register(parser.add_subparsers())
    args = parser.parse_args(["import-folder", str(root), "--seed", "1", "--train-fraction", "0.3"])
    with caplog.at_level(logging.INFO):
        assert args.func(args) == 0
    assert "train 6 images/2 identities" in caplog.text
    assert "--queries-per-identity" in parser._subparsers._group_actions[0].choices[
        "import-folder"].format_help()
