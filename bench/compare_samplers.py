#!/usr/bin/env python3
"""Compare sweep's samplers with Optuna's GPSampler and TPESampler on the same problems.

Runs Branin (2-D), Hartmann6 (6-D), Rosenbrock (5-D on [-2, 2]), Levy (6-D on [-10, 10])
and Ackley (10-D on [-32.768, 32.768]) for a number of trials and seeds, one trial at a
time, and prints one table: median and interquartile range of the simple regret (best
found minus the known optimum) per sampler, the ratio of sweep's Bayesian median regret to
Optuna's, and the mean sampler CPU time per run; totals follow in CPU and wall-clock
seconds. CPU time is the fairer comparison on a shared machine: wall-clock time inside
either sampler grows with whatever else is running.

sweep's side comes from `cargo run --release --example compare_samplers -- --json`
(or a file it wrote, with --sweep-json). Optuna runs single-threaded (torch threads = 1)
so that both sides use one core. `--optuna-samplers sweep-optuna` adds sweep's sampler
driven by Optuna through the Python package's adapter (`pip install ./python`), timed the
same way as Optuna's own samplers.

    python3 bench/compare_samplers.py [--trials 100] [--seeds 10]
        [--optuna-json out.jsonl] [--sweep-json in.jsonl] [--problems branin,...]
"""

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import numpy as np


def branin(x):
    x1, x2 = x
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    # Evaluated in the order of benches/common/problems.rs (b * x1 * x1, not b * x1**2), so
    # both sides compute the same bits: the Python package's results are checked against
    # the Rust library's exactly (python/tests/test_equivalence.py).
    return (x2 - b * x1 * x1 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    s = math.sin(math.pi * w[0]) ** 2
    for wi in w[:-1]:
        s += (wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2)
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def ackley(x):
    d = len(x)
    sq = sum(v * v for v in x) / d
    cs = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * math.sqrt(sq)) - math.exp(cs) + 20 + math.e


PROBLEMS = {
    "branin": (branin, [(-5, 10), (0, 15)], 0.397887357729738),
    "hartmann6": (hartmann6, [(0, 1)] * 6, -3.322368011391339),
    "rosenbrock": (rosenbrock, [(-2, 2)] * 5, 0.0),
    "levy": (levy, [(-10, 10)] * 6, 0.0),
    "ackley": (ackley, [(-32.768, 32.768)] * 10, 0.0),
}


def run_optuna(problem, sampler_name, seed, trials):
    import optuna

    f, bounds, optimum = PROBLEMS[problem]
    def sweep_adapter():
        import sweep.optuna

        return sweep.optuna.Sampler(seed=seed)

    sampler = {
        "optuna-gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "optuna-tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        # sweep's Bayesian sampler through the Python package's Optuna adapter.
        "sweep-optuna": sweep_adapter,
    }[sampler_name]()
    study = optuna.create_study(direction="minimize", sampler=sampler)
    objective_time = 0.0
    objective_cpu = 0.0

    def objective(trial):
        nonlocal objective_time, objective_cpu
        x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
        t, c = time.perf_counter(), time.process_time()
        v = f(x)
        objective_time += time.perf_counter() - t
        objective_cpu += time.process_time() - c
        return v

    t, c = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=trials)
    total, total_cpu = time.perf_counter() - t, time.process_time() - c
    # Everything but the objective itself: sampling plus Optuna's bookkeeping.
    return max(study.best_value - optimum, 0.0), total - objective_time, total_cpu - objective_cpu


def summarize(rows):
    table = {}
    for r in rows:
        table.setdefault((r["problem"], r["sampler"]), []).append(r)
    return table


def stats(rs):
    v = np.array(sorted(r["regret"] for r in rs))
    t = statistics.mean(r.get("sampler_cpu_seconds", r["sampler_seconds"]) for r in rs)
    return float(np.median(v)), float(np.percentile(v, 25)), float(np.percentile(v, 75)), t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument(
        "--optuna-samplers",
        default="optuna-gp,optuna-tpe",
        help="optuna-gp (needs torch), optuna-tpe, sweep-optuna (the Python package's adapter)",
    )
    ap.add_argument("--optuna-json", help="read Optuna results from this JSON-lines file if it exists, else write them there")
    ap.add_argument("--sweep-json", help="read sweep's results from this JSON-lines file instead of running cargo")
    args = ap.parse_args()
    problems = args.problems.split(",")

    rows = []
    if args.optuna_json and _exists(args.optuna_json):
        rows += _read(args.optuna_json)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if "optuna-gp" in args.optuna_samplers.split(","):
            import torch

            torch.set_num_threads(1)
            print(f"optuna {optuna.__version__}, torch {torch.__version__}", file=sys.stderr)
        else:
            print(f"optuna {optuna.__version__}", file=sys.stderr)
        out = open(args.optuna_json, "w") if args.optuna_json else None
        for p in problems:
            for s in args.optuna_samplers.split(","):
                for seed in range(args.seeds):
                    regret, secs, cpu = run_optuna(p, s, seed, args.trials)
                    row = dict(
                        problem=p,
                        sampler=s,
                        seed=seed,
                        trials=args.trials,
                        regret=regret,
                        sampler_seconds=secs,
                        sampler_cpu_seconds=cpu,
                    )
                    rows.append(row)
                    if out:
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                    print(f"{p} {s} seed {seed}: regret {regret:.4g}, {secs:.1f} s wall, {cpu:.1f} s cpu", file=sys.stderr)

    if args.sweep_json:
        rows += _read(args.sweep_json)
    else:
        cmd = ["cargo", "run", "--release", "--quiet", "--example", "compare_samplers", "--",
               "--json", "--trials", str(args.trials), "--seeds", str(args.seeds), "--problems", args.problems]
        res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        rows += [json.loads(l) for l in res.stdout.splitlines() if l.strip()]

    table = summarize(rows)
    samplers = []
    for r in rows:
        if r["sampler"] not in samplers:
            samplers.append(r["sampler"])
    print(f"\nmedian simple regret [q25, q75] over {args.seeds} seeds, {args.trials} trials; "
          "mean sampler CPU seconds per run in parentheses\n")
    header = ["problem"] + samplers + ["bayes/gp", "bayes/tpe", "batch4/bayes", "adapter/gp", "adapter/tpe"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for p in problems:
        cells = [p]
        med = {}
        for s in samplers:
            rs = table.get((p, s))
            if not rs:
                cells.append("")
                continue
            m, q1, q3, t = stats(rs)
            med[s] = m
            cells.append(f"{m:.3g} [{q1:.3g}, {q3:.3g}] ({t:.2f} s)")

        def ratio(a, b):
            if a in med and b in med and med[b] > 0:
                return f"{med[a] / med[b]:.3g}"
            return ""

        cells += [
            ratio("bayes", "optuna-gp"),
            ratio("bayes", "optuna-tpe"),
            ratio("bayes-batch4", "bayes"),
            ratio("sweep-optuna", "optuna-gp"),
            ratio("sweep-optuna", "optuna-tpe"),
        ]
        print("| " + " | ".join(cells) + " |")
    for key, label in (("sampler_cpu_seconds", "CPU"), ("sampler_seconds", "wall-clock")):
        tot = {s: sum(r.get(key, float("nan")) for r in rows if r["sampler"] == s) for s in samplers}
        print(f"\ntotal sampler {label} seconds: " + ", ".join(f"{s} {t:.1f}" for s, t in tot.items()))
        if tot.get("bayes") and tot.get("optuna-gp"):
            print(f"optuna-gp / bayes sampler {label} time: {tot['optuna-gp'] / tot['bayes']:.1f}x")
        for other in ("optuna-gp", "optuna-tpe"):
            if tot.get("sweep-optuna") and tot.get(other):
                print(f"{other} / sweep-optuna sampler {label} time: {tot[other] / tot['sweep-optuna']:.2f}x")


def _exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def _read(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


if __name__ == "__main__":
    main()
