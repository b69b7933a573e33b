"""`shoekit workbench` starts the Streamlit server with OpenMP threads that sleep while they wait
(OMP_WAIT_POLICY=PASSIVE), unless the user chose a policy: the walk-through's model passes stay
fast on a busy 2-core machine."""

from __future__ import annotations

import shoekit.commands.workbench as workbench_command
from shoekit.cli import main as cli_main
from tests.test_workbench_browser import free_port


def served_env(monkeypatch, tmp_path) -> dict[str, str]:
    """The environment `shoekit workbench` would start the server with (serving is replaced by a stub)."""
    seen = {}

    def serve(command, env, browse=None):
        seen.update(env)
        return 0

    monkeypatch.setattr(workbench_command, "serve", serve)
    assert cli_main(["workbench", "--runs", str(tmp_path), "--port", str(free_port()), "--no-browser"]) == 0
    return seen


def test_the_server_gets_passive_openmp_threads(monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    env = served_env(monkeypatch, tmp_path)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env[workbench_command.RUNS_ENV] == str(tmp_path)


def test_a_policy_the_user_set_is_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert served_env(monkeypatch, tmp_path)["OMP_WAIT_POLICY"] == "ACTIVE"
