"""One adapter per library: how it solves the benchmark objective (registry.py).

Each adapter's ``fit(X, y, grid, tol, family)`` solves the lasso path over ``grid`` (the same
100 lambdas for every library) and returns ``(coef (K, p), intercept (K,) or None, note)``:

- **raw** input (glmnet, jaxreg): X and y as they are; the library standardizes internally
  (``standardize=True``) and returns original-scale coefficients and intercepts.
- **standardized** input (the others): ``Xs`` (columns centered, scaled to unit 1/n sd) and,
  for the gaussian family, the centered y with no intercept (``intercept`` None), or, for the
  binomial family, y in {0, 1} with the library's own unpenalized intercept. The harness maps
  coefficients back (``beta = w / s``; registry.to_original_scale).

On standardized inputs the penalty ``lambda ||w||_1`` equals ``lambda sum_j s_j |beta_j|``,
so every library solves the same problem. Per library (names: jaxreg ``lambda`` = glmnet
``lambda`` = scikit-learn / celer / skglm / glum ``alpha`` = adelie ``lmda``):

=========  ========================================  ==================================================
library    gaussian                                   binomial
=========  ========================================  ==================================================
jaxreg     ``jaxreg.path(n_lambdas=100, tol)``: its   same, ``family="binomial"``
           default grid, checked equal to ``grid``
glmnet     ``glmnet.ElasticNet(lambda_path, tol)``    ``glmnet.LogitNet(lambda_path, tol)`` (glmnet's
           (Fortran; ``tol`` = thresh)                lognet, same objective)
sklearn    ``enet_path(l1_ratio=1, alphas=grid)``     ``LogisticRegression(l1_ratio=1, C=1/(n lambda),
                                                      solver="saga", warm_start=True)``, one fit per
                                                      lambda (its C sum_i loss + ||w||_1 is n C times
                                                      the objective); liblinear is not used: it
                                                      penalizes the intercept
celer      ``celer_path("lasso", prune=True)``        skipped: celer's logreg has no intercept
skglm      ``AndersonCD.path``, Quadratic + L1        ``ProxNewton`` (skglm's SparseLogisticRegression
                                                      solver), Logistic + L1, y in {-1, 1}, warm
                                                      starts, one solve per lambda
glum       ``GeneralizedLinearRegressor(family=        same, ``family="binomial"``, with intercept
           "normal", l1_ratio=1, alpha=grid,          (glum minimizes deviance / (2 sum w) + alpha
           alpha_search=True, gradient_tol=tol)``     ||w||_1: the objective exactly)
adelie     ``adelie.grpnet(glm.gaussian, lmda_path,   ``glm.binomial``, with intercept,
           tol, early_exit=False)``, singleton        ``irls_tol = tol``
           groups
=========  ========================================  ==================================================

Iteration limits are high enough that the tolerance, not the limit, stops each solver.
Threads: every library runs with its defaults (the ``cpu`` column shows what it used).

Importing this module needs only NumPy: a worker (worker.py) imports it in any Python
environment, such as a separate one for adelie, which needs numpy < 2.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ADELIE_ENV_VAR = "JAXREG_BENCH_ADELIE_PYTHON"


# Ladders start at 1e-5 at the latest: one decade looser than the benchmark's accuracy target
# (1e-6), so that no library is timed at a tolerance tighter than the target needs. Before
# the eleventh session jaxreg, glmnet and adelie started at their defaults (1e-7); jaxreg's tol
# bounds the relative suboptimality itself, so 1e-6 always reaches the target.
LADDER_START = 5  # the exponent: 1e-5


def _decades(first: int, last: int) -> tuple:
    return tuple(10.0**-k for k in range(first, last + 1))


def _full_path(grid, k_done, coef_rows, intercept_rows, p):
    """(K, p) and (K,) arrays with NaN for lambdas a library did not return."""
    coef = np.full((grid.size, p), np.nan)
    intercept = np.full(grid.size, np.nan)
    coef[:k_done] = coef_rows[:k_done]
    intercept[:k_done] = intercept_rows[:k_done]
    return coef, intercept


# --------------------------------------------------------------------------------------
# Fits. Each returns (coef, intercept or None, note).
# --------------------------------------------------------------------------------------


def fit_jaxreg(X, y, grid, tol, family):
    """jaxreg.path on the raw data with its default grid of ``len(grid)`` lambdas, which must
    be the grid every other library gets (checked on every call); note = its certificate."""
    import jaxreg

    res = jaxreg.path(X, y, family=family, n_lambdas=len(grid), tol=tol)
    if not np.allclose(res.lambdas, grid, rtol=1e-10, atol=0):
        raise RuntimeError(f"jaxreg's default grid differs from the benchmark's by "
                           f"{np.max(np.abs(res.lambdas / grid - 1)):.1e} (relative)")
    return res.coef, res.intercept, f"certified max gap {np.max(res.gap):.1e}"


def fit_glmnet(X, y, grid, tol, family):
    """Fortran glmnet (python-glmnet): raw data, internal standardization, thresh = tol."""
    import glmnet

    cls = glmnet.ElasticNet if family == "gaussian" else glmnet.LogitNet
    model = cls(alpha=1.0, lambda_path=grid, standardize=True, fit_intercept=True, n_splits=0,
                tol=tol, max_iter=1_000_000)
    model.fit(X, y)
    coef_path = np.asarray(model.coef_path_)
    intercept_path = np.asarray(model.intercept_path_)
    if family == "binomial":  # (1, p, K) and (1, K): the model of class 1
        coef_path, intercept_path = coef_path[0], intercept_path[0]
    k = coef_path.shape[1]
    note = "" if k == grid.size else f"glmnet stopped the path after {k} of {grid.size} lambdas"
    return (*_full_path(grid, k, coef_path.T, intercept_path, X.shape[1]), note)


def fit_sklearn(X, y, grid, tol, family):
    """scikit-learn: enet_path (gaussian); LogisticRegression saga, warm-started (binomial)."""
    if family == "gaussian":
        from sklearn.linear_model import enet_path

        _, coefs, _ = enet_path(X, y, l1_ratio=1.0, alphas=grid, tol=tol, max_iter=100_000)
        return coefs.T, None, ""
    from sklearn.linear_model import LogisticRegression

    n = X.shape[0]
    # saga visits the samples in a random order: a fixed seed makes the run, and so the tol
    # the ladder settles on and the smoke test's objective, reproducible.
    model = LogisticRegression(l1_ratio=1.0, C=1.0, solver="saga", tol=tol, max_iter=100_000,
                               warm_start=True, fit_intercept=True, random_state=0)
    coef = np.empty((grid.size, X.shape[1]))
    intercept = np.empty(grid.size)
    for k, lam in enumerate(grid):
        model.set_params(C=1.0 / (n * lam))
        model.fit(X, y)
        coef[k], intercept[k] = model.coef_[0], model.intercept_[0]
    return coef, intercept, ""


def fit_celer(X, y, grid, tol, family):
    """celer_path (working sets + dual extrapolation), pruning on as in celer.Lasso."""
    from celer import celer_path

    _, coefs, _ = celer_path(X, y, "lasso", alphas=grid, tol=tol, max_iter=100,
                             max_epochs=100_000, prune=True)
    return coefs.T, None, ""


def fit_skglm(X, y, grid, tol, family):
    """skglm: AndersonCD path (gaussian); ProxNewton with warm starts (binomial)."""
    from skglm.penalties import L1

    if family == "gaussian":
        from skglm.datafits import Quadratic
        from skglm.solvers import AndersonCD

        solver = AndersonCD(tol=tol, max_iter=100, max_epochs=100_000, fit_intercept=False)
        _, coefs, _ = solver.path(X, y, Quadratic(), L1(alpha=float(grid[0])), alphas=grid)
        return coefs.T, None, ""
    from skglm.datafits import Logistic
    from skglm.solvers import ProxNewton

    ypm = 2.0 * y - 1.0
    solver = ProxNewton(tol=tol, max_iter=100, max_pn_iter=1000, fit_intercept=True)
    p = X.shape[1]
    w = np.zeros(p + 1)
    coef = np.empty((grid.size, p))
    intercept = np.empty(grid.size)
    for k, lam in enumerate(grid):
        Xw = X @ w[:p] + w[p]
        w = solver.solve(X, ypm, Logistic(), L1(alpha=float(lam)), w.copy(), Xw)[0]
        coef[k], intercept[k] = w[:p], w[p]
    return coef, intercept, ""


def fit_glum(X, y, grid, tol, family):
    """glum GeneralizedLinearRegressor path (IRLS + coordinate descent), gradient_tol = tol."""
    import warnings

    from glum import GeneralizedLinearRegressor

    binomial = family == "binomial"
    model = GeneralizedLinearRegressor(
        family="binomial" if binomial else "normal", l1_ratio=1.0, alpha=grid, alpha_search=True,
        fit_intercept=binomial, gradient_tol=tol, max_iter=10_000, max_inner_iter=1_000_000,
        scale_predictors=False, solver="irls-cd",
    )
    with warnings.catch_warnings():
        # glum warns that alpha_search with an explicit grid ignores n_alphas etc.
        warnings.filterwarnings("ignore", message=".*min_alpha.*")
        model.fit(X, y)
    coef = np.asarray(model.coef_path_)
    intercept = np.asarray(model.intercept_path_) if binomial else None
    return coef, intercept, ""


def fit_adelie(X, y, grid, tol, family):
    """adelie.grpnet with singleton groups (the lasso), the grid as lmda_path."""
    import adelie as ad

    binomial = family == "binomial"
    glm = ad.glm.binomial(y=np.asarray(y, dtype=np.float64)) if binomial else ad.glm.gaussian(y=np.asarray(y, dtype=np.float64))
    state = ad.grpnet(
        X=np.asfortranarray(X), glm=glm, lmda_path=np.asarray(grid, dtype=np.float64), intercept=binomial,
        tol=tol, irls_tol=tol, max_iters=10_000_000, irls_max_iters=100_000, early_exit=False,
        adev_tol=1.0, ddev_tol=0.0, progress_bar=False,
    )
    lmdas = np.asarray(state.lmdas)
    betas = state.betas.toarray() if hasattr(state.betas, "toarray") else np.asarray(state.betas)
    k = lmdas.size
    if k and not np.allclose(lmdas, grid[:k], rtol=1e-12):
        raise RuntimeError("adelie solved a different grid")
    intercepts = np.asarray(state.intercepts, dtype=np.float64) if binomial else np.zeros(k)
    coef, intercept = _full_path(grid, k, betas, intercepts, X.shape[1])
    note = "" if k == grid.size else f"adelie stopped the path after {k} of {grid.size} lambdas"
    # gaussian: no intercept on centered y (missing lambdas stay NaN rows in coef -> +inf)
    return coef, (intercept if binomial else None), note


# --------------------------------------------------------------------------------------
# The registry of adapters
# --------------------------------------------------------------------------------------


class Adapter(NamedTuple):
    """A library under comparison.

    ``module``: what must import for it to count as installed; ``distribution``: for the
    version string; ``standardized_input``: True -> gets (Xs, y_std), False -> raw (X, y);
    ``tols``: the ladder, loosest first: the library's default where it has one, or 1e-5
    (``LADDER_START``) where that default is tighter (jaxreg, glmnet, adelie: 1e-7);
    ``unsupported``: family -> why the library cannot solve that objective exactly.
    """

    name: str
    module: str
    distribution: str
    fit: Callable
    standardized_input: bool
    tols: tuple
    unsupported: dict = {}
    python: Callable | None = None  # -> interpreter for its worker; None: this one

    def executable(self) -> str:
        return self.python() if self.python is not None else sys.executable


def adelie_python() -> str:
    """$JAXREG_BENCH_ADELIE_PYTHON, else benchmarks/.venv-adelie (made by `make bench`),
    else this interpreter. adelie pins numpy < 2, which jax 0.10 cannot share."""
    env = os.environ.get(ADELIE_ENV_VAR)
    if env:
        return env
    local = BENCH_DIR / ".venv-adelie" / "bin" / "python"
    return str(local) if local.exists() else sys.executable


ADAPTERS = {
    "jaxreg": Adapter("jaxreg", "jaxreg", "jaxreg", fit_jaxreg, False, _decades(LADDER_START, 12)),
    "glmnet": Adapter("glmnet", "glmnet", "python-glmnet", fit_glmnet, False, _decades(LADDER_START, 15)),
    "sklearn": Adapter("sklearn", "sklearn", "scikit-learn", fit_sklearn, True, _decades(4, 13)),
    "celer": Adapter("celer", "celer", "celer", fit_celer, True, _decades(4, 13),
                     {"binomial": "celer's logreg path fits no intercept (celer 0.7: fit_intercept=True not supported)"}),
    "skglm": Adapter("skglm", "skglm", "skglm", fit_skglm, True, _decades(4, 13)),
    "glum": Adapter("glum", "glum", "glum", fit_glum, True, _decades(4, 13)),
    "adelie": Adapter("adelie", "adelie", "adelie", fit_adelie, True, _decades(LADDER_START, 14), python=adelie_python),
}

REFERENCE_TOL = 1e-13  # jaxreg's run that feeds the reference


def run_fit(name: str, X, y, grid, tol, family):
    """The call a worker times: ADAPTERS[name].fit with float64 arrays, results as float64."""
    adapter = ADAPTERS[name]
    if family in adapter.unsupported:
        raise NotImplementedError(adapter.unsupported[family])
    coef, intercept, note = adapter.fit(X, y, np.asarray(grid, dtype=np.float64), float(tol), family)
    coef = np.asarray(coef, dtype=np.float64)
    if coef.shape != (len(grid), X.shape[1]):
        raise RuntimeError(f"{name} returned coefficients of shape {coef.shape}, expected {(len(grid), X.shape[1])}")
    intercept = None if intercept is None else np.asarray(intercept, dtype=np.float64).reshape(len(grid))
    return coef, intercept, note


def probe(name: str) -> tuple:
    """(installed, version or reason) of an adapter, checked in its own interpreter."""
    import subprocess

    adapter = ADAPTERS[name]
    code = (f"import importlib.metadata as m, {adapter.module}\n"
            f"try: print(m.version({adapter.distribution!r}))\n"
            f"except m.PackageNotFoundError: print(getattr({adapter.module}, '__version__', '?'))")
    exe = adapter.executable()
    if exe == sys.executable:  # cheap: no process, no import (a broken install fails in its worker)
        if importlib.util.find_spec(adapter.module) is None:
            return False, f"No module named {adapter.module!r}"
        try:
            return True, importlib.metadata.version(adapter.distribution)
        except importlib.metadata.PackageNotFoundError:
            return True, "?"
    env = dict(os.environ, PYTHONPATH=str(BENCH_DIR.parent))
    try:
        out = subprocess.run([exe, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]
    if out.returncode != 0:
        return False, (out.stderr.strip().splitlines() or ["import failed"])[-1][:200]
    return True, out.stdout.strip() + (f" ({exe})" if exe != sys.executable else "")
