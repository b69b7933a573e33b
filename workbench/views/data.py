"""Data & CCTV simulation: browse a dataset folder; turn a shoe cut-out into a CCTV-like crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from shoekit.errors import ShoekitError
from workbench import state
from workbench.widgets import marked, show_error, tile_row

SHOWN_CROPS = 24
PROCEDURAL_TYPES = 30
PREVIEW_PX = 240
SOURCES = ("Procedural shoe", "Cut-out file")
CUTOUT_HELP = ("A PNG of one shoe on a transparent background, or a product photo on a plain background. "
               "The toe and heel are found automatically.")
ALIGN_HELP = ("The paper's preprocessing: each crop is turned about the middle of its toe–heel line until "
              "that line is level, toe on the right, so every shoe is seen the same way round.")


def dataset_tab() -> None:
    run = state.current_run()
    default = str(run.data) if run is not None else ""
    folder = st.text_input("Dataset folder", value=default, key="data_folder",
                           help="A folder with manifest.csv and images (made by shoekit make-dataset "
                           "or shoekit import-folder); defaults to the sidebar run's dataset")
    if not folder:
        st.info("Type a dataset folder, or make the demo (`shoekit demo`) to get one.", icon=":material/info:")
        return
    from shoekit.data import SPLITS

    table = state.manifest(folder)
    counts = (table.groupby("split").agg(**{"crops": ("path", "size"), "shoe types": ("identity", "nunique")})
              .reindex([split for split in SPLITS if split in set(table["split"])]))
    st.dataframe(counts, width="content")
    cells = st.columns(2)
    split = cells[0].selectbox("Split", list(counts.index), key="data_split",
                               help="train: taught to the model; query: searched with; gallery: searched in; "
                               "distractor: other shoes mixed into the gallery")
    identities = sorted(table.loc[table["split"] == split, "identity"].unique())
    identity = cells[1].selectbox("Shoe type", identities, key="data_identity")
    rows = table[(table["split"] == split) & (table["identity"] == identity)]
    extra = [column for column in ("camera", "background", "view") if column in rows.columns]
    captions = [" · ".join(str(getattr(row, column)).replace("_", " ") for column in extra) or Path(row.path).name
                for row in rows.head(SHOWN_CROPS).itertuples()]
    images = [state.image_rgb(str(Path(folder) / path)) for path in rows["path"].head(SHOWN_CROPS)]
    st.caption(f"{len(rows)} crops of {identity} in split {split}" +
               (f"; the first {SHOWN_CROPS} shown" if len(rows) > SHOWN_CROPS else ""))
    tile_row(images, captions, size=120, columns=8)


@st.cache_data(show_spinner=False)
def procedural_cutout(index: int, view: str):
    from shoekit.data import make_shoe_types, render_cutout

    shoe = make_shoe_types(PROCEDURAL_TYPES)[index]
    return shoe.name, render_cutout(shoe, view, size=256)


@st.cache_data(show_spinner=False)
def file_cutout(path: str):
    from shoekit.data import load_cutout

    return load_cutout(path)


def choose_cutout():
    """(name, Cutout) from a procedural type or an uploaded file; None when nothing uploaded."""
    from shoekit.data import VIEWS, make_shoe_types

    source = st.radio("Shoe", SOURCES, horizontal=True, key="sim_source")
    if source == SOURCES[0]:
        names = [shoe.name for shoe in make_shoe_types(PROCEDURAL_TYPES)]
        cells = st.columns(2)
        index = cells[0].selectbox("Shoe type", range(len(names)), format_func=names.__getitem__,
                                   key="sim_type")
        view = cells[1].selectbox("View", VIEWS, key="sim_view")
        return procedural_cutout(index, view)
    from shoekit.app.uploads import MAX_CUTOUT_BYTES, store_upload

    upload = st.file_uploader("Cut-out file", type=["png", "webp", "jpg", "jpeg"], key="sim_cutout",
                              help=CUTOUT_HELP, max_upload_size=MAX_CUTOUT_BYTES // (1024 * 1024))
    if upload is None:
        return None
    path = store_upload(upload.getvalue(), upload.name, (".png", ".webp", ".jpg", ".jpeg"), MAX_CUTOUT_BYTES)
    return upload.name, file_cutout(str(path))


def camera_settings():
    """CCTVParams: a camera preset's random draw, then the sliders' values on top."""
    import dataclasses

    from shoekit.data import CAMERAS, sample_params
    from shoekit.data.floors import FLOORS

    cells = st.columns(3)
    camera = cells[0].selectbox("Camera preset", sorted(CAMERAS), key="sim_camera",
                                help="cam1: bright entrance; cam2: dim corridor; cam3: high wide-angle camera")
    seed = cells[1].number_input("Random draw", 0, 10_000, 0, key="sim_seed",
                                 help="Another number draws other settings from the preset (and another floor texture)")
    drawn = sample_params(np.random.default_rng([seed, 0]), CAMERAS[camera])
    floor = cells[2].selectbox("Floor", FLOORS, index=FLOORS.index(drawn.floor), key=f"sim_floor_{camera}_{seed}")
    key = f"{camera}_{seed}"
    left, right = st.columns(2)
    with left:
        motion = st.slider("Motion blur (px)", 0.0, 12.0, float(round(drawn.motion_blur_px, 1)), 0.5,
                           key=f"sim_motion_{key}", help="Smear along the walking direction")
        defocus = st.slider("Defocus blur (px)", 0.0, 3.0, float(round(drawn.defocus_sigma, 1)), 0.1,
                            key=f"sim_defocus_{key}")
        sensor = st.slider("Resolution (sensor px across the crop)", 16, 120, int(drawn.sensor_px),
                           key=f"sim_sensor_{key}", help="How many camera pixels cover the crop")
        rotation = st.slider("Rotation (°)", -90.0, 90.0, float(round(drawn.rotation_deg)), 1.0,
                             key=f"sim_rotation_{key}")
    with right:
        brightness = st.slider("Lighting (brightness)", 0.3, 1.6, float(round(drawn.brightness, 2)), 0.05,
                               key=f"sim_brightness_{key}")
        gamma = st.slider("Lighting (gamma)", 0.6, 1.6, float(round(drawn.gamma, 2)), 0.05, key=f"sim_gamma_{key}")
        noise = st.slider("Noise (grey levels)", 0.0, 20.0, float(round(drawn.noise_sigma, 1)), 0.5,
                          key=f"sim_noise_{key}")
        quality = st.slider("JPEG quality (compression)", 5, 100, int(drawn.jpeg_quality),
                            key=f"sim_quality_{key}", help="Lower is stronger compression")
    params = dataclasses.replace(drawn, floor=floor, motion_blur_px=motion, defocus_sigma=defocus,
                                 sensor_px=sensor, rotation_deg=rotation, brightness=brightness, gamma=gamma,
                                 noise_sigma=noise, jpeg_quality=quality)
    return params, seed


def simulation_tab() -> None:
    from shoekit.app.cropping import aligned_points
    from shoekit.data import align, render_crop, toe_heel_angle

    chosen = choose_cutout()
    if chosen is None:
        st.info("Upload a cut-out, or pick a procedural shoe.", icon=":material/upload:")
        return
    name, cutout = chosen
    params, seed = camera_settings()
    crop = render_crop(cutout, params, seed, size=120)
    aligned = align(crop.image, crop.toe, crop.heel)
    toe, heel = aligned_points(crop.toe, crop.heel)
    cutout_rgb = composite_on_white(cutout.rgba)
    columns = st.columns(3)
    with columns[0]:
        st.image(marked(cutout_rgb, cutout.toe, cutout.heel, PREVIEW_PX), caption=f"Cut-out: {name}",
                 width=PREVIEW_PX)
    with columns[1]:
        st.image(marked(crop.image, crop.toe, crop.heel, PREVIEW_PX), width=PREVIEW_PX,
                 caption=f"CCTV crop, 120×120 px · toe–heel angle {toe_heel_angle(crop.toe, crop.heel):.0f}°")
    with columns[2]:
        st.image(marked(aligned, toe, heel, PREVIEW_PX), caption="After toe–heel alignment", width=PREVIEW_PX)
    st.caption("Green dot: toe; orange dot: heel. " + ALIGN_HELP)


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """An RGBA cut-out `(H, W, 4)` uint8 over white, `(H, W, 3)` uint8."""
    alpha = rgba[..., 3:].astype(np.float32) / 255.0
    return (rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def main() -> None:
    st.title("Data & CCTV simulation")
    st.caption("Look through a dataset, and see how a shoe turns into a CCTV crop: floor, blur, "
               "resolution, lighting, noise, compression and rotation.")
    dataset, simulation = st.tabs(["Dataset", "CCTV simulation"])
    with dataset:
        try:
            dataset_tab()
        except ShoekitError as error:
            show_error(error)
    with simulation:
        try:
            simulation_tab()
        except ShoekitError as error:
            show_error(error)


main()
