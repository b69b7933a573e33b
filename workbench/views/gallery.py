"""Ranked gallery: every query of a run with its top matches, sorted by how well it was ranked."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from shoekit.errors import ShoekitError
from shoekit.figures.ranked import query_order
from workbench import state
from workbench.downloads import figure_downloads
from workbench.widgets import BLUE, match_colour, percent, require_run, show_error, tile_row

ORDERS = ("Worst first", "Best first")
FILTERS = {"background": "Floor", "camera": "Camera", "view": "View"}
AP_HELP = ("AP (average precision): 100% when every crop of the query's shoe type is ranked before any "
           "other type; lower when other types come first.")


def filtered(table):
    """The query table narrowed by the floor / camera / view filters the manifest allows."""
    columns = [column for column in FILTERS if column in table.columns]
    if not columns:
        return table
    cells = st.columns(len(columns))
    for cell, column in zip(cells, columns):
        values = sorted(table[column].astype(str).unique())
        chosen = cell.multiselect(FILTERS[column], values, default=[], key=f"gallery_filter_{column}",
                                  placeholder="all")
        if chosen:
            table = table[table[column].astype(str).isin(chosen)]
    return table


def sorted_queries(table, order: str):
    """Queries by AP, best or worst first (`figures.ranked.query_order`: no-AP queries last)."""
    return table.iloc[query_order(table["ap"].to_numpy(), best_first=order == ORDERS[1])]


def show_query(run, head: str, query, top: int) -> None:
    results = state.evaluation(str(run.path), head)
    positions, distances = results.top_matches(int(query.position), top)
    path = str(run.path)
    images = [state.query_image(path, head, int(query.position))]
    captions = [f"query · {query.identity}"]
    colours = [BLUE]
    for rank, (position, distance) in enumerate(zip(positions, distances), start=1):
        identity = results.gallery.identities[position]
        images.append(state.gallery_image(path, head, int(position)))
        captions.append(f"#{rank} · {identity} · {distance:.3f}")
        colours.append(match_colour(identity == query.identity))
    hit = f"first correct match at rank {query.first_hit}" if query.first_hit else \
        f"no correct match in the top {results.top_indices.shape[1]}"
    ap = "no crop of this type in the gallery" if np.isnan(query.ap) else f"AP {percent(query.ap)}"
    with st.container(border=True):
        st.markdown(f"**Query {query.position}** · shoe type **{query.identity}** · {ap} · {hit}")
        tile_row(images, captions, colours, size=110)


def main() -> None:
    st.title("Ranked gallery")
    st.caption("Every query crop of the run with the gallery crops ranked closest to it. Green frame: "
               "the same shoe type as the query; red: another type.")
    run = require_run()
    if run is None:
        return
    head = state.current_head(run)
    table = state.query_table(str(run.path), head)
    controls = st.columns(4)
    order = controls[0].radio("Order by AP", ORDERS, key="gallery_order", help=AP_HELP)
    top = controls[1].slider("Matches per query", 1, 10, 5, key="gallery_top")
    per_page = controls[2].selectbox("Queries per page", (5, 10, 20), key="gallery_per_page")
    table = sorted_queries(filtered(table), order)
    pages = max(1, math.ceil(len(table) / per_page))
    page = controls[3].number_input(f"Page (of {pages})", 1, pages, 1, key=f"gallery_page_of_{pages}")
    valid = table["ap"].dropna()
    st.caption(f"{len(table)} queries · mean AP {percent(valid.mean()) if len(valid) else '–'} · "
               f"right type first for {percent((table['first_hit'] == 1).mean()) if len(table) else '–'}")
    if table.empty:
        st.info("No query matches these filters.", icon=":material/filter_alt_off:")
        return
    for query in table.iloc[(page - 1) * per_page: page * per_page].itertuples():
        show_query(run, head, query, top)
    export_run(run, head)


def export_run(run, head: str) -> None:
    """The run's CMC and metrics (this head) as figures and the comparison sheet, for slides."""
    from shoekit.compare import comparison_table
    from shoekit.figures.cmc import read_cmc

    st.subheader("Figures for slides")
    curve = read_cmc(run.path, head)
    figure_downloads({f"{run.name} · {head}": curve}, comparison_table([run], [head]), [run],
                     max_rank=min(20, len(curve.cmc)), key="gallery_export", name=f"{run.name.replace('/', '-')}-{head}")


try:
    main()
except ShoekitError as error:
    show_error(error)
