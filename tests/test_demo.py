"""The embedded demo end to end, small: procedural shoes -> dataset -> trained, evaluated run."""

import json

from shoekit.demo import DemoSettings, run_demo


def test_demo_builds_trains_evaluates_and_then_reuses(tmp_path):
    settings = DemoSettings(out=tmp_path / "demo", types=8, train_crops=4, gallery_crops=2,
                            distractor_crops=2, epochs=1, image_size=48, input_size=48)
    results = run_demo(settings, progress=False)
    assert set(results) == {"fc", "avg", "max", "maxavg", "gem"}
    assert all(0.0 <= r["mAP"] <= 1.0 and r["num_valid_queries"] > 0 for r in results.values())
    stats = json.loads((settings.data / "stats.json").read_text())
    assert stats["crops"]["train"] > 0 and stats["crops"]["query"] > 0
    config = json.loads((settings.run / "config.json").read_text())
    assert config["recipe"] == "paper_fast" and config["last_stride"] == 1  # heatmaps of 4 x 4 cells
    checkpoint = settings.run / "checkpoint.pt"
    before = checkpoint.stat().st_mtime_ns
    assert run_demo(settings, progress=False) == json.loads((settings.run / "metrics.json").read_text())["eval"]
    assert checkpoint.stat().st_mtime_ns == before  # nothing rebuilt or retrained
