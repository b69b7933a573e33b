"""The README's Python example runs as written (in a temporary folder, on its tiny procedural data)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = readme_python_blocks()
    assert len(blocks) == 1, "the README has one Python example"
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme_example"})
    assert (tmp_path / "runs" / "example" / "eval" / "max" / "metrics.json").is_file()
    assert (tmp_path / "query0.png").stat().st_size > 0
