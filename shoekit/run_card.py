"""A run's card: what the model is, what it was trained on and how, and how well it retrieves, in
plain sentences for a reader who is not an engineer (the workbench's "About this run").

Reads only the run folder's config.json, metrics.json and the dataset's cutouts.json (no model, no
images), so it is cheap enough for every page.
"""

from __future__ import annotations

import json
from pathlib import Path

from shoekit.config import TrainConfig
from shoekit.runs import read_config, read_metrics

ATTENTION_WORDS = {
    "none": "a plain ResNet50 (no attention)",
    "se": "ResNet50 with squeeze-and-excitation attention (SE) in every block",
    "cbam": "ResNet50 with CBAM attention (channel and spatial gates) in every block",
    "eca": "ResNet50 with efficient channel attention (ECA) in every block",
    "dual_pool": "ResNet50 with the paper's dual-pooling channel attention in every block",
}


def training_source(config: TrainConfig) -> str:
    """Where the training images came from, in words: the procedural demo types, cut-outs
    rendered afresh, or the dataset's fixed crops."""
    record_path = Path(config.data) / "cutouts.json"
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else None
    except (OSError, json.JSONDecodeError):
        record = None
    if record is None or config.render == "fixed":
        return f"the training crops of `{config.data}`"
    kind = ("the project's procedural shoe types (drawn by program, not photographed)"
            if record.get("source") == "procedural" else f"the shoe cut-outs in `{record.get('folder')}`")
    return f"{kind}, each training image a fresh simulated CCTV crop (floor, camera, blur, light, noise, JPEG)"


def loss_words(config: TrainConfig) -> str:
    """The training loss in words, e.g. "cross-entropy with label smoothing ε = 0.14"."""
    words = "cross-entropy"
    if config.classifier == "cosine":
        margin = "" if config.margin == "none" else f", {config.margin} margin {config.margin_value:g}"
        words += f" on a cosine-softmax classifier (scale {config.cos_scale:g}{margin})"
    if config.label_smoothing:
        words += f" with label smoothing ε = {config.label_smoothing:g}"
    if config.triplet_weight:
        words += f", plus a batch-hard triplet loss (weight {config.triplet_weight:g})"
    return words


def run_card(run_dir: str | Path) -> list[str]:
    """Sentences (Markdown) describing the run at `run_dir`: the model, the training (recipe,
    identities, epochs, images, minutes, input size, label smoothing, pretrained weights) and
    each evaluated head's Rank-1 and mAP on the test split. Missing facts are left out."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    metrics = read_metrics(run_dir)
    trained = metrics.get("train", {})
    lines = [f"**The model**: {ATTENTION_WORDS.get(config.attention, config.attention)}"
             + (" with a BNNeck" if config.neck == "bnneck" else "")
             + (", its last stage (layer4) at stride 1, which keeps twice the detail in its feature map "
                "and heatmaps" if config.last_stride == 1 else "") + "."]
    start = ("started from " + (f"pretrained weights (`{config.pretrained}`)" if config.pretrained
                                else "random weights (trained from scratch)"))
    recipe = f"the `{config.recipe}` recipe" if config.recipe and config.recipe != "custom" else "custom settings"
    how = [f"**Training**: {start}, with {recipe}, on {training_source(config)}"]
    if trained.get("num_classes"):
        how.append(f"{trained['num_classes']} shoe types")
    if trained.get("epochs"):
        how.append(f"{trained['epochs']} epochs")
    if trained.get("num_images") and trained.get("epochs"):
        how.append(f"about {trained['num_images'] * trained['epochs']:,} images seen")
    if trained.get("train_seconds"):
        how.append(f"{trained['train_seconds'] / 60:.0f} minutes on {trained.get('device', 'cpu')}")
    lines.append("; ".join(how) + ".")
    lines.append(f"Images are resized to {config.image_size} px before the network sees them; the loss is "
                 f"{loss_words(config)}.")
    if trained.get("final_val_mAP") is not None:
        lines.append(f"On {config.val_identities} shoe types held out of training, the last epoch reached "
                     f"Rank-1 {100 * trained['final_val_rank1']:.0f}% and mAP {100 * trained['final_val_mAP']:.1f}%.")
    scores = [f"`{head}` Rank-1 {100 * values['rank1']:.1f}%, mAP {100 * values['mAP']:.1f}%"
              for head, values in metrics.get("eval", {}).items() if {"rank1", "mAP"} <= set(values)]
    if scores:
        lines.append("**On the test split** (shoe types never seen in training): " + "; ".join(scores) + ".")
    return lines
