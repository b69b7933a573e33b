"""The run card states the model, the training and the test metrics of a run in plain words."""

import json

from shoekit.config import TrainConfig
from shoekit.run_card import loss_words, run_card
from shoekit.runs import write_config, write_json


def test_the_card_of_a_trained_and_evaluated_run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cutouts.json").write_text(json.dumps({"source": "procedural", "count": 30}))
    run = tmp_path / "run"
    write_config(run, TrainConfig(data=str(data), attention="dual_pool", recipe="paper_fast", image_size=64,
                                  label_smoothing=0.14, val_identities=5, last_stride=1))
    write_json(run / "metrics.json", {
        "train": {"num_classes": 15, "epochs": 8, "num_images": 600, "train_seconds": 300.0, "device": "cpu",
                  "final_val_rank1": 0.5, "final_val_mAP": 0.42},
        "eval": {"max": {"rank1": 0.5, "mAP": 0.461}}})
    card = "\n".join(run_card(run))
    assert "dual-pooling" in card and "`paper_fast` recipe" in card and "procedural shoe types" in card
    assert "15 shoe types" in card and "8 epochs" in card and "4,800 images" in card and "5 minutes" in card
    assert "64 px" in card and "ε = 0.14" in card and "(layer4) at stride 1" in card
    assert "On 5 shoe types held out of training" in card and "mAP 42.0%" in card
    assert "`max` Rank-1 50.0%, mAP 46.1%" in card


def test_a_run_on_fixed_crops_without_evaluations_says_only_what_is_known(tmp_path):
    run = tmp_path / "run"
    write_config(run, TrainConfig(data=str(tmp_path / "mine"), attention="se", recipe="custom", render="fixed"))
    write_json(run / "metrics.json", {"train": {}})
    card = "\n".join(run_card(run))
    assert "squeeze-and-excitation" in card and "custom settings" in card and "training crops of" in card
    assert "test split" not in card and "held out" not in card and "stride" not in card


def test_the_loss_in_words_names_the_cosine_classifier_and_the_triplet_loss():
    config = TrainConfig(classifier="cosine", margin="cosface", margin_value=0.25, cos_scale=16.0,
                         label_smoothing=0.0, triplet_weight=1.0)
    assert loss_words(config) == ("cross-entropy on a cosine-softmax classifier (scale 16, cosface margin 0.25), "
                                  "plus a batch-hard triplet loss (weight 1)")
