#!/usr/bin/env python3
"""Per-trial overhead from Python: ask + 5 reports + tell, side by side.

The loop of `benches/study.rs` (random sampling over 4 parameters, a cheap stand-in for
training), with a median-stopping policy from the second report (Optuna: MedianPruner)
and without one (Optuna: NopPruner; `should_prune` is still called), run through:

- sweep's Python package, history on disk (`tell` returns once the trial is committed to
  SQLite, so a killed program loses nothing it told);
- Optuna in memory (RandomSampler, MedianPruner; `trial.report` + `trial.should_prune` per
  report), which keeps nothing when the program ends;
- Optuna with its SQLite storage (RDB) and with its JournalStorage (a file), on disk.

Rounds alternate between the contestants so that a busy machine slows all of them alike;
the table gives the median per-trial time over rounds and its ratio to Optuna in memory.

    python3 bench/python_overhead.py [--rounds 5] [--trials 1000] [--dir DIR]

Needs `pip install ./python optuna`. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time


def loss(lr: float, epoch: int) -> float:
    return abs(math.log(lr) + 4.0) + 1.0 / epoch


def run_sweep(trials: int, d: str, rnd: int, prune: bool) -> float:
    import sweep

    study = sweep.create_study(
        name=f"overhead-{rnd}-{prune}",
        workspace=os.path.join(d, "sweep"),
        space={
            "lr": sweep.loguniform(-9.0, 0.0),
            "dropout": sweep.uniform(0.0, 0.5),
            "layers": sweep.randint(8),
            "optimizer": sweep.choice("sgd", "adam"),
        },
        metric="loss",
        sampling="random",
        seed=rnd,
        max_total_runs=2**62,
        policy=sweep.MedianStoppingPolicy(delay_evaluation=2) if prune else None,
    )
    t0 = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        lr = trial.params["lr"]
        for epoch in range(1, 6):
            if trial.report(loss(lr, epoch), epoch):
                break
        study.tell(trial)
    study.flush()
    elapsed = time.perf_counter() - t0
    study.close()
    return elapsed / trials


def optuna_study(storage, rnd: int, prune: bool):
    import optuna

    return optuna.create_study(
        study_name=f"overhead-{rnd}-{prune}",
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=rnd),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=0, n_warmup_steps=1) if prune else optuna.pruners.NopPruner(),
    )


def run_optuna(trials: int, storage, rnd: int, prune: bool) -> float:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dists = {
        "lr": FloatDistribution(math.exp(-9.0), 1.0, log=True),
        "dropout": FloatDistribution(0.0, 0.5),
        "layers": IntDistribution(0, 7),
        "optimizer": CategoricalDistribution(["sgd", "adam"]),
    }
    study = optuna_study(storage, rnd, prune)
    t0 = time.perf_counter()
    for _ in range(trials):
        trial = study.ask(dists)
        lr = trial.params["lr"]
        state = optuna.trial.TrialState.COMPLETE
        for epoch in range(1, 6):
            trial.report(loss(lr, epoch), epoch)
            if trial.should_prune():
                state = optuna.trial.TrialState.PRUNED
                break
        study.tell(trial, None if state == optuna.trial.TrialState.PRUNED else loss(lr, 5), state=state)
    return (time.perf_counter() - t0) / trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=1000, help="trials per round (Optuna's RDB storage runs a tenth)")
    ap.add_argument("--dir", help="where the histories go (default: a temporary directory)")
    args = ap.parse_args()

    import optuna

    import sweep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"sweep {sweep.__version__}, optuna {optuna.__version__}, Python {sys.version.split()[0]}", file=sys.stderr)
    base = args.dir or tempfile.mkdtemp(prefix="sweep-overhead-")
    names = ("sweep (disk)", "optuna in-memory", "optuna sqlite", "optuna journal")
    kept = {"sweep (disk)": "SQLite, committed at each tell", "optuna in-memory": "none", "optuna sqlite": "SQLite", "optuna journal": "file"}
    n = args.trials
    for prune in (True, False):
        times = {k: [] for k in names}
        for rnd in range(args.rounds):
            d = os.path.join(base, f"round{rnd}-{prune}")
            os.makedirs(d)
            times["sweep (disk)"].append(run_sweep(n, d, rnd, prune))
            times["optuna in-memory"].append(run_optuna(n, None, rnd, prune))
            times["optuna sqlite"].append(run_optuna(max(n // 10, 20), f"sqlite:///{d}/optuna.db", rnd, prune))
            journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(os.path.join(d, "optuna.log")))
            times["optuna journal"].append(run_optuna(max(n // 4, 20), journal, rnd, prune))
            print("round", rnd, "prune" if prune else "no pruning", {k: f"{v[-1] * 1e3:.3f} ms" for k, v in times.items()}, file=sys.stderr)
        ref = statistics.median(times["optuna in-memory"])
        what = "median stopping / MedianPruner" if prune else "no policy / NopPruner"
        print(f"\nper trial (ask + 5 reports + tell), {what}, median of {args.rounds} rounds of {n} trials\n")
        print("| loop | ms per trial | × Optuna in-memory | history |")
        print("|---|---|---|---|")
        for k, v in times.items():
            m = statistics.median(v)
            print(f"| {k} | {m * 1e3:.3f} | {m / ref:.2f} | {kept[k]} |")


if __name__ == "__main__":
    main()
