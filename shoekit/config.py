"""Training configuration: one dataclass, saved as `config.json` in every run folder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from shoekit.errors import CheckpointError


# Recipe presets: settings that override TrainConfig's defaults (explicit options override them).
# "paper": the paper's best (dual_pool, layer4+max retrieval, label smoothing 0.14).
# "bag_of_tricks": paper + the re-id tricks of Luo et al. ("Bag of Tricks", 2019): BNNeck, batch-hard
#   triplet loss with a P×K sampler, random erasing, last stride 1 (meant for ImageNet-initialised
#   networks trained for long).
# (A "strong" preset, paper + BNNeck, was dropped: on the validation types of `shoekit ablate` with
#   the fast training, results/cpu/ablation.csv, no trick beat the paper row, BNNeck included.)
PAPER_RECIPE = {"attention": "dual_pool", "label_smoothing": 0.14}
# How to learn fast from scratch, each lever chosen on the validation identities
# (benchmarks/bench_levers.py, results in benchmarks/results/levers.csv): fresh renders wherever the
# dataset records its cut-outs (render "auto", the default), every residual branch starting as the
# identity, a higher peak rate, batches of 32 (twice the steps per image), and 64 px inputs
# throughout: the 120 px crops are resized to 64 px for training and for retrieval.
FAST_TRAINING = {"zero_init_residual": True, "lr": 1e-3, "warmup_steps": 150, "batch_size": 32,
                 "train_sizes": [64], "image_size": 64}
RECIPES: dict[str, dict] = {
    "paper": PAPER_RECIPE,
    "paper_fast": {**PAPER_RECIPE, **FAST_TRAINING},
    "fast": {**PAPER_RECIPE, **FAST_TRAINING, "neck": "bnneck", "classifier": "cosine",
             "margin": "cosface", "margin_value": 0.25, "cos_scale": 16.0},
    "bag_of_tricks": {**PAPER_RECIPE, "neck": "bnneck", "sampler": "pk", "triplet_weight": 1.0,
                      "random_erasing": 0.5, "last_stride": 1},
}
# the retrieval head each recipe is meant for
RECIPE_HEADS = {"paper": "max", "paper_fast": "max", "fast": "bnneck", "bag_of_tricks": "bnneck"}


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
    crop_scale: float = 1.0              # random resized crop's least area share (1: plain resize)
    color_jitter: float = 0.0            # brightness/contrast/saturation jitter fraction (0: off)
    blur: float = 0.0                    # Gaussian blur probability (0: off)
    last_stride: int = 2
    neck: str = "none"                   # "none" | "bnneck"
    sampler: str = "random"              # "random" | "pk" (P identities x K images per batch)
    instances_per_identity: int = 4      # K of the pk sampler; P = batch_size // K
    triplet_weight: float = 0.0          # batch-hard triplet loss on the pooled feature; 0 = off
    triplet_margin: float = 0.3          # 0 = soft margin log(1 + exp(d_ap - d_an))
    center_weight: float = 0.0           # centre loss weight; 0 = off
    center_lr: float = 0.5               # SGD learning rate of the class centres
    recipe: str = "custom"               # the preset these settings came from (see RECIPES)
    pretrained: str | None = None        # None | "imagenet" | path to .pth
    seed: int = 0
    bf16: bool = True                    # bf16 autocast + channels_last where supported
    compile: bool = False                # torch.compile the model (fuses the attention's work)
    device: str = "auto"
    num_workers: int = 1
    cache_images: bool = False           # decode the training images once, keep them in memory
    align: bool = True                   # toe-heel alignment when the manifest has keypoints
    render: str = "auto"                 # "online" fresh CCTV renders | "fixed" crops | "auto"
    val_identities: int = 0              # training identities held out as a validation benchmark
    val_head: str = "max"                # the head the validation benchmark scores
    zero_init_residual: bool = False     # zero the last BN of every residual branch at init
    train_sizes: list[int] = field(default_factory=list)  # px per epoch chunk; [] = image_size
    classifier: str = "linear"           # "linear" | "cosine" (normalised, times cos_scale)
    cos_scale: float = 16.0              # cosine classifier scale s
    margin: str = "none"                 # "none" | "cosface" | "arcface" (cosine classifier)
    margin_value: float = 0.35           # m of the margin
    snapshot_minutes: float = 0.0        # keep the weights every this many training minutes
    budget_minutes: float = 0.0          # stop after this many training minutes (0: epochs only)

    @staticmethod
    def recipe_of(settings: dict) -> str:
        """The preset whose settings are exactly `settings`, else "custom"."""
        return next((name for name, preset in RECIPES.items() if preset == settings), "custom")

    @classmethod
    def from_recipe(cls, recipe: str = "custom", **settings) -> "TrainConfig":
        """The preset `recipe` ("custom": none; see RECIPES) with `settings` on top of it."""
        if recipe != "custom" and recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of custom, {', '.join(RECIPES)}")
        return cls(**{**RECIPES.get(recipe, {}), **settings, "recipe": recipe})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "TrainConfig":
        if not isinstance(values, dict):
            raise CheckpointError(f"{source}: not a run config (a JSON object of training settings, as "
                                  f"shoekit train writes it, was expected; found a {type(values).__name__}); "
                                  "restore the run's config.json or retrain")
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
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path}: cannot read the run's config ({error})") from error
        return cls.from_dict(values, source=str(path))
