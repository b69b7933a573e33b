"""Procedural shoe types, the embedded demo data: RGBA cut-outs drawn by code in milliseconds.

`make_shoe_types` invents families of designs (sneaker, runner, boot, loafer, sandal, high heel):
each base design has a colourway, a logo, stripes, a sole pattern and laces, and comes with
sibling types that differ from it in exactly one detail (the logo's shape, the stripe count, the
lace colour, ...). Telling siblings apart is fine-grained, like telling real shoe types apart.

`render_cutout` draws a type in one of VIEWS with anti-aliased cv2 polygons at twice the size,
then downsamples. Geometry is written in a shoe frame: u runs from the heel (0) to the toe (1)
along the ground, v points up, both in units of the shoe's length. The toe and heel keypoints
are known exactly from the drawing: the front and back ends of the shoe, just above the ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from shoekit.data.cutout import Cutout

VIEWS: tuple[str, ...] = ("left", "right", "front", "back", "three_quarter")
FAMILIES: tuple[str, ...] = ("sneaker", "runner", "boot", "loafer", "sandal", "high_heel")
LOGOS: tuple[str, ...] = ("swoosh", "star", "ring", "chevron", "bolt", "diamond")
SOLE_PATTERNS: tuple[str, ...] = ("plain", "ribbed", "dots", "zigzag", "two_tone")
SIBLINGS_PER_DESIGN = 4

Colour = tuple[int, int, int]

# Details a sibling may change, per family: only details that family's drawing shows.
VISIBLE_DETAILS: dict[str, tuple[str, ...]] = {
    "sneaker": ("logo", "stripes", "accent", "lace", "toe_cap", "heel_counter", "sole_pattern"),
    "runner": ("logo", "stripes", "accent", "lace", "toe_cap", "heel_counter", "sole_pattern"),
    "boot": ("logo", "accent", "lace", "toe_cap", "heel_counter", "sole_pattern"),
    "loafer": ("logo", "accent", "toe_cap", "heel_counter", "sole"),
    "sandal": ("logo", "stripes", "accent"),
    "high_heel": ("logo", "accent", "toe_cap", "heel_counter", "sole"),
}

_UPPER_COLOURS: dict[str, list[Colour]] = {
    "sneaker": [(235, 235, 232), (30, 30, 34), (40, 55, 110), (150, 30, 40), (120, 125, 130),
                (35, 90, 60), (210, 190, 150), (60, 120, 185), (200, 80, 120)],
    "runner": [(60, 120, 185), (230, 80, 50), (40, 40, 45), (235, 235, 232), (120, 190, 60),
               (110, 60, 150), (245, 200, 40), (70, 160, 170)],
    "boot": [(120, 80, 45), (70, 45, 30), (35, 32, 30), (150, 130, 90), (90, 95, 60),
             (160, 110, 60)],
    "loafer": [(95, 55, 35), (25, 22, 22), (110, 30, 35), (40, 45, 70), (170, 130, 90)],
    "sandal": [(160, 110, 70), (30, 30, 30), (225, 215, 195), (90, 60, 40), (180, 60, 60)],
    "high_heel": [(20, 20, 22), (170, 20, 35), (215, 180, 150), (240, 235, 230), (35, 40, 90),
                  (220, 130, 160)],
}
_SOLE_COLOURS: list[Colour] = [(245, 243, 235), (230, 225, 210), (40, 38, 38), (150, 110, 70),
                               (120, 120, 122), (200, 60, 50)]
_ACCENT_COLOURS: list[Colour] = [(220, 40, 40), (250, 200, 30), (30, 120, 220), (250, 250, 250),
                                 (20, 20, 20), (40, 190, 110), (240, 120, 30), (170, 60, 200),
                                 (200, 170, 90)]
_LACE_COLOURS: list[Colour] = [(245, 245, 245), (25, 25, 25), (200, 40, 40), (230, 200, 60),
                               (120, 160, 220), (150, 110, 70)]


@dataclass(frozen=True)
class ShoeType:
    """One shoe type (an identity) and everything needed to draw it.

    `name` is the unique identity, e.g. "sneaker_007"; `design` names the base design it is a
    sibling of, and `changed` the one detail it changes from that base ("" for the base itself).
    Colours are RGB uint8 triples; `stripes` is a count (0-3).
    """

    name: str
    family: str
    design: str
    changed: str
    upper: Colour
    sole: Colour
    accent: Colour
    lace: Colour
    toe_cap: Colour
    heel_counter: Colour
    logo: str
    stripes: int
    sole_pattern: str


def make_shoe_types(count: int, seed: int = 0) -> list[ShoeType]:
    """`count` shoe types, deterministic by `seed`.

    Types come in groups of SIBLINGS_PER_DESIGN: a base design followed by siblings that each
    change one detail the family shows; families cycle so every family appears when count >= 6.
    Names are f"{family}_{index:03d}" with a running index, so they are unique.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    rng = np.random.default_rng(seed)
    types: list[ShoeType] = []
    design_index = 0
    while len(types) < count:
        family = FAMILIES[design_index % len(FAMILIES)]
        base = _random_design(rng, family, f"design_{design_index:03d}")
        variants = [base]
        details = rng.permutation(VISIBLE_DETAILS[family])
        for detail in details[: SIBLINGS_PER_DESIGN - 1]:
            variants.append(_change_detail(rng, base, str(detail)))
        for variant in variants[: count - len(types)]:
            types.append(replace(variant, name=f"{family}_{len(types):03d}"))
        design_index += 1
    return types


def render_cutout(shoe: ShoeType, view: str, size: int = 128) -> Cutout:
    """Draw `shoe` seen from `view` as a (size, size) RGBA cut-out with exact toe/heel points.

    "right": side view, toe to the right; "left": the right view mirrored, toe to the left;
    "front": from in front and above, toe at the bottom; "back": from behind and above, heel at
    the bottom; "three_quarter": the side view turned towards the camera (toe to the right).
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    if size < 16:
        raise ValueError(f"cut-out size must be at least 16 px, got {size}")
    if view == "left":
        right = render_cutout(shoe, "right", size)
        return Cutout(rgba=np.ascontiguousarray(right.rgba[:, ::-1]),
                      toe=(size - 1 - right.toe[0], right.toe[1]),
                      heel=(size - 1 - right.heel[0], right.heel[1]))
    canvas = _Canvas(2 * size)
    if view in ("right", "three_quarter"):
        toe, heel = _draw_side(canvas, shoe, _SIDE_PROFILES[shoe.family](shoe), view)
    else:
        toe, heel = _draw_end_on(canvas, shoe, view)
    rgba = canvas.to_rgba(size)
    return Cutout(rgba=rgba, toe=_halve(toe), heel=_halve(heel))


# --- designs -------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, palette: list[Colour], avoid: Colour | None = None) -> Colour:
    """A palette colour with a small random shift, at least a little different from `avoid`."""
    choices = [c for c in palette if avoid is None or _distance(c, avoid) > 60] or palette
    base = np.asarray(choices[rng.integers(len(choices))], np.int64)
    return tuple(int(v) for v in np.clip(base + rng.integers(-12, 13, 3), 0, 255))


def _distance(a: Colour, b: Colour) -> float:
    return float(np.linalg.norm(np.subtract(a, b, dtype=np.float64)))


def _random_design(rng: np.random.Generator, family: str, design: str) -> ShoeType:
    upper = _pick(rng, _UPPER_COLOURS[family])
    accent = _pick(rng, _ACCENT_COLOURS, avoid=upper)
    plain_cap = rng.random() < 0.5
    return ShoeType(
        name=design,
        family=family,
        design=design,
        changed="",
        upper=upper,
        sole=_pick(rng, _SOLE_COLOURS, avoid=upper),
        accent=accent,
        lace=_pick(rng, _LACE_COLOURS),
        toe_cap=upper if plain_cap else _shade(upper, 0.8),
        heel_counter=_pick(rng, _UPPER_COLOURS[family] + [accent], avoid=upper),
        logo=LOGOS[rng.integers(len(LOGOS))],
        stripes=int(rng.integers(0, 4)),
        sole_pattern=SOLE_PATTERNS[rng.integers(len(SOLE_PATTERNS))],
    )


def _change_detail(rng: np.random.Generator, base: ShoeType, detail: str) -> ShoeType:
    """A sibling of `base` that differs only in `detail` (a VISIBLE_DETAILS entry)."""
    if detail == "logo":
        value = rng.choice([logo for logo in LOGOS if logo != base.logo])
        return replace(base, changed=detail, logo=str(value))
    if detail == "stripes":
        value = rng.choice([n for n in range(4) if n != base.stripes])
        return replace(base, changed=detail, stripes=int(value))
    if detail == "sole_pattern":
        value = rng.choice([p for p in SOLE_PATTERNS if p != base.sole_pattern])
        return replace(base, changed=detail, sole_pattern=str(value))
    palettes = {"accent": _ACCENT_COLOURS, "lace": _LACE_COLOURS, "sole": _SOLE_COLOURS,
                "toe_cap": _ACCENT_COLOURS + _UPPER_COLOURS[base.family],
                "heel_counter": _ACCENT_COLOURS + _UPPER_COLOURS[base.family]}
    old = getattr(base, detail)
    new = _pick(rng, palettes[detail], avoid=old)
    return replace(base, changed=detail, **{detail: new})


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(int(np.clip(round(c * factor), 0, 255)) for c in colour)


# --- geometry helpers ---------------------------------------------------------------------


def _smooth(points: list[tuple[float, float]], closed: bool = True, samples: int = 8) -> np.ndarray:
    """Catmull-Rom spline through `points`: (N * samples, 2) float64, closed or open."""
    p = np.asarray(points, np.float64)
    if closed:
        padded = np.vstack([p[-1], p, p[0], p[1]])
    else:
        padded = np.vstack([p[0], p, p[-1]])
    p0, p1, p2, p3 = (padded[i:len(padded) - 3 + i][:, None, :] for i in range(4))
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[None, :, None]
    curve = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                   + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
    curve = curve.reshape(-1, 2)
    return curve if closed else np.vstack([curve, p[-1:]])


def _ellipse(cx: float, cy: float, rx: float, ry: float, samples: int = 40) -> np.ndarray:
    angle = np.linspace(0.0, 2 * np.pi, samples, endpoint=False)
    return np.stack([cx + rx * np.cos(angle), cy + ry * np.sin(angle)], axis=1)


def _quad(a: tuple[float, float], b: tuple[float, float], width: float) -> np.ndarray:
    """A band of `width` from a to b, as a 4-point polygon."""
    a_, b_ = np.asarray(a, np.float64), np.asarray(b, np.float64)
    direction = (b_ - a_) / max(float(np.linalg.norm(b_ - a_)), 1e-9)
    normal = np.array([-direction[1], direction[0]]) * width / 2
    return np.array([a_ + normal, b_ + normal, b_ - normal, a_ - normal])


def _star(points: int = 5, outer: float = 0.5, inner: float = 0.2) -> np.ndarray:
    angle = np.pi / 2 + np.arange(2 * points) * np.pi / points
    radius = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


# Each logo as polygons in a unit box centred on 0 (y up), filled together (even-odd: the
# ring's inner circle is a hole).
_LOGO_SHAPES: dict[str, list[np.ndarray]] = {
    "swoosh": [_smooth([(-0.5, 0.1), (-0.35, 0.3), (-0.05, 0.12), (0.55, -0.25), (0.0, -0.12),
                        (-0.35, 0.0)], samples=6)],
    "star": [_star()],
    "ring": [_ellipse(0, 0, 0.45, 0.45), _ellipse(0, 0, 0.26, 0.26)],
    "chevron": [np.array([(-0.5, 0.35), (0.0, -0.1), (0.5, 0.35), (0.5, 0.05), (0.0, -0.4),
                          (-0.5, 0.05)])],
    "bolt": [np.array([(-0.05, 0.5), (0.35, 0.5), (0.1, 0.1), (0.3, 0.1), (-0.25, -0.5),
                       (-0.05, -0.05), (-0.28, -0.05)])],
    "diamond": [np.array([(0.0, 0.5), (0.32, 0.0), (0.0, -0.5), (-0.32, 0.0)])],
}


def _logo(shoe: ShoeType, frame: "_Frame", at: tuple[float, float], size: float) -> list[np.ndarray]:
    """`shoe`'s logo centred at `at` (shoe frame), `size` across, as canvas-pixel polygons."""
    return [frame(np.asarray(at) + shape * size) for shape in _LOGO_SHAPES[shoe.logo]]


class _Frame:
    """Maps shoe-frame (u, v) points to canvas pixels: x = x0 + sx·u, y = y0 - sy·v."""

    def __init__(self, x0: float, y0: float, sx: float, sy: float):
        self.x0, self.y0, self.sx, self.sy = x0, y0, sx, sy

    def __call__(self, points) -> np.ndarray:
        p = np.asarray(points, np.float64).reshape(-1, 2)
        return np.stack([self.x0 + self.sx * p[:, 0], self.y0 - self.sy * p[:, 1]], axis=1)


def _halve(point: np.ndarray) -> tuple[float, float]:
    """A 2×-canvas pixel position at the output size (pixel centres stay pixel centres)."""
    return (float((point[0] + 0.5) / 2 - 0.5), float((point[1] + 0.5) / 2 - 0.5))


class _Canvas:
    """Premultiplied RGBA float32 canvas, stored as planes (4, H, W): RGB 0-255, alpha 0-1.
    Shapes are painted as anti-aliased coverage masks."""

    def __init__(self, size: int):
        self.size = size
        self.planes = np.zeros((4, size, size), np.float32)

    @property
    def alpha(self) -> np.ndarray:
        return self.planes[3]

    def coverage(self, polygons=(), lines=(), thickness: float = 2.0, union: bool = False):
        """(y0, x0, mask) of filled `polygons` and stroked open `lines` (pixel arrays).

        Polygons are filled together with the even-odd rule (an inner ring makes a hole), or
        one by one when `union` is set (overlaps stay filled).
        """
        shapes = [np.asarray(s, np.float64) for s in (*polygons, *lines)]
        if not shapes:
            return 0, 0, np.zeros((0, 0), np.float32)
        points = np.vstack(shapes)
        pad = thickness + 2
        x0 = max(int(math.floor(points[:, 0].min() - pad)), 0)
        y0 = max(int(math.floor(points[:, 1].min() - pad)), 0)
        x1 = min(int(math.ceil(points[:, 0].max() + pad)) + 1, self.size)
        y1 = min(int(math.ceil(points[:, 1].max() + pad)) + 1, self.size)
        if x1 <= x0 or y1 <= y0:
            return 0, 0, np.zeros((0, 0), np.float32)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        offset = np.array([x0, y0], np.float64)
        fixed_polygons = [np.round((np.asarray(p) - offset) * 16).astype(np.int32) for p in polygons]
        if union:
            for polygon in fixed_polygons:
                cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA, 4)
        elif fixed_polygons:
            cv2.fillPoly(mask, fixed_polygons, 255, cv2.LINE_AA, 4)
        if lines:
            fixed_lines = [np.round((np.asarray(line) - offset) * 16).astype(np.int32) for line in lines]
            cv2.polylines(mask, fixed_lines, False, 255, max(1, int(round(thickness))),
                          cv2.LINE_AA, 4)
        return y0, x0, mask.astype(np.float32) * np.float32(1 / 255)

    def paint(self, cover, colour, clip: np.ndarray | None = None, shape: bool = False) -> None:
        """Paint `colour` (RGB 0-255) where `cover` says; `clip` limits it (full-size mask);
        `shape` also adds the coverage to the silhouette (alpha)."""
        y0, x0, mask = cover
        if mask.size == 0:
            return
        rows, cols = slice(y0, y0 + mask.shape[0]), slice(x0, x0 + mask.shape[1])
        if clip is not None:
            mask = mask * clip[rows, cols]
        window = self.planes[:, rows, cols]
        if shape:  # premultiplied "over": the colour (alpha 1) covers `mask` of each pixel
            change = np.array([*colour, 1.0], np.float32)[:, None, None] - window
        else:  # recolour inside the silhouette, keeping its alpha
            change = window[3] * np.array([*colour, 0.0], np.float32)[:, None, None]
            change[:3] -= window[:3]
        change *= mask
        window += change

    def full(self, cover) -> np.ndarray:
        """`cover` as a full-canvas mask, for clipping later paint."""
        y0, x0, mask = cover
        out = np.zeros((self.size, self.size), np.float32)
        out[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] = mask
        return out

    def shade_vertically(self, top: float, bottom: float, light: float = 0.1) -> None:
        """Light from above: brighten towards pixel row `top`, darken towards `bottom`."""
        rows = np.arange(self.size, dtype=np.float32)
        gain = 1.0 + light - 2.0 * light * np.clip((rows - top) / max(bottom - top, 1.0), 0.0, 1.0)
        gain_map = np.repeat(gain[:, None], self.size, axis=1)  # whole planes: fast maths
        for plane in self.planes[:3]:
            plane *= gain_map

    def to_rgba(self, size: int) -> np.ndarray:
        """Downsample to (size, size, 4) uint8 straight (not premultiplied) RGBA."""
        red, green, blue, alpha = (cv2.resize(plane, (size, size), interpolation=cv2.INTER_AREA)
                                   for plane in self.planes)
        inverse = 1.0 / np.maximum(alpha, 1e-6)
        straight = cv2.merge([red * inverse, green * inverse, blue * inverse, alpha * 255.0])
        out = np.clip(straight + 0.5, 0, 255).astype(np.uint8)
        out[alpha * 255.0 < 0.5] = 0
        return out


def _swept(polygon: np.ndarray, offset: np.ndarray) -> list[np.ndarray]:
    """Polygons whose union is `polygon` dragged along `offset` (pixel arrays): its start and
    end copies and one parallelogram per edge."""
    moved = polygon + offset
    following = np.roll(polygon, -1, axis=0)
    edges = np.stack([polygon, following, following + offset, moved], axis=1)
    return [polygon, moved, *edges]


# --- side profiles ------------------------------------------------------------------------


@dataclass
class _Profile:
    """A family's side-view drawing in the shoe frame (u heel→toe, v up; units: shoe length)."""

    sole: np.ndarray
    uppers: list[np.ndarray]
    toe: tuple[float, float]
    heel: tuple[float, float]
    sole_top: float  # v of the sole's top edge at mid-foot (where sole patterns sit below)
    heel_block: np.ndarray | None = None
    collar: np.ndarray | None = None
    tongue: np.ndarray | None = None
    laces: tuple[tuple[float, float], tuple[float, float], int] | None = None
    toe_cap: np.ndarray | None = None
    heel_counter: np.ndarray | None = None
    logo: tuple[float, float, float] = (0.28, 0.19, 0.08)
    stripes: tuple[tuple[float, float], tuple[float, float], float] | None = None
    extras: list[tuple[str, np.ndarray]] = field(default_factory=list)


def _sneaker(shoe: ShoeType, runner: bool = False) -> _Profile:
    s = 0.12 if runner else 0.085  # heel sole height
    collar = 0.30 if runner else 0.33
    sole = _smooth([(0.03, 0.0), (0.4, -0.003), (0.8, 0.0), (0.93, 0.015), (0.995, 0.045),
                    (1.0, 0.07), (0.96, 0.078), (0.7, 0.07), (0.35, s - 0.005), (0.06, s),
                    (-0.015, s - 0.01), (-0.02, 0.035)])
    upper = _smooth([(0.0, s - 0.02), (-0.015, s + 0.08), (-0.005, collar - 0.03),
                     (0.05, collar + 0.01), (0.13, collar), (0.24, collar - 0.04),
                     (0.31, collar - 0.04), (0.36, collar + 0.02), (0.41, collar + 0.025),
                     (0.45, collar - 0.005), (0.62, 0.25), (0.78, 0.195), (0.9, 0.15),
                     (0.965, 0.115), (0.99, 0.075), (0.7, 0.06), (0.3, s - 0.01)])
    return _Profile(
        sole=sole,
        uppers=[upper],
        toe=(0.975, 0.04),
        heel=(0.0, 0.04),
        sole_top=0.07 if not runner else 0.09,
        collar=_smooth([(0.03, collar - 0.005), (0.13, collar - 0.02), (0.24, collar - 0.055),
                        (0.31, collar - 0.055)], closed=False),
        tongue=_smooth([(0.3, collar - 0.05), (0.36, collar + 0.01), (0.41, collar + 0.02),
                        (0.44, collar - 0.01), (0.38, collar - 0.07)]),
        laces=((0.37, collar - 0.02), (0.6, 0.235), 5),
        toe_cap=_ellipse(1.0, 0.06, 0.2, 0.11),
        heel_counter=_ellipse(-0.03, s + 0.02, 0.17, 0.2),
        logo=(0.27, s + 0.1, 0.09),
        stripes=((0.43, collar - 0.03), (0.36, s + 0.01), 0.05),
        extras=[("accent", _quad((0.0, collar - 0.04), (-0.02, collar + 0.04), 0.035))]
        if runner else [],
    )


def _boot(shoe: ShoeType) -> _Profile:
    sole = np.array([(0.0, 0.0), (0.98, 0.0), (1.0, 0.03), (1.0, 0.065), (0.25, 0.065),
                     (0.0, 0.07)])
    sole = _smooth(sole.tolist(), samples=4)
    upper = _smooth([(0.01, 0.05), (0.0, 0.3), (0.02, 0.62), (0.15, 0.64), (0.3, 0.62),
                     (0.33, 0.6), (0.36, 0.4), (0.45, 0.3), (0.62, 0.24), (0.8, 0.2),
                     (0.93, 0.16), (0.99, 0.1), (1.0, 0.06), (0.5, 0.055)])
    return _Profile(
        sole=sole,
        uppers=[upper],
        toe=(0.975, 0.035),
        heel=(0.02, 0.03),
        sole_top=0.065,
        heel_block=np.array([(0.0, 0.0), (0.24, 0.0), (0.23, 0.075), (0.0, 0.08)]),
        collar=_smooth([(0.03, 0.615), (0.15, 0.625), (0.28, 0.605)], closed=False),
        tongue=_smooth([(0.28, 0.6), (0.31, 0.66), (0.35, 0.64), (0.36, 0.42), (0.32, 0.45)]),
        laces=((0.33, 0.57), (0.52, 0.27), 7),
        toe_cap=_ellipse(1.02, 0.07, 0.2, 0.13),
        heel_counter=_ellipse(-0.04, 0.12, 0.2, 0.17),
        logo=(0.15, 0.47, 0.07),
        extras=[("accent", _quad((0.02, 0.58), (0.0, 0.68), 0.04))],
    )


def _loafer(shoe: ShoeType) -> _Profile:
    sole = _smooth([(0.2, 0.0), (0.8, 0.0), (0.95, 0.012), (1.0, 0.035), (0.98, 0.045),
                    (0.6, 0.045), (0.2, 0.05)], samples=6)
    upper = _smooth([(0.01, 0.06), (-0.005, 0.13), (0.02, 0.215), (0.12, 0.21), (0.3, 0.2),
                     (0.42, 0.22), (0.6, 0.19), (0.8, 0.145), (0.94, 0.1), (0.995, 0.05),
                     (0.6, 0.04), (0.2, 0.05)])
    return _Profile(
        sole=sole,
        uppers=[upper],
        toe=(0.98, 0.03),
        heel=(0.02, 0.02),
        sole_top=0.045,
        heel_block=np.array([(0.0, 0.0), (0.2, 0.0), (0.2, 0.055), (0.0, 0.06)]),
        collar=_smooth([(0.03, 0.205), (0.15, 0.2), (0.3, 0.19), (0.4, 0.205)], closed=False),
        toe_cap=_ellipse(1.0, 0.05, 0.3, 0.1),
        heel_counter=_ellipse(-0.05, 0.08, 0.16, 0.12),
        logo=(0.58, 0.17, 0.07),
        extras=[("accent", _quad((0.5, 0.205), (0.53, 0.12), 0.07)),
                ("stitch", _smooth([(0.62, 0.19), (0.75, 0.145), (0.92, 0.1)], closed=False))],
    )


def _sandal(shoe: ShoeType) -> _Profile:
    sole = _smooth([(0.02, 0.0), (0.5, 0.0), (0.95, 0.005), (1.0, 0.03), (0.97, 0.06),
                    (0.5, 0.055), (0.03, 0.07), (-0.01, 0.04)], samples=6)
    # straps rise from the sole to the top of the (absent) foot: its height by u
    foot_u, foot_v = [0.2, 0.4, 0.6, 0.8, 0.95], [0.22, 0.25, 0.22, 0.15, 0.09]
    straps = [_quad((u, 0.04), (u - 0.05, float(np.interp(u - 0.05, foot_u, foot_v))), 0.085)
              for u in np.linspace(0.85, 0.45, 1 + shoe.stripes)]
    heel_strap = _smooth([(0.0, 0.06), (-0.02, 0.2), (0.1, 0.26), (0.22, 0.235), (0.24, 0.2),
                          (0.12, 0.2), (0.04, 0.17), (0.05, 0.06)], samples=6)
    return _Profile(
        sole=sole,
        uppers=[*straps, heel_strap],
        toe=(0.975, 0.03),
        heel=(0.01, 0.03),
        sole_top=0.055,
        logo=(0.19, 0.222, 0.06),
    )


def _high_heel(shoe: ShoeType) -> _Profile:
    sole = _smooth([(0.98, 0.0), (1.0, 0.012), (0.75, 0.022), (0.45, 0.12), (0.15, 0.27),
                    (0.04, 0.295), (0.04, 0.275), (0.15, 0.25), (0.45, 0.1), (0.75, 0.0)],
                   samples=5)
    upper = _smooth([(0.05, 0.28), (0.02, 0.36), (0.03, 0.44), (0.12, 0.43), (0.3, 0.3),
                     (0.55, 0.17), (0.75, 0.1), (0.93, 0.04), (1.0, 0.012), (0.75, 0.015),
                     (0.45, 0.11), (0.15, 0.26)], samples=6)
    heel_block = np.array([(0.035, 0.29), (0.16, 0.27), (0.085, 0.2), (0.07, 0.0),
                           (0.045, 0.0), (0.045, 0.2)])
    return _Profile(
        sole=sole,
        uppers=[upper],
        toe=(0.975, 0.008),
        heel=(0.058, 0.008),
        sole_top=0.02,
        heel_block=heel_block,
        collar=_smooth([(0.05, 0.43), (0.13, 0.415), (0.3, 0.29), (0.5, 0.175)], closed=False),
        toe_cap=_ellipse(1.0, 0.02, 0.2, 0.06),
        heel_counter=_ellipse(0.0, 0.37, 0.12, 0.12),
        logo=(0.62, 0.11, 0.05),
    )


# family -> side-view drawing of a shoe (only the sandal reads the shoe: one strap per stripe + 1)
_SIDE_PROFILES = {
    "sneaker": _sneaker,
    "runner": lambda shoe: _sneaker(shoe, runner=True),
    "boot": _boot,
    "loafer": _loafer,
    "sandal": _sandal,
    "high_heel": _high_heel,
}


def _draw_side(canvas: _Canvas, shoe: ShoeType, profile: _Profile, view: str):
    """Draw a side or three-quarter view; returns the toe and heel in canvas pixels.

    The three-quarter view drags the profile's silhouette up and towards the toe (the far side
    of the shoe), fills the top between the two sides (opening, tongue, laces), then draws the
    near side over it.
    """
    size = canvas.size
    all_points = np.vstack([profile.sole, *profile.uppers]
                           + ([profile.heel_block] if profile.heel_block is not None else []))
    low, high = all_points.min(axis=0), all_points.max(axis=0)
    three_quarter = view == "three_quarter"
    depth = np.array([0.1, 0.12]) if three_quarter else np.zeros(2)
    squash = 0.85 if three_quarter else 1.0
    span = (high - low + depth) * (squash, 1.0)
    scale = 0.92 * size / span.max()
    sx = scale * squash
    centre = (low + high + depth) / 2
    frame = _Frame(size / 2 - sx * centre[0], size / 2 + scale * centre[1], sx, scale)
    if three_quarter:
        _far_side_and_top(canvas, shoe, profile, frame, depth)
    _silhouette(canvas, shoe, profile, frame)
    _side_details(canvas, shoe, profile, frame)
    canvas.shade_vertically(frame((0.0, high[1] + depth[1]))[0, 1], frame((0.0, 0.0))[0, 1])
    return frame(profile.toe)[0], frame(profile.heel)[0]


def _far_side_and_top(canvas: _Canvas, shoe: ShoeType, profile: _Profile, frame: _Frame,
                      depth: np.ndarray) -> None:
    offset = frame(depth)[0] - frame((0.0, 0.0))[0]
    canvas.paint(canvas.coverage(_swept(frame(profile.sole), offset), union=True),
                 _shade(shoe.sole, 0.8), shape=True)
    swept_uppers = [piece for upper in profile.uppers for piece in _swept(frame(upper), offset)]
    canvas.paint(canvas.coverage(swept_uppers, union=True), _shade(shoe.upper, 0.85), shape=True)
    px = frame.sy / 100.0
    if profile.collar is not None:
        near = profile.collar
        opening = np.vstack([near, (near + depth * 0.9)[::-1]])
        canvas.paint(canvas.coverage([frame(opening)]), _shade(shoe.upper, 0.3), canvas.alpha)
    if profile.laces is not None:
        near = _lace_points(profile) + (0.0, 0.01)
        far = near + depth * 0.75
        canvas.paint(canvas.coverage([frame(np.vstack([near, far[::-1]]))]),
                     _shade(shoe.upper, 1.1), canvas.alpha)
        crossing = [frame(np.array([a, b])) for a, b in zip(near[:-1], far[1:])]
        crossing += [frame(np.array([a, b])) for a, b in zip(far[:-1], near[1:])]
        canvas.paint(canvas.coverage(lines=crossing, thickness=1.3 * px), shoe.lace, canvas.alpha)


def _lace_points(profile: _Profile) -> np.ndarray:
    """(count, 2) eyelet positions along the profile's lace line."""
    (u0, v0), (u1, v1), count = profile.laces
    t = np.linspace(0.0, 1.0, count)[:, None]
    return np.array([u0, v0]) + t * np.array([u1 - u0, v1 - v0])


def _silhouette(canvas: _Canvas, shoe: ShoeType, profile: _Profile, frame: _Frame) -> None:
    """Upper, heel block and sole filled flat (the shape, no details)."""
    for upper in profile.uppers:
        canvas.paint(canvas.coverage([frame(upper)]), shoe.upper, shape=True)
    if profile.heel_block is not None:
        colour = shoe.heel_counter if shoe.family == "high_heel" else _shade(shoe.sole, 0.85)
        canvas.paint(canvas.coverage([frame(profile.heel_block)]), colour, shape=True)
    canvas.paint(canvas.coverage([frame(profile.sole)]), shoe.sole, shape=True)


def _side_details(canvas: _Canvas, shoe: ShoeType, profile: _Profile, frame: _Frame) -> None:
    px = frame.sy / 100.0  # canvas pixels per 0.01 shoe length
    uppers = canvas.full(canvas.coverage([frame(u) for u in profile.uppers]))
    if profile.heel_counter is not None:
        canvas.paint(canvas.coverage([frame(profile.heel_counter)]), shoe.heel_counter, uppers)
    if profile.toe_cap is not None:
        canvas.paint(canvas.coverage([frame(profile.toe_cap)]), shoe.toe_cap, uppers)
    if profile.stripes is not None and shoe.stripes:
        (ut, vt), (ub, vb), pitch = profile.stripes
        bands = [_quad((ut + i * pitch, vt), (ub + i * pitch, vb), 0.022)
                 for i in range(shoe.stripes)]
        canvas.paint(canvas.coverage([frame(b) for b in bands]), shoe.accent, uppers)
    for kind, shape in profile.extras:
        if kind == "accent":
            canvas.paint(canvas.coverage([frame(shape)]), shoe.accent, canvas.alpha)
        else:
            canvas.paint(canvas.coverage(lines=[frame(shape)], thickness=0.6 * px),
                         _shade(shoe.toe_cap, 0.6), uppers)
    u, v, logo_size = profile.logo
    logo = _logo(shoe, frame, (u, v), logo_size)
    logo_clip = canvas.alpha if shoe.family == "sandal" else uppers
    canvas.paint(canvas.coverage(logo), shoe.accent if shoe.family != "sandal" else shoe.sole,
                 logo_clip)
    if profile.tongue is not None:
        canvas.paint(canvas.coverage([frame(profile.tongue)]), _shade(shoe.upper, 1.12), uppers)
    if profile.collar is not None:
        canvas.paint(canvas.coverage(lines=[frame(profile.collar)], thickness=2.2 * px),
                     _shade(shoe.upper, 0.3), canvas.alpha)
    if profile.laces is not None:
        _laces(canvas, shoe, profile, frame)
    _sole_pattern(canvas, shoe, profile, frame)
    outline = [frame(u) for u in profile.uppers] + [frame(profile.sole)]
    canvas.paint(canvas.coverage(lines=[np.vstack([o, o[:1]]) for o in outline],
                                 thickness=0.5 * px), (25, 22, 20), canvas.alpha)


def _laces(canvas: _Canvas, shoe: ShoeType, profile: _Profile, frame: _Frame) -> None:
    """Side view laces: eyelets along the lace line and lace bars zig-zagging over the top."""
    px = frame.sy / 100.0
    points = _lace_points(profile)
    direction = points[-1] - points[0]
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    if normal[1] < 0:
        normal = -normal
    eyelets = [frame(_ellipse(u, v, 0.009, 0.009, 12)) for u, v in points]
    canvas.paint(canvas.coverage(eyelets), _shade(shoe.upper, 0.35), canvas.alpha)
    bars = [frame(np.array([p, p + 0.035 * normal])) for p in points]
    bars += [frame(np.array([p, q + 0.035 * normal])) for p, q in zip(points[:-1], points[1:])]
    canvas.paint(canvas.coverage(lines=bars, thickness=1.5 * px), shoe.lace, canvas.alpha)


def _sole_pattern(canvas: _Canvas, shoe: ShoeType, profile: _Profile, frame: _Frame) -> None:
    px = frame.sy / 100.0
    sole = canvas.full(canvas.coverage([frame(profile.sole)]))
    mid = profile.sole_top * 0.5
    dark = _shade(shoe.sole, 0.6) if sum(shoe.sole) > 200 else _shade(shoe.sole, 1.8)
    pattern = shoe.sole_pattern
    if pattern == "ribbed":
        lines = [frame(np.array([(u, -0.01), (u + 0.01, mid * 1.6)])) for u in np.arange(0.05, 1.0, 0.035)]
        canvas.paint(canvas.coverage(lines=lines, thickness=0.5 * px), dark, sole)
    elif pattern == "dots":
        dots = [frame(_ellipse(u, mid, 0.01, 0.01, 10)) for u in np.arange(0.06, 0.98, 0.05)]
        canvas.paint(canvas.coverage(dots), dark, sole)
    elif pattern == "zigzag":
        u = np.arange(0.0, 1.02, 0.025)
        zigzag = np.stack([u, mid + np.where(np.arange(len(u)) % 2 == 0, 0.012, -0.012)], axis=1)
        canvas.paint(canvas.coverage(lines=[frame(zigzag)], thickness=0.6 * px), dark, sole)
    elif pattern == "two_tone":
        band = np.array([(-0.1, -0.1), (1.1, -0.1), (1.1, mid), (-0.1, mid)])
        canvas.paint(canvas.coverage([frame(band)]), dark, sole)
    ground = np.array([(-0.1, -0.1), (1.1, -0.1), (1.1, 0.008), (-0.1, 0.008)])
    canvas.paint(canvas.coverage([frame(ground)]), _shade(shoe.sole, 0.45), sole)


# --- front and back views -----------------------------------------------------------------


def _draw_end_on(canvas: _Canvas, shoe: ShoeType, view: str):
    """Front view (toe at the bottom) or back view (heel at the bottom), seen from above.

    Drawn in a frame with u across the shoe and v up the image, from the near end (v = 0) to
    the far end (v = length); the near end is drawn wider (perspective) and shows more of the
    sole's rim. Returns toe and heel in canvas pixels.
    """
    family = shoe.family
    front = view == "front"
    length = 0.82 if family == "boot" else 0.66
    near_w = {"high_heel": 0.16, "loafer": 0.18}.get(family, 0.2)
    far_w = near_w * 0.78
    tip = 0.35 if family == "high_heel" and front else 0.8
    outline = _smooth([(0.0, 0.0), (near_w * tip, 0.025), (near_w, 0.13), (near_w * 0.97, 0.3),
                       (far_w, length - 0.2), (far_w * 0.75, length - 0.04), (0.0, length),
                       (-far_w * 0.75, length - 0.04), (-far_w, length - 0.2),
                       (-near_w * 0.97, 0.3), (-near_w, 0.13), (-near_w * tip, 0.025)])
    scale = 0.9 * canvas.size / length
    frame = _Frame(canvas.size / 2, canvas.size / 2 + scale * length / 2, scale, scale)
    px = scale / 100.0
    canvas.paint(canvas.coverage([frame(outline)]), shoe.sole, shape=True)
    if family == "sandal":
        _end_on_sandal(canvas, shoe, frame, outline, near_w, length)
    else:
        inner = outline * (0.9, 0.92) + (0.0, 0.045)
        canvas.paint(canvas.coverage([frame(inner)]), shoe.upper, shape=True)
        upper = canvas.full(canvas.coverage([frame(inner)]))
        toe_v, heel_v = (0.0, length) if front else (length, 0.0)
        canvas.paint(canvas.coverage([frame(_ellipse(0.0, toe_v, near_w, 0.17))]), shoe.toe_cap,
                     upper)
        counter = _ellipse(0.0, heel_v, near_w, 0.12 if front else 0.2)
        canvas.paint(canvas.coverage([frame(counter)]), shoe.heel_counter, upper)
        _end_on_top(canvas, shoe, front, frame, length, near_w, upper)
    canvas.paint(canvas.coverage(lines=[frame(np.vstack([outline, outline[:1]]))],
                                 thickness=0.5 * px), (25, 22, 20), canvas.alpha)
    canvas.shade_vertically(frame((0.0, length))[0, 1], frame.y0, light=0.06)
    near_end, far_end = frame((0.0, 0.015))[0], frame((0.0, length - 0.015))[0]
    return (near_end, far_end) if front else (far_end, near_end)


def _end_on_sandal(canvas: _Canvas, shoe: ShoeType, frame: _Frame, outline: np.ndarray,
                   w: float, length: float) -> None:
    """A footbed seen from above with straps across it, one per stripe plus one."""
    bed = outline * (0.88, 0.92) + (0.0, 0.03)
    canvas.paint(canvas.coverage([frame(bed)]), _shade(shoe.sole, 1.1), canvas.alpha)
    straps = [_quad((-w * 0.92, v), (w * 0.92, v + 0.03), 0.05)
              for v in np.linspace(0.12, 0.42, 1 + shoe.stripes)]
    heel_strap = _quad((-w * 0.9, length - 0.1), (w * 0.9, length - 0.1), 0.05)
    canvas.paint(canvas.coverage([frame(s) for s in (*straps, heel_strap)], union=True),
                 shoe.upper, canvas.alpha.copy())
    buckle = _quad((w * 0.55, 0.12), (w * 0.95, 0.135), 0.05)
    canvas.paint(canvas.coverage([frame(buckle)]), shoe.accent, canvas.alpha)
    logo = _logo(shoe, frame, (0.0, length - 0.22), 0.07)
    canvas.paint(canvas.coverage(logo), _shade(shoe.sole, 0.6), canvas.alpha)


def _end_on_top(canvas: _Canvas, shoe: ShoeType, front: bool, frame: _Frame, length: float,
                w: float, upper: np.ndarray) -> None:
    """Opening, tongue, laces, stripes and logo of a front or back view."""
    px = frame.sy / 100.0

    def place(v: float) -> float:  # v measured from the toe end
        return v if front else length - v

    opening_v = {"boot": 0.6, "high_heel": 0.38, "loafer": 0.45}.get(shoe.family, 0.46)
    opening_r = {"high_heel": (w * 0.7, 0.2), "loafer": (w * 0.65, 0.12), "boot": (w * 0.6, 0.1)
                 }.get(shoe.family, (w * 0.55, 0.08))
    lace_top = opening_v - opening_r[1] - 0.07
    if shoe.family in ("sneaker", "runner", "boot"):
        tongue = _quad((0.0, place(0.17)), (0.0, place(opening_v)), w * 0.7)
        canvas.paint(canvas.coverage([frame(tongue)]), _shade(shoe.upper, 1.12), upper)
        rungs = [place(v) for v in np.linspace(0.18, lace_top, 5 if front else 3)]
        crosses = []
        for a, b in zip(rungs[:-1], rungs[1:]):
            crosses += [np.array([(-w * 0.4, a), (w * 0.4, b)]), np.array([(w * 0.4, a), (-w * 0.4, b)])]
        canvas.paint(canvas.coverage(lines=[frame(c) for c in crosses], thickness=1.4 * px),
                     shoe.lace, upper)
    if shoe.family == "loafer":
        strap = _quad((-w, place(0.28)), (w, place(0.28)), 0.05)
        canvas.paint(canvas.coverage([frame(strap)]), shoe.accent, upper)
        seam = _smooth([(-w * 0.65, 0.26), (-w * 0.7, 0.1), (0.0, 0.05), (w * 0.7, 0.1),
                        (w * 0.65, 0.26)], closed=False)
        seam[:, 1] = [place(v) for v in seam[:, 1]]
        canvas.paint(canvas.coverage(lines=[frame(seam)], thickness=0.6 * px),
                     _shade(shoe.toe_cap, 0.6), upper)
    lining = _shade(shoe.sole, 0.9) if shoe.family == "high_heel" else _shade(shoe.upper, 0.3)
    canvas.paint(canvas.coverage([frame(_ellipse(0.0, place(opening_v), *opening_r))]), lining,
                 upper)
    if shoe.stripes and shoe.family in ("sneaker", "runner"):
        bands = []
        for i in range(shoe.stripes):
            v = 0.2 + 0.055 * i
            bands += [_quad((sign * w, place(v)), (sign * w * 0.62, place(v + 0.06)), 0.025)
                      for sign in (-1, 1)]
        canvas.paint(canvas.coverage([frame(b) for b in bands]), shoe.accent, upper)
    if front:
        logo_at, logo_size, colour = (0.0, lace_top + 0.03), 0.05, shoe.accent
    else:  # a heel tab in the accent colour carries the logo in a contrasting tone
        tab = _quad((0.0, 0.02), (0.0, 0.16), 0.065)
        canvas.paint(canvas.coverage([frame(tab)]), shoe.accent, upper)
        logo_at, logo_size = (0.0, 0.09), 0.05
        colour = _shade(shoe.accent, 0.4) if sum(shoe.accent) > 300 else (240, 240, 240)
    logo = _logo(shoe, frame, logo_at, logo_size)
    canvas.paint(canvas.coverage(logo), colour, upper)
    if shoe.family == "high_heel" and not front:
        heel = np.array([(-0.035, 0.0), (0.035, 0.0), (0.02, 0.1), (-0.02, 0.1)])
        canvas.paint(canvas.coverage([frame(heel)]), _shade(shoe.heel_counter, 0.8), canvas.alpha)


COLOUR_PARTS: tuple[str, ...] = ("upper", "sole", "accent", "lace", "toe_cap", "heel_counter")
CATEGORICAL_PARTS: tuple[str, ...] = ("family", "logo", "stripes", "sole_pattern")
DISTINCT_COLOUR_DISTANCE = 40.0  # RGB distance at which two part colours read as different


def indistinct_pairs(types: list[ShoeType],
                     colour_distance: float = DISTINCT_COLOUR_DISTANCE) -> list[tuple[str, str]]:
    """Pairs of `types` (names) that a viewer could not tell apart: equal in every categorical
    detail (family, logo, stripe count, sole pattern) and no part colour more than
    `colour_distance` apart in RGB. An empty list means every type is distinct."""
    if len(types) < 2:
        return []
    codes = np.array([[hash(getattr(shoe, part)) for part in CATEGORICAL_PARTS] for shoe in types])
    colours = np.array([[getattr(shoe, part) for part in COLOUR_PARTS] for shoe in types], np.float32)
    pairs = []
    for i in range(len(types) - 1):
        same = (codes[i + 1:] == codes[i]).all(axis=1)
        if not same.any():
            continue
        candidates = np.flatnonzero(same) + i + 1
        far = np.linalg.norm(colours[candidates] - colours[i], axis=2).max(axis=1) > colour_distance
        pairs += [(types[i].name, types[j].name) for j in candidates[~far]]
    return pairs
