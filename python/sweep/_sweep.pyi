"""Type stubs of the compiled extension ``sweep._sweep`` (Rust, PyO3).

``sweep.Study`` wraps :class:`Study`; :class:`Trial` and :class:`StopReason` are handed
out as they are (``sweep.Trial``, ``sweep.StopReason``).
"""

from typing import Any, Dict, List, Literal, Optional, Tuple, Union

Scalar = Union[int, float, str, bool]
ParamRow = Tuple[str, str, List[Any], Optional[str], Optional[int]]

__version__: str

class StopReason:
    """Why a trial should stop: the policy's decision with its numbers, or a sweep limit."""

    @property
    def kind(self) -> Literal["policy", "limit"]:
        """``"policy"`` or ``"limit"``."""
    @property
    def policy(self) -> Optional[str]:
        """``bandit``, ``median_stopping`` or ``truncation_selection`` when a policy decided."""
    @property
    def interval(self) -> Optional[int]:
        """The interval (report count) at which the policy evaluated the trial."""
    @property
    def value(self) -> Optional[float]:
        """The trial's best value over intervals 1..interval."""
    @property
    def threshold(self) -> Optional[float]:
        """The value it had to beat (Bandit: best less the slack; median; the cut-off)."""
    @property
    def pool(self) -> Optional[int]:
        """How many other trials it was compared with."""
    @property
    def reason(self) -> str:
        """The reason recorded with the canceled trial (``policy:bandit``, ``sweep limit: ...``)."""
    @property
    def message(self) -> str:
        """The whole decision in one sentence, with its numbers (also ``str()``)."""

class Trial:
    """One candidate of a study, recorded as a run of its sweep."""

    @property
    def number(self) -> int:
        """The 0-based proposal order within the sweep."""
    @property
    def id(self) -> str:
        """The run id, as ``sweep runs`` shows it."""
    @property
    def params(self) -> Dict[str, Scalar]:
        """The parameters (a new dict each time), names as the space writes them; a
        conditional choice's value is its option's index and its children are ``name.key``."""
    @property
    def argv(self) -> List[str]:
        """The command line this trial stands for (the study's ``program`` and ``--name value`` pairs)."""
    @property
    def run_dir(self) -> str:
        """The run's directory in the workspace (not created by sweep)."""
    @property
    def is_told(self) -> bool:
        """Whether the trial was told."""
    @property
    def stop_reason(self) -> Optional[StopReason]:
        """Why the trial should stop, with the policy's numbers; ``None`` while it should go on."""
    def report(self, value: float, step: Optional[int] = None) -> bool:
        """Records an intermediate value of the primary metric (one interval; ``step`` is
        recorded beside it) and returns whether the trial should stop."""
    def log(self, name: str, value: float, step: Optional[int] = None) -> None:
        """Records a value of another metric (never judged by the policy)."""
    def should_stop(self) -> bool:
        """Whether a report was answered "stop"."""

class Study:
    """The native study (``sweep.Study`` wraps it)."""

    @staticmethod
    def create(definition: Dict[str, Any], mode: Literal["build", "open", "open_or_build"], key: Optional[str] = None) -> Study: ...
    def ask(self) -> Optional[Trial]: ...
    def tell(
        self,
        trial: Trial,
        state: Literal["completed", "pruned", "failed"],
        value: Optional[float] = None,
        reason: Optional[str] = None,
        wait: bool = True,
    ) -> None: ...
    def flush(self) -> None: ...
    def stop(self, reason: str) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def best(self) -> Optional[Dict[str, Any]]: ...
    def summary(self) -> Dict[str, Any]: ...
    def definition(self) -> Dict[str, Any]: ...
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def workspace(self) -> str: ...
    @property
    def seed(self) -> int: ...

class Sampler:
    """One of sweep's samplers on its own (what ``sweep.optuna.Sampler`` drives)."""

    def __init__(
        self,
        space_list: List[ParamRow],
        sampling: Literal["bayesian", "random", "sobol", "grid"],
        goal: Literal["minimize", "maximize"],
        seed: int,
    ) -> None: ...
    def propose(
        self,
        finished: List[Tuple[Dict[str, Scalar], Optional[float]]],
        pending: List[Dict[str, Scalar]],
        n: int = 1,
    ) -> List[Dict[str, Scalar]]: ...
    @property
    def proposed(self) -> int: ...

def list_sweeps(workspace: str) -> List[Dict[str, Any]]: ...
def read_sweep(workspace: str, key: str) -> Dict[str, Any]: ...
