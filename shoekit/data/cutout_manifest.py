"""A cut-out folder's `manifest.csv` (the input of `shoekit make-dataset --cutouts`): read and check it.

A cut-out folder holds RGBA cut-out images plus `manifest.csv`, one row per cut-out:
`identity` (the shoe type), `view` (a name from `shoekit.data.procedural.VIEWS`, or a
trajectory position 0, 1, 2, ...), `path` (relative to the folder, may not leave it) and
optionally `quality` (`ok` or `low`). Each (identity, view) appears once. Rows are numbered
as in `shoekit.data.manifest` (the dataset manifest, whose row and path checks this reuses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shoekit.data.cutout import Cutout, load_cutout
from shoekit.data.manifest import MANIFEST_NAME, path_problem, raise_problems, row_label
from shoekit.errors import ManifestError

QUALITY_VALUES = ("ok", "low")


@dataclass(frozen=True)
class CutoutFile:
    """A cut-out image file of one identity and view."""

    identity: str
    view: str
    path: Path

    def load(self) -> Cutout:
        return load_cutout(self.path)


def read_cutout_manifest(folder: Path, drop_low_quality: bool) -> tuple[list[CutoutFile], int, str]:
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
