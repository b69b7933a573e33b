"""Files a person uploads through a browser, stored on disk for readers that need a path.

OpenCV's video reader and `shoekit.data.load_cutout` read files, not bytes. (Uploaded query
images are decoded from memory by `shoekit.query_image.load_query_image`.) Every refusal is an
ImageError naming the file and what to do instead, so an interface can show it and carry on.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from shoekit.errors import ImageError

MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_VIDEO_BYTES = 1024 * 1024 * 1024
MAX_CUTOUT_BYTES = 20 * 1024 * 1024
IMAGE_SUFFIXES: tuple[str, ...] = ("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif")


def megabytes(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB"


def store_upload(data: bytes, name: str, suffixes: tuple[str, ...], max_bytes: int,
                 folder: str | Path | None = None) -> Path:
    """Write an uploaded file's bytes to `folder` (default: the system's temp folder) for
    readers that need a path (OpenCV's video reader, `shoekit.data.load_cutout`).

    The file is named by the content's sha256 plus its suffix, so uploading the same file again
    reuses it. ImageError for a suffix not in `suffixes` (lower case, with the dot), an empty
    file, or more than `max_bytes`.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise ImageError(f"{name}: {suffix or 'no suffix'} is not a file type shoekit reads here; "
                         f"use one of {', '.join(suffixes)}")
    if not data:
        raise ImageError(f"{name}: the file is empty; upload it again")
    if len(data) > max_bytes:
        raise ImageError(f"{name}: {megabytes(len(data))} is too large (at most {megabytes(max_bytes)}); "
                         "cut it down first")
    folder = Path(folder or Path(tempfile.gettempdir()) / "shoekit-uploads")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    if not path.is_file():
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)
    return path
