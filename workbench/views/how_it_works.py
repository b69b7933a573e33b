"""How it works: one query crop from start to end, each step a small picture and a few plain
sentences for a reader who is not an engineer; the whole walk-through as a PDF handout."""

from __future__ import annotations

import numpy as np
import streamlit as st

from shoekit.errors import ShoekitError
from shoekit.figures.handout import HandoutStep
from shoekit.figures.sheet import add_border, fit_tile
from workbench import state
from workbench.crop_picker import Crop, choose_crop
from workbench.widgets import PLAIN_FRAME, enlarged, marked, match_colour, require_run, show_error

MATCHES_SHOWN = 5
QUIET_GATE = 0.1  # dual_pool gates all within this of 1: the attention barely acts
TILE = 120
ROW_UNITS = 6  # a step's picture row is this many square tiles wide
HEAD_WORDS = {"max": "its strongest response", "avg": "its average response",
              "maxavg": "its strongest and its average response (two numbers)",
              "gem": "a mean leaning towards its strongest response", "fc": "the classifier's output",
              "bnneck": "its average response, normalised"}


def crop_step(crop: Crop) -> HandoutStep:
    height, width = crop.raw.shape[:2]
    who = (f"The dataset says it shows shoe type {crop.identity}; the model is not told." if crop.identity
           else "Nobody has told the model which shoe this is.")
    return HandoutStep("The CCTV crop", (
        f"This is the crop cut out of the CCTV footage: {width}×{height} pixels around one shoe. It is small and "
        f"blurred, and the floor shows around the shoe. {who} Everything that follows is computed from these "
        "pixels alone."), [(enlarged(crop.raw), f"{crop.name} · {width}×{height} px")])


def alignment_step(crop: Crop, size: int) -> HandoutStep:
    after = crop.model_view()
    if crop.toe is None:
        return HandoutStep("Toe–heel alignment", (
            "Crops from the dataset come with the position of the toe and of the heel, and are turned until the "
            "line from heel to toe is level, so every shoe is seen the same way round. This crop has no such "
            f"marks, so it is used as it is, only resized to the {size}×{size} pixels the model reads."),
            [(enlarged(after), f"what the model reads · {size}×{size} px")])
    from shoekit.app.cropping import aligned_points
    from shoekit.data import align, toe_heel_angle

    aligned = align(crop.raw, crop.toe, crop.heel)
    toe, heel = aligned_points(crop.toe, crop.heel)
    return HandoutStep("Toe–heel alignment", (
        f"The line from heel (orange dot) to toe (green dot) is at {toe_heel_angle(crop.toe, crop.heel):.0f}° in "
        "the crop. The crop is turned about the middle of that line until it is level, toe on the right, so every "
        f"shoe is seen the same way round. Then it is resized to the {size}×{size} pixels the model reads."),
        [(marked(crop.raw, crop.toe, crop.heel), "before: as the camera saw it"),
         (marked(aligned, toe, heel), "after: toe–heel line level"),
         (enlarged(after), f"what the model reads · {size}×{size} px")])


def stages_step(maps) -> HandoutStep:
    from shoekit.figures.walkthrough import feature_grid

    last = maps[-1]
    pictures = [(feature_grid(stage), f"{stage.name} · {stage.channels} maps of {stage.size[0]}×{stage.size[1]}")
                for stage in maps]
    return HandoutStep("The network's stages", (
        "The network reads the crop in five stages. Each stage turns its input into many feature maps, small "
        "pictures that light up (yellow) where the stage finds what it responds to: edges first, then textures, "
        f"then parts of the shoe. The maps get smaller and more numerous, down to {last.channels} maps of "
        f"{last.size[0]}×{last.size[1]} cells at the end; the 8 most active of each stage are shown."), pictures)


def gates_step(gates, attention: str) -> HandoutStep:
    from shoekit.figures.walkthrough import gate_strip, spatial_map

    if not gates:
        return HandoutStep("The attention gates", (
            "This model is a plain ResNet50, without attention modules: every feature map counts as it is. "
            "The paper adds a module to every block that weighs the maps; pick a dual_pool run to see it."))
    last_of_stage = {gate.stage: gate for gate in gates}
    pictures = [(gate_strip(gate.channel[0], gate.value_range, width=256), f"{gate.block} · {gate.channels} weights")
                for gate in last_of_stage.values()]
    if attention == "cbam":
        deepest = gates[-1]
        pictures.append((spatial_map(deepest.spatial[0]), f"{deepest.block} · where (spatial gate)"))
    deepest = gates[-1].channel[0]
    low, high = gates[-1].value_range
    if attention == "dual_pool":
        scale = (f"Each map gets a weight between {low:g} and {high:g}: 1 leaves it unchanged, more amplifies it "
                 "(red), less damps it (blue). The paper's module sets it from both the average and the strongest "
                 f"response of the map. In the last block, {int((deepest > 1).sum())} of {len(deepest)} maps are "
                 f"amplified and {int((deepest < 1).sum())} damped for this crop, the weights running from "
                 f"{deepest.min():.2f} to {deepest.max():.2f}.")
        largest_change = max(float(np.abs(gate.channel - 1).max()) for gate in gates)
        if largest_change < QUIET_GATE:
            scale += (f" In every block the weights stay within {largest_change:.2f} of 1 (nearly white strips): this "
                      "model's attention barely changes its maps.")
    else:
        scale = (f"Each map gets a weight between {low:g} (blue, silenced) and {high:g} (red, kept as it is). In the "
                 f"last block the weights of this crop run from {deepest.min():.2f} to {deepest.max():.2f}.")
    return HandoutStep("The attention gates", (
        f"Inside every block an attention module ({attention}) decides how much each feature map counts for this "
        f"crop; the strips show one block per stage, one colour per map. {scale} The Attention explorer page shows "
        "every block."), pictures)


def feature_step(feature: np.ndarray, head: str) -> HandoutStep:
    from shoekit.figures.walkthrough import feature_bars

    return HandoutStep("The crop's signature", (
        f"Each map of the last stage is summed up in one number: {HEAD_WORDS.get(head, head)} ('{head}' features). "
        f"These {len(feature)} numbers, drawn here as bars, are the crop's signature. Two crops of the same shoe "
        "type should get similar signatures, whatever the floor, camera or blur."),
        [(feature_bars(feature), f"{len(feature)} numbers ({head} features)")])


def ranking_step(path: str, head: str, crop: Crop, feature: np.ndarray):
    """The similarity step and the positions and distances of the gallery in rank order."""
    from shoekit.figures.walkthrough import similarity_bars
    from shoekit.search import search_gallery

    results = state.evaluation(path, head)
    saved = state.gallery_features(path, head)
    positions, distances = search_gallery(saved, feature, len(saved))
    identities = [results.gallery.identities[int(position)] for position in positions]
    correct = [None if crop.identity is None else identity == crop.identity for identity in identities]
    pictures = [(similarity_bars(distances, correct), f"all {len(saved)} gallery crops, most alike first")]
    for rank, (position, distance) in enumerate(zip(positions[:MATCHES_SHOWN], distances[:MATCHES_SHOWN]), start=1):
        tile = add_border(fit_tile(state.gallery_image(path, head, int(position)), TILE),
                          match_colour(correct[rank - 1]) if crop.identity else PLAIN_FRAME, 5)
        pictures.append((tile, f"#{rank} · {identities[rank - 1]} · distance {distance:.3f}"))
    if crop.identity is None:
        verdict = "As nobody told the model which shoe this is, the list cannot be marked right or wrong."
    elif True in correct:
        first = correct.index(True) + 1
        verdict = (f"Green bars and frames: shoe type {crop.identity}, the query's; red: other types. The first crop of "
                   f"the right type is at rank {first}.")
    else:
        verdict = f"The gallery holds no crop of shoe type {crop.identity}, so every bar is red."
    step = HandoutStep("Similarity and ranking", (
        f"The signature is compared with the signature of each of the {len(saved)} crops in the gallery. The more "
        "alike two signatures, the taller the bar; sorting the gallery by it gives the ranked list an investigator "
        f"looks through, most alike first. {verdict}"), pictures)
    return step, positions, distances


def heatmap_step(path: str, head: str, crop: Crop, position: int, distance: float, config) -> HandoutStep:
    from shoekit.explain.measures import energy_ratio
    from shoekit.explain.options import DEFAULT_METHOD, default_layer
    from shoekit.explain.results import cam_overlay

    layer = default_layer(config.image_size, config.last_stride)
    query_cam, match_cam = state.pair_cams(path, head, DEFAULT_METHOD, layer, crop.query, int(position))
    query_image, match_image = crop.model_view(), state.gallery_image(path, head, int(position))
    masks = (None if crop.position is None else state.crop_mask(path, head, "query", crop.position),
             state.crop_mask(path, head, "gallery", int(position)))
    ratios = [f"{name} {ratio:.1f}×" for name, cam, mask in (("query", query_cam, masks[0]), ("match", match_cam, masks[1]))
              if mask is not None and not np.isnan(ratio := energy_ratio(cam, mask))]
    if ratios:
        trust = (f"How far to trust it: on the shoe the heatmaps put {', '.join(ratios)} the heat a uniform map would "
                 "(1.0× = no better than chance), measured against the dataset's shoe outlines.")
    else:
        trust = ("How far to trust it cannot be measured here: the dataset has no shoe outlines (masks) for these "
                 "crops, so nobody can tell whether the heat lies on the shoe or on the floor.")
    identity = state.evaluation(path, head).gallery.identities[int(position)]
    return HandoutStep("Why they match: the heatmaps", (
        "Grad-CAM colours the parts of each crop that made the two signatures alike: red counts most, blue least "
        f"(computed at {layer}, against the best match, distance {distance:.3f}). A heatmap on the sole pattern is "
        f"reassuring; one on the floor means the match rests on the background. {trust}"),
        [(enlarged(query_image), "query"), (enlarged(cam_overlay(query_image, query_cam)), "query · Grad-CAM"),
         (enlarged(match_image), f"best match · {identity}"),
         (enlarged(cam_overlay(match_image, match_cam)), "match · Grad-CAM")])


def show_step(number: int, step: HandoutStep) -> None:
    with st.container(border=True):
        st.subheader(f"{number}. {step.title}")
        if step.pictures:
            # wide pictures (strips, bars) get wider columns; an empty column keeps a short row's tiles small
            widths = [min(max(picture.shape[1] / picture.shape[0], 1.0), 3.0) for picture, _ in step.pictures]
            cells = st.columns(widths + ([ROW_UNITS - sum(widths)] if sum(widths) < ROW_UNITS else []))
            for cell, (picture, caption) in zip(cells, step.pictures):
                cell.image(picture, caption=caption, width="stretch")
        st.markdown(step.text)


def main() -> None:
    st.title("How it works")
    st.caption("One crop, from the CCTV camera to the ranked list, one step at a time.")
    run = require_run()
    if run is None:
        return
    head = state.current_head(run)
    path = str(run.path)
    crop = choose_crop(run, head, "hiw", "Query")
    if crop is None:
        st.info("Upload a crop of one shoe to walk it through the model.", icon=":material/upload:")
        return
    config = state.trained_run(path).config
    bf16 = run.metrics[head].get("precision") == "bf16"
    builders = [
        lambda: crop_step(crop),
        lambda: alignment_step(crop, config.image_size),
        lambda: stages_step(state.network_view(path, crop.query)[0]),
        lambda: gates_step(state.network_view(path, crop.query)[1], config.attention),
        lambda: feature_step(state.feature_of(path, head, crop.query, bf16), head),
    ]
    steps = []
    for number, build in enumerate(builders, start=1):
        steps.append(build())
        show_step(number, steps[-1])
    ranking, positions, distances = ranking_step(path, head, crop, state.feature_of(path, head, crop.query, bf16))
    steps.append(ranking)
    show_step(len(steps), ranking)
    with st.spinner("Computing the heatmaps…"):
        steps.append(heatmap_step(path, head, crop, int(positions[0]), float(distances[0]), config))
    show_step(len(steps), steps[-1])
    handout_download(run, head, crop, steps)


def handout_download(run, head: str, crop: Crop, steps: list[HandoutStep]) -> None:
    from shoekit.figures.handout import handout_pdf

    lines = [f"Run: {run.label}", f"Feature head: {head}",
             f"Crop: {crop.name}" + (f" (shoe type {crop.identity})" if crop.identity else " (uploaded)"),
             "Made with the shoekit workbench's How it works page."]
    st.download_button("Download this walk-through as a PDF handout", lambda: handout_pdf("How the model works", lines, steps),
                       file_name=f"how-it-works-{run.name.replace('/', '-')}.pdf", mime="application/pdf",
                       key="hiw_handout", on_click="ignore", icon=":material/picture_as_pdf:")
    st.caption(f"{len(steps) + 1} pages: a cover, then one page per step, with the pictures and text above.")


try:
    main()
except ShoekitError as error:
    show_error(error)
