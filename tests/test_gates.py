"""The attention gates as arrays (shoekit.explain.gates), switching a stage's attention off
(shoekit.explain.attention_switch) and the stages' feature maps (shoekit.explain.stages)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from shoekit.explain import (GATE_RANGES, attention_switched_off, candidate_positions, channel_spread,
                             extreme_channels, gallery_features, read_gates, stage_maps, switched_ranking)
from shoekit.models import build_model
from shoekit.models.attention import NoAttention
from shoekit.search import query_feature

SIZE = 64                       # px: layer4's maps are 2×2, so CBAM's spatial gate is not a single cell
STAGE_CHANNELS = {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
STAGE_CELLS = {"layer1": 16, "layer2": 8, "layer3": 4, "layer4": 2}   # the gated features' side at 64 px
BLOCKS = [f"{stage}.{index}" for stage, count in zip(STAGE_CHANNELS, (3, 4, 6, 3)) for index in range(count)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for these small tensors (see test_explain.py); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def strong_gates(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A copy of `model` with the last bias of every attention MLP drawn from ±3, so its gates sit
    far from the untrained ≈ σ(0) and switching them off visibly changes the features."""
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".attention." in name and name.endswith("mlp.2.bias"):
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 6 - 3))
    return model


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(name, num_classes=4).eval() for name in ("dual_pool", "se", "eca", "cbam")}


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def own_gates(model: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each block's `attention.gate(x)` on the features it received, captured independently."""
    captured = {}
    handles = [block.attention.register_forward_pre_hook(
        lambda module, args, name=name: captured.__setitem__(name, module.gate(args[0]).detach()))
        for name, block in ((name, model.get_submodule(name)) for name in BLOCKS)]
    with torch.no_grad():
        model.feature_map(images)
    for handle in handles:
        handle.remove()
    return captured


@pytest.mark.parametrize("attention", ["dual_pool", "se", "eca", "cbam"])
def test_every_bottleneck_gate_has_its_stage_shape_and_range(models, images, attention):
    gates = read_gates(models[attention], images)
    assert [gate.block for gate in gates] == BLOCKS
    low, high = GATE_RANGES[attention]
    for gate in gates:
        assert gate.attention == attention and gate.value_range == (low, high)
        assert gate.channel.shape == (3, STAGE_CHANNELS[gate.stage]) and gate.channel.dtype == np.float32
        assert low < gate.channel.min() and gate.channel.max() < high
        assert gate.feature_size == (STAGE_CELLS[gate.stage],) * 2


def test_dual_pool_branches_are_two_sigmoids_summing_to_the_modules_gate(models, images):
    model = strong_gates(models["dual_pool"])
    gates = read_gates(model, images)
    reference = own_gates(model, images)
    for gate in gates:
        avg, max_ = gate.branches["avg"], gate.branches["max"]
        assert avg.shape == max_.shape == gate.channel.shape
        assert 0 <= min(avg.min(), max_.min()) and max(avg.max(), max_.max()) <= 1   # float32 sigmoids saturate
        np.testing.assert_allclose(avg + max_, gate.channel, atol=1e-6)
        np.testing.assert_allclose(gate.channel, reference[gate.block].flatten(1).numpy(), atol=1e-5)
    assert max(gate.channel.max() for gate in gates) > 1.5     # the strong gates reach the top half of (0, 2)


def test_cbam_gives_its_channel_gate_and_a_spatial_map_per_cell(models, images):
    gates = read_gates(models["cbam"], images)
    reference = own_gates(models["cbam"], images)
    for gate in gates:
        assert gate.spatial.shape == (3, *gate.feature_size)
        assert 0 < gate.spatial.min() and gate.spatial.max() < 1
        combined = gate.channel[:, :, None, None] * gate.spatial[:, None]     # channel × spatial = CBAM's gate
        np.testing.assert_allclose(combined, reference[gate.block].numpy(), atol=1e-5)
    assert all(not gate.branches for gate in gates)


def test_batches_join_and_hooks_are_removed(models, images):
    model = models["se"]
    whole = read_gates(model, images)
    batched = read_gates(model, images, batch_size=2)
    for one, other in zip(whole, batched):
        np.testing.assert_allclose(one.channel, other.channel, atol=1e-6)
    assert all(not model.get_submodule(name).attention._forward_pre_hooks for name in BLOCKS)
    with pytest.raises(ValueError, match=r"\(N, 3, S, S\)"):
        read_gates(model, images[0])


def test_a_plain_resnet_has_no_gates(images):
    assert read_gates(build_model("none", num_classes=4).eval(), images) == []


def test_switching_a_stage_off_replaces_its_attention_and_always_restores_it(models, images):
    model = strong_gates(models["dual_pool"])
    originals = {name: model.get_submodule(name).attention for name in BLOCKS}
    with torch.no_grad():
        before = model.features(images, "max")
        with attention_switched_off(model, ["layer3"]):
            assert all(isinstance(model.get_submodule(name).attention, NoAttention) == name.startswith("layer3")
                       for name in BLOCKS)
            assert [gate.stage for gate in read_gates(model, images)] == ["layer1"] * 3 + ["layer2"] * 4 + ["layer4"] * 3
            switched = model.features(images, "max")
        assert not torch.allclose(before, switched, atol=1e-4)
        with pytest.raises(RuntimeError), attention_switched_off(model, ["layer1", "layer2", "layer3", "layer4"]):
            raise RuntimeError("fails mid-pass")
        torch.testing.assert_close(model.features(images, "max"), before)
    assert all(model.get_submodule(name).attention is module for name, module in originals.items())
    with pytest.raises(ValueError, match="layer5.*choose from layer1"):
        with attention_switched_off(model, ["layer5"]):
            pass


def test_switching_attention_off_changes_a_querys_ranking(models):
    model = strong_gates(models["dual_pool"], seed=3)
    gallery = torch.rand(12, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    identities = [f"id{index % 4}" for index in range(12)]
    query = gallery[0] * 0.9 + 0.05
    on = gallery_features(model, "max", gallery, bf16=False)
    candidates = candidate_positions(on, query_feature(model, query, "max", bf16=False), limit=20)
    assert candidates.tolist() == list(range(12))                        # small gallery: all of it
    with attention_switched_off(model, ["layer1", "layer2", "layer3", "layer4"]):
        off = gallery_features(model, "max", gallery, bf16=False)
    change = switched_ranking(model, "max", query, candidates, identities, ["layer1", "layer2", "layer3", "layer4"],
                              on, off, query_identity="id0", bf16=False)
    assert change.on.positions[0] == 0 and change.on.first_hit == 1      # the query is a brightened gallery crop
    assert sorted(change.off.positions.tolist()) == list(range(12))
    assert change.moved > 0 and not np.allclose(change.on.distances, change.off.distances)
    assert 0 < change.off.ap <= 1 and change.off.first_hit >= 1
    unknown = switched_ranking(model, "max", query, candidates, identities, ["layer4"], on, on)
    assert unknown.on.first_hit == 0 and np.isnan(unknown.on.ap)


def test_candidates_are_the_closest_crops_when_the_gallery_is_large():
    gallery = np.eye(6, dtype=np.float32)
    feature = np.array([0.0, 0.9, 0.0, 0.0, 0.44, 0.0], np.float32)
    assert candidate_positions(gallery, feature, limit=2).tolist() == [1, 4]
    assert candidate_positions(gallery, feature, limit=6).tolist() == [0, 1, 2, 3, 4, 5]


def test_extreme_channels_and_spread_by_hand():
    strongest, weakest = extreme_channels(np.array([1.0, 1.8, 0.2, 1.1, 0.5]), count=2)
    assert strongest.tolist() == [1, 3] and weakest.tolist() == [2, 4]
    np.testing.assert_allclose(channel_spread(np.array([[1.0, 0.5], [1.0, 1.5]])), [0.0, 0.5])


def test_stage_maps_shrink_and_multiply_through_the_network(models, images):
    maps = stage_maps(models["dual_pool"], images[0], count=6)
    assert [stage.name for stage in maps] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert [stage.channels for stage in maps] == [64, 256, 512, 1024, 2048]
    assert [stage.size for stage in maps] == [(16, 16), (16, 16), (8, 8), (4, 4), (2, 2)]
    for stage in maps:
        assert stage.maps.shape[0] == 6 and len(set(stage.channels_shown.tolist())) == 6
        means = stage.maps.mean(axis=(1, 2))
        assert np.all(np.diff(means) <= 1e-6)                           # strongest first
