"""The reporting client for scripts that ``sweep run`` launches.

A run reports metrics by appending JSON lines to ``$SWEEP_METRICS_FILE`` and learns that
sweep wants it to stop when ``$SWEEP_STOP_FILE`` exists (the early-termination policy
decided, or the sweep is ending; SIGTERM follows after the file, so a script that wants to
save a checkpoint first checks between epochs)::

    import sweep

    for epoch in range(1, 31):
        accuracy = train_one_epoch()
        sweep.report("accuracy", accuracy, step=epoch)
        if sweep.should_stop():
            break

Outside a sweep (no ``$SWEEP_METRICS_FILE``) every call is a no-op and the first one warns
once, so the same script runs by hand. This module is standard-library Python only and
never loads the compiled extension: it works in a run's own environment, even one where
only this file is on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from typing import Any, Dict, Optional

__all__ = ["report", "should_stop", "params", "in_sweep"]

_lock = threading.Lock()
_fd: Optional[int] = None
_fd_owner: Optional[tuple] = None  # (pid, path): reopen after a fork or a changed path
_warned = False


def in_sweep() -> bool:
    """Whether this process is a run of a sweep (``$SWEEP_METRICS_FILE`` is set)."""
    return bool(os.environ.get("SWEEP_METRICS_FILE"))


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            "sweep.report() and sweep.should_stop() do nothing outside a sweep: "
            "$SWEEP_METRICS_FILE is not set (run the script with `sweep run`)",
            RuntimeWarning,
            stacklevel=3,
        )


def report(name: str, value: float, step: Optional[int] = None) -> None:
    """Reports a value of metric ``name`` (each report of the primary metric is one
    interval for the early-termination policy); ``step`` is an optional non-negative
    integer, such as the epoch. Thread-safe; each report is one ``write`` of a whole line
    with ``O_APPEND``, so several processes of one run may report to the same file."""
    global _fd, _fd_owner
    path = os.environ.get("SWEEP_METRICS_FILE")
    if not path:
        _warn_once()
        return
    if not isinstance(name, str) or not name:
        raise ValueError(f"the metric name must be a non-empty string, got {name!r}")
    v = float(value)
    # json.dumps writes NaN and infinities as bare tokens, which sweep's protocol accepts.
    rec: Dict[str, Any] = {"metric": name, "value": v}
    if step is not None:
        if isinstance(step, bool) or int(step) != step or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        rec["step"] = int(step)
    line = (json.dumps(rec, allow_nan=True) + "\n").encode()
    with _lock:
        owner = (os.getpid(), path)
        if _fd is None or _fd_owner != owner:
            _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            _fd_owner = owner
        os.write(_fd, line)


def should_stop() -> bool:
    """Whether sweep asked this run to stop (``$SWEEP_STOP_FILE`` exists). ``False``
    outside a sweep."""
    path = os.environ.get("SWEEP_STOP_FILE")
    if not path:
        _warn_once()
        return False
    return os.path.exists(path)


def params() -> Dict[str, Any]:
    """This run's parameters (``$SWEEP_PARAMS``), names as the config writes them; an empty
    dict outside a sweep. The same values arrive as command-line arguments."""
    raw = os.environ.get("SWEEP_PARAMS")
    if not raw:
        return {}
    out = json.loads(raw)
    return out if isinstance(out, dict) else {}
