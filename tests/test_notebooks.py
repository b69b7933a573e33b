"""Every notebook executes twice: by default on the committed results (no dataset, no training,
nothing written into results/), and at smoke scale with training on, on a procedural dataset."""

import hashlib
from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def execution_errors(executed) -> list[dict]:
    return [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]


def folder_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_there_is_one_notebook_per_experiment():
    names = [path.stem for path in NOTEBOOKS]
    assert names == ["01_dataset_and_cctv", "02_table1_attention", "03_table2_feature_heads",
                     "04_table3_label_smoothing", "05_fig9_gradcam", "06_strong_recipe_ablation"]


def test_committed_notebooks_carry_no_outputs():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert any("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells), path.name
        for cell in notebook.cells:
            assert not cell.get("outputs"), f"{path.name}: strip outputs before committing"


def test_notebooks_draw_from_the_committed_results_by_default(tmp_path):
    before = folder_digest(ROOT / "results")
    never_built = tmp_path / "dataset"  # where 02-06 would build their dataset if they trained
    for path in NOTEBOOKS:
        parameters = {} if path.stem.startswith("01") else {"data": str(never_built)}
        executed = pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=parameters,
                                       cwd=str(ROOT), kernel_name="python3", progress_bar=False)
        errors = execution_errors(executed)
        assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        images = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert images, f"{path.name} drew no figure from the committed results"
    assert folder_digest(ROOT / "results") == before, "a notebook wrote into results/ by default"
    assert not never_built.exists(), "a notebook built its dataset by default"


def test_notebooks_run_at_smoke_scale_with_training(tmp_path):
    parameters = {"data": str(tmp_path / "procedural-smoke"), "cutouts": "", "procedural": 12,
                  "scale": "smoke", "results": str(tmp_path / "results"), "seeds": [0], "train": True}
    for path in NOTEBOOKS:
        executed = pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=parameters,
                                       cwd=str(ROOT), kernel_name="python3", progress_bar=False)
        errors = execution_errors(executed)
        assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    results = tmp_path / "results"
    for name in ("table1.csv", "table3.csv", "ablation.csv", "curves.csv", "query_ap.csv", "scores.csv",
                 "thresholds.csv"):
        assert (results / name).is_file(), name
