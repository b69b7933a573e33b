"""Every notebook executes at smoke scale (papermill), on a procedural dataset, without error."""

from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


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


def test_notebooks_run_at_smoke_scale(tmp_path):
    parameters = {"data": str(tmp_path / "procedural-smoke"), "cutouts": "", "procedural": 12,
                  "scale": "smoke", "results": str(tmp_path / "results"), "seeds": [0]}
    for path in NOTEBOOKS:
        executed = pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=parameters,
                                       cwd=str(ROOT), kernel_name="python3", progress_bar=False)
        errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    assert (tmp_path / "results" / "table1.csv").is_file() and (tmp_path / "results" / "table3.csv").is_file()
    assert (tmp_path / "results" / "ablation.csv").is_file()
