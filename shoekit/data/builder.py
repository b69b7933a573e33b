"""The benchmark builder behind `shoekit make-dataset`: cut-outs -> CCTV crops, paper protocol.

Protocol (Zhang, Tang et al. 2022, scaled to the identities at hand):

- identities are split by seed into three disjoint pools: train, test, distractor;
- each training identity is rendered in `train_crops` crops, cycling over its views, all
  floors and all cameras;
- each test identity gets 2 query crops, one per query view (a side view and a front or
  three-quarter view; for trajectory-indexed views, two views at least `query_view_gap`
  apart), on two different floors; its `gallery_crops` gallery crops use only the other floors
  and leave out the views next to a query view (named views: the query views and the side
  query's mirror image; trajectory views: those within `view_exclusion` positions), so a match
  must hold across viewpoint and floor rather than find the same frame again;
- each distractor identity gives `distractor_crops` crops over all its views and floors;
- `cutouts.json` records where the training identities' cut-outs are (`shoekit.data.online`),
  so training can render them afresh.

Identities whose views cannot satisfy the test protocol are reported and skipped entirely;
cut-outs that fail to load are reported and left out. Every crop has its own seed derived
from (seed, split, identity, index), so the output does not depend on worker scheduling:
the same arguments give byte-identical manifests, stats and PNG files.

The builder orchestrates: `shoekit.data.cutout_manifest` reads and checks a cut-out folder,
`shoekit.data.planning` decides every crop (view policies, pools, seeds), and
`shoekit.data.process_pool` checks and renders them in parallel; this module renders, writes
the folder and its manifest, stats and cut-out record.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from shoekit.data.cctv import simulate_crop
from shoekit.data.cutout import Cutout
from shoekit.data.cutout_manifest import CutoutFile, read_cutout_manifest
from shoekit.data.manifest import MANIFEST_NAME, SPLITS, validate_dataset, write_manifest
from shoekit.data.masks import MASK_DIR, mask_location, write_mask
from shoekit.data.online import CutoutRecord, record_path
from shoekit.data.planning import (IMAGES_DIR, SCALES, CropSpec, ScalePreset, ViewPolicy, choose_pools,
                                   group_by_identity, plan_crops, plan_queries, view_policy)
from shoekit.data.process_pool import run_tasks
from shoekit.data.procedural import VIEWS, ShoeType, make_shoe_types, render_cutout
from shoekit.errors import ImageError, ShoekitError
from shoekit.outputs import check_parents

log = logging.getLogger(__name__)

STATS_NAME = "stats.json"
IN_PROGRESS = ".make-dataset-in-progress"  # present while a build writes the folder


@dataclass(frozen=True)
class BuildOptions:
    """Everything that decides a build's output (`workers` and `overwrite` do not change it)."""

    out: Path
    cutouts: Path | None = None             # folder with a cut-out manifest (identity, view, path)
    procedural: int | None = None           # or: this many procedural shoe types
    scale: str = "smoke"
    seed: int = 0
    size: int = 120                         # crop side, px
    train_crops: int | None = None          # None: take it from the scale preset
    gallery_crops: int | None = None
    distractor_crops: int | None = None
    train_fraction: float | None = None
    test_fraction: float | None = None
    distractor_fraction: float | None = None
    drop_low_quality: bool = True           # drop cut-outs whose `quality` is `low`
    view_exclusion: int = 5                 # trajectory views this close to a query: not in gallery
    query_view_gap: int = 20                # least trajectory distance between the two query views
    workers: int | None = None              # rendering processes; None: every available core
    overwrite: bool = False
    progress: bool = True                   # progress bars while checking and rendering

    def preset(self) -> ScalePreset:
        """The scale preset with this build's overrides applied."""
        if self.scale not in SCALES:
            raise ShoekitError(f"unknown scale {self.scale!r}; choose one of {', '.join(SCALES)}")
        base = asdict(SCALES[self.scale])
        overrides = {key: getattr(self, key) for key in base
                     if key != "summary" and getattr(self, key) is not None}
        return ScalePreset(**{**base, **overrides})


@dataclass(frozen=True)
class ProceduralCutout:
    """A procedural shoe type seen from one of VIEWS."""

    identity: str
    view: str
    shoe: ShoeType

    def load(self) -> Cutout:
        return render_cutout(self.shoe, self.view)


CutoutRef = CutoutFile | ProceduralCutout


@dataclass
class BuildResult:
    """What a build wrote, and the numbers for its summary."""

    out: Path
    manifest: pd.DataFrame
    stats: dict
    warnings: list[str]


def procedural_sources(count: int, seed: int) -> list[CutoutRef]:
    """Every view in VIEWS of `count` procedural shoe types made with `seed`."""
    return [ProceduralCutout(shoe.name, view, shoe)
            for shoe in make_shoe_types(count, seed=seed) for view in VIEWS]


def load_sources(options: BuildOptions) -> tuple[list[CutoutRef], dict]:
    """The cut-out references of the chosen source, and its description for stats.json."""
    if (options.cutouts is None) == (options.procedural is None):
        raise ShoekitError("give exactly one source: --cutouts DIR or --procedural N")
    if options.cutouts is not None:
        refs, low_quality, source_hash = read_cutout_manifest(Path(options.cutouts),
                                                              options.drop_low_quality)
        return refs, {"cutouts": str(options.cutouts), "cutout_manifest_sha256": source_hash,
                      "low_quality_rows": low_quality,
                      "drop_low_quality": options.drop_low_quality}
    if options.procedural < 2:
        raise ShoekitError(f"--procedural {options.procedural}: need at least 2 shoe types")
    return procedural_sources(options.procedural, options.seed), {"procedural": options.procedural}


def check_cutouts(refs: list[CutoutRef]) -> list[str | None]:
    """Load every cut-out; per ref, None if it loads, else why not (the ImageError message)."""
    problems: list[str | None] = []
    for ref in refs:
        try:
            ref.load()
            problems.append(None)
        except ImageError as error:
            problems.append(str(error))
    return problems


def render_crops(refs: dict[str, CutoutRef], specs: list[CropSpec], out: Path,
                 size: int) -> list[tuple[float, float, float, float]]:
    """Render and write one identity's crops and their shoe masks (`shoekit.data.masks`) as PNG;
    returns (toe_x, toe_y, heel_x, heel_y) each."""
    cutouts = {view: refs[view].load() for view in sorted({spec.view for spec in specs})}
    keypoints = []
    for spec in specs:
        crop = simulate_crop(cutouts[spec.view], seed=spec.seed, floor=spec.floor,
                             camera=spec.camera, size=size)
        target = out / spec.path
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop.image).save(target, format="PNG", compress_level=6)
        write_mask(out / mask_location(spec.path), crop.mask)
        keypoints.append((*map(float, crop.toe), *map(float, crop.heel)))
    return keypoints


def prepare_out(out: Path, overwrite: bool) -> None:
    """Create `out` and mark it as being built (`IN_PROGRESS`, removed once manifest.csv, written
    last, is in place); an earlier build there, finished or stopped, needs `overwrite`."""
    check_parents(out, "--out")
    if out.exists() and not out.is_dir():
        raise ShoekitError(f"{out}: is a file, not a folder; choose another --out folder")
    marker = out / IN_PROGRESS
    earlier = [out / MANIFEST_NAME, out / STATS_NAME, record_path(out), marker]
    if any(path.exists() for path in earlier) or (out / IMAGES_DIR).exists():
        if not overwrite:
            if marker.exists() or not earlier[0].exists():
                raise ShoekitError(f"{out}: holds an incomplete dataset (a make-dataset that was stopped "
                                   "before writing manifest.csv); pass --overwrite to rebuild it")
            raise ShoekitError(f"{out}: already holds a dataset; pass --overwrite to replace "
                               "it or choose another --out folder")
        shutil.rmtree(out / IMAGES_DIR, ignore_errors=True)
        shutil.rmtree(out / MASK_DIR, ignore_errors=True)
        for path in earlier:
            path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("shoekit make-dataset is writing this folder; manifest.csv comes last\n")


def build_dataset(options: BuildOptions) -> BuildResult:
    """Build a dataset folder (images/, manifest.csv, stats.json) in `options.out`.

    Raises ShoekitError (ManifestError for a bad cut-out manifest) before anything is written
    when the source or the options cannot give a benchmark. Skipped identities and cut-outs
    are logged as warnings, returned in `warnings` and recorded in stats.json.
    """
    preset = options.preset()
    refs, source = load_sources(options)
    policy = view_policy({ref.view for ref in refs}, options.view_exclusion, options.query_view_gap,
                         str(options.cutouts))
    grouped = group_by_identity(refs)
    checks = run_tasks(check_cutouts, {i: (list(v.values()),) for i, v in grouped.items()},
                       {i: len(v) for i, v in grouped.items()}, options.workers,
                       "checking cut-outs", "cut-out", options.progress)
    unreadable = drop_unreadable(grouped, checks)
    plans, skipped = plan_queries(grouped, policy, options.seed)
    pools = choose_pools(sorted(plans), preset, options.seed)
    specs = plan_crops(pools, grouped, plans, preset, options.seed)

    out = Path(options.out)
    prepare_out(out, options.overwrite)
    keypoints = run_tasks(render_crops,
                          {i: (grouped[i], s, out, options.size) for i, s in specs.items()},
                          {i: len(s) for i, s in specs.items()}, options.workers,
                          "rendering crops", "crop", options.progress)
    manifest = manifest_table(specs, keypoints)
    warnings = [f"cut-out {key} left out: {why}" for key, why in unreadable.items()]
    warnings += [f"identity {identity} skipped: {why}" for identity, why in skipped.items()]
    warnings += validate_dataset(out, manifest, check_images=False)
    stats = build_stats(options, preset, policy, source, pools, skipped, unreadable, manifest)
    (out / STATS_NAME).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    record_path(out).write_text(training_record(options, grouped, pools["train"]).to_json())
    write_manifest(manifest, out)  # last: a folder with manifest.csv and no IN_PROGRESS is complete
    (out / IN_PROGRESS).unlink()
    for warning in warnings:
        log.warning(warning)
    return BuildResult(out, manifest, stats, warnings)


def training_record(options: BuildOptions, grouped: dict[str, dict[str, CutoutRef]],
                    identities: list[str]) -> CutoutRecord:
    """Where the training identities' cut-outs are, for `shoekit train --render online`."""
    common = {"size": options.size, "seed": options.seed, "view_exclusion": options.view_exclusion,
              "query_view_gap": options.query_view_gap}
    if options.cutouts is None:
        return CutoutRecord("procedural", {identity: dict.fromkeys(grouped[identity], "")
                                           for identity in identities},
                            count=options.procedural, **common)
    folder = Path(options.cutouts).resolve()
    views = {identity: {view: Path(ref.path).resolve().relative_to(folder).as_posix()
                        for view, ref in grouped[identity].items()} for identity in identities}
    return CutoutRecord("folder", views, folder=str(folder), **common)


def drop_unreadable(grouped: dict[str, dict[str, CutoutRef]],
                    checks: dict[str, list[str | None]]) -> dict[str, str]:
    """Remove the views whose cut-out failed to load from `grouped`; "identity/view" -> why."""
    unreadable = {}
    for identity, views in grouped.items():
        for view, problem in zip(list(views), checks[identity]):
            if problem is not None:
                unreadable[f"{identity}/{view}"] = problem
                del views[view]
    return unreadable


def manifest_table(specs: dict[str, list[CropSpec]],
                   keypoints: dict[str, list[tuple[float, float, float, float]]]) -> pd.DataFrame:
    """Manifest rows ordered by split (train, query, gallery, distractor), identity, index."""
    records = [{"path": spec.path, "identity": spec.identity, "split": spec.split,
                "camera": spec.camera, "background": spec.floor, "view": spec.view,
                "toe_x": point[0], "toe_y": point[1], "heel_x": point[2], "heel_y": point[3]}
               for identity in sorted(specs)
               for spec, point in zip(specs[identity], keypoints[identity])]
    table = pd.DataFrame(records)
    table["_order"] = table["split"].map(SPLITS.index)
    return (table.sort_values(["_order", "identity", "path"], kind="stable")
            .drop(columns="_order").reset_index(drop=True))


def build_stats(options: BuildOptions, preset: ScalePreset, policy: ViewPolicy, source: dict,
                pools: dict[str, list[str]], skipped: dict[str, str], unreadable: dict[str, str],
                manifest: pd.DataFrame) -> dict:
    """The stats.json content: settings, identity pools, skipped inputs and crop counts."""
    crops = Counter(manifest["split"])
    return {
        "source": source,
        "scale": options.scale,
        "seed": options.seed,
        "size": options.size,
        "protocol": {**{k: v for k, v in asdict(preset).items() if k != "summary"},
                     "view_policy": policy.name, "query_view_requirement": policy.requirement(),
                     "queries_per_test_identity": 2},
        "identities": {pool: {"count": len(names), "names": names}
                       for pool, names in pools.items()},
        "skipped_identities": skipped,
        "unreadable_cutouts": unreadable,
        "crops": {**{split: crops.get(split, 0) for split in SPLITS},
                  "total": len(manifest)},
        "floors": dict(sorted(Counter(manifest["background"]).items())),
        "cameras": dict(sorted(Counter(manifest["camera"]).items())),
        "floors_by_split": {split: dict(sorted(Counter(group["background"]).items()))
                            for split, group in manifest.groupby("split", sort=False)},
    }
