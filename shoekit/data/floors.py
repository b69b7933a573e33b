"""Procedural floor textures: the backgrounds CCTV shoe crops are composited onto.

Each floor is drawn from a seeded generator in about a millisecond at crop size, so the
simulation can draw a fresh floor for every crop: colours, tile/plank/paver sizes, joint widths
and the texture noise all vary with the generator, the kind of floor stays the same.

Textures are built as (H, W) tone maps and combined per colour channel at the end: numpy is
many times faster on whole 2-D planes than when broadcasting over a trailing RGB axis.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

FLOORS: tuple[str, ...] = ("asphalt", "ceramic_tiles", "wood", "carpet", "paving")


def render_floor(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw floor `name` (one of FLOORS) as a (size, size, 3) uint8 RGB image.

    The texture is a function of `rng`'s state only: the same state gives the same bytes.
    """
    try:
        painter = _PAINTERS[name]
    except KeyError:
        raise ValueError(f"unknown floor {name!r}; choose one of {', '.join(FLOORS)}") from None
    if size < 1:
        raise ValueError(f"floor size must be at least 1 px, got {size}")
    rgb = painter(size, rng)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float32 value noise in about [-1, 1], with `cells` random values per side."""
    grid = rng.uniform(-1.0, 1.0, (cells + 1, cells + 1)).astype(np.float32)
    # cubic up to 8 px a cell, then linear: smooth like all-cubic at a tenth of the cost
    middle = min(size, 8 * (cells + 1))
    smooth = cv2.resize(grid, (middle, middle), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(smooth, (size, size), interpolation=cv2.INTER_LINEAR)


def _grain(shape: tuple[int, ...], rng: np.random.Generator, amount: float) -> np.ndarray:
    """float32 per-pixel grain of `shape`: zero-mean, standard deviation `amount` (uniform,
    several times faster to draw than Gaussian and no different to the eye)."""
    grain = rng.random(shape, dtype=np.float32) - np.float32(0.5)
    return grain * np.float32(amount * np.sqrt(12.0))


def _hash_unit(ids: np.ndarray, salt: int) -> np.ndarray:
    """A pseudo-random float32 in [0, 1) per integer id (same id and salt -> same value)."""
    mixed = (ids.astype(np.uint64) + np.uint64(salt)) * np.uint64(2654435761) % np.uint64(2**32)
    return ((mixed >> np.uint64(8)) % np.uint64(65536)).astype(np.float32) / 65536.0


def _colour(rng: np.random.Generator, palette: list[tuple[int, int, int]], jitter: float) -> np.ndarray:
    """One palette colour as float32 RGB in [0, 1]: brightness moved by up to 3 × `jitter`,
    each channel by up to `jitter` (a slight hue change, no strong tint)."""
    base = np.asarray(palette[rng.integers(len(palette))], np.float32) / 255.0
    shade = base * rng.uniform(1.0 - 3.0 * jitter, 1.0 + 3.0 * jitter)
    return np.clip(shade + rng.uniform(-jitter, jitter, 3), 0.0, 1.0).astype(np.float32)


def _compose(tone: np.ndarray, colour: np.ndarray, second: np.ndarray | None = None,
             use_second: np.ndarray | None = None, joint: np.ndarray | None = None,
             joint_colour: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) float32 RGB: `colour` (or `second` where `use_second`) times the (H, W) tone
    map, with `joint_colour` painted flat where the boolean `joint` mask is set."""
    planes = []
    for channel in range(3):
        plane = tone * colour[channel]
        if second is not None:
            plane = np.where(use_second, tone * second[channel], plane)
        if joint is not None:
            plane = np.where(joint, joint_colour[channel], plane)
        planes.append(plane.astype(np.float32, copy=False))
    return cv2.merge(planes)


def _asphalt(size: int, rng: np.random.Generator) -> np.ndarray:
    """Grey-black asphalt: mottled tone, light and dark aggregate stones, fine grain."""
    base = _colour(rng, [(70, 70, 72), (95, 93, 90), (55, 57, 60), (110, 108, 104)], 0.01)
    tone = 1.0 + 0.12 * _smooth_noise(size, 4, rng) + 0.08 * _smooth_noise(size, 12, rng)
    speckle = rng.random((size, size), dtype=np.float32)
    stones = np.where(speckle < 0.04, speckle * 12.0 - 0.2, 0.0)  # 4% of pixels, -0.2..+0.28
    tone = tone + _grain((size, size), rng, 0.15) + stones * 3.0
    return cv2.GaussianBlur(_compose(tone, base), (3, 3), 0.6)


def _ceramic_tiles(size: int, rng: np.random.Generator) -> np.ndarray:
    """Square glazed tiles in a grid with grout joints, a tone per tile and a soft sheen."""
    tile = int(rng.integers(max(size // 4, 8), max(size // 2, 10) + 1))
    grout_width = max(1, int(round(tile * rng.uniform(0.04, 0.08))))
    base = _colour(rng, [(225, 222, 214), (190, 190, 195), (160, 120, 95), (215, 205, 180),
                         (120, 130, 140), (235, 235, 235)], 0.03)
    grout = base * rng.uniform(0.55, 0.8)
    offset = rng.integers(0, tile, 2)
    coords = np.arange(size)
    cols = (coords + offset[0]) // tile
    rows = (coords + offset[1]) // tile
    tile_tone = rng.uniform(0.93, 1.05, (rows[-1] + 1, cols[-1] + 1)).astype(np.float32)
    sheen = 1.0 + 0.06 * _smooth_noise(size, 2, rng)
    tone = tile_tone[rows[:, None], cols[None, :]] * sheen + _grain((size, size), rng, 0.012)
    joint = ((coords + offset[1]) % tile < grout_width)[:, None] | \
        ((coords + offset[0]) % tile < grout_width)[None, :]
    return cv2.GaussianBlur(_compose(tone, base, joint=joint, joint_colour=grout), (3, 3), 0.5)


def _wood(size: int, rng: np.random.Generator) -> np.ndarray:
    """Wooden floorboards: planks with staggered end joints, a tone per plank, wavy grain."""
    plank = int(rng.integers(max(size // 8, 4), max(size // 4, 6) + 1))
    base = _colour(rng, [(150, 100, 60), (190, 145, 95), (120, 75, 45), (205, 170, 125),
                         (95, 60, 40)], 0.04)
    y = np.arange(size, dtype=np.float32)[:, None]
    x = np.arange(size, dtype=np.float32)[None, :]
    shifted_y = y + rng.integers(0, plank)
    row = (shifted_y // plank).astype(np.int64)
    rows = int(row.max()) + 1
    plank_tone = rng.uniform(0.82, 1.12, rows).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, rows).astype(np.float32)
    warp = 3.0 * _smooth_noise(size, 3, rng)
    grain = 0.5 + 0.5 * np.sin((y + warp) * np.float32(rng.uniform(0.9, 1.6)) + phase[row] + 0.02 * x)
    tone = (plank_tone[row] * (0.88 + 0.2 * grain * grain * grain)
            * (1.0 + 0.05 * _smooth_noise(size, 6, rng)) + _grain((size, size), rng, 0.01))
    board_length = int(rng.integers(size // 2, size * 2))
    end_joint = (x + rng.integers(0, board_length, rows)[row]) % board_length < 1
    seam = shifted_y % plank < 1
    tone = tone * np.where(seam, 0.55, 1.0) * np.where(end_joint, 0.6, 1.0)
    return cv2.GaussianBlur(_compose(tone, base), (3, 3), 0.5)


def _carpet(size: int, rng: np.random.Generator) -> np.ndarray:
    """Carpet: dense coloured fibre noise, a faint loop pattern and blotchy wear."""
    base = _colour(rng, [(60, 70, 110), (120, 40, 45), (90, 90, 90), (170, 150, 120),
                         (50, 85, 70), (100, 80, 110)], 0.04)
    fibres = cv2.GaussianBlur(_grain((size, size), rng, 1.0), (3, 3), 0.7)
    period = rng.uniform(3.0, 6.0)
    wave = np.sin(np.arange(size, dtype=np.float32) * np.float32(2 * np.pi / period))
    tone = 1.0 + 0.16 * fibres + 0.05 * (wave[:, None] * wave[None, :]) \
        + 0.1 * _smooth_noise(size, 5, rng)
    half = max(1, size // 2)
    tint = cv2.resize(_grain((half, half, 3), rng, 0.05), (size, size),
                      interpolation=cv2.INTER_NEAREST)
    return _compose(tone, base) * (1.0 + tint)


def _paving(size: int, rng: np.random.Generator) -> np.ndarray:
    """Patterned paving: 2:1 bricks in a running bond or a basket weave, sand joints, two tones."""
    brick = int(rng.integers(max(size // 8, 6), max(size // 5, 8) + 1))
    joint_width = max(1, brick // 8)
    tones = [_colour(rng, [(150, 70, 55), (170, 160, 150), (120, 110, 105), (180, 120, 80),
                           (90, 90, 95)], 0.04) for _ in range(2)]
    sand = np.asarray([0.72, 0.66, 0.55], np.float32) * np.float32(rng.uniform(0.8, 1.0))
    y = np.arange(size)[:, None] + rng.integers(0, 4 * brick)
    x = np.arange(size)[None, :] + rng.integers(0, 4 * brick)
    if rng.random() < 0.5:  # running bond: rows of 2:1 bricks, every other row shifted by half
        row = y // brick
        x_shifted = x + (row % 2) * brick
        cell_id = row * 4099 + x_shifted // (2 * brick)
        joint = (y % brick < joint_width) | (x_shifted % (2 * brick) < joint_width)
    else:  # basket weave: squares of two parallel bricks, alternately horizontal and vertical
        block = 2 * brick
        vertical = ((y // block) + (x // block)) % 2 == 1
        along = np.where(vertical, x, y)
        across = np.where(vertical, y, x)
        cell_id = (y // block) * 4099 + (x // block) * 3 + (along % block) // brick
        joint = (along % brick < joint_width) | (across % block < joint_width)
    cell_tone = _hash_unit(cell_id, int(rng.integers(2**31)))
    tone = (0.92 + 0.14 * cell_tone) * (1.0 + 0.08 * _smooth_noise(size, 8, rng)) \
        + _grain((size, size), rng, 0.03)
    rgb = _compose(tone, tones[0], second=tones[1], use_second=cell_tone >= 0.7,
                   joint=np.broadcast_to(joint, (size, size)), joint_colour=sand)
    return cv2.GaussianBlur(rgb, (3, 3), 0.6)


_PAINTERS: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "asphalt": _asphalt,
    "ceramic_tiles": _ceramic_tiles,
    "wood": _wood,
    "carpet": _carpet,
    "paving": _paving,
}
