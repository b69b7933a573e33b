"""The benchmark builder: protocol, determinism, bad input, and the make-dataset command."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from shoekit.commands import make_dataset
from shoekit.data.builder import BuildOptions, build_dataset
from shoekit.data.planning import SCALES, NamedViews, TrajectoryViews, balanced_cycle, safe_name
from shoekit.data.floors import FLOORS
from shoekit.data.manifest import KEYPOINT_COLUMNS, read_manifest, validate_dataset
from shoekit.data.procedural import VIEWS, make_shoe_types, render_cutout
from shoekit.errors import ManifestError, ShoekitError

SMALL = 48  # crop side for tests, px


def smoke(out: Path, **changes) -> BuildOptions:
    return BuildOptions(**{"out": out, "procedural": 8, "scale": "smoke", "size": SMALL,
                           "workers": 1, **changes})


@pytest.fixture(scope="module")
def procedural_build(tmp_path_factory):
    return build_dataset(smoke(tmp_path_factory.mktemp("build") / "smoke"))


def folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_smoke_build_is_a_valid_dataset_with_disjoint_pools(procedural_build):
    out = procedural_build.out
    assert validate_dataset(out) == []
    table = read_manifest(out)
    pools = {split: set(table.loc[table["split"] == split, "identity"])
             for split in ("train", "query", "gallery", "distractor")}
    assert pools["query"] == pools["gallery"]
    assert not pools["train"] & pools["query"] and not pools["distractor"] & (
        pools["train"] | pools["query"])
    stats = json.loads((out / "stats.json").read_text())
    assert {pool: stats["identities"][pool]["count"] for pool in ("train", "test", "distractor")} \
        == {"train": 4, "test": 2, "distractor": 2}
    assert stats["crops"] == {"train": 16, "query": 4, "gallery": 6, "distractor": 4, "total": 30}
    assert sum(stats["floors"].values()) == 30 and set(stats["floors"]) <= set(FLOORS)
    assert not table[list(KEYPOINT_COLUMNS)].isna().any().any()
    assert table["camera"].ne("").all() and table["view"].isin(VIEWS).all()
    with Image.open(out / table["path"].iloc[0]) as image:
        assert image.size == (SMALL, SMALL) and image.mode == "RGB"


def test_queries_and_gallery_follow_the_protocol(procedural_build):
    table = read_manifest(procedural_build.out)
    for identity, rows in table[table["split"].isin(["query", "gallery"])].groupby("identity"):
        queries, gallery = rows[rows["split"] == "query"], rows[rows["split"] == "gallery"]
        assert sorted(queries["view"].map(lambda v: v in ("left", "right"))) == [False, True]
        assert queries["view"].isin(["front", "three_quarter"]).sum() == 1
        assert queries["background"].nunique() == 2
        assert not set(gallery["background"]) & set(queries["background"])
        assert not set(gallery["view"]) & {*queries["view"], "left", "right"}
        assert len(gallery) == SCALES["smoke"].gallery_crops


def test_training_crops_cover_floors_and_views_evenly(procedural_build):
    table = read_manifest(procedural_build.out)
    for identity, rows in table[table["split"] == "train"].groupby("identity"):
        assert rows["background"].is_unique and rows["view"].is_unique


def test_rebuild_is_byte_identical_and_independent_of_workers(procedural_build, tmp_path):
    again = build_dataset(smoke(tmp_path / "again", workers=2))
    assert folder_bytes(again.out) == folder_bytes(procedural_build.out)


def test_seed_changes_the_pools(procedural_build, tmp_path):
    other = build_dataset(smoke(tmp_path / "other", seed=5, train_crops=1, gallery_crops=1,
                                distractor_crops=1))
    assert other.stats["identities"] != procedural_build.stats["identities"]
    assert other.stats["crops"]["train"] == 4


def test_existing_output_needs_overwrite(procedural_build, tmp_path):
    out = tmp_path / "twice"
    build_dataset(smoke(out, gallery_crops=1, train_crops=1, distractor_crops=1))
    with pytest.raises(ShoekitError, match="--overwrite"):
        build_dataset(smoke(out))
    (out / "images/train/stale.png").write_bytes(b"old")
    build_dataset(smoke(out, overwrite=True))
    assert folder_bytes(out) == folder_bytes(procedural_build.out)


def test_a_stopped_build_is_named_incomplete_and_rebuilt_with_overwrite(procedural_build, tmp_path,
                                                                       monkeypatch):
    out = tmp_path / "stopped"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the build were stopped while the crops are rendered

    with monkeypatch.context() as patch:
        patch.setattr("shoekit.data.builder.manifest_table", killed)
        with pytest.raises(KeyboardInterrupt):
            build_dataset(smoke(out))
    assert (out / ".make-dataset-in-progress").is_file() and not (out / "manifest.csv").exists()
    with pytest.raises(ShoekitError, match="stopped: holds an incomplete dataset .*--overwrite to rebuild"):
        build_dataset(smoke(out))
    build_dataset(smoke(out, overwrite=True))
    assert folder_bytes(out) == folder_bytes(procedural_build.out)
    (tmp_path / "file").write_text("")
    with pytest.raises(ShoekitError, match="is a file, not a folder"):
        build_dataset(smoke(tmp_path / "file" / "data"))


def test_trajectory_views_keep_queries_apart_and_neighbours_out():
    policy = TrajectoryViews(exclusion=5, min_gap=20)
    views = [str(v) for v in range(60)]
    for seed in range(20):
        plan = policy.plan(views, np.random.default_rng(seed))
        first, second = map(int, plan.queries)
        assert abs(first - second) >= 20
        assert all(min(abs(int(v) - first), abs(int(v) - second)) > 5 for v in plan.gallery_views)
    assert policy.plan([str(v) for v in range(15)], np.random.default_rng(0)) is None


def test_named_views_need_a_side_a_front_and_a_gallery_view():
    policy = NamedViews()
    plan = policy.plan(list(VIEWS), np.random.default_rng(0))
    assert plan.queries[0] in ("left", "right") and plan.queries[1] in ("front", "three_quarter")
    assert set(plan.gallery_views) == set(VIEWS) - {"left", "right", plan.queries[1]}
    assert policy.plan(["left", "right", "back"], np.random.default_rng(0)) is None
    assert policy.plan(["left", "front"], np.random.default_rng(0)) is None


def test_balanced_cycle_and_safe_names():
    drawn = balanced_cycle(["a", "b", "c"], 7, np.random.default_rng(0))
    assert sorted(drawn[:3]) == ["a", "b", "c"] and sorted(drawn[3:6]) == ["a", "b", "c"]
    assert safe_name("boot_01") == "boot_01"
    assert safe_name("a/b") != safe_name("a b") and "/" not in safe_name("a/b")


def cutout_folder(root: Path) -> Path:
    """Six identities with trajectory views 0-9 (one low-quality, one without alpha on a busy
    background), and one identity with only two views."""
    rows = []
    shoes = make_shoe_types(7, seed=1)
    for shoe in shoes[:6]:
        for view in range(10):
            path = f"images/{shoe.name}/{view}.png"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(render_cutout(shoe, VIEWS[view % 5], size=32).rgba).save(root / path)
            rows.append((shoe.name, view, path, "low" if (shoe.name, view) == (shoes[0].name, 3)
                         else "ok"))
    noisy = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(root / f"images/{shoes[1].name}/5.png")
    for view in (0, 1):
        path = f"images/few/{view}.png"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(render_cutout(shoes[6], "left", size=32).rgba).save(root / path)
        rows.append(("few", view, path, "ok"))
    pd.DataFrame(rows, columns=["identity", "view", "path", "quality"]).to_csv(
        root / "manifest.csv", index=False)
    return root


def test_cutout_folder_build_reports_and_skips_bad_input(tmp_path):
    source = cutout_folder(tmp_path / "cutouts")
    shoes = make_shoe_types(7, seed=1)
    result = build_dataset(BuildOptions(out=tmp_path / "out", cutouts=source, size=SMALL,
                                        workers=1, view_exclusion=1, query_view_gap=4))
    table, stats = result.manifest, result.stats
    assert stats["source"]["low_quality_rows"] == 1 and stats["source"]["drop_low_quality"]
    assert "few" in stats["skipped_identities"] and "few" not in set(table["identity"])
    assert list(stats["unreadable_cutouts"]) == [f"{shoes[1].name}/5"]
    assert "not plain" in stats["unreadable_cutouts"][f"{shoes[1].name}/5"]
    assert any("few skipped" in warning for warning in result.warnings)
    used = set(zip(table["identity"], table["view"]))
    assert (shoes[0].name, "3") not in used and (shoes[1].name, "5") not in used
    assert stats["protocol"]["view_policy"] == "trajectory"
    for identity, rows in table[table["split"].isin(["query", "gallery"])].groupby("identity"):
        first, second = rows.loc[rows["split"] == "query", "view"].astype(int)
        assert abs(first - second) >= 4
        gallery_views = rows.loc[rows["split"] == "gallery", "view"].astype(int)
        assert all(min(abs(v - first), abs(v - second)) > 1 for v in gallery_views)


def test_bad_cutout_manifests_are_named(tmp_path):
    source = tmp_path / "cutouts"
    source.mkdir()
    (source / "manifest.csv").write_text("identity,path\na,x.png\n")
    with pytest.raises(ManifestError, match=r"missing column\(s\) view"):
        build_dataset(BuildOptions(out=tmp_path / "out", cutouts=source, workers=1))
    (source / "manifest.csv").write_text("identity,view,path\na,0,../x.png\na,1,y.png\n")
    with pytest.raises(ManifestError, match=r"row 0 \(line 2\): path '\.\./x\.png' leaves"):
        build_dataset(BuildOptions(out=tmp_path / "out", cutouts=source, workers=1))
    (source / "manifest.csv").write_text("identity,view,path\na,0,x.png\na,0,y.png\n")
    with pytest.raises(ManifestError, match=r"row 1 .*view '0' is already in row 0"):
        build_dataset(BuildOptions(out=tmp_path / "out", cutouts=source, workers=1))
    (source / "manifest.csv").write_text("identity,view,path\na,side,x.png\na,1,y.png\n")
    with pytest.raises(ManifestError, match="'side' are neither trajectory positions"):
        build_dataset(BuildOptions(out=tmp_path / "out", cutouts=source, workers=1))


def test_source_and_fraction_errors(tmp_path):
    with pytest.raises(ShoekitError, match="exactly one source"):
        build_dataset(BuildOptions(out=tmp_path))
    with pytest.raises(ShoekitError, match="sum to at most 1"):
        build_dataset(smoke(tmp_path / "x", train_fraction=0.9))


def make_dataset_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    make_dataset.register(parser.add_subparsers())
    return parser


def test_command_defaults_match_the_builder():
    args = make_dataset_parser().parse_args(["make-dataset", "--procedural", "4", "--out", "x"])
    defaults = BuildOptions(out=Path("x"), procedural=4)
    for field in dataclasses.fields(BuildOptions):
        assert getattr(args, field.name) == getattr(defaults, field.name), field.name
    assert set(make_dataset.SCALE_NAMES) == set(SCALES)


def test_make_dataset_command_builds_and_summarises(tmp_path, caplog):
    parser = make_dataset_parser()
    args = parser.parse_args(["make-dataset", "--procedural", "8", "--out", str(tmp_path / "d"),
                              "--size", str(SMALL), "--workers", "1", "--train-crops", "2"])
    with caplog.at_level(logging.INFO):
        assert args.func(args) == 0
    assert "22 crops (train 8, query 4, gallery 6, distractor 4)" in caplog.text
    help_text = parser._subparsers._group_actions[0].choices["make-dataset"].format_help()
    for option in ("--cutouts", "--scale", "--drop-low-quality", "--view-exclusion", "--workers"):
        assert option in help_text
