"""Degenerate but valid problems: every output finite, every lambda certified, results right.

Each new (n, p, grid length, family, dtype, fit_intercept, standardize, user grid or not)
compiles the path program (a few seconds), so most tests share the data ``X, Y`` (n=30, p=6)
and the default grid of ``K`` lambdas.

Correctness is checked independently of the solver's own certificate: ``_check_kkt``
recomputes the optimality conditions of the elastic-net problem in NumPy, and some tests
compare with closed forms. Tolerances follow from the contract (relative duality gap
``<= tol``), not from how far the current solver happens to go beyond it: a suboptimality
``eps`` allows coefficient errors ``~ sqrt(2 eps / mu)`` and KKT residuals ``~ sqrt(2 L eps)``.
Tests that compare with closed forms ask for ``tol=TIGHT`` (tol is not a compile-time setting).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np
import pytest
from scipy.special import expit

import jaxreg

_path_module = sys.modules["jaxreg.path"]  # ``jaxreg.path`` itself is the function

N, P, K = 30, 6, 10
TIGHT = 1e-10
_rng = np.random.default_rng(12345)
X = _rng.standard_normal((N, P))
BETA = np.array([2.0, -1.5, 0.0, 1.0, 0.0, 0.5])
Y = X @ BETA + 0.5 * _rng.standard_normal(N)
# Non-separable binomial labels (weak signal), and perfectly separable ones.
YB = (0.4 * (X @ BETA) + _rng.logistic(size=N) > 0).astype(np.float64)
YSEP = (X[:, 0] > 0).astype(np.float64)
X_TALL = np.vstack([X] * 10) + 0.3 * _rng.standard_normal((10 * N, P))
YB_TALL = (0.4 * (X_TALL @ BETA) + _rng.logistic(size=10 * N) > 0).astype(np.float64)


# --------------------------------------------------------------------------- helpers


def _assert_finite(res, *, converged=True):
    for name in ("lambdas", "coef", "intercept", "dev_ratio", "objective", "gap", "kkt"):
        arr = getattr(res, name)
        assert np.all(np.isfinite(arr)), f"{name} has non-finite values: {arr}"
    assert np.isfinite(res.lambda_max) and res.lambda_max > 0
    assert np.isfinite(res.null_deviance)
    assert np.all(np.diff(res.lambdas) < 0), "lambdas must be strictly decreasing"
    if converged:
        assert np.all(res.converged), f"not converged at lambdas {np.flatnonzero(~res.converged)}"
        assert np.all(res.gap <= res.tol)


def _design_moments(X, fit_intercept=True, standardize=True):
    """glmnet's centering and (1/n) scaling; ``const`` marks columns with no spread."""
    X = np.asarray(X, dtype=np.float64)
    center = X.mean(axis=0) if fit_intercept else np.zeros(X.shape[1])
    spread = np.sqrt(np.mean((X - center) ** 2, axis=0))
    const = spread <= 1e-6 * np.maximum(1.0, np.sqrt(np.mean(X * X, axis=0)))
    scale = np.where(const, 1.0, spread) if standardize else np.ones(X.shape[1])
    return center, scale, const


def _standardized(X, fit_intercept=True, standardize=True):
    center, scale, _ = _design_moments(X, fit_intercept, standardize)
    return (np.asarray(X, dtype=np.float64) - center) / scale, scale


def _coef_tol(res, mu=1.0):
    """Bound on coefficient errors (standardized scale) of an eps-optimal mu-strongly convex fit."""
    eps = res.tol * max(float(np.max(res.objective)), 1e-300)
    return 3.0 * np.sqrt(2.0 * eps / mu)


def _strong_convexity(X, family="gaussian"):
    """A lower bound on the strong convexity of the loss in the non-constant standardized coefficients."""
    _, _, const = _design_moments(X)
    Xs, _ = _standardized(np.asarray(X, dtype=np.float64)[:, ~const])
    low = float(np.linalg.eigvalsh(Xs.T @ Xs / Xs.shape[0]).min())
    return low if family == "gaussian" else 0.1 * low  # logistic: mu (1 - mu) >= 0.1 here


def _check_kkt(X, y, res, *, family="gaussian", pf=None, fit_intercept=True, standardize=True):
    """Optimality conditions at every lambda, recomputed in NumPy (standardized scale).

    Objective: sum_i w_i l(y_i, eta_i) + lam sum_j pf_j (a |b_j| + (1-a)/2 b_j^2), w_i = 1/n,
    b_j = coef_j * scale_j, pf rescaled to sum to p. Constant columns must be exactly 0.
    The residual allowed at lambda k is ~ sqrt(2 L eps_k), eps_k = tol * objective_k, with L
    the largest coordinate curvature, plus round-off.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = X.shape
    _, _, const = _design_moments(X, fit_intercept, standardize)
    Xs, scale = _standardized(X, fit_intercept, standardize)
    pf = np.ones(p) if pf is None else np.asarray(pf, dtype=np.float64)
    pf = pf * p / pf.sum()
    a = res.l1_ratio
    curv = 1.0 if family == "gaussian" else 0.25
    roundoff = 100 * np.finfo(res.coef.dtype).eps * max(1.0, float(np.max(np.abs(Xs.T @ (y - y.mean()) / n))))
    for k, lam in enumerate(res.lambdas):
        coef = res.coef[k].astype(np.float64)
        assert np.all(coef[const] == 0.0), f"constant column with non-zero coefficient at lambda[{k}]"
        b = coef * scale
        eta = X @ coef + float(res.intercept[k])
        mu = eta if family == "gaussian" else expit(eta)
        r = (y - mu) / n
        grad = -(Xs.T @ r) + lam * (1 - a) * pf * b  # smooth part
        l1 = lam * a * pf
        viol = np.where(b != 0, np.abs(grad + l1 * np.sign(b)), np.maximum(np.abs(grad) - l1, 0.0))
        viol[const] = 0.0
        if fit_intercept:
            viol = np.append(viol, abs(float(np.sum(r))))
        else:
            assert res.intercept[k] == 0.0
        L = curv * max(1.0, float(np.max(np.mean(Xs * Xs, axis=0)))) + lam * (1 - a) * pf.max()
        allowed = 3.0 * np.sqrt(2.0 * L * res.tol * max(float(res.objective[k]), 0.0)) + roundoff
        assert np.max(viol) <= allowed, f"KKT residual {np.max(viol):.3g} > {allowed:.3g} at lambda[{k}] = {lam:.4g}"


def _numpy_kkt(X, y, res, family):
    """Per lambda, the largest KKT violation at the returned coefficients (intercept
    included), recomputed in NumPy on the standardized scale: what ``res.kkt`` reports."""
    n = X.shape[0]
    Xs, scale = _standardized(X)
    out = []
    for k, lam in enumerate(res.lambdas):
        b = res.coef[k] * scale
        eta = X @ res.coef[k] + float(res.intercept[k])
        r = (y - (eta if family == "gaussian" else expit(eta))) / n
        grad = -(Xs.T @ r) + lam * (1 - res.l1_ratio) * b
        l1 = lam * res.l1_ratio
        viol = np.where(b != 0, np.abs(grad + l1 * np.sign(b)), np.maximum(np.abs(grad) - l1, 0.0))
        out.append(max(float(viol.max()), abs(float(r.sum()))))
    return np.array(out)


@pytest.mark.parametrize("shape", ["tall", "wide"])
def test_reported_kkt_is_at_the_returned_coefficients(shape):
    """The certificate's gradients are those of the returned point, also when the Newton loop
    stops on its iteration budget after a step (it reuses the gradients of the last
    stationarity test only when no step followed). Tall: the slots hold every feature;
    wide: a working set with the path predictor."""
    X, y = (X_TALL, YB_TALL) if shape == "tall" else (XW, (XW[:, 0] + 0.5 * XW[:, 1] > 0).astype(np.float64))
    for max_iter in (2, 1000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _path(X, y, family="binomial", l1_ratio=0.8, max_iter=max_iter, tol=1e-10)
        np.testing.assert_allclose(res.kkt, _numpy_kkt(X, y, res, "binomial"), rtol=1e-6, atol=1e-12)
        if max_iter == 2:
            assert not np.all(res.converged)  # the budget did stop it


def _path(X, y, **kwargs):
    kwargs.setdefault("n_lambdas", K)
    return jaxreg.path(X, y, **kwargs)


def _no_separation_warning(X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxreg.SeparationWarning)
        return _path(X, y, **kwargs)


def _unpenalized_fit(X, y, family):
    """(intercept, coefficients...) and residual y - mu of the plain fit on 1 and X's columns."""
    A = np.column_stack([np.ones(len(y)), X])
    if family == "gaussian":
        beta, *_ = np.linalg.lstsq(A, y, rcond=None)
        return beta, y - A @ beta
    beta = np.zeros(A.shape[1])
    for _ in range(100):  # Newton's method for logistic regression
        mu = expit(A @ beta)
        step = np.linalg.solve(A.T @ (A * (mu * (1 - mu))[:, None]), A.T @ (y - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-14:
            break
    return beta, y - expit(A @ beta)


# --------------------------------------------------------------------------- constant columns


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_constant_columns_are_zero_and_do_not_change_the_rest(family):
    y = Y if family == "gaussian" else YB
    Xc = X.copy()
    Xc[:, 2] = 3.7  # constant, non-zero
    Xc[:, 4] = 0.0  # all zero
    keep = [0, 1, 3, 5]
    res = _no_separation_warning(Xc, y, family=family, tol=TIGHT)
    _assert_finite(res)
    assert np.all(res.coef[:, [2, 4]] == 0.0)
    assert np.any(res.coef[-1, keep] != 0)
    # lambda_max from the other columns only (the null fit is the mean for both families;
    # pf, rescaled over all p columns, stays 1).
    Xs, _ = _standardized(Xc[:, keep])
    np.testing.assert_allclose(res.lambda_max, np.max(np.abs(Xs.T @ (y - y.mean()) / N)), rtol=1e-8)
    # Optimal for the problem without the constant columns (whose solution is unique) ...
    _check_kkt(Xc[:, keep], y, dataclasses.replace(res, coef=res.coef[:, keep]), family=family)
    if family == "gaussian":  # ... so the same as the fit that drops them (one more compilation)
        ref = _path(Xc[:, keep], y, family=family, tol=TIGHT)
        _assert_finite(ref)
        np.testing.assert_allclose(res.lambda_max, ref.lambda_max, rtol=1e-12)
        np.testing.assert_allclose(res.lambdas, ref.lambdas, rtol=1e-12)
        _, scale, _ = _design_moments(Xc[:, keep])
        atol = 2 * _coef_tol(ref, mu=_strong_convexity(Xc[:, keep]))
        np.testing.assert_allclose(res.coef[:, keep] * scale, ref.coef * scale, rtol=0, atol=atol)
        np.testing.assert_allclose(res.intercept, ref.intercept, rtol=0, atol=atol * (1 + np.abs(Xc).max()))
        np.testing.assert_allclose(res.dev_ratio, ref.dev_ratio, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- shapes

# p >> n, and p > 256 so the working set starts smaller than p (64 slots). Both tests below
# use these shapes, and so share the program compiled with 64 slots.
NW, PW = 12, 257
_rng_w = np.random.default_rng(11)
XW = _rng_w.standard_normal((NW, PW))
YW = XW[:, :3] @ np.array([3.0, -2.0, 1.5]) + 0.1 * _rng_w.standard_normal(NW)


def test_many_more_features_than_samples():
    res = _path(XW, YW)
    _assert_finite(res)
    assert res.coef.shape == (K, PW)
    assert np.all(res.df <= NW)  # a lasso solution with at most n non-zeros (generic X)
    assert np.all(res.coef[0] == 0)
    assert {0, 1} <= set(np.argsort(-np.abs(res.coef[-1]))[:3])
    _check_kkt(XW, YW, res)


def test_more_nonzeros_than_the_initial_working_set():
    """p >> n elastic net with more non-zeros than n: the working set must grow and resume."""
    res = _path(XW, YW, l1_ratio=0.2)
    _assert_finite(res)
    assert res.df.max() > 64  # more than the initial capacity, so the resume path ran
    assert np.all(res.coef[0] == 0)
    _check_kkt(XW, YW, res)


def test_binomial_with_a_working_set_smaller_than_p_matches_all_feature_slots(monkeypatch):
    """Binomial, p > 256: the working set starts with 64 slots and features enter along the
    path (their Hessian rows computed at the carried weights). The answer meets the NumPy KKT
    check and agrees with the program whose slots hold every feature in place
    (``_initial_capacity`` = p: no gathers, a blocked Gram). (Overflow and resume are
    exercised by the Gaussian tests above; a binomial resume costs two more compilations.)"""
    rng = np.random.default_rng(21)
    yw = (XW[:, :3] @ np.array([3.0, -2.0, 1.5]) + rng.logistic(size=NW) > 0).astype(np.float64)
    Xb = np.vstack([XW, XW[::-1] + 0.1 * rng.standard_normal((NW, PW))])
    yb = np.concatenate([yw, yw[::-1]])
    res = _path(Xb, yb, family="binomial")
    _assert_finite(res)
    assert res.df.max() > 8  # more features entered than one incremental update holds
    _check_kkt(Xb, yb, res, family="binomial")
    monkeypatch.setattr(_path_module, "_initial_capacity", lambda n, p, n_unpenalized: p)
    every = _path(Xb, yb, family="binomial", lambdas=res.lambdas)
    _assert_finite(every)
    # Both are certified within tol of the optimum.
    np.testing.assert_allclose(res.objective, every.objective, rtol=res.tol + every.tol)


@pytest.mark.slow
def test_ridge_many_more_features_than_samples():
    n, p = 20, 300
    rng = np.random.default_rng(3)
    Xw = rng.standard_normal((n, p))
    yw = Xw[:, :3] @ np.array([3.0, -2.0, 1.5]) + 0.1 * rng.standard_normal(n)
    res = _path(Xw, yw, l1_ratio=0.0, tol=TIGHT)
    _assert_finite(res)
    assert np.all(res.df == p)
    Xs, scale = _standardized(Xw)
    yc = yw - yw.mean()
    for k, lam in enumerate(res.lambdas):  # ridge in its dual (n x n) form; strong convexity lam
        b = Xs.T @ np.linalg.solve(Xs @ Xs.T / n + lam * np.eye(n), yc) / n
        np.testing.assert_allclose(res.coef[k] * scale, b, rtol=0, atol=_coef_tol(res, mu=lam))


def test_two_samples():
    X2, y2 = X[:2], Y[:2]
    res = _path(X2, y2)
    _assert_finite(res)
    assert np.all(res.coef[0] == 0)
    np.testing.assert_allclose(res.intercept[0], y2.mean(), rtol=1e-12)
    assert res.df[-1] >= 1
    _check_kkt(X2, y2, res)
    # With two points the least penalized fit nearly interpolates them.
    fitted = res.predict(X2)[:, -1]
    assert np.max(np.abs(fitted - y2)) < 0.05 * abs(y2[0] - y2[1])


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.0])
def test_single_feature_matches_closed_form(l1_ratio):
    x = X[:, :1]
    res = _path(x, Y, l1_ratio=l1_ratio, tol=TIGHT)
    _assert_finite(res)
    assert res.coef.shape == (K, 1)
    s = x[:, 0].std()
    xs = (x[:, 0] - x[:, 0].mean()) / s
    c = xs @ (Y - Y.mean()) / N
    np.testing.assert_allclose(res.lambda_max, abs(c) / max(l1_ratio, 1e-3), rtol=1e-10)
    lam = res.lambdas
    b = np.sign(c) * np.maximum(abs(c) - lam * l1_ratio, 0.0) / (1.0 + lam * (1.0 - l1_ratio))
    np.testing.assert_allclose(res.coef[:, 0] * s, b, rtol=0, atol=_coef_tol(res))
    assert np.all((res.coef[:, 0] == 0) == (b == 0))  # exact zeros where the lasso has them
    np.testing.assert_allclose(res.intercept, Y.mean() - res.coef[:, 0] * x[:, 0].mean(), rtol=1e-10)


# --------------------------------------------------------------------------- constant response


@pytest.mark.parametrize("l1_ratio", [1.0, 0.0])
def test_constant_response_gaussian(l1_ratio):
    y = np.full(N, 2.5)
    res = _path(X, y, l1_ratio=l1_ratio)
    _assert_finite(res)
    assert np.all(res.coef == 0.0)
    np.testing.assert_allclose(res.intercept, 2.5, rtol=1e-14)
    assert np.all(res.df == 0)
    assert res.null_deviance == pytest.approx(0.0, abs=1e-20)
    assert np.all(res.dev_ratio == 0.0)
    np.testing.assert_allclose(res.predict(X), 2.5, rtol=1e-14)


# --------------------------------------------------------------------------- penalty factor 0


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_unpenalized_features(family, l1_ratio):
    y = Y if family == "gaussian" else YB
    unpen = [0, 3]
    pen = [1, 2, 4, 5]
    pf = np.ones(P)
    pf[unpen] = 0.0
    res = _no_separation_warning(X, y, family=family, penalty_factor=pf, l1_ratio=l1_ratio, tol=TIGHT)
    _assert_finite(res)
    # Unpenalized features are in the model from the first lambda, where it is their plain fit.
    assert np.all(res.coef[:, unpen] != 0)
    assert np.all(res.coef[0, pen] == 0)
    beta, resid = _unpenalized_fit(X[:, unpen], y, family)
    Xs, scale = _standardized(X)
    atol = _coef_tol(res, mu=_strong_convexity(X, family))
    np.testing.assert_allclose(res.coef[0, unpen] * scale[unpen], beta[1:] * scale[unpen], rtol=0, atol=atol)
    np.testing.assert_allclose(res.intercept[0], beta[0], rtol=0, atol=5 * atol)
    # lambda_max is computed from that fit, not from the intercept-only fit.
    pf_used = pf * P / pf.sum()
    expected = np.max(np.abs(Xs.T @ resid / N)[pen] / pf_used[pen]) / l1_ratio
    np.testing.assert_allclose(res.lambda_max, expected, rtol=1e-4)
    naive = np.max(np.abs(Xs.T @ (y - y.mean()) / N)[pen] / pf_used[pen]) / l1_ratio
    assert abs(naive - expected) > 0.05 * expected  # the data can tell the two apart
    # Just below lambda_max penalized features enter.
    assert res.df[1] > len(unpen)
    _check_kkt(X, y, res, family=family, pf=pf)


# --------------------------------------------------------------------------- separable data


def test_perfectly_separable_binomial():
    with pytest.warns(jaxreg.SeparationWarning, match="separable"):
        res = _path(X, YSEP, family="binomial")
    _assert_finite(res)
    assert np.max(res.dev_ratio) > 0.999
    # The separating feature dominates and its coefficient grows as lambda decreases.
    assert np.all(np.diff(res.coef[:, 0]) >= 0)
    assert np.argmax(np.abs(res.coef[-1])) == 0
    prob = res.predict(X, type="response")[:, -1]
    assert np.all((prob > 0.5) == (YSEP == 1))
    _check_kkt(X, YSEP, res, family="binomial")


def test_non_separable_binomial_does_not_warn():
    res = _no_separation_warning(X, YB, family="binomial")
    _assert_finite(res)
    assert np.max(res.dev_ratio) < 0.99
    _check_kkt(X, YB, res, family="binomial")


# --------------------------------------------------------------------------- ridge and lasso


def test_ridge_matches_closed_form():
    res = _path(X, Y, l1_ratio=0.0, tol=TIGHT)
    _assert_finite(res)
    assert np.all(res.df == P)  # ridge never sets a coefficient exactly to zero
    Xs, scale = _standardized(X)
    yc = Y - Y.mean()
    np.testing.assert_allclose(res.lambda_max, np.max(np.abs(Xs.T @ yc / N)) / 1e-3, rtol=1e-10)
    mu = _strong_convexity(X)
    for k, lam in enumerate(res.lambdas):
        b = np.linalg.solve(Xs.T @ Xs / N + lam * np.eye(P), Xs.T @ yc / N)
        np.testing.assert_allclose(res.coef[k] * scale, b, rtol=0, atol=_coef_tol(res, mu=mu + lam))
    _check_kkt(X, Y, res)


def test_lasso():
    res = _path(X, Y, l1_ratio=1.0)
    _assert_finite(res)
    Xs, _ = _standardized(X)
    np.testing.assert_allclose(res.lambda_max, np.max(np.abs(Xs.T @ (Y - Y.mean()) / N)), rtol=1e-10)
    assert np.all(res.coef[0] == 0) and res.df[0] == 0
    assert res.df[1] >= 1
    assert res.df[-1] >= 4
    _check_kkt(X, Y, res)
    # Lasso sparsity: the noise features enter last or not at all.
    entered = [np.flatnonzero(res.coef[:, j])[0] if np.any(res.coef[:, j]) else K for j in range(P)]
    assert min(entered[j] for j in (0, 1, 3)) <= min(entered[j] for j in (2, 4))


def test_user_lambda_zero_is_the_unpenalized_fit():
    lambdas = np.r_[np.logspace(0.0, -6.0, K - 1), 0.0]
    res = _path(X, Y, lambdas=lambdas)
    _assert_finite(res)
    ols, _ = _unpenalized_fit(X, Y, "gaussian")
    _, scale, _ = _design_moments(X)
    np.testing.assert_allclose(res.coef[-1] * scale, ols[1:] * scale, rtol=0, atol=_coef_tol(res, mu=_strong_convexity(X)))


# --------------------------------------------------------------------------- options


def test_no_intercept():
    Xn = X + 1.0  # non-centred columns, so the intercept would matter
    Xn[:, 4] = 0.0  # an all-zero column is still constant without an intercept
    res = _path(Xn, Y, fit_intercept=False)
    _assert_finite(res)
    assert np.all(res.intercept == 0.0)
    assert np.all(res.coef[:, 4] == 0.0)
    _check_kkt(Xn, Y, res, fit_intercept=False)
    np.testing.assert_allclose(res.predict(Xn), Xn @ res.coef.T, rtol=1e-12, atol=1e-12)


def test_no_standardization():
    Xu = X * np.array([1.0, 10.0, 100.0, 0.1, 1.0, 5.0])
    Xu[:, 4] = 2.0  # constant column
    res = _path(Xu, Y, standardize=False)
    _assert_finite(res)
    assert np.all(res.coef[:, 4] == 0.0)
    _check_kkt(Xu, Y, res, standardize=False)
    # Unstandardized, lambda_max is the largest raw correlation.
    corr = np.abs((Xu - Xu.mean(axis=0)).T @ (Y - Y.mean()) / N)
    np.testing.assert_allclose(res.lambda_max, corr.max(), rtol=1e-10)
    assert res.coef[1, np.argmax(corr)] != 0


def test_float32_input():
    X32 = X.astype(np.float32)
    X32[:, 4] = np.float32(3.7)  # constant column: float32 rounding must not make it enter
    res = _path(X32, Y)
    _assert_finite(res)
    assert res.coef.dtype == np.float32
    assert res.intercept.dtype == np.float32
    assert res.tol == pytest.approx(1e-4)
    assert np.all(res.coef[:, 4] == 0.0)
    _check_kkt(X32, Y, res)
    # The same problem solved in float64 (shares the compilation of the tests above).
    ref = _path(X32.astype(np.float64), Y)
    assert ref.coef.dtype == np.float64
    np.testing.assert_allclose(res.lambdas, ref.lambdas, rtol=1e-5)
    _, scale, _ = _design_moments(X32)
    atol = _coef_tol(res, mu=_strong_convexity(X32))
    np.testing.assert_allclose(res.coef * scale, ref.coef * scale, rtol=0, atol=atol)
    pred = res.predict(X32)
    assert pred.dtype == np.float32 and np.all(np.isfinite(pred))
