"""Compare evaluated runs: one metrics table, with the paper's numbers beside ours.

The paper's numbers come from `shoekit.paper` and were measured on its private data; they are
references for the shape of the results, not targets our data can be scored against.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shoekit import paper
from shoekit.catalog import RunSummary
from shoekit.config import PAPER_RECIPE

PAPER_BEST_EPSILON: float = PAPER_RECIPE["label_smoothing"]  # Table 3's best, as the paper recipe trains it


def paper_reference(attention: str, head: str, label_smoothing: float) -> dict | None:
    """The paper's {"rank1", "mAP"} (percent) for the closest setting it reports, or None.

    dual_pool with label smoothing 0.14 and layer4+max: Table 3; dual_pool without smoothing:
    Table 2 by head; other attentions with FC features and no smoothing: Table 1.
    """
    if attention == "dual_pool" and head == "max" and np.isclose(label_smoothing, PAPER_BEST_EPSILON):
        return paper.TABLE3[PAPER_BEST_EPSILON]
    if label_smoothing:
        return None
    if attention == "dual_pool":
        return paper.TABLE2.get(head)
    return paper.TABLE1.get(attention) if head == "fc" else None


def comparison_table(runs: Sequence[RunSummary], heads: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run and evaluated head (restricted to `heads` when given).

    Columns: run, attention, label_smoothing, epochs, head, rank1, rank5, rank10, mAP (ours, in
    percent), queries (valid ones), gallery (crops ranked), paper_rank1, paper_mAP (percent,
    NaN where the paper reports no comparable setting).
    """
    records = []
    for run in runs:
        for head in run.heads:
            if heads is not None and head not in heads:
                continue
            metrics = run.metrics[head]
            reference = paper_reference(run.config.attention, head, run.config.label_smoothing) or {}
            records.append({
                "run": run.name, "attention": run.config.attention,
                "label_smoothing": run.config.label_smoothing, "epochs": run.epochs_trained, "head": head,
                **{key: 100.0 * float(metrics[key]) for key in ("rank1", "rank5", "rank10", "mAP")},
                "queries": metrics.get("num_valid_queries"), "gallery": metrics.get("num_gallery"),
                "paper_rank1": reference.get("rank1", np.nan), "paper_mAP": reference.get("mAP", np.nan),
            })
    return pd.DataFrame.from_records(records, columns=[
        "run", "attention", "label_smoothing", "epochs", "head", "rank1", "rank5", "rank10", "mAP",
        "queries", "gallery", "paper_rank1", "paper_mAP"])


def paper_table() -> pd.DataFrame:
    """Every number the paper reports: table, setting, attention, head, label_smoothing, rank1, mAP (%)."""
    rows = [{"table": "Table 1", "setting": f"{attention}, FC features", "attention": attention,
             "head": "fc", "label_smoothing": 0.0, **values} for attention, values in paper.TABLE1.items()]
    rows += [{"table": "Table 2", "setting": f"dual_pool, {head} features", "attention": "dual_pool",
              "head": head, "label_smoothing": 0.0, **values} for head, values in paper.TABLE2.items()]
    rows += [{"table": "Table 3", "setting": f"dual_pool, max features, ε={epsilon:g}",
              "attention": "dual_pool", "head": "max", "label_smoothing": epsilon, **values}
             for epsilon, values in paper.TABLE3.items()]
    return pd.DataFrame(rows)



ABLATION_FILE = "ablation.csv"


def find_ablations(runs_root: str | Path, results_root: str | Path = "results") -> dict[str, Path]:
    """{label: path} of ablation tables written by `shoekit ablate`: in the runs folder, the folder
    holding it (`results/cpu` for `results/cpu/runs`) and each `results_root/*/` folder."""
    runs_root, results_root = Path(runs_root), Path(results_root)
    candidates = [runs_root / ABLATION_FILE, runs_root.parent / ABLATION_FILE,
                  *sorted(results_root.glob(f"*/{ABLATION_FILE}"))]
    found: dict[str, Path] = {}
    for path in candidates:
        if path.is_file() and path.resolve() not in {p.resolve() for p in found.values()}:
            found[path.parent.as_posix()] = path
    return found


def read_ablation(path: str | Path) -> pd.DataFrame:
    """An ablation table (percent): name, change, evaluation, rank1, rank5, rank10, mAP, mAP_gain, ..."""
    return pd.read_csv(path)


VALIDATION_COLUMNS = ("val_rank1", "val_mAP")


def validation_curves(runs: Sequence[RunSummary]) -> pd.DataFrame:
    """The validation learning curves of `runs` trained with --val-identities: one row per run and
    epoch with `run`, `epoch`, `minutes` (training minutes so far; the epoch when not logged),
    `val_rank1` and `val_mAP` in %. Runs without validation columns are left out (empty table)."""
    from shoekit.runs import LOG_FILE, read_train_log

    curves = []
    for run in runs:
        if not (run.path / LOG_FILE).is_file():
            continue
        log = read_train_log(run.path)
        if not set(VALIDATION_COLUMNS) <= set(log.columns):
            continue
        minutes = log["train_minutes"] if "train_minutes" in log else log["epoch"].astype(float)
        curves.append(pd.DataFrame({"run": run.name, "epoch": log["epoch"], "minutes": minutes,
                                    **{column: 100 * log[column] for column in VALIDATION_COLUMNS}}))
    columns = ["run", "epoch", "minutes", *VALIDATION_COLUMNS]
    return pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=columns)


def measures_table(runs: Sequence[RunSummary]) -> pd.DataFrame:
    """The explanation measures (`shoekit explain --measure`) of the runs that have them, wide:
    one row per run, method, layer and model (trained / untrained / random heatmap), one column
    per metric's mean (empty table when none has them)."""
    from shoekit.explain.measurement import read_measures

    tables = []
    for run in runs:
        table = read_measures(run.path)
        if table is not None and not table.empty:
            wide = table.pivot_table(index=["method", "layer", "model"], columns="metric", values="mean",
                                     sort=False).reset_index()
            wide.insert(0, "run", run.name)
            tables.append(wide)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
