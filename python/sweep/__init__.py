"""sweep: hyperparameter sweeps with sweep's samplers, policies and history, from Python.

- Studies in-process: :func:`create_study` (defined in code or from a HyperDrive / Azure ML
  v2 config), ``study.ask()`` / ``trial.report()`` / ``study.tell()``, or
  ``study.optimize(objective)``; :func:`load_sweep` reads any sweep of a workspace. The
  history is the ``sweep`` command's: ``sweep status``, ``sweep runs`` and ``sweep best``
  show these studies.
- The reporting client for scripts that ``sweep run`` launches: :func:`report`,
  :func:`should_stop`, :func:`params` (plain Python; it needs no compiled extension).
- An Optuna sampler: ``optuna.create_study(sampler=sweep.optuna.Sampler())``.

The study API loads the compiled extension on first use, so ``import sweep`` works
wherever this package's Python files are, even without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweep.client import in_sweep, params, report, should_stop
from sweep.errors import (
    BusyError,
    ConfigError,
    InvalidStudyError,
    MismatchError,
    ParamError,
    Problem,
    StoreError,
    SweepError,
    SweepNotFoundError,
    TrialPruned,
    WaitError,
)
from sweep.space import (
    BanditPolicy,
    Expression,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    TruncationSelectionPolicy,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)

if TYPE_CHECKING:  # pragma: no cover
    from sweep.study import (
        BestTrial,
        FrozenTrial,
        StopReason,
        Study,
        SweepHistory,
        SweepInfo,
        Trial,
        create_study,
        list_sweeps,
        load_sweep,
    )

__version__ = "0.1.0"

_STUDY_NAMES = {
    "BestTrial",
    "FrozenTrial",
    "StopReason",
    "Study",
    "SweepHistory",
    "SweepInfo",
    "Trial",
    "create_study",
    "list_sweeps",
    "load_sweep",
}


def __getattr__(name: str) -> Any:
    # The study API needs the compiled extension; load it on first use only.
    if name in _STUDY_NAMES:
        from sweep import study

        return getattr(study, name)
    if name == "optuna":
        import importlib

        return importlib.import_module("sweep.optuna")
    raise AttributeError(f"module 'sweep' has no attribute {name!r}")


__all__ = sorted(
    _STUDY_NAMES
    | {
        "BanditPolicy",
        "BusyError",
        "ConfigError",
        "Expression",
        "InvalidStudyError",
        "MedianStoppingPolicy",
        "MismatchError",
        "NoTerminationPolicy",
        "ParamError",
        "Problem",
        "StoreError",
        "SweepError",
        "SweepNotFoundError",
        "TrialPruned",
        "TruncationSelectionPolicy",
        "WaitError",
        "choice",
        "in_sweep",
        "lognormal",
        "loguniform",
        "normal",
        "params",
        "qlognormal",
        "qloguniform",
        "qnormal",
        "quniform",
        "randint",
        "report",
        "should_stop",
        "uniform",
    }
)
