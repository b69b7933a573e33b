"""Heatmaps for retrieval and classification (shoekit.explain) and `shoekit explain`."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUasModule

from shoekit.cli import main
from shoekit.errors import CheckpointError
from shoekit.explain import (CAM_METHODS, DEFAULT_LAYER, ClassTarget, Explainer, SimilarityTarget,
                             load_evaluation, target_layer_names)
from shoekit.models import HEADS, build_model
from shoekit.search import search_gallery
from tests.conftest import copy_run

SIZE = 32          # px, like the trained fixture; layer3.5 (2×2 here) gives a non-trivial map
LARGE = 64         # px: layer4 is 2×2 here, so the default layer gives a non-trivial map
# The trained fixture model sees 32 px crops: layer4 is 1×1 there (a constant map), so the trained
# checks use layer2.3 (4×4) with LayerCAM, which gives a non-degenerate map at that depth.
TRAINED_LAYER, TRAINED_METHOD = "layer2.3", "layercam"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread while this module runs: for 32-64 px tensors intra-op threads cost more
    than they give, badly so on a loaded 2-core machine (one explain_query: 0.9 s with 1 thread,
    8-15 s with 2, measured under load). The previous setting is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("dual_pool", num_classes=4).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def similarity_targets(explainer: Explainer, images: torch.Tensor) -> list[SimilarityTarget]:
    """Image i explained by its similarity to image i+1 (cyclically)."""
    features = explainer.features(images)
    return [SimilarityTarget(features[(i + 1) % len(images)], explainer.head) for i in range(len(images))]


def assert_heatmaps(cams: np.ndarray, count: int, size: int = SIZE) -> None:
    assert cams.shape == (count, size, size) and cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert all(cam.max() > 0.99 and cam.std() > 0 for cam in cams), "expected a non-constant map per image"


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_each_method_gives_heatmaps_in_unit_range(model, images, method):
    explainer = Explainer(model, head="max", method=method, layer="layer3.5")
    assert_heatmaps(explainer.cams(images, similarity_targets(explainer, images)), len(images))


@pytest.mark.parametrize("head", HEADS)
def test_each_head_gives_heatmaps(model, images, head):
    if head == "bnneck":
        model = build_model("dual_pool", num_classes=4, neck="bnneck").eval()
    explainer = Explainer(model, head=head, layer="layer3.5")
    assert_heatmaps(explainer.cams(images, similarity_targets(explainer, images)), len(images))


def test_class_targets_give_heatmaps(model, images):
    explainer = Explainer(model, layer="layer3.5")
    assert_heatmaps(explainer.cams(images, [ClassTarget(0), ClassTarget(3)]), len(images))
    explained = explainer.explain_classes(images)
    assert len(explained) == 2 and explained[0].cam.shape == (SIZE, SIZE)


def test_pair_explanation_arrays_are_ready_to_draw(model):
    """Default layer (layer4.2) on 64 px crops: every array has the input's size."""
    explainer = Explainer(model, head="max")
    images = torch.rand(2, 3, LARGE, LARGE, generator=torch.Generator().manual_seed(1))
    pair = explainer.explain_pair(images[0], images[1])
    for side, image in ((pair.query, images[0]), (pair.match, images[1])):
        np.testing.assert_array_equal(side.image, np.rint(image.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
        assert_heatmaps(side.cam[None], 1, LARGE)
        assert side.overlay.shape == (LARGE, LARGE, 3) and side.overlay.dtype == np.uint8
        assert side.guided_backprop.shape == (LARGE, LARGE, 3) and np.isfinite(side.guided_backprop).all()
        assert np.abs(side.guided_backprop).max() > 0
        np.testing.assert_allclose(side.guided_gradcam, side.guided_backprop * side.cam[..., None], rtol=1e-6)
        assert side.guided_gradcam_image.dtype == np.uint8
        assert side.guided_backprop_image.shape == (LARGE, LARGE, 3)
    features = explainer.features(images)
    assert pair.similarity == pytest.approx(float(features[0] @ features[1]), abs=1e-5)
    assert pair.distance == pytest.approx(1 - pair.similarity)
    assert pair.correct is None and pair.rank == 1


def test_pair_is_explained_in_both_directions(model, images):
    """The query's map is for its similarity to the match and vice versa, not one shared target."""
    explainer = Explainer(model, head="avg", layer="layer3.5")
    pair = explainer.explain_pair(images[0], images[1])
    features = explainer.features(images)
    query_to_match = explainer.cams(images[:1], [SimilarityTarget(features[1], "avg")])[0]
    match_to_query = explainer.cams(images[1:], [SimilarityTarget(features[0], "avg")])[0]
    np.testing.assert_allclose(pair.query.cam, query_to_match, atol=1e-4)
    np.testing.assert_allclose(pair.match.cam, match_to_query, atol=1e-4)


def test_query_against_matches_keeps_rank_order_identities_and_distances(model, images):
    explainer = Explainer(model, head="max", layer="layer3.5")
    matches = torch.stack([images[1], images[0].flip(-1)])
    result = explainer.explain_query(images[0], matches, distances=[0.1, 0.2], identities=["a", "b"],
                                     query_identity="b")
    assert [(p.rank, p.identity, p.distance, p.correct) for p in result.pairs] == [(1, "a", 0.1, False),
                                                                                   (2, "b", 0.2, True)]
    assert (result.head, result.method, result.layer) == ("max", "gradcam", "layer3.5")
    with pytest.raises(ValueError, match="no matches"):
        explainer.explain_query(images[0], images[:0])


def test_callers_model_is_left_unchanged(images):
    torch.manual_seed(1)
    model = build_model("cbam", num_classes=3).train()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    modules = [(name, type(module), id(module)) for name, module in model.named_modules()]
    explainer = Explainer(model, head="maxavg", layer="layer3.5")
    explainer.explain_pair(images[0], images[1])
    explainer.explain_classes(images[:1])
    assert model.training, "the caller's train/eval mode is kept"
    assert [(name, type(module), id(module)) for name, module in model.named_modules()] == modules
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not any(isinstance(m, GuidedBackpropReLUasModule) for m in explainer.model.modules())


def test_relus_are_restored_when_guided_backprop_fails(model, images):
    explainer = Explainer(model, head="max", layer="layer3.5")
    wrong_length = SimilarityTarget(torch.ones(7), "max")
    with pytest.raises(RuntimeError):
        explainer.guided_backprop(images[0], wrong_length)
    assert not any(isinstance(m, GuidedBackpropReLUasModule) for m in explainer.model.modules())
    assert any(isinstance(m, torch.nn.ReLU) for m in explainer.model.modules())


def test_layers_methods_and_targets_are_checked(model, images):
    names = target_layer_names(model)
    assert names[0] == "layer1" and names[-1] == DEFAULT_LAYER == "layer4.2" and "layer3.5" in names
    with pytest.raises(ValueError, match="layer4.2"):
        Explainer(model, layer="layer5.0")
    with pytest.raises(ValueError, match="gradcam"):
        Explainer(model, method="scorecam")
    explainer = Explainer(model, layer="layer3.5")
    with pytest.raises(ValueError, match="one target per image"):
        explainer.cams(images, [ClassTarget(0)])
    with pytest.raises(ValueError, match="different model outputs"):
        explainer.cams(images, [ClassTarget(0), similarity_targets(explainer, images)[0]])


def trained_crops(trained_run):
    """The run's query crops and their best gallery match, as model inputs (32 px)."""
    results = load_evaluation(trained_run, "max")
    queries = torch.stack([results.queries[i][0] for i in range(len(results.queries))])
    matches = torch.stack([results.gallery[int(results.top_indices[i, 0])][0] for i in range(len(queries))])
    return queries, matches


def hottest(cam: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of exactly `fraction` of the pixels: the hottest, ties broken at random."""
    order = np.lexsort((rng.random(cam.size), -cam.ravel()))
    mask = np.zeros(cam.size, dtype=bool)
    mask[order[:round(fraction * cam.size)]] = True
    return mask.reshape(cam.shape)


def masked(images: torch.Tensor, masks: np.ndarray) -> torch.Tensor:
    """Masked pixels replaced by each image's mean colour."""
    return torch.where(torch.from_numpy(masks)[:, None], images.mean(dim=(2, 3), keepdim=True), images)


def test_masking_the_hottest_fifth_lowers_similarity_more_than_a_random_fifth(trained_run):
    model = build_model("dual_pool", num_classes=4)
    model.load_state_dict(torch.load(trained_run / "checkpoint.pt", weights_only=True)["model"])
    explainer = Explainer(model.eval(), head="max", method=TRAINED_METHOD, layer=TRAINED_LAYER)
    queries, matches = trained_crops(trained_run)
    images = torch.cat([queries, matches])                     # both directions of every pair
    features = explainer.features(images)
    references = torch.cat([features[len(queries):], features[:len(queries)]])
    cams = explainer.cams(images, [SimilarityTarget(reference, "max") for reference in references])

    def similarity_drop(masks: np.ndarray) -> torch.Tensor:
        return ((features - explainer.features(masked(images, masks))) * references).sum(dim=1)

    rng = np.random.default_rng(0)
    hot_drop = similarity_drop(np.stack([hottest(cam, 0.2, rng) for cam in cams])).mean()
    random_masks = [np.stack([hottest(rng.random(cam.shape), 0.2, rng) for cam in cams]) for _ in range(5)]
    random_drop = torch.stack([similarity_drop(masks) for masks in random_masks]).mean()
    assert hot_drop > random_drop > 0, f"hottest 20%: {hot_drop:.4f}, random 20%: {random_drop:.4f}"


def test_heatmaps_of_trained_and_reinitialised_models_differ(trained_run):
    trained = build_model("dual_pool", num_classes=4)
    trained.load_state_dict(torch.load(trained_run / "checkpoint.pt", weights_only=True)["model"])
    torch.manual_seed(123)
    fresh = build_model("dual_pool", num_classes=4)
    queries, matches = trained_crops(trained_run)
    maps = []
    for model in (trained.eval(), fresh.eval()):
        explainer = Explainer(model, head="max", method=TRAINED_METHOD, layer=TRAINED_LAYER)
        maps.append(explainer.cams(queries, [SimilarityTarget(f, "max") for f in explainer.features(matches)]))
    correlation = np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(*maps)])
    assert np.abs(maps[0] - maps[1]).mean() > 0.05 and correlation < 0.95, (np.abs(maps[0] - maps[1]).mean(),
                                                                             correlation)


def test_saved_rankings_agree_with_a_search_of_saved_features(trained_run):
    results = load_evaluation(trained_run, "max")
    query_features, gallery_features = results.features()
    positions, distances = search_gallery(gallery_features, query_features[1], top=4)
    saved_positions, saved_distances = results.top_matches(1, 4)
    np.testing.assert_array_equal(positions, saved_positions)
    np.testing.assert_allclose(distances, saved_distances, atol=1e-6)
    assert results.query_image(1).shape == (32, 32, 3)
    with pytest.raises(CheckpointError, match="shoekit evaluate"):
        load_evaluation(trained_run / "no-such-run", "max")


def test_explain_command_writes_panels_for_an_index_and_a_path(trained_run, tmp_path, capsys):
    out = tmp_path / "by_index"
    assert main(["explain", str(trained_run), "--query", "0", "--top", "2", "--out", str(out),
                 "--layer", "layer3.5", "--tile", "48"]) == 0
    written = sorted(path.name for path in out.iterdir())
    assert written == ["explanation.png", "matches.csv", "pair_01.png", "pair_02.png"]
    assert "explained query 0" in capsys.readouterr().out.strip().splitlines()[-1]
    before = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    assert main(["explain", str(trained_run), "--query", "1", "--top", "1", "--out", str(out)]) == 2
    assert "already holds files; pass --overwrite" in capsys.readouterr().err
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == before
    assert main(["explain", str(trained_run), "--query", "1", "--top", "1", "--out", str(out), "--overwrite",
                 "--layer", "layer3.5", "--tile", "48"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["explanation.png", "matches.csv", "pair_01.png"]
    query_path = tmp_path / "my query.png"
    shutil.copy(load_evaluation(trained_run, "max").queries.image_path(3), query_path)
    assert main(["explain", str(trained_run), "--query", str(query_path), "--top", "1", "--head", "avg",
                 "--out", str(tmp_path / "by_path"), "--method", "layercam", "--layer", "layer3.5"]) == 0
    assert (tmp_path / "by_path" / "pair_01.png").is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--query", "99"], "not a query index"),
    (["--query", "0", "--layer", "layer9"], "unknown --layer"),
    (["--query", "0", "--top", "0"], "--top must be at least 1"),
])
def test_explain_command_rejects_bad_arguments(trained_run, tmp_path, capsys, arguments, message):
    assert main(["explain", str(trained_run), "--out", str(tmp_path), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_explain_command_asks_for_evaluation_first(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    copy_run(trained_run, run, ignore=shutil.ignore_patterns("eval"))
    assert main(["explain", str(run), "--query", "0", "--out", str(tmp_path / "out")]) == 2
    assert "shoekit evaluate" in capsys.readouterr().err


def test_public_names_resolve():
    import shoekit.explain
    import shoekit.figures

    for package in (shoekit.explain, shoekit.figures):
        assert all(getattr(package, name) is not None for name in package.__all__)
