"""What sweep puts on a run's PYTHONPATH to read the metrics of unchanged Azure ML scripts.

``azureml.core.Run`` (when azureml-core is not installed) and the ``sweep:`` MLflow tracking
store both write through :func:`write`: metric-protocol lines appended to the run's metrics
file (``$SWEEP_METRICS_FILE``), which every compute target already reads, from a local
disk, an SSH host or a cluster's shared filesystem. Standard library only.

The lines (docs/metrics.md):

- ``{"metric": NAME, "value": NUMBER, "step": INT}``: a report of this run;
- ``{"param": NAME, "value": TEXT}`` and ``{"tag": NAME, "value": TEXT}``: a parameter or a
  tag the script recorded for this run;
- ``{"other_run": ID, "metric": NAME, "value": NUMBER, "step": INT}``: a value the script
  logged to another run (an MLflow run it created, a child run); not a report, kept so that
  sweep can say where the metric went.

A write never raises and never waits on anything but the local write: a metrics file that
cannot be written is said once on standard error, and the script goes on.
"""

import json
import os
import sys
import threading

__all__ = ["write", "number", "metric_record", "in_sweep", "run_id"]

_lock = threading.Lock()
_fd = None
# (pid, path): a forked child or a changed path opens the file again.
_owner = None
_warned = False


def in_sweep():
    """Whether this process is a run of a sweep (``$SWEEP_METRICS_FILE`` is set)."""
    return bool(os.environ.get("SWEEP_METRICS_FILE"))


def run_id():
    """The sweep run's id (``$SWEEP_RUN_ID``), or ``None`` outside a sweep."""
    return os.environ.get("SWEEP_RUN_ID") or None


def _warn(text):
    global _warned
    if not _warned:
        _warned = True
        try:
            sys.stderr.write("sweep: %s\n" % text)
            sys.stderr.flush()
        except Exception:
            pass


def number(value):
    """``value`` as a float when it is a number (an int, a float, a numpy scalar, anything
    with ``__float__`` that is not text or a bool), else ``None``."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    # numpy's bool_ converts to float; it is a flag, not a metric.
    if type(value).__name__ == "bool_":
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def step_of(step):
    """A step as the protocol wants it: a non-negative integer, or ``None``."""
    if step is None or isinstance(step, bool):
        return None
    try:
        s = int(step)
    except (TypeError, ValueError, OverflowError):
        return None
    if s != step or s < 0:
        return None
    return s


def metric_record(name, value, step=None, other_run=None):
    """The metrics-file line of ``name`` = ``value`` (a float), with ``step`` when it is one:
    a report of this run, or with ``other_run`` a value logged to that run instead."""
    rec = {} if other_run is None else {"other_run": other_run}
    rec["metric"] = name
    rec["value"] = value
    s = step_of(step)
    if s is not None:
        rec["step"] = s
    return rec


# One encoder for every line (json.dumps with options builds a new one per call). It writes
# NaN and infinities bare, which the protocol reads.
_dumps = json.JSONEncoder(allow_nan=True, separators=(",", ":"), ensure_ascii=False).encode


def write(records):
    """Appends ``records`` (dicts) to the metrics file as one write of whole lines."""
    global _fd, _owner
    if not records:
        return
    path = os.environ.get("SWEEP_METRICS_FILE")
    if not path:
        _warn(
            "metrics are not recorded: $SWEEP_METRICS_FILE is not set (run the script with `sweep run`)"
        )
        return
    data = "".join(_dumps(r) + "\n" for r in records).encode("utf-8", "replace")
    with _lock:
        try:
            owner = (os.getpid(), path)
            if _fd is None or _owner != owner:
                _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                _owner = owner
            view = memoryview(data)
            while view:
                n = os.write(_fd, view)
                view = view[n:]
        except OSError as e:
            _warn("cannot write the metrics file %s: %s; metrics are not recorded" % (path, e))
