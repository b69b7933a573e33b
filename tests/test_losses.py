"""Label-smoothed cross-entropy (paper's and PyTorch's form), batch-hard triplet, centre loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from shoekit.losses import (BatchHardTripletLoss, CenterLoss, LabelSmoothingCrossEntropy, ReidLoss,
                            hardest_pairs, pairwise_distances)


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


# Four points on a line: identity 0 at 0 and 1, identity 1 at 3 and 7.
LINE = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
LINE_LABELS = torch.tensor([0, 0, 1, 1])


def test_triplet_mining_picks_the_hardest_pairs():
    positive, negative = hardest_pairs(pairwise_distances(LINE), LINE_LABELS)
    # farthest same-identity point, nearest other-identity point, by hand:
    assert positive.tolist() == [1, 0, 3, 2]
    assert negative.tolist() == [2, 2, 1, 1]


def test_triplet_loss_by_hand():
    # anchors: 0: d_ap 1, d_an 3; 1: 1, 2; 2: 4, 2; 3: 4, 6.  margin 0.3 -> relu(d_ap - d_an + 0.3)
    expected = (0 + 0 + (4 - 2 + 0.3) + 0) / 4
    assert BatchHardTripletLoss(0.3)(LINE, LINE_LABELS).item() == pytest.approx(expected, rel=1e-5)
    soft = sum(math.log1p(math.exp(ap - an)) for ap, an in ((1, 3), (1, 2), (4, 2), (4, 6))) / 4
    assert BatchHardTripletLoss(0.0)(LINE, LINE_LABELS).item() == pytest.approx(soft, rel=1e-5)


def test_triplet_gradient_pulls_positives_and_pushes_negatives():
    features = LINE.clone().requires_grad_(True)
    BatchHardTripletLoss(0.3)(features, LINE_LABELS).backward()
    # only anchor 2 (at 3) violates the margin; a descent step (against the gradient) moves it up
    # towards its positive (at 7), that positive down towards it, and its negative (at 1) away
    step = -features.grad[:, 0]
    assert step[2] > 0 and step[3] < 0 and step[1] < 0 and step[0] == 0


def test_an_anchor_without_positive_adds_no_loss():
    positive, _ = hardest_pairs(pairwise_distances(LINE[:3]), torch.tensor([0, 0, 1]))
    assert positive[2].item() == 2


def test_center_loss_by_hand():
    loss = CenterLoss(num_classes=2, dim=1)
    with torch.no_grad():
        loss.centers.copy_(torch.tensor([[0.5], [5.0]]))
    expected = 0.5 * (0.25 + 0.25 + 4 + 4) / 4
    assert loss(LINE, LINE_LABELS).item() == pytest.approx(expected)


def test_reid_loss_sums_its_terms():
    torch.manual_seed(0)
    logits = torch.randn(4, 2)
    criterion = ReidLoss(2, 1, epsilon=0.1, triplet_weight=2.0, center_weight=0.5)
    total, parts = criterion(LINE, logits, LINE_LABELS)
    assert set(parts) == {"ce", "triplet", "center"} and criterion.needs_features
    assert total.item() == pytest.approx(parts["ce"] + 2.0 * parts["triplet"] + 0.5 * parts["center"], rel=1e-5)
    plain_total, plain_parts = ReidLoss(2, 1)(None, logits, LINE_LABELS)
    assert set(plain_parts) == {"ce"} and plain_total.item() == pytest.approx(F.cross_entropy(logits, LINE_LABELS).item())
