"""scikit-learn estimators on jaxreg paths: ElasticNet, ElasticNetCV, LogisticNet, LogisticNetCV.

The objective
-------------
For observations ``i = 1..n`` with sample weights ``w_i`` normalized to sum to one, offset
``o_i`` and ``eta_i = x_i . coef + intercept + o_i``, every estimator solves, at penalty
strength ``alpha``,

    minimize  sum_i w_i * l(y_i, eta_i)
            + alpha * sum_j pf_j * ( l1_ratio * |coef_j| + (1 - l1_ratio) / 2 * coef_j**2 )
    subject to  lower_bounds_j <= coef_j <= upper_bounds_j

with ``l(y, eta) = (y - eta)**2 / 2`` for the regressors and the log-loss
``l(y, eta) = log(1 + exp(eta)) - y * eta`` (``y`` in {0, 1}) for the classifiers.

- Regressors: with unit weights this is ``1 / (2 n) * ||y - X coef - intercept||^2 + alpha *
  penalty``, exactly scikit-learn's ``ElasticNet`` objective: the same ``alpha`` and
  ``l1_ratio`` give the same coefficients (with ``standardize=False``, the default).
- Classifiers: the *mean* log-loss plus ``alpha * penalty``. scikit-learn's
  ``LogisticRegression`` minimizes ``C * sum_i loss_i + penalty`` instead, so
  ``C = 1 / (n * alpha)`` gives the same coefficients (l1, l2 and elastic net alike).

Names: scikit-learn ``alpha`` = jaxreg / glmnet ``lambda``; ``l1_ratio`` = glmnet ``alpha``.
``penalty_factor``, ``lower_bounds``, ``upper_bounds``, ``standardize``, ``lambda_min_ratio``
are glmnet's ``penalty.factor``, ``lower.limits``, ``upper.limits``, ``standardize``,
``lambda.min.ratio`` (scikit-learn's ``eps``); ``lower_bounds=0`` is scikit-learn's
``positive=True``.

``standardize`` defaults to False in all four estimators, as in scikit-learn, so that an
``alpha`` means what it means there (put a ``StandardScaler`` in a ``Pipeline``, or pass
``standardize=True`` for glmnet's convention: the penalty then applies to coefficients of
columns scaled to unit weighted variance, and coefficients are reported on the original
scale).

Paths
-----
Single-``alpha`` estimators solve the whole path from ``lambda_max`` (the smallest alpha at
which every penalized coefficient is zero) down to ``alpha``, warm-starting each value from the
previous one as glmnet does, and keep it (``alphas_``, ``coef_path_``, ``gap_path_``). CV
estimators solve every (fold, l1_ratio) path and the full-data paths in ONE batched compiled
call (``jaxreg.path_batch``); a fold is a weight mask, so any scikit-learn splitter works.

Multiclass
----------
The classifiers are binary logistic models; with ``K > 2`` classes they fit one-vs-rest (OvR):
K binomial paths (class k against the rest) solved in one batched call. ``predict_proba``
then normalizes the K one-vs-rest probabilities to sum to one (as scikit-learn's OvR does).

Input
-----
Dense arrays, pandas or polars DataFrames (column names are kept in ``feature_names_in_``).
float32 input is solved in float32 and gives float32 coefficients; anything else is solved in
float64. scipy.sparse input is refused with a TypeError (jaxreg does not densify silently).
``__init__`` only stores its arguments; ``fit`` validates them and raises
``InvalidParameterError`` (both a ValueError and a TypeError, like scikit-learn's) for a bad
hyperparameter, and a ValueError naming the problem for bad data.

scikit-learn is optional: without it the estimators keep the same API (``get_params``,
``set_params``, ``score``; integer ``cv`` gives contiguous K-fold splits for regressors and
``jaxreg.make_folds(stratified=True, seed=0)`` for classifiers), and validation falls back to
jaxreg's own checks.
"""

from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np

from jaxreg._validation import validate_inputs
from jaxreg.cv import _PREDICT_ROWS, CVResult, _pointwise_loss, _select, _weighted_auc, make_folds
from jaxreg.families import get_family
from jaxreg.path import path as _path
from jaxreg.sweep import _DEFAULT_MEMORY, _solve_batch
from jaxreg.sweep import path_batch as _path_batch

try:  # scikit-learn is optional
    from sklearn.base import BaseEstimator as _BaseEstimator
    from sklearn.base import ClassifierMixin as _ClassifierMixin
    from sklearn.base import RegressorMixin as _RegressorMixin
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import check_cv as _sk_check_cv
    from sklearn.utils.multiclass import check_classification_targets as _sk_check_targets
    from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted
    from sklearn.utils.validation import validate_data as _sk_validate_data

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised in a subprocess / reloaded module by the tests
    HAVE_SKLEARN = False

__all__ = ["ElasticNet", "ElasticNetCV", "LogisticNet", "LogisticNetCV", "InvalidParameterError", "HAVE_SKLEARN"]


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter has a bad value or type (raised by ``fit``; both a ValueError and a
    TypeError, as scikit-learn's own InvalidParameterError)."""


_DTYPES = [np.float64, np.float32]
_REG_SCORES = {"mse": "mse", "deviance": "mse", "mae": "mae",
               "neg_mean_squared_error": "mse", "neg_mean_absolute_error": "mae"}
_CLF_SCORES = {"deviance": "deviance", "class": "class", "auc": "auc", "neg_log_loss": "deviance",
               "log_loss": "deviance", "accuracy": "class", "roc_auc": "auc"}


# --------------------------------------------------------------------------- fallbacks

if not HAVE_SKLEARN:

    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before ``fit`` (as scikit-learn's NotFittedError)."""

    def _same_value(a, b):
        if a is b:
            return True
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return False
        try:
            return type(a) is type(b) and bool(a == b)
        except Exception:  # pragma: no cover - exotic parameter values
            return False

    class _BaseEstimator:
        """The parts of scikit-learn's BaseEstimator jaxreg's estimators use."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            """Estimator parameters as a dict (``deep`` is accepted for compatibility)."""
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            """Set parameters by name; returns self."""
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                        f"Valid parameters are: {valid!r}."
                    )
                setattr(self, key, value)
            return self

        def __repr__(self):
            sig = inspect.signature(type(self).__init__)
            defaults = {p.name: p.default for p in sig.parameters.values() if p.name != "self"}
            changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same_value(v, defaults.get(k))]
            return f"{type(self).__name__}({', '.join(changed)})"

    class _RegressorMixin:
        """``score``: the coefficient of determination R^2 of ``predict(X)``."""

        _estimator_type = "regressor"

        def score(self, X, y, sample_weight=None):
            y = np.asarray(y, dtype=np.float64).reshape(-1)
            pred = np.asarray(self.predict(X), dtype=np.float64).reshape(-1)
            w = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
            mean = np.sum(w * y) / np.sum(w)
            ss_res = np.sum(w * (y - pred) ** 2)
            ss_tot = np.sum(w * (y - mean) ** 2)
            if ss_tot == 0:
                return 1.0 if ss_res == 0 else 0.0
            return float(1.0 - ss_res / ss_tot)

    class _ClassifierMixin:
        """``score``: the (weighted) accuracy of ``predict(X)``."""

        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None):
            y = np.asarray(y).reshape(-1)
            pred = np.asarray(self.predict(X)).reshape(-1)
            w = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
            return float(np.sum(w * (pred == y)) / np.sum(w))


# --------------------------------------------------------------------------- validation


def _feature_names(X):
    """Column names of a DataFrame (pandas, polars, ...) when they are all strings, else None."""
    cols = getattr(X, "columns", None)
    if cols is None or hasattr(X, "nnz"):
        return None
    names = [c for c in cols]
    if names and all(isinstance(c, str) for c in names):
        return np.asarray(names, dtype=object)
    return None


def _as_dense_X(X, name):
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(
            f"{name} got scipy.sparse input; jaxreg does not support sparse data. Pass a dense "
            "array (for example X.toarray()) if it fits in memory."
        )
    if hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        X = X.to_numpy()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array X (n_samples, n_features); got {X.ndim} dimension(s). Reshape "
            "your data with X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample."
        )
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported")
    if X.dtype != np.float32:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X must be numeric: {exc}") from exc
    if X.shape[1] < 1:
        raise ValueError(f"X has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if not np.all(np.isfinite(X)):
        raise ValueError("Input X contains NaN or infinity.")
    return np.ascontiguousarray(X)


def _check_fit_data(est, X, y, *, classifier):
    """Validated ``(X, y)`` for fit; sets ``n_features_in_`` and ``feature_names_in_``."""
    name = type(est).__name__
    if HAVE_SKLEARN:
        # order="C": an F-ordered array (what pandas hands out) would make XLA compile the
        # path program a second time for the same shapes (jit caches per input layout).
        X, y = _sk_validate_data(
            est, X, y, accept_sparse=False, dtype=_DTYPES, order="C", ensure_min_samples=2,
            y_numeric=not classifier, multi_output=False,
        )
        if classifier:
            _sk_check_targets(y)
        return X, y
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    names = _feature_names(X)
    X = _as_dense_X(X, name)
    if X.shape[0] < 2:
        raise ValueError(f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a minimum of 2 is required by {name}.")
    if hasattr(y, "to_numpy") and not isinstance(y, np.ndarray):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected; it is raveled.", UserWarning, stacklevel=3)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    if classifier:
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)):
                raise ValueError("Input y contains NaN or infinity.")
            if np.any(y != np.round(y)):
                raise ValueError("Unknown label type: continuous. Classifiers need discrete class labels.")
    else:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numeric: {exc}") from exc
        if not np.all(np.isfinite(y)):
            raise ValueError("Input y contains NaN or infinity.")
    est.n_features_in_ = X.shape[1]
    if names is not None:
        est.feature_names_in_ = names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    return X, y


def _check_predict_X(est, X):
    name = type(est).__name__
    if HAVE_SKLEARN:
        _sk_check_is_fitted(est, "coef_")
        return _sk_validate_data(est, X, reset=False, accept_sparse=False, dtype=_DTYPES)
    if not hasattr(est, "coef_"):
        raise NotFittedError(f"This {name} instance is not fitted yet. Call 'fit' with appropriate arguments before using this estimator.")
    X = _as_dense_X(X, name)
    if X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {name} is expecting {est.n_features_in_} features as input.")
    return X


def _vector(name, value, n):
    """An optional per-sample float64 vector of length n (sample_weight, offset)."""
    if value is None:
        return None
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        raise TypeError(f"{name} must be dense; got a scipy.sparse matrix")
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},); got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite value(s)")
    if name == "sample_weight":
        if np.any(arr < 0):
            raise ValueError("sample_weight must be non-negative")
        if not np.any(arr > 0):
            raise ValueError("sample_weight must have at least one positive entry (all are zero)")
    return arr


def _check_real(name, value, *, low, high=np.inf, low_inclusive=True, high_inclusive=True):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    ok_low = v >= low if low_inclusive else v > low
    ok_high = v <= high if high_inclusive else v < high
    if not (np.isfinite(v) and ok_low and ok_high):
        lo = "[" if low_inclusive else "("
        hi = "]" if high_inclusive else ")"
        raise InvalidParameterError(f"{name} must be a finite number in {lo}{low}, {high}{hi}; got {value!r}")
    return v


def _check_int(name, value, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_common(est):
    """Validate the options every estimator shares; returns (tol or None, max_iter)."""
    for flag in ("fit_intercept", "standardize"):
        if not isinstance(getattr(est, flag), (bool, np.bool_)):
            raise InvalidParameterError(f"{flag} must be a boolean; got {getattr(est, flag)!r}")
    tol = None if est.tol is None else _check_real("tol", est.tol, low=0.0, low_inclusive=False)
    max_iter = _check_int("max_iter", est.max_iter, 1)
    if est.lambda_min_ratio is not None:
        _check_real("lambda_min_ratio", est.lambda_min_ratio, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    return tol, max_iter


def _check_l1_ratios(value, allow_list):
    if allow_list and not np.isscalar(value) and not isinstance(value, numbers.Real):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"l1_ratio must be a number or a sequence of numbers in [0, 1]; got {value!r}") from exc
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidParameterError(f"l1_ratio must be a number or a non-empty 1-D sequence; got {value!r}")
        for v in arr:
            _check_real("l1_ratio", float(v), low=0.0, high=1.0)
        return arr, False
    return np.array([_check_real("l1_ratio", value, low=0.0, high=1.0)]), True


# --------------------------------------------------------------------------- grids


def _weighted_column_moments(X, v, second=True, block_bytes=1 << 22):
    """``(v @ X, v @ (X * X))`` (p,) each in float64, over row blocks of X (n, p) of about
    ``block_bytes``, so that neither a float64 copy of X nor ``X * X`` is ever formed."""
    n, p = X.shape
    rows = max(1, block_bytes // max(1, 8 * p))
    first, squares = np.zeros(p), np.zeros(p) if second else None
    for start in range(0, n, rows):
        Xb = X[start:start + rows].astype(np.float64, copy=False)
        vb = v[start:start + rows]
        first += vb @ Xb
        if second:
            squares += vb @ (Xb * Xb)
    return first, squares


def _null_gradient_max(data, fit_intercept, standardize, binomial):
    """``max_j |g_j| / pf_j`` over penalized, non-constant, non-fixed features at the null fit.

    ``g`` is the gradient of the data term with respect to the (standardized, if
    ``standardize``) coefficients at the fit of the intercept and the unpenalized features
    alone, so ``lambda_max = result / max(l1_ratio, 1e-3)``, the rule of ``jaxreg.path``. The
    null fit ignores bounds on unpenalized features; the grid then starts near, not at,
    lambda_max, which changes the warm-start schedule only, never a solution.
    """
    X = data.X
    w = data.w.astype(np.float64)
    y = data.y.astype(np.float64)
    off = data.offset.astype(np.float64)
    pf = data.pf.astype(np.float64)
    p = X.shape[1]
    center, second = _weighted_column_moments(X, w)
    center = center if fit_intercept else np.zeros(p)
    var = np.maximum(second - center * center, 0.0)
    eps = np.finfo(data.dtype).eps
    constant = var <= 1e3 * eps * np.maximum(second, np.finfo(data.dtype).tiny)
    scale = np.where(var > 0, np.sqrt(var), 1.0) if standardize else np.ones(p)
    movable = (data.lower < data.upper) & ~constant
    unpen = movable & (pf == 0)
    penal = movable & (pf > 0)
    if not np.any(penal):
        return 0.0
    cols = [np.ones(X.shape[0])] if fit_intercept else []
    cols += [X[:, j].astype(np.float64) for j in np.flatnonzero(unpen)]
    Z = np.stack(cols, axis=1) if cols else np.zeros((X.shape[0], 0))
    sw = np.sqrt(w)
    if not binomial:
        resid = y - off
        if Z.shape[1]:
            beta = np.linalg.lstsq(Z * sw[:, None], resid * sw, rcond=None)[0]
            resid = resid - Z @ beta
    else:
        beta = np.zeros(Z.shape[1])
        for _ in range(50):
            mu = 0.5 * (1.0 + np.tanh(0.5 * (off + Z @ beta)))
            if not Z.shape[1]:
                break
            grad = Z.T @ (w * (mu - y))
            hess = (Z * (w * mu * (1 - mu))[:, None]).T @ Z + 1e-12 * np.eye(Z.shape[1])
            step = np.linalg.solve(hess, grad)
            beta = beta - step
            if not np.all(np.isfinite(beta)) or np.max(np.abs(step)) < 1e-12 * (1 + np.max(np.abs(beta))):
                break
        resid = y - 0.5 * (1.0 + np.tanh(0.5 * (off + Z @ beta)))
    wr = w * resid
    grad = (_weighted_column_moments(X, wr, second=False)[0] - center * np.sum(wr)) / scale
    value = float(np.max(np.abs(grad[penal]) / pf[penal]))
    return value if np.isfinite(value) else 0.0


def _lambda_max(gmax, l1_ratio):
    lmax = gmax / max(float(l1_ratio), 1e-3)
    return lmax if lmax > 0 else 1.0


def _min_ratio(lambda_min_ratio, n, p):
    return lambda_min_ratio if lambda_min_ratio is not None else (1e-4 if n > p else 1e-2)


def _path_to_alpha(lmax, alpha, n_lambdas, ratio):
    """``n_lambdas`` decreasing values from lambda_max down to alpha (log-spaced).

    alpha >= lambda_max: every value is alpha (the null fit). alpha == 0: log-spaced down to
    ``ratio * lambda_max``, then 0.
    """
    if n_lambdas == 1 or alpha >= lmax:
        return np.full(n_lambdas, alpha)
    if alpha > 0:
        return np.geomspace(lmax, alpha, n_lambdas)
    return np.concatenate([np.geomspace(lmax, lmax * ratio, n_lambdas - 1), [0.0]])


# --------------------------------------------------------------------------- base


class _NetBase(_BaseEstimator):
    """Shared fit machinery (not public)."""

    _binomial = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.target_tags.multi_output = False
        tags.target_tags.single_output = True
        return tags

    def _family(self):
        return "binomial" if self._binomial else "gaussian"

    def _validate(self, X, y, sample_weight, offset):
        tol, max_iter = _check_common(self)
        X, y = _check_fit_data(self, X, y, classifier=self._binomial)
        n = X.shape[0]
        w = _vector("sample_weight", sample_weight, n)
        off = _vector("offset", offset, n)
        return X, y, w, off, tol, max_iter

    def _targets(self, y, w):
        """Responses to fit: regressors (1, n) float; classifiers (T, n) 0/1 with T = 1 for two
        classes (class ``classes_[1]`` is coded 1) and T = K one-vs-rest targets for K > 2."""
        if not self._binomial:
            return y.astype(np.float64)[None, :]
        classes, codes = np.unique(y, return_inverse=True)
        name = type(self).__name__
        if classes.size < 2:
            raise ValueError(
                f"{name} needs samples of at least 2 classes in the data; got 1 class: {classes[0]!r}"
            )
        weight = np.ones(y.shape[0]) if w is None else w
        present = np.array([np.sum(weight[codes == k]) > 0 for k in range(classes.size)])
        if np.sum(present) < 2:
            raise ValueError(
                f"{name} needs samples of at least 2 classes with positive sample_weight; only "
                f"class {classes[present].tolist()} has positive weight"
            )
        self.classes_ = classes
        if classes.size == 2:
            return (codes == 1).astype(np.float64)[None, :]
        if not np.all(present):
            raise ValueError(
                f"{name}: classes {classes[~present].tolist()} have zero total sample_weight; a "
                "one-vs-rest model cannot be fitted for a class without positive weight"
            )
        return np.stack([(codes == k).astype(np.float64) for k in range(classes.size)])

    def _prepare(self, X, target, w, off, l1_ratio, X_checked=False):
        return validate_inputs(
            X, target, family_name=self._family(), sample_weight=w, offset=off,
            penalty_factor=self.penalty_factor, lower_bounds=self.lower_bounds,
            upper_bounds=self.upper_bounds, l1_ratio=l1_ratio, X_checked=X_checked,
        )

    def _gmax(self, X, targets, w, off, l1_ratio):
        out = []
        for t, target in enumerate(targets):
            data = self._prepare(X, target, w, off, l1_ratio, X_checked=t > 0)
            out.append(_null_gradient_max(data, self.fit_intercept, self.standardize, self._binomial))
        return out

    def _solver_kwargs(self, tol, max_iter):
        return dict(
            family=self._family(), penalty_factor=self.penalty_factor, lower_bounds=self.lower_bounds,
            upper_bounds=self.upper_bounds, fit_intercept=bool(self.fit_intercept),
            standardize=bool(self.standardize), tol=tol, max_iter=max_iter,
        )

    def _store_paths(self, paths, index):
        """Fitted attributes from one full-data path per target and the chosen grid index per target."""
        T = len(paths)
        coef = np.stack([paths[t].coef[index[t]] for t in range(T)])
        intercept = np.array([paths[t].intercept[index[t]] for t in range(T)], dtype=coef.dtype)
        if not self.fit_intercept:
            intercept = np.zeros_like(intercept)
        gaps = np.array([paths[t].gap[index[t]] for t in range(T)])
        n_iter = np.array([int(np.sum(paths[t].n_iter)) for t in range(T)])
        coef_path = np.stack([paths[t].coef.T for t in range(T)])  # (T, p, K)
        if self._binomial:
            self.coef_, self.intercept_ = coef, intercept
            self.dual_gap_, self.n_iter_ = gaps, n_iter
            self.coef_path_ = coef_path
            self.intercept_path_ = np.stack([paths[t].intercept for t in range(T)])
        else:
            self.coef_, self.intercept_ = coef[0], intercept[0]
            self.dual_gap_, self.n_iter_ = float(gaps[0]), int(n_iter[0])
            self.coef_path_ = coef_path[0]
            self.intercept_path_ = paths[0].intercept

    # ---- prediction

    def _decision(self, X, offset):
        X = _check_predict_X(self, X)
        coef = np.atleast_2d(self.coef_)
        scores = X @ coef.T + np.atleast_1d(self.intercept_)[None, :]
        if offset is not None:
            scores = scores + _vector("offset", offset, X.shape[0])[:, None]
        return scores


class _RegressorBase(_NetBase):
    def predict(self, X, offset=None):
        """Predicted values ``X @ coef_ + intercept_ (+ offset)``, shape (n_samples,).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor (glmnet's ``newoffset``).
        """
        return self._decision(X, offset)[:, 0]


class _ClassifierBase(_NetBase):
    _binomial = True

    def decision_function(self, X, offset=None):
        """Linear predictor: shape (n_samples,) for two classes (the log-odds of ``classes_[1]``),
        (n_samples, n_classes) one-vs-rest log-odds for more."""
        scores = self._decision(X, offset)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X, offset=None):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``.

        Two classes: ``[1 - p, p]`` with ``p = sigmoid(decision_function(X))``. More classes:
        the one-vs-rest sigmoids normalized to sum to one per row.
        """
        scores = self._decision(X, offset)
        prob = 0.5 * (1.0 + np.tanh(0.5 * scores))
        if prob.shape[1] == 1:
            return np.hstack([1.0 - prob, prob])
        total = prob.sum(axis=1, keepdims=True)
        return prob / np.where(total > 0, total, 1.0)

    def predict_log_proba(self, X, offset=None):
        """Logarithm of ``predict_proba``, shape (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, offset))

    def predict(self, X, offset=None):
        """Predicted class labels (elements of ``classes_``), shape (n_samples,)."""
        scores = self._decision(X, offset)
        if scores.shape[1] == 1:
            return self.classes_[(scores[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


# --------------------------------------------------------------------------- single alpha


class _SingleAlphaMixin:
    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the path from lambda_max down to ``alpha``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            float32 is solved in float32; anything else in float64. Not scipy.sparse.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative; normalized to sum to one (so integer weights act as repetitions).
        offset : array-like of shape (n_samples,), optional
            Added to the linear predictor; pass the same to ``predict``.

        Returns
        -------
        self
        """
        X, y, w, off, tol, max_iter = self._validate(X, y, sample_weight, offset)
        alpha = _check_real("alpha", self.alpha, low=0.0)
        (l1,), _ = _check_l1_ratios(self.l1_ratio, allow_list=False)
        K = _check_int("n_lambdas", self.n_lambdas, 1)
        targets = self._targets(y, w)
        n, p = X.shape
        ratio = _min_ratio(self.lambda_min_ratio, n, p)
        gmax = self._gmax(X, targets, w, off, l1)
        grids = np.stack([_path_to_alpha(_lambda_max(g, l1), alpha, K, ratio) for g in gmax])
        kwargs = self._solver_kwargs(tol, max_iter)
        if targets.shape[0] == 1:
            paths = (_path(X, targets[0], l1_ratio=l1, lambdas=grids[0], sample_weight=w, offset=off, **kwargs),)
        else:
            paths = tuple(_path_batch(X, targets, l1_ratio=l1, lambdas=grids, sample_weight=w, offset=off, **kwargs).members)
        self._store_paths(paths, [K - 1] * len(paths))
        self.alphas_ = paths[0].lambdas if not self._binomial else np.stack([pt.lambdas for pt in paths])
        self.gap_path_ = paths[0].gap if not self._binomial else np.stack([pt.gap for pt in paths])
        self.path_ = paths[0] if not self._binomial else paths
        return self


class ElasticNet(_RegressorMixin, _SingleAlphaMixin, _RegressorBase):
    """Linear regression with an elastic-net penalty, solved along a certified jaxreg path.

    Minimizes, with sample weights ``w_i`` normalized to sum to one (``1 / n`` by default),

        sum_i w_i (y_i - x_i . coef - intercept - offset_i)**2 / 2
        + alpha * sum_j pf_j * (l1_ratio * |coef_j| + (1 - l1_ratio) / 2 * coef_j**2)

    subject to ``lower_bounds <= coef <= upper_bounds``: scikit-learn's ``ElasticNet``
    objective exactly (same ``alpha``, same ``l1_ratio``, same answer with
    ``standardize=False``). The path from ``lambda_max`` down to ``alpha`` is solved with warm
    starts and kept; every point carries a duality-gap certificate.

    Parameters
    ----------
    alpha : float, default=1.0
        Penalty strength (>= 0); jaxreg's / glmnet's ``lambda``.
    l1_ratio : float in [0, 1], default=0.5
        1 is the lasso, 0 is ridge (glmnet's ``alpha``).
    fit_intercept : bool, default=True
    standardize : bool, default=False
        False (scikit-learn's convention): the penalty applies to the coefficients as they
        are. True (glmnet's default): to the coefficients of columns scaled to unit weighted
        variance; coefficients are still reported on the original scale.
    penalty_factor : array-like of shape (n_features,), optional
        Non-negative per-feature multipliers of the penalty (0 = unpenalized); rescaled to
        sum to n_features, as glmnet does.
    lower_bounds, upper_bounds : float or array-like of shape (n_features,), optional
        Box constraints on the coefficients (``lower <= 0 <= upper``); ``lower_bounds=0`` is
        scikit-learn's ``positive=True``.
    n_lambdas : int, default=100
        Number of path points, log-spaced from ``lambda_max`` down to ``alpha``.
    lambda_min_ratio : float in (0, 1), optional
        Only used when ``alpha == 0``: the path then runs down to
        ``lambda_min_ratio * lambda_max`` (default 1e-4 if n_samples > n_features, else
        1e-2) before the final 0.
    tol : float, optional
        Relative duality gap certified at every path point (default 1e-7 for float64 input,
        1e-4 for float32). This is not scikit-learn's ``tol``.
    max_iter : int, default=1000
        Inner iterations (Newton steps + coordinate sweeps) allowed per path point.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients at ``alpha``; float32 for float32 X.
    intercept_ : float
    alphas_ : ndarray of shape (n_lambdas,)
        The path, decreasing; ``alphas_[-1] == alpha``. All equal to ``alpha`` when
        ``alpha >= lambda_max``.
    coef_path_ : ndarray of shape (n_features, n_lambdas)
        Coefficients along the path (scikit-learn's ``enet_path`` layout).
    intercept_path_ : ndarray of shape (n_lambdas,)
    dual_gap_ : float
        Certified relative duality gap at ``alpha`` (an upper bound on the relative
        suboptimality of the objective).
    gap_path_ : ndarray of shape (n_lambdas,)
        The certificate at every path point.
    n_iter_ : int
        Inner iterations over the whole path.
    path_ : jaxreg.PathResult
        The full path (objective, KKT violation, deviance ratio, interpolation).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names (pandas, polars).
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        standardize=False,
        penalty_factor=None,
        lower_bounds=None,
        upper_bounds=None,
        n_lambdas=100,
        lambda_min_ratio=None,
        tol=None,
        max_iter=1000,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.penalty_factor = penalty_factor
        self.lower_bounds = lower_bounds
        self.upper_bounds = upper_bounds
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.tol = tol
        self.max_iter = max_iter


class LogisticNet(_ClassifierMixin, _SingleAlphaMixin, _ClassifierBase):
    """Logistic regression with an elastic-net penalty, solved along a certified jaxreg path.

    For two classes, with ``y_i = 1`` for ``classes_[1]`` and sample weights ``w_i``
    normalized to sum to one, minimizes the mean log-loss plus the penalty

        sum_i w_i (log(1 + exp(eta_i)) - y_i eta_i)
        + alpha * sum_j pf_j * (l1_ratio * |coef_j| + (1 - l1_ratio) / 2 * coef_j**2),
        eta_i = x_i . coef + intercept + offset_i,

    subject to ``lower_bounds <= coef <= upper_bounds``. scikit-learn's
    ``LogisticRegression(C=C)`` minimizes ``C * sum_i loss_i + penalty``: the two agree for
    ``alpha = 1 / (n_samples * C)`` (unit weights). With K > 2 classes the model is
    one-vs-rest: K binomial paths (class k against the rest) solved in one batched call.

    Parameters
    ----------
    alpha : float, default=0.01
        Penalty strength (>= 0) on the mean log-loss scale (not scikit-learn's ``C``).
    l1_ratio : float in [0, 1], default=0.5
        1 is the lasso, 0 is ridge.
    fit_intercept : bool, default=True
    standardize : bool, default=False
        As in :class:`ElasticNet` (False is scikit-learn's convention, True glmnet's).
    penalty_factor, lower_bounds, upper_bounds, n_lambdas, lambda_min_ratio, tol, max_iter
        As in :class:`ElasticNet`; bounds and penalty factors apply to every one-vs-rest model.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels (any comparable type, strings included).
    coef_ : ndarray of shape (1, n_features) for two classes, (n_classes, n_features) for more
    intercept_ : ndarray of shape (1,) or (n_classes,)
    alphas_ : ndarray of shape (n_targets, n_lambdas)
        Path of each binary model (n_targets = 1 for two classes, n_classes for OvR), from its
        own ``lambda_max`` down to ``alpha``.
    coef_path_ : ndarray of shape (n_targets, n_features, n_lambdas)
    intercept_path_ : ndarray of shape (n_targets, n_lambdas)
    dual_gap_ : ndarray of shape (n_targets,)
        Certified relative duality gap at ``alpha`` per binary model.
    gap_path_ : ndarray of shape (n_targets, n_lambdas)
    n_iter_ : ndarray of shape (n_targets,)
        Inner iterations over each path.
    path_ : tuple of jaxreg.PathResult, one per binary model
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    """

    def __init__(
        self,
        alpha=0.01,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        standardize=False,
        penalty_factor=None,
        lower_bounds=None,
        upper_bounds=None,
        n_lambdas=100,
        lambda_min_ratio=None,
        tol=None,
        max_iter=1000,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.penalty_factor = penalty_factor
        self.lower_bounds = lower_bounds
        self.upper_bounds = upper_bounds
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.tol = tol
        self.max_iter = max_iter


# --------------------------------------------------------------------------- cross-validation


def _cv_splits(est, X, y, groups, classifier):
    """List of (train, test) index arrays from ``est.cv``."""
    cv = est.cv
    if cv is None:
        cv = 5
    if isinstance(cv, numbers.Integral) and not isinstance(cv, (bool, np.bool_)):
        if cv < 2:
            raise InvalidParameterError(f"cv must be an integer >= 2, a splitter or an iterable of (train, test) splits; got {cv!r}")
    elif isinstance(cv, (bool, np.bool_, numbers.Real, str)):
        raise InvalidParameterError(f"cv must be an integer >= 2, a splitter or an iterable of (train, test) splits; got {cv!r}")
    n = X.shape[0]
    if HAVE_SKLEARN:
        splitter = _sk_check_cv(cv, y, classifier=classifier)
        splits = list(splitter.split(X, y, groups))
    elif isinstance(cv, numbers.Integral):
        if cv > n:
            raise ValueError(f"cv = {cv} folds need at least {cv} samples; got {n}")
        if classifier:
            folds = make_folds(y, int(cv), stratified=True, seed=0)
        else:
            sizes = np.full(cv, n // cv) + (np.arange(cv) < n % cv)
            folds = np.repeat(np.arange(cv), sizes)
        splits = [(np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in range(int(cv))]
    elif hasattr(cv, "split"):
        splits = list(cv.split(X, y, groups))
    else:
        splits = list(cv)
    out = []
    for k, split in enumerate(splits):
        try:
            train, test = split
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cv split {k} is not a (train, test) pair of index arrays") from exc
        train, test = np.asarray(train), np.asarray(test)
        if train.dtype == bool:
            train = np.flatnonzero(train)
        if test.dtype == bool:
            test = np.flatnonzero(test)
        if train.size == 0 or test.size == 0:
            raise ValueError(f"cv split {k} has an empty training or test set")
        if train.dtype.kind not in "iu" or test.dtype.kind not in "iu" or train.min() < 0 or test.min() < 0 \
                or train.max() >= n or test.max() >= n:
            raise ValueError(f"cv split {k} must hold sample indices in [0, {n})")
        out.append((train, test))
    if len(out) < 2:
        raise ValueError(f"cross-validation needs at least 2 splits; cv gave {len(out)}")
    return out


class _CVMixin:
    def fit(self, X, y, sample_weight=None, offset=None, groups=None):
        """Cross-validate the paths, pick ``alpha_`` (and ``l1_ratio_``), keep the full-data fit.

        Every (l1_ratio, split) training path and every full-data path is one member of a
        single batched ``jaxreg.path_batch`` call. The grid of each l1_ratio comes from the
        full data (glmnet's rule), so the selected ``alpha_`` is a point of the full-data path
        and ``coef_`` is that path's solution there (no refit).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Training weights within each split, and weights of the held-out errors.
        offset : array-like of shape (n_samples,), optional
        groups : array-like of shape (n_samples,), optional
            Passed to ``cv.split`` (for example for GroupKFold).

        Returns
        -------
        self
        """
        X, y, w, off, tol, max_iter = self._validate(X, y, sample_weight, offset)
        ratios, scalar_ratio = _check_l1_ratios(self.l1_ratio, allow_list=True)
        table = _CLF_SCORES if self._binomial else _REG_SCORES
        if not isinstance(self.scoring, str) or self.scoring not in table:
            raise InvalidParameterError(f"scoring must be one of {sorted(table)}; got {self.scoring!r}")
        scoring = table[self.scoring]
        if self.selection not in ("lambda_min", "lambda_1se"):
            raise InvalidParameterError(f"selection must be 'lambda_min' or 'lambda_1se'; got {self.selection!r}")
        n, p = X.shape
        alphas = self.alphas
        if isinstance(alphas, numbers.Integral) and not isinstance(alphas, (bool, np.bool_)):
            K = _check_int("alphas", alphas, 1)
            user = None
        else:
            if alphas is None or isinstance(alphas, (bool, np.bool_, str, numbers.Real)):
                raise InvalidParameterError(f"alphas must be an integer >= 1 or a 1-D array of non-negative values; got {alphas!r}")
            user = np.asarray(alphas, dtype=np.float64).reshape(-1) if np.ndim(alphas) == 1 else None
            if user is None or user.size == 0 or not np.all(np.isfinite(user)) or np.any(user < 0):
                raise InvalidParameterError(f"alphas must be an integer >= 1 or a non-empty 1-D array of finite non-negative values; got {alphas!r}")
            user = np.sort(user)[::-1]
            K = user.size
        targets = self._targets(y, w)
        splits = _cv_splits(self, X, y, groups, classifier=self._binomial)
        T, L, F = targets.shape[0], ratios.size, len(splits)
        weight = np.ones(n) if w is None else w
        masks = np.zeros((F, n))
        for f, (train, _) in enumerate(splits):
            masks[f, train] = 1.0
        train_w = masks * weight[None, :]
        for f in range(F):
            if not np.any(train_w[f] > 0):
                raise ValueError(f"cv split {f} leaves no training sample with positive sample_weight")
            if self._binomial:
                for t in range(T):
                    if np.unique(targets[t][train_w[f] > 0]).size < 2:
                        label = self.classes_[t] if T > 1 else None
                        what = f"class {label!r} against the rest" if T > 1 else "the binary problem"
                        raise ValueError(
                            f"the training set of cv split {f} has only one class for {what}; use "
                            "fewer or stratified folds"
                        )
        # Grids: from each target's lambda_max (full data), or the user's alphas.
        ratio = _min_ratio(self.lambda_min_ratio, n, p)
        if user is None:
            gmax = self._gmax(X, targets, w, off, ratios[0])
            steps = np.logspace(0.0, np.log10(ratio), K) if K > 1 else np.ones(1)
            grids = np.array([[_lambda_max(g, r) * steps for r in ratios] for g in gmax])  # (T, L, K)
        else:
            grids = np.broadcast_to(user, (T, L, K)).copy()
        offv = np.zeros(n) if off is None else off
        folds = np.full(n, -1, dtype=np.int64)
        for f in range(F - 1, -1, -1):
            folds[splits[f][1]] = f
        fold_weight = np.array([weight[test].sum() for _, test in splits])
        if not np.all(fold_weight > 0):
            raise ValueError("every cv test set needs positive total sample_weight")
        Wf = fold_weight / fold_weight.sum()
        higher = scoring == "auc"
        family = self._family()
        # Members b = (t L + l) (F + 1) + s: target t, l1_ratio l, s = 0 the full data and
        # s = 1..F the training sets. Each member's y and weights are handed over when it is
        # validated (no (members, n) arrays of them), and each fold is scored as soon as its
        # path is solved, in row chunks (no (n_test, K) predictions, no fold coefficients kept).
        S = F + 1
        cv_folds_all = np.zeros((T, L, F, K))

        def member(b):
            tl, s = divmod(b, S)
            return divmod(tl, L) + (s,)

        def score(b, res):
            t, l, s = member(b)
            if s == 0:
                return res  # the full-data path: kept
            test = splits[s - 1][1]
            coef = res.coef.T.astype(np.float64)
            chunks = [test[lo:lo + _PREDICT_ROWS] for lo in range(0, test.size, _PREDICT_ROWS)]

            def eta(rows):
                return X[rows].astype(np.float64) @ coef + res.intercept[None, :] + offv[rows, None]

            if scoring == "auc":
                full = np.concatenate([eta(rows) for rows in chunks])
                cv_folds_all[t, l, s - 1] = [_weighted_auc(targets[t][test], full[:, k], weight[test]) for k in range(K)]
            else:
                total = sum(weight[rows] @ _pointwise_loss(scoring, family, targets[t][rows], eta(rows)) for rows in chunks)
                cv_folds_all[t, l, s - 1] = total / weight[test].sum()
            return None

        kwargs = self._solver_kwargs(tol, max_iter)
        full_paths = _solve_batch(
            X, get_family(kwargs.pop("family")), T * L * S,
            y_of=lambda b: targets[member(b)[0]] if self._binomial else targets[0],
            weight_of=lambda b: weight if member(b)[2] == 0 else train_w[member(b)[2] - 1],
            offset_of=lambda b: off,
            batched={"y": bool(self._binomial and T > 1), "w": True, "offset": False},
            l1_ratios=[ratios[member(b)[1]] for b in range(T * L * S)],
            lambdas_of=lambda b: grids[member(b)[0], member(b)[1]],
            n_lambdas=K, lambda_min_ratio=None, chunk_size=None, max_memory=_DEFAULT_MEMORY, n_jobs=None,
            progress=False, consume=score, **kwargs,
        )
        results = []
        for t in range(T):
            cv_folds = cv_folds_all[t]
            paths = [full_paths[(t * L + l) * S] for l in range(L)]
            cv_mean = np.einsum("f,lfk->lk", Wf, cv_folds)
            cv_se = np.sqrt(np.einsum("f,lfk->lk", Wf, (cv_folds - cv_mean[:, None, :]) ** 2) / (F - 1))
            picks = [_select(cv_mean[l], cv_se[l], higher) for l in range(L)]
            index_min = np.array([pk[0] for pk in picks])
            index_1se = np.array([pk[1] for pk in picks])
            at_min = cv_mean[np.arange(L), index_min]
            best = int(np.argmax(at_min) if higher else np.argmin(at_min))
            results.append(CVResult(
                l1_ratios=ratios, lambdas=grids[t], cv_mean=cv_mean, cv_se=cv_se, cv_folds=cv_folds,
                index_min=index_min, index_1se=index_1se, best=best, paths=tuple(paths), fold_ids=folds,
                scoring=scoring, family=family, oof_link=None,
            ))
        chosen = [r.index_min[r.best] if self.selection == "lambda_min" else r.index_1se[r.best] for r in results]
        self._store_paths([r.paths[r.best] for r in results], chosen)
        alpha = np.array([r.lambdas[r.best, c] for r, c in zip(results, chosen)])
        alpha_min = np.array([r.lambda_min for r in results])
        alpha_1se = np.array([r.lambda_1se for r in results])
        l1 = np.array([r.l1_ratio for r in results])
        mean = np.stack([r.cv_mean for r in results])  # (T, L, K)
        se = np.stack([r.cv_se for r in results])
        grid = grids
        if scalar_ratio:
            mean, se, grid = mean[:, 0], se[:, 0], grid[:, 0]
        if self._binomial and T > 1:
            self.alpha_, self.alpha_min_, self.alpha_1se_, self.l1_ratio_ = alpha, alpha_min, alpha_1se, l1
            self.cv_mean_, self.cv_se_, self.alphas_ = mean, se, grid
            self.cv_result_ = tuple(results)
        else:
            self.alpha_, self.alpha_min_, self.alpha_1se_ = float(alpha[0]), float(alpha_min[0]), float(alpha_1se[0])
            self.l1_ratio_ = float(l1[0])
            self.cv_mean_, self.cv_se_, self.alphas_ = mean[0], se[0], grid[0]
            self.cv_result_ = results[0]
            if not self._binomial:
                folds_err = results[0].cv_folds.transpose(0, 2, 1)  # (L, K, F)
                self.mse_path_ = folds_err[0] if scalar_ratio else folds_err
        self.n_splits_ = F
        return self


class ElasticNetCV(_RegressorMixin, _CVMixin, _RegressorBase):
    """:class:`ElasticNet` with ``alpha`` (and optionally ``l1_ratio``) chosen by cross-validation.

    The objective is :class:`ElasticNet`'s (scikit-learn's ``ElasticNet`` objective). For each
    ``l1_ratio`` the grid of ``alphas`` comes from the full data: ``alphas`` log-spaced values
    from ``lambda_max`` down to ``lambda_min_ratio * lambda_max``, or the given array. Every
    training split and the full data are solved in one batched jaxreg call; the held-out
    error of each split is its weighted mean loss, averaged over splits weighted by their
    total sample weight, with glmnet's standard error. ``alpha_min_`` is the largest alpha
    with the smallest mean error, ``alpha_1se_`` the largest alpha within one standard error
    of it; ``selection`` chooses which one the model uses. With several ``l1_ratio`` values
    the best one is the one with the smallest error at its ``alpha_min_``.

    Parameters
    ----------
    l1_ratio : float or array-like of floats in [0, 1], default=0.5
    alphas : int or array-like, default=100
        Number of alphas on the automatic grid, or the grid itself (scikit-learn >= 1.7 style;
        scikit-learn's former ``n_alphas`` is ``alphas=<int>``).
    lambda_min_ratio : float in (0, 1), optional
        Smallest alpha of the automatic grid as a fraction of ``lambda_max`` (scikit-learn's
        ``eps``); default 1e-4 if n_samples > n_features, else 1e-2 (glmnet's rule).
    cv : int, cross-validation splitter or iterable of (train, test), default=None
        None means 5-fold (``KFold``, as scikit-learn).
    scoring : {"mse", "mae", "deviance", "neg_mean_squared_error", "neg_mean_absolute_error"}, default="mse"
        Held-out error ("deviance" is the mse for this model).
    selection : {"lambda_min", "lambda_1se"}, default="lambda_min"
    fit_intercept, standardize, penalty_factor, lower_bounds, upper_bounds, tol, max_iter
        As in :class:`ElasticNet`.

    Attributes
    ----------
    alpha_ : float
        The selected alpha (``alpha_min_`` or ``alpha_1se_``).
    alpha_min_, alpha_1se_ : float
    l1_ratio_ : float
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratios, n_alphas)
        Grid per l1_ratio (1-D when ``l1_ratio`` is a scalar), decreasing.
    mse_path_ : ndarray of shape (n_alphas, n_splits) or (n_l1_ratios, n_alphas, n_splits)
        Held-out error per split under ``scoring`` (scikit-learn's layout).
    cv_mean_, cv_se_ : ndarray of shape (n_alphas,) or (n_l1_ratios, n_alphas)
        Mean held-out error and its standard error.
    cv_result_ : jaxreg.CVResult
        Everything (per-split errors, full-data paths of every l1_ratio, fold ids: the index of
        the split holding each sample out, -1 if none).
    coef_path_ : ndarray of shape (n_features, n_alphas)
        Full-data path of the selected ``l1_ratio_``.
    intercept_path_, dual_gap_, n_iter_, n_splits_, n_features_in_, feature_names_in_
        As in :class:`ElasticNet` (for the selected l1_ratio's full-data path).
    """

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        alphas=100,
        lambda_min_ratio=None,
        cv=None,
        scoring="mse",
        selection="lambda_min",
        fit_intercept=True,
        standardize=False,
        penalty_factor=None,
        lower_bounds=None,
        upper_bounds=None,
        tol=None,
        max_iter=1000,
    ):
        self.l1_ratio = l1_ratio
        self.alphas = alphas
        self.lambda_min_ratio = lambda_min_ratio
        self.cv = cv
        self.scoring = scoring
        self.selection = selection
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.penalty_factor = penalty_factor
        self.lower_bounds = lower_bounds
        self.upper_bounds = upper_bounds
        self.tol = tol
        self.max_iter = max_iter


class LogisticNetCV(_ClassifierMixin, _CVMixin, _ClassifierBase):
    """:class:`LogisticNet` with ``alpha`` (and optionally ``l1_ratio``) chosen by cross-validation.

    The objective is :class:`LogisticNet`'s (mean log-loss + ``alpha`` * elastic net). Splits,
    grids, errors and the selection rules are those of :class:`ElasticNetCV`; integer ``cv``
    gives stratified folds. With K > 2 classes each one-vs-rest model is cross-validated on
    its own (its own grid, ``alpha_`` and ``l1_ratio_``); all (class, l1_ratio, split) paths
    are one batched call.

    Parameters
    ----------
    l1_ratio : float or array-like of floats in [0, 1], default=0.5
    alphas : int or array-like, default=100
    lambda_min_ratio : float in (0, 1), optional
    cv : int, cross-validation splitter or iterable of (train, test), default=None
        None means 5 stratified folds.
    scoring : {"deviance", "class", "auc", "neg_log_loss", "log_loss", "accuracy", "roc_auc"}, default="deviance"
        glmnet's binomial measures: deviance (twice the log-loss, probabilities clipped to
        [1e-5, 1 - 1e-5]), misclassification rate, AUC (higher is better). For one-vs-rest
        they apply to each binary problem.
    selection : {"lambda_min", "lambda_1se"}, default="lambda_min"
    fit_intercept, standardize, penalty_factor, lower_bounds, upper_bounds, tol, max_iter
        As in :class:`LogisticNet`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    alpha_, alpha_min_, alpha_1se_, l1_ratio_ : float, or ndarray of shape (n_classes,) for OvR
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    alphas_, cv_mean_, cv_se_ : ndarray of shape ([n_classes,] [n_l1_ratios,] n_alphas)
        The class axis only for OvR, the l1_ratio axis only when ``l1_ratio`` is a sequence.
    cv_result_ : jaxreg.CVResult, or tuple of them (one per class) for OvR
    coef_path_ : ndarray of shape (n_targets, n_features, n_alphas)
    intercept_path_, dual_gap_, n_iter_ : per binary model, as in :class:`LogisticNet`
    n_splits_, n_features_in_, feature_names_in_
    """

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        alphas=100,
        lambda_min_ratio=None,
        cv=None,
        scoring="deviance",
        selection="lambda_min",
        fit_intercept=True,
        standardize=False,
        penalty_factor=None,
        lower_bounds=None,
        upper_bounds=None,
        tol=None,
        max_iter=1000,
    ):
        self.l1_ratio = l1_ratio
        self.alphas = alphas
        self.lambda_min_ratio = lambda_min_ratio
        self.cv = cv
        self.scoring = scoring
        self.selection = selection
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.penalty_factor = penalty_factor
        self.lower_bounds = lower_bounds
        self.upper_bounds = upper_bounds
        self.tol = tol
        self.max_iter = max_iter
