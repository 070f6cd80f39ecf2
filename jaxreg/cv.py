"""K-fold cross-validation of whole paths, all folds x l1_ratios in one batched call.

glmnet's conventions (cv.glmnet with grouped=TRUE):

- the lambda grid of each l1_ratio comes from the full data, and every fold fit of that
  l1_ratio uses it;
- a fold is a weight mask on the full data (training weights ``w * (fold_id != f)``), so
  every fold fit is one member of one vmapped program and X is never copied;
- the per-fold error ``e[f, k]`` is the weighted mean loss over fold f's held-out rows;
  ``cv_mean[k] = sum_f W_f e[f, k] / sum_f W_f`` with ``W_f`` the fold's total weight and
  ``cv_se[k] = sqrt(sum_f W_f (e[f, k] - cv_mean[k])^2 / sum_f W_f / (F - 1))``; AUC is
  computed per fold;
- ``lambda_min`` is the largest lambda attaining the best ``cv_mean``; ``lambda_1se`` the
  largest lambda whose ``cv_mean`` is within one standard error of it (for AUC: at least
  the best minus one standard error).

Scoring: gaussian "deviance" (= "mse"), "mse", "mae"; binomial "deviance" (with glmnet's
probability clipping to [1e-5, 1 - 1e-5]), "class" (misclassification rate), "auc".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxreg.families import get_family
from jaxreg.result import PathResult
from jaxreg.path import trim_host_heap
from jaxreg.sweep import _DEFAULT_MEMORY, _solve_batch, path_batch

__all__ = ["cv", "CVResult", "make_folds"]

_SCORES = {"gaussian": ("deviance", "mse", "mae"), "binomial": ("deviance", "class", "auc")}
_PROB_MIN = 1e-5


def make_folds(y, n_folds: int, *, stratified: bool = False, seed=0) -> np.ndarray:
    """Fold ids 0..n_folds-1 of balanced size in random order; stratified keeps each class
    spread evenly over the folds.

    Returns an (n,) array of the smallest signed integer type that holds ``n_folds - 1``
    (int8 up to 128 folds): on a tall X an int64 fold id per row would weigh a fifth of a
    5-column X. The ids are those of ``permutation(n)`` (per class when stratified) dealt
    round-robin: observation ``perm[i]`` goes to fold ``i % n_folds``.
    """
    y = np.asarray(y)
    n = y.shape[0]
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or not 2 <= n_folds <= n:
        raise ValueError(f"n_folds must be an integer in [2, n_samples = {n}]; got {n_folds!r}")
    rng = np.random.default_rng(seed)
    cycle = np.arange(n_folds, dtype=np.min_scalar_type(-int(n_folds)))  # 0..n_folds-1, dealt in turn
    folds = np.empty(n, dtype=cycle.dtype)
    if not stratified:
        folds[rng.permutation(n)] = np.resize(cycle, n)
        return folds
    start = 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        folds[members] = np.resize(np.roll(cycle, -(start % n_folds)), members.size)
        start += members.size
    return folds


def _pointwise_loss(scoring, family, y, eta):
    """Loss per held-out observation and lambda: ``y`` (m,), ``eta`` (m, K) -> (m, K)."""
    if family == "gaussian":
        r = y[:, None] - eta
        return np.abs(r) if scoring == "mae" else r * r
    mu = np.clip(1.0 / (1.0 + np.exp(-eta)), _PROB_MIN, 1.0 - _PROB_MIN)
    if scoring == "class":
        return ((mu > 0.5) != (y[:, None] > 0.5)).astype(float)
    return -2.0 * (y[:, None] * np.log(mu) + (1.0 - y[:, None]) * np.log(1.0 - mu))


def _weighted_auc(y, score, w):
    """Area under the ROC curve for one column of scores (ties count one half), weighted."""
    order = np.argsort(score, kind="mergesort")
    s, yy, ww = score[order], y[order], w[order]
    pos_w = np.where(yy > 0.5, ww, 0.0)
    neg_w = np.where(yy > 0.5, 0.0, ww)
    total_pos, total_neg = pos_w.sum(), neg_w.sum()
    if total_pos == 0 or total_neg == 0:
        return np.nan
    # Group tied scores: a positive beats the negatives below its tie group, ties count 1/2.
    uniq, start = np.unique(s, return_index=True)
    pos_g = np.add.reduceat(pos_w, start)
    neg_g = np.add.reduceat(neg_w, start)
    neg_below = np.cumsum(neg_g) - neg_g
    return float(np.sum(pos_g * (neg_below + 0.5 * neg_g)) / (total_pos * total_neg))


@dataclasses.dataclass(frozen=True)
class CVResult:
    """Cross-validated paths. L = number of l1_ratios, F folds, K lambdas.

    Attributes
    ----------
    l1_ratios : (L,)
    lambdas : (L, K) the full-data grid of each l1_ratio.
    cv_mean, cv_se : (L, K) cross-validated error (or AUC) and its standard error.
    cv_folds : (L, F, K) per-fold errors.
    index_min, index_1se : (L,) grid indices of lambda_min and lambda_1se per l1_ratio.
    best : index of the best l1_ratio (best cv_mean at its lambda_min).
    l1_ratio, lambda_min, lambda_1se : the best l1_ratio and its two lambdas.
    paths : (L,) full-data PathResult per l1_ratio.
    fold_ids : (n,) fold of each observation.
    scoring : the error measure.
    oof_link : (L, n, K) out-of-fold linear predictors (glmnet's keep=TRUE), or None.
    """

    l1_ratios: np.ndarray
    lambdas: np.ndarray
    cv_mean: np.ndarray
    cv_se: np.ndarray
    cv_folds: np.ndarray
    index_min: np.ndarray
    index_1se: np.ndarray
    best: int
    paths: tuple
    fold_ids: np.ndarray
    scoring: str
    family: str
    oof_link: np.ndarray | None = None

    @property
    def l1_ratio(self) -> float:
        return float(self.l1_ratios[self.best])

    @property
    def lambda_min(self) -> float:
        return float(self.lambdas[self.best, self.index_min[self.best]])

    @property
    def lambda_1se(self) -> float:
        return float(self.lambdas[self.best, self.index_1se[self.best]])

    @property
    def path(self) -> PathResult:
        """The full-data path of the best l1_ratio."""
        return self.paths[self.best]

    def _lambda(self, s):
        if isinstance(s, str):
            if s == "lambda_min":
                return self.lambda_min
            if s == "lambda_1se":
                return self.lambda_1se
            raise ValueError(f"s must be 'lambda_min', 'lambda_1se' or a number; got {s!r}")
        return float(s)

    def coef(self, s="lambda_1se"):
        """Coefficients (p,) and intercept of the best l1_ratio's full-data path at ``s``."""
        return self.path.coef_at(self._lambda(s))

    def predict(self, X, s="lambda_1se", *, type="link", offset=None):
        """Predictions (m,) at ``s`` ("lambda_min", "lambda_1se" or a lambda value)."""
        return self.path.predict(X, [self._lambda(s)], type=type, offset=offset)[:, 0]


def _select(mean, se, higher_is_better):
    """glmnet's lambda.min / lambda.1se indices on a decreasing grid (first = largest lambda)."""
    sign = -1.0 if higher_is_better else 1.0
    m = sign * np.where(np.isfinite(mean), mean, np.inf if not higher_is_better else -np.inf)
    i_min = int(np.flatnonzero(m <= np.min(m))[0])
    bound = m[i_min] + se[i_min]
    i_1se = int(np.flatnonzero(m <= bound)[0])
    return i_min, i_1se


# Rows of X gathered at a time for the out-of-fold predictions and errors (about 4 MB of X
# at p = 125): ``X[test]`` whole is a copy of a fold's share of X (a quarter of X at 4
# folds), and the error's elementwise temporaries of all test rows at once are several
# (n_test, K) arrays (16 MB at 25000 x 20): most of a binomial ``cv``'s host memory.
_PREDICT_ROWS = 4096


def _chunked_predictions(X, rows, coef, intercept, offset):
    """``(chunk, X[chunk] @ coef.T + intercept + offset[chunk])`` for consecutive chunks of
    ``_PREDICT_ROWS`` of ``rows``: (len(chunk), K) each."""
    for start in range(0, rows.size, _PREDICT_ROWS):
        chunk = rows[start:start + _PREDICT_ROWS]
        yield chunk, X[chunk] @ coef.T + intercept[None, :] + offset[chunk, None]


def _linear_predictor(X, rows, coef, intercept, offset):
    """``X[rows] @ coef.T + intercept + offset[rows]`` (len(rows), K), from
    ``_chunked_predictions``."""
    eta = np.empty((rows.size, coef.shape[0]))
    done = 0
    for chunk, part in _chunked_predictions(X, rows, coef, intercept, offset):
        eta[done:done + chunk.size] = part
        done += chunk.size
    return eta


def cv(
    X,
    y,
    *,
    family="gaussian",
    l1_ratio=1.0,
    n_folds=10,
    fold_ids=None,
    scoring="deviance",
    stratified=None,
    seed=0,
    keep=False,
    lambdas=None,
    n_lambdas=100,
    lambda_min_ratio=None,
    sample_weight=None,
    offset=None,
    penalty_factor=None,
    lower_bounds=None,
    upper_bounds=None,
    fit_intercept=True,
    standardize=True,
    tol=None,
    max_iter=1000,
    chunk_size=None,
    n_jobs=None,
    progress=False,
) -> CVResult:
    """K-fold cross-validation of elastic-net paths (see the module docstring).

    ``l1_ratio`` may be a scalar or a sequence; every (fold, l1_ratio) pair and the full-data
    paths are solved in batched compiled calls. ``fold_ids`` (n,) overrides ``n_folds`` /
    ``seed``; by default folds are random (``seed``) and, for binomial, stratified by class.
    ``chunk_size``, ``n_jobs`` and ``progress`` are those of ``jaxreg.path_batch``; other
    arguments are those of ``jaxreg.path``.
    """
    fam = get_family(family)
    allowed = _SCORES[fam.name]
    if scoring not in allowed:
        raise ValueError(f"scoring for family {fam.name!r} must be one of {allowed}; got {scoring!r}")
    ratios = np.atleast_1d(np.asarray(l1_ratio, dtype=np.float64))
    if ratios.ndim != 1 or ratios.size == 0:
        raise ValueError(f"l1_ratio must be a scalar or a non-empty 1-D sequence; got {l1_ratio!r}")

    full = path_batch(
        X, y, family=fam, l1_ratio=ratios, sample_weight=sample_weight, offset=offset,
        lambdas=lambdas, n_lambdas=n_lambdas, lambda_min_ratio=lambda_min_ratio,
        penalty_factor=penalty_factor, lower_bounds=lower_bounds, upper_bounds=upper_bounds,
        fit_intercept=fit_intercept, standardize=standardize, tol=tol, max_iter=max_iter,
        chunk_size=chunk_size, n_jobs=n_jobs,
    )
    Xa = np.asarray(X)
    n = Xa.shape[0]
    ref = full[0]
    # Binomial: the indicator as booleans (an eighth of a float n-vector), made float per chunk.
    y01 = (np.asarray(y) == ref.classes[1]) if fam.name == "binomial" else np.asarray(y, dtype=float)
    # No sample_weight: unit weights, never materialized (on a tall, narrow X an n-vector is a
    # sizable part of X).
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)

    def weights(rows):
        return np.ones(len(rows)) if w is None else w[rows]

    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)

    if fold_ids is None:
        strat = (fam.name == "binomial") if stratified is None else bool(stratified)
        folds = make_folds(y01, n_folds, stratified=strat, seed=seed)
    else:
        folds = np.asarray(fold_ids)
        if folds.shape != (n,):
            raise ValueError(f"fold_ids must have shape ({n},); got {folds.shape}")
        if folds.dtype.kind not in "iu":
            raise ValueError("fold_ids must be integers")
    # The full-data fits' freed n-vectors and make_folds' temporaries go back to the OS
    # before the fold fits make theirs (else the peaks of the phases add up).
    trim_host_heap()
    labels = np.unique(folds)
    F = labels.size
    if F < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    for f in labels:
        train = (folds != f) if w is None else (folds != f) & (w > 0)
        if not np.any(train):
            raise ValueError(f"fold {f} leaves no training observation with positive weight")
        if fam.name == "binomial" and np.unique(y01[train]).size < 2:
            raise ValueError(f"the training set without fold {f} has only one class")

    L = ratios.size
    grids = full.lambdas  # (L, K)
    # Member l * F + f: l1_ratio l without fold f. Its weights (w zeroed on fold f) are made
    # when it is validated, straight into its chunk's stack: no (L F, n) array of them. With
    # unit sample weights they are the fold's boolean training mask, which the programs
    # normalize themselves (one byte per row on the host instead of eight).
    K = grids.shape[1]
    cv_folds = np.zeros((L, F, K))
    fold_weight = np.array([weights(np.flatnonzero(folds == f)).sum() for f in labels])
    oof = np.full((L, n, K), np.nan) if keep else None
    higher = scoring == "auc"

    def score(b, res):
        """Member b's held-out errors per lambda (and its held-out linear predictor with
        ``keep``), taken as soon as its path is assembled: its (K, p) coefficients are not
        kept."""
        l, i = divmod(b, F)
        test = folds == labels[i]
        rows = np.flatnonzero(test)
        if keep or scoring == "auc":
            eta = _linear_predictor(Xa, rows, res.coef, res.intercept, off)
        if keep:
            oof[l, test] = eta
        if scoring == "auc":
            cv_folds[l, i] = [_weighted_auc(y01[test].astype(float), eta[:, k], weights(rows)) for k in range(K)]
        else:
            total = np.zeros(K)
            for chunk, eta_c in _chunked_predictions(Xa, rows, res.coef, res.intercept, off):
                total += weights(chunk) @ _pointwise_loss(scoring, fam.name, y01[chunk].astype(float), eta_c)
            cv_folds[l, i] = total / max(weights(rows).sum(), np.finfo(float).tiny)

    _solve_batch(
        X, fam, L * F,
        y_of=lambda b: y, offset_of=lambda b: offset,
        weight_of=lambda b: (folds != labels[b % F]) if w is None else w * (folds != labels[b % F]),
        batched={"y": False, "w": True, "offset": False},
        l1_ratios=list(np.repeat(ratios, F)), lambdas_of=lambda b: grids[b // F],
        n_lambdas=n_lambdas, lambda_min_ratio=lambda_min_ratio, penalty_factor=penalty_factor,
        lower_bounds=lower_bounds, upper_bounds=upper_bounds, fit_intercept=fit_intercept,
        standardize=standardize, tol=tol, max_iter=max_iter, chunk_size=chunk_size, max_memory=_DEFAULT_MEMORY,
        n_jobs=n_jobs, progress=progress, consume=score,
    )
    W = fold_weight / fold_weight.sum()
    cv_mean = np.einsum("f,lfk->lk", W, cv_folds)
    cv_se = np.sqrt(np.einsum("f,lfk->lk", W, (cv_folds - cv_mean[:, None, :]) ** 2) / (F - 1))
    picks = [_select(cv_mean[l], cv_se[l], higher) for l in range(L)]
    index_min = np.array([pk[0] for pk in picks])
    index_1se = np.array([pk[1] for pk in picks])
    at_min = cv_mean[np.arange(L), index_min]
    best = int(np.argmax(at_min) if higher else np.argmin(at_min))
    return CVResult(
        l1_ratios=ratios, lambdas=grids, cv_mean=cv_mean, cv_se=cv_se, cv_folds=cv_folds,
        index_min=index_min, index_1se=index_1se, best=best, paths=tuple(full.members),
        fold_ids=folds, scoring=scoring, family=fam.name, oof_link=oof,
    )
