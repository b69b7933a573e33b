"""Training: a shoe-type classifier on split `train` of a dataset folder, into a run folder.

Reproducible and resumable: the model is initialised from `config.seed`, each epoch's shuffle
and augmentation (or fresh renders, `shoekit.data.online`) are seeded from (seed, epoch), and a
checkpoint holding model, optimizer, scheduler and history is written atomically after every
epoch. `train(..., resume=True)` after a kill continues from the last checkpoint and ends with
the weights of an uninterrupted run. `train` is `Trainer(...).fit()`: the trainer's methods are
the steps (data check, model and loss, optimizers and schedule, resume, one epoch, its
checkpoint, the summary). The last epoch's checkpoint drops the optimizer and
scheduler state (a third of the size with Adam).

With `config.val_identities`, held-out training identities are scored every epoch (val_rank1,
val_mAP in the log). With `config.budget_minutes`, training stops when that much training time
is spent and the schedules (learning rate, image size) follow the spent share of the budget,
so such a run depends on the machine's speed and is not bit-reproducible. With
`config.snapshot_minutes`, the weights are kept in RUN/snapshots/ each time that much more
training time has passed (for time-to-accuracy curves).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from shoekit.config import TrainConfig
from shoekit.data import PKBatchSampler, manifest_hash, validate_dataset
from shoekit.data.training_sets import epoch_size, set_epoch, training_data
from shoekit.distributed import DistContext, init_distributed
from shoekit.errors import CheckpointError, ShoekitError, TrainingError
from shoekit.losses import ReidLoss
from shoekit.models import build_model
from shoekit.outputs import check_parents
from shoekit.precision import autocast, bf16_supported, compiled, to_device
from shoekit.runs import (CHECKPOINT_FILE, load_checkpoint, load_weights, read_config, save_checkpoint,
                          snapshot_path, update_metrics, write_config, write_train_log)
from shoekit.validation import score_validation

log = logging.getLogger(__name__)


def fused_optimizers_supported() -> bool:
    """Whether torch has fused Adam/SGD kernels for CPU tensors (torch >= 2.4)."""
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return (major, minor) >= (2, 4)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW (decoupled weight decay) or SGD over the trainable parameters; fused kernels
    where torch has them (one pass over all parameters instead of a loop of small ops: about a
    tenth of a CPU training step)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if fused_optimizers_supported() else {}
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay, **fused)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay, **fused)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov, weight_decay=config.weight_decay, **fused)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose 'adam', 'adamw' or 'sgd'")


class Optimizers:
    """The model's optimizer (`model_optimizer`) plus, with a centre loss, the centres' own SGD
    (`center_optimizer`; Luo et al.: lr 0.5 on the centre gradient undone of its loss weight)."""

    def __init__(self, model: torch.nn.Module, criterion: ReidLoss, config: TrainConfig):
        self.model_optimizer = build_optimizer(model, config)
        self.center_optimizer = None
        if criterion.center is not None:
            self.center_optimizer = torch.optim.SGD(criterion.center.parameters(), lr=config.center_lr)
            self.center_weight = config.center_weight

    def step(self, loss: torch.Tensor) -> None:
        self.model_optimizer.zero_grad(set_to_none=True)
        if self.center_optimizer is not None:
            self.center_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.model_optimizer.step()
        if self.center_optimizer is not None:
            for center in self.center_optimizer.param_groups[0]["params"]:
                center.grad.mul_(1.0 / self.center_weight)
            self.center_optimizer.step()

    def state(self) -> dict:
        """Their state, as an unfinished run's checkpoint keeps it (keys optimizer, center_optimizer)."""
        return {"optimizer": self.model_optimizer.state_dict(),
                "center_optimizer": self.center_optimizer and self.center_optimizer.state_dict()}

    def load_state(self, checkpoint: dict) -> None:
        """Restore the state `state()` saved into `checkpoint`. Per-parameter state saved in
        another shape of the same size (the attention MLP's moments, kept as 1×1-conv weights by
        checkpoints before it became Linear layers) takes its parameter's shape."""
        self.model_optimizer.load_state_dict(checkpoint["optimizer"])
        match_parameter_shapes(self.model_optimizer)
        if self.center_optimizer is not None:
            self.center_optimizer.load_state_dict(checkpoint["center_optimizer"])


def match_parameter_shapes(optimizer: torch.optim.Optimizer) -> None:
    """Reshape in place every state tensor of `optimizer` that has its parameter's size but not its
    shape (non-fused optimizers need them alike); scalars such as Adam's `step` are left alone."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            for key, value in optimizer.state.get(parameter, {}).items():
                if (torch.is_tensor(value) and value.shape != parameter.shape
                        and value.numel() == parameter.numel() and value.dim() > 0):
                    optimizer.state[parameter][key] = value.view_as(parameter)


def check_sampler(context: DistContext, config: TrainConfig) -> None:
    """ValueError for an unknown `config.sampler`; ShoekitError for "pk" under torchrun."""
    if config.sampler not in ("random", "pk"):
        raise ValueError(f"unknown sampler {config.sampler!r}; choose 'random' or 'pk'")
    if config.sampler == "pk" and context.active:
        raise ShoekitError("--sampler pk runs in one process; use --sampler random under torchrun")


def pk_sampler(dataset: torch.utils.data.Dataset, config: TrainConfig, batch_size: int, seed: int) -> PKBatchSampler:
    """P×K identity-balanced batches: batch_size // K identities × K = `config.instances_per_identity` crops."""
    return PKBatchSampler(dataset.labels, batch_size // config.instances_per_identity,
                          config.instances_per_identity, seed)


def epoch_loader(context: DistContext, dataset: torch.utils.data.Dataset, config: TrainConfig, batch_size: int, seed: int,
                 num_workers: int) -> torch.utils.data.DataLoader:
    """One epoch's batches: shuffled (`config.sampler == "random"`) or P×K identity-balanced ("pk")."""
    check_sampler(context, config)
    if config.sampler == "random":
        return context.epoch_loader(dataset, batch_size, seed, num_workers)
    return torch.utils.data.DataLoader(dataset, batch_sampler=pk_sampler(dataset, config, batch_size, seed),
                                       num_workers=num_workers)


def steps_per_epoch(context: DistContext, dataset: torch.utils.data.Dataset, config: TrainConfig,
                    batch_size: int) -> int:
    """Optimizer steps in one epoch of `epoch_loader` (the same every epoch), counted without a loader."""
    check_sampler(context, config)
    if config.sampler == "random":
        return context.batches_per_epoch(len(dataset), batch_size)
    return len(pk_sampler(dataset, config, batch_size, config.seed))


class BudgetClock:
    """Training minutes spent, across resumes: `spent()` seconds so far, `share()` of
    `config.budget_minutes` spent (0 without a budget), `exhausted()`."""

    def __init__(self, budget_minutes: float, already_spent: float = 0.0):
        self.budget = 60.0 * budget_minutes
        self.base = already_spent
        self.started = time.perf_counter()

    def spent(self) -> float:
        return self.base + time.perf_counter() - self.started

    def share(self) -> float:
        return min(self.spent() / self.budget, 1.0) if self.budget > 0 else 0.0

    def exhausted(self) -> bool:
        return self.budget > 0 and self.spent() >= self.budget


def lr_factor(config: TrainConfig, steps_per_epoch: int, clock: BudgetClock | None = None):
    """step -> multiplier of `config.lr`: linear warm-up from 1%, then cosine to 0 or steps.
    With a `clock` that has a budget, the cosine follows the larger of the steps' and the
    budget's spent share."""
    total = max(config.epochs * steps_per_epoch, 1)
    warmup = min(config.warmup_steps, total - 1)

    def factor(step: int) -> float:
        if step < warmup:
            return 0.01 + 0.99 * step / warmup
        if config.schedule == "cosine":
            progress = (step - warmup) / max(total - warmup, 1)
            if clock is not None:
                progress = max(progress, clock.share())
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        if config.schedule == "step":
            epoch = step // steps_per_epoch
            return config.gamma ** sum(epoch >= m for m in config.milestones)
        raise ValueError(f"unknown schedule {config.schedule!r}; choose 'cosine' or 'step'")

    return factor


EXPLODED_FACTOR = 10.0  # an epoch's loss this many times the chance level's means training diverged


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def run_epoch(model, loader, criterion, optimizers: Optimizers, scheduler, device, use_bf16, progress,
              context: DistContext = DistContext(), clock: BudgetClock | None = None,
              after_step: Callable[[float], bool] | None = None) -> dict:
    """One pass over `loader` (cut short when the budget `clock` runs out, or when `after_step`,
    called with each batch's loss after its optimizer step, returns True); returns mean loss (and
    each term of it), accuracy (fraction) and images/s (over all processes)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    part_sums: dict[str, float] = {}
    start = time.perf_counter()
    bar = tqdm(loader, desc="  batches", leave=False, disable=not progress, unit="batch")
    for images, labels, _ in bar:
        images = to_device(images, device, channels_last=use_bf16)
        labels = labels.to(device)
        with autocast(device, use_bf16):
            features, logits = model(images, with_features=True) if criterion.needs_features else (None, model(images))
        loss, parts = criterion(features, logits, labels)
        if not torch.isfinite(loss):
            raise TrainingError(f"the training loss became {loss.item()} after {seen} images of this epoch: "
                                "the learning rate is too high for this run (lower --lr, or lengthen "
                                "--warmup-steps); the checkpoint of the last finished epoch is kept")
        optimizers.step(loss)
        scheduler.step()
        total_loss += loss.item() * len(labels)
        for name, value in parts.items():
            part_sums[name] = part_sums.get(name, 0.0) + value * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        rate = seen / (time.perf_counter() - start)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}")
        if (clock is not None and clock.exhausted()) or (after_step is not None and after_step(loss.item())):
            break
    seconds = time.perf_counter() - start
    names = sorted(part_sums) if len(part_sums) > 1 else []
    total_loss, correct, seen, *part_values = context.sum([total_loss, correct, seen, *(part_sums[n] for n in names)])
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1),
            **{f"loss_{name}": value / max(seen, 1) for name, value in zip(names, part_values)},
            "images_per_s": seen / max(seconds, 1e-9), "seconds": seconds}


def diverging(loss: float, classes: int) -> str | None:
    """Why an epoch's mean training `loss` says training has diverged (far above what a model that
    guesses among `classes` classes scores, ln(classes)), or None."""
    chance = math.log(max(classes, 2))
    if loss > EXPLODED_FACTOR * chance:
        return f"the training loss {loss:.4g} is far above chance level ({chance:.2f}): training has diverged"
    return None


def keep_snapshot(run_dir: Path, config: TrainConfig, history: list[dict], model: torch.nn.Module,
                  finished: bool) -> None:
    """Save RUN/snapshots/minute_MMM.pt (weights, epoch, training minutes) when this epoch
    crossed a multiple of `config.snapshot_minutes` of training time (MMM: that multiple), and
    after the last epoch (MMM: its minutes, rounded up)."""
    if config.snapshot_minutes <= 0:
        return
    before = history[-2]["train_minutes"] if len(history) > 1 else 0.0
    mark = int(history[-1]["train_minutes"] // config.snapshot_minutes)
    crossed = mark > int(before // config.snapshot_minutes)
    if crossed or finished:
        minute = round(mark * config.snapshot_minutes) if crossed else math.ceil(history[-1]["train_minutes"])
        save_checkpoint(snapshot_path(run_dir, minute), {
            "epoch": history[-1]["epoch"], "model": model.state_dict(),
            "train_minutes": history[-1]["train_minutes"]})


def prepare_run(config: TrainConfig, run_dir: Path, resume: bool) -> tuple[TrainConfig, dict | None]:
    """The config to use and the checkpoint to resume from (None for a fresh run); writes nothing
    (`Trainer.fit` does, once the data and the model are known to be usable)."""
    checkpoint_path = run_dir / CHECKPOINT_FILE
    check_parents(run_dir, "--resume" if resume else "--out")
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: is a file, not a run folder; choose another "
                              f"{'--resume' if resume else '--out'} folder")
    if resume:
        config = read_config(run_dir)
        return config, (load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None)
    if checkpoint_path.exists():
        raise CheckpointError(f"{run_dir} already holds a run; continue it with --resume or choose "
                              "another --out folder")
    return config, None


class Trainer:
    """One run's training: `Trainer(config, run_dir, resume).fit()` -> the final train metrics.

    Construction checks the run folder, the data and the options and builds the model, loss,
    optimizers and schedule (restoring them from the checkpoint when resuming); it writes
    nothing, so bad data or options raise ShoekitError before the run folder changes. `fit`
    trains the remaining epochs, writing checkpoint.pt, train_log.csv (and snapshots) after
    each on the main process, and the summary into metrics.json at the end.
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True):
        self.run_dir, self.resume = Path(run_dir), resume
        self.config, checkpoint = prepare_run(config, self.run_dir, resume)
        self.context = init_distributed(self.config.device)
        self.device = self.context.device
        self.progress = progress and self.context.is_main
        self.data_hash = self.check_data(checkpoint)
        self.data = training_data(self.config)
        self.use_bf16 = self.config.bf16 and bf16_supported(self.device)
        self.model, self.criterion = self.build_model(fresh=checkpoint is None)
        self.batch_size = min(self.config.batch_size, len(self.data.dataset))
        self.history: list[dict] = list(checkpoint["history"]) if checkpoint is not None else []
        self.clock = BudgetClock(self.config.budget_minutes,
                                 sum(h["seconds"] + h.get("val_seconds", 0.0) for h in self.history))
        self.optimizers, self.scheduler = self.build_optimizers()
        self.start_epoch, self.finished = 0, False
        if checkpoint is not None:
            self.restore(checkpoint)

    @property
    def num_classes(self) -> int:
        return len(self.data.class_names)

    @property
    def precision(self) -> str:
        return "bf16" if self.use_bf16 else "fp32"

    def check_data(self, checkpoint: dict | None) -> str:
        """The training manifest's hash, after logging the dataset's warnings; CheckpointError when
        it changed since the checkpoint was written."""
        for warning in validate_dataset(self.config.data, check_images=False):
            log.warning("%s", warning)
        data_hash = manifest_hash(self.config.data)
        if checkpoint is not None and checkpoint["manifest_hash"] != data_hash:
            raise CheckpointError(f"{self.config.data}/manifest.csv changed since {self.run_dir} started "
                                  "(hash differs); restore it or start a new run")
        return data_hash

    def build_model(self, fresh: bool) -> tuple[torch.nn.Module, ReidLoss]:
        """The model (initialised from `config.seed`; pretrained weights only for a `fresh` run, a
        resumed one loads its own) on the device, and the loss (whose centres, if any, follow)."""
        config = self.config
        torch.manual_seed(config.seed)
        model = build_model(config.attention, num_classes=self.num_classes, last_stride=config.last_stride,
                            pretrained=config.pretrained if fresh else None, neck=config.neck,
                            classifier=config.classifier, cos_scale=config.cos_scale)
        if config.zero_init_residual and config.pretrained is None:
            model.zero_init_residual()
        model.to(self.device, memory_format=torch.channels_last if self.use_bf16 else torch.contiguous_format)
        criterion = ReidLoss(self.num_classes, model.fc.in_features, config.label_smoothing, config.smoothing_form,
                             config.triplet_weight, config.triplet_margin, config.center_weight,
                             config.margin if config.classifier == "cosine" else "none", config.margin_value,
                             config.cos_scale).to(self.device)
        return model, criterion

    def build_optimizers(self) -> tuple[Optimizers, torch.optim.lr_scheduler.LambdaLR]:
        """The optimizers and the per-step learning-rate schedule (`lr_factor`)."""
        optimizers = Optimizers(self.model, self.criterion, self.config)
        steps = steps_per_epoch(self.context, self.data.dataset, self.config, self.batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizers.model_optimizer,
                                                      lr_factor(self.config, steps, self.clock))
        return optimizers, scheduler

    def restore(self, checkpoint: dict) -> None:
        """Continue from `checkpoint`: weights, loss state, and (unless the run had finished, whose
        checkpoint keeps none) optimizer and schedule state."""
        load_weights(self.model, checkpoint["model"], self.run_dir / CHECKPOINT_FILE)
        self.criterion.load_state_dict(checkpoint.get("criterion", {}))
        self.finished = bool(checkpoint.get("finished", int(checkpoint["epoch"]) >= self.config.epochs))
        if not self.finished:
            self.optimizers.load_state(checkpoint)
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.start_epoch = int(checkpoint["epoch"])
        log.info("resuming %s after epoch %d of %d", self.run_dir, self.start_epoch, self.config.epochs)

    def fit(self) -> dict:
        """Train the remaining epochs (none when the run has finished); returns `summary()`."""
        config, data, context = self.config, self.data, self.context
        log.info("training %s (%d classes, %d %s images%s) on %s%s, %s", config.attention, self.num_classes,
                 len(data.dataset), "freshly rendered" if data.render == "online" else "fixed",
                 f", {len(data.validation.query)} validation queries" if data.validation else "",
                 self.device, f" x {context.world_size} processes" if context.active else "",
                 "bf16 autocast + channels_last" if self.use_bf16 else "fp32")
        trainee = compiled(context.wrap(self.model), config.compile)
        if not self.resume and context.is_main:
            write_config(self.run_dir, config)
        epochs = tqdm(range(self.start_epoch, config.epochs), desc="epochs", initial=self.start_epoch,
                      total=config.epochs, disable=not self.progress or self.finished, unit="epoch")
        for epoch in epochs:
            if self.finished:
                break
            record = self.train_epoch(trainee, epoch)
            epochs.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.3f}",
                               **({"val_mAP": f"{record['val_mAP']:.3f}"} if "val_mAP" in record else {}))
            self.finished = epoch + 1 == config.epochs or self.clock.exhausted()
            if context.is_main:
                self.save_epoch()
        summary = self.summary()
        if context.is_main:
            update_metrics(self.run_dir, "train", summary)
        context.barrier()
        return summary

    def train_epoch(self, trainee: torch.nn.Module, epoch: int) -> dict:
        """Epoch `epoch` (from 0), seeded from (seed, epoch), then the validation benchmark if any;
        appends its log row to `history` and returns it."""
        config = self.config
        size = epoch_size(config, epoch, self.clock.share())
        set_epoch(self.data.dataset, config, epoch, size)
        torch.manual_seed(epoch_seed(config.seed, epoch))
        loader = epoch_loader(self.context, self.data.dataset, config, self.batch_size,
                              epoch_seed(config.seed, epoch), config.num_workers)
        stats = run_epoch(trainee, loader, self.criterion, self.optimizers, self.scheduler, self.device,
                          self.use_bf16, self.progress, self.context, self.clock)
        record = {"epoch": epoch + 1, "lr": self.scheduler.get_last_lr()[0], "image_size": size, **stats}
        if self.data.validation is not None:
            started = time.perf_counter()
            record.update(score_validation(self.model, self.data.validation, config.val_head, self.device,
                                           self.use_bf16))
            record["val_seconds"] = time.perf_counter() - started
        record["train_minutes"] = self.clock.spent() / 60.0
        self.history.append(record)
        if self.context.is_main and (why := diverging(stats["loss"], self.num_classes)):
            log.warning("epoch %d: %s; lower --lr (now %g) or lengthen --warmup-steps", epoch + 1, why, config.lr)
        return record

    def save_epoch(self) -> None:
        """checkpoint.pt after the last epoch of `history` (an unfinished run's with optimizer and
        schedule state, a third of the size without), then train_log.csv and any snapshot."""
        resume_state = {} if self.finished else {**self.optimizers.state(), "scheduler": self.scheduler.state_dict()}
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, {
            "epoch": self.history[-1]["epoch"], "model": self.model.state_dict(),
            "criterion": self.criterion.state_dict(), "history": self.history, "class_names": self.data.class_names,
            "manifest_hash": self.data_hash, "precision": self.precision, "finished": self.finished,
            **resume_state,
        })
        write_train_log(self.run_dir, self.history)
        keep_snapshot(self.run_dir, self.config, self.history, self.model, self.finished)

    def summary(self) -> dict:
        """The run's train metrics (metrics.json["train"]): epochs, final loss / accuracy (and
        validation Rank-1 / mAP), mean images/s, training seconds, data and precision."""
        history, config = self.history, self.config
        last = history[-1] if history else {}
        return {
            "epochs": len(history), "render": self.data.render, "final_loss": last.get("loss", float("nan")),
            "final_accuracy": last.get("accuracy", float("nan")),
            "images_per_s": sum(h["images_per_s"] for h in history) / max(len(history), 1),
            "train_seconds": sum(h["seconds"] for h in history), "num_classes": self.num_classes,
            **({"final_val_rank1": last["val_rank1"], "final_val_mAP": last["val_mAP"]} if "val_mAP" in last else {}),
            "num_images": len(self.data.dataset), "precision": self.precision,
            "device": str(self.device), "label_smoothing": {"epsilon": config.label_smoothing,
                                                            "form": config.smoothing_form},
            "manifest_hash": self.data_hash, "processes": self.context.world_size,
        }


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train (or continue) the run in `run_dir`; returns the final train metrics. Bad data or
    options raise ShoekitError before anything is written.

    Under torchrun (WORLD_SIZE > 1) each process trains on its share of every batch with
    DistributedDataParallel (`config.batch_size` stays the global batch); rank 0 writes the files.
    """
    return Trainer(config, run_dir, resume, progress).fit()
