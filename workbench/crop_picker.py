"""The crop a teaching page (How it works, Attention explorer) follows: one of the run's evaluated
queries, or a crop the user uploads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from workbench import state
from workbench.widgets import uploaded_image

SOURCES = ("A query from the dataset", "Upload a crop")


@dataclass(frozen=True)
class Crop:
    """The crop followed: `raw` `(H, W, 3)` uint8 as the file holds it, its toe and heel (pixels;
    None when unknown), `query` the model input `(3, S, S)` float32, `identity` (None for an
    upload), `position` among the evaluation's queries (None for an upload), `name`."""

    raw: np.ndarray
    toe: tuple[float, float] | None
    heel: tuple[float, float] | None
    query: np.ndarray
    identity: str | None
    position: int | None
    name: str

    def model_view(self) -> np.ndarray:
        """The model input as pixels `(S, S, 3)` uint8."""
        return np.rint(np.clip(self.query.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)


def choose_crop(run, head: str, key: str, label: str) -> Crop | None:
    """The radio `label` (dataset query or upload) and its picker, widget keys `{key}_source`,
    `{key}_query` and `{key}_upload`; None while nothing is uploaded."""
    source = st.radio(label, SOURCES, horizontal=True, key=f"{key}_source")
    path = str(run.path)
    if source == SOURCES[0]:
        results = state.evaluation(path, head)
        table = state.query_table(path, head)
        labels = {int(r.position): f"query {r.position} · shoe type {r.identity} · {r.path}" for r in table.itertuples()}
        position = st.selectbox("Query crop", list(labels), format_func=labels.get, key=f"{key}_query")
        keypoints = results.queries.keypoints[position]
        known = results.config.align and not np.isnan(keypoints).any()
        return Crop(raw=state.image_rgb(str(results.queries.image_path(position))),
                    toe=tuple(keypoints[:2]) if known else None, heel=tuple(keypoints[2:]) if known else None,
                    query=results.queries[position][0].numpy(), identity=results.queries.identities[position],
                    position=position, name=str(results.queries.rows["path"].iat[position]))
    uploaded = uploaded_image("Upload a shoe crop", key=f"{key}_upload",
                              help="A crop of one shoe, PNG or JPEG, at any size (it is resized)")
    if uploaded is None:
        return None
    image, name = uploaded
    return Crop(raw=image, toe=None, heel=None, query=state.model_input(path, image), identity=None,
                position=None, name=name)
