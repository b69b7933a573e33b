"""Training: a shoe-type classifier on split `train` of a dataset folder, into a run folder.

Reproducible and resumable: the model is initialised from `config.seed`, each epoch's shuffle
and augmentation (or fresh renders, `shoekit.data.online`) are seeded from (seed, epoch), and a
checkpoint holding model, optimizer, scheduler and history is written atomically after every
epoch. `train(..., resume=True)` after a kill continues from the last checkpoint and ends with
the weights of an uninterrupted run. The last epoch's checkpoint drops the optimizer and
scheduler state (a third of the size with Adam).

With `config.val_identities`, held-out training identities are scored every epoch (val_rank1,
val_mAP in the log). With `config.budget_minutes`, training stops when that much training time
is spent and the schedules (learning rate, image size) follow the spent share of the budget,
so such a run depends on the machine's speed and is not bit-reproducible. With
`config.snapshot_minutes`, the weights are kept in RUN/snapshots/ each time that much more
training time has passed (for time-to-accuracy curves).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
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
from shoekit.runs import (CHECKPOINT_FILE, CONFIG_FILE, FORMAT_VERSION, LOG_FILE, SNAPSHOT_DIR,
                          load_checkpoint, load_weights, save_checkpoint, update_metrics, write_text)
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
    """The model's optimizer plus, with a centre loss, the centres' own SGD (Luo et al.: lr 0.5 on
    the centre gradient undone of its loss weight)."""

    def __init__(self, model: torch.nn.Module, criterion: ReidLoss, config: TrainConfig):
        self.model = build_optimizer(model, config)
        self.centers = None
        if criterion.center is not None:
            self.centers = torch.optim.SGD(criterion.center.parameters(), lr=config.center_lr)
            self.center_weight = config.center_weight

    def step(self, loss: torch.Tensor) -> None:
        self.model.zero_grad(set_to_none=True)
        if self.centers is not None:
            self.centers.zero_grad(set_to_none=True)
        loss.backward()
        self.model.step()
        if self.centers is not None:
            for center in self.centers.param_groups[0]["params"]:
                center.grad.mul_(1.0 / self.center_weight)
            self.centers.step()


def epoch_loader(context: DistContext, dataset: torch.utils.data.Dataset, config: TrainConfig, batch_size: int, seed: int,
                 num_workers: int) -> torch.utils.data.DataLoader:
    """One epoch's batches: shuffled (`config.sampler == "random"`) or P×K identity-balanced ("pk")."""
    if config.sampler == "random":
        return context.epoch_loader(dataset, batch_size, seed, num_workers)
    if config.sampler != "pk":
        raise ValueError(f"unknown sampler {config.sampler!r}; choose 'random' or 'pk'")
    if context.active:
        raise ShoekitError("--sampler pk runs in one process; use --sampler random under torchrun")
    sampler = PKBatchSampler(dataset.labels, batch_size // config.instances_per_identity,
                             config.instances_per_identity, seed)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers)


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


def write_history(run_dir: Path, history: list[dict]) -> None:
    """train_log.csv from the checkpoint's history (so it never disagrees with the checkpoint)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(run_dir / LOG_FILE, buffer.getvalue())


def run_epoch(model, loader, criterion, optimizers: Optimizers, scheduler, device, use_bf16, progress,
              context: DistContext = DistContext(), clock: BudgetClock | None = None) -> dict:
    """One pass over `loader` (cut short when the budget `clock` runs out); returns mean loss
    (and each term of it), accuracy (fraction) and images/s (over all processes)."""
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
        if clock is not None and clock.exhausted():
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
        save_checkpoint(run_dir / SNAPSHOT_DIR / f"minute_{minute:03d}.pt", {
            "format_version": FORMAT_VERSION, "epoch": history[-1]["epoch"], "model": model.state_dict(),
            "train_minutes": history[-1]["train_minutes"]})


def resume_state(optimizers: Optimizers, scheduler) -> dict:
    """What only an unfinished run needs to continue: optimizer and schedule state (twice the
    model's size with Adam, so a finished run's checkpoint leaves it out)."""
    return {"optimizer": optimizers.model.state_dict(), "scheduler": scheduler.state_dict(),
            "center_optimizer": optimizers.centers and optimizers.centers.state_dict()}


def prepare_run(config: TrainConfig, run_dir: Path, resume: bool) -> tuple[TrainConfig, dict | None]:
    """The config to use and the checkpoint to resume from (None for a fresh run); writes nothing
    (`start_run` does, once the data and the model are known to be usable)."""
    checkpoint_path = run_dir / CHECKPOINT_FILE
    check_parents(run_dir, "--resume" if resume else "--out")
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: is a file, not a run folder; choose another "
                              f"{'--resume' if resume else '--out'} folder")
    if resume:
        config = TrainConfig.load(run_dir / CONFIG_FILE)
        return config, (load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None)
    if checkpoint_path.exists():
        raise CheckpointError(f"{run_dir} already holds a run; continue it with --resume or choose "
                              "another --out folder")
    return config, None


def start_run(config: TrainConfig, run_dir: Path) -> None:
    """Create a fresh run's folder and save its config.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / CONFIG_FILE, config.to_json() + "\n")


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train (or continue) the run in `run_dir`; returns the final train metrics. Bad data or
    options raise ShoekitError before anything is written.

    Under torchrun (WORLD_SIZE > 1) each process trains on its share of every batch with
    DistributedDataParallel (`config.batch_size` stays the global batch); rank 0 writes the files.
    """
    run_dir = Path(run_dir)
    config, checkpoint = prepare_run(config, run_dir, resume)
    context = init_distributed(config.device)
    progress = progress and context.is_main
    for warning in validate_dataset(config.data, check_images=False):
        log.warning("%s", warning)
    data_hash = manifest_hash(config.data)
    if checkpoint is not None and checkpoint["manifest_hash"] != data_hash:
        raise CheckpointError(f"{config.data}/manifest.csv changed since {run_dir} started "
                              "(hash differs); restore it or start a new run")
    data = training_data(config)
    dataset, class_names = data.dataset, data.class_names

    device = context.device
    use_bf16 = config.bf16 and bf16_supported(device)
    torch.manual_seed(config.seed)
    model = build_model(config.attention, num_classes=len(class_names), last_stride=config.last_stride,
                        pretrained=None if checkpoint else config.pretrained, neck=config.neck,
                        classifier=config.classifier, cos_scale=config.cos_scale)
    if config.zero_init_residual and config.pretrained is None:
        model.zero_init_residual()
    model.to(device, memory_format=torch.channels_last if use_bf16 else torch.contiguous_format)
    criterion = ReidLoss(len(class_names), model.fc.in_features, config.label_smoothing, config.smoothing_form,
                         config.triplet_weight, config.triplet_margin, config.center_weight,
                         config.margin if config.classifier == "cosine" else "none", config.margin_value,
                         config.cos_scale).to(device)
    optimizers = Optimizers(model, criterion, config)
    batch_size = min(config.batch_size, len(dataset))
    steps_per_epoch = len(epoch_loader(context, dataset, config, batch_size, config.seed, num_workers=0))
    history = list(checkpoint["history"]) if checkpoint is not None else []
    clock = BudgetClock(config.budget_minutes, sum(h["seconds"] + h.get("val_seconds", 0.0) for h in history))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizers.model, lr_factor(config, steps_per_epoch, clock))

    start_epoch = 0
    finished = False
    if checkpoint is not None:
        load_weights(model, checkpoint["model"], run_dir / CHECKPOINT_FILE)
        criterion.load_state_dict(checkpoint.get("criterion", {}))
        finished = bool(checkpoint.get("finished", int(checkpoint["epoch"]) >= config.epochs))
        if not finished:  # a finished run's checkpoint keeps no optimizer state
            optimizers.model.load_state_dict(checkpoint["optimizer"])
            if optimizers.centers is not None:
                optimizers.centers.load_state_dict(checkpoint["center_optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
        start_epoch = int(checkpoint["epoch"])
        log.info("resuming %s after epoch %d of %d", run_dir, start_epoch, config.epochs)
    log.info("training %s (%d classes, %d %s images%s) on %s%s, %s", config.attention, len(class_names),
             len(dataset), "freshly rendered" if data.render == "online" else "fixed",
             f", {len(data.validation.query)} validation queries" if data.validation else "",
             device, f" x {context.world_size} processes" if context.active else "",
             "bf16 autocast + channels_last" if use_bf16 else "fp32")
    trainee = compiled(context.wrap(model), config.compile)
    if not resume and context.is_main:
        start_run(config, run_dir)

    epochs = tqdm(range(start_epoch, config.epochs), desc="epochs", initial=start_epoch,
                  total=config.epochs, disable=not progress or finished, unit="epoch")
    for epoch in epochs:
        if finished:
            break
        size = epoch_size(config, epoch, clock.share())
        set_epoch(dataset, config, epoch, size)
        torch.manual_seed(epoch_seed(config.seed, epoch))
        loader = epoch_loader(context, dataset, config, batch_size, epoch_seed(config.seed, epoch), config.num_workers)
        stats = run_epoch(trainee, loader, criterion, optimizers, scheduler, device, use_bf16, progress, context,
                          clock)
        record = {"epoch": epoch + 1, "lr": scheduler.get_last_lr()[0], "image_size": size, **stats}
        if data.validation is not None:
            started = time.perf_counter()
            record.update(score_validation(model, data.validation, config.val_head, device, use_bf16))
            record["val_seconds"] = time.perf_counter() - started
        record["train_minutes"] = clock.spent() / 60.0
        history.append(record)
        if context.is_main and (why := diverging(stats["loss"], len(class_names))):
            log.warning("epoch %d: %s; lower --lr (now %g) or lengthen --warmup-steps", epoch + 1, why, config.lr)
        epochs.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['accuracy']:.3f}",
                           **({"val_mAP": f"{record['val_mAP']:.3f}"} if "val_mAP" in record else {}))
        finished = epoch + 1 == config.epochs or clock.exhausted()
        if not context.is_main:
            continue
        save_checkpoint(run_dir / CHECKPOINT_FILE, {
            "format_version": FORMAT_VERSION, "epoch": epoch + 1, "model": model.state_dict(),
            "criterion": criterion.state_dict(), "history": history, "class_names": class_names,
            "manifest_hash": data_hash, "precision": "bf16" if use_bf16 else "fp32", "finished": finished,
            **({} if finished else resume_state(optimizers, scheduler)),
        })
        write_history(run_dir, history)
        keep_snapshot(run_dir, config, history, model, finished)

    summary = {
        "epochs": len(history), "render": data.render, "final_loss": history[-1]["loss"] if history else float("nan"),
        "final_accuracy": history[-1]["accuracy"] if history else float("nan"),
        "images_per_s": sum(h["images_per_s"] for h in history) / max(len(history), 1),
        "train_seconds": sum(h["seconds"] for h in history), "num_classes": len(class_names),
        **({"final_val_rank1": history[-1]["val_rank1"], "final_val_mAP": history[-1]["val_mAP"]}
           if history and "val_mAP" in history[-1] else {}),
        "num_images": len(dataset), "precision": "bf16" if use_bf16 else "fp32",
        "device": str(device), "label_smoothing": {"epsilon": config.label_smoothing,
                                                   "form": config.smoothing_form},
        "manifest_hash": data_hash, "processes": context.world_size,
    }
    if context.is_main:
        update_metrics(run_dir, "train", summary)
    context.barrier()
    return summary
