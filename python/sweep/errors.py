"""sweep's exceptions.

Every error sweep raises is a :class:`SweepError`. A bad config file raises
:class:`ConfigError`, which carries every problem found (not just the first), each with its
file, line, column, message and hint, and whose text is exactly what ``sweep validate``
prints. Plain Python: the compiled extension raises these classes.
"""

from __future__ import annotations

from typing import Any, Iterable, List, NamedTuple, Optional

__all__ = [
    "SweepError",
    "ConfigError",
    "Problem",
    "InvalidStudyError",
    "MismatchError",
    "BusyError",
    "WaitError",
    "ParamError",
    "StoreError",
    "SweepNotFoundError",
    "TrialPruned",
]


class SweepError(Exception):
    """The base of every error sweep raises."""


class Problem(NamedTuple):
    """One located problem of a config file."""

    file: str
    """The file, as its path was given."""
    line: Optional[int]
    """1-based line, or ``None`` for a problem with the whole file (it cannot be read)."""
    column: Optional[int]
    """1-based column (in characters), or ``None`` with ``line``."""
    message: str
    """What is wrong, in one sentence."""
    hint: Optional[str]
    """How to fix it, when sweep knows."""
    severity: str
    """``"error"``, ``"warning"`` or ``"note"``."""
    rendered: str
    """The problem as the command line prints it: headline, location, the source line with
    the offending token underlined, and the hint."""

    @property
    def location(self) -> str:
        """``file:line:col``, or the file alone."""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class ConfigError(SweepError, ValueError):
    """A config file (``hdconfig.yml``, a v2 sweep job or a runconfig) is invalid.

    ``str(error)`` is the full report ``sweep validate`` prints; :attr:`problems` has each
    problem with its position. :attr:`errors` keeps the errors alone (warnings and notes do
    not stop a config from loading).
    """

    def __init__(self, message: str, problems: Iterable[Any] = ()) -> None:
        super().__init__(message)
        self.problems: List[Problem] = [p if isinstance(p, Problem) else Problem(**p) for p in problems]

    @property
    def errors(self) -> List[Problem]:
        """The problems whose severity is ``"error"``."""
        return [p for p in self.problems if p.severity == "error"]

    def __reduce__(self):  # keep the problems when pickled (multiprocessing)
        return (type(self), (str(self), list(self.problems)))


class InvalidStudyError(SweepError, ValueError):
    """A study defined in code is invalid: an empty space, bounds the wrong way round, no
    budget for random or Bayesian sampling. The message names every problem."""


class MismatchError(SweepError):
    """An existing sweep does not match the definition it is opened with (goal, metric,
    sampling, policy, seed or parameters differ)."""

    def __init__(self, message: str, sweep_id: str = "") -> None:
        super().__init__(message)
        self.sweep_id = sweep_id
        """The sweep that was being opened."""


class BusyError(SweepError):
    """Another process (a program using sweep, or ``sweep run``/``sweep resume``) has the
    sweep open; one process drives a sweep at a time."""

    def __init__(self, message: str, sweep_id: str = "", pid: str = "") -> None:
        super().__init__(message)
        self.sweep_id = sweep_id
        """The sweep."""
        self.pid = pid
        """The process holding it, as its lock file records it."""


class WaitError(SweepError):
    """The sampler has no candidate until a pending trial is told (only raised while trials
    are pending; with none pending ``ask()`` returns ``None``)."""


class ParamError(SweepError, KeyError):
    """A parameter is missing or has another type than asked for."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StoreError(SweepError, OSError):
    """The run history (``<workspace>/sweep.db``) could not be read or written."""


class SweepNotFoundError(SweepError, LookupError):
    """No sweep of that id or name in the workspace (or no workspace there at all)."""


class TrialPruned(Exception):
    """Raise it from an objective to end the trial as pruned (``canceled``); it keeps its
    best reported value. ``optuna.TrialPruned`` is understood too."""
