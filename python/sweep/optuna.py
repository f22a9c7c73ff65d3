"""sweep's Bayesian sampler as an Optuna sampler.

An Optuna user tries sweep's Gaussian-process sampler by changing one line::

    import optuna
    import sweep.optuna

    study = optuna.create_study(direction="minimize", sampler=sweep.optuna.Sampler(seed=0))
    study.optimize(objective, n_trials=100)

It implements Optuna's ``BaseSampler`` the way Optuna's own ``GPSampler`` does: the search
space is the intersection of the distributions of the completed trials; each new trial's
parameters in it are proposed together by sweep's sampler from the finished trials
(completed at their value, pruned at their best intermediate value, failed as failures)
and the running ones (so parallel workers get different candidates); parameters outside
it (the first trial, or a dynamic search space) come from an independent sampler,
``optuna.samplers.RandomSampler`` by default. Single-objective studies only; Optuna is
imported here only, so ``sweep`` itself does not depend on it.

Distributions map onto sweep's expressions: a float is ``uniform`` (``loguniform`` with
``log=True``), a stepped float or an int is the index of its grid (modelled as an ordered
number), a log int is ``qloguniform`` with ``q = 1``, and a categorical is a ``choice``
(one-hot in the model).
"""

from __future__ import annotations

import json
import math
import random
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweep import _sweep

__all__ = ["Sampler"]

# The relative parameters of a running trial, shared with other workers through the
# storage (Optuna's RDB storage limits an attribute's length, hence the chunks).
_ATTR = "sweep:relative_params"
_CHUNK = 2045


class _Param:
    """One Optuna distribution as a sweep parameter, with the value maps both ways."""

    def __init__(self, name: str, dist: BaseDistribution) -> None:
        self.name = name
        self.dist = dist
        self.to_sweep: Callable[[Any], Any]
        self.from_sweep: Callable[[Any], Any]
        if isinstance(dist, FloatDistribution):
            lo, hi = dist.low, dist.high
            if dist.step is not None:
                self._grid(lo, hi, dist.step, float)
            else:
                self.row = (name, "loguniform" if dist.log else "uniform", [math.log(lo), math.log(hi)] if dist.log else [lo, hi], None, None)
                self.to_sweep = float
                self.from_sweep = lambda v: min(max(float(v), lo), hi)
        elif isinstance(dist, IntDistribution):
            lo, hi = dist.low, dist.high
            if dist.log:
                self.row = (name, "qloguniform", [math.log(lo), math.log(hi), 1], None, None)
                self.to_sweep = int
                self.from_sweep = lambda v: min(max(int(round(v)), lo), hi)
            else:
                self._grid(lo, hi, dist.step, int)
        elif isinstance(dist, CategoricalDistribution):
            choices = dist.choices
            self.row = (name, "choice", list(range(len(choices))), None, None)
            self.to_sweep = lambda v: int(dist.to_internal_repr(v))
            self.from_sweep = lambda k: choices[int(k)]
        else:  # pragma: no cover - Optuna has no other distributions today
            raise TypeError(f"sweep.optuna.Sampler cannot sample {type(dist).__name__} ({name})")

    def _grid(self, lo: Any, hi: Any, step: Any, kind: Callable[[Any], Any]) -> None:
        n = int(round((hi - lo) / step))
        self.row = (self.name, "randint", [n + 1], None, None)
        self.to_sweep = lambda v: min(max(int(round((v - lo) / step)), 0), n)
        self.from_sweep = lambda k: min(kind(lo + int(k) * step), hi)


class _Space:
    """A search space and the native sampler proposing in it."""

    def __init__(self, space: Dict[str, BaseDistribution], goal: str, seed: int) -> None:
        self.params = [_Param(n, d) for n, d in space.items()]
        self.native = _sweep.Sampler([p.row for p in self.params], "bayesian", goal, seed)
        # Held from reading the trials to recording the proposal, so that a worker thread
        # sees the proposals of the others as pending (the native sampler releases the GIL
        # while it proposes, and so does waiting for this lock).
        self.lock = threading.Lock()

    def encode(self, params: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        try:
            return {p.name: p.to_sweep(params[p.name]) for p in self.params}
        except (KeyError, ValueError, TypeError):
            return None

    def decode(self, params: Dict[str, Any]) -> Dict[str, Any]:
        return {p.name: p.from_sweep(params[p.name]) for p in self.params}


class Sampler(BaseSampler):
    """sweep's Gaussian-process sampler for Optuna studies (single objective).

    Args:
        seed: the seed of sweep's sampler and of the independent sampler (default: drawn).
        independent_sampler: samples the parameters outside the relative search space (the
            first trial's, and those of a dynamic space); default
            ``optuna.samplers.RandomSampler(seed=seed)``.
    """

    def __init__(self, *, seed: Optional[int] = None, independent_sampler: Optional[BaseSampler] = None) -> None:
        self._seed = seed if seed is not None else random.SystemRandom().getrandbits(63)
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace()
        self._spaces: Dict[Tuple[Any, ...], _Space] = {}
        self._lock = threading.Lock()

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> Dict[str, BaseDistribution]:
        return {n: d for n, d in self._intersection.calculate(study).items() if not d.single()}

    def _space(self, study: Study, search_space: Dict[str, BaseDistribution]) -> _Space:
        if len(study.directions) > 1:
            raise ValueError("sweep.optuna.Sampler supports single-objective studies only")
        goal = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
        key = (goal,) + tuple((n, repr(d)) for n, d in search_space.items())
        with self._lock:
            s = self._spaces.get(key)
            if s is None:
                s = self._spaces[key] = _Space(search_space, goal, self._seed)
            return s

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: Dict[str, BaseDistribution]) -> Dict[str, Any]:
        if not search_space:
            return {}
        space = self._space(study, search_space)
        with space.lock:
            return self._propose(study, trial, space)

    def _propose(self, study: Study, trial: FrozenTrial, space: _Space) -> Dict[str, Any]:
        maximize = study.direction == StudyDirection.MAXIMIZE
        # In trial-number order: sweep's sampler caches its model fit on a prefix of the
        # history, which then stays the same from one proposal to the next.
        finished: List[Tuple[Dict[str, Any], Optional[float]]] = []
        pending: List[Dict[str, Any]] = []
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
        for t in study._get_trials(deepcopy=False, states=states, use_cache=False):
            if t.number == trial.number:
                continue
            if t.state == TrialState.RUNNING:
                p = space.encode(_running_params(t))
                if p is not None:
                    pending.append(p)
                continue
            p = space.encode(t.params)
            if p is None:
                continue
            finished.append((p, _value(t, maximize)))
        proposal = space.native.propose(finished, pending, 1)
        if not proposal:
            return {}
        params = space.decode(proposal[0])
        text = json.dumps(params)
        for i in range(0, len(text), _CHUNK):
            study._storage.set_trial_system_attr(trial._trial_id, f"{_ATTR}:{i // _CHUNK}", text[i : i + _CHUNK])
        return params

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Optional[Sequence[float]]
    ) -> None:
        self._independent.after_trial(study, trial, state, values)


def _value(t: FrozenTrial, maximize: bool) -> Optional[float]:
    """A finished trial's value as sweep counts it: a completed trial's value, a pruned
    one's best intermediate value, ``None`` for a failure."""
    if t.state == TrialState.COMPLETE:
        return t.value
    if t.state == TrialState.PRUNED:
        vals = [v for v in t.intermediate_values.values() if math.isfinite(v)]
        if vals:
            return max(vals) if maximize else min(vals)
    return None


def _running_params(t: FrozenTrial) -> Dict[str, Any]:
    chunks: List[str] = []
    i = 0
    while True:
        c = t.system_attrs.get(f"{_ATTR}:{i}")
        if c is None:
            break
        chunks.append(c)
        i += 1
    params: Dict[str, Any] = json.loads("".join(chunks)) if chunks else {}
    params.update(t.params)
    return params

