"""The Gaussian ridge path in closed form (``solvers.ridge``): against the normal equations,
against the working-set solver on the same problems, its pieces against NumPy, and its
hand-over to the working-set solver at a lambda it does not certify."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg import design as D
from jaxreg.datasets import make_glmnet_benchmark
from jaxreg.solvers import ridge

P = importlib.import_module("jaxreg.path")
TOL = 1e-10


@pytest.fixture
def closed_form_calls(monkeypatch):
    """The number of closed-form ridge programs run (a spy on ``path._ridge_program``)."""
    calls = []
    original = P._ridge_program

    def spy(batched):
        program = original(batched)

        def run(*args, **kwargs):
            calls.append(batched)
            return program(*args, **kwargs)

        return run

    monkeypatch.setattr(P, "_ridge_program", spy)
    return calls


def _normal_equations(X, y, lam, w, pf, fit_intercept, standardize):
    """Original-scale ``(coef, intercept)`` minimizing ``1/2 sum w (y - b0 - X b)^2 +
    lam/2 sum pf_j (s_j b_j)^2`` (w summing to one; ``s_j`` the weighted sd, or the root mean
    square without an intercept, 1 unstandardized; pf rescaled to sum to p), by a dense solve."""
    w = w / w.sum()
    pf = pf * len(pf) / pf.sum()
    xm = w @ X if fit_intercept else np.zeros(X.shape[1])
    ym = w @ y if fit_intercept else 0.0
    Xc, yc = X - xm, y - ym
    s = np.sqrt(w @ Xc**2) if standardize else np.ones(X.shape[1])
    A = Xc.T @ (w[:, None] * Xc) + lam * np.diag(pf * s * s)
    coef = np.linalg.solve(A, Xc.T @ (w * yc))
    return coef, ym - xm @ coef


def _data(n, p, seed):
    X, y, _ = make_glmnet_benchmark(n, p, 0.3, seed=seed)
    X[:, 1] = 3.0 * X[:, 1] + 5.0  # a scaled, shifted column
    return X, y


OPTIONS = {
    "default": {},
    "weights-pf-offset": "weights",
    "unpenalized-weights": "unpenalized",
    "no-intercept": dict(fit_intercept=False),
    "unstandardized": dict(standardize=False),
}


@pytest.mark.parametrize("shape", [(80, 12), (25, 60)])  # the Gram form and the kernel form
@pytest.mark.parametrize("case", list(OPTIONS))
def test_closed_form_ridge_path_solves_the_normal_equations(shape, case, closed_form_calls):
    n, p = shape
    X, y = _data(n, p, seed=n + len(case))
    rng = np.random.default_rng(p)
    w, pf, offset = np.ones(n), np.ones(p), np.zeros(n)
    kwargs = {} if isinstance(OPTIONS[case], str) else dict(OPTIONS[case])
    if isinstance(OPTIONS[case], str):
        w, pf, offset = rng.uniform(0.2, 2.0, n), rng.uniform(0.3, 3.0, p), 0.5 * rng.standard_normal(n)
        if OPTIONS[case] == "unpenalized":  # three covariates (one of them the shifted column) left unpenalized
            pf[[1, 4, p - 1]] = 0.0
        kwargs.update(sample_weight=w, penalty_factor=pf, offset=offset)
    res = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=30, tol=TOL, **kwargs)
    assert closed_form_calls == [False]
    assert np.all(res.converged) and np.all(res.gap <= TOL) and np.all(res.n_iter == 1)
    fit_intercept, standardize = kwargs.get("fit_intercept", True), kwargs.get("standardize", True)
    for k in (0, 10, 29):
        coef, intercept = _normal_equations(X, y - offset, res.lambdas[k], w, pf, fit_intercept, standardize)
        scale = np.max(np.abs(coef)) + abs(intercept)
        np.testing.assert_allclose(res.coef[k], coef, rtol=0, atol=1e-9 * scale)
        assert abs(res.intercept[k] - intercept) <= 1e-9 * scale


@pytest.mark.parametrize("shape", [(200, 30), (30, 200)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("unpenalized", [False, True])
def test_closed_form_and_working_set_ridge_paths_agree_within_their_gaps(shape, dtype, unpenalized, closed_form_calls,
                                                                         monkeypatch):
    X, y = _data(*shape, seed=3)
    X, y = X.astype(dtype), y.astype(dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    options = {}
    if unpenalized:
        options["penalty_factor"] = np.r_[[0.0, 1.0, 0.0], np.ones(shape[1] - 3)]
    fast = jaxreg.path(X, y, l1_ratio=0.0, tol=tol, **options)
    monkeypatch.setattr(P, "USE_CLOSED_FORM_RIDGE", False)
    grid = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=2, tol=tol, **options).lambdas
    # lambda_max from the null fit (the unpenalized features fitted), computed two ways.
    np.testing.assert_allclose(fast.lambdas[0], grid[0], rtol=1e-6 if dtype == np.float32 else 1e-12)
    plain = jaxreg.path(X, y, l1_ratio=0.0, lambdas=fast.lambdas, tol=tol, **options)
    assert closed_form_calls == [False]
    assert fast.coef.dtype == dtype and plain.coef.dtype == dtype
    assert np.all(fast.gap <= tol) and np.all(plain.gap <= tol)
    # Each objective is within its relative gap of the optimum, plus the rounding of the
    # objective itself (a few eps).
    bound = (fast.gap + plain.gap + 8 * np.finfo(dtype).eps) * np.abs(plain.objective)
    assert np.all(np.abs(fast.objective - plain.objective) <= bound)


def test_a_constant_column_stays_at_zero_and_the_rest_is_the_path_without_it(closed_form_calls):
    X, y = _data(20, 50, seed=5)
    with_constant = np.column_stack([X[:, :7], np.full(20, 2.5), X[:, 7:]])
    got = jaxreg.path(with_constant, y, l1_ratio=0.0, n_lambdas=20, tol=TOL)
    want = jaxreg.path(X, y, l1_ratio=0.0, lambdas=got.lambdas, tol=TOL)
    assert closed_form_calls == [False, False]
    assert np.all(got.coef[:, 7] == 0.0)
    np.testing.assert_allclose(np.delete(got.coef, 7, axis=1), want.coef, rtol=0, atol=1e-10 * np.max(np.abs(want.coef)))


def test_batched_ridge_paths_and_cv_run_the_closed_form(closed_form_calls):
    X, y = _data(40, 90, seed=7)
    rng = np.random.default_rng(7)
    Y = np.stack([y, y + rng.standard_normal(40)])
    single = [jaxreg.path(X, Y[i], l1_ratio=0.0, n_lambdas=25, tol=TOL) for i in range(2)]
    batch = jaxreg.path_batch(X, Y, l1_ratio=0.0, n_lambdas=25, tol=TOL)
    for one, member in zip(single, batch):
        np.testing.assert_allclose(member.coef, one.coef, rtol=0, atol=1e-10 * np.max(np.abs(one.coef)))
    fit = jaxreg.cv(X, y, l1_ratio=0.0, n_folds=4, n_lambdas=25, tol=TOL)
    assert np.all(np.isfinite(fit.cv_mean))
    assert closed_form_calls[:2] == [False, False] and True in closed_form_calls[2:]


def test_an_uncertified_lambda_hands_the_path_to_the_working_set_solver(monkeypatch, closed_form_calls):
    """A closed-form program whose certificate fails from lambda 12 on (patched) leaves the
    rest of the path to the working-set solver, which resumes there warm-started; the result
    is the working-set solver's path within the two paths' gaps."""
    X, y = _data(30, 70, seed=9)
    original = ridge.run_ridge_path

    def failing_from_12(inputs, **static):
        out = original(inputs, **static)
        K = out["gap"].shape[0]
        late = jnp.arange(K) >= 12
        out = dict(out, gap=jnp.where(late, jnp.inf, out["gap"]), converged=out["converged"] & ~late,
                   k_end=jnp.minimum(out["k_end"], 12), overflow=jnp.ones((), bool))
        out["last_b"] = jnp.concatenate([out["b"][11], jnp.zeros(2, out["b"].dtype)])
        return out

    working_set_starts = []
    original_program = P._program

    def program(batched):
        run = original_program(batched)

        def counted(inputs, **static):
            working_set_starts.append(int(np.asarray(inputs.start)))
            return run(inputs, **static)

        return counted

    monkeypatch.setenv("JAXREG_CACHE_DIR", "off")
    monkeypatch.setattr(P, "_program", program)
    monkeypatch.setattr(P, "run_ridge_path", failing_from_12)
    P._compiled_ridge._compiled.clear()
    jax.clear_caches()
    try:
        got = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=30, tol=TOL)
    finally:
        monkeypatch.undo()
        P._compiled_ridge._compiled.clear()
        jax.clear_caches()
    assert closed_form_calls == [False] and working_set_starts == [12]
    assert np.all(got.n_iter[:12] == 1) and np.all(got.gap <= TOL)
    monkeypatch.setattr(P, "USE_CLOSED_FORM_RIDGE", False)
    want = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=30, tol=TOL)
    bound = (got.gap + want.gap) * np.abs(want.objective) + 1e-15
    assert np.all(np.abs(got.objective - want.objective) <= bound)


@pytest.mark.parametrize("kind", ["array", "row-shifted", "transposed"])
def test_centered_kernel_in_column_blocks_equals_numpy(kind, monkeypatch):
    """``design.centered_kernel`` on 9 x 50 in blocks of 7 columns (the last shifted back over
    columns an earlier block covered), on X and on the views a large X reaches the program as."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 50))
    X[:, 3] += 1e3
    center, weight = X.mean(axis=0), rng.uniform(0.5, 2.0, 50)
    monkeypatch.setattr(D, "_BLOCK_BYTES", 9 * 8 * 7)
    with jax.enable_x64(True):
        if kind == "array":
            Xv = jnp.asarray(X)
        elif kind == "row-shifted":
            Xv = P.row_shifted(X, 3)
        else:
            Xv = D.Transposed(jnp.asarray(X.T))
        got = np.asarray(D.centered_kernel(Xv, jnp.asarray(center), jnp.asarray(weight)))
    Xc = X - center
    want = (Xc * weight) @ Xc.T
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.max(np.abs(want)))


@pytest.mark.parametrize("unpenalized", [False, True])
def test_gram_and_kernel_solves_and_their_refinement_against_numpy(unpenalized):
    """``ridge_from_gram`` and ``ridge_from_kernel`` solve ``(G + lam diag(pf)) b = c`` on the
    allowed features (with features at ``pf = 0`` eliminated first); one refinement step from
    a perturbed solution shrinks its error by orders of magnitude (it is a Newton step on a
    quadratic), and from the solution it stays there."""
    rng = np.random.default_rng(2)
    n, p = 15, 40
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n)
    w = rng.uniform(0.5, 1.5, n)
    w /= w.sum()
    pf = rng.uniform(0.5, 2.0, p)
    allowed = np.ones(p, bool)
    allowed[5] = False
    idx = None
    if unpenalized:
        pf[[3, 17, 30]] = 0.0
        idx = jnp.asarray(np.array([3, 17, 30, p + 1], np.int32))  # padded to 4 with the zero column
    lambdas = np.array([1.0, 0.1, 0.01])
    center, scale = w @ X, np.sqrt(w @ (X - w @ X) ** 2)
    Xs = (X - center) / scale
    G, c = Xs.T @ (w[:, None] * Xs), Xs.T @ (w * y)
    keep = np.flatnonzero(allowed)
    want = np.zeros((3, p))
    for k, lam in enumerate(lambdas):
        want[k, keep] = np.linalg.solve(G[np.ix_(keep, keep)] + lam * np.diag(pf[keep]), c[keep])
    with jax.enable_x64(True):
        B, refine = ridge.ridge_from_gram(jnp.asarray(G), jnp.asarray(c), jnp.asarray(pf), jnp.asarray(allowed),
                                          jnp.asarray(lambdas), idx)
        np.testing.assert_allclose(np.asarray(B), want, rtol=0, atol=1e-10 * np.max(np.abs(want)))
        off = jnp.asarray(want * (1 + 1e-3 * rng.standard_normal(want.shape)))
        assert np.max(np.abs(np.asarray(refine(off)) - want)) < 1e-5 * np.max(np.abs(np.asarray(off) - want))
        np.testing.assert_allclose(np.asarray(refine(B)), want, rtol=0, atol=1e-10 * np.max(np.abs(want)))

        design = D.make_design(jnp.asarray(X), jnp.asarray(center), jnp.asarray(scale**2), True)
        B, residuals, refine = ridge.ridge_from_kernel(design, jnp.asarray(y), jnp.asarray(w), jnp.asarray(pf),
                                                       jnp.asarray(allowed), jnp.asarray(lambdas), idx)
        np.testing.assert_allclose(np.asarray(B), want, rtol=0, atol=1e-10 * np.max(np.abs(want)))
        np.testing.assert_allclose(np.asarray(residuals), y - np.asarray(B) @ Xs.T, rtol=0, atol=1e-12)
        B2, residuals2 = refine(B, residuals)
        np.testing.assert_allclose(np.asarray(B2), want, rtol=0, atol=1e-10 * np.max(np.abs(want)))
        np.testing.assert_allclose(np.asarray(residuals2), y - np.asarray(B2) @ Xs.T, rtol=0, atol=1e-12)


def test_a_batch_mixing_ridge_and_other_l1_ratios_solves_each_member_as_its_own_path(closed_form_calls):
    """In a batch over l1_ratios (0, 0.5, 0, 1) the ridge members come from the closed form and
    the others from the working set (resumed at their first lambda, on the grid the closed
    form computed for their l1_ratio): every member equals its own path within the gaps."""
    X, y = _data(30, 80, seed=11)
    ratios = [0.0, 0.5, 0.0, 1.0]
    batch = jaxreg.path_batch(X, y, l1_ratio=ratios, n_lambdas=20, tol=TOL, n_jobs=1)
    assert closed_form_calls == [True]
    for ratio, member in zip(ratios, batch):
        alone = jaxreg.path(X, y, l1_ratio=ratio, n_lambdas=20, tol=TOL)
        assert member.l1_ratio == ratio and np.all(member.gap <= TOL)
        if ratio == 0.0:  # the closed form's one solve per lambda
            assert np.all(member.n_iter == 1)
        np.testing.assert_allclose(member.lambdas, alone.lambdas, rtol=1e-12)
        assert member.lambda_max == pytest.approx(alone.lambda_max, rel=1e-12)
        bound = (member.gap + alone.gap + 8 * np.finfo(float).eps) * np.abs(alone.objective)
        assert np.all(np.abs(member.objective - alone.objective) <= bound)


@pytest.mark.parametrize("options", [dict(penalty_factor="many-zeros"), dict(lower_bounds=0.0), dict(family="binomial")])
def test_ridge_paths_outside_the_closed_form_run_the_working_set(options, closed_form_calls):
    """Unpenalized features as many as half the rows, a bound or a non-Gaussian family: no
    closed form, and the working set's path certifies."""
    X, y = _data(25, 60, seed=13)
    options = dict(options)
    if options.get("penalty_factor") == "many-zeros":
        options["penalty_factor"] = np.r_[np.zeros(13), np.ones(47)]
    if options.get("family") == "binomial":
        y = (y > np.median(y)).astype(float)
    res = jaxreg.path(X, y, l1_ratio=0.0, n_lambdas=15, tol=1e-8, **options)
    assert closed_form_calls == []
    assert np.all(res.gap <= 1e-8)
