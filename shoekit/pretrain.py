"""Pretraining on procedural shoe types: many identities for the backbone, as ImageNet gives.

`pretrain(settings, config)` makes a dataset of `settings.types` procedural types (their
cut-outs recorded, so every epoch renders them afresh through the CCTV simulation; 4 fixed
crops per type and a small held-out test split are written too), checks that the generator
made them distinct from one another (`procedural.indistinct_pairs`), and trains a run folder
`settings.out` on it. `shoekit train --pretrained OUT/checkpoint.pt` then starts from that
backbone (and the attention, when both runs use the same module); the classifier keeps its init.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from shoekit.config import TrainConfig
from shoekit.errors import DataError, SettingsError

log = logging.getLogger(__name__)

DATA_DIR = "data"
MIN_TYPES = 10


@dataclass(frozen=True)
class PretrainSettings:
    """`types` procedural shoe types (seed `seed`) into the run folder `out` (data in out/data)."""

    types: int
    out: Path
    seed: int = 0
    crops_per_type: int = 4        # fixed crops written per training type (an epoch's samples)
    test_fraction: float = 0.05    # types held out as a test split of the procedural data
    progress: bool = True

    @property
    def data(self) -> Path:
        return self.out / DATA_DIR


def ensure_procedural_data(settings: PretrainSettings) -> None:
    """Build out/data unless it exists; DataError if the generator repeats a type."""
    from shoekit.data import BuildOptions, build_dataset
    from shoekit.data.procedural import indistinct_pairs, make_shoe_types

    if settings.types < MIN_TYPES:
        raise SettingsError(f"--procedural {settings.types}: pretraining needs at least {MIN_TYPES} types")
    if (settings.data / "manifest.csv").is_file():
        log.info("procedural pretraining data exists: %s", settings.data)
        return
    repeated = indistinct_pairs(make_shoe_types(settings.types, seed=settings.seed))
    if repeated:
        raise DataError(f"--procedural {settings.types}: the generator made {len(repeated)} pairs of "
                        f"types that cannot be told apart (e.g. {repeated[0]}); use fewer types")
    build_dataset(BuildOptions(out=settings.data, procedural=settings.types, scale="smoke", seed=settings.seed,
                               train_crops=settings.crops_per_type, gallery_crops=4, distractor_crops=0,
                               train_fraction=1.0 - settings.test_fraction, test_fraction=settings.test_fraction,
                               distractor_fraction=0.0, progress=settings.progress))


def pretrain(settings: PretrainSettings, config: TrainConfig) -> dict:
    """Build the procedural data and train `config` (its `data` replaced) into `settings.out`."""
    from shoekit.train import train

    if config.render == "fixed":
        raise SettingsError("pretraining renders its procedural types afresh; drop --render fixed")
    ensure_procedural_data(settings)
    return train(replace(config, data=str(settings.data), render="online"), settings.out,
                 progress=settings.progress)
