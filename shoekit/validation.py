"""The validation benchmark scored during training: held-out training identities, never the
test split. `score_validation` returns the Rank-1 and mAP that `train_log.csv` records."""

from __future__ import annotations

import numpy as np
import torch

from shoekit.data.online import ValidationSet
from shoekit.metrics import distance_matrix, rank_metrics
from shoekit.precision import autocast, to_device


@torch.inference_mode()
def head_features(model, images: torch.Tensor, head: str, device: torch.device, use_bf16: bool,
                  batch_size: int = 128) -> np.ndarray:
    """(N, 3, H, W) float images in [0, 1] -> (N, D) float32 features of `head`, eval mode."""
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = to_device(images[start:start + batch_size], device, channels_last=use_bf16)
        with autocast(device, use_bf16):
            chunks.append(model.features(batch, head).float().cpu().numpy())
    return np.concatenate(chunks)


def score_validation(model, validation: ValidationSet, head: str, device: torch.device,
                     use_bf16: bool) -> dict[str, float]:
    """{"val_rank1", "val_mAP"} (fractions) of `model` on `validation`, cosine distance; the
    model is left in eval mode (the training loop sets train mode each epoch)."""
    model.eval()
    query = head_features(model, validation.query, head, device, use_bf16)
    gallery = head_features(model, validation.gallery, head, device, use_bf16)
    result = rank_metrics(distance_matrix(query, gallery), np.array(validation.query_ids),
                          np.array(validation.gallery_ids), max_rank=min(50, len(gallery)))
    return {"val_rank1": float(result["rank1"]), "val_mAP": float(result["mAP"])}
