"""sweep's ``azureml.core``, used only where azureml-core is not installed: ``Run`` as
HyperDrive training scripts use it, recording through sweep's metric protocol. Everything
else of azureml-core (Workspace, Dataset, Environment, ...) needs the real package."""

from .run import Run

__all__ = ["Run"]


def __getattr__(name):
    raise ImportError(
        "azureml.core.%s is not available: in a sweep run without azureml-core, sweep provides "
        "only azureml.core.Run; install azureml-core in the run's environment for the rest"
        % name,
        name="azureml.core",
    )
