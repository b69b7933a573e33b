"""A run's saved evaluation, read back for explanations and figures: rankings, features, crops.

Positions index the evaluation's order: query i is item i of the run's `query` split,
gallery position j item j of its `gallery` + `distractor` splits (both in manifest order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoekit.config import TrainConfig
from shoekit.data import ShoeCrops, eval_transform
from shoekit.errors import CheckpointError
from shoekit.explain.pixels import to_uint8_image
from shoekit.metrics import distance_matrix
from shoekit.models.heads import check_head
from shoekit.runs import CONFIG_FILE, EVAL_DIR


def eval_file(run_dir: Path, head: str, name: str) -> Path:
    """`RUN/eval/HEAD/name`; CheckpointError telling the user to evaluate when it is missing."""
    path = Path(run_dir) / EVAL_DIR / head / name
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; run `shoekit evaluate {run_dir} --head {head}` first")
    return path


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as arrays:
            return dict(arrays)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({error}); delete it and re-run shoekit evaluate") from error


@dataclass
class EvaluationResults:
    """One head's evaluation of a run: rankings plus the crops they index.

    top_indices `(Q, K)` int gallery positions, best first; top_distances `(Q, K)` float32
    (cosine distance 1 − cos unless evaluated with another metric); ap `(Q,)` (NaN: no match
    in the gallery). `queries`/`gallery` yield model inputs at the run's image size.
    """

    run_dir: Path
    head: str
    config: TrainConfig
    queries: ShoeCrops
    gallery: ShoeCrops
    top_indices: np.ndarray
    top_distances: np.ndarray
    ap: np.ndarray

    def top_matches(self, query_index: int, top: int) -> tuple[np.ndarray, np.ndarray]:
        """Gallery positions `(k,)` and distances `(k,)` of query `query_index`'s best `top` matches."""
        if not 0 <= query_index < len(self.queries):
            raise IndexError(f"query index {query_index} is out of range: {self.run_dir} has "
                             f"{len(self.queries)} queries (0 to {len(self.queries) - 1})")
        return self.top_indices[query_index, :top], self.top_distances[query_index, :top]

    def query_image(self, index: int) -> np.ndarray:
        """Query `index` as the model sees it: `(S, S, 3)` uint8, S the run's image size."""
        return to_uint8_image(self.queries[index][0])

    def gallery_image(self, position: int) -> np.ndarray:
        """Gallery item `position` as the model sees it: `(S, S, 3)` uint8."""
        return to_uint8_image(self.gallery[position][0])

    def features(self) -> tuple[np.ndarray, np.ndarray]:
        """The saved L2-normalised features: query `(Q, D)` and gallery `(G, D)` float32.

        From RUN/eval/HEAD/features.npz (computed in the evaluation's precision, bf16 or fp32).
        """
        path = eval_file(self.run_dir, self.head, "features.npz")
        arrays = read_npz(path)
        check_rows(path, arrays["query_rows"], self.queries)
        check_rows(path, arrays["gallery_rows"], self.gallery)
        return arrays["query"].astype(np.float32), arrays["gallery"].astype(np.float32)


def check_rows(path: Path, rows: np.ndarray, crops: ShoeCrops) -> None:
    """CheckpointError when saved manifest rows no longer match the dataset's."""
    if not np.array_equal(np.asarray(rows), crops.rows["row"].to_numpy()):
        raise CheckpointError(f"{path}: made from another version of {crops.root}/manifest.csv; "
                              "re-run shoekit evaluate on this run")


def evaluated_data(run_dir: Path, head: str, config: TrainConfig) -> str:
    """The dataset folder the head was evaluated on (its metrics.json), else the run's own."""
    path = Path(run_dir) / EVAL_DIR / head / "metrics.json"
    if path.is_file():
        try:
            return json.loads(path.read_text()).get("data") or config.data
        except json.JSONDecodeError as error:
            raise CheckpointError(f"{path}: corrupt ({error}); re-run shoekit evaluate") from error
    return config.data


def load_evaluation(run_dir: str | Path, head: str = "max") -> EvaluationResults:
    """Read `RUN/eval/HEAD/rankings.npz` and open the query and gallery crops it ranks."""
    run_dir = Path(run_dir)
    check_head(head)
    path = eval_file(run_dir, head, "rankings.npz")
    config = TrainConfig.load(run_dir / CONFIG_FILE)
    data = evaluated_data(run_dir, head, config)
    transform = eval_transform(config.image_size)
    queries = ShoeCrops(data, ["query"], transform=transform, align=config.align)
    gallery = ShoeCrops(data, ["gallery", "distractor"], transform=transform, align=config.align)
    arrays = read_npz(path)
    check_rows(path, arrays["query_rows"], queries)
    check_rows(path, arrays["gallery_rows"], gallery)
    return EvaluationResults(run_dir=run_dir, head=head, config=config, queries=queries, gallery=gallery,
                             top_indices=arrays["top_indices"], top_distances=arrays["top_distances"],
                             ap=arrays["ap"])


def search_gallery(gallery_features: np.ndarray, query_feature: np.ndarray, top: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Best `top` gallery positions `(k,)` and cosine distances `(k,)` for one feature `(D,)`.

    Ties keep gallery order (a stable sort), as in `shoekit.evaluate`.
    """
    if gallery_features.shape[1] != np.asarray(query_feature).shape[-1]:
        raise ValueError(f"query feature has {np.asarray(query_feature).shape[-1]} values but the "
                         f"gallery features {gallery_features.shape[1]}: another head or model")
    distances = distance_matrix(np.asarray(query_feature)[None], gallery_features, "cosine")[0]
    order = np.argsort(distances, kind="stable")[:top]
    return order, distances[order]
