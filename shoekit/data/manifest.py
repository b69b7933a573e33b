"""A dataset folder's `manifest.csv`: read it, check it, hash it, write it.

A dataset folder holds images plus `manifest.csv`, one row per image:

- required: `path` (relative to the folder, may not leave it), `identity` (the shoe type),
  `split` (one of `SPLITS`);
- optional: `camera`, `background` (the floor), `view`, the keypoints
  `toe_x, toe_y, heel_x, heel_y` (pixels of that image; all four or none), and `mask` (the
  crop's shoe mask, a path like `path`: see `shoekit.data.masks`).

Rows are numbered from 0 in file order ("row 0" is the first line after the header); every
error names the row, the column or value, and the fix.
"""

from __future__ import annotations

import hashlib
import posixpath
import warnings
from collections import defaultdict
from pathlib import Path

import pandas as pd
from PIL import Image

from shoekit.choices import SPLITS
from shoekit.data.image_policy import MIN_SIDE, size_problem
from shoekit.errors import ManifestError

MANIFEST_NAME = "manifest.csv"
REQUIRED_COLUMNS: tuple[str, ...] = ("path", "identity", "split")
KEYPOINT_COLUMNS: tuple[str, ...] = ("toe_x", "toe_y", "heel_x", "heel_y")
OPTIONAL_COLUMNS: tuple[str, ...] = ("camera", "background", "view", *KEYPOINT_COLUMNS, "mask")
MAX_LISTED_PROBLEMS = 20


def manifest_path(root: str | Path) -> Path:
    """The manifest file of dataset folder `root`."""
    return Path(root) / MANIFEST_NAME


def manifest_hash(root: str | Path) -> str:
    """sha256 hex digest of the bytes of `root/manifest.csv` (saved with every run)."""
    path = manifest_path(root)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error}); build the "
                            f"dataset first (shoekit make-dataset --out {root})") from error


def row_label(path: Path, row: int) -> str:
    """How messages name a manifest row: `<file> row <n> (line <n+2>)`."""
    return f"{path} row {row} (line {row + 2})"


def raise_problems(path: Path, problems: list[str]) -> None:
    """Raise one ManifestError listing `problems` (at most MAX_LISTED_PROBLEMS), if any."""
    if not problems:
        return
    listed = problems[:MAX_LISTED_PROBLEMS]
    more = len(problems) - len(listed)
    tail = f"\n  ... and {more} more" if more else ""
    raise ManifestError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(listed) + tail)


def path_problem(value: str) -> str | None:
    """Why a manifest `path` value is not a relative path inside the folder, or None if it is."""
    posix = value.replace("\\", "/")
    if posixpath.isabs(posix) or (len(posix) > 1 and posix[1] == ":"):
        return "is absolute"
    normal = posixpath.normpath(posix)
    if normal == ".." or normal.startswith("../"):
        return "leaves the dataset folder"
    if normal == ".":
        return "names the folder itself, not an image"
    return None


def read_manifest(root: str | Path) -> pd.DataFrame:
    """Read and check `root/manifest.csv`; no file access beyond the manifest itself.

    Returns a DataFrame with a RangeIndex (the row numbers): text columns as `str`
    (`view` too), keypoint columns as float64 (NaN where a row has none). Raises ManifestError
    for a missing/unparsable file, missing required columns, empty required values, an unknown
    split, a path that is absolute or leaves the folder, or keypoints that are not numbers or
    not all four given.
    """
    path = manifest_path(root)
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest.csv in this folder; build one with `shoekit "
                            f"make-dataset --out {root}` or `shoekit import-folder {root}`")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: not a readable CSV file ({error}); "
                            "fix the file or rebuild the dataset") from error
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ManifestError(
            f"{path}: missing required column(s) {', '.join(missing)} (found: "
            f"{', '.join(table.columns) or 'none'}); a manifest needs at least "
            f"{', '.join(REQUIRED_COLUMNS)} in its header line")
    present_keypoints = [column for column in KEYPOINT_COLUMNS if column in table.columns]
    if present_keypoints and len(present_keypoints) < len(KEYPOINT_COLUMNS):
        absent = [column for column in KEYPOINT_COLUMNS if column not in table.columns]
        raise ManifestError(f"{path}: keypoint column(s) {', '.join(absent)} missing; "
                            f"give all of {', '.join(KEYPOINT_COLUMNS)} or none")
    table = table.apply(lambda column: column.str.strip())
    problems = check_rows(path, table)
    if present_keypoints:
        table, keypoint_problems = parse_keypoints(path, table)
        problems += keypoint_problems
    raise_problems(path, problems)
    return table.reset_index(drop=True)


def check_rows(path: Path, table: pd.DataFrame) -> list[str]:
    """Per-row problems of the required columns (empty values, unknown split, bad path) and of
    the `mask` paths."""
    problems = []
    for row, record in enumerate(table[list(REQUIRED_COLUMNS)].itertuples(index=False)):
        where = row_label(path, row)
        for column, value in zip(REQUIRED_COLUMNS, record):
            if value == "":
                problems.append(f"{where}: empty `{column}`; fill it in or delete the row")
        if record.split and record.split not in SPLITS:
            problems.append(f"{where}: split {record.split!r} is not one of "
                            f"{', '.join(SPLITS)}; correct the spelling")
        if record.path and (why := path_problem(record.path)):
            problems.append(f"{where}: path {record.path!r} {why}; give the image path "
                            "relative to the folder that holds manifest.csv, inside it")
    for row, value in enumerate(table["mask"] if "mask" in table.columns else ()):
        if value and (why := path_problem(value)):
            problems.append(f"{row_label(path, row)}: mask {value!r} {why}; give the mask's path "
                            "relative to the folder that holds manifest.csv, inside it")
    return problems


def parse_keypoints(path: Path, table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Convert the keypoint columns to float; report rows with text or only some of the four."""
    problems = []
    text = table[list(KEYPOINT_COLUMNS)]
    numbers = text.apply(lambda column: pd.to_numeric(column.replace("", None), errors="coerce"))
    not_numbers = (text != "") & numbers.isna()
    for row, column in zip(*not_numbers.to_numpy().nonzero()):
        problems.append(f"{row_label(path, int(row))}: {KEYPOINT_COLUMNS[column]} "
                        f"{text.iat[row, column]!r} is not a number; write pixels like 57.5")
    given = (text != "").sum(axis=1)
    for row in ((given > 0) & (given < len(KEYPOINT_COLUMNS))).to_numpy().nonzero()[0]:
        problems.append(f"{row_label(path, int(row))}: only some of {', '.join(KEYPOINT_COLUMNS)} "
                        "are given; give all four or leave all four empty")
    table = table.copy()
    table[list(KEYPOINT_COLUMNS)] = numbers.astype("float64")
    return table, problems


def validate_dataset(root: str | Path, manifest: pd.DataFrame | None = None,
                     check_images: bool = True) -> list[str]:
    """Check a dataset folder before training or evaluation; return warnings.

    Raises ManifestError naming each offending row and the fix for: everything
    `read_manifest` checks, a path listed twice, a missing image file, an unreadable image
    (only with `check_images`, which opens and decodes every image), an identity in both
    `train` and `query`/`gallery`, and a `distractor` identity that is also a `query`
    identity. Returns warnings (strings) for query identities without any gallery image.
    """
    root = Path(root)
    path = manifest_path(root)
    table = read_manifest(root) if manifest is None else manifest
    problems = duplicate_path_problems(path, table)
    problems += file_problems(root, table, check_images)
    problems += identity_problems(path, table)
    raise_problems(path, problems)
    return query_warnings(path, table)


def duplicate_path_problems(path: Path, table: pd.DataFrame) -> list[str]:
    """Rows repeating an earlier row's image path (after normalising `a/./b` to `a/b`)."""
    first_row: dict[str, int] = {}
    problems = []
    for row, value in enumerate(table["path"]):
        key = posixpath.normpath(value.replace("\\", "/"))
        if key in first_row:
            problems.append(f"{row_label(path, row)}: path {value!r} is already listed in row "
                            f"{first_row[key]}; list every image once")
        else:
            first_row[key] = row
    return problems


def file_problems(root: Path, table: pd.DataFrame, check_images: bool) -> list[str]:
    """Rows whose image file is missing, reached through a link that leads out of the dataset
    folder, or (with `check_images`) cannot be decoded."""
    path = manifest_path(root)
    inside = root.resolve()
    problems = []
    for row, value in enumerate(table["path"]):
        image_path = root / value
        if not image_path.is_file():
            problems.append(f"{row_label(path, row)}: image {image_path} does not exist; "
                            "restore the file or delete the row")
        elif why := escape_problem(image_path, inside):
            problems.append(f"{row_label(path, row)}: {why}")
        elif check_images and (why := image_problem(image_path)):
            problems.append(f"{row_label(path, row)}: image {image_path} cannot be read "
                            f"({why}); replace the file or delete the row")
    return problems


def escape_problem(image_path: Path, folder: Path) -> str | None:
    """Why `image_path` may not be read as part of the dataset in `folder` (already resolved):
    a link leading out of it, with the fix; None when the file really lies inside."""
    target = image_path.resolve()
    if target.is_relative_to(folder):
        return None
    return (f"image {image_path} is a link to {target}, outside the dataset folder {folder}; copy "
            "the file into the folder (shoekit reads no file outside a dataset)")


def image_problem(image_path: Path, min_side: int = MIN_SIDE) -> str | None:
    """Why `image_path` cannot be used (PIL cannot fully decode it, or its size is outside
    `shoekit.data.image_policy`, checked before decoding), or None if it can."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size_problem decides
            with Image.open(image_path) as image:
                if why := size_problem(*image.size, min_side=min_side):
                    return why
                image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return str(error) or type(error).__name__
    return None


def rows_by_identity(table: pd.DataFrame, split: str) -> dict[str, list[int]]:
    """identity -> row numbers of `split`, in file order."""
    rows: dict[str, list[int]] = defaultdict(list)
    for row, (identity, row_split) in enumerate(zip(table["identity"], table["split"])):
        if row_split == split:
            rows[identity].append(row)
    return rows


def identity_problems(path: Path, table: pd.DataFrame) -> list[str]:
    """Identities leaking from training into the test splits, or distractors that are queries."""
    by_split = {split: rows_by_identity(table, split) for split in SPLITS}
    problems = []
    for split in ("query", "gallery"):
        for identity, rows in by_split[split].items():
            if identity in by_split["train"]:
                problems.append(
                    f"{row_label(path, rows[0])}: identity {identity!r} is in split {split!r} "
                    f"and also in 'train' (row {by_split['train'][identity][0]} and others); "
                    "test identities must be unseen in training: move all its rows to one side")
    for identity, rows in by_split["distractor"].items():
        if identity in by_split["query"]:
            problems.append(
                f"{row_label(path, rows[0])}: distractor identity {identity!r} is also a query "
                f"identity (row {by_split['query'][identity][0]}); its crops would count as "
                "matches: mark them 'gallery' or use another identity for distractors")
    return problems


def query_warnings(path: Path, table: pd.DataFrame) -> list[str]:
    """Warnings for query identities that have no gallery image (they can never be matched)."""
    gallery = rows_by_identity(table, "gallery")
    return [f"{row_label(path, rows[0])}: query identity {identity!r} has no gallery image; its "
            f"{len(rows)} query row(s) can never be matched: add gallery crops or drop them"
            for identity, rows in rows_by_identity(table, "query").items()
            if identity not in gallery]


def write_manifest(table: pd.DataFrame, root: str | Path) -> Path:
    """Write `table` as `root/manifest.csv` byte-for-byte reproducibly.

    Columns: the required ones, then the optional ones present, then any others, in that
    order; keypoints with 2 decimals; `\\n` line ends; UTF-8. Returns the file's path.
    """
    known = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in table.columns]
    columns = known + [c for c in table.columns if c not in known]
    path = manifest_path(root)
    temporary = path.with_name(path.name + ".tmp")
    table[columns].to_csv(temporary, index=False, float_format="%.2f", lineterminator="\n",
                          encoding="utf-8")
    temporary.replace(path)
    return path
