"""Compare runs: CMC curves in one chart, Rank-k and mAP per run and head beside the paper's."""

from __future__ import annotations

import streamlit as st

from shoekit.errors import ShoekitError
from workbench import state
from workbench.downloads import figure_downloads
from workbench.widgets import require_run, show_error

CMC_HELP = ("CMC curve: for each rank k, the share of queries whose right shoe type appears among the "
            "first k gallery crops. Higher and further left is better.")
PAPER_NOTE = ("† The paper's numbers (Zhang, Tang et al. 2022) for the same setting, measured on its own "
              "private CCTV data (150 test shoe types, 5000 distractors): they show the expected ordering "
              "of the settings, not scores our data should reach.")
TABLE_ORDER = ("run", "head", "rank1", "rank5", "rank10", "mAP", "paper_rank1", "paper_mAP", "attention",
               "label_smoothing", "epochs", "queries", "gallery")


def main() -> None:
    from shoekit.compare import comparison_table, paper_table
    from shoekit.figures.cmc import cmc_figure_interactive, read_cmc

    st.title("Compare runs")
    st.caption("How often each model finds the right shoe type, side by side.")
    if require_run() is None:
        return
    catalog = state.catalog()
    labels = {run.name: run.label for run in catalog.runs}
    names = st.multiselect("Runs", catalog.names, default=catalog.names[:6], format_func=labels.get,
                           key="compare_runs")
    heads = sorted({head for run in catalog.runs for head in run.heads})
    chosen_heads = st.multiselect("Feature heads", heads, default=heads, key="compare_heads",
                                  help="How each model's features are pooled (see the sidebar's help)")
    runs = [catalog.get(name) for name in names]
    if not runs or not chosen_heads:
        st.info("Pick at least one run and one feature head.", icon=":material/info:")
        return
    curves = {f"{run.name} · {head}": read_cmc(run.path, head)
              for run in runs for head in run.heads if head in chosen_heads}
    if not curves:
        st.info("None of these runs was evaluated with the chosen feature heads.", icon=":material/info:")
        return
    longest = max(len(curve.cmc) for curve in curves.values())
    max_rank = (st.slider("Show ranks up to", 1, longest, min(20, longest), key="compare_max_rank")
                if longest > 1 else 1)
    figure = cmc_figure_interactive(curves, max_rank=max_rank, title="")
    figure.update_layout(height=440, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(figure, key="compare_cmc")
    st.caption(CMC_HELP)
    st.subheader("Rank-1/5/10 and mAP (%)")
    table = comparison_table(runs, chosen_heads)
    st.dataframe(table, hide_index=True, column_order=TABLE_ORDER, column_config={
        "label_smoothing": st.column_config.NumberColumn("ε", format="%.2f"),
        **{key: st.column_config.NumberColumn(title, format="%.1f") for key, title in (
            ("rank1", "Rank-1"), ("rank5", "Rank-5"), ("rank10", "Rank-10"), ("mAP", "mAP"),
            ("paper_rank1", "Paper Rank-1 †"), ("paper_mAP", "Paper mAP †"))},
    })
    st.caption(PAPER_NOTE)
    figure_downloads(curves, table, runs, max_rank, key="compare_export", name="compare")
    with st.expander("All numbers the paper reports (its private data)"):
        st.dataframe(paper_table(), hide_index=True)
    show_validation_curves(runs)
    show_explanation_measures(runs)
    show_committed_results()
    show_ablation()


VALIDATION_HELP = ("Scored every epoch on training identities held out of training (shoekit train "
                   "--val-identities K), never on the test queries: what presets and epochs are chosen by.")


def show_validation_curves(runs) -> None:
    """Validation mAP and Rank-1 against training minutes, for the chosen runs that have them."""
    import plotly.express as px

    from shoekit.compare import validation_curves

    curves = validation_curves(runs)
    if curves.empty:
        return
    st.subheader("Learning curves on the validation identities")
    metric = st.radio("Metric", ("val_mAP", "val_rank1"), horizontal=True, key="compare_val_metric",
                      format_func={"val_mAP": "mAP", "val_rank1": "Rank-1"}.get)
    figure = px.line(curves, x="minutes", y=metric, color="run", markers=True,
                     labels={"minutes": "training minutes", metric: f"validation {metric[4:]} (%)"})
    figure.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(figure, key="compare_val_curves")
    st.caption(VALIDATION_HELP)


MEASURES_HELP = ("How far the heatmaps can be trusted (shoekit explain --measure RUN), over the test queries "
                 "and their top matches: energy_ratio is the share of Grad-CAM energy on the shoe divided by the "
                 "shoe's share of the crop (1.0 = no better than a uniform map); pointing: how often the hottest "
                 "pixel is on the shoe; deletion/insertion: the area under the similarity as the hottest pixels "
                 "are removed (lower is more faithful) or revealed (higher); sanity_spearman: correlation with "
                 "the heatmaps of the same network with random weights (low is good). 'untrained' and 'random' "
                 "rows are the baselines.")


def show_explanation_measures(runs) -> None:
    """The explanation measures of the chosen runs that have RUN/explain/measures.csv."""
    from shoekit.compare import measures_table

    table = measures_table(runs)
    if table.empty:
        return
    st.subheader("Can the heatmaps be trusted? Measured against the shoe masks")
    st.dataframe(table, hide_index=True, column_config={
        column: st.column_config.NumberColumn(column, format="%.2f") for column in table.columns
        if column not in ("run", "method", "layer", "model")})
    st.caption(MEASURES_HELP)


SEED_DIFFERENCES = "seed_differences.csv"  # shoekit reproduce, once rows of Table 1 or 3 have several seeds
TABLE_TITLES = {"table1.csv": "Table 1: attention variants (FC features)",
                "table2.csv": "Table 2: feature heads of the dual_pool model",
                "table3.csv": "Table 3: label smoothing (dual_pool, layer4+max)"}


def show_committed_results() -> None:
    """The paper's tables as reproduced in a committed results folder (shoekit reproduce), with
    Fig. 8's CMC curves where the folder carries them."""
    from shoekit.figures.cmc import cmc_figure_interactive
    from shoekit.results_folder import TABLE_FILES, find_results_folders, read_table, table1_curves

    folders = find_results_folders(state.results_root())
    if not folders:
        return
    st.subheader("The paper's tables, reproduced (committed results)")
    label = st.selectbox("Results folder", list(folders), key="compare_results") if len(folders) > 1 \
        else next(iter(folders))
    folder = folders[label]
    for name in TABLE_FILES:
        if (folder / name).is_file():
            st.markdown(f"**{TABLE_TITLES[name]}** (%; `paper_*`: the paper's numbers on its own data †)")
            st.dataframe(read_table(folder, name), hide_index=True)
    if (folder / SEED_DIFFERENCES).is_file():
        st.markdown("**Over training seeds**: each table's paper pick (Table 1: `dual_pool`; Table 3: ε = 0.14) "
                    "minus each row trained with two or more seeds (mAP points), with 95% intervals over the "
                    "seeds (`seed_ci`) and over the queries (`query_ci`); `resolved` when both exclude 0")
        st.dataframe(read_table(folder, SEED_DIFFERENCES), hide_index=True)
    try:
        curves = table1_curves(folder)
    except ShoekitError as missing:
        st.caption(f"No CMC curves in this folder: {missing}")
    else:
        figure = cmc_figure_interactive(curves, title="Fig. 8: CMC of the attention variants (FC features)")
        figure.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(figure, key="compare_results_cmc")
    st.caption(f"Source: {folder} (its README says how it was made). {PAPER_NOTE}")


ABLATION_HELP = ("Each row adds one training or evaluation trick to the row named in 'base', starting from "
                 "the paper's best recipe; gain_low to gain_high is the 95% bootstrap interval of the mAP gain "
                 "over the paper row; val_mAP, on training types held out for validation, is what the verdict "
                 "is chosen by. All runs saw the same images for the same number of epochs (shoekit ablate).")


def show_ablation() -> None:
    """The recipe ablation tables found near the runs folder or under results/, if any."""
    import plotly.express as px

    from shoekit.ablation import chosen_row
    from shoekit.compare import find_ablations, read_ablation

    tables = find_ablations(state.runs_root(), state.results_root())
    if not tables:
        return
    st.subheader("Beyond the paper: the re-id tricks, one at a time")
    label = st.selectbox("Ablation", list(tables), key="compare_ablation") if len(tables) > 1 else next(iter(tables))
    table = read_ablation(tables[label])
    figure = px.bar(table, x="name", y="mAP", text="mAP", labels={"name": "", "mAP": "mAP (%)"})
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10))
    st.plotly_chart(figure, key="compare_ablation_chart")
    st.dataframe(table, hide_index=True, column_order=(
        "name", "base", "change", "recipe", "evaluation", "rank1", "rank5", "rank10", "mAP", "mAP_gain", "gain_low", "gain_high",
        "val_mAP", "train_seconds"))
    chosen, chosen_by = chosen_row(table)
    if chosen is not None:
        st.markdown(f"Chosen {chosen_by}: **{chosen['name']}** (test mAP {chosen['mAP']:.2f}%)")
    st.caption(f"{ABLATION_HELP} Source: {tables[label]}")


try:
    main()
except ShoekitError as error:
    show_error(error)
