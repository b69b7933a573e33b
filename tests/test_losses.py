"""Label-smoothed cross-entropy in the paper's form and PyTorch's."""

import math

import pytest
import torch
import torch.nn.functional as F

from shoekit.losses import LabelSmoothingCrossEntropy


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])


@pytest.mark.parametrize("form", ["paper", "pytorch"])
def test_zero_epsilon_is_plain_cross_entropy(batch, form):
    logits, targets = batch
    loss = LabelSmoothingCrossEntropy(0.0, form)(logits, targets)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-6)


def test_paper_form_by_hand():
    """Target weight 1-eps, every other class eps/N (eqs. 6-7)."""
    logits, eps = torch.tensor([[2.0, 0.0, -1.0]]), 0.14
    log_p = F.log_softmax(logits, dim=1)[0]
    expected = -((1 - eps) * log_p[0] + eps / 3 * (log_p[1] + log_p[2]))
    loss = LabelSmoothingCrossEntropy(eps, "paper")(logits, torch.tensor([0]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_pytorch_form_matches_builtin_and_differs_from_paper(batch):
    logits, targets = batch
    ours = LabelSmoothingCrossEntropy(0.14, "pytorch")(logits, targets)
    assert ours.item() == pytest.approx(F.cross_entropy(logits, targets, label_smoothing=0.14).item())
    paper = LabelSmoothingCrossEntropy(0.14, "paper")(logits, targets)
    # they differ exactly by the eps/N weight on the target's log-probability
    log_p = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).mean()
    assert (paper - ours).item() == pytest.approx((0.14 / 5 * log_p).item(), rel=1e-5)


def test_bfloat16_logits_are_scored_in_float(batch):
    logits, targets = batch
    loss = LabelSmoothingCrossEntropy(0.1)(logits.bfloat16(), targets)
    assert loss.dtype == torch.float32 and math.isfinite(loss.item())


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="epsilon"):
        LabelSmoothingCrossEntropy(1.2)
    with pytest.raises(ValueError, match="paper"):
        LabelSmoothingCrossEntropy(0.1, "keras")
