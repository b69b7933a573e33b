"""Model variants: parameter counts, gate ranges, attention placement, heads, weight loading."""

import pytest
import torch
import torchvision
from torch import nn

from shoekit.errors import CheckpointError
from shoekit.models import HEADS, build_model, feature_dim
from shoekit.models.attention import (CBAM, ChannelMLP, DualPoolAttention, EfficientChannelAttention, NoAttention,
                                      SpatialMean, SqueezeExcitation, build_attention, eca_kernel_size)
from shoekit.models.resnet import AttentionBottleneck

RESNET50_PARAMS = 25_557_032  # torchvision's resnet50


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def param_counts():
    return {name: count(build_model(name, num_classes=1000)) for name in ("none", "se", "cbam", "eca", "dual_pool")}


def test_plain_resnet50_matches_torchvision(param_counts):
    assert param_counts["none"] == RESNET50_PARAMS == count(torchvision.models.resnet50())


def test_attention_parameter_counts(param_counts):
    se_extra = param_counts["se"] - RESNET50_PARAMS
    assert param_counts["se"] == pytest.approx(28.09e6, abs=0.01e6)
    assert 0 < param_counts["eca"] - RESNET50_PARAMS < 100
    assert param_counts["dual_pool"] - RESNET50_PARAMS == se_extra  # one MLP shared by both poolings
    spatial = param_counts["cbam"] - param_counts["se"]
    assert spatial == 16 * (2 * 7 * 7 + 2)  # 16 bottlenecks × (7×7 conv on 2 maps + BN)


def test_eca_kernel_is_adaptive():
    assert [eca_kernel_size(c) for c in (256, 512, 1024, 2048)] == [5, 5, 5, 7]


@pytest.mark.parametrize("module, low, high", [
    (SqueezeExcitation(64), 0.0, 1.0), (CBAM(64), 0.0, 1.0),
    (EfficientChannelAttention(64), 0.0, 1.0), (DualPoolAttention(64), 0.0, 2.0)])
def test_gate_ranges(module, low, high):
    torch.manual_seed(0)
    with torch.no_grad():
        for scale in (0.1, 10.0, 1000.0):
            gate = module.gate(torch.randn(4, 64, 6, 6) * scale)
            assert gate.min() >= low and gate.max() <= high


def test_dual_pool_gate_exceeds_one_where_cbam_cannot():
    """Each branch has its own sigmoid: two confident branches give a gate near 2."""
    module = DualPoolAttention(32)
    with torch.no_grad():
        module.mlp[2].bias.fill_(20.0)  # both branches saturate at 1
        gate = module.gate(torch.randn(2, 32, 4, 4))
    assert torch.allclose(gate, torch.full_like(gate, 2.0))


def test_attention_sits_after_bn3_before_the_addition():
    block = AttentionBottleneck(64, 16, "se").eval()
    seen = {}
    block.bn3.register_forward_hook(lambda m, i, o: seen.setdefault("bn3", o))
    block.attention.register_forward_pre_hook(lambda m, args: seen.update(att_in=args[0]))
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        out = block(x)
        assert torch.equal(seen["att_in"], seen["bn3"])
        assert torch.allclose(out, torch.relu(block.attention(seen["bn3"]) + x))  # gated branch + identity


@pytest.mark.parametrize("attention", ["none", "se", "cbam", "eca", "dual_pool"])
def test_every_attention_is_a_pure_gate(attention):
    """`module(x)` is `x * module.gate(x)`, the gate broadcasting onto x with the documented shape."""
    torch.manual_seed(0)
    module = build_attention(attention, 32).eval()
    x = torch.randn(3, 32, 6, 5)
    with torch.no_grad():
        gate = module.gate(x)
        torch.testing.assert_close(module(x), x * gate)
    expected = {"none": (1, 1, 1, 1), "cbam": (3, 32, 6, 5)}.get(attention, (3, 32, 1, 1))
    assert gate.shape == expected
    if attention == "none":
        assert torch.equal(gate, torch.ones(1, 1, 1, 1)) and module(x) is x


@pytest.mark.parametrize("attention", ["none", "se", "cbam", "eca", "dual_pool"])
def test_fused_residual_equals_gating_then_adding(attention):
    """The bottleneck's one addcmul pass is relu(attention(out) + identity), values and gradients."""
    torch.manual_seed(0)
    block = AttentionBottleneck(64, 16, attention).train()
    x = torch.randn(3, 64, 6, 5, requires_grad=True)
    fused = block(x)
    grads_fused = torch.autograd.grad(fused.square().sum(), (x, *block.parameters()))
    y = block.relu(block.bn1(block.conv1(x)))
    y = block.relu(block.bn2(block.conv2(y)))
    plain = torch.relu(block.attention(block.bn3(block.conv3(y))) + x)
    grads_plain = torch.autograd.grad(plain.square().sum(), (x, *block.parameters()))
    torch.testing.assert_close(fused, plain)
    for got, expected in zip(grads_fused, grads_plain):  # the same sums in another order
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_a_block_without_attention_is_torchvisions_bottleneck():
    """A bottleneck whose attention is replaced by NoAttention computes what torchvision's does."""
    from torchvision.models.resnet import Bottleneck

    torch.manual_seed(0)
    block = AttentionBottleneck(64, 16, "dual_pool").eval()
    block.attention = NoAttention()
    reference = Bottleneck(64, 16).eval()
    reference.load_state_dict(block.state_dict())
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference(x))


def test_every_bottleneck_has_the_attention():
    model = build_model("cbam", num_classes=10)
    blocks = [m for m in model.modules() if isinstance(m, AttentionBottleneck)]
    assert len(blocks) == 16 and all(isinstance(b.attention, CBAM) for b in blocks)


class ClampReLU(nn.Module):
    def forward(self, x):
        return x.clamp(min=0)


@pytest.mark.parametrize("attention", ["none", "se", "cbam", "eca", "dual_pool"])
def test_all_relus_are_modules(attention, monkeypatch):
    """Guided backprop swaps nn.ReLU modules: with every one swapped, no functional relu is left."""
    model = build_model(attention, num_classes=3).eval()
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, child_name, ClampReLU())

    def forbidden(*args, **kwargs):
        raise AssertionError("a ReLU that is not an nn.ReLU module")
    for target, name in ((torch.nn.functional, "relu"), (torch, "relu"), (torch, "relu_")):
        monkeypatch.setattr(target, name, forbidden)
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize("head", HEADS)
def test_feature_heads(head):
    model = build_model("dual_pool", num_classes=7, neck="bnneck" if head == "bnneck" else "none").eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.features(images, head)
        fmap = model.feature_map(images)
    assert feats.shape == (2, feature_dim(head, 7))
    if head == "maxavg":
        assert torch.allclose(feats, torch.cat([fmap.amax((2, 3)), fmap.mean((2, 3))], 1))
    if head == "fc":
        assert torch.allclose(feats, model(images))
    if head == "gem":  # between avg (p = 1) and max (p = inf) pooling, channel by channel
        assert torch.all(feats >= fmap.clamp(min=1e-6).mean((2, 3)) - 1e-5)
        assert torch.all(feats <= fmap.amax((2, 3)) + 1e-5)


def test_gem_by_hand():
    from shoekit.models.heads import GeneralizedMeanPool

    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)
    expected = ((1 + 8 + 27 + 64) / 4) ** (1 / 3)
    assert GeneralizedMeanPool(3.0)(x).item() == pytest.approx(expected, rel=1e-6)


def test_bnneck_classifies_the_normalised_feature():
    model = build_model("se", num_classes=5, neck="bnneck").eval()
    model.bnneck.running_mean.fill_(0.1)  # as if trained: the neck is no longer the identity
    assert model.fc.bias is None and not model.bnneck.bias.requires_grad
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        pooled, logits = model(images, with_features=True)
        assert torch.allclose(pooled, model.features(images, "avg"))  # before the BN
        after = model.features(images, "bnneck")
        assert torch.allclose(logits, model.fc(after), atol=1e-5) and torch.allclose(logits, model(images))
        assert not torch.allclose(after, pooled)
    assert model.heads == HEADS and "bnneck" not in build_model("se", num_classes=5).heads


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="dual_pool"):
        build_model("nonlocal")
    with pytest.raises(ValueError, match="maxavg"):
        build_model("none", num_classes=3).features(torch.rand(1, 3, 32, 32), "netvlad")
    with pytest.raises(ValueError, match="--neck bnneck"):
        build_model("none", num_classes=3).features(torch.rand(1, 3, 32, 32), "bnneck")
    with pytest.raises(ValueError, match="bnneck"):
        build_model("none", num_classes=3, neck="bn")


def test_pixel_normalisation_lives_inside_the_model():
    torch.manual_seed(0)
    reference = torchvision.models.resnet50().eval()
    model = build_model("none", num_classes=1000).eval()
    model.load_state_dict(reference.state_dict())  # names match torchvision's exactly
    images = torch.rand(2, 3, 64, 64)
    normalise = torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with torch.no_grad():
        assert torch.allclose(model(images), reference(normalise(images)), atol=1e-5)


@pytest.mark.parametrize("attention", ["se", "dual_pool", "cbam", "eca"])
def test_local_pth_loads_into_every_variant(tmp_path, attention):
    torch.manual_seed(1)
    reference = torchvision.models.resnet50()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    torch.manual_seed(2)
    fresh_attention = build_model(attention, num_classes=5).state_dict()
    torch.manual_seed(2)
    model = build_model(attention, num_classes=5, pretrained=str(path))
    state = model.state_dict()
    assert torch.equal(state["layer3.4.conv2.weight"], reference.state_dict()["layer3.4.conv2.weight"])
    assert torch.equal(state["bn1.running_var"], reference.state_dict()["bn1.running_var"])
    attention_keys = [k for k in state if ".attention." in k]
    assert attention_keys and all(torch.equal(state[k], fresh_attention[k]) for k in attention_keys)
    assert state["fc.weight"].shape == (5, 2048)  # 1000-class FC skipped, not forced


def test_local_pth_loads_into_a_bnneck_model(tmp_path):
    reference = torchvision.models.resnet50()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("dual_pool", num_classes=5, neck="bnneck", last_stride=1, pretrained=str(path))
    assert torch.equal(model.state_dict()["layer4.0.conv2.weight"], reference.state_dict()["layer4.0.conv2.weight"])
    assert model.layer4[0].conv2.stride == (1, 1)


def test_weights_api_path_reports_offline_clearly(monkeypatch):
    from torchvision.models import ResNet50_Weights

    def offline(self, *args, **kwargs):
        raise OSError("no network")
    monkeypatch.setattr(type(ResNet50_Weights.IMAGENET1K_V2), "get_state_dict", offline)
    with pytest.raises(CheckpointError, match="--pretrained PATH.pth"):
        build_model("dual_pool", num_classes=3, pretrained="imagenet")


def test_weights_api_path_loads(monkeypatch):
    from torchvision.models import ResNet50_Weights

    reference = torchvision.models.resnet50().state_dict()
    monkeypatch.setattr(type(ResNet50_Weights.IMAGENET1K_V2), "get_state_dict", lambda self, **kw: reference)
    model = build_model("se", num_classes=1000, pretrained="imagenet")
    assert torch.equal(model.state_dict()["fc.weight"], reference["fc.weight"])


def test_non_resnet_weights_are_rejected(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(CheckpointError, match="resnet18.pth"):
        build_model("none", num_classes=3, pretrained=str(path))
    with pytest.raises(CheckpointError, match="no such weights file"):
        build_model("none", num_classes=3, pretrained=str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("attention, mean", [("se", 0.5), ("eca", 0.5), ("cbam", 0.25), ("dual_pool", 1.0)])
def test_gates_at_initialisation(attention, mean):
    """The README's explanation of Table 1: freshly built, SE/ECA halve every residual branch, CBAM
    quarters it, and the paper's gate (a sum of two sigmoids) leaves it as it is."""
    torch.manual_seed(0)
    model = build_model(attention, num_classes=50).eval()
    gates = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            block.attention.register_forward_hook(lambda module, inputs, _: gates.append(module.gate(inputs[0])))
    with torch.no_grad():
        model(torch.rand(2, 3, 64, 64))
    means = [gate.mean().item() for gate in gates]
    assert len(means) == 16 and sum(means) / 16 == pytest.approx(mean, abs=0.02)
    assert all(value == pytest.approx(mean, abs=0.1) for value in means)


def test_spatial_mean_matches_adaptive_average_pooling():
    """The attention's pooling (a sum and a division, faster in bf16 channels_last) is the mean over space."""
    x = torch.randn(2, 8, 5, 7, requires_grad=True)
    pooled = SpatialMean()(x)
    torch.testing.assert_close(pooled, torch.nn.functional.adaptive_avg_pool2d(x, 1))
    pooled.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 1 / 35))
    cl = x.detach().bfloat16().contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(SpatialMean()(cl).float(), x.detach().mean((2, 3), keepdim=True), atol=0.02, rtol=0.01)


def test_channel_mlp_runs_on_rows_of_any_leading_shape():
    """SE's (B, C) rows and the dual-pool module's (B, 2, C) pairs go through the same Linear layers."""
    torch.manual_seed(0)
    mlp = ChannelMLP(32, 16)
    assert [tuple(p.shape) for p in mlp.parameters()] == [(2, 32), (2,), (32, 2), (32,)]
    pairs = torch.randn(3, 2, 32)
    torch.testing.assert_close(mlp(pairs)[:, 1], mlp(pairs[:, 1]))


def old_layout(state_dict: dict) -> dict:
    """`state_dict` as shoekit saved it when the attention MLPs were 1×1 convs: every `mlp.N.weight`
    matrix `(out, in)` as a conv weight `(out, in, 1, 1)`, under the same key."""
    return {key: value[:, :, None, None] if ".mlp." in key and key.endswith("weight") else value
            for key, value in state_dict.items()}


@pytest.mark.parametrize("attention", ["se", "cbam", "dual_pool"])
def test_checkpoints_with_the_mlp_as_convolutions_still_load(attention):
    torch.manual_seed(0)
    saved = build_model(attention, num_classes=5).eval()
    old = old_layout(saved.state_dict())
    assert old["layer1.0.attention." + ("channel_gate.mlp.0.weight" if attention == "cbam" else "mlp.0.weight")].dim() == 4
    torch.manual_seed(1)
    model = build_model(attention, num_classes=5).eval()
    model.load_state_dict(old)  # strict: every key, every shape
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(images), saved(images))
    from shoekit.models.weights import load_backbone_state_dict

    fresh = build_model(attention, num_classes=5)
    report = load_backbone_state_dict(fresh, old, load_classifier=False)
    assert not report.kept_init  # the attention tensors load too (a run's checkpoint as --pretrained)
    assert all(torch.equal(fresh.state_dict()[key], value) for key, value in saved.state_dict().items()
               if not key.startswith("fc."))
