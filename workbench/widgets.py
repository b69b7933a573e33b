"""Pieces every workbench page draws: the shared sidebar, image tiles, uploads, messages."""

from __future__ import annotations

import io
from collections.abc import Sequence

import cv2
import numpy as np
import streamlit as st

from shoekit.errors import ShoekitError
from shoekit.figures.sheet import add_border, border_colour, fit_tile
from workbench import state

TILE_PX = 150
MIN_COLUMNS = 6
BORDER_PX = 6
BLUE = (31, 78, 156)
PLAIN_FRAME = (225, 225, 225)
TOE_COLOUR = (0, 200, 60)
HEEL_COLOUR = (255, 140, 0)
HEAD_HELP = ("How the model turns a crop into the numbers that are compared. "
             "fc: the classifier's output; avg / max / maxavg: the last feature map pooled by "
             "average, maximum, or both (the paper found max best); gem: a generalised mean between "
             "average and maximum; bnneck: the averaged feature after the BNNeck's normalisation "
             "(models trained with BNNeck, such as the fast recipe).")


def sidebar() -> None:
    """Runs folder, run, feature head and the run's card (shared by all pages), and the folders skipped."""
    with st.sidebar:
        st.text_input("Runs folder", value=state.default_runs_root(), key="runs_root",
                      help="Folder holding run folders made by `shoekit train` and `shoekit evaluate`. "
                      f"Default: ${state.RUNS_ENV} or {state.DEFAULT_RUNS}.")
        if st.button("Rescan runs", help="Look for new or changed runs in the folder now"):
            state.run_catalog.clear()
        catalog = state.catalog()
        if catalog.runs:
            labels = {run.name: run.label for run in catalog.runs}
            st.selectbox("Run", catalog.names, key="run", format_func=labels.get,
                         help="A trained and evaluated model")
            run = state.current_run()
            st.selectbox("Feature head", run.heads, index=run.heads.index(state.current_head(run)),
                         key="head", help=HEAD_HELP)
            about_run(run.path)
        else:
            st.warning(f"No runs in `{catalog.root}` yet.")
        if catalog.skipped:
            with st.expander(f"{len(catalog.skipped)} run folder(s) skipped"):
                for skipped in catalog.skipped:
                    st.caption(f"**{skipped.path.name}**: {skipped.reason}")


def about_run(run_dir) -> None:
    """An expander with the run's card: what the model is, how it was trained, how well it retrieves."""
    from shoekit.run_card import run_card

    with st.expander("About this run"):
        try:
            for line in run_card(run_dir):
                st.markdown(line)
        except ShoekitError as error:
            show_error(error)


def require_run():
    """The sidebar's run, or None after telling the user how to make one."""
    run = state.current_run()
    if run is None:
        no_runs_message()
    return run


def no_runs_message() -> None:
    st.info(f"No runs to show yet: the runs folder `{state.runs_root()}` holds no trained and "
            f"evaluated run.\n\n{state.DEMO_HINT}", icon=":material/info:")


def show_error(error: Exception) -> None:
    """A shoekit error (bad file, incomplete run) as a red box; the page carries on."""
    st.error(str(error), icon=":material/error:")


def enlarged(image: np.ndarray, size: int = TILE_PX) -> np.ndarray:
    """`(H, W, 3)` uint8 scaled so its longer side is `size` px, keeping its shape (nearest
    neighbour when enlarging, so CCTV pixels stay visible; area averaging when shrinking)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    interpolation = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    return cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=interpolation)


def tile(image: np.ndarray, caption: str, colour: tuple[int, int, int] | None = None,
         size: int = TILE_PX) -> None:
    """One image as a `size` px square (as the model sees it), framed in `colour` (a light grey
    frame when None, so framed and unframed tiles line up), filling its column's width."""
    st.image(add_border(fit_tile(image, size), colour or PLAIN_FRAME, BORDER_PX), caption=caption,
             width="stretch")


def tile_row(images: Sequence[np.ndarray], captions: Sequence[str],
             colours: Sequence[tuple[int, int, int] | None] | None = None, size: int = TILE_PX,
             columns: int | None = None) -> None:
    """Images side by side, `columns` equal columns per line (default: as many as images, at
    least MIN_COLUMNS, so a short row keeps the tile size of a full one)."""
    colours = colours or [None] * len(images)
    per_row = columns or max(len(images), MIN_COLUMNS)
    for start in range(0, len(images), per_row):
        cells = st.columns(per_row)
        for cell, image, caption, colour in zip(cells, images[start:start + per_row],
                                                captions[start:start + per_row], colours[start:start + per_row]):
            with cell:
                tile(image, caption, colour, size)


def marked(image: np.ndarray, toe: tuple[float, float] | None, heel: tuple[float, float] | None,
           size: int = TILE_PX) -> np.ndarray:
    """`image` enlarged to `size` px with the toe (green) and heel (orange) drawn as dots."""
    shown = enlarged(image, size).copy()
    scale = shown.shape[1] / image.shape[1]
    radius = max(3, size // 45)
    for point, colour in ((toe, TOE_COLOUR), (heel, HEEL_COLOUR)):
        if point is not None:
            centre = (round((point[0] + 0.5) * scale - 0.5), round((point[1] + 0.5) * scale - 0.5))
            cv2.circle(shown, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(shown, centre, radius, colour, -1, cv2.LINE_AA)
    return shown


def match_colour(correct: bool | None) -> tuple[int, int, int]:
    """Green: the query's shoe type; red: another type; grey: unknown (`figures.sheet`'s colours)."""
    return border_colour(correct)


def uploaded_image(label: str, key: str, help: str) -> tuple[np.ndarray, str] | None:
    """An image uploaded by the user as RGB `(H, W, 3)` uint8 and its file name, or None.

    Decoded by `shoekit.query_image.load_query_image`; its conversion notes are shown, and a
    file that is not a usable image shows a message saying why while the page goes on.
    """
    from shoekit.query_image import load_query_image
    from shoekit.app.uploads import IMAGE_SUFFIXES, MAX_IMAGE_BYTES

    upload = st.file_uploader(label, type=list(IMAGE_SUFFIXES), key=key, help=help,
                              max_upload_size=MAX_IMAGE_BYTES // (1024 * 1024))
    if upload is None:
        return None
    try:
        image = load_query_image(io.BytesIO(upload.getvalue()), name=upload.name)
    except ShoekitError as error:
        show_error(error)
        return None
    for note in image.notes:
        st.caption(f"{upload.name}: {note}")
    return image.rgb, upload.name


def percent(value: float) -> str:
    return "–" if value is None or np.isnan(value) else f"{100 * value:.1f}%"
