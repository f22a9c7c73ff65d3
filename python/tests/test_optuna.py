"""The Optuna adapter inside real Optuna studies (Optuna from PyPI): one changed line,
every distribution kind, parallel workers, Optuna's pruners, reproducibility."""

from __future__ import annotations

import math

import optuna
import pytest

import sweep.optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def mixed(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    units = trial.suggest_int("units", 8, 64, step=8)
    depth = trial.suggest_int("depth", 1, 100, log=True)
    drop = trial.suggest_float("drop", 0.0, 0.5, step=0.1)
    act = trial.suggest_categorical("act", ["relu", "tanh", None])
    return (x - 1.5) ** 2 + (math.log10(lr) + 2) ** 2 + abs(units - 32) / 32 + abs(depth - 10) / 100 + drop + (0 if act == "tanh" else 0.5)


def test_one_line_change_runs_a_real_optuna_study():
    study = optuna.create_study(direction="minimize", sampler=sweep.optuna.Sampler(seed=0))
    study.optimize(mixed, n_trials=40)
    trials = study.trials
    assert len(trials) == 40 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    for t in trials:
        p = t.params
        assert -5 <= p["x"] <= 5 and 1e-4 <= p["lr"] <= 1e-1
        assert p["units"] in range(8, 65, 8) and 1 <= p["depth"] <= 100 and isinstance(p["depth"], int)
        assert any(abs(p["drop"] - k / 10) < 1e-12 for k in range(6))
        assert p["act"] in ("relu", "tanh", None)
    # From the second trial on, sweep proposed every parameter together.
    assert all("sweep:relative_params:0" in t.system_attrs for t in trials[1:])
    assert "sweep:relative_params:0" not in trials[0].system_attrs
    # Random search on this space rarely gets below 1.0 in 40 trials; the GP does.
    assert study.best_value < 0.6, study.best_params


def test_same_seed_same_trials():
    runs = []
    for _ in range(2):
        study = optuna.create_study(sampler=sweep.optuna.Sampler(seed=3))
        study.optimize(mixed, n_trials=15)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_parallel_workers_get_different_candidates():
    study = optuna.create_study(direction="maximize", sampler=sweep.optuna.Sampler(seed=1))
    study.optimize(lambda t: -((t.suggest_float("a", 0, 1) - 0.2) ** 2) - (t.suggest_float("b", 0, 1) - 0.7) ** 2, n_trials=24, n_jobs=2)
    params = [(t.params["a"], t.params["b"]) for t in study.trials]
    assert len(params) == 24 and len(set(params)) == 24
    assert study.best_value > -0.01


def test_with_optunas_pruner():
    study = optuna.create_study(
        direction="minimize",
        sampler=sweep.optuna.Sampler(seed=2),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    )

    def objective(trial):
        q = trial.suggest_float("q", 0.0, 1.0)
        for step in range(10):
            loss = q + 1.0 / (step + 1)
            trial.report(loss, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return loss

    study.optimize(objective, n_trials=25)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) > 0
    assert study.best_params["q"] < 0.15


def test_multi_objective_is_refused():
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sweep.optuna.Sampler(seed=0))
    with pytest.raises(ValueError, match="single-objective"):
        study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1)), n_trials=3)
