"""Match & explain: a query crop, its closest gallery crops, and heatmaps of why they match."""

from __future__ import annotations

import numpy as np
import streamlit as st

from shoekit.errors import ShoekitError
from shoekit.explain.layers import target_layer_names
from shoekit.explain.measures import energy_ratio
from shoekit.explain.options import CAM_METHOD_CLASSES, DEFAULT_METHOD, default_layer
from shoekit.figures.panels import image_panels
from workbench import state
from workbench.widgets import BLUE, match_colour, percent, require_run, show_error, tile_row, uploaded_image

SOURCES = ("A query from the dataset", "Upload a crop")
METHOD_HELP = ("Grad-CAM weighs the chosen layer's maps by their gradients; Grad-CAM++ and LayerCAM "
               "are variants that pick out several parts better.")
LAYER_HELP = ("Where in the network the heatmap is taken: layer4.2 (the last block, the paper's "
              "choice) gives coarse regions, earlier layers finer detail. The default is layer4.2 unless "
              "the model's small inputs leave it under 3×3 cells (64 px inputs: layer3.5, unless layer4 "
              "was trained at stride 1, as the demo's is).")
HEATMAP_HELP = ("**Grad-CAM**: red where the model looked to decide that the two crops are alike. "
                "**Guided Grad-CAM**: the fine edges and patterns inside those regions.")


def choose_query(run, head: str):
    """(query as model input `(3, S, S)` float32, its identity, its image for display, its
    position among the evaluation's queries), the last two None for an upload; None when
    nothing is uploaded yet."""
    source = st.radio("Query", SOURCES, horizontal=True, key="match_source")
    results = state.evaluation(str(run.path), head)
    if source == SOURCES[0]:
        table = state.query_table(str(run.path), head)
        labels = {int(r.position): f"query {r.position} · shoe type {r.identity} · AP {percent(r.ap)} · {r.path}"
                  for r in table.itertuples()}
        position = st.selectbox("Query crop", list(labels), format_func=labels.get, key="match_query",
                                help="The evaluation's query crops (split 'query' of the dataset)")
        query = results.queries[position][0].numpy()
        display = state.query_image(str(run.path), head, position)
        return query, results.queries.identities[position], display, position
    uploaded = uploaded_image("Upload a shoe crop", key="match_upload",
                              help="A crop of one shoe, PNG or JPEG, at any size (it is resized)")
    if uploaded is None:
        return None
    image, _ = uploaded
    return state.model_input(str(run.path), image), None, image, None


def top_matches(run, head: str, query: np.ndarray, position: int | None, top: int):
    """Gallery positions and distances: the saved ranking for a dataset query, a search otherwise."""
    results = state.evaluation(str(run.path), head)
    if position is not None:
        positions, distances = results.top_matches(position, top)
        return positions.tolist(), distances.tolist()
    bf16 = run.metrics[head].get("precision") == "bf16"
    table = state.search_table(str(run.path), head, query[None], top, bf16)
    return table["position"].tolist(), table["distance"].tolist()


def show_matches(run, head: str, display, identity, positions, distances) -> None:
    results = state.evaluation(str(run.path), head)
    images = [display] + [state.gallery_image(str(run.path), head, int(p)) for p in positions]
    captions = ["query" + (f" · {identity}" if identity else "")]
    colours = [BLUE]
    for rank, (position, distance) in enumerate(zip(positions, distances), start=1):
        match_identity = results.gallery.identities[position]
        correct = None if identity is None else match_identity == identity
        captions.append(f"#{rank} · {match_identity} · distance {distance:.3f}")
        colours.append(match_colour(correct))
    tile_row(images, captions, colours)
    if identity is not None:
        st.caption("Green frame: the same shoe type as the query; red: another type. "
                   "Distance: 0 = identical features, 2 = opposite.")


def on_shoe(pair, query_mask, match_mask) -> str:
    """A sentence on how much of the pair's Grad-CAM lies on the shoes (empty without masks)."""
    ratios = [(name, energy_ratio(image.cam, mask)) for name, image, mask in
              (("query", pair.query, query_mask), ("match", pair.match, match_mask)) if mask is not None]
    if not ratios:
        return ""
    parts = ", ".join(f"{name} " + ("– (a flat heatmap)" if np.isnan(ratio) else f"{ratio:.1f}×")
                      for name, ratio in ratios)
    return (f" · heatmap energy on the shoe: {parts} what a uniform map would put there "
            "(1.0× = no better than chance)")


def show_heatmaps(run, head: str, method: str, layer: str, query, identity, positions, distances,
                  query_position: int | None, outline: bool) -> None:
    """One bordered row per match: query and match, each as original, Grad-CAM, Guided Grad-CAM,
    outlined with their shoe masks when `outline` and the dataset has them."""
    st.subheader("Why they match")
    st.caption(HEATMAP_HELP + (" **Cyan line**: the outline of the shoe, from the dataset's masks." if outline else ""))
    path = str(run.path)
    query_mask = None if query_position is None else state.crop_mask(path, head, "query", query_position)
    headers = ["Query", "Query · Grad-CAM", "Query · Guided Grad-CAM",
               "Match", "Match · Grad-CAM", "Match · Guided Grad-CAM"]
    for rank, (position, distance) in enumerate(zip(positions, distances), start=1):
        with st.container(border=True):
            with st.spinner(f"Computing the heatmaps of match #{rank}…"):
                pair = state.pair_explanation(str(run.path), head, method, layer, query, int(position),
                                              float(distance), identity)
            match_mask = state.crop_mask(path, head, "gallery", int(position))
            verdict = {True: " (same type as the query)", False: " (another type)"}.get(pair.correct, "")
            st.markdown(f"**Match #{rank}**: shoe type {pair.identity}{verdict}, distance {pair.distance:.3f}"
                        + on_shoe(pair, query_mask, match_mask))
            colours = [BLUE, None, None, match_colour(pair.correct), None, None]
            panels = (image_panels(pair.query, query_mask if outline else None)
                      + image_panels(pair.match, match_mask if outline else None))
            tile_row(panels, headers, colours, size=130)


def main() -> None:
    st.title("Match & explain")
    st.caption("Pick a query crop and see the gallery crops the model ranks closest to it, with heatmaps "
               "of the parts of each shoe that made them match.")
    run = require_run()
    if run is None:
        return
    head = state.current_head(run)
    model = state.trained_run(str(run.path)).model
    controls = st.columns(4)
    top = controls[0].slider("Matches to show", 1, 10, 5, key="match_top")
    explained = controls[1].slider("Matches with heatmaps", 0, 10, 2, key="match_explained",
                                   help="Heatmaps take a few seconds per match on a CPU; they are "
                                   "kept, so a second look is instant")
    method = controls[2].selectbox("Heatmap method", list(CAM_METHOD_CLASSES),
                                   index=list(CAM_METHOD_CLASSES).index(DEFAULT_METHOD), key="match_method",
                                   help=METHOD_HELP)
    layers = target_layer_names(model)
    config = state.trained_run(str(run.path)).config
    layer = controls[3].selectbox("Heatmap layer", layers, index=layers.index(default_layer(config.image_size,
                                                                                            config.last_stride)),
                                  key="match_layer", help=LAYER_HELP)
    chosen = choose_query(run, head)
    if chosen is None:
        st.info("Upload a crop of one shoe to search the gallery with it.", icon=":material/upload:")
        return
    query, identity, display, position = chosen
    positions, distances = top_matches(run, head, query, position, top)
    show_matches(run, head, display, identity, positions, distances)
    count = min(explained, top)
    if count:
        has_masks = state.crop_mask(str(run.path), head, "gallery", int(positions[0])) is not None
        outline = has_masks and st.toggle("Outline the shoe", value=True, key="match_outline",
                                          help="Draw the shoe's outline (from the dataset's masks) on the "
                                          "crops and their heatmaps, to see whether a heatmap lies on the shoe")
        show_heatmaps(run, head, method, layer, query, identity, positions[:count], distances[:count],
                      position, outline)


try:
    main()
except ShoekitError as error:
    show_error(error)
