"""jaxreg: certified L1 / L2 / elastic-net regularization paths in JAX.

See :func:`jaxreg.path` for the objective and the naming map to glmnet and scikit-learn.
"""

from jaxreg.families import Binomial, Family, Gaussian, get_family
from jaxreg.path import ConvergenceWarning, SeparationWarning, path, trace_count
from jaxreg.result import PathResult
from jaxreg.sweep import BatchPathResult, path_batch
from jaxreg.cv import CVResult, cv, make_folds
from jaxreg.stability import StabilityResult, stability_selection
from jaxreg import datasets

__version__ = "0.1.0"

# scikit-learn estimators, imported on first use so that `import jaxreg` never imports sklearn.
_ESTIMATORS = ("ElasticNet", "ElasticNetCV", "LogisticNet", "LogisticNetCV")


def __getattr__(name):
    if name in _ESTIMATORS:
        from jaxreg import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'jaxreg' has no attribute {name!r}")

__all__ = [
    "path",
    "PathResult",
    "path_batch",
    "BatchPathResult",
    "cv",
    "CVResult",
    "make_folds",
    "stability_selection",
    "StabilityResult",
    "datasets",
    "ConvergenceWarning",
    "SeparationWarning",
    "Family",
    "Gaussian",
    "Binomial",
    "get_family",
    "trace_count",
    "ElasticNet",
    "ElasticNetCV",
    "LogisticNet",
    "LogisticNetCV",
    "__version__",
]
