# sweep's stand-in for the `azureml` namespace, on a run's PYTHONPATH. It must never hide a
# real installation: like azureml-core's own __init__, it makes `azureml` span every
# `azureml` directory on sys.path, then puts its own directory last, so `azureml.core`
# (and every other `azureml.*` package) comes from a real installation when there is one,
# and from sweep's `azureml/core` only when there is none.
import os as _os

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
_here = _os.path.dirname(_os.path.abspath(__file__))
__path__[:] = [p for p in __path__ if _os.path.abspath(p) != _here] + [_here]
del _os, _here
