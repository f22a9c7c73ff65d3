"""The Python examples of docs/python.md and the README run as written and leave the studies they describe."""

from __future__ import annotations

import re
import subprocess

from helpers import PYTHON, REPO, python_env

import sweep


def run_example(doc: str, heading: str, cwd):
    """Runs the first Python block after `heading` in `doc`, in `cwd` (its `./.sweep`)."""
    section = (REPO / doc).read_text().split(heading, 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    env = python_env()
    env.pop("SWEEP_WORKSPACE", None)
    p = subprocess.run([PYTHON, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return p


def test_the_complete_example_runs(tmp_path):
    p = run_example("docs/python.md", "## A complete example", tmp_path)
    assert p.stdout.startswith("BestTrial(number=")
    h = sweep.load_sweep("logreg", tmp_path / ".sweep")
    assert h.info.state == "completed" and len(h.trials) == 16
    assert {t.state for t in h.trials} <= {"completed", "canceled"}
    assert h.best.value < 0.45  # a trained model, not a coin
    canceled = [t for t in h.trials if t.state == "canceled"]
    assert all(t.reason == "policy:median_stopping" and len(t.intermediate_values) >= 3 for t in canceled)
    # Run again: it continues the finished study rather than starting another.
    run_example("docs/python.md", "## A complete example", tmp_path)
    assert [s.name for s in sweep.list_sweeps(tmp_path / ".sweep")] == ["logreg"]


def test_the_readmes_example_runs(tmp_path):
    p = run_example("README.md", "## Use it from Python", tmp_path)
    h = sweep.load_sweep("mlp", tmp_path / ".sweep")
    assert h.info.state == "completed" and len(h.trials) == 30
    assert p.stdout.startswith(f"BestTrial(number={h.best.number}, id={h.best.id!r}, value={h.best.value!r}")
