"""One engine, three front doors: the same config and seed give the same candidates from
Python, from the Rust library (``examples/ask_tell_config.rs``) and from ``sweep run``; and
a sampler-quality run from Python on Branin and Hartmann6 gives exactly the Rust library's
results (``examples/compare_samplers.rs``) for the same seeds."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import textwrap

import pytest
from helpers import REPO, python_env

import sweep

SCRIPT = textwrap.dedent(
    """
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=float)
    ap.add_argument("--k", type=int)
    ap.add_argument("--opt")
    a = ap.parse_args()
    target = 1.0 - (a.x - 0.3) ** 2 - 0.05 * a.k - (0.1 if a.opt == "sgd" else 0.0)
    for epoch in range(1, 4):
        print('@sweep {"metric": "acc", "value": %r, "step": %d}' % (target * epoch / 3.0, epoch), flush=True)
    """
)

HDCONFIG = textwrap.dedent(
    """
    sampling:
      type: bayesian
      parameter_space:
      - name: x
        expression: uniform
        values: [0, 1]
      - name: k
        expression: randint
        values: [4]
      - name: opt
        expression: choice
        values: [adam, sgd]
    primary_metric_name: acc
    primary_metric_goal: maximize
    max_total_runs: 12
    max_concurrent_runs: 1
    """
)


def run_script(argv, cwd):
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=python_env(), check=True).stdout
    return [json.loads(l.split("@sweep ", 1)[1])["value"] for l in out.splitlines() if l.startswith("@sweep ")]


def test_python_rust_and_cli_ask_the_same_candidates(tmp_path, cli, examples_dir):
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.py").write_text(SCRIPT)
    (src / "hd.yml").write_text(HDCONFIG)
    (src / "t.runconfig").write_text("script: t.py\n")
    cfg, rc = src / "hd.yml", src / "t.runconfig"

    # The command line.
    cli.run("run", str(cfg), "-c", str(rc), "--seed", "5", "--name", "cli", "--quiet", cwd=src, env=python_env())
    from_cli = [r["params"] for r in cli.json("runs", "cli", "--format", "json")]

    # The Rust library.
    rust = subprocess.run(
        [str(examples_dir / "ask_tell_config"), str(cfg), "-c", str(rc), "--seed", "5", "--name", "rust", "--workspace", str(cli.workspace)],
        capture_output=True, text=True, env=python_env(), timeout=300,
    )
    assert rust.returncode == 0, rust.stderr
    from_rust = [json.loads(l)["params"] for l in rust.stdout.splitlines()]

    # Python.
    study = sweep.create_study(config=cfg, runconfig=rc, seed=5, name="python", workspace=cli.workspace)
    from_python = []
    while (t := study.ask()) is not None:
        from_python.append(t.params)
        for v in run_script(t.argv, src):
            t.report(v)
        study.tell(t)
    assert len(from_cli) == 12
    assert from_python == from_cli
    assert from_rust == from_cli
    assert study.summary()["completed"] == 12
    best = {k: cli.json("best", k, "--json") for k in ("cli", "rust", "python")}
    assert best["python"]["params"] == best["cli"]["params"] == best["rust"]["params"]
    assert best["python"]["value"] == best["cli"]["value"]


def compare_samplers():
    spec = importlib.util.spec_from_file_location("compare_samplers", REPO / "bench" / "compare_samplers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Enough trials for the Gaussian process to take over from the initial design (6 points in
# 2-D, 18 in 6-D) for several proposals.
TRIALS = {"branin": 20, "hartmann6": 26}
SEEDS = 2


@pytest.mark.parametrize("problem", sorted(TRIALS))
def test_sampler_quality_from_python_equals_the_rust_librarys(problem, tmp_path, examples_dir):
    trials = TRIALS[problem]
    cs = compare_samplers()
    f, bounds, optimum = cs.PROBLEMS[problem]
    rust = subprocess.run(
        [str(examples_dir / "compare_samplers"), "--json", "--trials", str(trials), "--seeds", str(SEEDS), "--problems", problem, "--samplers", "bayes"],
        capture_output=True, text=True, timeout=600,
    )
    assert rust.returncode == 0, rust.stderr
    expected = {r["seed"]: r["regret"] for r in map(json.loads, rust.stdout.splitlines())}
    assert sorted(expected) == list(range(SEEDS))
    for seed in range(SEEDS):
        study = sweep.create_study(
            name=f"{problem}-{seed}",
            workspace=tmp_path / "ws",
            space={f"x{i}": sweep.uniform(lo, hi) for i, (lo, hi) in enumerate(bounds)},
            goal="minimize",
            sampling="bayesian",
            seed=seed,
            max_total_runs=trials,
        )
        study.optimize(lambda t: f([t.params[f"x{i}"] for i in range(len(bounds))]))
        regret = max(study.best_value - optimum, 0.0)
        assert regret == expected[seed], f"{problem} seed {seed}: Python {regret!r}, Rust {expected[seed]!r}"
