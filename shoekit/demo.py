"""The embedded demo: procedural shoe types -> dataset -> a briefly trained dual_pool run (the
`paper_fast` recipe: the paper's model, fresh renders of the procedural types every epoch; with
layer4 at stride 1, so that its Grad-CAM has 4 x 4 cells at the recipe's 64 px).

Every step is skipped when its output already exists and resumed when it was interrupted, so
`shoekit demo` is cheap to call again (the workbench's launcher calls it). The library is imported
inside the steps, so the CLI parser (which reads DemoSettings' defaults) loads without torch. Layout:
    OUT/data/                 the procedural dataset folder (manifest.csv, images/, stats.json)
    OUT/runs/dual_pool/       the run folder (config, checkpoint, metrics, eval/)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from shoekit.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """Sized so the whole demo builds and trains in a few minutes on 2 CPU cores."""

    out: Path = Path("demo")
    types: int = 30
    train_crops: int = 40
    gallery_crops: int = 6
    distractor_crops: int = 8
    epochs: int = 16                # chosen on 5 held-out demo types: docs/results.md, "The demo"
    image_size: int = 120           # px, the crops the demo dataset is rendered at
    input_size: int | None = None   # px the model trains and retrieves at; None: the recipe's sizes
    last_stride: int = 1            # layer4's stride; 1 puts its heatmaps on the shoe (docs/explanations.md)
    seed: int = 0

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def run(self) -> Path:
        return self.out / "runs" / "dual_pool"


def ensure_dataset(settings: DemoSettings, progress: bool) -> None:
    from shoekit.data import BuildOptions, build_dataset

    if (settings.data / "manifest.csv").is_file():
        log.info("demo dataset exists: %s", settings.data)
        return
    build_dataset(BuildOptions(out=settings.data, procedural=settings.types, scale="smoke",
                               train_crops=settings.train_crops, gallery_crops=settings.gallery_crops,
                               distractor_crops=settings.distractor_crops, seed=settings.seed,
                               size=settings.image_size, overwrite=True, progress=progress))


def ensure_trained(settings: DemoSettings, progress: bool) -> None:
    from shoekit.runs import CHECKPOINT_FILE, load_checkpoint, read_config
    from shoekit.train import train

    sizes = {} if settings.input_size is None else {"image_size": settings.input_size,
                                                    "train_sizes": [settings.input_size]}
    config = TrainConfig.from_recipe("paper_fast", data=str(settings.data), epochs=settings.epochs,
                                     warmup_steps=50, seed=settings.seed, last_stride=settings.last_stride,
                                     **sizes)
    checkpoint = settings.run / CHECKPOINT_FILE
    if not checkpoint.is_file():
        train(config, settings.run, progress=progress)
    elif load_checkpoint(checkpoint)["epoch"] < read_config(settings.run).epochs:
        train(config, settings.run, resume=True, progress=progress)
    else:
        log.info("demo run is trained: %s", settings.run)


def ensure_evaluated(settings: DemoSettings, progress: bool) -> dict[str, dict]:
    from shoekit.evaluate import evaluate_run
    from shoekit.models.heads import model_heads
    from shoekit.runs import missing_eval_files, read_metrics

    evaluated = read_metrics(settings.run).get("eval", {})
    heads = model_heads("none")  # the demo model has no BNNeck
    if set(heads) <= set(evaluated) and not any(missing_eval_files(settings.run, head) for head in heads):
        return evaluated
    return evaluate_run(settings.run, progress=progress)


def run_demo(settings: DemoSettings = DemoSettings(), progress: bool = True) -> dict[str, dict]:
    """Build, train and evaluate the demo as needed; returns {head: metrics}."""
    ensure_dataset(settings, progress)
    ensure_trained(settings, progress)
    return ensure_evaluated(settings, progress)
