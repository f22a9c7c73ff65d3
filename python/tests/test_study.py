"""The study API end to end: definitions (all ten expressions, conditional choices, errors),
ask/report/tell with the real policies, optimize with threads, failures and interrupts,
and the history the ``sweep`` command reads."""

from __future__ import annotations

import math
import threading
import time

import pytest

import sweep


def small_study(ws, **kw):
    args = dict(
        name="small",
        workspace=ws,
        space={"x": sweep.uniform(-2.0, 2.0), "shift": sweep.choice(0.0, 0.5)},
        metric="loss",
        goal="minimize",
        sampling="random",
        seed=7,
        max_total_runs=20,
    )
    args.update(kw)
    return sweep.create_study(**args)


def test_ask_tell_records_every_trial_and_the_best(ws, cli):
    study = small_study(ws)
    told = {}
    while (trial := study.ask()) is not None:
        p = trial.params
        value = (p["x"] - p["shift"]) ** 2
        study.tell(trial, value)
        told[trial.number] = value
    assert len(told) == 20
    assert study.ask() is None  # the budget is spent
    best = study.best
    assert best.value == min(told.values())
    assert told[best.number] == best.value
    assert study.best_params == best.params
    s = study.summary()
    assert (s["trials"], s["completed"], s["state"]) == (20, 20, "completed")
    assert s["reason"] == "max_total_runs (20) reached"
    trials = study.trials
    assert [t.number for t in trials] == list(range(20))
    assert all(t.state == "completed" and t.reason == "completed" for t in trials)
    assert {t.number: t.value for t in trials} == told
    assert [t.intermediate_values for t in trials] == [{1: told[t.number]} for t in trials]
    # The command line reads the same sweep.
    assert cli.json("best", "small", "--json")["value"] == best.value
    assert cli.json("best", "small", "--json")["run"] == best.id
    runs = cli.json("runs", "small", "--format", "json")
    assert [r["params"] for r in runs] == [t.params for t in trials]
    status = cli.run("status").stdout
    assert study.id in status and "small" in status and "completed" in status


def test_same_seed_same_candidates_and_types(tmp_path):
    space = {
        "a": sweep.choice(1, 2, 3),
        "b": sweep.randint(5),
        "c": sweep.uniform(0, 1),
        "d": sweep.quniform(0, 10, 2),
        "e": sweep.loguniform(math.log(1e-4), math.log(1e-1)),
        "f": sweep.qloguniform(0, 3, 1),
        "g": sweep.normal(0, 1),
        "h": sweep.qnormal(0, 5, 1),
        "i": sweep.lognormal(0, 1),
        "j": sweep.qlognormal(0, 1, 0.5),
        "k": sweep.choice("adam", "sgd"),
        "l": sweep.choice(True, False),
    }
    runs = []
    for i in range(2):
        study = sweep.create_study(workspace=tmp_path / f"ws{i}", space=space, sampling="sobol", seed=11, max_total_runs=8)
        got = []
        while (t := study.ask()) is not None:
            got.append(t.params)
            study.tell(t, 0.0)
        runs.append(got)
    assert runs[0] == runs[1]
    for p in runs[0]:
        assert list(p) == list(space)
        assert p["a"] in (1, 2, 3) and type(p["a"]) is int
        assert type(p["b"]) is int and 0 <= p["b"] < 5
        assert type(p["c"]) is float and 0 <= p["c"] <= 1
        assert type(p["d"]) is int and p["d"] % 2 == 0
        assert 1e-4 <= p["e"] <= 1e-1
        assert type(p["h"]) is int
        assert p["k"] in ("adam", "sgd") and type(p["l"]) is bool


def test_conditional_choice_activates_only_its_options_children(ws):
    space = {
        "opt": sweep.choice(
            {"name": "sgd", "lr": sweep.uniform(0.1, 1.0)},
            {"name": "momentum", "lr": sweep.loguniform(-4, -1), "momentum": sweep.uniform(0.8, 0.99)},
        ),
        "layers": sweep.randint(3),
    }
    study = sweep.create_study(workspace=ws, space=space, seed=3, max_total_runs=30)
    seen = set()
    while (t := study.ask()) is not None:
        p = t.params
        seen.add(p["opt"])
        if p["opt"] == 0:
            assert set(p) == {"opt", "opt.name", "opt.lr", "layers"}
            assert p["opt.name"] == "sgd" and 0.1 <= p["opt.lr"] <= 1.0
        else:
            assert set(p) == {"opt", "opt.name", "opt.lr", "opt.momentum", "layers"}
            assert p["opt.name"] == "momentum" and math.exp(-4) <= p["opt.lr"] <= math.exp(-1)
        study.tell(t, p["layers"])
    assert seen == {0, 1}


def test_an_invalid_definition_names_every_problem(ws):
    with pytest.raises(sweep.InvalidStudyError) as e:
        sweep.create_study(
            workspace=ws,
            space={"x": sweep.uniform(1, 0), "n": sweep.randint(0), "s": sweep.normal(0, -1)},
            max_total_runs=3,
        )
    text = str(e.value)
    for want in ("`x`: needs low < high, got 1 and 0 (swap them)", "`n`: randint(upper)", "`s`: sigma is a standard deviation"):
        assert want in text
    assert isinstance(e.value, sweep.SweepError) and isinstance(e.value, ValueError)
    with pytest.raises(sweep.InvalidStudyError, match=r"max_total_runs"):
        sweep.create_study(workspace=ws, space={"x": sweep.uniform(0, 1)})
    with pytest.raises(TypeError, match="expected an expression"):
        sweep.create_study(workspace=ws, space={"x": (0, 1)}, max_total_runs=1)


def test_tell_states_and_misuse(ws):
    study = small_study(ws, max_total_runs=4)
    a, b, c = study.ask(), study.ask(), study.ask()
    assert a.report(3.0, step=1) is False
    study.tell(a, state="pruned")
    study.tell(b, state="failed", reason="diverged")
    c.log("accuracy", 0.5, step=2)
    study.tell(c)  # completed with no report: recorded, never the best
    with pytest.raises(ValueError, match="told already"):
        study.tell(a, 1.0)
    with pytest.raises(ValueError, match="told already"):
        a.report(1.0)
    with pytest.raises(ValueError, match="state must be"):
        study.tell(study.ask(), state="weird")
    byn = {t.number: t for t in study.trials}
    assert (byn[0].state, byn[0].reason, byn[0].value) == ("canceled", "pruned", 3.0)
    assert (byn[1].state, byn[1].reason, byn[1].value) == ("failed", "diverged", None)
    assert byn[2].state == "completed" and byn[2].value is None
    assert byn[2].metrics["accuracy"] == [(1, 2, 0.5)]
    assert byn[0].metrics["loss"] == [(1, 1, 3.0)]  # the step is recorded beside the interval
    assert study.best.number == 0  # a pruned trial counts at its best report


def test_a_bandit_policy_stops_trials_behind_with_its_numbers(ws):
    study = sweep.create_study(
        workspace=ws,
        space={"quality": sweep.uniform(0.0, 1.0)},
        metric="accuracy",
        goal="maximize",
        seed=1,
        max_total_runs=16,
        policy=sweep.BanditPolicy(slack_amount=0.05, delay_evaluation=2),
    )
    stopped = []
    while (t := study.ask()) is not None:
        q = t.params["quality"]
        for epoch in range(1, 6):
            if t.report(q * (1 - 0.5**epoch), step=epoch):
                r = t.stop_reason
                assert t.should_stop()
                assert r.kind == "policy" and r.policy == "bandit" and r.reason == "policy:bandit"
                assert r.interval == epoch >= 2
                # Bandit (maximize, slack amount): stopped when its best is below best - slack.
                assert r.value < r.threshold
                assert r.value == pytest.approx(q * (1 - 0.5**epoch))
                assert "policy:bandit" in str(r)
                stopped.append((t.number, r.interval))
                break
        study.tell(t)
    assert stopped, "the bandit stops trials well behind the best"
    byn = {t.number: t for t in study.trials}
    for number, interval in stopped:
        assert byn[number].state == "canceled" and byn[number].reason == "policy:bandit"
        assert len(byn[number].intermediate_values) == interval
        assert byn[number].detail is not None
    assert study.summary()["canceled"] == len(stopped)


def test_optimize_with_two_threads_overlaps_trials(ws):
    study = small_study(ws, max_total_runs=12, sampling="bayesian")
    lock = threading.Lock()
    state = {"live": 0, "max_live": 0, "threads": set()}

    def objective(trial):
        with lock:
            state["live"] += 1
            state["max_live"] = max(state["max_live"], state["live"])
            state["threads"].add(threading.get_ident())
        time.sleep(0.05)
        x, shift = trial.params["x"], trial.params["shift"]
        with lock:
            state["live"] -= 1
        return (x - shift) ** 2

    study.optimize(objective, n_jobs=2)
    assert study.summary()["completed"] == 12
    assert state["max_live"] == 2 and len(state["threads"]) == 2
    assert len({tuple(t.params.items()) for t in study.trials}) == 12


def test_a_proposal_releases_the_gil(ws):
    # A Bayesian proposal (a Gaussian-process fit) takes a while; another Python thread
    # must keep running meanwhile.
    space = {f"x{i}": sweep.uniform(0, 1) for i in range(3)}
    study = sweep.create_study(workspace=ws, space=space, sampling="bayesian", seed=5, max_total_runs=80)
    for _ in range(15):
        t = study.ask()
        study.tell(t, sum((v - 0.3) ** 2 for v in t.params.values()))
    ticks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1

    th = threading.Thread(target=count)
    th.start()
    try:
        time.sleep(0.01)
        before = ticks[0]
        t0 = time.perf_counter()
        trial = study.ask()
        spent = time.perf_counter() - t0
        during = ticks[0] - before
    finally:
        stop.set()
        th.join()
    assert trial is not None
    assert spent > 0.005, f"the proposal took {spent * 1e3:.1f} ms, too short to tell"
    assert during > 1000, f"the counting thread advanced {during} times during a {spent * 1e3:.0f} ms proposal"


def test_objective_failures_are_recorded_with_their_traceback(ws):
    study = small_study(ws, max_total_runs=6)

    def objective(trial):
        if trial.number % 2:
            raise ZeroDivisionError("odd trial")
        return 1.0

    study.optimize(objective, catch=(ZeroDivisionError,))
    failed = [t for t in study.trials if t.state == "failed"]
    assert [t.number for t in failed] == [1, 3, 5]
    assert failed[0].reason.startswith("ZeroDivisionError: odd trial")
    assert "Traceback (most recent call last)" in failed[0].reason and "in objective" in failed[0].reason

    study2 = small_study(ws, name="uncaught", max_total_runs=6)
    with pytest.raises(ZeroDivisionError):
        study2.optimize(objective)
    assert [t.state for t in study2.trials] == ["completed", "failed"]


def test_optimize_limits_and_return_values(ws):
    study = small_study(ws, max_total_runs=50)
    study.optimize(lambda t: None, n_trials=3)  # None: completed at the best report (none)
    assert study.summary()["trials"] == 3

    def pruned(trial):
        trial.report(1.0)
        raise sweep.TrialPruned()

    study.optimize(pruned, n_trials=2)
    study.optimize(lambda t: "nope", n_trials=1)
    t0 = time.monotonic()
    study.optimize(lambda t: time.sleep(0.05) or 1.0, timeout=0.3)
    assert time.monotonic() - t0 < 2.0
    states = [(t.state, t.reason) for t in study.trials]
    assert states[3:5] == [("canceled", "pruned")] * 2
    assert states[5][0] == "failed" and "returned 'nope'" in states[5][1]
    assert 2 <= len(states) - 6 <= 8  # the timeout stopped asking


def test_keyboard_interrupt_stops_cleanly_and_the_study_resumes(ws):
    def make(**kw):
        return small_study(ws, name="interrupted", max_total_runs=8, **kw)

    study = make()
    seen = []

    def objective(trial):
        seen.append(trial.params)
        if trial.number == 3:
            raise KeyboardInterrupt
        trial.report(1.0)
        return 2.0

    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective)
    s = study.summary()
    assert (s["trials"], s["completed"], s["canceled"], s["state"]) == (4, 3, 1, "canceled")
    study.close()
    h = sweep.load_sweep("interrupted", ws)
    assert h.info.state == "canceled" and h.info.reason == "interrupted (KeyboardInterrupt)"
    assert h.trials[3].state == "canceled" and "interrupted" in h.trials[3].reason

    again = make(load_if_exists=True)
    assert again.id == study.id
    again.optimize(lambda t: seen.append(t.params) or 0.5)
    assert again.summary()["trials"] == 8
    # The same sequence as an uninterrupted study with this seed.
    fresh = small_study(ws, name="fresh", max_total_runs=8)
    expected = []
    fresh.optimize(lambda t: expected.append(t.params) or 0.5)
    assert seen == expected


def test_reopening_needs_the_same_definition_and_one_process(ws):
    study = small_study(ws, name="mine")
    with pytest.raises(sweep.BusyError) as e:
        small_study(ws, name="mine", load_if_exists=True)
    assert e.value.sweep_id == study.id
    study.close()
    with pytest.raises(sweep.MismatchError, match="goal"):
        small_study(ws, name="mine", goal="maximize", load_if_exists=True)
    with pytest.raises(sweep.SweepNotFoundError):
        small_study(ws, resume="nosuch")
    again = small_study(ws, resume="mine")
    assert again.id == study.id


def test_trials_dataframe(ws):
    import pandas as pd

    study = small_study(ws, max_total_runs=5)
    study.optimize(lambda t: t.params["x"])
    df = study.trials_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df["number"]) == list(range(5))
    assert list(df["value"]) == [t.params["x"] for t in study.trials]
    assert {"params_x", "params_shift", "state", "started"} <= set(df.columns)
