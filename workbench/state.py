"""Cached loading for the workbench: run catalog, models, evaluations, features, images.

Models, evaluations and saved features are loaded once per process (`st.cache_resource`);
tables, images and heatmaps are cached by their arguments (`st.cache_data`), so after the first
visit a page interaction only redraws. Nothing here trains or evaluates: it reads run folders.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from shoekit.catalog import RunCatalog, RunSummary, discover_runs
from shoekit.commands.workbench import RUNS_ENV
DEFAULT_RUNS = "demo/runs"
RESULTS_ENV = "SHOEKIT_RESULTS"
DEFAULT_RESULTS = "results"  # committed benchmark results (results/cpu/ablation.csv, ...)
CATALOG_TTL_S = 30
DEMO_HINT = ("Make a first run with **`shoekit demo`** (a few minutes on 2 CPU cores: it draws "
             "procedural shoes, simulates CCTV crops, trains and evaluates a model into `demo/runs`), "
             "or `shoekit workbench --demo`, which does the same and then opens this workbench. "
             "Runs made with `shoekit train` + `shoekit evaluate` elsewhere: type their folder in the "
             "sidebar.")


def default_runs_root() -> str:
    """$SHOEKIT_RUNS, else `demo/runs` (relative to the working directory)."""
    return os.environ.get(RUNS_ENV) or DEFAULT_RUNS


def results_root() -> Path:
    """$SHOEKIT_RESULTS, else `results` (relative to the working directory)."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)


def runs_root() -> Path:
    """The runs folder chosen in the sidebar (the app's entry point draws the field)."""
    return Path(st.session_state.get("runs_root") or default_runs_root())


@st.cache_data(ttl=CATALOG_TTL_S, show_spinner=False)
def run_catalog(root: str) -> RunCatalog:
    """Every run under `root` (rescanned at most every CATALOG_TTL_S seconds, or on demand)."""
    return discover_runs(root)


def catalog() -> RunCatalog:
    return run_catalog(str(runs_root()))


def current_run() -> RunSummary | None:
    """The run picked in the sidebar, or None when the runs folder holds none."""
    runs = catalog()
    if not runs.runs:
        return None
    name = st.session_state.get("run")
    return runs.get(name) if name in runs.names else runs.runs[0]


def current_head(run: RunSummary) -> str:
    """The feature head picked in the sidebar, if the run has it; else the run's last one."""
    head = st.session_state.get("head")
    return head if head in run.heads else ("max" if "max" in run.heads else run.heads[-1])


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def trained_run(path: str):
    """`shoekit.runs.load_run` of a run folder: config + model in eval mode."""
    from shoekit.runs import load_run

    return load_run(path)


@st.cache_resource(show_spinner="Reading the run's rankings…", max_entries=8)
def evaluation(path: str, head: str):
    """`shoekit.explain.load_evaluation`: rankings.npz and the query/gallery crops it indexes."""
    from shoekit.explain.evaluation import load_evaluation

    return load_evaluation(path, head)


@st.cache_resource(show_spinner="Reading the saved gallery features…", max_entries=8)
def gallery_features(path: str, head: str) -> np.ndarray:
    """The saved L2-normalised gallery features `(G, D)` float32 of one head."""
    return evaluation(path, head).features()[1]


@st.cache_data(show_spinner=False, max_entries=16)
def query_table(path: str, head: str) -> pd.DataFrame:
    """`shoekit.search.query_table` of one head: every query with its AP and first hit."""
    from shoekit.search import query_table as build

    results = evaluation(path, head)
    return build(results.queries, results.gallery, results.top_indices, results.ap)


@st.cache_resource(show_spinner="Preparing the heatmap model…", max_entries=4)
def explainer(path: str, head: str, method: str, layer: str):
    """An `Explainer` for the run's model and a lock: guided backprop swaps its ReLUs in place,
    so two browser sessions must not use one explainer at the same moment."""
    from shoekit.explain import Explainer

    return Explainer(trained_run(path).model, head=head, method=method, layer=layer), threading.Lock()


@st.cache_data(show_spinner=False, max_entries=256)
def pair_explanation(path: str, head: str, method: str, layer: str, query: np.ndarray, position: int,
                     distance: float, query_identity: str | None):
    """`Explainer.explain_pair` of a query `(3, S, S)` float32 model input and gallery crop
    `position`, both ways: a PairExplanation (its `rank` is 1; the caller knows the real one).

    One pair per call, so a page can show each pair as soon as it is ready."""
    import torch

    results = evaluation(path, head)
    match = results.gallery[position][0]
    model, lock = explainer(path, head, method, layer)
    with lock:
        return model.explain_query(torch.from_numpy(query), match[None], distances=[distance],
                                   identities=[results.gallery.identities[position]],
                                   query_identity=query_identity).pairs[0]


@st.cache_data(show_spinner=False, max_entries=4096)
def crop_mask(path: str, head: str, side: str, index: int) -> np.ndarray | None:
    """The shoe mask of query (`side` "query") or gallery crop `index` at the model's input size,
    `(S, S)` float32 in [0, 1] and aligned like the crop; None when the dataset has no masks."""
    import cv2

    results = evaluation(path, head)
    crops = results.queries if side == "query" else results.gallery
    mask = crops.load_mask(index)
    size = results.config.image_size
    return None if mask is None else cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)


@st.cache_data(show_spinner=False, max_entries=4096)
def gallery_image(path: str, head: str, position: int) -> np.ndarray:
    """Gallery crop `position` as the model sees it (aligned, resized): `(S, S, 3)` uint8."""
    return evaluation(path, head).gallery_image(position)


@st.cache_data(show_spinner=False, max_entries=1024)
def query_image(path: str, head: str, index: int) -> np.ndarray:
    """Query crop `index` as the model sees it (aligned, resized): `(S, S, 3)` uint8."""
    return evaluation(path, head).query_image(index)


@st.cache_data(show_spinner=False, max_entries=2048)
def image_rgb(path: str) -> np.ndarray:
    """An image file as `(H, W, 3)` uint8 RGB (`shoekit.data.load_image_rgb`)."""
    from shoekit.data import load_image_rgb

    return load_image_rgb(path)


@st.cache_data(show_spinner=False, max_entries=8)
def manifest(data_root: str) -> pd.DataFrame:
    """A dataset folder's checked manifest (`shoekit.data.read_manifest`)."""
    from shoekit.data import read_manifest

    return read_manifest(data_root)


def model_input(path: str, image: np.ndarray, toe=None, heel=None) -> np.ndarray:
    """An RGB crop `(H, W, 3)` uint8 as the run's model input `(3, S, S)` float32 in [0, 1],
    toe–heel aligned first when both points are given."""
    from shoekit.data import align, eval_transform

    if toe is not None and heel is not None:
        image = align(image, toe, heel)
    return eval_transform(trained_run(path).config.image_size)(np.ascontiguousarray(image)).numpy()


@st.cache_data(show_spinner="Searching the gallery…", max_entries=64)
def search_table(path: str, head: str, queries: np.ndarray, top: int, bf16: bool) -> pd.DataFrame:
    """`shoekit.search.search` of model inputs `(N, 3, S, S)` float32 (N crops of one shoe)
    against the run's saved gallery: the ranked matches table. `bf16`: as the run was
    evaluated (its metrics' "precision"), so distances agree with the saved ones."""
    import torch

    from shoekit.search import search

    return search(trained_run(path).model, head, torch.from_numpy(queries), gallery_features(path, head),
                  evaluation(path, head).gallery, top=top, bf16=bf16)


@st.cache_data(show_spinner=False)
def read_frame(path: str, index: int) -> np.ndarray:
    """Frame `index` of a video file as `(H, W, 3)` uint8 RGB (`shoekit.app.video.read_frame`)."""
    from shoekit.app.video import read_frame as read

    return read(path, index)
