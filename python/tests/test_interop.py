"""One workspace for both: a sweep the command line ran is read from Python exactly as
``sweep runs`` reports it, and Python studies are listed by ``sweep status`` beside it."""

from __future__ import annotations

import textwrap

from helpers import PYTHON, python_env

import sweep

SCRIPT = textwrap.dedent(
    """
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=float)
    ap.add_argument("--opt")
    a = ap.parse_args()
    for epoch in range(1, 5):
        print('@sweep {"metric": "acc", "value": %r, "step": %d}' % ((1 - (a.x - 0.4) ** 2) * epoch / 4, epoch), flush=True)
    print('@sweep {"metric": "loss", "value": %r}' % (a.x,), flush=True)
    """
)

HDCONFIG = textwrap.dedent(
    """
    sampling:
      type: sobol
      seed: 2
      parameter_space:
      - name: --x
        expression: uniform
        values: [0, 1]
      - name: --opt
        expression: choice
        values: [adam, sgd]
    primary_metric_name: acc
    primary_metric_goal: maximize
    max_total_runs: 5
    max_concurrent_runs: 2
    """
)


def test_a_cli_sweep_read_from_python_and_a_python_study_listed_by_the_cli(tmp_path, cli):
    src = tmp_path / "src"
    src.mkdir()
    (src / "t.py").write_text(SCRIPT)
    (src / "hd.yml").write_text(HDCONFIG)
    cli.run("run", str(src / "hd.yml"), "--name", "from-cli", "--quiet", "--", PYTHON, "t.py", cwd=src, env=python_env())

    h = sweep.load_sweep("from-cli", cli.workspace)
    runs = cli.json("runs", "from-cli", "--format", "json")
    assert h.info.name == "from-cli" and h.info.target == "local" and h.info.state == "completed"
    assert (h.info.metric, h.info.goal, h.info.sampling, h.info.seed) == ("acc", "maximize", "random (sobol)", 2)
    assert len(h.trials) == len(runs) == 5
    for t, r in zip(h.trials, runs):
        assert (t.id, t.number, t.state, t.reason, t.params, t.argv) == (r["id"], r["seq"], r["state"], r["reason"], r["params"], r["argv"])
        assert t.value == r["best"]
        assert len(t.intermediate_values) == r["intervals"] == 4
        assert t.metrics["loss"] == [(1, None, t.params["--x"])]
        assert [s for (_i, s, _v) in t.metrics["acc"]] == [1, 2, 3, 4]
    best = cli.json("best", "from-cli", "--json")
    assert h.best.id == best["run"] and h.best.value == best["value"]
    assert sweep.load_sweep("latest", cli.workspace).info.id == h.info.id

    # A Python study in the same workspace, beside it.
    study = sweep.create_study(
        name="from-python", workspace=cli.workspace, metric="acc", goal="maximize",
        space={"--x": sweep.uniform(0, 1)}, max_total_runs=3, seed=1, program=["python3", "t.py"],
    )
    study.optimize(lambda t: 1 - (t.params["--x"] - 0.4) ** 2)
    names = [s.name for s in sweep.list_sweeps(cli.workspace)]
    assert names == ["from-python", "from-cli"]  # newest first, as `sweep status` lists them
    status = cli.run("status").stdout
    assert "from-cli" in status and "from-python" in status
    one = cli.run("status", "from-python").stdout
    assert "completed" in one and "max_total_runs (3) reached" in one
    best = cli.json("best", "from-python", "--json")
    assert best["value"] == study.best_value and best["params"] == study.best_params
    assert best["argv"][:2] == ["python3", "t.py"] and best["argv"][2] == "--x"
    report = tmp_path / "report.html"
    cli.run("report", "from-python", "--out", str(report))
    assert study.id in report.read_text()
