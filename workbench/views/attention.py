"""Attention explorer: every bottleneck's gate for one crop, how the gates vary over the gallery,
the five attention variants side by side, and what switching a stage's attention off does to
the ranking of that crop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from shoekit.errors import ShoekitError
from shoekit.explain.gates import NEUTRAL_GATE, BlockGates, channel_spread, extreme_channels
from shoekit.explain.layers import STAGES
from workbench import state
from workbench.crop_picker import choose_crop
from workbench.widgets import BLUE, match_colour, require_run, show_error, tile_row

VARIANTS = ("none", "se", "cbam", "eca", "dual_pool")
ALL_STAGES = "all stages"
ATTENTION_ON = "none (attention on)"
SHOWN_CHANNELS = 5
SWITCH_TOP = 5
GATE_HELP = {
    "dual_pool": ("The paper's gate: σ(MLP(average)) + σ(MLP(maximum)) of each channel, in (0, 2). "
                  "1 leaves a channel unchanged, above 1 amplifies it, below 1 damps it; each branch lies in (0, 1)."),
    "se": "SE's gate σ(MLP(average)) of each channel, in (0, 1): 1 keeps a channel, 0 silences it.",
    "eca": "ECA's gate σ(conv1d(average)) across neighbouring channels, in (0, 1).",
    "cbam": ("CBAM's channel gate σ(MLP(average) + MLP(maximum)), in (0, 1), then a spatial gate: a 7×7 map "
             "over the feature map's cells, in (0, 1)."),
}


def gate_views(gates: BlockGates) -> dict[str, tuple[np.ndarray, tuple[float, float]]]:
    """{view name: (values `(N, C)`, value range)} of one block: the applied channel gate, then
    dual_pool's two branches."""
    views = {"applied gate": (gates.channel, gates.value_range)}
    views.update({f"{name} branch": (values, (0.0, 1.0)) for name, values in gates.branches.items()})
    return views


def stage_figure(stage_gates: list[BlockGates], view: str, stretch: bool):
    """One stage's gates as a heatmap: one row per bottleneck, one column per channel, coloured
    over the gate's whole range, or over the values' own min..max when `stretch`."""
    import plotly.graph_objects as go

    values = np.stack([gate_views(gate)[view][0][0] for gate in stage_gates])
    low, high = (float(values.min()), float(values.max())) if stretch else gate_views(stage_gates[0])[view][1]
    figure = go.Figure(go.Heatmap(
        z=values, y=[gate.block for gate in stage_gates], zmin=low, zmax=high, colorscale="RdBu_r",
        colorbar=dict(title="weight", thickness=12),
        hovertemplate="%{y} · channel %{x}<br>weight %{z:.3f}<extra></extra>"))
    figure.update_layout(height=70 + 34 * len(stage_gates), margin=dict(l=10, r=10, t=10, b=30),
                         xaxis_title=f"channel (0–{values.shape[1] - 1})", yaxis=dict(autorange="reversed"))
    return figure


def gate_table(gates: list[BlockGates]) -> pd.DataFrame:
    """One row per block and view: channels, min / mean / max weight, the range, and how many
    channels are above / below the neutral weight 1."""
    rows = []
    for gate in gates:
        for view, (values, (low, high)) in gate_views(gate).items():
            row = values[0]
            rows.append({"block": gate.block, "gate": view, "channels": len(row), "min": float(row.min()),
                         "mean": float(row.mean()), "max": float(row.max()), "range_low": low, "range_high": high,
                         "above_1": int((row > NEUTRAL_GATE).sum()), "below_1": int((row < NEUTRAL_GATE).sum())})
    return pd.DataFrame(rows)


def show_gates(gates: list[BlockGates], attention: str) -> str:
    """The strips of every stage and the summary table; returns the chosen view."""
    st.subheader("The gate of every bottleneck")
    st.caption(GATE_HELP[attention] + " Red: a high weight, blue: a low one; hover for a channel's value.")
    views = list(gate_views(gates[0]))
    view = st.radio("Show", views, horizontal=True, key="att_view") if len(views) > 1 else views[0]
    stretch = st.toggle("Stretch the colours to each stage's own weights", key="att_stretch",
                        help="Off: colours span the gate's whole range, so blocks and variants compare. On: they "
                        "span the lowest to the highest weight of the stage, to see small differences (the colour "
                        "bar gives the values).")
    by_stage = {stage: [gate for gate in gates if gate.stage == stage] for stage in STAGES}
    for stage, stage_gates in by_stage.items():
        if stage_gates:
            st.markdown(f"**{stage}** · {stage_gates[0].channels} channels on "
                        f"{stage_gates[0].feature_size[0]}×{stage_gates[0].feature_size[1]} cells")
            st.plotly_chart(stage_figure(stage_gates, view, stretch), key=f"att_strip_{stage}")
    if attention == "cbam":
        from shoekit.figures.walkthrough import spatial_map

        st.markdown("**Spatial gates** (where in the feature map, 0 blue to 1 red), last block of each stage")
        last = [next(gate for gate in reversed(gates) if gate.stage == stage) for stage in STAGES]
        tile_row([spatial_map(gate.spatial[0]) for gate in last],
                 [f"{gate.block} · {gate.spatial.shape[1]}×{gate.spatial.shape[2]}" for gate in last])
    with st.expander("Every gate in numbers"):
        st.dataframe(gate_table(gates), hide_index=True, key="att_table")
    return view


def show_block(gates: list[BlockGates], view: str, path: str, head: str) -> None:
    """Amplified and damped channels of one block, and how its gate varies over the gallery."""
    import plotly.express as px

    st.subheader("One block: which channels, and how much they vary between crops")
    block = st.selectbox("Block", [gate.block for gate in gates], index=len(gates) - 1, key="att_block")
    chosen = next(gate for gate in gates if gate.block == block)
    values, _ = gate_views(chosen)[view]
    strongest, weakest = extreme_channels(values[0], SHOWN_CHANNELS)
    listing = lambda indices: ", ".join(f"#{index} ({values[0][index]:.3f})" for index in indices)  # noqa: E731
    st.markdown(f"Highest weights ({view}): {listing(strongest)}  \nLowest weights: {listing(weakest)}")
    gallery, positions = state.gallery_gates(path, head)
    over_gallery = next(gate for gate in gallery if gate.block == block)
    spread = channel_spread(gate_views(over_gallery)[view][0])
    figure = px.histogram(x=spread, nbins=40, labels={"x": f"standard deviation of a channel's weight over {len(positions)} gallery crops"})
    figure.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="channels")
    st.plotly_chart(figure, key="att_spread")
    st.caption(f"How much the gate of {block} changes from crop to crop: for each of its {len(spread)} channels, the "
               f"spread of its weight over {len(positions)} gallery crops (evenly spread over the gallery's "
               f"{len(state.evaluation(path, head).gallery)}). Median {np.median(spread):.2g}, largest {spread.max():.2g}: "
               "near 0, the gate is the same for every crop; larger, it adapts to the crop.")


def show_variants(run, raw: np.ndarray, toe, heel) -> None:
    """The same crop through one run of each attention variant in the runs folder."""
    from shoekit.figures.walkthrough import gate_strip

    catalog = state.catalog()
    firsts = {}
    for other in catalog.runs:
        firsts.setdefault(other.config.attention, other)
    firsts[run.config.attention] = run
    st.subheader("The five variants on the same crop")
    if len(firsts) < 2:
        st.caption(f"The runs folder holds only {run.config.attention} runs: train runs with `--attention` none, se, "
                   "cbam, eca or dual_pool (shoekit reproduce --tables table1 trains all five) to compare them here.")
        return
    stage = st.selectbox("Stage", STAGES, index=len(STAGES) - 1, key="att_variant_stage")
    rows = []
    for attention in [name for name in VARIANTS if name in firsts]:
        other = firsts[attention]
        other_path = str(other.path)
        gates = state.network_view(other_path, state.model_input(other_path, raw, toe, heel))[1]
        stage_gates = [gate for gate in gates if gate.stage == stage]
        if not stage_gates:
            st.markdown(f"**{attention}** ({other.name}): no attention module, every channel weighted 1.")
            continue
        last = stage_gates[-1]
        st.image(gate_strip(last.channel[0], last.value_range, width=1024, height=18), width="stretch",
                 caption=f"{attention} ({other.name}) · {last.block} · {last.channels} weights in "
                 f"({last.value_range[0]:g}, {last.value_range[1]:g})")
        rows.append({"variant": attention, "run": other.name, "block": last.block, "min": float(last.channel.min()),
                     "mean": float(last.channel.mean()), "max": float(last.channel.max())})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="att_variants")
    st.caption("Blue: the low end of each variant's range, red: the high end (dual_pool's range is (0, 2), the others' (0, 1)).")


def show_switch(run, head: str, query: np.ndarray, identity: str | None, display: np.ndarray) -> None:
    """Switch one stage's attention (or all) off and show the ranking and metrics of this crop."""
    st.subheader("Switch attention off")
    choice = st.radio("Attention switched off in", [ATTENTION_ON, *STAGES, ALL_STAGES], horizontal=True,
                      key="att_switch", help="Switched off, a block's gate is 1 for every channel: the block "
                      "works as in a plain ResNet50, with the trained weights of everything else")
    if choice == ATTENTION_ON:
        st.caption("Pick a stage to switch its attention off and see how this crop's ranking changes.")
        return
    stages = tuple(STAGES) if choice == ALL_STAGES else (choice,)
    path = str(run.path)
    bf16 = run.metrics[head].get("precision") == "bf16"
    change = state.switched_ranking(path, head, query, identity, stages, bf16)
    results = state.evaluation(path, head)
    gallery_size = len(results.gallery)
    if len(change.candidates) == gallery_size:
        scope = (f"Both rankings are over the whole gallery ({gallery_size} crops), its features recomputed with "
                 "the same attention switched off.")
    else:
        scope = (f"Both rankings are over the {len(change.candidates)} gallery crops closest to this crop with "
                 f"attention on (of {gallery_size}: re-encoding them all would take too long), their features "
                 "recomputed with the same attention switched off; AP and ranks are within that subset.")
    metrics = pd.DataFrame([
        {"attention": "on", "first correct at rank": change.on.first_hit or None, "AP (%)": 100 * change.on.ap,
         "best distance": float(change.on.distances[0])},
        {"attention": f"off in {choice}", "first correct at rank": change.off.first_hit or None,
         "AP (%)": 100 * change.off.ap, "best distance": float(change.off.distances[0])}])
    st.dataframe(metrics, hide_index=True, key="att_switch_metrics",
                 column_config={"AP (%)": st.column_config.NumberColumn(format="%.1f"),
                                "best distance": st.column_config.NumberColumn(format="%.4f")})
    for label, ranking in (("attention on", change.on), (f"attention off in {choice}", change.off)):
        images = [display] + [state.gallery_image(path, head, int(p)) for p in ranking.positions[:SWITCH_TOP]]
        ids = [results.gallery.identities[int(p)] for p in ranking.positions[:SWITCH_TOP]]
        captions = [label] + [f"#{rank} · {i} · {d:.3f}" for rank, (i, d) in
                              enumerate(zip(ids, ranking.distances[:SWITCH_TOP]), start=1)]
        colours = [BLUE] + [match_colour(None if identity is None else i == identity) for i in ids]
        tile_row(images, captions, colours, size=100)
    st.caption(f"{scope} {change.moved} of the top {min(10, len(change.candidates))} places hold another crop "
               "once attention is off.")


def main() -> None:
    st.title("Attention explorer")
    st.caption("What the attention module of every bottleneck does to the features of one crop: the paper's "
               "subject, made visible.")
    run = require_run()
    if run is None:
        return
    head = state.current_head(run)
    path = str(run.path)
    crop = choose_crop(run, head, "att", "Crop")
    if crop is None:
        st.info("Upload a crop of one shoe to see its attention gates.", icon=":material/upload:")
        return
    query, identity, display = crop.query, crop.identity, crop.model_view()
    tile_row([display], ["the crop, as the model reads it" + (f" · shoe type {identity}" if identity else "")],
             [BLUE], size=100)
    gates = state.network_view(path, query)[1]
    if not gates:
        st.info(f"{run.name} is a plain ResNet50 (attention none): it has no gates to show. Pick a run trained with "
                "--attention dual_pool, se, cbam or eca in the sidebar.", icon=":material/info:")
    else:
        view = show_gates(gates, run.config.attention)
        show_block(gates, view, path, head)
    show_variants(run, crop.raw, crop.toe, crop.heel)
    if gates:
        show_switch(run, head, query, identity, display)


try:
    main()
except ShoekitError as error:
    show_error(error)
