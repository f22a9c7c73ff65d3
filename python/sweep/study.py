"""Studies: sweep's samplers, policies and history inside a Python program.

A :class:`Study` is one sweep in a workspace (default ``$SWEEP_WORKSPACE``, else
``./.sweep``), the same history the ``sweep`` command reads: ``sweep status``, ``sweep runs``
and ``sweep best`` show it while it runs and after. Make one with :func:`create_study`
(defined in code, or from a config file), then either ask/tell it yourself or hand
:meth:`Study.optimize` an objective. :func:`load_sweep` reads any sweep of a workspace,
including those the command line ran.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

try:
    from sweep import _sweep
except ImportError as e:  # only this package's plain-Python files are there
    raise ImportError(
        "sweep's study API needs the compiled extension sweep._sweep, which is not installed "
        "here; install the package (`pip install ./python` from a sweep checkout builds it). "
        "sweep.report() and sweep.should_stop() work without it."
    ) from e
from sweep.errors import TrialPruned, WaitError
from sweep.space import Expression, Policy, Scalar, flatten

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "Study",
    "Trial",
    "StopReason",
    "BestTrial",
    "FrozenTrial",
    "SweepInfo",
    "SweepHistory",
    "create_study",
    "load_sweep",
    "list_sweeps",
]

Trial = _sweep.Trial
"""A trial handed out by :meth:`Study.ask` (see ``sweep/_sweep.pyi``)."""
StopReason = _sweep.StopReason
"""Why a trial should stop, with the policy's numbers (see ``sweep/_sweep.pyi``)."""

PathLike = Union[str, "os.PathLike[str]"]
Seconds = Union[float, int, datetime.timedelta]
Objective = Callable[[Any], Optional[float]]

_log = logging.getLogger("sweep")


def _workspace(workspace: Optional[PathLike]) -> str:
    if workspace is not None:
        return os.fspath(workspace)
    return os.environ.get("SWEEP_WORKSPACE") or ".sweep"


def _seconds(name: str, v: Optional[Seconds]) -> Optional[float]:
    if v is None:
        return None
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} takes seconds (a number) or a datetime.timedelta, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class BestTrial:
    """The best trial so far: the best finite value of the primary metric among trials
    that did not fail (pruned ones count), ties to the earlier trial, as ``sweep best``."""

    number: int
    id: str
    value: float
    params: Dict[str, Scalar]


@dataclass(frozen=True)
class FrozenTrial:
    """A trial (a run) as the history records it."""

    number: int
    """Proposal order within the sweep (the run's ``seq``)."""
    id: str
    """The run id."""
    state: str
    """``running``, ``completed``, ``canceled`` (pruned, stopped by the policy or a limit),
    ``failed``; CLI runs may also be ``queued`` or ``starting``."""
    reason: Optional[str]
    """Why it ended: ``completed``, ``pruned``, ``policy:bandit``, a failure's text (an
    objective's exception with its traceback), ``lost: ...``."""
    value: Optional[float]
    """Its best finite value of the primary metric, if any."""
    params: Dict[str, Scalar]
    """Its parameters, names as the space writes them."""
    intermediate_values: Dict[int, float]
    """Reports of the primary metric by interval (1-based report count)."""
    metrics: Dict[str, List[Tuple[int, Optional[int], float]]]
    """Every metric's reports as ``(interval, step, value)``, by name."""
    argv: List[str]
    """The command line the trial stands for (what ``sweep best`` prints to reproduce it)."""
    started: Optional[float]
    """When it started, Unix seconds."""
    ended: Optional[float]
    """When it ended, Unix seconds."""
    exit_code: Optional[int] = None
    """A CLI run's exit code."""
    detail: Optional[Dict[str, Any]] = None
    """The policy's numbers for a run it stopped, as ``sweep runs --format json`` shows."""

    @property
    def duration(self) -> Optional[float]:
        """Seconds from start to end, if both are known."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass(frozen=True)
class SweepInfo:
    """A sweep of a workspace, as ``sweep status`` lists it."""

    id: str
    name: str
    state: str
    reason: Optional[str]
    metric: str
    goal: str
    sampling: Optional[str]
    policy: Optional[str]
    seed: Optional[int]
    target: Optional[str]
    """``in-process`` for a study run by a program, else the CLI's compute target."""
    created: float
    ended: Optional[float]
    max_total_runs: Optional[int]


def _info(d: Mapping[str, Any]) -> SweepInfo:
    return SweepInfo(
        id=d["id"],
        name=d["name"],
        state=d["state"],
        reason=d["reason"],
        metric=d["metric"],
        goal=d["goal"],
        sampling=d["sampling"],
        policy=d["policy"],
        seed=d["seed"],
        target=d["target"],
        created=d["created"],
        ended=d["ended"],
        max_total_runs=d["max_total_runs"],
    )


def _frozen(t: Mapping[str, Any], metric: str) -> FrozenTrial:
    metrics = {name: [tuple(r) for r in rows] for name, rows in t["metrics"].items()}
    return FrozenTrial(
        number=t["number"],
        id=t["id"],
        state=t["state"],
        reason=t["reason"],
        value=t["value"],
        params=dict(t["params"]),
        intermediate_values={i: v for (i, _s, v) in metrics.get(metric, [])},
        metrics=metrics,  # type: ignore[arg-type]
        argv=list(t["argv"]),
        started=t["started"],
        ended=t["ended"],
        exit_code=t["exit_code"],
        detail=t["detail"],
    )


def _dataframe(trials: Sequence[FrozenTrial]) -> "pandas.DataFrame":
    try:
        import pandas as pd
    except ImportError as e:  # pragma: no cover - exercised without pandas
        raise ImportError("trials_dataframe() needs pandas: pip install pandas") from e
    names: List[str] = []
    for t in trials:
        for n in t.params:
            if n not in names:
                names.append(n)
    rows = []
    for t in trials:
        row: Dict[str, Any] = {
            "number": t.number,
            "id": t.id,
            "state": t.state,
            "reason": t.reason,
            "value": t.value,
            "intervals": len(t.intermediate_values),
            "started": pd.to_datetime(t.started, unit="s") if t.started is not None else pd.NaT,
            "ended": pd.to_datetime(t.ended, unit="s") if t.ended is not None else pd.NaT,
        }
        for n in names:
            row[f"params_{n}"] = t.params.get(n)
        rows.append(row)
    columns = ["number", "id", "state", "reason", "value", "intervals", "started", "ended"]
    return pd.DataFrame(rows, columns=columns + [f"params_{n}" for n in names])


@dataclass(frozen=True)
class SweepHistory:
    """A sweep and its trials as recorded, whoever ran it (see :func:`load_sweep`)."""

    info: SweepInfo
    trials: List[FrozenTrial] = field(default_factory=list)

    @property
    def best(self) -> Optional[FrozenTrial]:
        """The best trial as ``sweep best`` picks it: the best finite value among trials that
        did not fail, ties to the earlier one."""
        best: Optional[FrozenTrial] = None
        for t in self.trials:
            if t.state == "failed" or t.value is None:
                continue
            if best is None or (t.value > best.value if self.info.goal == "maximize" else t.value < best.value):  # type: ignore[operator]
                best = t
        return best

    def trials_dataframe(self) -> "pandas.DataFrame":
        """The trials as a pandas ``DataFrame`` (one row per trial, a ``params_<name>``
        column per parameter); needs pandas, which sweep does not depend on."""
        return _dataframe(self.trials)


def load_sweep(key: str = "latest", workspace: Optional[PathLike] = None) -> SweepHistory:
    """Reads sweep ``key`` (an id, a name or ``latest``) of a workspace: a study of this or
    another program, or a sweep the ``sweep`` command ran. Raises
    :class:`~sweep.errors.SweepNotFoundError` if there is no such sweep."""
    d = _sweep.read_sweep(_workspace(workspace), key)
    return SweepHistory(info=_info(d), trials=[_frozen(t, d["metric"]) for t in d["trials"]])


def list_sweeps(workspace: Optional[PathLike] = None) -> List[SweepInfo]:
    """The sweeps of a workspace, newest first, as ``sweep status`` lists them."""
    return [_info(d) for d in _sweep.list_sweeps(_workspace(workspace))]


_STATES = {"completed": "completed", "complete": "completed", "pruned": "pruned", "failed": "failed", "fail": "failed"}


def _state(state: Any) -> str:
    # Strings, or Optuna's TrialState members (COMPLETE, PRUNED, FAIL).
    s = getattr(state, "name", state)
    key = str(s).lower()
    if key not in _STATES:
        raise ValueError(f'state must be "completed", "pruned" or "failed", got {state!r}')
    return _STATES[key]


def _pruned_types() -> Tuple[Type[BaseException], ...]:
    """TrialPruned, and Optuna's if Optuna is loaded (so Optuna objectives work as they are)."""
    import sys

    types: List[Type[BaseException]] = [TrialPruned]
    optuna_exceptions = sys.modules.get("optuna.exceptions")
    if optuna_exceptions is not None:
        types.append(optuna_exceptions.TrialPruned)
    return tuple(types)


class Study:
    """One sweep driven from Python: ask for trials, report intermediate values (each answer
    says whether the policy wants the trial stopped), tell outcomes, or :meth:`optimize` an
    objective. Thread-safe. Made by :func:`create_study`.

    Every trial is a run of the sweep in the workspace's history: its parameters when asked,
    every report, and how it ended. :meth:`tell` returns once the outcome is committed, so a
    program killed at any moment loses nothing it was told; reopening the sweep
    (``create_study(..., load_if_exists=True)``) marks the trials it was running as failed
    (``lost``) and continues the sampler where it left off.
    """

    __slots__ = ("_native", "_metric", "_goal", "_id", "_name", "_workspace", "__weakref__")

    def __init__(self, native: "_sweep.Study") -> None:
        self._native = native
        d = native.definition()
        self._metric: str = d["metric"]
        self._goal: str = d["goal"]
        self._id: str = native.id
        self._name: str = native.name
        self._workspace: str = native.workspace

    def __repr__(self) -> str:
        return f"Study(id={self.id!r}, name={self.name!r}, workspace={self.workspace!r})"

    # -- identity ---------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The sweep id, as ``sweep status`` lists it."""
        return self._id

    @property
    def name(self) -> str:
        """The sweep's name (``sweep runs NAME`` finds it)."""
        return self._name

    @property
    def workspace(self) -> str:
        """The workspace directory holding the history."""
        return self._workspace

    @property
    def seed(self) -> int:
        """The sampling seed (recorded with the sweep; a reopened study keeps it)."""
        return self._native.seed

    @property
    def metric(self) -> str:
        """The primary metric's name."""
        return self._metric

    @property
    def goal(self) -> str:
        """``"maximize"`` or ``"minimize"``."""
        return self._goal

    @property
    def direction(self) -> str:
        """Optuna's name for :attr:`goal`."""
        return self._goal

    def definition(self) -> Dict[str, Any]:
        """The validated definition: metric, goal, sampling, policy, limits and each
        parameter's domain."""
        return self._native.definition()

    # -- ask / tell -------------------------------------------------------------------

    def ask(self) -> Optional["_sweep.Trial"]:
        """The next trial, or ``None`` once the study is done: ``max_total_runs`` trials
        asked, the space exhausted (a finished grid), ``max_duration`` passed, or
        :meth:`stop` called. A Bayesian proposal runs here, without the GIL. Raises
        :class:`~sweep.errors.WaitError` when the sampler needs a pending trial's result
        first."""
        return self._native.ask()

    def tell(
        self,
        trial: "_sweep.Trial",
        value: Optional[float] = None,
        *,
        state: Any = None,
        reason: Optional[str] = None,
    ) -> None:
        """Finishes ``trial`` and returns once that is committed to the history.

        - ``tell(trial, 0.93)``: completed, ``0.93`` recorded as one more report of the
          primary metric; the trial's value is its best report.
        - ``tell(trial)``: completed at its best report.
        - ``tell(trial, state="pruned")``: canceled (reason ``pruned``) at its best report.
        - ``tell(trial, state="failed", reason="diverged")``: failed; never the best, and
          the sampler sees a failure.

        A trial the policy (or a limit) told to stop ends ``canceled`` with that reason
        whatever it is told. Optuna's ``TrialState`` members are accepted for ``state``.
        """
        st = "completed" if state is None else _state(state)
        v = None if value is None else float(value)
        if st != "failed" and reason is not None:
            raise ValueError("reason is only for state=\"failed\"")
        self._native.tell(trial, st, v, reason)

    def stop(self, reason: str = "stopped") -> None:
        """Stops asking trials; live trials are told to stop by their next report, and the
        sweep ends ``canceled`` with ``reason`` once they are told."""
        self._native.stop(reason)

    def flush(self) -> None:
        """Waits until every report so far is committed (``tell`` already waits)."""
        self._native.flush()

    def close(self) -> None:
        """Flushes and lets go of the sweep (its lock is released once no trial of it is
        alive either), so another process or handle can open it."""
        self._native.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- results ----------------------------------------------------------------------

    @property
    def best(self) -> Optional[BestTrial]:
        """The best trial so far, or ``None``."""
        b = self._native.best()
        return None if b is None else BestTrial(b["number"], b["id"], b["value"], b["params"])

    @property
    def best_value(self) -> Optional[float]:
        """The best trial's value, or ``None``."""
        b = self.best
        return None if b is None else b.value

    @property
    def best_params(self) -> Optional[Dict[str, Scalar]]:
        """The best trial's parameters, or ``None``."""
        b = self.best
        return None if b is None else b.params

    def summary(self) -> Dict[str, Any]:
        """Counts by state (``trials``, ``completed``, ``failed``, ``canceled``,
        ``running``), ``state`` and ``reason`` once the sweep ended, ``best_value``."""
        return self._native.summary()

    def history(self) -> SweepHistory:
        """The sweep as recorded (flushed first): every trial with its reports."""
        self._native.flush()
        return load_sweep(self.id, self.workspace)

    @property
    def trials(self) -> List[FrozenTrial]:
        """Every trial as recorded, in proposal order (see :meth:`history`)."""
        return self.history().trials

    def trials_dataframe(self) -> "pandas.DataFrame":
        """The trials as a pandas ``DataFrame``; needs pandas, which sweep does not depend
        on."""
        return self.history().trials_dataframe()

    # -- optimize ---------------------------------------------------------------------

    def optimize(
        self,
        objective: Objective,
        n_trials: Optional[int] = None,
        timeout: Optional[Seconds] = None,
        n_jobs: int = 1,
        catch: Union[Type[Exception], Iterable[Type[Exception]]] = (),
        callbacks: Optional[Sequence[Callable[["Study", "_sweep.Trial"], None]]] = None,
    ) -> None:
        """Runs ``objective(trial)`` for trial after trial until the study is done,
        ``n_trials`` trials were run by this call, or ``timeout`` seconds passed (running
        trials finish).

        The objective returns the trial's final value (a number), or ``None`` to end it
        at its best report; it reports intermediate values with ``trial.report(value,
        step)`` and raises :class:`~sweep.errors.TrialPruned` (or ``optuna.TrialPruned``)
        when a report answers ``True``. An exception in the objective is recorded as a
        failed trial with its traceback as the reason; if it is one of ``catch`` the
        study goes on, else it is raised once the other trials are told. With ``n_jobs >
        1`` (``-1``: one per CPU) trials run on that many threads, which sweep's proposals,
        reports and commits do not hold up (they release the GIL).

        ``KeyboardInterrupt`` (Ctrl-C) stops the study cleanly: running trials are told to
        stop (their next report answers ``True``) and end ``canceled``, the history is
        committed, and the interrupt is raised again. Reopening the sweep continues it.
        ``callbacks`` are called as ``callback(study, trial)`` after each trial is told.
        """
        if n_trials is not None and n_trials < 0:
            raise ValueError(f"n_trials must be non-negative, got {n_trials}")
        if n_jobs == -1:
            n_jobs = os.cpu_count() or 1
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be at least 1 (or -1), got {n_jobs}")
        catching: Tuple[Type[BaseException], ...] = (catch,) if isinstance(catch, type) else tuple(catch)
        limit = _seconds("timeout", timeout)
        run = _Run(self, objective, n_trials, None if limit is None else time.monotonic() + limit, catching, callbacks or ())
        if n_jobs == 1:
            try:
                run.worker()
            finally:
                self._native.flush()
        else:
            run.alive = n_jobs
            for i in range(n_jobs):
                threading.Thread(target=run.thread, name=f"sweep-optimize-{i}", daemon=True).start()
            try:
                run.wait()
            except KeyboardInterrupt:
                # Tell live trials to stop and wait for them to be told; a second Ctrl-C
                # leaves them (reopening the sweep records them lost).
                run.interrupt()
                run.wait()
                raise
            finally:
                self._native.flush()
        if run.error is not None:
            raise run.error


class _Run:
    """One ``optimize`` call: the trial budget shared by its threads and the first error."""

    def __init__(
        self,
        study: Study,
        objective: Objective,
        n_trials: Optional[int],
        deadline: Optional[float],
        catch: Tuple[Type[BaseException], ...],
        callbacks: Sequence[Callable[[Study, Any], None]],
    ) -> None:
        self.study = study
        self.native = study._native
        self.objective = objective
        self.left = n_trials
        self.deadline = deadline
        self.catch = catch
        self.callbacks = callbacks
        self.pruned = _pruned_types()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error: Optional[BaseException] = None
        # Worker threads still running, and an event set when none is. Not Thread.join:
        # before Python 3.13 a join interrupted by Ctrl-C can leave a live thread looking
        # finished, and the study would end with its trial untold.
        self.alive = 0
        self.all_finished = threading.Event()

    def thread(self) -> None:
        try:
            self.worker()
        finally:
            with self.lock:
                self.alive -= 1
                if self.alive == 0:
                    self.all_finished.set()

    def wait(self) -> None:
        while not self.all_finished.wait(0.2):
            pass

    def interrupt(self) -> None:
        self.done.set()
        self.native.stop("interrupted (KeyboardInterrupt)")

    def _take(self) -> bool:
        with self.lock:
            if self.done.is_set():
                return False
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return False
            if self.left is not None:
                if self.left <= 0:
                    return False
                self.left -= 1
            return True

    def _give_back(self) -> None:
        with self.lock:
            if self.left is not None:
                self.left += 1

    def worker(self) -> None:
        while self._take():
            try:
                trial = self.native.ask()
            except WaitError:
                # Other threads' trials are pending; their results come first.
                self._give_back()
                time.sleep(0.005)
                continue
            if trial is None:
                self.done.set()
                return
            self._run_one(trial)

    def _run_one(self, trial: Any) -> None:
        try:
            try:
                result = self.objective(trial)
            except self.pruned:
                self.native.tell(trial, "pruned", None, None)
            except (KeyboardInterrupt, SystemExit) as e:
                self.interrupt()
                self.native.tell(trial, "failed", None, f"interrupted ({type(e).__name__})")
                raise
            except Exception as e:
                self.native.tell(trial, "failed", None, _failure(e))
                if isinstance(e, self.catch):
                    _log.warning("trial %d failed: %s: %s", trial.number, type(e).__name__, e)
                else:
                    with self.lock:
                        if self.error is None:
                            self.error = e
                    self.done.set()
            else:
                self._finish(trial, result)
        finally:
            if not trial.is_told:  # an interrupt between ask and the objective
                self.native.tell(trial, "failed", None, "interrupted")
        for cb in self.callbacks:
            cb(self.study, trial)

    def _finish(self, trial: Any, result: Any) -> None:
        if result is None:
            self.native.tell(trial, "completed", None, None)
            return
        try:
            if isinstance(result, bool):
                raise TypeError
            value = float(result)
        except (TypeError, ValueError):
            self.native.tell(
                trial, "failed", None, f"the objective returned {result!r}, not a number (or None)"
            )
            return
        self.native.tell(trial, "completed", value, None)


def _failure(e: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return f"{type(e).__name__}: {e}\n{tb}".rstrip()


def create_study(
    *,
    space: Optional[Mapping[str, Expression]] = None,
    metric: Optional[str] = None,
    goal: Optional[str] = None,
    sampling: Optional[str] = None,
    seed: Optional[int] = None,
    policy: Optional[Policy] = None,
    max_total_runs: Optional[int] = None,
    max_concurrent_runs: Optional[int] = None,
    max_duration: Optional[Seconds] = None,
    max_run_duration: Optional[Seconds] = None,
    name: Optional[str] = None,
    workspace: Optional[PathLike] = None,
    experiment: Optional[str] = None,
    program: Optional[Sequence[str]] = None,
    config: Optional[PathLike] = None,
    runconfig: Optional[PathLike] = None,
    load_if_exists: bool = False,
    resume: Optional[str] = None,
) -> Study:
    """Creates a study (a new sweep in the workspace), or continues one.

    Defined in code: ``space`` maps names to expressions (:func:`sweep.uniform`,
    :func:`sweep.choice`, ... all ten, conditional choices included); ``metric`` (default
    ``"value"``) and ``goal`` (``"minimize"``, the default, or ``"maximize"``);
    ``sampling`` (``"random"``, the default, ``"sobol"``, ``"grid"``, ``"bayesian"``) and
    its ``seed`` (default: drawn, then recorded); an early-termination ``policy``; limits:
    ``max_total_runs`` (required except for grid sampling), ``max_concurrent_runs`` (the
    threads :meth:`Study.optimize` may use at most is yours to pick; this is recorded),
    ``max_duration`` (seconds or a ``timedelta``, for the whole study) and
    ``max_run_duration``. ``program`` is the command line trials stand for (``sweep best``
    prints it with the best parameters).

    From a config: ``config`` is an ``hdconfig.yml`` or an Azure ML v2 sweep job (with an
    optional ``runconfig``), loaded exactly as ``sweep run`` loads it; the other arguments
    override it. A bad config raises :class:`~sweep.errors.ConfigError` with every problem
    located; a bad definition :class:`~sweep.errors.InvalidStudyError`.

    Continuing: ``load_if_exists=True`` continues the sweep of this ``name`` if the
    workspace has one (else creates it), ``resume="KEY"`` continues sweep ``KEY`` (id, name
    or ``latest``). The definition must match the recorded one
    (:class:`~sweep.errors.MismatchError` otherwise); the sampler replays the recorded
    candidates, so a resumed study asks what the uninterrupted one would have asked next.
    """
    if load_if_exists and resume is not None:
        raise ValueError("pass either load_if_exists=True or resume=KEY, not both")
    definition: Dict[str, Any] = {
        "config": None if config is None else os.fspath(config),
        "runconfig": None if runconfig is None else os.fspath(runconfig),
        "name": name,
        "workspace": None if workspace is None else os.fspath(workspace),
        "experiment": experiment,
        "space": None if space is None else flatten(space),
        "sampling": None if sampling is None else str(sampling).lower(),
        "seed": seed,
        "policy": None if policy is None else policy._definition(),
        "max_total_runs": max_total_runs,
        "max_concurrent_runs": max_concurrent_runs,
        "max_duration": _seconds("max_duration", max_duration),
        "max_run_duration": _seconds("max_run_duration", max_run_duration),
        "program": None if program is None else [str(a) for a in program],
    }
    if config is None or metric is not None or goal is not None:
        if config is not None and metric is None:
            raise ValueError("overriding a config's goal needs the metric too: pass metric= with goal=")
        definition["metric"] = "value" if metric is None else metric
        definition["goal"] = "minimize" if goal is None else str(goal).lower()
    if runconfig is not None and config is None:
        raise ValueError("runconfig= goes with config=")
    if resume is not None:
        native = _sweep.Study.create(definition, "open", resume)
    elif load_if_exists:
        native = _sweep.Study.create(definition, "open_or_build")
    else:
        native = _sweep.Study.create(definition, "build")
    return Study(native)
