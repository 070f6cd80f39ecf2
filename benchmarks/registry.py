"""The benchmark problems, the one objective, and its dual bounds.

Every problem is a lasso path (design.md sec. 1, ``l1_ratio = 1``, ``standardize=True``)
for the gaussian or the binomial family:

    gaussian:  minimize  1/(2n) ||y - b0 - X beta||^2                     + lambda sum_j s_j |beta_j|
    binomial:  minimize  1/n sum_i [log(1 + exp(eta_i)) - y_i eta_i]      + lambda sum_j s_j |beta_j|
               with eta = b0 + X beta, y_i in {0, 1}

where ``s_j`` is the 1/n standard deviation of column j, over one fixed grid per problem:
jaxreg's default grid, 100 log-spaced values from ``lambda_max = max_j |Xs_j' (y - mean(y))| / n``
(the same formula for both families: the gradient at the intercept-only fit) down to
``1e-4 lambda_max`` if n > p, else ``1e-2 lambda_max``. :func:`lambda_grid` computes it in
NumPy and passes to every library; jaxreg solves its own default grid and the jaxreg adapter
checks on every call that the two agree (to 1e-10, relative).

The registry (:data:`PROBLEMS`, ids in brackets):

- **Table 1, gaussian** ``[NxPxRHO]``: the glmnet paper's Table 1 grid (Friedman, Hastie,
  Tibshirani 2010, sec. 5.1), (N, p) in {(1000,100), (5000,100), (100,1000), (100,5000),
  (100,20000), (100,50000)} x rho in {0, 0.1, 0.2, 0.5, 0.9, 0.95}; data from
  ``jaxreg.datasets.make_glmnet_benchmark(N, p, rho, seed=0)``: equicorrelated Gaussian X,
  ``beta_j = (-1)^j exp(-2 (j-1) / 20)``, ``y = X beta + k e`` with signal-to-noise 3.
- **Table 1, binomial** ``[binomial:NxPxRHO]``: the same X (same seed), logistic response
  ``y ~ Bernoulli(sigmoid(f'))`` with ``f' = sqrt(3) f / sd(f)``, ``f = X beta``: the linear
  predictor scaled to standard deviation sqrt(3), the gaussian cells' signal-to-noise ratio
  (``make_glmnet_benchmark(..., family="binomial")``). (The glmnet paper's own logistic
  table uses a different, larger set of sizes; this keeps the Table 1 designs.)
- **Real data** (``group="real"``):
  - ``diabetes``: 442 x 10, gaussian (``jaxreg.datasets.load_diabetes``). n > p.
  - ``diabetes-quad``: 442 x 64, gaussian: the 10 baseline variables, their 45 pairwise
    products and 9 squares (not of the binary ``sex``), the "quadratic model" of Efron,
    Hastie, Johnstone, Tibshirani (2004), "Least angle regression", sec. 4. n > p (6.9x).
  - ``breast-cancer``: 569 x 30, binomial, y = malignant (``load_breast_cancer``). n > p.
  - ``digits``: 1797 x 61, binomial, y = (digit >= 5): the 8x8 handwritten-digit images
    shipped inside scikit-learn (``sklearn.datasets.load_digits``, the UCI optdigits test
    set; no download), the 3 always-blank pixels dropped. n >> p (29x). Skipped without
    scikit-learn.
  - ``srbct``: 83 x 2308, binomial, y = Ewing's sarcoma (29) vs the other three tumour
    classes (54): gene expression, ``jaxreg.datasets.load_srbct``. p >> n (28x). Skipped
    cleanly when the loader or its data file is absent.

Real data sets are small: the largest real n >> p problem here is 1797 x 61. The n >> p
*scaling* is measured by the synthetic 5000 x 100 cells.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import numpy as np

TABLE1_SIZES = ((1000, 100), (5000, 100), (100, 1000), (100, 5000), (100, 20000), (100, 50000))
TABLE1_RHOS = (0.0, 0.1, 0.2, 0.5, 0.9, 0.95)
FAMILIES = ("gaussian", "binomial")
N_LAMBDAS = 100


class ProblemUnavailable(Exception):
    """The problem's data cannot be loaded here (a missing loader, file or package)."""


# --------------------------------------------------------------------------------------
# Problem specifications
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Spec:
    """One registered problem: an id, its family, group and a loader of (X, y).

    ``n``, ``p`` and ``rho`` are the nominal shape (for the CSV; real data: rho is None).
    """

    id: str
    family: str
    group: str
    n: int
    p: int
    rho: float | None
    loader: Callable[[], tuple]
    description: str
    seed: int = 0

    def label(self) -> str:
        if self.rho is None:
            return f"{self.id} ({self.n}x{self.p})"
        prefix = "" if self.family == "gaussian" else "logit "
        return f"{prefix}{self.n}x{self.p} rho={self.rho:g}"

    def load(self):
        """(X float64 (n, p), y float64 (n,), binomial y in {0, 1}); raises ProblemUnavailable."""
        X, y = self.loader()
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.family == "binomial" and not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{self.id}: binomial response must be 0/1")
        return X, y


def _synthetic(n, p, rho, family, seed):
    def load():
        from jaxreg.datasets import make_glmnet_benchmark

        X, y, _ = make_glmnet_benchmark(n, p, rho, family=family, seed=seed)
        return X, y

    return load


def synthetic_spec(n: int, p: int, rho: float, family: str = "gaussian", seed: int = 0) -> Spec:
    """A glmnet-recipe problem of any size (Table 1 cells are among them)."""
    base = f"{n}x{p}x{rho:g}"
    pid = base if family == "gaussian" else f"{family}:{base}"
    desc = f"make_glmnet_benchmark({n}, {p}, {rho:g}, family={family!r}, seed={seed})"
    return Spec(pid, family, "table1" if family == "gaussian" else "table1-binomial", n, p, rho,
                _synthetic(n, p, rho, family, seed), desc, seed)


def _load_diabetes():
    from jaxreg.datasets import load_diabetes

    d = load_diabetes()
    return d.X, d.y


def _load_diabetes_quad():
    """Efron et al. (2004) quadratic model: 10 main effects, 45 products, 9 squares."""
    from jaxreg.datasets import load_diabetes

    d = load_diabetes()
    X, names = d.X, list(d.feature_names)
    cols = [X[:, j] for j in range(X.shape[1])]
    cols += [X[:, i] * X[:, j] for i in range(X.shape[1]) for j in range(i + 1, X.shape[1])]
    cols += [X[:, j] ** 2 for j in range(X.shape[1]) if names[j] != "sex"]
    return np.column_stack(cols), d.y


def _load_breast_cancer():
    from jaxreg.datasets import load_breast_cancer

    d = load_breast_cancer()
    return d.X, (np.asarray(d.y) == "malignant").astype(np.float64)


def _load_digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ProblemUnavailable("scikit-learn is not installed (digits ships with it)") from exc
    d = load_digits()
    keep = d.data.std(axis=0) > 0
    return d.data[:, keep], (d.target >= 5).astype(np.float64)


def _load_srbct():
    try:
        from jaxreg.datasets import load_srbct
    except ImportError as exc:
        raise ProblemUnavailable("jaxreg.datasets.load_srbct is not available in this checkout") from exc
    try:
        d = load_srbct()
    except (FileNotFoundError, OSError) as exc:
        raise ProblemUnavailable(f"srbct data file missing: {exc}") from exc
    return d.X, (np.asarray(d.y) == "EWS").astype(np.float64)


REAL = (
    Spec("diabetes", "gaussian", "real", 442, 10, None, _load_diabetes,
         "jaxreg.datasets.load_diabetes (Efron et al. 2004)"),
    Spec("diabetes-quad", "gaussian", "real", 442, 64, None, _load_diabetes_quad,
         "diabetes + 45 pairwise products + 9 squares (Efron et al. 2004, quadratic model)"),
    Spec("breast-cancer", "binomial", "real", 569, 30, None, _load_breast_cancer,
         "jaxreg.datasets.load_breast_cancer, y = malignant"),
    Spec("digits", "binomial", "real", 1797, 61, None, _load_digits,
         "sklearn.datasets.load_digits (8x8 pixels, 3 blank dropped), y = digit >= 5"),
    Spec("srbct", "binomial", "real", 83, 2308, None, _load_srbct,
         "jaxreg.datasets.load_srbct (Khan et al. 2001 gene expression), y = EWS"),
)

PROBLEMS: dict = {}
for _fam in FAMILIES:
    for (_n, _p) in TABLE1_SIZES:
        for _rho in TABLE1_RHOS:
            _s = synthetic_spec(_n, _p, _rho, _fam)
            PROBLEMS[_s.id] = _s
for _s in REAL:
    PROBLEMS[_s.id] = _s

GROUPS = {
    "table1": [s.id for s in PROBLEMS.values() if s.group == "table1"],
    "table1-binomial": [s.id for s in PROBLEMS.values() if s.group == "table1-binomial"],
    "real": [s.id for s in REAL],
}
GROUPS["all"] = GROUPS["table1"] + GROUPS["table1-binomial"] + GROUPS["real"]


def parse_problems(text: str, seed: int = 0) -> list:
    """Comma-separated ids or group names -> Specs.

    Ids: registry ids (``1000x100x0.5``, ``binomial:100x5000x0.9``, ``srbct``, ...), groups
    (``table1``, ``table1-binomial``, ``real``, ``all``), or any synthetic size
    ``[binomial:]NxPxRHO`` outside the registry (e.g. ``200x20x0.5`` for a quick run).
    """
    specs = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in GROUPS or item in PROBLEMS:
            for spec in (PROBLEMS[i] for i in GROUPS.get(item, [item])):
                if seed != 0 and spec.rho is not None:  # synthetic: regenerate with this seed
                    spec = synthetic_spec(spec.n, spec.p, spec.rho, spec.family, seed)
                specs.append(spec)
            continue
        family, _, size = item.rpartition(":")
        family = family or "gaussian"
        try:
            n, p, rho = size.lower().split("x")
            spec = synthetic_spec(int(n), int(p), float(rho), family, seed)
        except ValueError as exc:
            raise ValueError(
                f"unknown problem {item!r}: use a registry id ({', '.join(s.id for s in REAL)}, "
                f"[binomial:]NxPxRHO) or a group ({', '.join(GROUPS)})"
            ) from exc
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r} in {item!r}")
        specs.append(spec)
    return list(dict.fromkeys(specs))  # drop duplicates, keep order


# --------------------------------------------------------------------------------------
# The data every library gets, the grid, the objective and the dual bounds
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    """Raw and standardized data of one problem, and the grid every library solves.

    ``Xs = (X - xbar) / s`` (Fortran order). Libraries that do not standardize internally get
    ``Xs`` and ``y_std``: the centered y without an intercept (gaussian), or y itself with an
    unpenalized intercept (binomial).
    """

    family: str
    X: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    xbar: np.ndarray
    s: np.ndarray
    ybar: float
    Xs: np.ndarray
    y_std: np.ndarray

    @property
    def shape(self):
        return self.X.shape


def lambda_max(Xs: np.ndarray, y: np.ndarray) -> float:
    """max_j |Xs_j' (y - mean(y))| / n: the gradient at the intercept-only fit, both families."""
    return float(np.max(np.abs(Xs.T @ (y - y.mean()))) / Xs.shape[0])


def lambda_grid(Xs: np.ndarray, y: np.ndarray, n_lambdas: int = N_LAMBDAS) -> np.ndarray:
    """jaxreg's (glmnet's) default grid: log-spaced from lambda_max to 1e-4 or 1e-2 of it."""
    n, p = Xs.shape
    ratio = 1e-4 if n > p else 1e-2
    return lambda_max(Xs, y) * np.logspace(0.0, np.log10(ratio), int(n_lambdas))


def make_problem(family: str, X: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None,
                 n_lambdas: int = N_LAMBDAS) -> Problem:
    """Standardize X (1/n sd), build the inputs and (unless given) the default grid."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xbar, s, ybar = X.mean(axis=0), X.std(axis=0), float(y.mean())
    if np.any(s == 0):
        raise ValueError("constant columns: drop them before benchmarking")
    Xs = np.asfortranarray((X - xbar) / s)
    grid = lambda_grid(Xs, y, n_lambdas) if grid is None else np.asarray(grid, dtype=np.float64)
    y_std = y - ybar if family == "gaussian" else y.copy()
    return Problem(family, X, y, grid, xbar, s, ybar, Xs, y_std)


def to_original_scale(problem: Problem, coef_std: np.ndarray, intercept_std: np.ndarray | None):
    """Coefficients (K, p) fit on (Xs, y_std) -> original-scale coefficients and intercepts.

    ``intercept_std`` None means a gaussian fit without intercept on the centered y.
    """
    coef = np.asarray(coef_std, dtype=np.float64) / problem.s
    b0 = problem.ybar if intercept_std is None else np.asarray(intercept_std, dtype=np.float64)
    return coef, b0 - coef @ problem.xbar


def objective(problem: Problem, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """The objective (module docstring) at each lambda, float64, original scale.

    coef (K, p) and intercept (K,) on the original scale of X; returns (K,). Rows with
    non-finite values (a lambda a library did not return) give +inf.
    """
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    eta = intercept[:, None] + coef @ problem.X.T
    if problem.family == "gaussian":
        loss = 0.5 * np.mean((problem.y[None, :] - eta) ** 2, axis=1)
    else:
        loss = np.mean(np.logaddexp(0.0, eta) - problem.y[None, :] * eta, axis=1)
    with np.errstate(invalid="ignore"):
        obj = loss + problem.grid * (np.abs(coef) @ problem.s)
    return np.where(np.isfinite(obj), obj, np.inf)


def _xlogx(z):
    return np.where(z > 0, z * np.log(np.where(z > 0, z, 1.0)), 0.0)


def dual_bound(problem: Problem, coef: np.ndarray, intercept: np.ndarray | None = None) -> np.ndarray:
    """A lower bound on the optimal objective at each lambda, from the dual point of a solution.

    Computed on the standardized problem (``w = s * beta``; the objective is the same).
    Weak duality: for any theta with ``1' theta = 0`` and ``||Xs' theta||_inf <= lambda``,
    ``-F*(theta) <= optimum``, where ``F`` is the loss as a function of eta.

    - gaussian: intercept profiled out by centering; ``r = yc - Xs w``,
      ``theta = r / max(n lambda, ||Xs' r||_inf)``,
      ``D = (||yc||^2 - ||yc - n lambda theta||^2) / (2n)``.
    - binomial: the intercept is re-optimized for the given w (1-D Newton, so that
      ``sum_i (p_i - y_i) = 0``); ``g = (y - p) / n`` and ``theta = c g`` with
      ``c = min(1, lambda / ||Xs' g||_inf)``; ``z = y - n theta`` lies in [0, 1] and
      ``D = -1/n sum_i [z_i log z_i + (1 - z_i) log(1 - z_i)]``. A second point from one
      linearized Newton step (``_newton_corrected``) is tried too; the larger bound counts.

    Independent of every library: it reads only coefficients.
    """
    n = problem.X.shape[0]
    w = np.nan_to_num(np.asarray(coef, dtype=np.float64) * problem.s)
    lam = problem.grid
    if problem.family == "gaussian":
        yc = problem.y_std
        resid = yc[None, :] - w @ problem.Xs.T
        scale = np.maximum(n * lam, np.max(np.abs(resid @ problem.Xs), axis=1))
        theta = resid / scale[:, None]
        gap_term = yc[None, :] - (n * lam)[:, None] * theta
        return (yc @ yc - np.sum(gap_term**2, axis=1)) / (2 * n)
    y = problem.y
    xw = w @ problem.Xs.T  # (K, n)
    b0 = _profile_intercept(y, xw)
    prob = 1.0 / (1.0 + np.exp(-(b0[:, None] + xw)))
    plain = _binomial_dual(problem.Xs, y, prob, lam)
    corrected = np.array([_binomial_dual(problem.Xs, y, _newton_corrected(problem.Xs, y, prob[k], w[k], lam[k]), lam[k:k + 1])[0]
                          for k in range(len(lam))])
    return np.maximum(plain, corrected)


def _binomial_dual(Xs, y, prob, lam):
    """``-1/n sum phi(z)`` at ``theta = c (y - p) / n`` (rows of prob: (K, n)); -inf where the
    scaled point leaves [0, 1]."""
    g = (y[None, :] - prob) / Xs.shape[0]
    c = np.minimum(1.0, lam / np.maximum(np.max(np.abs(g @ Xs), axis=1), 1e-300))
    z = y[None, :] - c[:, None] * (y[None, :] - prob)  # y - n theta, a convex combination of y and p
    inside = np.all((z >= 0) & (z <= 1), axis=1)
    return np.where(inside, -np.mean(_xlogx(np.clip(z, 0, 1)) + _xlogx(np.clip(1.0 - z, 0, 1)), axis=1), -np.inf)


def _newton_corrected(Xs, y, prob, w, lam):
    """Fitted probabilities after one linearized Newton step on the intercept and the
    non-zero (or violating) coefficients, re-centered so that ``sum (y - p) = 0``: a second
    dual point, tight where the solution's KKT residual is below its coefficients' rounding
    (the plain point's gap is linear in that residual). Any p gives a valid bound."""
    n = Xs.shape[0]
    grad = Xs.T @ (y - prob) / n
    active = (w != 0) | (np.abs(grad) > lam)
    sign = np.where(w != 0, np.sign(w), np.sign(grad))
    A = np.column_stack([np.ones(n), Xs[:, active]])
    curv = prob * (1.0 - prob) / n
    v = np.concatenate([[np.sum(y - prob) / n], grad[active] - lam * sign[active]])
    delta = np.linalg.lstsq(A.T @ (curv[:, None] * A), v, rcond=None)[0]
    p_c = prob + n * curv * (A @ delta)
    return (p_c + n * curv * np.sum(y - p_c) / max(n * np.sum(curv), 1e-300))[None, :]


def _profile_intercept(y: np.ndarray, xw: np.ndarray, iters: int = 100) -> np.ndarray:
    """Per row of xw (K, n): the intercept minimizing the logistic loss (safeguarded Newton)."""
    ybar = np.clip(y.mean(), 1e-12, 1 - 1e-12)
    b0 = np.full(xw.shape[0], np.log(ybar / (1 - ybar))) - np.mean(xw, axis=1)
    for _ in range(iters):
        prob = 1.0 / (1.0 + np.exp(-(b0[:, None] + xw)))
        grad = np.mean(prob - y[None, :], axis=1)
        hess = np.maximum(np.mean(prob * (1 - prob), axis=1), 1e-12)
        step = np.clip(grad / hess, -5.0, 5.0)
        b0 = b0 - step
        if np.max(np.abs(step)) < 1e-15 * (1 + np.max(np.abs(b0))):
            break
    return b0


def worst_rel_subopt(obj: np.ndarray, ref: np.ndarray) -> float:
    """max over lambdas of (obj - ref) / ref."""
    return float(np.max((obj - ref) / ref))


class Loaded(NamedTuple):
    spec: Spec
    problem: Problem


def load_problem(spec: Spec) -> Loaded:
    """Load a spec's data and build its Problem (raises ProblemUnavailable)."""
    X, y = spec.load()
    return Loaded(spec, make_problem(spec.family, X, y))
