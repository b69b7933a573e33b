"""CCTV simulation: turn an RGBA shoe cut-out into a crop as a surveillance camera records it.

The pipeline, in order (every factor is a field of CCTVParams, drawn from a CCTVRanges):

1. a procedural floor (`floor`) and the cut-out placed on it: scaled so its long side covers
   `scale` of the crop, rotated in-plane by `rotation_deg`, moved off-centre by `shift_x/y`,
   seen with a mild keystone `perspective_x/y`;
2. motion blur of the shoe only, `motion_blur_px` long, along its heel→toe (walking) line;
3. a soft contact shadow under the shoe (`shadow` darkness), then compositing;
4. defocus of the whole scene (`defocus_sigma`);
5. exposure: `brightness` gain, colour cast (`cast_red`, `cast_blue` gains), `gamma`;
6. the sensor: the crop shrunk to `sensor_px` a side (the shoe becomes a few dozen pixels),
   zero-mean noise of standard deviation `noise_sigma`, JPEG at `jpeg_quality`, then scaled
   back up to the crop.

The toe and heel points go through the same geometric transform as the pixels (the resizes of
step 6 keep pixel positions), so `Crop.toe/heel` are where the shoe's toe and heel are.
One seed gives one image: `simulate_crop(cutout, seed=s)` is deterministic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from shoekit.data.cutout import OPAQUE_LEVEL, Cutout
from shoekit.data.floors import FLOORS, render_floor
from shoekit.errors import ImageError

Point = tuple[float, float]
Range = tuple[float, float]

INTEGER_FACTORS: tuple[str, ...] = ("sensor_px", "jpeg_quality")
KEYPOINT_MARGIN_PX = 1.0  # toe and heel are kept at least this far inside the crop


@dataclass(frozen=True)
class CCTVRanges:
    """One camera preset: a (low, high) range, inclusive, for every factor of CCTVParams.

    Units: scale, shift and perspective are fractions of the crop side; rotation in degrees
    (positive turns counter-clockwise on screen); blur lengths and sigmas in crop pixels;
    brightness and casts are gains (cast 0.1 = +10% red or blue); sensor_px in pixels;
    noise_sigma in grey levels (0-255); jpeg_quality 1-100; shadow darkness 0-1.
    """

    name: str
    scale: Range
    shift_x: Range
    shift_y: Range
    rotation_deg: Range
    perspective_x: Range
    perspective_y: Range
    motion_blur_px: Range
    defocus_sigma: Range
    brightness: Range
    cast_red: Range
    cast_blue: Range
    gamma: Range
    sensor_px: Range
    noise_sigma: Range
    jpeg_quality: Range
    shadow: Range


FACTORS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CCTVRanges) if f.name != "name")


@dataclass(frozen=True)
class CCTVParams:
    """The concrete value of every factor for one crop (units as in CCTVRanges), plus the
    camera preset and floor it was drawn for."""

    camera: str
    floor: str
    scale: float
    shift_x: float
    shift_y: float
    rotation_deg: float
    perspective_x: float
    perspective_y: float
    motion_blur_px: float
    defocus_sigma: float
    brightness: float
    cast_red: float
    cast_blue: float
    gamma: float
    sensor_px: int
    noise_sigma: float
    jpeg_quality: int
    shadow: float


@dataclass
class Crop:
    """A simulated CCTV crop: `image` (size, size, 3) uint8 RGB; `toe` and `heel` as (x, y)
    pixel positions in it; `params` the values used (the shift or scale may be smaller than
    drawn when the drawn ones would push the toe or heel out of the crop); `mask` (size, size)
    uint8: how much of each pixel is shoe (255 all, 0 none), the cut-out's alpha after every
    geometric step of the simulation (placement, perspective, motion blur)."""

    image: np.ndarray
    toe: Point
    heel: Point
    params: CCTVParams
    mask: np.ndarray


CAMERAS: dict[str, CCTVRanges] = {
    # entrance, daylight: bright, sharp, the shoe large and nearly level
    "cam1": CCTVRanges(
        name="cam1", scale=(0.6, 0.85), shift_x=(-0.06, 0.06), shift_y=(-0.06, 0.06),
        rotation_deg=(-20.0, 20.0), perspective_x=(-0.08, 0.08), perspective_y=(-0.08, 0.08),
        motion_blur_px=(0.0, 4.0), defocus_sigma=(0.0, 0.7), brightness=(0.95, 1.25),
        cast_red=(-0.04, 0.08), cast_blue=(-0.08, 0.04), gamma=(0.85, 1.1),
        sensor_px=(56, 96), noise_sigma=(1.0, 4.0), jpeg_quality=(55, 90), shadow=(0.35, 0.6)),
    # corridor, dim indoor light: dark and warm, noisy, softer, more motion blur
    "cam2": CCTVRanges(
        name="cam2", scale=(0.55, 0.8), shift_x=(-0.08, 0.08), shift_y=(-0.08, 0.08),
        rotation_deg=(-35.0, 35.0), perspective_x=(-0.12, 0.12), perspective_y=(-0.12, 0.12),
        motion_blur_px=(1.0, 6.0), defocus_sigma=(0.3, 1.2), brightness=(0.45, 0.8),
        cast_red=(0.0, 0.15), cast_blue=(-0.15, 0.0), gamma=(1.0, 1.35),
        sensor_px=(40, 72), noise_sigma=(3.0, 8.0), jpeg_quality=(35, 75), shadow=(0.2, 0.45)),
    # high wide-angle ceiling camera: small shoe, any walking direction, strong keystone
    "cam3": CCTVRanges(
        name="cam3", scale=(0.5, 0.75), shift_x=(-0.08, 0.08), shift_y=(-0.08, 0.08),
        rotation_deg=(-60.0, 60.0), perspective_x=(-0.18, 0.18), perspective_y=(-0.18, 0.18),
        motion_blur_px=(0.5, 5.0), defocus_sigma=(0.2, 1.0), brightness=(0.7, 1.05),
        cast_red=(-0.1, 0.02), cast_blue=(0.0, 0.12), gamma=(0.9, 1.2),
        sensor_px=(32, 60), noise_sigma=(2.0, 6.0), jpeg_quality=(30, 70), shadow=(0.25, 0.5)),
}


def sample_params(rng: np.random.Generator, ranges: CCTVRanges, floor: str | None = None) -> CCTVParams:
    """Draw every factor uniformly from `ranges` (integers for sensor_px and jpeg_quality).

    The floor is drawn from FLOORS unless given; the draw happens either way, so fixing the
    floor leaves every other factor of a seed unchanged.
    """
    drawn_floor = FLOORS[int(rng.integers(len(FLOORS)))]
    if floor is not None and floor not in FLOORS:
        raise ValueError(f"unknown floor {floor!r}; choose one of {', '.join(FLOORS)}")
    values: dict[str, float | int] = {}
    for factor in FACTORS:
        low, high = getattr(ranges, factor)
        if factor in INTEGER_FACTORS:
            values[factor] = int(rng.integers(int(low), int(high) + 1))
        else:
            values[factor] = float(rng.uniform(low, high))
    return CCTVParams(camera=ranges.name, floor=floor or drawn_floor, **values)


def simulate_crop(cutout: Cutout, *, seed: int, floor: str | None = None, camera: str | None = None,
                  size: int = 120) -> Crop:
    """One simulated crop of `cutout`, deterministic in `seed` (an int >= 0).

    The camera preset (CAMERAS key) and the floor are drawn from the seed unless given.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng([seed, 0])
    drawn_camera = sorted(CAMERAS)[int(rng.integers(len(CAMERAS)))]
    if camera is not None and camera not in CAMERAS:
        raise ValueError(f"unknown camera {camera!r}; choose one of {', '.join(sorted(CAMERAS))}")
    params = sample_params(rng, CAMERAS[camera or drawn_camera], floor)
    return render_crop(cutout, params, seed, size)


def render_crop(cutout: Cutout, params: CCTVParams, seed: int, size: int = 120) -> Crop:
    """Render `cutout` with the factors of `params` into a (size, size) crop.

    `seed` (>= 0) drives the random texture, the floor and the sensor noise, from a stream of
    its own ([seed, 1]); `simulate_crop` draws the params from [seed, 0]. Raises ImageError
    for a cut-out without opaque pixels.
    """
    rng = np.random.default_rng([seed, 1])
    floor = render_floor(params.floor, size, rng).astype(np.float32)
    shoe, to_source = _premultiplied(cutout, params.scale * size)
    matrix, params = _placement(cutout, params, size)
    toe, heel = _transform_points(matrix, [cutout.toe, cutout.heel])
    layer = cv2.warpPerspective(shoe, matrix @ to_source, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    layer = _motion_blur(layer, params.motion_blur_px, toe - heel)
    alpha = cv2.extractChannel(layer, 3)
    lit = 1.0 - params.shadow * _contact_shadow(alpha, matrix, params.scale * size)
    behind = lit * (1.0 - alpha)  # how much (shadowed) floor each pixel shows
    # same-shape array maths: numpy is slow when broadcasting over a trailing RGB axis
    scene = floor * cv2.cvtColor(behind, cv2.COLOR_GRAY2RGB) + cv2.cvtColor(layer, cv2.COLOR_RGBA2RGB)
    if params.defocus_sigma > 0.05:
        scene = cv2.GaussianBlur(scene, (0, 0), params.defocus_sigma)
    frame = cv2.LUT(np.clip(scene + 0.5, 0, 255).astype(np.uint8), _exposure_table(params))
    image = _sensor(frame, params, rng, size)
    mask = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Crop(image=image, toe=(float(toe[0]), float(toe[1])),
                heel=(float(heel[0]), float(heel[1])), params=params, mask=mask)


def _premultiplied(cutout: Cutout, shoe_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out as float32 premultiplied RGBA (RGB 0-255, alpha 0-1), pre-shrunk with area
    averaging when it is much larger than it will appear, and the (3, 3) matrix from its
    pixels back to the cut-out's own pixels (identity when not shrunk)."""
    rgba = cutout.rgba
    shoe = cv2.cvtColor(rgba, cv2.COLOR_RGBA2mRGBA).astype(np.float32)
    shoe[..., 3] *= 1.0 / 255.0
    long_side = max(rgba.shape[:2])
    if shoe_px >= 0.5 * long_side:
        return shoe, np.eye(3)
    factor = 2.0 * shoe_px / long_side
    width = max(1, round(rgba.shape[1] * factor))
    height = max(1, round(rgba.shape[0] * factor))
    fx, fy = width / rgba.shape[1], height / rgba.shape[0]
    # cv2.resize keeps pixel centres: small = (big + 0.5) * f - 0.5
    to_source = np.array([[1 / fx, 0.0, 0.5 / fx - 0.5], [0.0, 1 / fy, 0.5 / fy - 0.5],
                          [0.0, 0.0, 1.0]])
    return cv2.resize(shoe, (width, height), interpolation=cv2.INTER_AREA), to_source


def _placement(cutout: Cutout, params: CCTVParams, size: int):
    """(3, 3) homography from cut-out pixels to crop pixels, and the params used.

    The drawn shift is scaled back towards the centre (then the scale reduced) only when the
    toe or heel would otherwise leave the crop.
    """
    opaque = cutout.rgba[..., 3] >= OPAQUE_LEVEL
    rows, cols = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    if len(rows) == 0:
        raise ImageError("the cut-out has no opaque pixels (alpha >= 128); nothing to place "
                         "in a crop — check how it was made or loaded")
    box_centre = np.array([(cols[0] + cols[-1]) / 2.0, (rows[0] + rows[-1]) / 2.0])
    long_side = max(cols[-1] - cols[0], rows[-1] - rows[0]) + 1.0
    keypoints = [cutout.toe, cutout.heel]
    low, high = KEYPOINT_MARGIN_PX, size - 1.0 - KEYPOINT_MARGIN_PX
    used = params
    for attempt in range(12):
        shrink = 0.9 ** max(0, attempt - 4)
        shift_factor = max(0.0, 1.0 - 0.25 * attempt)
        used = dataclasses.replace(params, scale=params.scale * shrink,
                                   shift_x=params.shift_x * shift_factor,
                                   shift_y=params.shift_y * shift_factor)
        matrix = _homography(used, size, box_centre, long_side)
        points = _transform_points(matrix, keypoints)
        if points.min() >= low and points.max() <= high:
            break
    return matrix, used


def _homography(params: CCTVParams, size: int, box_centre: np.ndarray, long_side: float) -> np.ndarray:
    """Cut-out pixels -> crop pixels: centre the mask box, scale, rotate, shift, keystone."""
    scale = params.scale * size / long_side
    angle = np.deg2rad(params.rotation_deg)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    centre = size / 2.0 - 0.5
    target = (centre + params.shift_x * size, centre + params.shift_y * size)
    # counter-clockwise on screen (y down) is a negative angle in the usual maths formula
    affine = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    affine[:2, 2] = np.asarray(target) - affine[:2, :2] @ box_centre
    keystone = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],
                         [params.perspective_x / size, params.perspective_y / size, 1.0]])
    to_centre = np.array([[1.0, 0.0, -centre], [0.0, 1.0, -centre], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, centre], [0.0, 1.0, centre], [0.0, 0.0, 1.0]])
    return back @ keystone @ to_centre @ affine


def _transform_points(matrix: np.ndarray, points) -> np.ndarray:
    """(N, 2) float64 points mapped by a (3, 3) homography."""
    p = np.hstack([np.asarray(points, np.float64).reshape(-1, 2), np.ones((len(points), 1))])
    mapped = p @ matrix.T
    return mapped[:, :2] / mapped[:, 2:]


def _motion_blur(layer: np.ndarray, length: float, direction: np.ndarray) -> np.ndarray:
    """Blur the premultiplied shoe layer along `direction` over `length` pixels."""
    if length < 1.0:
        return layer
    half = int(np.ceil(length / 2.0))
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.uint8)
    unit = direction / max(float(np.linalg.norm(direction)), 1e-9)
    ends = np.array([half, half]) + np.outer([-0.5, 0.5], unit * length)
    fixed = np.round(ends * 16).astype(np.int32)
    cv2.line(kernel, tuple(fixed[0]), tuple(fixed[1]), 255, 1, cv2.LINE_AA, 4)
    weights = kernel.astype(np.float32)
    return cv2.filter2D(layer, -1, weights / weights.sum(), borderType=cv2.BORDER_CONSTANT)


def _contact_shadow(alpha: np.ndarray, matrix: np.ndarray, shoe_px: float) -> np.ndarray:
    """(H, W) float32 0-1: the shoe's mask pushed a little towards its sole and blurred."""
    centre = np.array([alpha.shape[1] / 2.0, alpha.shape[0] / 2.0])
    inverse = np.linalg.inv(matrix)
    cutout_centre = _transform_points(inverse, [centre])[0]
    down = _transform_points(matrix, [cutout_centre + (0.0, 1.0)])[0] - centre
    down = down / max(float(np.linalg.norm(down)), 1e-9) * 0.04 * shoe_px
    moved = cv2.warpAffine(alpha, np.array([[1.0, 0.0, down[0]], [0.0, 1.0, down[1]]]),
                           (alpha.shape[1], alpha.shape[0]), borderValue=0)
    return cv2.GaussianBlur(moved, (0, 0), max(0.05 * shoe_px, 0.5))


def _exposure_table(params: CCTVParams) -> np.ndarray:
    """(1, 256, 3) uint8 lookup: level -> 255 · clip(level/255 · gain)^gamma, per channel."""
    gains = params.brightness * np.array([1.0 + params.cast_red, 1.0, 1.0 + params.cast_blue])
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    table = 255.0 * np.clip(levels * gains, 0.0, 1.0) ** params.gamma
    return np.clip(table + 0.5, 0, 255).astype(np.uint8)[None]


def _sensor(frame: np.ndarray, params: CCTVParams, rng: np.random.Generator, size: int) -> np.ndarray:
    """Shrink to the sensor's resolution, add noise, JPEG-compress, scale back to `size`."""
    sensor = min(params.sensor_px, size)
    small = cv2.resize(frame, (sensor, sensor), interpolation=cv2.INTER_AREA)
    # zero-mean uniform noise of standard deviation noise_sigma: after JPEG it looks like
    # Gaussian sensor noise and is several times faster to draw
    noise = rng.random(small.shape, dtype=np.float32) - np.float32(0.5)
    noisy = small + noise * np.float32(params.noise_sigma * np.sqrt(12.0))
    small = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(cv2.resize(decoded, (size, size), interpolation=cv2.INTER_LINEAR))
