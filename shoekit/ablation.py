"""`shoekit ablate`: the paper's best recipe against the re-id tricks, one trick at a time.

    paper              dual_pool, label smoothing 0.14, layer4+max features (Table 3's best)
    + bnneck           batch norm between pooled feature and classifier; retrieval on the BN'd feature
    + triplet (P×K)    batch-hard triplet loss with an identity-balanced sampler
    + random erasing   probability 0.5
    + last stride 1    layer4 keeps twice the resolution        (= `bag_of_tricks`, Luo et al.'s set)
    + query expansion, + re-ranking    at evaluation only, on the paper row's run
  and, to tell which tricks matter on their own, each added alone to the `+ bnneck` row:
    + bnneck + P×K sampler (without triplet loss), + bnneck + random erasing, + bnneck + last stride 1

Each row names its `base`, the row it changes, and its `recipe` when it is a preset's run. Every run
trains with the scale's settings (`reproduce.SCALES`), so all see the same number of images; each
row records its training seconds. The paper row is the grid's `dual_pool-eps0.14-seedS` run, shared
with `shoekit reproduce`. Writes OUT/ablation.csv, OUT/ablation.md, OUT/ablation.json and the
finished rows' curves, per-query AP and pair scores (`shoekit.results_folder`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from shoekit.config import RECIPE_HEADS, RECIPES, TrainConfig
from shoekit.metrics import paired_bootstrap
from shoekit.reproduce import (SCALES, best_finished, ensure_trained, machine_record, markdown_table, query_ap,
                               run_dir_of, validation_map)
from shoekit.results_folder import write_run_files
from shoekit.runs import read_metrics, write_json, write_text

QUERY_EXPANSION = 3  # gallery neighbours averaged into each query
PAPER_EPSILON = RECIPES["paper"]["label_smoothing"]


@dataclass(frozen=True)
class Step:
    """One row: the training settings added to the previous row's, the retrieval head, and the
    evaluation-time post-processing (query expansion neighbours, re-ranking)."""

    name: str
    change: str
    settings: dict = field(default_factory=dict)
    head: str = "bnneck"  # the BNNeck rows' feature; the paper row names its own
    query_expansion: int = 0
    rerank: bool = False


TRAINING_STEPS = (
    Step("paper", "dual_pool, ε=0.14, layer4+max (the paper's best)", head=RECIPE_HEADS["paper"]),
    Step("+bnneck", "BNNeck; features after its BN", {"neck": "bnneck"}),
    Step("+triplet", "batch-hard triplet loss, P×K sampler (K=4)", {"sampler": "pk", "triplet_weight": 1.0}),
    Step("+random_erasing", "random erasing p=0.5", {"random_erasing": 0.5}),
    Step("+last_stride1", "last stride 1", {"last_stride": 1}),
)
EVAL_STEPS = (
    Step("+query_expansion", f"average query expansion (k={QUERY_EXPANSION})", head=RECIPE_HEADS["paper"],
         query_expansion=QUERY_EXPANSION),
    Step("+rerank", "k-reciprocal re-ranking (k1=20, k2=6, λ=0.3)", head=RECIPE_HEADS["paper"],
         query_expansion=QUERY_EXPANSION, rerank=True),
)

ALONE_BASE = 1  # the +bnneck row: each ALONE_STEPS trick is added to its settings by itself
ALONE_STEPS = (
    Step("+bnneck +pk_sampler", "P×K sampler (K=4) alone, no triplet loss", {"sampler": "pk"}),
    Step("+bnneck +random_erasing", "random erasing p=0.5 alone", {"random_erasing": 0.5}),
    Step("+bnneck +last_stride1", "last stride 1 alone", {"last_stride": 1}),
)


def cumulative_settings(upto: int) -> dict:
    """The recipe settings of TRAINING_STEPS[0..upto] taken together."""
    settings = dict(RECIPES["paper"])
    for step in TRAINING_STEPS[1:upto + 1]:
        settings.update(step.settings)
    return settings


def alone_settings(step: Step) -> dict:
    """The recipe settings of an ALONE_STEPS row: the ALONE_BASE row's plus the step's own."""
    return {**cumulative_settings(ALONE_BASE), **step.settings}


# the training row whose run EVAL_STEPS post-process: the paper's recipe, which validation chose
# over every trick (results/cpu/ablation.csv)
EVALUATION_BASE = 0


def step_run_dir(out: Path, index: int, seed: int) -> Path:
    """Where step `index` trains; the paper step is the reproduce grid's ε=0.14 run."""
    if index == 0:
        return run_dir_of(out, "dual_pool", PAPER_EPSILON, seed)
    return Path(out) / "runs" / f"ablation{index}{TRAINING_STEPS[index].name.replace('+', '-')}-seed{seed}"


def alone_run_dir(out: Path, step: Step, seed: int) -> Path:
    """Where an ALONE_STEPS trick trains, e.g. runs/ablation-bnneck-pk_sampler-seed0."""
    return Path(out) / "runs" / f"ablation{step.name.replace(' +', '-').replace('+', '-')}-seed{seed}"


def recipe_config(settings: dict, head: str, data: Path, scale: str, seed: int, overrides: dict) -> TrainConfig:
    """The run's TrainConfig: `settings` at the scale's training size, labelled with its preset,
    its validation scored with the row's retrieval `head`."""
    return TrainConfig.from_recipe(TrainConfig.recipe_of(settings), **{
        **settings, "data": str(data), "seed": seed, "val_head": head, **SCALES[scale], **overrides})


def step_config(index: int, data: Path, scale: str, seed: int, overrides: dict) -> TrainConfig:
    return recipe_config(cumulative_settings(index), TRAINING_STEPS[index].head, data, scale, seed, overrides)


def alone_config(step: Step, data: Path, scale: str, seed: int, overrides: dict) -> TrainConfig:
    return recipe_config(alone_settings(step), step.head, data, scale, seed, overrides)


def evaluation_row(run_dir: Path, step: Step, index: int, base: str, recipe: str, complete: bool = True) -> dict:
    """The table row of `step` on `run_dir` (evaluated now if needed); NaN metrics if not `complete`.
    `base`: the name of the row it changes; `recipe`: the run's preset ("custom" if none)."""
    from shoekit.evaluate import eval_name, evaluate_run

    name = eval_name(step.head, step.query_expansion, step.rerank)
    row = {"step": index, "name": step.name, "base": base, "change": step.change, "recipe": recipe, "evaluation": name}
    if not complete:
        return {**row, **dict.fromkeys(("rank1", "rank5", "rank10", "mAP", "val_mAP", "train_seconds"), float("nan")),
                "run": run_dir.name}
    metrics = read_metrics(run_dir)
    evaluated = metrics.get("eval", {})
    if name not in evaluated:
        evaluated = evaluate_run(run_dir, heads=(step.head,), query_expansion=step.query_expansion,
                                 rerank=step.rerank, progress=False)
    values = evaluated[name]
    trained_row = step.query_expansion == 0 and not step.rerank  # evaluation-only rows have no validation
    return {**row, **{key: round(100 * values[key], 2) for key in ("rank1", "rank5", "rank10", "mAP")},
            "val_mAP": round(validation_map(run_dir, step.head), 2) if trained_row else float("nan"),
            "train_seconds": round(metrics["train"]["train_seconds"], 1), "run": run_dir.name}


def with_gain_intervals(table: pd.DataFrame, runs_dir: Path) -> pd.DataFrame:
    """Add mAP_gain (points over the paper row) and its 95% paired bootstrap interval over queries
    (gain_low, gain_high; NaN for unfinished rows). The interval shows how much a gain depends on
    which queries were drawn, not the variation between training seeds."""
    table = table.copy()
    table["mAP_gain"] = (table["mAP"] - table["mAP"].iloc[0]).round(2)
    table["gain_low"] = table["gain_high"] = float("nan")
    if pd.isna(table["mAP"].iloc[0]):
        return table
    paper_ap = query_ap(runs_dir / table["run"].iloc[0], table["evaluation"].iloc[0])
    for index, row in table.iloc[1:].dropna(subset=["mAP"]).iterrows():
        _, low, high = paired_bootstrap(query_ap(runs_dir / row["run"], row["evaluation"]), paper_ap)
        table.loc[index, ["gain_low", "gain_high"]] = round(100 * low, 2), round(100 * high, 2)
    return table


def chosen_row(table: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """The row a verdict picks and by what: the highest validation mAP among the rows that have one
    (held-out training identities), else, for runs without validation identities, the highest
    test mAP among the finished rows."""
    if "val_mAP" in table and table["val_mAP"].notna().any():
        return table.loc[table["val_mAP"].idxmax()], "on validation"
    return best_finished(table), "on the test queries (no validation identities)"


def ablation_summary(table: pd.DataFrame) -> str:
    """One line: the paper row's mAP, the row `chosen_row` picks, and how many rows are unfinished (NaN)."""
    line = f"paper mAP {table['mAP'].iloc[0]:.2f}%"
    best, chosen_by = chosen_row(table)
    if best is not None:
        line += (f", best {chosen_by} {best['name']}"
                 + (f" (val mAP {best['val_mAP']:.2f}%)" if chosen_by == "on validation" else "")
                 + f": test mAP {best['mAP']:.2f}% ({best['mAP_gain']:+.2f} points)")
    unfinished = int(table["mAP"].isna().sum())
    return line + (f"; {unfinished} of {len(table)} rows unfinished (trained by another process or interrupted)" if unfinished else "")


def ablate(data: str | Path, out: str | Path, scale: str = "cpu", seed: int = 0, progress: bool = True,
           overrides: dict | None = None, command: str | None = None) -> pd.DataFrame:
    """Train (or continue) every step's run, evaluate, write the table; returns it (percent)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    data, out, overrides = Path(data), Path(out), overrides or {}
    # (step, run folder, config, base row): the training chain, then each trick alone on ALONE_BASE
    training = [(step, step_run_dir(out, index, seed), step_config(index, data, scale, seed, overrides),
                 TRAINING_STEPS[index - 1].name if index else "") for index, step in enumerate(TRAINING_STEPS)]
    alone = [(step, alone_run_dir(out, step, seed), alone_config(step, data, scale, seed, overrides),
              TRAINING_STEPS[ALONE_BASE].name) for step in ALONE_STEPS]
    bar = tqdm(training + alone, desc="ablate", unit="run", disable=not progress)
    complete = {}
    for step, run_dir, config, _ in bar:
        bar.set_postfix_str(step.name)
        complete[run_dir] = ensure_trained(run_dir, config, progress)
    _, base_dir, base_config, _ = training[EVALUATION_BASE]
    bases = (TRAINING_STEPS[EVALUATION_BASE].name, *(step.name for step in EVAL_STEPS[:-1]))
    evaluation = [(step, base_dir, base_config, base) for step, base in zip(EVAL_STEPS, bases)]
    rows = [evaluation_row(run_dir, step, index, base, config.recipe, complete[run_dir])
            for index, (step, run_dir, config, base) in enumerate(training + evaluation + alone)]
    table = with_gain_intervals(pd.DataFrame(rows), out / "runs")
    write_text(out / "ablation.csv", table.to_csv(index=False))
    finished = table.dropna(subset=["mAP"])
    write_run_files(out, {run: out / "runs" / run for run in finished["run"].unique()},
                    finished.groupby("run")["evaluation"].unique().to_dict())
    chosen, chosen_by = chosen_row(table)
    write_text(out / "ablation.md", "\n".join([
        f"# Ablation at scale `{scale}`: the paper's best recipe and the re-id tricks, one at a time", "",
        f"Dataset `{data}`, seed {seed}. Each row makes one change to the row named in `base`; `recipe` "
        "names the preset a row's run is (`shoekit train --recipe`). Rank-k and mAP in %, measured; "
        "mAP_gain in points against the paper row, with its 95% paired bootstrap interval over queries "
        "(gain_low to gain_high: how much the gain depends on which queries were drawn, not on the "
        "training seed). `val_mAP`: each training row's final mAP on the training identities held "
        "out for validation, with the row's own `evaluation` head, which a verdict is made by; the test "
        "columns only report. All runs train "
        "for the same epochs on the same images; train_seconds shows what each costs.", "",
        f"Chosen {chosen_by}: {'no finished row yet' if chosen is None else chosen['name']}.", "",
        markdown_table(table), ""]))
    write_json(out / "ablation.json", {
        "command": command, "scale": scale, "seed": seed, "data": str(data),
        "training": {**SCALES[scale], **overrides},
        "steps": [{"name": s.name, "settings": s.settings, "head": s.head, "query_expansion": s.query_expansion,
                   "rerank": s.rerank} for s in (*TRAINING_STEPS, *EVAL_STEPS, *ALONE_STEPS)],
        "alone_base": TRAINING_STEPS[ALONE_BASE].name, "evaluation_base": TRAINING_STEPS[EVALUATION_BASE].name,
        "recipes": {name: RECIPES[name] for name in ("paper", "bag_of_tricks")},
        "machine": machine_record(),
    })
    return table
