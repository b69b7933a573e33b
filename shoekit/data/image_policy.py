"""Which images shoekit reads: the one size policy of every entry point (training, evaluation,
dataset checks, folder import, cut-outs, query images, the workbench's uploads).

An image must have at least `MIN_SIDE` px on its shortest side (smaller crops carry no usable
detail) and at most `MAX_PIXELS` pixels (width × height), checked from the file's header before
anything is decoded, so a 144-megapixel file costs nothing to refuse. Only the first frame of a
multi-frame file (an animated GIF, a multi-page TIFF) is ever used; `frame_note` says so.
"""

from __future__ import annotations

MIN_SIDE = 16                    # px, shortest side
MAX_PIXELS = 50_000_000          # width × height


def size_problem(width: int, height: int, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS) -> str | None:
    """Why a `width` × `height` px image is refused (with the fix), or None when its size is usable."""
    if min(width, height) < min_side:
        return f"{width}×{height} px is too small (at least {min_side} px a side); give a larger crop of the shoe"
    if width * height > max_pixels:
        return (f"{width}×{height} px ({width * height / 1e6:.1f} megapixels) is over the "
                f"{max_pixels / 1e6:.0f}-megapixel limit; crop the shoe out of the frame first")
    return None


def frame_note(image) -> str | None:
    """A note when the PIL `image` holds more than one frame (only the first is used), else None."""
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        return f"{frames} frames ({image.format or 'animated'} file): only the first frame is used"
    return None
