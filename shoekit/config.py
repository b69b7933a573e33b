"""Training configuration: one dataclass, saved as `config.json` in every run folder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from shoekit.errors import CheckpointError


@dataclass
class TrainConfig:
    """Everything that determines a training run (with the dataset's manifest hash)."""

    data: str = ""
    attention: str = "dual_pool"
    image_size: int = 120                # px, square
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adam"              # "adam" | "sgd"
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    momentum: float = 0.9                # sgd only
    nesterov: bool = True                # sgd only
    warmup_steps: int = 200              # linear warm-up from 1% of lr, in optimizer steps
    schedule: str = "cosine"             # "cosine" | "step"
    milestones: list[int] = field(default_factory=lambda: [20, 40])  # epochs, step schedule
    gamma: float = 0.1                   # step schedule factor
    label_smoothing: float = 0.0         # epsilon
    smoothing_form: str = "paper"        # "paper" (target 1-eps) | "pytorch" (1-eps+eps/N)
    random_erasing: float = 0.0          # probability
    last_stride: int = 2
    pretrained: str | None = None        # None | "imagenet" | path to .pth
    seed: int = 0
    bf16: bool = True                    # bf16 autocast + channels_last where supported
    device: str = "auto"
    num_workers: int = 1
    align: bool = True                   # toe-heel alignment when the manifest has keypoints

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CheckpointError(f"{source}: unknown settings {unknown}; it was written by another "
                                  "shoekit version, retrain or remove them")
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path}: cannot read the run's config ({error})") from error
        return cls.from_dict(values, source=str(path))
