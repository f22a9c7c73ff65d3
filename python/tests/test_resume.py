"""Crash safety: a study whose Python process is SIGKILLed mid-study resumes in a new
process with nothing lost (every told trial is recorded as told) and nothing duplicated
(the sampler continues its sequence; the trial that was running is recorded lost and not
asked again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import time

from helpers import PYTHON, python_env

import sweep

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import sweep

    ws, crash_at = sys.argv[1], int(sys.argv[2])
    study = sweep.create_study(
        name="crashy", workspace=ws, metric="loss", goal="minimize", sampling="random", seed=13,
        space={"x": sweep.uniform(-1, 1), "k": sweep.randint(4)}, max_total_runs=12,
        policy=sweep.MedianStoppingPolicy(delay_evaluation=10), load_if_exists=True,
    )
    while (t := study.ask()) is not None:
        p = t.params
        v = p["x"] ** 2 + 0.1 * p["k"]
        for epoch in range(1, 4):
            t.report(v + 1.0 / epoch, step=epoch)
        if t.number == crash_at:
            study.flush()
            print(json.dumps({"running": t.number, "params": p}), flush=True)
            time.sleep(120)
        study.tell(t, v)
        print(json.dumps({"told": t.number, "value": v, "params": p}), flush=True)
    print(json.dumps({"done": study.summary()}), flush=True)
    """
)


def uninterrupted(ws) -> list:
    study = sweep.create_study(
        name="reference", workspace=ws, metric="loss", goal="minimize", sampling="random", seed=13,
        space={"x": sweep.uniform(-1, 1), "k": sweep.randint(4)}, max_total_runs=12,
        policy=sweep.MedianStoppingPolicy(delay_evaluation=10),
    )
    seq = []
    while (t := study.ask()) is not None:
        seq.append(t.params)
        study.tell(t, 0.0)
    return seq


def test_sigkill_mid_study_then_resume_loses_and_repeats_nothing(tmp_path, cli):
    script = tmp_path / "crashy.py"
    script.write_text(SCRIPT)
    ws = cli.workspace
    child = subprocess.Popen(
        [PYTHON, str(script), str(ws), "5"], stdout=subprocess.PIPE, text=True, env=python_env()
    )
    told_before = {}
    running = None
    deadline = time.monotonic() + 120
    try:
        for line in child.stdout:
            msg = json.loads(line)
            if "told" in msg:
                told_before[msg["told"]] = msg
            if "running" in msg:
                running = msg
                break
            assert time.monotonic() < deadline, "the child never reached trial 5"
        assert running is not None, "the child ended before trial 5"
        # Mid-trial, mid-study: no chance to clean up.
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert sorted(told_before) == [0, 1, 2, 3, 4]

    # A new process opens it again and finishes it.
    second = subprocess.run(
        [PYTHON, str(script), str(ws), "-1"], capture_output=True, text=True, env=python_env(), timeout=300
    )
    assert second.returncode == 0, second.stderr
    told_after = [json.loads(l) for l in second.stdout.splitlines() if '"told"' in l]
    assert [m["told"] for m in told_after] == [6, 7, 8, 9, 10, 11]

    h = sweep.load_sweep("crashy", ws)
    assert h.info.state == "completed"
    assert [t.number for t in h.trials] == list(range(12))
    byn = {t.number: t for t in h.trials}
    # Nothing lost: every trial told before the kill is recorded as told.
    for n, msg in told_before.items():
        t = byn[n]
        assert (t.state, t.params) == ("completed", msg["params"])
        assert t.intermediate_values[4] == msg["value"]  # three reports, then the told value
    # The trial that was running is recorded lost (with the reports it made) and not asked again.
    lost = byn[5]
    assert lost.state == "failed" and lost.reason.startswith("lost:")
    assert lost.params == running["params"] and len(lost.intermediate_values) == 3
    for m in told_after:
        assert byn[m["told"]].state == "completed" and byn[m["told"]].params == m["params"]
    # Nothing duplicated: the candidates are exactly those of an uninterrupted study.
    assert [t.params for t in h.trials] == uninterrupted(tmp_path / "ref")
    assert len({json.dumps(t.params, sort_keys=True) for t in h.trials}) == 12
    # The command line agrees.
    status = cli.run("status", "crashy").stdout
    assert "completed" in status
    runs = cli.json("runs", "crashy", "--format", "json")
    assert [r["state"] for r in runs].count("failed") == 1
    assert os.path.exists(os.path.join(ws, "sweep.db"))


THREADS = textwrap.dedent(
    """
    import sys, time
    import sweep

    study = sweep.create_study(name="threads", workspace=sys.argv[1], space={"x": sweep.uniform(0, 1)},
                               seed=2, max_total_runs=10)

    def objective(trial):
        sys.stdout.write(f"started {trial.number}\\n")  # one write: the threads print at once
        sys.stdout.flush()
        for step in range(1, 3000):
            if trial.report(trial.params["x"], step=step):
                raise sweep.TrialPruned()
            time.sleep(0.01)
        return 0.0

    study.optimize(objective, n_jobs=2)
    """
)


def test_ctrl_c_stops_threaded_trials_cleanly(tmp_path):
    script = tmp_path / "threads.py"
    script.write_text(THREADS)
    ws = tmp_path / "ws"
    child = subprocess.Popen([PYTHON, str(script), str(ws)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env())
    try:
        started = set()
        while len(started) < 2:
            line = child.stdout.readline()
            if not line:
                child.wait(timeout=60)
                raise AssertionError(f"the child ended (exit {child.returncode}) before two trials started:\n{child.stderr.read()}")
            started.add(line.split()[1])
        assert started == {"0", "1"}
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    h = sweep.load_sweep("threads", ws)
    assert h.info.state == "canceled" and h.info.reason == "interrupted (KeyboardInterrupt)"
    assert [t.number for t in h.trials] == [0, 1]
    for t in h.trials:
        # Each trial saw `report` answer True, stopped, and was recorded with what it reported.
        assert t.state == "canceled" and t.reason == "sweep stopped: interrupted (KeyboardInterrupt)"
        assert len(t.intermediate_values) >= 10
