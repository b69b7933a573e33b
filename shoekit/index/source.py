"""Where features come from: the model's weights, the head and the gallery's manifest.

An index remembers the `FeatureSource` of its gallery and refuses queries (or an ONNX file
refuses a run) whose model fingerprint or head differ: distances between features of two
models mean nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import torch

from shoekit.index.errors import GalleryIndexError


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 (hex, 64 chars) of a model's state dict: names, dtypes, shapes and values."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class FeatureSource:
    """The identity of a set of features.

    `model`: `model_fingerprint` of the weights; `head`: feature head; `feature_dim`: D;
    `run` and `attention`: where the weights came from (for messages); `data` and
    `manifest_hash`: the dataset folder of the gallery rows ("" for queries).
    """

    model: str
    head: str
    feature_dim: int
    run: str = ""
    attention: str = ""
    data: str = ""
    manifest_hash: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureSource":
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})

    def check_compatible(self, other: "FeatureSource", where: str) -> None:
        """GalleryIndexError unless `other` comes from the same weights and head as `self`."""
        if other.model != self.model:
            raise GalleryIndexError(
                f"{where}: built from the weights of run {self.run or '?'} ({self.attention}, "
                f"fingerprint {self.model[:12]}), but these features come from run {other.run or '?'} "
                f"(fingerprint {other.model[:12]}); search with the same run or rebuild the index "
                "from this run (shoekit index build)")
        if other.head != self.head or other.feature_dim != self.feature_dim:
            raise GalleryIndexError(
                f"{where}: built from head {self.head!r} ({self.feature_dim}-d) but these features "
                f"come from head {other.head!r} ({other.feature_dim}-d); use --head {self.head} or "
                "rebuild the index with this head")
