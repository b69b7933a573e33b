"""A run's saved evaluation, read back for explanations and figures: rankings, features, crops.

Positions index the evaluation's order: query i is item i of the run's `query` split,
gallery position j item j of its `gallery` + `distractor` splits (both in manifest order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoekit.config import TrainConfig
from shoekit.data import ShoeCrops, eval_transform
from shoekit.errors import CheckpointError
from shoekit.explain.pixels import to_uint8_image
from shoekit.models.heads import check_head
from shoekit.runs import dataset_folder, earlier_eval_metrics, eval_dir, read_config, read_features, read_rankings


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
        saved = read_features(self.run_dir, self.head)
        check_rows(self.run_dir, self.head, saved.query_rows, self.queries)
        check_rows(self.run_dir, self.head, saved.gallery_rows, self.gallery)
        return saved.query.astype(np.float32), saved.gallery.astype(np.float32)


def check_rows(run_dir: Path, head: str, rows: np.ndarray, crops: ShoeCrops) -> None:
    """CheckpointError when an evaluation's saved manifest rows no longer match the dataset's."""
    if not np.array_equal(np.asarray(rows), crops.rows["row"].to_numpy()):
        raise CheckpointError(f"{eval_dir(run_dir, head)}: made from another version of "
                              f"{crops.root}/manifest.csv; re-run shoekit evaluate on this run")


def evaluated_data(run_dir: Path, head: str, config: TrainConfig) -> str:
    """The dataset folder the head was evaluated on (its metrics.json), else the run's own."""
    return dataset_folder(run_dir, (earlier_eval_metrics(run_dir, head) or {}).get("data") or config.data)


def load_evaluation(run_dir: str | Path, head: str = "max") -> EvaluationResults:
    """Read `RUN/eval/HEAD/rankings.npz` and open the query and gallery crops it ranks."""
    run_dir = Path(run_dir)
    check_head(head)
    rankings = read_rankings(run_dir, head)
    config = read_config(run_dir)
    data = evaluated_data(run_dir, head, config)
    transform = eval_transform(config.image_size)
    queries = ShoeCrops(data, ["query"], transform=transform, align=config.align)
    gallery = ShoeCrops(data, ["gallery", "distractor"], transform=transform, align=config.align)
    check_rows(run_dir, head, rankings.query_rows, queries)
    check_rows(run_dir, head, rankings.gallery_rows, gallery)
    return EvaluationResults(run_dir=run_dir, head=head, config=config, queries=queries, gallery=gallery,
                             top_indices=rankings.top_indices, top_distances=rankings.top_distances,
                             ap=rankings.ap)
