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
DEFAULT_RESULTS = "results"  # committed results folders (results/cpu/table1.csv, ...)
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


SWITCH_CANDIDATES = 128   # a switched-off ranking re-encodes at most this many gallery crops
GATE_SAMPLE = 128         # gallery crops whose gates make the explorer's histogram


@st.cache_resource(show_spinner="Preparing the attention model…", max_entries=4)
def attention_model(path: str):
    """A private copy of the run's model and a lock, for the attention pages: reading gates adds
    hooks and switching attention off swaps modules, which must not disturb the other pages'
    model or another browser session mid-pass."""
    import copy

    return copy.deepcopy(trained_run(path).model), threading.Lock()


@st.cache_data(show_spinner=False, max_entries=256)
def network_view(path: str, query: np.ndarray):
    """One pass of a model input `(3, S, S)` float32: (`stage_maps` of the stem and layer1-4,
    `read_gates` of every bottleneck), both for this one crop (gates `(1, C)`)."""
    import torch

    from shoekit.explain.gates import gate_hooks
    from shoekit.explain.stages import stage_maps

    model, lock = attention_model(path)
    with lock, gate_hooks(model) as gates:
        maps = stage_maps(model, torch.from_numpy(query))
        return maps, list(gates)


def gallery_sample(count: int, limit: int) -> np.ndarray:
    """At most `limit` gallery positions spread evenly over `count` crops `(k,)`, ascending."""
    return np.unique(np.linspace(0, count - 1, min(count, limit)).round().astype(int)) if count else np.zeros(0, int)


def gallery_inputs(path: str, head: str, positions: np.ndarray):
    """Model inputs `(k, 3, S, S)` float32 tensor of gallery `positions`."""
    import torch

    gallery = evaluation(path, head).gallery
    return torch.stack([gallery[int(position)][0] for position in positions])


@st.cache_data(show_spinner="Reading the gates of the gallery crops…", max_entries=8)
def gallery_gates(path: str, head: str):
    """(`read_gates` over `GATE_SAMPLE` gallery crops spread over the gallery, their positions)."""
    from shoekit.explain.gates import read_gates

    positions = gallery_sample(len(evaluation(path, head).gallery), GATE_SAMPLE)
    model, lock = attention_model(path)
    images = gallery_inputs(path, head, positions)
    with lock:
        return read_gates(model, images), positions


@st.cache_data(show_spinner=False, max_entries=64)
def feature_of(path: str, head: str, query: np.ndarray, bf16: bool) -> np.ndarray:
    """`shoekit.search.query_feature` of a model input `(3, S, S)`: `(D,)` float32, L2-normalised."""
    import torch

    from shoekit.search import query_feature

    model, lock = attention_model(path)
    with lock:
        return query_feature(model, torch.from_numpy(query), head, bf16)


@st.cache_data(show_spinner="Re-encoding the gallery with that attention switched off…", max_entries=64)
def switched_gallery_features(path: str, head: str, stages: tuple[str, ...], candidates: tuple[int, ...],
                              bf16: bool) -> np.ndarray:
    """Normalised features `(K, D)` of gallery positions `candidates`, with the attention of
    `stages` switched off (kept per setting: every query of a small gallery shares them)."""
    from shoekit.explain.attention_switch import attention_switched_off, gallery_features

    model, lock = attention_model(path)
    images = gallery_inputs(path, head, np.asarray(candidates))
    with lock, attention_switched_off(model, stages):
        return gallery_features(model, head, images, bf16)


@st.cache_data(show_spinner=False, max_entries=256)
def switched_ranking(path: str, head: str, query: np.ndarray, identity: str | None, stages: tuple[str, ...],
                     bf16: bool):
    """`shoekit.explain.attention_switch.switched_ranking` of a model input `(3, S, S)`, over
    `candidate_positions` (the whole gallery up to SWITCH_CANDIDATES crops)."""
    import torch

    from shoekit.explain.attention_switch import candidate_positions, switched_ranking as rank

    saved = gallery_features(path, head)
    candidates = candidate_positions(saved, feature_of(path, head, query, bf16), SWITCH_CANDIDATES)
    off = switched_gallery_features(path, head, stages, tuple(int(c) for c in candidates), bf16)
    model, lock = attention_model(path)
    with lock:
        return rank(model, head, torch.from_numpy(query), candidates, evaluation(path, head).gallery.identities,
                    stages, saved[candidates], off, query_identity=identity, bf16=bf16)


@st.cache_data(show_spinner=False, max_entries=256)
def pair_cams(path: str, head: str, method: str, layer: str, query: np.ndarray, position: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """CAMs only (no guided backprop, so a fraction of `pair_explanation`'s time) of a model input
    `(3, S, S)` float32 and gallery crop `position`, both ways: (query's map for its similarity to
    the match, the match's map for its similarity to the query), each `(S, S)` float32 in [0, 1]."""
    import torch

    from shoekit.explain.targets import SimilarityTarget

    match = evaluation(path, head).gallery[position][0]
    model, lock = explainer(path, head, method, layer)
    images = torch.stack([torch.from_numpy(query), match])
    with lock:
        features = model.features(images)
        cams = model.cams(images, [SimilarityTarget(features[1], head), SimilarityTarget(features[0], head)])
    return cams[0], cams[1]
