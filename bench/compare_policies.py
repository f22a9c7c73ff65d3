#!/usr/bin/env python3
"""Compute saved by early termination: sweep's policies next to Optuna's pruners.

The task is examples/train_digits.py: SGDClassifier trained with partial_fit on
scikit-learn's digits, 30 epochs, validation accuracy reported after every epoch. Each
configuration runs 60 candidates for each seed:

- sweep: `sweep run configs/digits/<policy>.yml -c configs/digits/digits.runconfig --seed S`
  (Bayesian sampling, 2 runs at a time, one workspace per sweep), read back with
  `sweep export SWEEP --format jsonl`. Policies: none, bandit, median, truncation.
- Optuna: TPESampler(seed=S) with no pruner, MedianPruner(), SuccessiveHalvingPruner(),
  HyperbandPruner(min_resource=1, max_resource=30), calling the same `train` function
  in-process, one trial at a time. The search space is read from configs/digits/none.yml.

Per configuration it prints the total epochs trained (mean over seeds, and % saved against
that tool's own run without early termination) and the median and minimum over seeds of the
best final validation accuracy: the highest accuracy at epoch 30 among the runs that trained
all 30 epochs (a run stopped earlier has no final model and does not count).

    python3 bench/compare_policies.py [--seeds 0,1,2,3,4] [--trials 60]
        [--only sweep:none,sweep:bandit,optuna:median,...] [--results FILE] [--report-only]

Results are appended to --results (one JSON object per sweep or study) and a configuration
and seed already there is not run again, so an interrupted run resumes. The sweep runs use
the Python this script runs under (its directory goes first on PATH), which needs
scikit-learn and, for the Optuna side, optuna.
"""

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs", "digits")
SWEEP_POLICIES = ["none", "bandit", "median", "truncation"]
OPTUNA_PRUNERS = ["none", "median", "sha", "hyperband"]
TRAIN_SEED = 0  # the runconfig's --seed: the objective is one fixed function for both tools


def load_train_module():
    spec = importlib.util.spec_from_file_location("train_digits", os.path.join(ROOT, "examples", "train_digits.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_space(path):
    """The parameter space of a digits hdconfig, as (name, expression, values) triples."""
    import yaml  # an Optuna dependency

    with open(path) as f:
        doc = yaml.safe_load(f)
    return [(p["name"].lstrip("-"), p["expression"], p["values"]) for p in doc["sampling"]["parameter_space"]]


def summarize_runs(runs, epochs):
    """The numbers kept per sweep or study, from (epochs trained, last accuracy, decided-at) per run."""
    final = [acc for n, acc, _ in runs if n == epochs and acc is not None and math.isfinite(acc)]
    last = [acc for _, acc, _ in runs if acc is not None and math.isfinite(acc)]
    stopped = [d for _, _, d in runs if d is not None]
    return dict(
        runs=len(runs),
        epochs=sum(n for n, _, _ in runs),
        completed=sum(1 for n, _, _ in runs if n == epochs),
        stopped=len(stopped),
        decided_epochs=sum(stopped),
        best_final=max(final) if final else None,
        best_last=max(last) if last else None,
    )


def run_sweep(sweep_bin, configs, policy, seed, trials, epochs, workdir):
    ws = os.path.join(workdir, f"sweep-{policy}-s{seed}")
    shutil.rmtree(ws, ignore_errors=True)  # left over from an interrupted run: start afresh
    env = dict(os.environ)
    # The runs use this script's Python (sweep runs `python`, else `python3`, from PATH).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    name = f"digits-{policy}-s{seed}"
    cmd = [sweep_bin, "run", os.path.join(configs, f"{policy}.yml"), "-c", os.path.join(CONFIGS, "digits.runconfig"),
           "--seed", str(seed), "--workspace", ws, "--name", name, "--quiet"]
    t = time.time()
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - t
    if res.returncode != 0:
        sys.exit(f"sweep run failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout[-3000:]}")
    out = subprocess.run([sweep_bin, "export", name, "--format", "jsonl", "--workspace", ws],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    runs = []
    reasons = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        pts = sorted(r.get("metrics", {}).get("accuracy", []), key=lambda p: p["interval"])
        acc = _num(pts[-1]["value"]) if pts else None
        reason = r.get("reason") or ""
        decided = None
        if r.get("state") == "canceled" and reason.startswith("policy:"):
            decided = _decided_interval(reason, len(pts))
        reasons[r["state"] + " " + reason.split(" ")[0]] = reasons.get(r["state"] + " " + reason.split(" ")[0], 0) + 1
        runs.append((len(pts), acc, decided))
    if len(runs) != trials:
        sys.exit(f"{name}: expected {trials} runs in the export, got {len(runs)}")
    row = dict(tool="sweep", config=policy, seed=seed, wall_seconds=round(wall, 1), states=reasons)
    row.update(summarize_runs(runs, epochs))
    return row


def _decided_interval(reason, reported):
    """The interval a policy decided at, from a reason like `policy:bandit at interval 4 ...`."""
    words = reason.replace(",", " ").replace(":", " ").split()
    for i, w in enumerate(words[:-1]):
        if w == "interval" and words[i + 1].isdigit():
            return int(words[i + 1])
    return reported


def _num(v):
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    return float(v)


def run_optuna(pruner_name, seed, trials, epochs, space, train_mod):
    import optuna

    pruner = {
        "none": lambda: optuna.pruners.NopPruner(),
        "median": lambda: optuna.pruners.MedianPruner(),
        "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs),
    }[pruner_name]()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    runs = []

    def objective(trial):
        params = {}
        for name, expr, vals in space:
            if expr == "choice":
                params[name] = trial.suggest_categorical(name, vals)
            elif expr == "loguniform":  # sweep's bounds are natural-log exponents
                params[name] = trial.suggest_float(name, math.exp(vals[0]), math.exp(vals[1]), log=True)
            elif expr == "uniform":
                params[name] = trial.suggest_float(name, vals[0], vals[1])
            else:
                raise ValueError(f"expression {expr} is not mapped to Optuna")
        seen = []
        pruned = []

        def on_epoch(epoch, acc):
            seen.append(acc)
            trial.report(acc, epoch)
            if epoch < epochs and trial.should_prune():
                pruned.append(epoch)
                return True
            return False

        train_mod.train(params, epochs, TRAIN_SEED, on_epoch)
        runs.append((len(seen), seen[-1], pruned[0] if pruned else None))
        if pruned:
            raise optuna.TrialPruned()
        return seen[-1]

    t = time.time()
    study.optimize(objective, n_trials=trials)
    row = dict(tool="optuna", config=pruner_name, seed=seed, wall_seconds=round(time.time() - t, 1))
    row.update(summarize_runs(runs, epochs))
    return row


def fmt_acc(v):
    return "–" if v is None else f"{100 * v:.2f}"


def report(rows, seeds, trials, epochs, policies):
    print(f"\n{trials} candidates × {len(seeds)} seeds ({','.join(map(str, seeds))}), {epochs} epochs each;"
          " accuracy in %, best final = best accuracy at epoch 30 among runs that trained all 30 epochs\n")
    header = ["tool", "early termination", "epochs (mean per seed)", "saved", "stopped runs (mean)",
              "best final, median", "best final, min", "Δ median vs own baseline", "seeds"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    order = [("sweep", p) for p in policies] + [("optuna", p) for p in OPTUNA_PRUNERS]
    by = {}
    for r in rows:
        if r["seed"] in seeds:
            by.setdefault((r["tool"], r["config"]), {})[r["seed"]] = r
    for tool, config in order:
        rs = by.get((tool, config))
        if not rs:
            continue
        base = by.get((tool, "none"), {})
        common = [s for s in seeds if s in rs]
        ep = statistics.mean(rs[s]["epochs"] for s in common)
        base_seeds = [s for s in common if s in base]
        saved = ""
        if base_seeds:
            b = sum(base[s]["epochs"] for s in base_seeds)
            saved = f"{100 * (1 - sum(rs[s]['epochs'] for s in base_seeds) / b):.1f}%"
        bests = [rs[s]["best_final"] for s in common if rs[s]["best_final"] is not None]
        med = statistics.median(bests) if bests else None
        delta = ""
        paired = [s for s in base_seeds if rs[s]["best_final"] is not None and base[s]["best_final"] is not None]
        if paired:  # both medians over the same seeds
            bmed = statistics.median(base[s]["best_final"] for s in paired)
            delta = f"{100 * (statistics.median(rs[s]['best_final'] for s in paired) - bmed):+.2f}"
        stopped = statistics.mean(rs[s]["stopped"] for s in common)
        print(f"| {tool} | {config} | {ep:.0f} | {saved} | {stopped:.1f} | {fmt_acc(med)} | "
              f"{fmt_acc(min(bests) if bests else None)} | {delta} | {len(common)} |")
    print("\nper seed (epochs, best final %):")
    for tool, config in order:
        rs = by.get((tool, config))
        if rs:
            cells = [f"s{s} {rs[s]['epochs']} {fmt_acc(rs[s]['best_final'])}" for s in seeds if s in rs]
            print(f"  {tool}:{config}: " + ", ".join(cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--trials", type=int, default=60, help="must match max_total_runs in configs/digits")
    ap.add_argument("--epochs", type=int, default=30, help="must match --epochs in digits.runconfig")
    ap.add_argument("--only", help="comma-separated tool:config, e.g. sweep:median,optuna:sha (default: all)")
    ap.add_argument("--configs", default=CONFIGS,
                    help="folder of the sweep hdconfigs (<policy>.yml; none.yml is the baseline)")
    ap.add_argument("--policies", default=",".join(SWEEP_POLICIES),
                    help="sweep hdconfig names in --configs to run (default: %(default)s)")
    ap.add_argument("--sweep-bin", default=os.path.join(ROOT, "target", "release", "sweep"))
    ap.add_argument("--results", default="policy-bench.jsonl")
    ap.add_argument("--workdir", help="where sweep workspaces go (default: a temporary directory, removed)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    policies = args.policies.split(",")
    for p in policies:
        if not os.path.exists(os.path.join(args.configs, f"{p}.yml")):
            sys.exit(f"no {p}.yml in {args.configs}")
    jobs = [("sweep", p) for p in policies] + [("optuna", p) for p in OPTUNA_PRUNERS]
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {f"{t}:{c}" for t, c in jobs}
        if unknown:
            sys.exit(f"unknown --only entries {sorted(unknown)}; known: {', '.join(f'{t}:{c}' for t, c in jobs)}")
        jobs = [j for j in jobs if f"{j[0]}:{j[1]}" in wanted]

    rows = []
    if os.path.exists(args.results):
        with open(args.results) as f:
            rows = [json.loads(l) for l in f if l.strip()]
    done = {(r["tool"], r["config"], r["seed"]) for r in rows}

    if not args.report_only:
        if any(t == "sweep" for t, _ in jobs) and not os.access(args.sweep_bin, os.X_OK):
            sys.exit(f"no sweep binary at {args.sweep_bin}: run `cargo build --release` first")
        train_mod = load_train_module()
        space = read_space(os.path.join(CONFIGS, "none.yml"))
        if any(t == "optuna" for t, _ in jobs):
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            print(f"optuna {optuna.__version__}", file=sys.stderr)
        tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="policy-bench-")
        workdir = args.workdir or tmp.name
        with open(args.results, "a") as out:
            for seed in seeds:
                for tool, config in jobs:
                    if (tool, config, seed) in done:
                        continue
                    if tool == "sweep":
                        row = run_sweep(args.sweep_bin, args.configs, config, seed, args.trials, args.epochs, workdir)
                    else:
                        row = run_optuna(config, seed, args.trials, args.epochs, space, train_mod)
                    rows.append(row)
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    print(f"{tool}:{config} seed {seed}: {row['epochs']} epochs, best final "
                          f"{fmt_acc(row['best_final'])}, {row['wall_seconds']} s", file=sys.stderr)
        if tmp:
            tmp.cleanup()
    report(rows, seeds, args.trials, args.epochs, policies)


if __name__ == "__main__":
    main()
