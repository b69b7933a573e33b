"""Loading ImageNet ResNet50 weights into any attention variant.

Three paths: torchvision's weights API (needs the network once, then torch's cache), a local
`.pth` file holding a torchvision-style state dict, and a shoekit run's `checkpoint.pt` (for
example from `shoekit pretrain`). Backbone tensors are copied by name; the attention parameters
(absent from ImageNet ResNet50, or of another module in a run of another attention) keep their
initialisation, and the FC layer is skipped when its shape differs or, for a shoekit run, always
(its classes are other identities). Everything is reported, never silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from shoekit.errors import CheckpointError
from shoekit.models.attention import ChannelMLP, conv_weights_as_linear

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What a weight load did: tensors copied, left at init (attention), skipped (shape differs)."""

    loaded: list[str] = field(default_factory=list)
    kept_init: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"loaded {len(self.loaded)} tensors, {len(self.kept_init)} attention tensors left at "
                f"their init, skipped {len(self.skipped)} ({', '.join(self.skipped) or 'none'})")


def load_backbone_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor],
                             source: str = "state dict", load_attention: bool = True,
                             load_classifier: bool = True) -> LoadReport:
    """Copy every tensor of `state_dict` whose name and shape match `model`.

    Attention and BNNeck tensors load when present with the same shape and `load_attention`,
    else keep their init (attention MLP weights saved as 1×1 convs are compared and loaded as
    the matrices they hold); the FC layer loads when its shape matches and `load_classifier`.
    Raises CheckpointError when a backbone tensor (anything outside `.attention`, `bnneck` and `fc`) is
    missing or has the wrong shape: then `state_dict` is not a ResNet50; the message names them.
    """
    state_dict = dict(state_dict)
    for name, module in model.named_modules():
        if isinstance(module, ChannelMLP):
            conv_weights_as_linear(state_dict, f"{name}.")
    own = model.state_dict()
    report = LoadReport()
    problems = []
    for name, tensor in own.items():
        incoming = state_dict.get(name)
        fits = incoming is not None and incoming.shape == tensor.shape
        if ".attention." in name or name.startswith("bnneck."):
            (report.loaded if fits and load_attention else report.kept_init).append(name)
        elif name.startswith("fc."):
            (report.loaded if fits and load_classifier else report.skipped).append(name)
        elif fits:
            report.loaded.append(name)
        elif not name.endswith("num_batches_tracked"):
            problems.append(f"{name}: {'missing' if incoming is None else tuple(incoming.shape)}")
    if problems:
        raise CheckpointError(
            f"{source} is not a ResNet50 state dict with torchvision's parameter names "
            f"({len(problems)} backbone tensors missing or of another shape: {'; '.join(problems[:5])}"
            f"{' ...' if len(problems) > 5 else ''}); "
            "pass a torchvision resnet50 state dict (e.g. saved with torch.save(model.state_dict(), path))"
        )
    model.load_state_dict({name: state_dict[name] for name in report.loaded}, strict=False)
    log.info("%s: %s", source, report.summary())
    return report


def read_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a `.pth` file (plain, or under a "state_dict"/"model" key), weights_only."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file; give the path of a ResNet50 .pth state dict")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{path}: cannot be read as a PyTorch weights file ({error})") from error
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors")
    return data


def run_attention(path: Path) -> str | None:
    """The attention module of the shoekit run whose checkpoint is `path` (from the config.json
    beside it), or None when `path` is not a shoekit run's checkpoint."""
    from shoekit.errors import CheckpointError
    from shoekit.runs import CONFIG_FILE, read_config  # the run folder's format (imported late: runs imports models)

    run_dir = Path(path).parent
    if not (run_dir / CONFIG_FILE).is_file():
        return None
    try:
        return read_config(run_dir).attention
    except (CheckpointError, OSError, ValueError, KeyError, TypeError):
        return None


def load_pretrained(model: nn.Module, source: str) -> LoadReport:
    """Load pretrained weights: `source` is "imagenet" (torchvision's API), a `.pth` path, or a
    shoekit run's checkpoint.pt (attention loaded when the run used the same module as `model`;
    classifier never)."""
    if source != "imagenet":
        attention = run_attention(Path(source))
        if attention is None:
            return load_backbone_state_dict(model, read_state_dict_file(source), source=str(source))
        same = attention == getattr(model, "attention", None)
        if not same:
            log.info("%s: trained with attention %s, this model uses %s: attention keeps its init",
                     source, attention, getattr(model, "attention", "?"))
        return load_backbone_state_dict(model, read_state_dict_file(source), source=str(source),
                                        load_attention=same, load_classifier=False)
    from torchvision.models import ResNet50_Weights

    try:
        state_dict = ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=True)
    except Exception as error:  # no network, proxy, corrupt cache
        raise CheckpointError(
            f"torchvision could not fetch ResNet50 ImageNet weights ({error}); offline, download "
            f"{ResNet50_Weights.IMAGENET1K_V2.url} elsewhere and pass the file: --pretrained PATH.pth"
        ) from error
    return load_backbone_state_dict(model, state_dict, source="torchvision ResNet50_Weights.IMAGENET1K_V2")
