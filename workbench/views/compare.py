"""Compare runs: CMC curves in one chart, Rank-k and mAP per run and head beside the paper's."""

from __future__ import annotations

import streamlit as st

from shoekit.errors import ShoekitError
from workbench import state
from workbench.widgets import require_run, show_error

CMC_HELP = ("CMC curve: for each rank k, the share of queries whose right shoe type appears among the "
            "first k gallery crops. Higher and further left is better.")
PAPER_NOTE = ("The paper's numbers (Zhang, Tang et al. 2022) were measured on its own private CCTV data "
              "(150 test shoe types, 5000 distractors); they show the expected ordering of the settings, "
              "not scores our data should reach.")


def cmc_figure(curves):
    """A plotly line chart of the long CMC table (`shoekit.compare.cmc_curves`)."""
    import plotly.express as px

    figure = px.line(curves, x="rank", y="cmc", color="curve", markers=True,
                     labels={"rank": "Rank k", "cmc": "Queries matched within the top k (%)", "curve": "Run · head"})
    figure.update_layout(yaxis_range=[0, 101], height=420, margin=dict(l=10, r=10, t=30, b=10),
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return figure


def main() -> None:
    from shoekit.compare import cmc_curves, comparison_table, paper_table

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
    curves = cmc_curves(runs, chosen_heads)
    max_rank = st.slider("Show ranks up to", 1, int(curves["rank"].max()), min(20, int(curves["rank"].max())),
                         key="compare_max_rank")
    st.plotly_chart(cmc_figure(curves[curves["rank"] <= max_rank]), key="compare_cmc")
    st.caption(CMC_HELP)
    st.subheader("Rank-1/5/10 and mAP (%)")
    table = comparison_table(runs, chosen_heads)
    st.dataframe(table, hide_index=True, column_config={
        "label_smoothing": st.column_config.NumberColumn("ε", format="%.2f"),
        **{key: st.column_config.NumberColumn(title, format="%.1f") for key, title in (
            ("rank1", "Rank-1"), ("rank5", "Rank-5"), ("rank10", "Rank-10"), ("mAP", "mAP"),
            ("paper_rank1", "Paper's Rank-1 (private data)"), ("paper_mAP", "Paper's mAP (private data)"))},
    })
    st.caption(PAPER_NOTE)
    with st.expander("All numbers the paper reports (its private data)"):
        st.dataframe(paper_table(), hide_index=True)


try:
    main()
except ShoekitError as error:
    show_error(error)
