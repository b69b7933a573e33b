"""Which crops a benchmark build renders (the protocol of `shoekit.data.builder`): view policies,
identity pools, and one CropSpec per crop with its own seed.

Everything here is deterministic in (seed, identity, ...): `stable_seed` is the same on every
machine and Python run, so a plan never depends on worker scheduling or dict order. Nothing is
rendered or written here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from shoekit.data.cctv import CAMERAS
from shoekit.data.floors import FLOORS
from shoekit.data.procedural import VIEWS
from shoekit.errors import ManifestError, ShoekitError

IMAGES_DIR = "images"
SIDE_VIEWS = ("left", "right")
FRONT_VIEWS = ("front", "three_quarter")


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


class ViewRef(Protocol):
    """Anything naming one view of one identity (a cut-out file, a procedural render)."""

    identity: str
    view: str


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


def view_policy(views: set[str], view_exclusion: int, query_view_gap: int, source: str) -> ViewPolicy:
    """Named views when every view is in VIEWS; trajectory views when every view is an integer.

    `source` names the cut-outs (their folder) in the ManifestError for any other mix of views."""
    if views <= set(VIEWS):
        return NamedViews()
    if all(re.fullmatch(r"\d+", view) for view in views):
        return TrajectoryViews(view_exclusion, query_view_gap)
    odd = sorted(v for v in views if v not in VIEWS and not re.fullmatch(r"\d+", v))[:5]
    raise ManifestError(f"{source}: view values {', '.join(map(repr, odd))} are neither "
                        f"trajectory positions (0, 1, 2, ...) nor names from {', '.join(VIEWS)}; "
                        "use one of these conventions in the `view` column")


def group_by_identity(refs: list[ViewRef]) -> dict[str, dict[str, ViewRef]]:
    """identity -> view -> ref, identities sorted, views sorted (numerically if digits)."""
    grouped: dict[str, dict[str, ViewRef]] = {}
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


def plan_queries(grouped: dict[str, dict[str, ViewRef]], policy: ViewPolicy,
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


def plan_crops(pools: dict[str, list[str]], grouped: dict[str, dict[str, ViewRef]],
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
