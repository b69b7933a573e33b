"""Explanation measures: energy on the shoe, pointing game, rank correlation, deletion/insertion,
shoe masks through toe-heel alignment, and `shoekit explain --measure` on a tiny run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shoekit.cli import main
from shoekit.data.datasets import ShoeCrops
from shoekit.data.masks import mask_location, write_mask
from shoekit.errors import ImageError
from shoekit.explain.measurement import MeasureOptions, measure_run, read_measures
from shoekit.explain.measures import (bootstrap_interval, curve_area, deletion_insertion, energy_ratio,
                                      energy_share, perturbation_series, pointing_hit, rank_correlation)
from tests.conftest import masked_copy


def square_mask(size: int = 10, box=(2, 6)) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    mask[box[0]:box[1], box[0]:box[1]] = 1.0
    return mask


def test_energy_share_ratio_and_pointing_on_hand_made_maps():
    mask = square_mask()  # 16 of 100 pixels are shoe
    uniform = np.ones((10, 10))
    assert energy_share(uniform, mask) == pytest.approx(0.16)
    assert energy_ratio(uniform, mask) == pytest.approx(1.0)
    on_shoe = mask * 3.0
    assert energy_share(on_shoe, mask) == 1.0 and energy_ratio(on_shoe, mask) == pytest.approx(1 / 0.16)
    half = uniform.copy()
    half[2:6, 2:6] = 5.25  # 16 * 5.25 = 84 on the shoe, 84 off it
    assert energy_share(half, mask) == pytest.approx(0.5)
    assert pointing_hit(half, mask) and not pointing_hit(1.0 - mask, mask)
    block = np.zeros((10, 10))
    block[1:6, 1:6] = 1.0  # a flat hot block, 16 of its 25 pixels on the shoe
    assert pointing_hit(block, mask) and not pointing_hit(np.roll(block, 4, axis=1), mask)
    assert np.isnan(energy_share(np.zeros((10, 10)), mask))
    assert np.isnan(energy_ratio(uniform, np.zeros((10, 10))))


def test_rank_correlation_is_spearmans():
    values = np.arange(16.0).reshape(4, 4)
    assert rank_correlation(values, values ** 3) == pytest.approx(1.0)
    assert rank_correlation(values, -values) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)  # ties share their rank
    assert np.isnan(rank_correlation(np.ones(4), values.ravel()[:4]))


def test_deletion_and_insertion_follow_the_pixels_the_score_depends_on():
    image = np.full((3, 8, 8), 0.5, np.float32)
    image[:, :2, :2] = 1.0  # the only pixels the score reads

    def score(images, items):  # mean brightness of the top-left 2x2 block
        return images[:, :, :2, :2].mean(axis=(1, 2, 3))

    right = np.zeros((8, 8))
    right[:2, :2] = 1.0
    wrong = 1.0 - right
    (deletion_right, insertion_right), (deletion_wrong, insertion_wrong) = deletion_insertion(
        score, np.stack([image, image]), np.stack([right, wrong]), steps=4, batch_size=3)
    assert deletion_right < deletion_wrong and insertion_right > insertion_wrong
    series = perturbation_series(image, right, "deletion", steps=4)
    assert series.shape == (5, 3, 8, 8)
    np.testing.assert_array_equal(series[0], image)
    assert (series[1][:, :2, :2] < 1.0).all() and (series[1][:, 4:, 4:] == 0.5).all()  # a quarter: the block
    assert curve_area([1.0, 1.0, 0.0]) == pytest.approx(0.75)


def test_bootstrap_interval_brackets_the_mean():
    rng = np.random.default_rng(0)
    values = rng.normal(2.0, 1.0, 400)
    low, high = bootstrap_interval(values, rng)
    assert low < values.mean() < high and high - low < 0.4
    assert all(np.isnan(bootstrap_interval(np.array([np.nan]), rng)))


def test_a_mask_turns_with_its_crop_through_toe_heel_alignment(tmp_path):
    image = np.zeros((40, 40, 3), np.uint8)
    image[5:15, 20:24] = 255  # a bright bar, and the mask marks exactly it
    mask = np.zeros((40, 40), np.uint8)
    mask[5:15, 20:24] = 255
    Image.fromarray(image).save(tmp_path / "a.png")
    write_mask(tmp_path / mask_location("a.png"), mask)
    # toe straight above the heel: alignment turns the crop a quarter turn
    (tmp_path / "manifest.csv").write_text("path,identity,split,toe_x,toe_y,heel_x,heel_y\n"
                                           "a.png,x,query,20,5,20,35\n")
    crops = ShoeCrops(tmp_path, ["query"])
    aligned, aligned_mask = crops.load(0), crops.load_mask(0)
    assert aligned_mask.shape == (40, 40) and not np.array_equal(aligned_mask, mask / 255.0)
    bright = aligned[..., 0] > 128
    assert bright.sum() > 20 and ((aligned_mask >= 0.5) == bright).mean() > 0.98
    assert ShoeCrops(tmp_path, ["query"], align=False).load_mask(0).max() == 1.0


def test_a_mask_of_another_size_or_unreadable_is_named_by_row(tmp_path):
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "manifest.csv").write_text("path,identity,split,mask\na.png,x,query,a_mask.png\n")
    write_mask(tmp_path / "a_mask.png", np.zeros((16, 20), np.uint8))
    crops = ShoeCrops(tmp_path, ["query"])
    with pytest.raises(ImageError, match=r"row 0 \(line 2\): mask .*a_mask\.png is 20×16 px but its crop is 20×20"):
        crops.load_mask(0)
    (tmp_path / "a_mask.png").write_bytes(b"garbage")
    with pytest.raises(ImageError, match=r"row 0 \(line 2\): mask .*cannot be read"):
        crops.load_mask(0)


@pytest.fixture
def run_with_masks(trained_run, tmp_path):
    return masked_copy(trained_run, tmp_path)


def test_measure_run_writes_the_table_with_baselines(run_with_masks):
    # layer3.5: at the tiny run's 32 px, layer4's 1×1 map makes every Grad-CAM constant (all NaN)
    report = measure_run(run_with_masks, MeasureOptions(top=2, queries=3, layers=("layer3.5",), progress=False))
    table = read_measures(run_with_masks)
    assert set(table["model"]) == {"trained", "untrained", "random"}
    assert len(report.crops) == 3 * 2 * 2 * 3  # queries × matches × directions × models
    trained = table[table["model"] == "trained"].set_index("metric")
    assert {"energy_ratio", "pointing", "ggc_energy_ratio", "deletion_auc", "insertion_auc", "cam_mult",
            "road_morf", "sanity_spearman"} <= set(trained.index)
    assert (trained["low"] <= trained["mean"]).all() and (trained["mean"] <= trained["high"]).all()
    untrained = table[table["model"] == "untrained"]["metric"]
    assert "deletion_auc" not in set(untrained) and "energy_ratio" in set(untrained)
    assert (run_with_masks / "explain/measures.md").read_text().count("| gradcam | layer3.5 |") == 3
    assert "energy on the shoe" in report.headline()


def test_measure_command_and_its_errors(run_with_masks, trained_run, capsys):
    assert main(["explain", "--measure", str(run_with_masks), "--top", "1", "--queries", "2",
                 "--layers", "layer3.5", "--method", "layercam", "--no-progress"]) == 0
    assert "measured" in capsys.readouterr().out
    measured = (run_with_masks / "explain/measures.md").read_text()
    assert "| layercam | layer3.5 |" in measured and "| gradcam |" not in measured  # --method is the default
    assert main(["explain", "--measure", str(trained_run), "--top", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "have no shoe mask" in err and "make-dataset" in err and "`mask` column" in err
    assert main(["explain", str(trained_run), "--top", "1"]) == 2
    assert "give --query and --out" in capsys.readouterr().err


def test_the_default_layer_keeps_at_least_three_cells_a_side():
    from shoekit.explain.options import default_layer

    assert [default_layer(size) for size in (120, 96, 64, 32)] == ["layer4.2", "layer4.2", "layer3.5", "layer2.3"]
    assert default_layer(64, last_stride=1) == "layer4.2"
