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
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from shoekit.data.cctv import CAMERAS, simulate_crop
from shoekit.data.cutout import Cutout, load_cutout
from shoekit.data.floors import FLOORS
from shoekit.data.manifest import (MANIFEST_NAME, SPLITS, path_problem, raise_problems, row_label,
                                   validate_dataset, write_manifest)
from shoekit.data.masks import MASK_DIR, mask_location, write_mask
from shoekit.data.online import CutoutRecord, record_path
from shoekit.data.procedural import VIEWS, ShoeType, make_shoe_types, render_cutout
from shoekit.errors import ImageError, ManifestError, ShoekitError
from shoekit.outputs import check_parents

log = logging.getLogger(__name__)

STATS_NAME = "stats.json"
IMAGES_DIR = "images"
IN_PROGRESS = ".make-dataset-in-progress"  # present while a build writes the folder
SIDE_VIEWS = ("left", "right")
FRONT_VIEWS = ("front", "three_quarter")
QUALITY_VALUES = ("ok", "low")


@dataclass(frozen=True)
class ScalePreset:
    """Crop counts per identity and identity-pool fractions of one benchmark size."""

    train_crops: int            # crops per training identity
    gallery_crops: int          # gallery crops per test identity (plus its 2 queries)
    distractor_crops: int       # crops per distractor identity
    train_fraction: float       # share of identities in each pool (rounded)
    test_fraction: float
    distractor_fraction: float
    summary: str


SCALES: dict[str, ScalePreset] = {
    "smoke": ScalePreset(4, 3, 2, 0.5, 0.25, 0.25, "a few crops per identity; seconds, for tests"),
    "cpu": ScalePreset(50, 8, 60, 0.54, 0.27, 0.19,
                       "~2,500 training crops from 92 identities; trains in well under an "
                       "hour on 2 CPU cores"),
    "paper": ScalePreset(200, 16, 300, 0.54, 0.27, 0.19,
                         "200 crops per training identity as in the paper; with 92 identities "
                         "about 400 gallery and 5,000 distractor crops, as in the paper"),
}


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
class CutoutFile:
    """A cut-out image file of one identity and view."""

    identity: str
    view: str
    path: Path

    def load(self) -> Cutout:
        return load_cutout(self.path)


@dataclass(frozen=True)
class ProceduralCutout:
    """A procedural shoe type seen from one of VIEWS."""

    identity: str
    view: str
    shoe: ShoeType

    def load(self) -> Cutout:
        return render_cutout(self.shoe, self.view)


CutoutRef = CutoutFile | ProceduralCutout


@dataclass(frozen=True)
class QueryPlan:
    """A test identity's two query views and the views its gallery crops may use."""

    queries: tuple[str, str]
    gallery_views: tuple[str, ...]


class ViewPolicy(Protocol):
    """How query views are chosen and which views the gallery must leave out."""

    name: str

    def plan(self, views: list[str], rng: np.random.Generator) -> QueryPlan | None: ...

    def requirement(self) -> str: ...


@dataclass(frozen=True)
class NamedViews:
    """Views named as in VIEWS: queries are one side and one front/three-quarter view; the
    gallery uses every other view except the mirror image of the side query ("left" is "right"
    mirrored, a near-duplicate under flip augmentation)."""

    name: str = "named"

    def plan(self, views: list[str], rng: np.random.Generator) -> QueryPlan | None:
        sides = [view for view in views if view in SIDE_VIEWS]
        fronts = [view for view in views if view in FRONT_VIEWS]
        if not sides or not fronts:
            return None
        queries = (sides[rng.integers(len(sides))], fronts[rng.integers(len(fronts))])
        excluded = {*queries, *SIDE_VIEWS}
        gallery = tuple(view for view in views if view not in excluded)
        return QueryPlan(queries, gallery) if gallery else None

    def requirement(self) -> str:
        return (f"a side view ({'/'.join(SIDE_VIEWS)}), a front view ({'/'.join(FRONT_VIEWS)}) "
                "and another non-side view for the gallery")


@dataclass(frozen=True)
class TrajectoryViews:
    """Views numbered by position along a camera trajectory: queries are two views at least
    `min_gap` apart; the gallery leaves out views within `exclusion` of either query."""

    exclusion: int
    min_gap: int
    name: str = "trajectory"

    def plan(self, views: list[str], rng: np.random.Generator) -> QueryPlan | None:
        positions = sorted(int(view) for view in views)
        pairs = [(first, second) for i, first in enumerate(positions)
                 for second in positions[i + 1:] if second - first >= self.min_gap]
        for pick in rng.permutation(len(pairs)):
            first, second = pairs[pick]
            gallery = tuple(str(p) for p in positions
                            if min(abs(p - first), abs(p - second)) > self.exclusion)
            if gallery:
                return QueryPlan((str(first), str(second)), gallery)
        return None

    def requirement(self) -> str:
        return (f"two views at least {self.min_gap} positions apart and a gallery view more "
                f"than {self.exclusion} positions from both")


@dataclass(frozen=True)
class CropSpec:
    """One crop to render: who, which split, view, floor, camera, seed, where to write it."""

    identity: str
    split: str
    index: int
    view: str
    floor: str
    camera: str
    seed: int
    path: str           # relative to the output folder


@dataclass
class BuildResult:
    """What a build wrote, and the numbers for its summary."""

    out: Path
    manifest: pd.DataFrame
    stats: dict
    warnings: list[str]


def stable_seed(*parts: object) -> int:
    """A 32-bit seed from `parts` that is the same on every machine and Python run."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def safe_name(identity: str) -> str:
    """A file-system-safe folder name for `identity` (a hash suffix keeps altered names unique)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", identity)
    if safe != identity or safe.startswith("."):
        safe = f"{safe.lstrip('.')}_{hashlib.sha1(identity.encode()).hexdigest()[:8]}"
    return safe


def balanced_cycle(items: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """`count` items drawn as consecutive seeded permutations of `items` (even coverage)."""
    drawn: list[str] = []
    while len(drawn) < count:
        drawn += [items[i] for i in rng.permutation(len(items))]
    return drawn[:count]


# ---- sources -------------------------------------------------------------------------------

def cutout_sources(folder: Path, drop_low_quality: bool) -> tuple[list[CutoutRef], int, str]:
    """Read `folder/manifest.csv` (identity, view, path[, quality]).

    Returns the cut-out references (without `low` quality rows if `drop_low_quality`), the
    number of `low` quality rows, and the manifest's sha256. Raises ManifestError naming the
    rows with empty values, a repeated (identity, view), a path outside the folder, or a
    `quality` other than ok/low.
    """
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no cut-out manifest; --cutouts needs a folder with a "
                            "manifest.csv listing identity, view, path (one row per cut-out)")
    table = pd.read_csv(path, dtype=str, keep_default_na=False).apply(lambda c: c.str.strip())
    missing = [c for c in ("identity", "view", "path") if c not in table.columns]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}; a cut-out "
                            "manifest needs identity, view, path")
    problems = []
    first_row: dict[tuple[str, str], int] = {}
    for row, record in enumerate(table.itertuples(index=False)):
        key = (record.identity, record.view)
        if key in first_row:
            problems.append(f"{row_label(path, row)}: identity {record.identity!r} view "
                            f"{record.view!r} is already in row {first_row[key]}; give each "
                            "view of an identity once")
        first_row.setdefault(key, row)
        for column in ("identity", "view", "path"):
            if getattr(record, column) == "":
                problems.append(f"{row_label(path, row)}: empty `{column}`; fill it in or "
                                "delete the row")
        if record.path and (why := path_problem(record.path)):
            problems.append(f"{row_label(path, row)}: path {record.path!r} {why}; give it "
                            "relative to the cut-out folder")
        quality = getattr(record, "quality", "ok")
        if quality not in QUALITY_VALUES:
            problems.append(f"{row_label(path, row)}: quality {quality!r} is not ok or low")
    raise_problems(path, problems)
    low = (table["quality"].eq("low") if "quality" in table.columns
           else pd.Series(False, index=table.index))
    kept = table[~low] if drop_low_quality else table
    refs = [CutoutFile(identity, view, folder / relative)
            for identity, view, relative in zip(kept["identity"], kept["view"], kept["path"])]
    return refs, int(low.sum()), hashlib.sha256(path.read_bytes()).hexdigest()


def procedural_sources(count: int, seed: int) -> list[CutoutRef]:
    """Every view in VIEWS of `count` procedural shoe types made with `seed`."""
    return [ProceduralCutout(shoe.name, view, shoe)
            for shoe in make_shoe_types(count, seed=seed) for view in VIEWS]


def view_policy(refs: list[CutoutRef], options: BuildOptions) -> ViewPolicy:
    """Named views when every view is in VIEWS; trajectory views when every view is an integer."""
    views = {ref.view for ref in refs}
    if views <= set(VIEWS):
        return NamedViews()
    if all(re.fullmatch(r"\d+", view) for view in views):
        return TrajectoryViews(options.view_exclusion, options.query_view_gap)
    odd = sorted(v for v in views if v not in VIEWS and not re.fullmatch(r"\d+", v))[:5]
    raise ManifestError(f"{options.cutouts}: view values {', '.join(map(repr, odd))} are neither "
                        f"trajectory positions (0, 1, 2, ...) nor names from {', '.join(VIEWS)}; "
                        "use one of these conventions in the `view` column")


# ---- parallel work ---------------------------------------------------------------------------

def available_cpus() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def limit_threads() -> None:
    """Worker initializer: one OpenCV thread per process, since the processes share the cores."""
    import cv2

    cv2.setNumThreads(1)


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


def run_tasks(function, tasks: dict[str, tuple], weights: dict[str, int], workers: int | None,
              description: str, unit: str, progress_bar: bool = True) -> dict[str, object]:
    """Run `function(*tasks[key])` for every key, in a process pool of `workers` processes
    (None: one per available core) when that is more than 1.

    Results are keyed like `tasks`, so their use never depends on completion order;
    the progress bar advances by `weights[key]` per finished task.
    """
    results = {}
    workers = min(workers or available_cpus(), len(tasks))
    with tqdm(total=sum(weights.values()), desc=description, unit=unit, disable=not progress_bar) as progress:
        if workers <= 1:
            for key, arguments in tasks.items():
                results[key] = function(*arguments)
                progress.update(weights[key])
            return results
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=limit_threads) as pool:
            futures = {pool.submit(function, *arguments): key for key, arguments in tasks.items()}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.update(weights[futures[future]])
    return results


# ---- planning --------------------------------------------------------------------------------

def group_by_identity(refs: list[CutoutRef]) -> dict[str, dict[str, CutoutRef]]:
    """identity -> view -> ref, identities sorted, views sorted (numerically if digits)."""
    grouped: dict[str, dict[str, CutoutRef]] = {}
    for ref in refs:
        grouped.setdefault(ref.identity, {})[ref.view] = ref
    order = lambda view: (0, int(view), "") if view.isdigit() else (1, 0, view)  # noqa: E731
    return {identity: {view: views[view] for view in sorted(views, key=order)}
            for identity, views in sorted(grouped.items())}


def pool_sizes(count: int, preset: ScalePreset) -> tuple[int, int, int]:
    """(train, test, distractor) identity counts from the preset's fractions of `count`."""
    fractions = (preset.train_fraction, preset.test_fraction, preset.distractor_fraction)
    if any(f < 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
        raise ShoekitError(f"identity fractions {fractions} must be >= 0 and sum to at most 1; "
                           "lower --train-fraction/--test-fraction/--distractor-fraction")
    train = int(round(preset.train_fraction * count))
    test = min(int(round(preset.test_fraction * count)), count - train)
    distractor = min(int(round(preset.distractor_fraction * count)), count - train - test)
    if train < 1 or test < 1:
        raise ShoekitError(f"{count} usable identities give {train} training and {test} test "
                           "identities; need at least one of each: use more identities or "
                           "change --train-fraction/--test-fraction")
    return train, test, max(distractor, 0)


def crop_path(split: str, identity: str, index: int) -> str:
    name = safe_name(identity)
    return f"{IMAGES_DIR}/{split}/{name}/{name}_{index:04d}.png"


def make_specs(identity: str, split: str, views: list[str], floors: list[str], count: int,
               seed: int, rng: np.random.Generator) -> list[CropSpec]:
    """`count` crops of one identity and split, balanced over `views`, `floors` and cameras."""
    cameras = sorted(CAMERAS)
    chosen = zip(balanced_cycle(views, count, rng), balanced_cycle(floors, count, rng),
                 balanced_cycle(cameras, count, rng))
    return [CropSpec(identity, split, index, view, floor, camera,
                     stable_seed(seed, split, identity, index), crop_path(split, identity, index))
            for index, (view, floor, camera) in enumerate(chosen)]


def query_gallery_specs(identity: str, plan: QueryPlan, gallery_crops: int, seed: int,
                        rng: np.random.Generator) -> list[CropSpec]:
    """Two query crops (the plan's query views, two different floors) and the gallery crops
    (the plan's gallery views, on the floors the queries do not use)."""
    query_floors = [FLOORS[i] for i in rng.choice(len(FLOORS), size=2, replace=False)]
    cameras = sorted(CAMERAS)
    queries = [CropSpec(identity, "query", index, view, floor, cameras[rng.integers(len(cameras))],
                        stable_seed(seed, "query", identity, index),
                        crop_path("query", identity, index))
               for index, (view, floor) in enumerate(zip(plan.queries, query_floors))]
    other_floors = [floor for floor in FLOORS if floor not in query_floors]
    return queries + make_specs(identity, "gallery", list(plan.gallery_views), other_floors,
                                gallery_crops, seed, rng)


# ---- the build -------------------------------------------------------------------------------

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
    policy = view_policy(refs, options)
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


def load_sources(options: BuildOptions) -> tuple[list[CutoutRef], dict]:
    """The cut-out references of the chosen source, and its description for stats.json."""
    if (options.cutouts is None) == (options.procedural is None):
        raise ShoekitError("give exactly one source: --cutouts DIR or --procedural N")
    if options.cutouts is not None:
        refs, low_quality, source_hash = cutout_sources(Path(options.cutouts),
                                                        options.drop_low_quality)
        return refs, {"cutouts": str(options.cutouts), "cutout_manifest_sha256": source_hash,
                      "low_quality_rows": low_quality,
                      "drop_low_quality": options.drop_low_quality}
    if options.procedural < 2:
        raise ShoekitError(f"--procedural {options.procedural}: need at least 2 shoe types")
    return procedural_sources(options.procedural, options.seed), {"procedural": options.procedural}


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


def plan_queries(grouped: dict[str, dict[str, CutoutRef]], policy: ViewPolicy,
                 seed: int) -> tuple[dict[str, QueryPlan], dict[str, str]]:
    """Each identity's query plan, and the identities that cannot have one (-> why)."""
    plans, skipped = {}, {}
    for identity, views in grouped.items():
        plan = policy.plan(list(views), np.random.default_rng(stable_seed(seed, "plan", identity)))
        if plan is None:
            skipped[identity] = (f"{len(views)} usable view(s); the test protocol needs "
                                 f"{policy.requirement()}")
        else:
            plans[identity] = plan
    return plans, skipped


def choose_pools(usable: list[str], preset: ScalePreset, seed: int) -> dict[str, list[str]]:
    """Seeded disjoint train / test / distractor identity pools (each sorted) from `usable`."""
    train, test, distractor = pool_sizes(len(usable), preset)
    order = [usable[i] for i in np.random.default_rng(seed).permutation(len(usable))]
    return {"train": sorted(order[:train]), "test": sorted(order[train:train + test]),
            "distractor": sorted(order[train + test:train + test + distractor])}


def plan_crops(pools: dict[str, list[str]], grouped: dict[str, dict[str, CutoutRef]],
               plans: dict[str, QueryPlan], preset: ScalePreset,
               seed: int) -> dict[str, list[CropSpec]]:
    """identity -> its crops: queries and gallery for test identities, else train/distractor."""
    specs = {}
    for pool, identities in pools.items():
        for identity in identities:
            rng = np.random.default_rng(stable_seed(seed, "crops", identity))
            if pool == "test":
                specs[identity] = query_gallery_specs(identity, plans[identity],
                                                      preset.gallery_crops, seed, rng)
            else:
                count = preset.train_crops if pool == "train" else preset.distractor_crops
                specs[identity] = make_specs(identity, pool, list(grouped[identity]),
                                             list(FLOORS), count, seed, rng)
    return specs


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

