"""The error a gallery index raises on bad input (another model, a corrupt file, NaN features)."""

from __future__ import annotations

from shoekit.errors import ShoekitError


class GalleryIndexError(ShoekitError):
    """An index file is unreadable, or features do not fit it (another model/head, NaN, shape)."""
