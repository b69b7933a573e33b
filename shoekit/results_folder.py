"""A results folder (`shoekit reproduce` / `shoekit ablate` `--out`, such as results/cpu): the small
files committed beside a reproduction, so that notebooks and the workbench draw its tables and
figures on a fresh clone, without the run folders (checkpoints, features) behind them.

    table1.csv, table2.csv, table3.csv, ablation.csv, differences.csv, fig9.csv, train_logs.csv
                   the tables (written by reproduce / ablate; ours in %, the paper's beside)
    curves.csv     run, head, rank, cmc, rank1, mAP     every evaluated head of every finished
                   run: CMC at ranks 1..CURVE_RANKS, Rank-1 and mAP (fractions)
    query_ap.csv   run, head, query, ap                 per-query average precision (fraction;
                   empty: the query has no positive in the gallery); `query` is the position in
                   the dataset's query split (no file names: a folder may be committed where the
                   dataset may not)
    scores.csv     run, head, left, right, matching, non_matching
                   histogram (SCORE_BINS bins over [-1, 1]) of the cosine similarity of matching
                   and non-matching query–gallery pairs: pair counts per bin
    thresholds.csv run, head, target_fpr, threshold, tpr, fpr, non_matching_pairs
                   `shoekit.figures.tpr_at_fpr` of the same pairs

`write_run_files` writes the last four from run folders (replacing the rows of the runs it is
given, keeping the others); the readers raise `DataError` naming the file and the command that
writes it when a file or a run's rows are missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from shoekit.errors import DataError
from shoekit.runs import write_text

CURVES_FILE = "curves.csv"
QUERY_AP_FILE = "query_ap.csv"
SCORES_FILE = "scores.csv"
THRESHOLDS_FILE = "thresholds.csv"
CURVE_RANKS = 50
SCORE_BINS = 100
WRITTEN_BY = "shoekit reproduce (or shoekit ablate) with this folder as --out"


def run_tables(run_dir: Path, name: str) -> dict[str, pd.DataFrame]:
    """The four per-run tables of one evaluation `name` of `run_dir` (a head, or a head with
    post-processing such as `bnneck+qe3`), without the `run` column.

    Reads RUN/eval/NAME (cmc.csv, metrics.json, rankings.npz, features.npz) and the manifest of the
    dataset it was evaluated on, for the identities of the pairs. Pair scores are the cosine
    similarities of the saved features (post-processing changes the ranking, not the features).
    """
    from shoekit.data import read_manifest
    from shoekit.figures.scores import pair_scores, tpr_at_fpr
    from shoekit.runs import dataset_folder, read_config, read_eval_cmc, read_eval_metrics, read_features, read_rankings

    metrics = read_eval_metrics(run_dir, name)
    cmc = read_eval_cmc(run_dir, name)
    ranks = min(CURVE_RANKS, len(cmc))
    curves = pd.DataFrame({"head": name, "rank": np.arange(1, ranks + 1), "cmc": cmc[:ranks],
                           "rank1": float(metrics["rank1"]), "mAP": float(metrics["mAP"])})
    ap = read_rankings(run_dir, name).ap
    query_ap = pd.DataFrame({"head": name, "query": np.arange(len(ap)), "ap": ap})
    features = read_features(run_dir, name)
    identities = read_manifest(dataset_folder(run_dir, metrics.get("data") or read_config(run_dir).data))["identity"]
    matching, non_matching = pair_scores(features.query, features.gallery,
                                         identities.loc[features.query_rows].to_numpy(),
                                         identities.loc[features.gallery_rows].to_numpy())
    edges = np.linspace(-1.0, 1.0, SCORE_BINS + 1)
    scores = pd.DataFrame({"head": name, "left": edges[:-1], "right": edges[1:],
                           "matching": np.histogram(np.clip(matching, -1, 1), edges)[0],
                           "non_matching": np.histogram(np.clip(non_matching, -1, 1), edges)[0]})
    thresholds = tpr_at_fpr(matching, non_matching).assign(head=name)
    return {CURVES_FILE: curves, QUERY_AP_FILE: query_ap, SCORES_FILE: scores, THRESHOLDS_FILE: thresholds}


def write_run_files(out: str | Path, runs: Mapping[str, Path], heads: Mapping[str, Iterable[str]]) -> None:
    """Write curves.csv, query_ap.csv, scores.csv and thresholds.csv of `runs` ({name: run folder})
    into `out`, for the evaluations `heads[name]` of each (their `head` column: the evaluation's
    name, e.g. `max` or `bnneck+qe3`); rows of other runs already there are kept."""
    out = Path(out)
    new: dict[str, list[pd.DataFrame]] = {name: [] for name in (CURVES_FILE, QUERY_AP_FILE, SCORES_FILE,
                                                                  THRESHOLDS_FILE)}
    for run, run_dir in runs.items():
        for head in heads[run]:
            for name, table in run_tables(Path(run_dir), head).items():
                new[name].append(table.assign(run=run))
    for name, tables in new.items():
        if not tables:
            continue
        fresh = pd.concat(tables, ignore_index=True)
        path = out / name
        if path.is_file():
            kept = pd.read_csv(path)
            fresh = pd.concat([kept[~kept["run"].isin(set(runs))], fresh], ignore_index=True)
        columns = ["run", "head", *[c for c in fresh.columns if c not in ("run", "head")]]
        write_text(path, fresh[columns].to_csv(index=False, float_format="%.6g"))


def read_table(out: str | Path, name: str) -> pd.DataFrame:
    """`out/name` as a table (`name` such as "table1.csv"); DataError naming the file when it is missing."""
    path = Path(out) / name
    if not path.is_file():
        raise DataError(f"{path} does not exist: write it with {WRITTEN_BY}, or open the notebook "
                        "with train=True to train what is missing")
    return pd.read_csv(path)


def run_rows(out: str | Path, name: str, run: str, head: str) -> pd.DataFrame:
    """The rows of (`run`, `head`) in `out/name`; DataError naming the file, run and head when none."""
    table = read_table(out, name)
    rows = table[(table["run"] == run) & (table["head"] == head)]
    if rows.empty:
        raise DataError(f"{Path(out) / name} has no rows of run {run} head {head}: write them with "
                        f"{WRITTEN_BY} once that run is trained and evaluated")
    return rows


def read_curves(out: str | Path, runs: Mapping[str, str], head: str):
    """{label: CMCCurve} of `runs` ({label: run name}) and `head`, from `out/curves.csv`."""
    from shoekit.figures.cmc import CMCCurve

    curves = {}
    for label, run in runs.items():
        rows = run_rows(out, CURVES_FILE, run, head).sort_values("rank")
        curves[label] = CMCCurve(cmc=rows["cmc"].to_numpy(float), rank1=float(rows["rank1"].iloc[0]),
                                 mAP=float(rows["mAP"].iloc[0]))
    return curves


def read_query_ap(out: str | Path, run: str, head: str) -> pd.DataFrame:
    """Columns query, ap of (`run`, `head`) from `out/query_ap.csv`, in query order."""
    return run_rows(out, QUERY_AP_FILE, run, head).sort_values("query")[["query", "ap"]]


def read_scores(out: str | Path, run: str, head: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(histogram: left, right, matching, non_matching; thresholds: target_fpr, threshold, tpr, fpr,
    non_matching_pairs) of (`run`, `head`), for `shoekit.figures.score_histogram_figure`."""
    histogram = run_rows(out, SCORES_FILE, run, head)[["left", "right", "matching", "non_matching"]]
    thresholds = run_rows(out, THRESHOLDS_FILE, run, head)[["target_fpr", "threshold", "tpr", "fpr",
                                                             "non_matching_pairs"]]
    return histogram.reset_index(drop=True), thresholds.reset_index(drop=True)


TABLE_FILES = ("table1.csv", "table2.csv", "table3.csv")


def find_results_folders(root: str | Path) -> dict[str, Path]:
    """{label: folder} of the results folders under `root` (any depth) that hold a table of
    TABLE_FILES, sorted; the label is the folder's path as given (e.g. `results/cpu`)."""
    root = Path(root)
    folders = sorted({path.parent for name in TABLE_FILES for path in root.glob(f"**/{name}")
                      if "runs" not in path.relative_to(root).parts})
    return {folder.as_posix(): folder for folder in folders}


def table1_curves(out: str | Path, seed: int = 0):
    """{attention: CMCCurve} of the finished Table 1 rows of `out` (FC features, ε = 0, `seed`)."""
    from shoekit.reproduce import run_name

    table = read_table(out, "table1.csv").dropna(subset=["mAP"])
    return read_curves(out, {attention: run_name(attention, 0.0, seed) for attention in table["attention"]}, "fc")
