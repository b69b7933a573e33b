"""`shoekit train`: train a model variant on a dataset folder into a run folder (or resume one)."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from shoekit import choices
from shoekit.config import RECIPES, TrainConfig
from shoekit.errors import ShoekitError

HELP = {
    "data": "dataset folder holding manifest.csv (split 'train' is used for training)",
    "attention": "attention module in every bottleneck",
    "image_size": "input size in px (square)",
    "epochs": "number of epochs",
    "batch_size": "images per batch",
    "optimizer": "optimizer",
    "lr": "peak learning rate",
    "weight_decay": "weight decay (L2)",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum (SGD)",
    "warmup_steps": "linear warm-up steps (from 1%% of --lr)",
    "schedule": "learning-rate schedule after warm-up",
    "milestones": "epochs at which the step schedule multiplies the rate by --gamma",
    "gamma": "step schedule factor",
    "label_smoothing": "label smoothing epsilon (the paper's best: 0.14)",
    "smoothing_form": "'paper': target 1-eps, others eps/N (eqs. 6-7); 'pytorch': target 1-eps+eps/N",
    "random_erasing": "random erasing probability",
    "crop_scale": "fixed crops: random resized crop from this share of the area up to all of it (1: off)",
    "color_jitter": "fixed crops: brightness, contrast and saturation jitter by this fraction (0: off)",
    "blur": "fixed crops: probability of a Gaussian blur (0: off)",
    "last_stride": "stride of layer4 (1 doubles the feature map)",
    "pretrained": "ImageNet weights: 'imagenet' (torchvision download) or a ResNet50 .pth file",
    "seed": "random seed (initialisation, shuffling, augmentation)",
    "bf16": "bf16 autocast + channels_last where the CPU/GPU supports it",
    "compile": "torch.compile the model: fuses the attention's poolings and gating (the first step "
               "waits one to three minutes to compile; pays off on runs of more than a few minutes)",
    "device": "'auto', 'cpu', 'cuda' or 'cuda:N'",
    "num_workers": "data-loading worker processes",
    "cache_images": "decode every training image once before the first epoch and keep it in memory "
                    "(43 KB per 120 px crop): epochs then decode nothing, which a fast GPU needs",
    "align": "rotate crops level by their toe/heel keypoints when the manifest has them",
    "render": "'online': render every training sample afresh through the CCTV simulation from the "
              "cut-outs recorded by make-dataset (DATA/cutouts.json); 'fixed': train on the dataset's "
              "crops; 'auto': online wherever the dataset records its cut-outs",
    "val_identities": "hold this many training identities out of training and score them every epoch "
                      "as a query/gallery benchmark (val_rank1, val_mAP in train_log.csv); 0: off",
    "val_head": "the feature head the validation benchmark scores",
    "zero_init_residual": "zero the last batch norm of every residual branch at initialisation "
                          "(Goyal et al. 2017; from-scratch runs only)",
    "train_sizes": "training image sizes in px, spread over the epochs (or the budget) in equal chunks, "
                   "small first, e.g. 64 96; evaluation always uses --image-size; none given: --image-size throughout",
    "classifier": "'linear' FC layer or 'cosine': normalised features and weights times --cos-scale",
    "cos_scale": "scale s of the cosine classifier (its logits lie in [-s, s])",
    "margin": "margin on the target logit of the cosine classifier: 'cosface' s(cos t - m) or "
              "'arcface' s cos(t + m)",
    "margin_value": "the margin m",
    "snapshot_minutes": "keep the weights in RUN/snapshots/ every this many training minutes (0: off)",
    "budget_minutes": "stop after this many training minutes; the learning rate and --train-sizes "
                      "follow the spent share of the budget (0: off; --epochs is then a maximum)",
    "neck": "'bnneck': batch norm between the pooled feature and the classifier (adds the 'bnneck' head)",
    "sampler": "'random' shuffle or 'pk': P identities x K images per batch (needed by the triplet loss)",
    "instances_per_identity": "K of the pk sampler (P = batch size // K)",
    "triplet_weight": "weight of the batch-hard triplet loss on the pooled feature (0: off)",
    "triplet_margin": "triplet margin (0: soft margin)",
    "center_weight": "weight of the centre loss (0: off; 0.0005 in Luo et al.)",
    "center_lr": "SGD learning rate of the centre-loss class centres",
    "recipe": "preset the other options start from: 'paper_fast' (the paper's model, head and eps 0.14, "
              "trained to learn fast from scratch: fresh renders, zero-initialised residual branches, Adam "
              "1e-3, batch 32, 64 px), 'fast' (paper_fast + BNNeck + cosine softmax with a CosFace margin), "
              "'paper' (dual_pool, eps 0.14, the paper's published settings), 'bag_of_tricks' (paper + "
              "BNNeck, P x K triplet, random erasing 0.5, last stride 1: Luo et al.'s set, for pretrained, "
              "long training) or 'custom' (the defaults shown); options given explicitly override the preset",
}
CHOICES = {"attention": choices.ATTENTIONS, "optimizer": choices.OPTIMIZERS, "render": choices.RENDERS,
           "classifier": choices.CLASSIFIERS, "margin": choices.MARGINS, "val_head": choices.HEADS,
           "schedule": choices.SCHEDULES, "smoothing_form": choices.SMOOTHING_FORMS,
           "last_stride": choices.LAST_STRIDES, "neck": choices.NECKS, "sampler": choices.SAMPLERS,
           "recipe": ("custom", *RECIPES)}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field. Options left out stay None, so a --recipe preset fills them
    (`config_from_args`); the help shows the dataclass default."""
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        kwargs = {"help": f"{HELP[field.name]} (default: {shown})", "default": None, "dest": field.name}
        hint = hints[field.name]
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is list:
            kwargs.update(nargs="+", type=int, metavar="PX" if field.name == "train_sizes" else "EPOCH")
        else:
            kwargs["type"] = hint if hint in (int, float) else str
        if field.name in CHOICES:
            kwargs["choices"] = CHOICES[field.name]
        parser.add_argument(flag, **kwargs)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of the --recipe preset (default 'custom') with every option given on top."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name) is not None and f.name != "recipe"}
    return TrainConfig.from_recipe(args.recipe or "custom", **given)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model on a dataset folder",
        description="Train ResNet50 with an attention module as a shoe-type classifier on split "
        "'train' of a dataset folder. Writes RUN/config.json, train_log.csv, checkpoint.pt "
        "(atomically, every epoch) and metrics.json. A killed run continues with --resume RUN. "
        "Several processes: torchrun --nproc-per-node N -m shoekit train ... (DistributedDataParallel, "
        "gloo on CPUs, nccl on GPUs; --batch-size is the global batch).")
    parser.add_argument("--out", help="run folder to create (required unless --resume)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its last "
                        "checkpoint, with its saved config (other options are ignored)")
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate every feature head after training (as shoekit evaluate)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shoekit.distributed import is_main_process
    from shoekit.train import train

    if not args.resume and not (args.out and args.data):
        raise ShoekitError("give --data DIR and --out RUN, or --resume RUN (see shoekit train --help)")
    config = config_from_args(args)
    run_dir = args.resume or args.out
    summary = train(config, run_dir, resume=bool(args.resume), progress=not args.no_progress)
    if args.evaluate:
        from shoekit.evaluate import evaluate_run

        results = evaluate_run(run_dir, progress=not args.no_progress)
    if not is_main_process():
        return 0
    print(f"trained {run_dir}: {summary['epochs']} epochs, loss {summary['final_loss']:.4f}, "
          f"train accuracy {100 * summary['final_accuracy']:.1f}%, "
          f"{summary['images_per_s']:.0f} images/s ({summary['precision']})")
    if args.evaluate:
        from shoekit.commands.evaluate import print_results

        print_results(run_dir, results)
    return 0
