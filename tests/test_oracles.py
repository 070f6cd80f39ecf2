"""Paths against independent references: scikit-learn, python-glmnet, closed forms.

Tolerances: jaxreg certifies a relative duality gap <= tol at every lambda, so its
objective is within a factor (1 + tol) of the optimum; references run at tolerances tight
enough that their own error is below that. Coefficients are compared where the solution
is unique (strictly convex or generic lasso), with tolerances derived from the gap.
"""

import warnings

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, enet_path

import jaxreg

from .conftest import binomial_objective, gaussian_objective, standardize

TOL = 1e-10  # jaxreg tolerance used against tight references
# Logistic gaps on these strongly correlated features stall near 1e-10 in float64 (the
# objective cannot resolve smaller decreases); 1e-9 is reliably certifiable.
TOL_BINOMIAL = 1e-9


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.05])
def test_gaussian_path_matches_sklearn_enet_path(corr_data, l1_ratio):
    X, y = corr_data
    res = jaxreg.path(X, y, l1_ratio=l1_ratio, n_lambdas=30, tol=TOL)
    Xs, _, s = standardize(X)
    _, ref, _ = enet_path(Xs, y - y.mean(), l1_ratio=l1_ratio, alphas=res.lambdas, tol=1e-14, max_iter=200000)
    ref = ref.T
    ours = res.coef * s
    assert np.all(res.gap <= TOL)
    for k, lam in enumerate(res.lambdas):
        obj_ours = gaussian_objective(Xs, y - y.mean(), ours[k], 0.0, lam, l1_ratio)
        obj_ref = gaussian_objective(Xs, y - y.mean(), ref[k], 0.0, lam, l1_ratio)
        assert obj_ours <= obj_ref * (1 + 1e-9) + 1e-14
        np.testing.assert_allclose(res.objective[k], obj_ours, rtol=1e-9)
    np.testing.assert_allclose(ours, ref, atol=1e-5 * np.abs(ref).max())
    np.testing.assert_allclose(res.intercept, y.mean() - res.coef @ X.mean(0), rtol=1e-10)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.3])
def test_gaussian_p_much_larger_than_n_matches_sklearn(l1_ratio):
    """p > 256 and n below the working-set size: the Gaussian solver uses naive updates (no
    Gram cache; the gradient from the residual), with weights to exercise ``W``."""
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(50, 400, 0.3, seed=11)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 50)
    res = jaxreg.path(X, y, l1_ratio=l1_ratio, n_lambdas=25, tol=TOL, sample_weight=w)
    assert np.all(res.gap <= TOL) and np.all(res.converged)
    # The weighted problem as an unweighted one: rows scaled by sqrt(w / mean w) after
    # weighted centering and standardization (1/n-weighted moments, as jaxreg's convention).
    wn = w / w.sum()
    mean = wn @ X
    sd = np.sqrt(wn @ (X - mean) ** 2)
    Xs = (X - mean) / sd
    yc = y - wn @ y
    root = np.sqrt(wn * len(w))[:, None]
    _, ref, _ = enet_path(root * Xs, root[:, 0] * yc, l1_ratio=l1_ratio, alphas=res.lambdas, tol=1e-14, max_iter=500000)
    ref = ref.T
    ours = res.coef * sd
    for k, lam in enumerate(res.lambdas):
        obj_ours = gaussian_objective(root * Xs, root[:, 0] * yc, ours[k], 0.0, lam, l1_ratio)
        obj_ref = gaussian_objective(root * Xs, root[:, 0] * yc, ref[k], 0.0, lam, l1_ratio)
        assert obj_ours <= obj_ref * (1 + 1e-9) + 1e-14
        np.testing.assert_allclose(res.objective[k], obj_ours, rtol=1e-9)
    np.testing.assert_allclose(res.intercept, wn @ y - res.coef @ mean, rtol=1e-9, atol=1e-12)


def test_gaussian_more_than_256_nonzeros_matches_sklearn():
    """Working sets with more than 256 non-zeros (Newton systems of the largest size, many
    coefficients leaving at once through projected steps) still match scikit-learn."""
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(300, 400, 0.2, seed=4)
    res = jaxreg.path(X, y, l1_ratio=0.5, n_lambdas=8, lambda_min_ratio=1e-3, tol=TOL)
    assert res.df.max() > 256
    assert np.all(res.gap <= TOL) and np.all(res.converged)
    Xs, _, s = standardize(X)
    yc = y - y.mean()
    _, ref, _ = enet_path(Xs, yc, l1_ratio=0.5, alphas=res.lambdas, tol=1e-14, max_iter=500000)
    ref = ref.T
    for k, lam in enumerate(res.lambdas):
        obj_ours = gaussian_objective(Xs, yc, res.coef[k] * s, 0.0, lam, 0.5)
        obj_ref = gaussian_objective(Xs, yc, ref[k], 0.0, lam, 0.5)
        assert obj_ours <= obj_ref * (1 + 1e-9) + 1e-14


def test_relative_suboptimality_at_default_tol(corr_data):
    """Default tol: worst relative suboptimality <= 1e-6 against a tight reference."""
    X, y = corr_data
    res = jaxreg.path(X, y)
    tight = jaxreg.path(X, y, lambdas=res.lambdas, tol=1e-13)
    sub = (res.objective - tight.objective) / tight.objective
    assert np.max(sub) <= 1e-6
    assert np.all(res.gap <= 1e-7) and np.all(res.converged)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.0])
def test_binomial_matches_sklearn_logistic(breast_cancer, l1_ratio):
    """Ridge logistic (unique, smooth): coefficients match lbfgs at tight tol. Lasso
    logistic: saga converges slowly on these correlated features, so the claim tested is
    that jaxreg's objective is no worse than scikit-learn's."""
    X, y_lab = breast_cancer.X, breast_cancer.y
    y = (y_lab == "malignant").astype(float)  # sorted labels: benign, malignant -> malignant = 1
    res = jaxreg.path(X, y_lab, family="binomial", l1_ratio=l1_ratio, n_lambdas=20, tol=TOL_BINOMIAL)
    assert list(res.classes) == ["benign", "malignant"]
    Xs, m, s = standardize(X)
    n = X.shape[0]
    for k in (3, 8, 14):
        lam = res.lambdas[k]
        solver = "saga" if l1_ratio > 0 else "lbfgs"
        clf = LogisticRegression(C=1.0 / (n * lam), l1_ratio=l1_ratio, solver=solver, tol=1e-12, max_iter=20000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(Xs, y)
        ref_obj = binomial_objective(Xs, y, clf.coef_[0], clf.intercept_[0], lam, l1_ratio)
        ours = res.coef[k] * s
        ours_icpt = res.intercept[k] + res.coef[k] @ m
        our_obj = binomial_objective(Xs, y, ours, ours_icpt, lam, l1_ratio)
        assert our_obj <= ref_obj * (1 + 1e-9)
        np.testing.assert_allclose(res.objective[k], our_obj, rtol=1e-9)
        if l1_ratio == 0:
            np.testing.assert_allclose(ours, clf.coef_[0], atol=1e-5 * max(1.0, np.abs(ours).max()))
            np.testing.assert_allclose(ours_icpt, clf.intercept_[0], atol=1e-5)


def test_binomial_ridge_with_more_features_than_samples_matches_lbfgs():
    """Ridge logistic on 30 x 150: the working set holds every feature on fewer rows (column
    cache, Newton systems in their n-dimensional form); coefficients match scikit-learn's
    lbfgs at tight tol at three lambdas, and jaxreg's objective is no worse."""
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(30, 150, 0.3, family="binomial", seed=4)
    res = jaxreg.path(X, y, family="binomial", l1_ratio=0.0, n_lambdas=20, tol=TOL_BINOMIAL)
    assert np.all(res.converged) and np.all(res.df == 150)
    Xs, m, s = standardize(X)
    n = X.shape[0]
    for k in (2, 10, 19):
        lam = res.lambdas[k]
        clf = LogisticRegression(C=1.0 / (n * lam), solver="lbfgs", tol=1e-12, max_iter=20000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(Xs, y)
        ours = res.coef[k] * s
        ours_icpt = res.intercept[k] + res.coef[k] @ m
        ref_obj = binomial_objective(Xs, y, clf.coef_[0], clf.intercept_[0], lam, 0.0)
        assert binomial_objective(Xs, y, ours, ours_icpt, lam, 0.0) <= ref_obj * (1 + 1e-9)
        np.testing.assert_allclose(ours, clf.coef_[0], atol=1e-5 * max(1.0, np.abs(ours).max()))
        np.testing.assert_allclose(ours_icpt, clf.intercept_[0], atol=1e-5)


def test_gaussian_ridge_with_more_features_than_samples_matches_the_dual_closed_form():
    """Ridge on 30 x 150 (a matrix-free working set: five slots per row, naive updates):
    ``b = Xs^T (Xs Xs^T / n + lam I)^-1 y_c / n`` on the standardized scale at every lambda."""
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(30, 150, 0.3, seed=5)
    res = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=20, tol=TOL)
    assert np.all(res.converged) and np.all(res.df == 150)
    Xs, _, s = standardize(X)
    n = X.shape[0]
    yc = y - y.mean()
    for k, lam in enumerate(res.lambdas):
        b = Xs.T @ np.linalg.solve(Xs @ Xs.T / n + lam * np.eye(n), yc) / n
        np.testing.assert_allclose(res.coef[k] * s, b, rtol=1e-6, atol=1e-8 * np.abs(b).max())


def test_ridge_closed_form(diabetes):
    """l1_ratio = 0: (Xs' W Xs + lam I) b = Xs' W y on the standardized scale."""
    X, y = diabetes.X, diabetes.y
    res = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=15, tol=TOL)
    Xs, _, s = standardize(X)
    n = X.shape[0]
    G = Xs.T @ Xs / n
    c = Xs.T @ (y - y.mean()) / n
    for k, lam in enumerate(res.lambdas):
        b = np.linalg.solve(G + lam * np.eye(X.shape[1]), c)
        np.testing.assert_allclose(res.coef[k] * s, b, rtol=1e-7, atol=1e-9 * np.abs(b).max())


def test_lambda_max_and_default_grid(diabetes):
    X, y = diabetes.X, diabetes.y
    res = jaxreg.path(X, y)
    Xs, _, _ = standardize(X)
    lmax = np.max(np.abs(Xs.T @ (y - y.mean()))) / X.shape[0]
    assert res.lambda_max == pytest.approx(lmax, rel=1e-12)
    expected = lmax * np.logspace(0, -4, 100)  # n > p: lambda_min_ratio 1e-4
    np.testing.assert_allclose(res.lambdas, expected, rtol=1e-12)
    assert np.all(res.coef[0] == 0) and np.all(res.coef[1:4].any(axis=1))
    ridge = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=5)
    assert ridge.lambda_max == pytest.approx(lmax / 1e-3, rel=1e-12)


def test_p_greater_than_n_grid():
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(40, 300, 0.2, seed=3)
    res = jaxreg.path(X, y)
    assert res.lambdas[-1] / res.lambdas[0] == pytest.approx(1e-2)
    assert np.all(res.converged) and np.all(res.df <= 40 + 1)





def _glmnet():
    return pytest.importorskip("glmnet", reason="python-glmnet is not installed")


def test_gaussian_matches_glmnet_on_diabetes(diabetes):
    gn = _glmnet()
    X, y = diabetes.X, diabetes.y
    ref = gn.ElasticNet(alpha=1.0, n_splits=0, tol=1e-14, standardize=True, max_iter=10**6).fit(X, y)
    res = jaxreg.path(X, y, lambdas=ref.lambda_path_, tol=TOL)
    scale = np.abs(ref.coef_path_).max()
    np.testing.assert_allclose(res.coef, ref.coef_path_.T, atol=1e-4 * scale)
    np.testing.assert_allclose(res.intercept, ref.intercept_path_, rtol=1e-4)


@pytest.mark.parametrize("weighted", [False, True])
def test_elastic_net_matches_glmnet_after_response_scaling(diabetes, weighted):
    """glmnet's Gaussian family standardizes y internally, which scales its ridge term by
    1 / sd(y): glmnet(y, lambda) = sd(y) * jaxreg(y / sd(y), lambda / sd(y)), sd weighted."""
    gn = _glmnet()
    X, y = diabetes.X, diabetes.y
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0]) if weighted else np.ones(X.shape[0])
    ref = gn.ElasticNet(alpha=0.5, n_splits=0, tol=1e-14, standardize=True, max_iter=10**6)
    ref.fit(X, y, sample_weight=w)
    wn = w / w.sum()
    sd_y = np.sqrt(wn @ (y - wn @ y) ** 2)
    res = jaxreg.path(X, y / sd_y, l1_ratio=0.5, lambdas=ref.lambda_path_ / sd_y, sample_weight=w, tol=TOL)
    scale = np.abs(ref.coef_path_).max()
    np.testing.assert_allclose(res.coef * sd_y, ref.coef_path_.T, atol=1e-4 * scale)
    np.testing.assert_allclose(res.intercept * sd_y, ref.intercept_path_, rtol=1e-4)


def test_binomial_matches_glmnet_objective(breast_cancer):
    gn = _glmnet()
    X, y_lab = breast_cancer.X, breast_cancer.y
    y = (y_lab == "malignant").astype(float)
    ref = gn.LogitNet(alpha=1.0, n_splits=0, tol=1e-14, standardize=True, max_iter=10**6).fit(X, y)
    lam = ref.lambda_path_
    res = jaxreg.path(X, y, family="binomial", lambdas=lam)
    _, _, s = standardize(X)
    for k in range(lam.size):
        ours = binomial_objective(X, y, res.coef[k], res.intercept[k], lam[k], scale=s)
        theirs = binomial_objective(X, y, ref.coef_path_[0][:, k], ref.intercept_path_[0][k], lam[k], scale=s)
        assert (ours - theirs) / theirs <= 1e-6
        assert abs(ours - theirs) / theirs <= 1e-6


def test_penalty_factor_matches_rescaled_sklearn(diabetes):
    """pf is rescaled to sum to p (glmnet); with pf the problem is a reweighted lasso."""
    X, y = diabetes.X, diabetes.y
    p = X.shape[1]
    pf = np.linspace(0.5, 2.0, p)
    res = jaxreg.path(X, y, penalty_factor=pf, n_lambdas=10, tol=TOL)
    pf_used = pf * p / pf.sum()
    Xs, _, s = standardize(X)
    # A weighted lasso equals a plain lasso on columns divided by pf.
    _, ref, _ = enet_path(Xs / pf_used, y - y.mean(), l1_ratio=1.0, alphas=res.lambdas, tol=1e-14, max_iter=10**6)
    np.testing.assert_allclose(res.coef * s, ref.T / pf_used, atol=1e-6 * np.abs(res.coef * s).max())


def test_nonnegative_bounds_match_sklearn_positive(diabetes):
    X, y = diabetes.X, diabetes.y
    res = jaxreg.path(X, y, lower_bounds=0.0, n_lambdas=12, tol=TOL)
    assert np.all(res.coef >= 0)
    Xs, _, s = standardize(X)
    _, ref, _ = enet_path(Xs, y - y.mean(), l1_ratio=1.0, alphas=res.lambdas, positive=True, tol=1e-14, max_iter=10**6)
    np.testing.assert_allclose(res.coef * s, ref.T, atol=1e-6 * np.abs(ref).max())


def test_upper_bounds_hold_and_are_optimal(diabetes):
    X, y = diabetes.X, diabetes.y
    res = jaxreg.path(X, y, upper_bounds=5.0, lower_bounds=-5.0, n_lambdas=12, tol=TOL)
    assert np.all(res.coef <= 5.0 + 1e-12) and np.all(res.coef >= -5.0 - 1e-12)
    assert np.all(res.kkt <= 1e-6 * np.abs(y).max())
    assert np.any(np.isclose(np.abs(res.coef), 5.0))


@pytest.mark.parametrize("l1_ratio, standardize", [(1.0, True), (0.5, False)])
def test_wide_binomial_certificates_bound_the_suboptimality(l1_ratio, standardize):
    """p >> n logistic: the certificate's Newton-corrected dual point skips the pass over the
    features outside the working set when a Cauchy-Schwarz bound keeps them inside their
    KKT interval. Its gap must still bound the true relative suboptimality at every lambda
    (against a tight run), and meet the default tol."""
    from jaxreg.datasets import make_glmnet_benchmark

    X, y, _ = make_glmnet_benchmark(60, 1500, 0.3, family="binomial", seed=11)
    kw = dict(family="binomial", l1_ratio=l1_ratio, standardize=standardize)
    res = jaxreg.path(X, y, **kw)
    tight = jaxreg.path(X, y, lambdas=res.lambdas, tol=1e-11, **kw)
    sub = (res.objective - tight.objective) / tight.objective
    assert np.all(res.gap <= 1e-7) and np.all(res.converged)
    assert np.all(sub <= res.gap + 1e-11), np.max(sub - res.gap)


def test_wide_binomial_certificate_without_the_full_pass_equals_the_full_pass(monkeypatch):
    """The corrected dual point computed from the working set's columns (when the bound
    allows) gives the gap that the pass over every feature gives, at every lambda."""
    import importlib

    from jaxreg import design as dsg
    from jaxreg.datasets import make_glmnet_benchmark
    from jaxreg.solvers import working_set

    calls = []

    def every_feature(family, prob, ws, mu_c, curv_deta, l1, with_intercept):
        calls.append(1)  # traced, not loaded
        grad_c = dsg.augmented_rmatvec(prob.design, prob.w * (prob.y - mu_c))
        return working_set._glm_dual_terms(family, prob, ws, mu_c, grad_c, with_intercept)

    path_module = importlib.import_module("jaxreg.path")  # the module (jaxreg.path is the function)
    X, y, _ = make_glmnet_benchmark(60, 1500, 0.3, family="binomial", seed=12)
    res = jaxreg.path(X, y, family="binomial", tol=1e-9)

    def retrace():  # jit's trace cache would otherwise keep the function traced first
        path_module._compiled_path._compiled.clear()
        jax.clear_caches()

    retrace()
    # The disk cache's trace index knows jaxreg's source, not this patch: it would hand back
    # the program traced first.
    monkeypatch.setenv("JAXREG_CACHE_DIR", "off")
    monkeypatch.setattr(working_set, "_corrected_dual_terms", every_feature)
    try:
        full = jaxreg.path(X, y, family="binomial", tol=1e-9)
    finally:
        monkeypatch.undo()
        retrace()
    assert calls, "the patched certificate was not traced"
    np.testing.assert_array_equal(res.n_iter, full.n_iter)
    np.testing.assert_allclose(res.gap, full.gap, rtol=1e-6, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binomial_loss_matches_numpy_logaddexp(dtype):
    """``log(1 + exp(eta)) - y eta`` to a few ulps of NumPy's ``logaddexp`` from eta = -1e3 to
    1e3, where one of the two terms overflows in a naive formula and the other underflows."""
    from jaxreg.families import get_family

    eta = np.concatenate([-np.logspace(-12, 3, 200), [0.0], np.logspace(-12, 3, 200)]).astype(dtype)
    loss = get_family("binomial").loss
    for y in (0.0, 1.0, 0.3):
        with jax.enable_x64(dtype == np.float64):
            got = np.asarray(jax.jit(loss)(np.full_like(eta, y), eta))
        want = np.logaddexp(0.0, eta.astype(np.float64)) - y * eta.astype(np.float64)
        assert got.dtype == dtype
        eps = np.finfo(dtype).eps
        # absolute error of the two terms, each exact to a few ulps of its own size
        scale = np.logaddexp(0.0, eta.astype(np.float64)) + np.abs(y * eta.astype(np.float64))
        np.testing.assert_array_less(np.abs(got - want), 4 * eps * scale + np.finfo(dtype).tiny)


def test_binomial_conjugate_matches_numpy():
    """``F*(-theta) = sum w phi(t)``, ``t = (1 - s) y + s mu``, ``phi(t) = t log t + (1-t) log(1-t)``
    with phi(0) = phi(1) = 0; +inf once a weighted row has t outside [0, 1]; rows with w = 0
    count for nothing wherever their t lands."""
    from jaxreg.families import get_family

    conj = jax.jit(get_family("binomial").conjugate_at_scaled_residual)
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    mu = np.array([0.2, 0.7, 0.0, 1.0, 0.999, 1e-300])
    w = np.array([0.5, 1.0, 2.0, 1.0, 0.25, 3.0])
    s = 0.9

    def phi(t):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 0, t * np.log(t), 0.0) + np.where(t < 1, (1 - t) * np.log1p(-t), 0.0)

    with jax.enable_x64(True):
        got = float(conj(y, mu, w, s))
        t = (1 - s) * y + s * mu
        np.testing.assert_allclose(got, np.sum(w * phi(t)), rtol=1e-14)
        assert float(conj(y, mu, w, 1.0)) == pytest.approx(np.sum(w * phi(mu)), rel=1e-14)  # t = 0 and t = 1 rows
        outside = mu.copy()
        outside[0] = -0.01  # a corrected mean below 0 on a weighted row
        assert float(conj(y, outside, w, 1.0)) == np.inf
        w0 = w.copy()
        w0[0] = 0.0
        assert float(conj(y, outside, w0, 1.0)) == pytest.approx(np.sum(w0 * phi(np.clip(outside, 0, 1))), rel=1e-14)


def test_penalty_conjugate_matches_brute_force_sup():
    """``Omega*(z) = sup_{lo <= b <= hi} z b - l1 |b| - l2/2 b^2`` per coordinate against the
    largest value over a fine grid of b (plus the bounds and the kinks), for lasso, ridge and
    elastic-net terms, inside and outside ``|z| <= l1``, with and without finite bounds; an
    infinite value (no ridge, no bound in the direction of z, |z| > l1) is reported as 0."""
    from jaxreg import penalties

    cases = []  # (z, l1, l2, lo, hi)
    for z in (-2.5, -0.7, -0.3, 0.0, 0.2, 0.6, 1.9):
        for l1, l2 in ((0.5, 0.0), (0.0, 0.8), (0.5, 0.8), (0.0, 0.0)):
            for lo, hi in ((-np.inf, np.inf), (-1.0, 0.75), (0.0, 2.0), (-0.4, 0.0)):
                cases.append((z, l1, l2, lo, hi))
    z, l1, l2, lo, hi = (np.array(c) for c in zip(*cases))
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(penalties.conjugate)(z, l1, l2, lo, hi))
    for k, (zk, a, r, lo_k, hi_k) in enumerate(cases):
        infinite = r == 0 and abs(zk) > a and not np.isfinite(hi_k if zk > 0 else lo_k)
        if infinite:
            assert got[k] == 0.0, cases[k]
            continue
        grid = np.concatenate([np.linspace(max(lo_k, -10.0), min(hi_k, 10.0), 200001), [0.0]])
        grid = grid[(grid >= lo_k) & (grid <= hi_k)]
        want = np.max(zk * grid - a * np.abs(grid) - 0.5 * r * grid * grid)
        assert got[k] == pytest.approx(want, abs=1e-8), cases[k]
