"""The workbench in Streamlit's AppTest: every page renders, widgets work, bad input is explained.

The app runs in-process on the session's tiny trained run (32 px crops); heatmaps are limited to
one match per query to keep the file fast on 2 cores.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.workbench_fixtures import (BROKEN_RUN, frame_png, huge_png, runs_root, sixteen_bit_png,  # noqa: F401
                                      strong_gate_runs_root, video_avi)

APP = Path(__file__).resolve().parent.parent / "workbench" / "app.py"
PAGES = {"match": "Match & explain", "compare": "Compare runs", "gallery": "Ranked gallery",
         "data": "Data & CCTV simulation", "investigate": "Investigate", "how_it_works": "How it works",
         "attention": "Attention explorer"}
TIMEOUT_S = 180
STAGES = ("layer1", "layer2", "layer3", "layer4")


def open_app(monkeypatch, root: Path) -> AppTest:
    """The app on runs folder `root` after its first run (the default page: Match & explain)."""
    monkeypatch.setenv("SHOEKIT_RUNS", str(root))
    monkeypatch.setenv("SHOEKIT_RESULTS", str(root / "no-results"))  # not the repository's results/
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    app.session_state["match_explained"] = 1
    return checked(app.run())


def checked(app: AppTest) -> AppTest:
    """`app` after asserting that its last run raised nothing."""
    assert not app.exception, [element.value for element in app.exception]
    return app


def visit(app: AppTest, page: str) -> AppTest:
    checked(app.switch_page(f"views/{page}.py").run())
    assert [title.value for title in app.title] == [PAGES[page]]
    return app


def captions(app: AppTest) -> list[str]:
    return [caption for image in app.image for caption in image.captions]


def errors(app: AppTest) -> list[str]:
    return [error.value for error in app.error]


def test_every_page_renders_with_its_key_widgets(monkeypatch, runs_root):
    app = open_app(monkeypatch, runs_root)
    assert app.selectbox(key="run").value == "tiny_dual"
    assert app.selectbox(key="head").value == "max"
    expected = {"match": ("match_query", "match_method", "match_layer"), "compare": ("compare_runs",),
                "gallery": ("gallery_order", "gallery_top"), "data": ("data_split", "sim_camera"),
                "investigate": ("inv_source",), "how_it_works": ("hiw_source", "hiw_query"),
                "attention": ("att_source", "att_query", "att_block", "att_switch")}
    for page, keys in expected.items():
        visit(app, page)
        for key in keys:
            assert any(widget.key == key for kind in ("selectbox", "radio", "slider", "multiselect")
                       for widget in app.get(kind)), f"{page}: no widget {key}"
        assert not errors(app), f"{page}: {errors(app)}"


def test_a_query_gives_matches_and_heatmaps(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "match")
    app.selectbox(key="match_query").set_value(3)
    app.slider(key="match_top").set_value(3)
    checked(app.run())
    shown = captions(app)
    assert shown[0].startswith("query · id")
    assert sum(caption.startswith("#") for caption in shown) == 3
    for header in ("Query · Grad-CAM", "Query · Guided Grad-CAM", "Match · Grad-CAM", "Match · Guided Grad-CAM"):
        assert shown.count(header) == 1  # heatmaps of one match, as the test asked
    app.selectbox(key="match_method").set_value("gradcam++")
    app.selectbox(key="match_layer").set_value("layer3")
    checked(app.run())
    assert captions(app).count("Match · Grad-CAM") == 1


def test_heatmaps_are_outlined_and_measured_against_the_shoe_masks(monkeypatch, trained_run, tmp_path):
    from tests.conftest import masked_copy

    run = masked_copy(trained_run, tmp_path / "masked")
    root = tmp_path / "masked_runs"
    root.mkdir()
    (root / "masked").symlink_to(run, target_is_directory=True)
    app = visit(open_app(monkeypatch, root), "match")
    app.slider(key="match_top").set_value(1)
    checked(app.run())
    assert app.toggle(key="match_outline").value is True
    verdicts = [markdown.value for markdown in app.markdown if markdown.value.startswith("**Match #1**")]
    assert len(verdicts) == 1 and "heatmap energy on the shoe: query" in verdicts[0]
    app.toggle(key="match_outline").set_value(False)
    checked(app.run())
    pd.DataFrame([{"method": "gradcam", "layer": "layer4.2", "model": model, "metric": "energy_ratio",
                   "mean": mean, "low": mean - 0.1, "high": mean + 0.1, "count": 12}
                  for model, mean in (("trained", 1.8), ("untrained", 1.0), ("random", 1.0))]
                 ).to_csv((run / "explain").mkdir() or run / "explain" / "measures.csv", index=False)
    app = visit(open_app(monkeypatch, root), "compare")
    assert any("Can the heatmaps be trusted" in header.value for header in app.subheader)
    measures = next(frame.value for frame in app.dataframe if "energy_ratio" in frame.value)
    assert measures["model"].tolist() == ["trained", "untrained", "random"]
    assert measures["energy_ratio"].tolist() == [1.8, 1.0, 1.0]


def test_uploads_are_searched_or_explained_away(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "match")
    app.slider(key="match_top").set_value(2)
    app.radio(key="match_source").set_value("Upload a crop")
    checked(app.run())
    assert any("Upload a crop" in info.value for info in app.info)
    app.file_uploader(key="match_upload").set_value(("notes.png", b"this is not an image", "image/png"))
    checked(app.run())
    assert any("notes.png: not an image file" in error for error in errors(app))
    app.file_uploader(key="match_upload").set_value(("huge.png", huge_png(), "image/png"))
    checked(app.run())
    assert any("huge.png" in error and "megapixel" in error for error in errors(app))
    app.file_uploader(key="match_upload").set_value(("scan16.png", sixteen_bit_png(), "image/png"))
    checked(app.run())
    assert not errors(app)
    assert any("16" in caption.value and "scan16.png" in caption.value for caption in app.caption)
    assert sum(caption.startswith("#") for caption in captions(app)) == 2


def test_compare_page_has_chart_and_paper_numbers(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "compare")
    assert len(app.get("plotly_chart")) == 1
    table = app.dataframe[0].value
    assert set(table["head"]) == {"fc", "avg", "max", "maxavg", "gem"}
    assert table.loc[table["head"] == "max", "paper_rank1"].item() == pytest.approx(73.93)
    assert any("private" in caption.value for caption in app.caption)
    app.multiselect(key="compare_heads").set_value(["max"])
    checked(app.run())
    assert list(app.dataframe[0].value["head"]) == ["max"]


def test_compare_page_draws_validation_curves(monkeypatch, trained_run, tmp_path):
    from tests.conftest import copy_run

    root = tmp_path / "validated_runs"
    run = copy_run(trained_run, root / "validated")
    log = pd.read_csv(run / "train_log.csv")
    log.assign(val_rank1=0.25, val_mAP=0.125, train_minutes=log["epoch"] * 0.5).to_csv(run / "train_log.csv", index=False)
    app = visit(open_app(monkeypatch, root), "compare")
    assert any("validation identities" in header.value for header in app.subheader)
    assert len(app.get("plotly_chart")) == 2
    app.radio(key="compare_val_metric").set_value("val_rank1")
    checked(app.run())


def test_compare_page_shows_an_ablation_table(monkeypatch, runs_root):
    rows = [{"step": 0, "name": "paper", "base": "", "change": "dual_pool", "recipe": "paper", "evaluation": "max",
             "rank1": 10.0, "rank5": 20.0, "rank10": 30.0, "mAP": 12.5, "train_seconds": 60.0, "run": "a",
             "mAP_gain": 0.0, "gain_low": None, "gain_high": None, "val_mAP": 40.0},
            {"step": 1, "name": "+bnneck", "base": "paper", "change": "BNNeck", "recipe": "custom",
             "evaluation": "bnneck", "rank1": 14.0, "rank5": 24.0, "rank10": 34.0, "mAP": 15.0, "train_seconds": 61.0,
             "run": "b", "mAP_gain": 2.5, "gain_low": -0.5, "gain_high": 5.1, "val_mAP": 38.0}]
    pd.DataFrame(rows).to_csv(runs_root / "ablation.csv", index=False)
    app = visit(open_app(monkeypatch, runs_root), "compare")
    assert any("one at a time" in header.value for header in app.subheader)
    assert len(app.get("plotly_chart")) == 2
    assert app.dataframe[-1].value["mAP_gain"].tolist() == [0.0, 2.5]
    assert app.dataframe[-1].value["recipe"].tolist() == ["paper", "custom"]
    assert app.dataframe[-1].value["gain_high"].iloc[1] == 5.1
    # the verdict is the validation's (the paper row), not the test split's higher +bnneck
    assert any("Chosen on validation: **paper**" in text.value for text in app.markdown)


def test_compare_page_shows_committed_tables_with_their_curves(monkeypatch, runs_root, tmp_path):
    from shoekit.results_folder import write_run_files

    folder = tmp_path / "results" / "cpu"
    folder.mkdir(parents=True)
    pd.DataFrame([{"attention": "dual_pool", "seeds": 1, "rank1": 50.0, "mAP": 40.0, "paper_rank1": 65.37,
                   "paper_mAP": 47.99},
                  {"attention": "se", "seeds": 0, "rank1": None, "mAP": None, "paper_rank1": 59.14,
                   "paper_mAP": 43.79}]).to_csv(folder / "table1.csv", index=False)
    pd.DataFrame([{"paper_pick": "dual_pool eps=0 fc", "other": "se eps=0 fc", "seeds": 3, "mAP_diff": 1.2,
                   "seed_ci_low": -0.5, "seed_ci_high": 2.9, "query_ci_low": 0.3, "query_ci_high": 2.1,
                   "resolved": False}]).to_csv(folder / "seed_differences.csv", index=False)
    write_run_files(folder, {"dual_pool-eps0-seed0": runs_root / "tiny_dual"}, {"dual_pool-eps0-seed0": ["fc"]})
    app = open_app(monkeypatch, runs_root)
    monkeypatch.setenv("SHOEKIT_RESULTS", str(tmp_path / "results"))
    visit(app, "compare")
    assert any("reproduced" in header.value for header in app.subheader)
    assert any(frame.value["attention"].tolist() == ["dual_pool", "se"] for frame in app.dataframe)
    assert any("seed_ci_low" in frame.value.columns for frame in app.dataframe)  # the rows over seeds
    assert len(app.get("plotly_chart")) == 2  # the runs' CMC and the committed Table 1's


def test_ranked_gallery_orders_and_filters(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "gallery")
    headers = [markdown.value for markdown in app.markdown if markdown.value.startswith("**Query")]
    assert len(headers) == 5  # first page of the tiny run's 6 queries
    app.radio(key="gallery_order").set_value("Best first")
    app.multiselect(key="gallery_filter_camera").set_value(["cam1"])
    app.slider(key="gallery_top").set_value(2)
    checked(app.run())
    headers = [markdown.value for markdown in app.markdown if markdown.value.startswith("**Query")]
    assert len(headers) == 3  # the tiny dataset's cam1 queries
    borders = [caption for caption in captions(app) if caption.startswith("#")]
    assert len(borders) == 6


def test_data_page_browses_and_simulates(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "data")
    assert app.dataframe[0].value.loc["train", "crops"] == 32
    assert app.selectbox(key="data_split").value == "train"
    assert sum(caption.startswith("cam") for caption in captions(app)) == 8
    app.selectbox(key="data_split").set_value("distractor")
    checked(app.run())
    assert sum(caption.startswith("cam") for caption in captions(app)) == 3
    before = [caption for caption in captions(app) if caption.startswith("CCTV crop")]
    app.selectbox(key="sim_view").set_value("front")
    app.slider(key="sim_rotation_cam1_0").set_value(45.0)
    checked(app.run())
    after = [caption for caption in captions(app) if caption.startswith("CCTV crop")]
    assert len(before) == len(after) == 1 and before != after
    assert "After toe–heel alignment" in captions(app)


def test_investigate_a_frame_and_a_video(monkeypatch, runs_root, tmp_path):
    app = visit(open_app(monkeypatch, runs_root), "investigate")
    app.file_uploader(key="inv_image").set_value(("frame.png", frame_png(), "image/png"))
    checked(app.run())
    app.slider(key="inv_top").set_value(3)
    checked(app.run())
    assert sum(caption.startswith("#") for caption in captions(app)) == 3
    assert "query (1 crop)" in captions(app)
    assert [button.label for button in app.get("download_button")] == [
        "Export ranked result (CSV)", "Export result sheet (PNG)"]
    app.number_input(key="inv_box_w").set_value(40)
    app.toggle(key="inv_align").set_value(True)
    checked(app.run())
    assert any(caption.startswith("Crop 40×") for caption in captions(app))
    assert "Aligned crop: what is searched" in captions(app)
    app.button(key="inv_add").click()
    checked(app.run())
    app.button(key="inv_add").click()
    checked(app.run())
    app.toggle(key="inv_case_search").set_value(True)
    checked(app.run())
    assert "query (2 crops)" in captions(app)
    app.radio(key="inv_source").set_value("A video file")
    checked(app.run())
    video = video_avi(tmp_path / "walk.avi").read_bytes()
    app.file_uploader(key="inv_video").set_value(("walk.avi", video, "video/x-msvideo"))
    checked(app.run())
    assert app.get("select_slider")[0].options == ["0", "2", "4"]
    assert not errors(app)
    app.file_uploader(key="inv_video").set_value(("walk.avi", b"not a video", "video/x-msvideo"))
    checked(app.run())
    assert any("walk.avi" in error or "OpenCV cannot open" in error for error in errors(app))


def test_no_runs_and_broken_runs_are_explained(monkeypatch, runs_root, tmp_path):
    app = open_app(monkeypatch, runs_root)
    skipped = [caption.value for caption in app.sidebar.caption]
    assert any(BROKEN_RUN in caption and "another shoekit version" in caption for caption in skipped)
    empty = tmp_path / "no_runs_here"
    app = open_app(monkeypatch, empty)
    for page in PAGES:
        visit(app, page)
        if page != "data":
            assert any("shoekit demo" in info.value for info in app.info), page
    assert any(str(empty) in warning.value for warning in app.sidebar.warning)


def download_labels(app: AppTest) -> list[str]:
    return [button.label for button in app.get("download_button")]


EXPORT_LABELS = ["CMC (PNG)", "CMC (SVG)", "Table (PNG)", "Table (SVG)", "Comparison sheet (PDF)"]


def test_compare_and_gallery_offer_figures_for_slides(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "compare")
    assert download_labels(app) == EXPORT_LABELS
    visit(app, "gallery")
    assert download_labels(app) == EXPORT_LABELS
    assert any(header.value == "Figures for slides" for header in app.subheader)


HOW_IT_WORKS_STEPS = ["1. The CCTV crop", "2. Toe–heel alignment", "3. The network's stages", "4. The attention gates",
                      "5. The crop's signature", "6. Similarity and ranking", "7. Why they match: the heatmaps"]


def test_how_it_works_walks_a_query_and_an_upload_through_every_step(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "how_it_works")
    assert [header.value for header in app.subheader] == HOW_IT_WORKS_STEPS
    shown = captions(app)
    assert [caption for caption in shown if " maps of " in caption] == [
        "stem · 64 maps of 8×8", "layer1 · 256 maps of 8×8", "layer2 · 512 maps of 4×4", "layer3 · 1024 maps of 2×2",
        "layer4 · 2048 maps of 1×1"]                                            # 32 px crops
    assert [caption for caption in shown if " weights" in caption] == [
        "layer1.2 · 256 weights", "layer2.3 · 512 weights", "layer3.5 · 1024 weights", "layer4.2 · 2048 weights"]
    assert "all 15 gallery crops, most alike first" in shown                    # 3 × 3 gallery + 2 × 3 distractors
    assert sum(caption.startswith("#") for caption in shown) == 5
    texts = [markdown.value for markdown in app.markdown]
    assert any("between 0 and 2" in text for text in texts)
    assert any("no shoe outlines" in text for text in texts)                    # the tiny dataset has no masks
    assert download_labels(app) == ["Download this walk-through as a PDF handout"]
    app.selectbox(key="hiw_query").set_value(4)
    checked(app.run())
    assert any("shoe type id6" in text for text in [markdown.value for markdown in app.markdown])
    app.radio(key="hiw_source").set_value("Upload a crop")
    checked(app.run())
    app.file_uploader(key="hiw_upload").set_value(("crop.png", frame_png(48, 40), "image/png"))
    checked(app.run())
    assert [header.value for header in app.subheader] == HOW_IT_WORKS_STEPS
    texts = [markdown.value for markdown in app.markdown]
    assert any("has no such marks" in text for text in texts) and any("cannot be marked" in text for text in texts)


def plotly_array(value) -> np.ndarray:
    """A plotly JSON array: a list, or plotly's typed array {"dtype", "bdata" (base64), "shape"}."""
    if not isinstance(value, dict):
        return np.asarray(value)
    flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return flat.reshape([int(size) for size in str(value.get("shape", len(flat))).split(",")])


def strips(app: AppTest) -> dict[str, dict]:
    """The explorer's gate heatmaps: {stage: its plotly trace}, read from each chart's JSON spec."""
    traces = {}
    for chart in app.get("plotly_chart"):
        stage = next((stage for stage in STAGES if f"att_strip_{stage}" in chart.proto.id), None)
        if stage:
            traces[stage] = json.loads(chart.proto.spec)["data"][0]
    return traces


def test_attention_explorer_shows_every_gate_with_its_shape_and_range(monkeypatch, runs_root):
    app = visit(open_app(monkeypatch, runs_root), "attention")
    assert not errors(app)
    traces = strips(app)
    assert list(traces) == ["layer1", "layer2", "layer3", "layer4"]
    for stage, (blocks, channels) in {"layer1": (3, 256), "layer2": (4, 512), "layer3": (6, 1024),
                                      "layer4": (3, 2048)}.items():
        values = plotly_array(traces[stage]["z"]).astype(float)
        assert values.shape == (blocks, channels), stage
        assert (traces[stage]["zmin"], traces[stage]["zmax"]) == (0.0, 2.0)
        assert 0 < values.min() and values.max() < 2
        assert list(traces[stage]["y"]) == [f"{stage}.{index}" for index in range(blocks)]
    table = next(frame.value for frame in app.dataframe if "range_high" in frame.value)
    assert len(table) == 16 * 3 and set(table["gate"]) == {"applied gate", "avg branch", "max branch"}
    assert ((table["min"] > table["range_low"]) & (table["max"] < table["range_high"])).all()
    assert set(table.loc[table["gate"] == "applied gate", "range_high"]) == {2.0}
    assert set(table.loc[table["gate"] != "applied gate", "range_high"]) == {1.0}
    app.radio(key="att_view").set_value("avg branch")
    checked(app.run())
    values = plotly_array(strips(app)["layer4"]["z"]).astype(float)
    assert strips(app)["layer4"]["zmax"] == 1.0 and 0 < values.min() and values.max() < 1
    assert any("gallery crops" in caption.value and "spread" in caption.value for caption in app.caption)
    assert any("only dual_pool runs" in caption.value for caption in app.caption)


def test_switching_a_stage_off_changes_the_ranking_live(monkeypatch, strong_gate_runs_root):
    app = visit(open_app(monkeypatch, strong_gate_runs_root), "attention")
    app.selectbox(key="att_query").set_value(0)
    checked(app.run())
    app.radio(key="att_switch").set_value("all stages")
    checked(app.run())
    metrics = next(frame.value for frame in app.dataframe if "first correct at rank" in frame.value)
    assert metrics["attention"].tolist() == ["on", "off in all stages"]
    on, off = ([caption for caption in captions(app) if caption.startswith("#")][start:start + 5] for start in (0, 5))
    assert on != off
    assert any("whole gallery (15 crops)" in caption.value for caption in app.caption)
    app.radio(key="att_switch").set_value("layer2")
    checked(app.run())
    metrics = next(frame.value for frame in app.dataframe if "first correct at rank" in frame.value)
    assert metrics["attention"].tolist() == ["on", "off in layer2"]
    assert ((metrics["AP (%)"] >= 0) & (metrics["AP (%)"] <= 100)).all()


def test_attention_explorer_puts_the_variants_side_by_side(monkeypatch, runs_root, trained_run):
    """A second run, an SE model (untrained weights are enough for its gates), joins the tiny dual_pool run."""
    import json as json_module

    import torch

    from shoekit.models import build_model
    from shoekit.runs import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
    from tests.conftest import copy_run

    se_run = copy_run(trained_run, runs_root / "tiny_se")
    config = json_module.loads((se_run / "config.json").read_text())
    (se_run / "config.json").write_text(json_module.dumps({**config, "attention": "se"}))
    checkpoint = load_checkpoint(se_run / CHECKPOINT_FILE)
    torch.manual_seed(0)
    checkpoint["model"] = build_model("se", num_classes=len(checkpoint["class_names"])).state_dict()
    (se_run / CHECKPOINT_FILE).unlink()  # a hard link to the session's checkpoint
    save_checkpoint(se_run / CHECKPOINT_FILE, checkpoint)
    app = visit(open_app(monkeypatch, runs_root), "attention")
    app.selectbox(key="run").set_value("tiny_dual")
    checked(app.run())
    variants = next(frame.value for frame in app.dataframe if "variant" in frame.value)
    assert variants["variant"].tolist() == ["se", "dual_pool"]
    assert variants["run"].tolist() == ["tiny_se", "tiny_dual"]
    assert (variants["min"] > 0).all() and (variants.loc[variants["variant"] == "se", "max"] < 1).all()
    assert any(caption.startswith("se (tiny_se) · layer4.2 · 2048 weights in (0, 1)") for caption in captions(app))
    app.selectbox(key="att_variant_stage").set_value("layer2")
    checked(app.run())
    assert set(next(frame.value for frame in app.dataframe if "variant" in frame.value)["block"]) == {"layer2.3"}
