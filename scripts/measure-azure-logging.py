#!/usr/bin/env python3
"""Measures what reporting one value costs a training script through each way sweep reads
Azure ML scripts, next to an `@sweep` line, in one process: 10,000 values each through
`print("@sweep ...")`, sweep's `azureml.core.Run.log`, `mlflow.log_metric` (MLflow's
client into sweep's `sweep:` store) and the store's `log_batch` alone; then the slowdown of
a 10,000-step loop that logs every step against the same loop with logging off, the
loops interleaved in rounds so that load elsewhere on the machine falls on each alike.

Run it with a Python that has mlflow (the MLflow tests' environment):
  /opt/sweep-mlflow/bin/python scripts/measure-azure-logging.py [STEP_MS]
It sets up a run's environment itself, in a temporary directory, with the files from
src/target/pyshim on its PYTHONPATH, as sweep does for a run.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

N = 10000
HERE = os.path.dirname(os.path.abspath(__file__))


def child(step_ms):
    import mlflow
    from azureml.core import Run
    from mlflow.entities import Metric
    from _sweep_run.mlflow_store import SweepStore

    run = Run.get_context()
    store = SweepStore()
    rid = os.environ["MLFLOW_RUN_ID"]
    mlflow.log_metric("warm", 0)

    def per_value(f):
        t = time.perf_counter()
        for i in range(N):
            f(i)
        return (time.perf_counter() - t) / N

    ways = [
        ("@sweep line", lambda i: print("@sweep " + json.dumps({"metric": "a", "value": i * 1e-4, "step": i}))),
        ("run.log", lambda i: run.log("a", i * 1e-4, step=i)),
        ("mlflow.log_metric", lambda i: mlflow.log_metric("a", i * 1e-4, step=i)),
        ("sweep: store alone", lambda i: store.log_batch(rid, [Metric("a", i * 1e-4, 0, i)], [], [])),
    ]
    cost = {name: per_value(f) for name, f in ways}
    sys.stdout.flush()
    base = cost["@sweep line"]
    for name, c in cost.items():
        sys.stderr.write("%-19s %8.1f us/value  %6.2fx the @sweep line\n" % (name, c * 1e6, c / base))

    # A "training step" of step_ms milliseconds of work, with and without logging. The
    # machine may be shared: the loops run in rounds, every way once per round in turn, so a
    # burst of load elsewhere slows all of them alike, and the totals are compared.
    def loop(log, steps, first):
        work = step_ms / 1000.0
        t = time.perf_counter()
        for i in range(first, first + steps):
            end = time.perf_counter() + work
            while time.perf_counter() < end:
                pass
            if log:
                log(i)
        return time.perf_counter() - t

    rounds = 10
    looped = [("logging off", None)] + ways[:3]
    total = {name: 0.0 for name, _ in looped}
    for r in range(rounds):
        for name, f in looped:
            total[name] += loop(f, N // rounds, r * (N // rounds))
    off = total["logging off"]
    for name, _ in looped[1:]:
        sys.stderr.write(
            "%-19s %d steps of %.1f ms: %+5.1f%% against logging off\n"
            % (name, N, step_ms, (total[name] / off - 1) * 100)
        )


def main():
    step_ms = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ)
        env.update(
            SWEEP_RUN_ID="sw_1_a_0",
            SWEEP_SWEEP_ID="sw_1_a",
            SWEEP_METRICS_FILE=os.path.join(d, "metrics.jsonl"),
            SWEEP_OUTPUT_DIR=os.path.join(d, "outputs"),
            MLFLOW_TRACKING_URI="sweep:run",
            MLFLOW_RUN_ID="sw_1_a_0",
            MLFLOW_EXPERIMENT_ID="sw_1_a",
            MLFLOW_DISABLE_TELEMETRY="true",
            PYTHONPATH=os.path.join(HERE, "..", "src", "target", "pyshim"),
        )
        with open(os.path.join(d, "output.log"), "w") as out:
            subprocess.run([sys.executable, __file__, "--child", str(step_ms)], env=env, stdout=out, check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(float(sys.argv[2]))
    else:
        main()
