"""The reporting client (``sweep.report``, ``sweep.should_stop``) inside a real ``sweep run``,
from a copy of the package's plain-Python files alone (no compiled extension), and outside
a sweep."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from helpers import REPO, python_env

import sweep
import sweep.client

def pure_copy(dest: Path) -> Path:
    """The package's plain-Python files without the compiled extension: what a run's own
    environment may have."""
    pkg = dest / "sweep"
    pkg.mkdir(parents=True)
    for src in (REPO / "python" / "sweep").glob("*.py"):
        shutil.copy(src, pkg / src.name)
    return dest


TRAIN = textwrap.dedent(
    """
    import argparse, os, signal, sys, time
    import sweep

    # SIGTERM follows the stop file; this script stops on the file alone, so a run that
    # ends by itself proves should_stop() saw it.
    signal.signal(signal.SIGTERM, lambda *a: None)
    ap = argparse.ArgumentParser()
    ap.add_argument("--quality", type=float)
    q = ap.parse_args().quality
    assert "sweep._sweep" not in sys.modules
    for epoch in range(1, 41):
        acc = q * (1 - 0.6 ** epoch)
        sweep.report("accuracy", acc, step=epoch)
        sweep.report("loss", 1 - acc, step=epoch)
        time.sleep(0.1)
        if sweep.should_stop():
            with open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "stopped-at"), "w") as f:
                f.write(str(epoch))
            sys.exit(0)
    assert "sweep._sweep" not in sys.modules and sweep.params()["--quality"] == q
    """
)


def test_reporting_client_inside_a_real_sweep_run(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    lib = pure_copy(tmp_path / "lib")
    (src / "hd.yml").write_text(
        textwrap.dedent(
            """
            sampling:
              type: random
              seed: 4
              parameter_space:
              - name: --quality
                expression: uniform
                values: [0.2, 1.0]
            policy:
              type: BanditPolicy
              slack_amount: 0.05
              delay_evaluation: 3
            primary_metric_name: accuracy
            primary_metric_goal: maximize
            max_total_runs: 8
            max_concurrent_runs: 4
            """
        )
    )
    (src / "train.runconfig").write_text(
        textwrap.dedent(
            f"""
            script: train.py
            environment:
              environmentVariables:
                PYTHONPATH: {lib}
              python:
                interpreterPath: {sys.executable}
                userManagedDependencies: true
            """
        )
    )
    env = python_env()
    env["SWEEP_STOP_GRACE_SECONDS"] = "60"  # a run that ignored the stop file would hang
    cli.run("run", str(src / "hd.yml"), "-c", str(src / "train.runconfig"), "--name", "client", "--quiet", env=env, cwd=src)
    runs = cli.json("runs", "client", "--format", "json")
    assert len(runs) == 8
    stopped = [r for r in runs if r["state"] == "canceled"]
    assert stopped, "the bandit stops the runs well behind: " + json.dumps(runs)[:2000]
    for r in runs:
        out = Path(r["run_dir"]) / "outputs" / "stopped-at"
        if r["state"] == "canceled":
            assert r["reason"] == "policy:bandit"
            # It ended by itself (exit 0) after should_stop() saw the stop file.
            assert r["exit_code"] == 0 and r["signal"] is None
            assert out.exists() and int(out.read_text()) >= r["intervals"] >= 3
        else:
            assert r["state"] == "completed" and r["intervals"] == 40 and not out.exists()
    export = cli.json("export", "client", "--format", "json")
    first = export["runs"][0]
    acc = first["metrics"]["accuracy"]
    assert [p["step"] for p in acc] == list(range(1, len(acc) + 1))
    assert len(first["metrics"]["loss"]) == len(acc)
    q = first["params"]["--quality"]
    assert acc[0]["value"] == pytest.approx(q * 0.4)


def test_the_client_needs_no_extension(tmp_path):
    lib = pure_copy(tmp_path / "lib")
    metrics, stop = tmp_path / "metrics.jsonl", tmp_path / "stop"
    env = python_env()
    env.pop("PYTHONPATH", None)
    env.update(
        PYTHONPATH=str(lib),
        SWEEP_METRICS_FILE=str(metrics),
        SWEEP_STOP_FILE=str(stop),
        SWEEP_PARAMS='{"--lr": 0.1, "layers": 2}',
    )
    code = textwrap.dedent(
        """
        import sys, sweep
        sweep.report("acc", 0.5, step=1)
        sweep.report("acc", float("nan"))
        print(sweep.should_stop(), sweep.params(), "sweep._sweep" in sys.modules)
        open(sys.argv[1], "w").close()
        print(sweep.should_stop())
        try:
            sweep.create_study
        except ImportError as e:
            print("no study API:", "needs the compiled extension" in str(e))
        """
    )
    # -S: no site-packages, so only the copied files can be imported.
    p = subprocess.run([sys.executable, "-S", "-c", code, str(stop)], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "False {'--lr': 0.1, 'layers': 2} False"
    assert lines[1] == "True"
    assert lines[2] == "no study API: True"
    assert metrics.read_text().splitlines() == [
        '{"metric": "acc", "value": 0.5, "step": 1}',
        '{"metric": "acc", "value": NaN}',
    ]


def test_outside_a_sweep_the_client_warns_once_and_does_nothing(monkeypatch, tmp_path):
    for var in ("SWEEP_METRICS_FILE", "SWEEP_STOP_FILE", "SWEEP_PARAMS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sweep.client, "_warned", False)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(RuntimeWarning, match="outside a sweep"):
        sweep.report("accuracy", 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep.report("accuracy", 0.6, step=2)
        assert sweep.should_stop() is False
    assert sweep.params() == {} and not sweep.in_sweep()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("SWEEP_METRICS_FILE", str(tmp_path / "m.jsonl"))
    with pytest.raises(ValueError, match="step"):
        sweep.report("accuracy", 0.5, step=-1)
