"""Search spaces and early-termination policies, written as in HyperDrive.

The ten expressions take HyperDrive's positional values: ``loguniform(min, max)`` draws
``exp(uniform(min, max))``, so **its bounds are natural logs** (values between 1e-4 and
1e-1 are ``loguniform(math.log(1e-4), math.log(1e-1))``), and q-expressions round to
multiples of ``q``. A ``choice`` whose options are dictionaries is a conditional space, as
in an Azure ML v2 sweep job: the choice takes the option's index and each key ``k`` of an
option becomes a parameter ``name.k`` that exists only when that option is drawn (a plain
value is a constant)::

    space = {
        "lr": loguniform(math.log(1e-4), math.log(1e-1)),
        "layers": choice(1, 2, 3),
        "opt": choice(
            {"name": "sgd", "lr_decay": uniform(0.0, 0.1)},
            {"name": "momentum", "momentum": uniform(0.8, 0.99)},
        ),
    }

Plain Python, shared by :mod:`sweep.study` and :mod:`sweep.optuna`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

__all__ = [
    "Expression",
    "choice",
    "randint",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "normal",
    "qnormal",
    "lognormal",
    "qlognormal",
    "BanditPolicy",
    "MedianStoppingPolicy",
    "TruncationSelectionPolicy",
    "NoTerminationPolicy",
    "Policy",
]

Scalar = Union[int, float, str, bool]
"""A parameter value: what ``Trial.params`` holds."""


@dataclass(frozen=True)
class Expression:
    """A parameter's distribution: a HyperDrive expression and its positional values."""

    expression: str
    """``choice``, ``randint``, ``uniform``, ``quniform``, ``loguniform``, ``qloguniform``,
    ``normal``, ``qnormal``, ``lognormal`` or ``qlognormal``."""
    values: Tuple[Any, ...]
    """The expression's values, as in a config's ``values: [...]``."""

    def __repr__(self) -> str:
        return f"{self.expression}({', '.join(repr(v) for v in self.values)})"


def _number(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number, got {v!r}")
    return float(v)


def _scalar(v: Any) -> Scalar:
    if isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"a choice option must be an int, float, str, bool or a dict (a conditional option), got {v!r}")


def choice(*options: Any) -> Expression:
    """One of the options, equally likely: numbers, strings, booleans, or dictionaries for a
    conditional space. ``choice(1, 2, 3)`` and ``choice([1, 2, 3])`` are the same."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = tuple(options[0])
    if not options:
        raise ValueError("choice() needs at least one option")
    if any(isinstance(o, Mapping) for o in options):
        if not all(isinstance(o, Mapping) for o in options):
            raise TypeError("options of a conditional choice must all be dictionaries")
        return Expression("choice", tuple(dict(o) for o in options))
    return Expression("choice", tuple(_scalar(o) for o in options))


def randint(upper: int) -> Expression:
    """An integer in ``[0, upper)``."""
    if isinstance(upper, bool) or not isinstance(upper, int):
        raise TypeError(f"randint(upper) takes an int, got {upper!r}")
    return Expression("randint", (upper,))


def uniform(min_value: float, max_value: float) -> Expression:
    """A float uniform in ``[min_value, max_value]``."""
    return Expression("uniform", (_number("min_value", min_value), _number("max_value", max_value)))


def quniform(min_value: float, max_value: float, q: float) -> Expression:
    """``round(uniform(min_value, max_value) / q) * q`` (an int when integral)."""
    return Expression("quniform", (_number("min_value", min_value), _number("max_value", max_value), _number("q", q)))


def loguniform(min_value: float, max_value: float) -> Expression:
    """``exp(uniform(min_value, max_value))``: the bounds are **exponents** (natural logs)."""
    return Expression("loguniform", (_number("min_value", min_value), _number("max_value", max_value)))


def qloguniform(min_value: float, max_value: float, q: float) -> Expression:
    """``round(exp(uniform(min_value, max_value)) / q) * q`` (the bounds are exponents)."""
    return Expression("qloguniform", (_number("min_value", min_value), _number("max_value", max_value), _number("q", q)))


def normal(mu: float, sigma: float) -> Expression:
    """A normal draw with mean ``mu`` and standard deviation ``sigma``."""
    return Expression("normal", (_number("mu", mu), _number("sigma", sigma)))


def qnormal(mu: float, sigma: float, q: float) -> Expression:
    """``round(normal(mu, sigma) / q) * q``."""
    return Expression("qnormal", (_number("mu", mu), _number("sigma", sigma), _number("q", q)))


def lognormal(mu: float, sigma: float) -> Expression:
    """``exp(normal(mu, sigma))``."""
    return Expression("lognormal", (_number("mu", mu), _number("sigma", sigma)))


def qlognormal(mu: float, sigma: float, q: float) -> Expression:
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    return Expression("qlognormal", (_number("mu", mu), _number("sigma", sigma), _number("q", q)))


ParamRow = Tuple[str, str, List[Any], Optional[str], Optional[int]]
"""One flattened parameter: name, expression, values, parent choice, option index."""


def flatten(space: Mapping[str, Any]) -> List[ParamRow]:
    """The space as the extension takes it: one row per parameter in order, a conditional
    choice's children (``name.key``) right after it with their condition."""
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a dict of parameter names to expressions, got {type(space).__name__}")
    rows: List[ParamRow] = []
    for name, expr in space.items():
        _flatten_one(str(name), expr, None, None, rows)
    return rows


def _flatten_one(name: str, expr: Any, parent: Optional[str], option: Optional[int], rows: List[ParamRow]) -> None:
    if not isinstance(expr, Expression):
        if parent is not None and isinstance(expr, (bool, int, float, str)):
            # A plain value inside a conditional option is a constant.
            rows.append((name, "choice", [expr], parent, option))
            return
        raise TypeError(
            f"parameter {name!r}: expected an expression such as sweep.uniform(0, 1) or sweep.choice(...), got {expr!r}"
        )
    if expr.expression == "choice" and expr.values and isinstance(expr.values[0], Mapping):
        rows.append((name, "choice", list(range(len(expr.values))), parent, option))
        for i, opt in enumerate(expr.values):
            for key, child in opt.items():
                _flatten_one(f"{name}.{key}", child, name, i, rows)
        return
    rows.append((name, expr.expression, list(expr.values), parent, option))


@dataclass(frozen=True)
class BanditPolicy:
    """Stops a trial whose best value is worse than the best trial's at the same interval
    by more than the slack: ``slack_factor`` (relative) or ``slack_amount`` (absolute),
    exactly one of them."""

    slack_factor: Optional[float] = None
    slack_amount: Optional[float] = None
    evaluation_interval: int = 1
    """Evaluate at intervals that are multiples of this."""
    delay_evaluation: int = 0
    """Evaluate from this interval on."""

    def __post_init__(self) -> None:
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise ValueError("BanditPolicy takes exactly one of slack_factor and slack_amount")

    def _definition(self) -> Dict[str, Any]:
        return {
            "type": "bandit",
            "slack_factor": self.slack_factor,
            "slack_amount": self.slack_amount,
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }


@dataclass(frozen=True)
class MedianStoppingPolicy:
    """Stops a trial whose best value is worse than the median of the other trials'
    running averages at the same interval."""

    evaluation_interval: int = 1
    delay_evaluation: int = 0

    def _definition(self) -> Dict[str, Any]:
        return {
            "type": "median_stopping",
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }


@dataclass(frozen=True)
class TruncationSelectionPolicy:
    """Stops the trials among the lowest ``truncation_percentage`` percent at each
    evaluation (ties across the cut are spared)."""

    truncation_percentage: int
    evaluation_interval: int = 1
    delay_evaluation: int = 0

    def _definition(self) -> Dict[str, Any]:
        return {
            "type": "truncation_selection",
            "truncation_percentage": self.truncation_percentage,
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }


@dataclass(frozen=True)
class NoTerminationPolicy:
    """Never stops a trial (the default)."""

    def _definition(self) -> Dict[str, Any]:
        return {"type": "none"}


Policy = Union[BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy, NoTerminationPolicy]
"""An early-termination policy."""

