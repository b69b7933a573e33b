"""Investigate: cut a shoe out of a CCTV frame or video, align it, search the gallery, export."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import streamlit as st

from shoekit.errors import ShoekitError
from workbench import state
from workbench.widgets import BLUE, marked, require_run, show_error, tile_row, uploaded_image

SOURCES = ("A CCTV frame (image file)", "A video file")
STEPS = ("1. Load a frame or a video and step to a frame with the shoe.  \n"
         "2. Draw a box around one shoe on the frame (box-select tool), or type the box.  \n"
         "3. Optionally mark the toe and the heel, so the shoe is turned level as in training.  \n"
         "4. Read the gallery crops ranked closest; export the result, or add the crop to the case "
         "and search with several crops of the same shoe at once.")
BOX_KEYS = ("inv_box_x", "inv_box_y", "inv_box_w", "inv_box_h")
CHART_KEY = "inv_frame_chart"
RESULT_COLUMNS = 7
PREVIEW_PX = 220


def choose_frame():
    """(frame RGB `(H, W, 3)` uint8, a label naming it) or None when nothing is loaded."""
    source = st.radio("Footage", SOURCES, horizontal=True, key="inv_source")
    if source == SOURCES[0]:
        uploaded = uploaded_image("CCTV frame", key="inv_image",
                                  help="A still from the CCTV footage (PNG or JPEG), any size")
        return None if uploaded is None else (uploaded[0], uploaded[1])
    from shoekit.app.uploads import MAX_VIDEO_BYTES, store_upload
    from shoekit.app.video import VIDEO_SUFFIXES, probe_video, sampled_frames

    upload = st.file_uploader("CCTV video", type=[suffix.lstrip(".") for suffix in VIDEO_SUFFIXES],
                              key="inv_video", help="MP4, AVI, MOV, MKV… read with OpenCV",
                              max_upload_size=MAX_VIDEO_BYTES // (1024 * 1024))
    if upload is None:
        return None
    path = store_upload(upload.getvalue(), upload.name, VIDEO_SUFFIXES, MAX_VIDEO_BYTES)
    info = probe_video(path)
    cells = st.columns([1, 3])
    step = cells[0].number_input("Every n-th frame", 1, 100, 2, key="inv_step",
                                 help="The paper took a crop from every 2nd frame of 50 fps video")
    frames = sampled_frames(info.frame_count, step)
    index = cells[1].select_slider("Frame", frames, value=frames[0], key=f"inv_frame_{step}",
                                   help=f"{info.frame_count} frames at {info.fps:.0f} fps, {info.width}×{info.height} px")
    return state.read_frame(str(path), int(index)), f"{upload.name} frame {index}"


def on_box_drawn() -> None:
    """Copy a box drawn on the frame chart into the box fields (runs before the rerun)."""
    from shoekit.app.cropping import MIN_CROP_SIDE, Box

    boxes = st.session_state[CHART_KEY].selection.get("box") or []
    if boxes:
        drawn = boxes[-1]
        width, height = st.session_state["inv_frame_size"]
        box = Box.from_corners(drawn["x"][0], drawn["y"][0], drawn["x"][1], drawn["y"][1]).clipped(width, height)
        if min(box.width, box.height) >= MIN_CROP_SIDE:
            for key, value in zip(BOX_KEYS, (box.x, box.y, box.width, box.height)):
                st.session_state[key] = int(value)


def frame_figure(frame: np.ndarray, box):
    """The frame as a plotly image with the box drawn, in box-select mode."""
    import plotly.express as px

    figure = px.imshow(frame)
    figure.add_shape(type="rect", x0=box.x - 0.5, y0=box.y - 0.5, x1=box.x + box.width - 0.5,
                     y1=box.y + box.height - 0.5, line=dict(color="#00e05a", width=3))
    figure.update_layout(dragmode="select", margin=dict(l=0, r=0, t=0, b=0), height=420,
                         xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
    return figure


def choose_box(frame: np.ndarray):
    """The shoe's box: typed in the fields, or drawn on the frame (which fills the fields)."""
    from shoekit.app.cropping import Box

    height, width = frame.shape[:2]
    if st.session_state.get("inv_frame_size") != (width, height):  # a new frame size: start centred
        st.session_state["inv_frame_size"] = (width, height)
        default = Box.centred_square(width, height)
        for key, value in zip(BOX_KEYS, (default.x, default.y, default.width, default.height)):
            st.session_state[key] = value
    cells = st.columns(4)
    x = cells[0].number_input("Box left (px)", 0, width - 1, key=BOX_KEYS[0])
    y = cells[1].number_input("Box top (px)", 0, height - 1, key=BOX_KEYS[1])
    w = cells[2].number_input("Box width (px)", 8, width, key=BOX_KEYS[2])
    h = cells[3].number_input("Box height (px)", 8, height, key=BOX_KEYS[3])
    box = Box(int(x), int(y), int(w), int(h))
    st.plotly_chart(frame_figure(frame, box), key=CHART_KEY, on_select=on_box_drawn, selection_mode="box",
                    config={"displaylogo": False})
    return box


def choose_keypoints(crop: np.ndarray):
    """(toe, heel) in crop pixels when the user aligns, else (None, None)."""
    height, width = crop.shape[:2]
    if not st.toggle("Align by toe and heel", value=False, key="inv_align",
                     help="Turn the crop so its toe–heel line is level, toe on the right, as the model "
                     "saw its training crops"):
        return None, None
    size = f"{width}x{height}"  # points are crop pixels: a new box size starts them afresh
    cells = st.columns(4)
    toe = (cells[0].number_input("Toe x", 0.0, width - 1.0, float(round(0.8 * (width - 1.0))), key=f"inv_toe_x_{size}"),
           cells[1].number_input("Toe y", 0.0, height - 1.0, float(round(0.6 * (height - 1.0))), key=f"inv_toe_y_{size}"))
    heel = (cells[2].number_input("Heel x", 0.0, width - 1.0, float(round(0.2 * (width - 1.0))), key=f"inv_heel_x_{size}"),
            cells[3].number_input("Heel y", 0.0, height - 1.0, float(round(0.6 * (height - 1.0))), key=f"inv_heel_y_{size}"))
    if np.hypot(toe[0] - heel[0], toe[1] - heel[1]) < 2:
        st.warning("Toe and heel are at the same place; move one of them.", icon=":material/warning:")
        return None, None
    return toe, heel


def show_results(run, head: str, queries: list[np.ndarray], label: str, key: str, top: int) -> None:
    """Search with one or more aligned crops of one shoe; tiles, table and export buttons."""
    from shoekit.app.result_sheet import ResultIdentity, result_csv, result_sheet_png

    path = str(run.path)
    inputs = np.stack([state.model_input(path, crop) for crop in queries])
    bf16 = run.metrics[head].get("precision") == "bf16"
    table = state.search_table(path, head, inputs, top, bf16)
    matches = [state.gallery_image(path, head, int(p)) for p in table["position"]]
    captions = [f"#{r.rank} · {r.identity} · {r.distance:.3f}" for r in table.itertuples()]
    tile_row([queries[0], *matches], [f"query ({len(queries)} crop{'s' * (len(queries) > 1)})", *captions],
             [BLUE] + [None] * len(matches), size=120, columns=RESULT_COLUMNS)
    st.dataframe(table.drop(columns=["position"]), hide_index=True,
                 column_config={"distance": st.column_config.NumberColumn(format="%.4f")})
    identity = ResultIdentity(run=run.name, attention=run.config.attention, epochs_trained=run.epochs_trained,
                              head=head, manifest_hash=run.metrics[head].get("manifest_hash", ""), query=label)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    cells = st.columns(2)
    cells[0].download_button("Export ranked result (CSV)", result_csv(table, identity),
                             file_name=f"shoekit-result-{stamp}.csv", mime="text/csv", key=f"{key}_csv",
                             icon=":material/table:")
    cells[1].download_button("Export result sheet (PNG)", result_sheet_png(queries[0], matches, table, identity),
                             file_name=f"shoekit-result-{stamp}.png", mime="image/png", key=f"{key}_png",
                             icon=":material/image:")


def case_gallery(run, head: str, top: int) -> None:
    """The crops added to this case: shown, removable, and searchable together."""
    case = st.session_state.setdefault("inv_case", [])
    st.subheader(f"Case gallery ({len(case)} crop{'s' * (len(case) != 1)})")
    if not case:
        st.caption("Crops you add to the case are kept here while this browser tab is open.")
        return
    tile_row([item["crop"] for item in case], [item["label"] for item in case], size=100, columns=8)
    cells = st.columns(2)
    if cells[1].button("Empty the case", key="inv_case_clear"):
        st.session_state["inv_case"] = []
        st.rerun()
    if cells[0].toggle("Search with all case crops together", key="inv_case_search",
                       help="One search with the average of the crops' features: several views of one "
                       "shoe usually rank better than any single crop"):
        show_results(run, head, [item["crop"] for item in case], f"case of {len(case)} crops", "inv_case", top)


def main() -> None:
    from shoekit.app.cropping import aligned_points, crop
    from shoekit.data import align

    st.title("Investigate")
    st.caption("Search the gallery with a shoe from your own CCTV footage.")
    st.markdown(STEPS)
    run = require_run()
    if run is None:
        return
    head = state.current_head(run)
    chosen = choose_frame()
    if chosen is None:
        st.info("Upload a CCTV frame or a video to begin.", icon=":material/upload:")
        return
    frame, label = chosen
    box = choose_box(frame)
    cut = crop(frame, box, label)
    toe, heel = choose_keypoints(cut)
    aligned = cut if toe is None else align(cut, toe, heel)
    crop_label = f"{label}, box {box.x},{box.y} {box.width}×{box.height}"
    cells = st.columns(3)
    with cells[0]:
        st.image(marked(cut, toe, heel, PREVIEW_PX), width=PREVIEW_PX,
                 caption=f"Crop {cut.shape[1]}×{cut.shape[0]} px" + (" (green: toe, orange: heel)" if toe else ""))
    with cells[1]:
        shown = (None, None) if toe is None else aligned_points(toe, heel)
        st.image(marked(aligned, *shown, PREVIEW_PX), width=PREVIEW_PX,
                 caption="Aligned crop: what is searched" if toe else "Searched as is")
    with cells[2]:
        st.caption("Several crops of the same shoe (other frames, other cameras) search better together.")
        if st.button("Add this crop to the case", key="inv_add", icon=":material/add:"):
            st.session_state.setdefault("inv_case", []).append({"crop": aligned, "label": crop_label})
            st.toast(f"Added to the case ({len(st.session_state['inv_case'])} crops)")
    top = st.slider("Matches to show", 1, 20, 10, key="inv_top")
    st.subheader("Closest gallery crops")
    show_results(run, head, [aligned], crop_label, "inv_single", top)
    case_gallery(run, head, top)


try:
    main()
except ShoekitError as error:
    show_error(error)
