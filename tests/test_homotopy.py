"""The exact Gaussian lasso homotopy (``solvers.homotopy``): same answers as the working-set
solver, every lambda certified, and the working-set program taking over where it stops."""

import importlib

import numpy as np
import pytest

import jaxreg
from jaxreg.datasets import make_glmnet_benchmark

P = importlib.import_module("jaxreg.path")


@pytest.fixture
def programs(monkeypatch):
    """Counts of calls to the homotopy and the working-set programs."""
    calls = {"homotopy": 0, "working_set": 0}

    def counted(name, program):
        def call(*args, **kwargs):
            calls[name] += 1
            return program(*args, **kwargs)

        return call

    monkeypatch.setattr(P, "_compiled_homotopy", counted("homotopy", P._compiled_homotopy))
    monkeypatch.setattr(P, "_compiled_path", counted("working_set", P._compiled_path))
    return calls


def _working_set_path(monkeypatch, X, y, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(P, "USE_HOMOTOPY", False)
        return jaxreg.path(X, y, **kwargs)


def _weights(n):
    return np.random.default_rng(7).uniform(0.2, 2.0, n)


CASES = {
    "rho0": (200, 30, 0.0, {}),
    "rho0.5": (200, 30, 0.5, {}),
    "rho0.95": (300, 40, 0.95, {}),
    "weights": (200, 30, 0.5, {"sample_weight": _weights(200)}),
    "unstandardized": (200, 30, 0.2, {"standardize": False}),
    "no intercept": (200, 30, 0.2, {"fit_intercept": False}),
    "penalty factors": (200, 30, 0.5, {"penalty_factor": np.linspace(0.5, 2.0, 30)}),
    "user grid": (150, 20, 0.5, {"lambdas": [50.0, 2.0, 0.5, 0.3, 0.1, 0.01, 1e-4]}),
    "n = p": (40, 40, 0.3, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_homotopy_matches_the_working_set_solver_and_certifies_every_lambda(case, programs, monkeypatch):
    n, p, rho, kwargs = CASES[case]
    X, y, _ = make_glmnet_benchmark(n, p, rho, seed=3)
    tol = 1e-10
    res = jaxreg.path(X, y, tol=tol, **kwargs)
    assert programs == {"homotopy": 1, "working_set": 0}
    assert np.all(res.converged) and np.all(res.gap <= tol)
    ref = _working_set_path(monkeypatch, X, y, tol=tol, **kwargs)
    np.testing.assert_allclose(res.lambdas, ref.lambdas, rtol=1e-13)
    assert res.lambda_max == pytest.approx(ref.lambda_max, rel=1e-13)
    # Both objectives are within tol of the optimum at every lambda.
    np.testing.assert_allclose(res.objective, ref.objective, rtol=2 * tol)
    # The lasso solution is unique here (columns in general position): a relative gap of tol
    # bounds the coefficient error by about sqrt(tol) in the scale of the coefficients.
    scale = 1.0 + np.max(np.abs(ref.coef))
    np.testing.assert_allclose(res.coef, ref.coef, rtol=0, atol=10 * np.sqrt(tol) * scale)
    np.testing.assert_allclose(res.intercept, ref.intercept, rtol=0, atol=10 * np.sqrt(tol) * scale)


def test_lambdas_above_lambda_max_give_zero_coefficients(programs):
    X, y, _ = make_glmnet_benchmark(100, 10, 0.3, seed=4)
    lmax = jaxreg.path(X, y, n_lambdas=2).lambda_max
    res = jaxreg.path(X, y, lambdas=[4 * lmax, 2 * lmax, lmax, 0.5 * lmax])
    assert programs["working_set"] == 0
    assert np.all(res.coef[:3] == 0) and np.any(res.coef[3] != 0) and np.all(res.converged)


def test_working_set_program_resumes_where_the_homotopy_stops(programs, monkeypatch):
    """A path with more pieces than the homotopy may take: the lambdas it reached are kept,
    the working-set program solves the rest from the last of them, and the result is the
    same path."""
    X, y, _ = make_glmnet_benchmark(200, 30, 0.5, seed=5)
    ref = _working_set_path(monkeypatch, X, y, tol=1e-10)
    monkeypatch.setattr(P, "_homotopy_max_steps", lambda p: 6)
    res = jaxreg.path(X, y, tol=1e-10)
    assert programs == {"homotopy": 1, "working_set": 2}  # the reference, then the resumed path
    assert np.all(res.converged) and res.lambda_max == pytest.approx(ref.lambda_max, rel=1e-13)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=2e-10)
    # The first lambdas come from the homotopy (a piece per entering feature).
    assert 0 < np.count_nonzero(res.n_iter[:10]) and res.df[5] > 0


def test_collinear_columns_stop_the_homotopy_and_the_working_set_solver_finishes(programs, monkeypatch):
    """A duplicated column is a linear combination of the active ones when it would enter:
    the factor update refuses it, and the working-set solver (which handles ties) takes over."""
    X, y, _ = make_glmnet_benchmark(120, 12, 0.3, seed=6)
    first = int(np.argmax(np.abs((X - X.mean(0)).T @ (y - y.mean()))))
    X = np.column_stack([X, X[:, first]])
    res = jaxreg.path(X, y, tol=1e-10)
    assert programs == {"homotopy": 1, "working_set": 1}
    ref = _working_set_path(monkeypatch, X, y, tol=1e-10)
    assert np.all(res.converged)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=2e-10)


def test_elastic_net_bounds_and_unpenalized_features_use_the_working_set_solver(programs):
    X, y, _ = make_glmnet_benchmark(100, 10, 0.3, seed=8)
    jaxreg.path(X, y, l1_ratio=0.5, n_lambdas=5)
    jaxreg.path(X, y, lower_bounds=0.0, n_lambdas=5)
    jaxreg.path(X, y, penalty_factor=np.r_[0.0, np.ones(9)], n_lambdas=5)
    jaxreg.path(X[:8], y[:8], n_lambdas=5)  # p > n
    jaxreg.path(X, (y > np.median(y)).astype(float), family="binomial", n_lambdas=5)
    assert programs == {"homotopy": 0, "working_set": 5}


def test_noiseless_response_certifies_from_the_rows(programs, monkeypatch):
    """y an exact linear function of X: at small lambda the residual cancels in the Gram
    formula ``y'y - 2 b'c + b'G b``, so the certificate recomputes it from the rows."""
    X, _, _ = make_glmnet_benchmark(200, 10, 0.3, seed=9)
    y = X @ np.linspace(-1.0, 1.0, 10) + 0.5
    res = jaxreg.path(X, y, tol=1e-9)
    assert programs["working_set"] == 0 and np.all(res.converged)
    assert res.dev_ratio[-1] > 1 - 1e-6
    ref = _working_set_path(monkeypatch, X, y, tol=1e-9)
    np.testing.assert_allclose(res.coef, ref.coef, rtol=0, atol=1e-6)


def test_cross_validation_runs_the_homotopy_per_fold_with_the_same_results(monkeypatch):
    """On CPU a batch of Gaussian lasso paths (folds and the full data) runs the homotopy member
    after member; its CV curve equals the working-set solver's."""
    calls = {"batch": 0}
    batch = P._compiled_homotopy_batch

    def counted(*args, **kwargs):
        calls["batch"] += 1
        return batch(*args, **kwargs)

    monkeypatch.setattr(P, "_compiled_homotopy_batch", counted)
    X, y, _ = make_glmnet_benchmark(200, 20, 0.4, seed=10)
    res = jaxreg.cv(X, y, n_folds=5, n_lambdas=30, tol=1e-10)
    assert calls["batch"] >= 1
    with monkeypatch.context() as m:
        m.setattr(P, "USE_HOMOTOPY", False)
        ref = jaxreg.cv(X, y, n_folds=5, n_lambdas=30, tol=1e-10)
    np.testing.assert_allclose(res.lambdas, ref.lambdas, rtol=1e-13)
    np.testing.assert_allclose(res.cv_mean, ref.cv_mean, rtol=1e-6)
    np.testing.assert_allclose(res.paths[0].coef, ref.paths[0].coef, rtol=0, atol=1e-4)
    assert res.lambda_min == ref.lambda_min
