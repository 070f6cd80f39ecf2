"""Unit oracles for the design operator's Gram products and the working-set QP solver."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg import design as dsg
from jaxreg.datasets import make_glmnet_benchmark
from jaxreg.solvers import quadratic


def _centered_gram(X, w, fit_intercept=True):
    """Reference ``Xs_aug^T W Xs_aug`` in float64 NumPy, columns centered first."""
    n, p = X.shape
    c = w @ X if fit_intercept else np.zeros(p)
    Xc = X - c
    s = np.sqrt(w @ (Xc * Xc))
    Xs = Xc / s
    aug = np.column_stack([Xs, np.ones(n), np.zeros(n)])
    return aug.T @ (w[:, None] * aug)


@pytest.mark.parametrize("n", [7, 1024, 2500])  # one partial block, one exact block, 3 blocks (last shifted)
def test_full_gram_equals_centered_reference_and_column_gram(n):
    rng = np.random.default_rng(n)
    p = 6
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p) + rng.normal(0, 5, p)
    w = rng.uniform(0.1, 1.0, n)
    w /= w.sum()
    ref = _centered_gram(X, w)
    with jax.enable_x64(True):
        Xj, wj = jnp.asarray(X), jnp.asarray(w)
        center, variance, _ = dsg.column_moments(Xj, wj, True)
        d = dsg.make_design(Xj, center, variance, True)
        G = np.asarray(dsg.full_gram(d, wj))
        cols = np.stack([np.asarray(dsg.column_gram(d, wj, j)) for j in range(p + 2)], axis=1)
    np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(G, cols, rtol=1e-12, atol=1e-12)


def test_full_gram_float32_columns_with_large_means_keep_precision():
    """Centering each block first: X^T W X - m m^T would lose every digit at mean/sd = 1e3.
    The standardized diagonal is 1; the rest is compared at the design's own center and scale."""
    rng = np.random.default_rng(0)
    n, p = 3000, 5
    X32 = (rng.normal(size=(n, p)) + 1e3).astype(np.float32)
    w = np.full(n, 1.0 / n)
    Xj, wj = jnp.asarray(X32), jnp.asarray(w, np.float32)
    center, variance, _ = dsg.column_moments(Xj, wj, True)
    d = dsg.make_design(Xj, center, variance, True)
    G = np.asarray(dsg.full_gram(d, wj))
    assert G.dtype == np.float32
    Xs = (X32.astype(np.float64) - np.asarray(center, np.float64)) / np.asarray(d.scale, np.float64)
    ref = Xs.T @ (w[:, None] * Xs)
    np.testing.assert_allclose(G[:p, :p], ref, rtol=1e-3, atol=1e-3 * np.max(np.abs(ref)))
    np.testing.assert_allclose(np.diagonal(G)[:p], 1.0, rtol=1e-4)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_column_moments_float32_large_means_match_float64(fit_intercept):
    """The variance is taken about the center: ``E[x^2] - m^2`` in float32 loses every digit
    at mean/sd = 1e3 (scales ~40% off). Weighted, against a float64 NumPy reference."""
    rng = np.random.default_rng(1)
    n, p = 4000, 6
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 2.0, p) + 1e3 * rng.uniform(0.5, 2.0, p)
    X32 = X.astype(np.float32)
    w = rng.uniform(0.1, 1.0, n)
    w /= w.sum()
    center, variance, degenerate = dsg.column_moments(jnp.asarray(X32), jnp.asarray(w, np.float32), fit_intercept)
    X64 = X32.astype(np.float64)
    m = w @ X64 if fit_intercept else np.zeros(p)
    ref_var = w @ ((X64 - m) ** 2)
    assert variance.dtype == np.float32 and not np.any(degenerate)
    np.testing.assert_allclose(np.asarray(center), m, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(variance), ref_var, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_moments_flags_exactly_the_degenerate_columns(dtype):
    """Constant columns (with an intercept) and zero columns (without) are decided exactly on
    the rows with positive weight: a column that is constant up to one float spacing, or
    varies only on zero-weight rows, is (respectively is not) degenerate."""
    rng = np.random.default_rng(3)
    n = 64
    X = rng.normal(size=(n, 5)).astype(dtype) + 3000.0
    X[:, 1] = dtype(2024.5)                          # constant
    X[:, 2] = dtype(2024.5)
    X[7, 2] = np.nextafter(dtype(2024.5), dtype(3000))  # one spacing away: informative
    X[:, 3] = dtype(-1.25)
    X[:4, 3] = 9.0                                   # differs only on zero-weight rows
    X[:, 4] = 0.0
    X = np.column_stack([X, np.zeros((n, 2), dtype)])
    X[2, 5] = 7.0                                    # zero except on a zero-weight row
    X[::3, 6] = -0.0                                 # signed zeros compare equal
    w = np.full(n, 1.0 / (n - 4), dtype)
    w[:4] = 0.0
    with jax.enable_x64(dtype == np.float64):
        Xj, wj = jnp.asarray(X), jnp.asarray(w)
        assert Xj.dtype == dtype
        _, variance, deg = dsg.column_moments(Xj, wj, True)
        _, _, deg0 = dsg.column_moments(Xj, wj, False)
    np.testing.assert_array_equal(np.asarray(deg), [False, True, False, True, True, True, True])
    assert float(variance[2]) > 0
    np.testing.assert_array_equal(np.asarray(deg0), [False, False, False, False, True, True, True])


def test_augmented_rmatvec_rows_equals_one_product_per_row():
    rng = np.random.default_rng(8)
    n, p = 37, 11
    X = rng.normal(size=(n, p)) + rng.normal(0, 4, p)
    w = np.full(n, 1.0 / n)
    R = rng.normal(size=(3, n))
    with jax.enable_x64(True):
        Xj, wj = jnp.asarray(X), jnp.asarray(w)
        center, variance, _ = dsg.column_moments(Xj, wj, True)
        d = dsg.make_design(Xj, center, variance, True)
        rows = np.asarray(dsg.augmented_rmatvec_rows(d, jnp.asarray(R)))
        each = np.stack([np.asarray(dsg.augmented_rmatvec(d, jnp.asarray(r))) for r in R])
    assert rows.shape == (3, p + 2)
    np.testing.assert_allclose(rows, each, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("standardize", [True, False])
def test_design_rms_is_the_weighted_column_norm_and_bounds_correlations(standardize):
    rng = np.random.default_rng(9)
    n, p = 50, 7
    X = rng.normal(size=(n, p)) * rng.uniform(0.2, 3.0, p) + rng.normal(0, 2, p)
    w = rng.uniform(0.0, 1.0, n)
    w[:3] = 0.0
    w /= w.sum()
    v = np.where(w > 0, rng.normal(size=n) * w, 0.0)
    with jax.enable_x64(True):
        Xj, wj = jnp.asarray(X), jnp.asarray(w)
        center, variance, _ = dsg.column_moments(Xj, wj, True)
        d = dsg.make_design(Xj, center, variance, standardize)
        Xs = (X - np.asarray(d.center)) / np.asarray(d.scale)
        corr = np.asarray(dsg.rmatvec(d, jnp.asarray(v)))
    rms = np.sqrt(w @ Xs**2)
    np.testing.assert_allclose(np.asarray(d.rms), rms, rtol=1e-12)
    if standardize:
        np.testing.assert_allclose(rms, 1.0, rtol=1e-12)
    used = w > 0
    assert np.all(np.abs(corr) <= np.asarray(d.rms) * np.sqrt(np.sum(v[used] ** 2 / w[used])) * (1 + 1e-12))


@pytest.mark.parametrize("size", [1, 5, 37, 1002])
def test_candidate_queue_pops_positive_scores_best_first_lowest_index_on_ties(size):
    """The working set's candidate queue (blocks of ~sqrt(size) scores) returns exactly the
    order of a stable sort by decreasing score, positive scores only."""
    from jaxreg.solvers import working_set

    rng = np.random.default_rng(size)
    score = np.where(rng.uniform(size=size) < 0.3, rng.integers(1, 6, size).astype(float), 0.0)
    score[0] = max(score[0], 1.0)
    expected = [int(j) for j in np.argsort(-score, kind="stable") if score[j] > 0]
    with jax.enable_x64(True):
        pop = jax.jit(working_set._pop_best)
        queue = working_set._candidate_queue(jnp.asarray(score))
        popped = []
        while bool(working_set._has_candidate(queue)):
            j, queue = pop(queue)
            popped.append(int(j))
    assert popped == expected


def test_wide_x_moments_and_gram_run_over_small_row_blocks():
    """On a wide X a row block is ~4 MB, not 1024 rows: 300 x 6000 float64 takes 87-row blocks
    (4 of them, the last shifted back). Moments and Gram against NumPy; and the compiled
    moments of a 64 MB X need well under one X of temporaries (one 1024-row block was the
    whole X, and XLA held three such temporaries at once)."""
    rng = np.random.default_rng(5)
    n, p = 300, 6000
    assert dsg._block_rows(n, p, 8) == 87 and dsg._block_rows(5000, 100, 8) == 1024
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 2.0, p) + rng.normal(0, 3, p)
    w = rng.uniform(0.1, 1.0, n)
    w[:5] = 0.0
    w /= w.sum()
    with jax.enable_x64(True):
        Xj, wj = jnp.asarray(X), jnp.asarray(w)
        center, variance, degenerate = dsg.column_moments(Xj, wj, True)
        m = w @ X
        np.testing.assert_allclose(np.asarray(center), m, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(variance), w @ ((X - m) ** 2), rtol=1e-11)
        assert not np.any(degenerate)
        d = dsg.make_design(Xj[:, :40], center[:40], variance[:40], True)
        G = np.asarray(dsg.full_gram(d, wj))
        np.testing.assert_allclose(G, _centered_gram(X[:, :40], w), rtol=1e-11, atol=1e-11)

        big = jax.ShapeDtypeStruct((400, 20000), jnp.float64)
        weights = jax.ShapeDtypeStruct((400,), jnp.float64)
        compiled = jax.jit(dsg.column_moments, static_argnums=2).lower(big, weights, True).compile()
        temp = compiled.memory_analysis().temp_size_in_bytes
    assert temp < 0.25 * 400 * 20000 * 8, temp


def test_float32_shift_copies_only_for_nonconstant_large_mean_columns():
    """``path.float32_shift`` copies X - mean for a column with mean > 16 sd; a constant column
    (an all-ones column users add) does not count: its coefficient is fixed at zero."""
    from jaxreg.path import float32_shift

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40_000, 6)).astype(np.float32)  # more rows than one chunk of the sums
    X[:, 2] = 1.0
    X[:, 4] = 7.25
    assert float32_shift(X, True)[1] is None
    assert float32_shift(X, True)[0] is X
    X[:, 5] = 1e3 + rng.normal(size=40_000).astype(np.float32)
    shifted, shift = float32_shift(X, True)
    assert shifted is not X and shift is not None
    np.testing.assert_array_equal(shifted, X - shift.astype(np.float32))
    assert float32_shift(X, False)[1] is None  # without an intercept the shift would change the model


def test_float32_path_on_large_mean_columns_matches_float64():
    """End to end: standardized float32 paths on columns with mean/sd ~ 1e3 agree with the
    float64 path (same lambdas) to float32's tol: objective within tol, coefficients and
    predictions close. Without the shifted copy the float32 objectives were 2.4e-4 off."""
    rng = np.random.default_rng(2)
    n, p = 300, 10
    Z = rng.normal(size=(n, p))
    X32 = (Z + 1e3).astype(np.float32)
    y32 = (Z[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.5 * rng.normal(size=n)).astype(np.float32)
    # the same (float32-rounded) data in float64: rounding X to float32 at mean 1e3 moves
    # the objective by ~1e-4 by itself
    r64 = jaxreg.path(X32.astype(np.float64), y32.astype(np.float64), n_lambdas=20)
    r32 = jaxreg.path(X32, y32, lambdas=r64.lambdas)
    assert r32.coef.dtype == np.float32 and np.all(r32.gap <= r32.tol)
    np.testing.assert_allclose(r32.objective, r64.objective, rtol=r32.tol)
    np.testing.assert_allclose(r32.coef, r64.coef, atol=1e-2 * np.abs(r64.coef).max())
    # the intercept maps back from the shifted copy X - mean (float32_shift): predictions agree
    pred32 = r32.predict(X32).astype(np.float64)
    np.testing.assert_allclose(pred32, r64.predict(X32.astype(np.float64)), atol=1e-2 * np.std(y32))


def _qp(seed, m=12, rho=0.6):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(40, m)) + np.sqrt(rho / (1 - rho)) * rng.normal(size=(40, 1))
    H = A.T @ A / 40
    g = A.T @ rng.normal(size=40) / 40 * 3
    lam = 0.3 * np.max(np.abs(g))
    return H, g, lam


def _cd_oracle(H, g, lam, max_sweeps):
    """Minimizer of ``1/2 b'Hb - g'b + lam |b|_1`` by plain cyclic coordinate descent in NumPy,
    until no coordinate moves by 1e-15."""
    b = np.zeros(H.shape[0])
    for _ in range(max_sweeps):
        old = b.copy()
        for j in range(b.shape[0]):
            u = g[j] - H[j] @ b + H[j, j] * b[j]
            b[j] = np.sign(u) * max(abs(u) - lam, 0.0) / H[j, j]
        if np.max(np.abs(b - old)) < 1e-15:
            break
    return b


@pytest.mark.parametrize("m", [1, 2, 17, 129, 1001])
def test_compaction_order_equals_stable_argsort(m):
    """True entries first, then the others, each in index order: what ``argsort(~mask,
    stable=True)`` gives, for masks from all-false to all-true."""
    rng = np.random.default_rng(m)
    order = jax.jit(quadratic.compaction_order)
    for density in (0.0, 0.1, 0.5, 0.9, 1.0):
        mask = rng.random(m) < density
        got = np.asarray(order(jnp.asarray(mask)))
        np.testing.assert_array_equal(got, np.argsort(~mask, kind="stable"))


@pytest.mark.parametrize("pure_linalg", [False, True])
def test_refined_free_solve_matches_dense_solve_on_every_block_size(pure_linalg):
    """``refined_free_solve`` at m = 129 (factor sizes 64, 96 and 129, free sets in random
    positions) against NumPy's solve of ``A_FF d = rhs_F``: exact when the factorized ``H`` is
    ``A``; when ``H`` is ``A`` at weights 5% off (as the certificate's carried Hessian is), each
    refinement step multiplies the error by at most the contraction factor ``rho``, the spectral
    radius of ``I - (H + diag(l2))_FF^-1 A_FF`` (computed here with NumPy). Zero on the fixed
    coordinates; zero when the factorization fails."""
    rng = np.random.default_rng(11)
    n, m = 400, 129
    X = rng.normal(size=(n, m))
    w = rng.uniform(0.5, 1.5, n)
    A = X.T @ (w[:, None] * X) / n
    w_old = w * (1.0 + 0.05 * rng.uniform(-1.0, 1.0, n))
    l2 = rng.uniform(0.0, 0.1, m)
    rhs = rng.normal(size=m)
    assert quadratic._system_sizes(m) == (16, 64, 96, 129)
    assert quadratic._refinement_sizes(m) == (64, 96, 129)
    with jax.enable_x64(True):
        solve = jax.jit(lambda H, free, k: quadratic.refined_free_solve(
            H, jnp.asarray(l2), jnp.asarray(rhs), free, lambda d: jnp.asarray(A) @ d + jnp.asarray(l2) * d, k, pure_linalg),
            static_argnums=2)
        for k in (0, 9, 40, 64, 65, 96, 97, 129):
            free = np.zeros(m, bool)
            free[rng.permutation(m)[:k]] = True
            F = np.flatnonzero(free)
            want = np.zeros(m)
            want[F] = np.linalg.solve(A[np.ix_(F, F)] + np.diag(l2[F]), rhs[F])
            exact = np.asarray(solve(jnp.asarray(A), jnp.asarray(free), 0))
            assert np.all(exact[~free] == 0.0)
            np.testing.assert_allclose(exact, want, rtol=1e-11, atol=1e-11 * np.max(np.abs(want), initial=0.0))
            if not k:
                continue
            H = X.T @ (w_old[:, None] * X) / n
            M = H[np.ix_(F, F)] + np.diag(l2[F])
            rho = np.max(np.abs(np.linalg.eigvals(np.eye(k) - np.linalg.solve(M, A[np.ix_(F, F)] + np.diag(l2[F])))))
            first, refined = (np.asarray(solve(jnp.asarray(H), jnp.asarray(free), r)) for r in (0, 2))
            assert np.all(refined[~free] == 0.0)
            e0, e2 = (np.linalg.norm(v - want) for v in (first, refined))
            assert 1e-3 < rho < 0.2 and e0 > 1e-4 * np.linalg.norm(want)  # a real approximation
            assert e2 <= 2.0 * rho**2 * e0, (k, rho, e0, e2)
        broken = jnp.asarray(A).at[0, 0].set(jnp.nan)
        assert np.all(np.asarray(solve(broken, jnp.ones(m, bool), 2)) == 0.0)


def test_newton_and_refined_solves_on_every_size_of_a_large_working_set():
    """m = 257 slots (elastic-net paths on p >> n data grow to them): the sizes include one
    between the geometric mean and m (208), and every branch, the new one included, solves
    ``(H + diag(l2))_FF d_F = rhs_F`` as NumPy does (exact products: the refinement changes
    nothing)."""
    rng = np.random.default_rng(12)
    n, m = 600, 257
    X = rng.normal(size=(n, m))
    A = X.T @ X / n
    l2 = rng.uniform(0.01, 0.1, m)
    rhs = rng.normal(size=m)
    assert quadratic._system_sizes(m) == (16, 64, 144, 208, 257)
    assert quadratic._refinement_sizes(m) == (64, 144, 208, 257)
    with jax.enable_x64(True):
        newton = jax.jit(lambda free: quadratic._free_block_solve(jnp.asarray(A), jnp.asarray(l2), jnp.asarray(rhs), free, False)[0])
        refined = jax.jit(lambda free: quadratic.refined_free_solve(
            jnp.asarray(A), jnp.asarray(l2), jnp.asarray(rhs), free, lambda d: jnp.asarray(A) @ d + jnp.asarray(l2) * d, 1))
        for k in (9, 64, 100, 144, 180, 208, 230, 257):
            free = np.zeros(m, bool)
            free[rng.permutation(m)[:k]] = True
            F = np.flatnonzero(free)
            want = np.zeros(m)
            want[F] = np.linalg.solve(A[np.ix_(F, F)] + np.diag(l2[F]), rhs[F])
            for got in (np.asarray(newton(jnp.asarray(free))), np.asarray(refined(jnp.asarray(free)))):
                assert np.all(got[~free] == 0.0)
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.max(np.abs(want)))


def _reference_sweep(H, l1, l2, lo, hi, b, gr, order):
    """One cyclic coordinate-descent sweep in NumPy over ``order``."""
    b, gr = b.copy(), gr.copy()
    for j in order:
        a = H[j, j]
        u = gr[j] + a * b[j]
        new = np.clip(np.sign(u) * max(abs(u) - l1[j], 0.0) / (a + l2[j]), lo[j], hi[j]) if a + l2[j] > 0 else 0.0
        gr -= H[j] * (new - b[j])
        b[j] = new
    return b, gr


@pytest.mark.parametrize("m", [1, 2, 7, 8])
@pytest.mark.parametrize("compact", [False, True])
def test_cd_sweep_matches_a_cyclic_reference(m, compact):
    """``_cd_sweep`` against a NumPy sweep, odd and even numbers of coordinates, all slots or
    only the movable ones (fixed slots at lo = hi = 0), a coordinate at its upper bound."""
    rng = np.random.default_rng(m)
    X = rng.normal(size=(3 * m, m))
    H = X.T @ X / (3 * m)
    l1, l2 = rng.uniform(0.0, 0.3, m), rng.uniform(0.0, 0.1, m)
    lo, hi = np.full(m, -np.inf), np.full(m, np.inf)
    hi[0] = 0.2
    b = rng.normal(size=m)
    if compact and m > 1:
        fixed = rng.permutation(m)[: m // 2]
        lo[fixed] = hi[fixed] = b[fixed] = 0.0
    gr = rng.normal(size=m) - H @ b
    order = [j for j in range(m) if lo[j] < hi[j]] if compact else range(m)
    want_b, want_gr = _reference_sweep(H, l1, l2, lo, hi, b, gr, order)
    with jax.enable_x64(True):
        qp = quadratic.QuadProblem(*(jnp.asarray(v) for v in (H, l1, l2, lo, hi)))
        got_b, got_gr = quadratic._cd_sweep(qp, jnp.asarray(b), jnp.asarray(gr), compact)
    np.testing.assert_allclose(np.asarray(got_b), want_b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(got_gr), want_gr, rtol=1e-12, atol=1e-12)


def _lowrank_system(rng, m, n, dtype):
    """Slot columns ``C`` (m, n; slot 0 the intercept's column of ones), weights ``v`` (n,) and
    ridge terms ``D`` (m,) of a p >> n Newton system ``C V C^T + diag(D)``."""
    C = rng.normal(size=(m, n))
    C[0] = 1.0
    v = rng.uniform(0.05, 0.25, n) / n
    D = rng.uniform(0.01, 0.1, m) * 0.2
    return C.astype(dtype), v.astype(dtype), D.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("unpenalized", ["none", "intercept", "intercept, damped", "feature", "intercept and features"])
def test_woodbury_solve_matches_dense_solve(dtype, unpenalized):
    """``woodbury_solve`` (the n-dimensional form of a Newton system with more free
    coordinates than rows) against NumPy's float64 solve of ``(C V C^T + diag(D))_FF d_F =
    rhs_F``, one and two right-hand sides, with no coordinate of ``D = 0``, the intercept at
    ``D = 0`` (eliminated exactly), the intercept at a tiny ``D``, an unpenalized feature at
    ``D = 0``, and the intercept with four unpenalized features (a Schur complement of four).
    Zero on the fixed coordinates. Tolerance: the float64 solve's error bound ``eps cond``
    with a factor 100."""
    rng = np.random.default_rng(3)
    m, n = 257, 40
    C, v, D = _lowrank_system(rng, m, n, dtype)
    if unpenalized == "intercept":
        D[0] = 0.0
    elif unpenalized == "intercept, damped":
        D[0] = 1e-12
    elif unpenalized == "feature":
        D[7] = 0.0
    elif unpenalized == "intercept and features":
        D[[0, 7, 11, 19, 200]] = 0.0
    free = rng.random(m) < 0.8
    free[[0, 7, 11, 19, 200]] = True
    F = np.flatnonzero(free)
    rhs = rng.normal(size=(m, 2)).astype(dtype)
    M = (C.astype(float) * v.astype(float)) @ C.T.astype(float) + np.diag(D.astype(float))
    want = np.zeros((m, 2))
    want[F] = np.linalg.solve(M[np.ix_(F, F)], rhs[F].astype(float))
    tol = 100 * np.finfo(dtype).eps * np.linalg.cond(M[np.ix_(F, F)])
    with jax.enable_x64(dtype == np.float64):
        eliminate = jnp.zeros(quadratic.WOODBURY_ELIMINATED) if unpenalized == "intercept and features" else None
        lowrank = quadratic.low_rank_hessian(jnp.asarray(C), jnp.asarray(v), eliminate=eliminate)
        np.testing.assert_allclose(np.asarray(lowrank.diag, float), np.diagonal(M) - D, rtol=100 * np.finfo(dtype).eps)
        assert bool(quadratic.woodbury_usable(lowrank, jnp.asarray(D), jnp.asarray(free)))
        both, ok = quadratic.woodbury_solve(lowrank, jnp.asarray(D), jnp.asarray(rhs), jnp.asarray(free))
        one, ok_one = quadratic.woodbury_solve(lowrank, jnp.asarray(D), jnp.asarray(rhs[:, 0]), jnp.asarray(free))
    assert bool(ok) and bool(ok_one) and both.dtype == dtype
    both, one = np.asarray(both, float), np.asarray(one, float)
    assert np.all(both[~free] == 0.0) and np.all(one[~free] == 0.0)
    scale = np.max(np.abs(want))
    assert np.max(np.abs(both - want)) <= tol * scale
    assert np.max(np.abs(one - want[:, 0])) <= tol * scale


@pytest.mark.parametrize("eliminate", [0, quadratic.WOODBURY_ELIMINATED])
def test_woodbury_usable_only_with_many_free_coordinates_and_few_unpenalized(eliminate):
    """The n-dimensional form is chosen from ``woodbury_min_free`` free coordinates on, with
    one free coordinate at ``D = 0`` (eliminated exactly), or up to ``1 + E`` in a problem
    built to eliminate E more (by a Schur complement), and not with more; never when n >= m.
    ``_free_block_solve`` then gives NumPy's answer either way (Cholesky otherwise)."""
    rng = np.random.default_rng(4)
    m, n = 257, 40
    C, v, D = _lowrank_system(rng, m, n, np.float64)
    H = (C * v) @ C.T
    threshold = quadratic.woodbury_min_free(n, m)
    assert n < threshold < m
    with jax.enable_x64(True):
        lowrank = quadratic.low_rank_hessian(jnp.asarray(C), jnp.asarray(v),
                                             eliminate=jnp.zeros(eliminate) if eliminate else None)

        def usable(free, D):
            return bool(quadratic.woodbury_usable(lowrank, jnp.asarray(D), jnp.asarray(free)))

        solve = jax.jit(lambda free, D: quadratic._free_block_solve(jnp.asarray(H), D, jnp.ones(m),
                                                                     free, False, lowrank)[0])
        for k in (threshold - 1, threshold, m):
            free = np.zeros(m, bool)
            free[rng.permutation(m)[:k]] = True
            assert usable(free, D) == (k >= threshold)
            two_zero, many_zero = D.copy(), D.copy()
            two_zero[np.flatnonzero(free)[:2]] = 0.0
            many_zero[np.flatnonzero(free)[:2 + quadratic.WOODBURY_ELIMINATED]] = 0.0
            assert usable(free, two_zero) == (k >= threshold and eliminate > 0)
            assert not usable(free, many_zero)
            for Dk in (D, two_zero, many_zero):
                F = np.flatnonzero(free)
                want = np.zeros(m)
                want[F] = np.linalg.solve(H[np.ix_(F, F)] + np.diag(Dk[F]), np.ones(len(F)))
                got = np.asarray(solve(jnp.asarray(free), jnp.asarray(Dk)))
                np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.max(np.abs(want)))
        tall = quadratic.low_rank_hessian(jnp.ones((m, m + 1)), jnp.ones(m + 1))
        assert not bool(quadratic.woodbury_usable(tall, jnp.asarray(D), jnp.ones(m, bool)))


@pytest.mark.parametrize("compact", [True])
def test_matrix_free_subproblem_matches_the_dense_one(compact):
    """A subproblem given only as columns and weights (``H`` None) against the same one with
    its dense ``H = C V C^T + diag(extra)``: diagonal, products, a coordinate sweep (residual
    form), the violation, a lasso Newton system (``D = 0``: the free block from the columns)
    and a whole ``solve_quadratic``."""
    rng = np.random.default_rng(8)
    m, n = 40, 8
    C, v, _ = _lowrank_system(rng, m, n, np.float64)
    extra = rng.uniform(0.0, 0.01, m)
    H = (C * v) @ C.T + np.diag(extra)
    l1, l2 = rng.uniform(0.0, 0.02, m), rng.uniform(0.0, 0.01, m)
    lo, hi = np.full(m, -np.inf), np.full(m, np.inf)
    if compact:
        lo[30:] = hi[30:] = 0.0
    b = np.where(lo < hi, rng.normal(size=m) * (rng.random(m) < 0.5), 0.0)
    gr = rng.normal(size=m) * 0.05 - H @ b
    free = (b != 0) & (lo < hi)
    with jax.enable_x64(True):
        lowrank = quadratic.low_rank_hessian(*(jnp.asarray(a) for a in (C, v, extra)))
        bounds = [jnp.asarray(a) for a in (l1, l2, lo, hi)]
        dense = quadratic.QuadProblem(jnp.asarray(H), *bounds)
        free_form = quadratic.QuadProblem(None, *bounds, lowrank)
        for qp in (dense, free_form):
            np.testing.assert_allclose(np.asarray(quadratic.hessian_diagonal(qp)), np.diagonal(H), rtol=1e-13)
            np.testing.assert_allclose(np.asarray(quadratic.hessian_product(qp, jnp.asarray(b))), H @ b, rtol=1e-12, atol=1e-15)
        want_b, want_gr = _reference_sweep(H, l1, l2, lo, hi, b, gr, [j for j in range(m) if lo[j] < hi[j]])
        for sweep_compact in (False, True):  # every slot (the fixed ones stay at 0) or the movable ones
            got_b, got_gr = quadratic._cd_sweep(free_form, jnp.asarray(b), jnp.asarray(gr), sweep_compact)
            np.testing.assert_allclose(np.asarray(got_b), want_b, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(np.asarray(got_gr), want_gr, rtol=1e-11, atol=1e-13)
        assert float(quadratic.subproblem_violation(free_form, jnp.asarray(b), jnp.asarray(gr))) == pytest.approx(
            float(quadratic.subproblem_violation(dense, jnp.asarray(b), jnp.asarray(gr))), rel=1e-12)
        F = np.flatnonzero(free)
        want = np.zeros(m)
        want[F] = np.linalg.solve(H[np.ix_(F, F)], gr[F])
        d, ok = quadratic._free_block_solve(None, jnp.zeros(m), jnp.asarray(gr), jnp.asarray(free), False, lowrank)
        assert bool(ok)
        np.testing.assert_allclose(np.asarray(d), want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
        sols = [quadratic.solve_quadratic(qp, jnp.asarray(b), jnp.asarray(gr), 1e-20, 200, compact_sweeps=compact)
                for qp in (dense, free_form)]
    assert all(bool(sol.converged) for sol in sols)
    np.testing.assert_allclose(np.asarray(sols[1].b), np.asarray(sols[0].b), rtol=1e-8, atol=1e-10)


def _run_time_counter(function, runs):
    """``function``, appending to ``runs`` each time a compiled program runs it (a debug
    callback: the trace alone does not count)."""

    def counted(*args):
        jax.debug.callback(lambda: runs.append(1))
        return function(*args)

    return counted


def _retrace_paths():
    """Drop the traced path programs (jit's trace cache would keep a function traced before a
    patch)."""
    import importlib

    importlib.import_module("jaxreg.path")._compiled_path._compiled.clear()
    jax.clear_caches()


def test_matrix_free_glm_path_certifies_every_lambda(monkeypatch):
    """A binomial elastic-net path at l1_ratio 0.1 on 30 x 300 (129 and then 257 slots, over
    four per row) holds no (m, m) Hessian (traced: the matrix-free subproblem is built), and
    its duality gaps, which hold for any dual point whatever the solver, certify ``tol`` at
    every lambda, with KKT violations at the level ``tol`` allows. (Its pieces against the
    dense ones: ``test_matrix_free_subproblem_matches_the_dense_one``.)"""
    X, y, _ = make_glmnet_benchmark(30, 300, 0.2, family="binomial", seed=6)
    tol = 1e-8
    traced = []
    original = quadratic.hessian_diagonal

    def recorded(qp):
        traced.append(qp.H is None)
        return original(qp)

    monkeypatch.setenv("JAXREG_CACHE_DIR", "off")
    _retrace_paths()
    try:
        monkeypatch.setattr(quadratic, "hessian_diagonal", recorded)
        res = jaxreg.path(X, y, family="binomial", l1_ratio=0.1, tol=tol)
    finally:
        monkeypatch.undo()
        _retrace_paths()
    assert any(traced)
    assert np.max(np.count_nonzero(res.coef, axis=1)) > 128
    assert np.all(res.converged) and np.all(res.gap <= tol)
    assert np.all(res.kkt <= np.sqrt(tol) * res.lambdas)


def test_elastic_net_p_much_larger_than_n_paths_equal_without_woodbury(monkeypatch):
    """A p >> n Gaussian elastic-net path at l1_ratio 0.1 (up to ~3 n non-zeros) solves its
    Newton systems in the n-dimensional form (counted at run time), and its objective equals
    that of the same path with every system factorized as a k x k block (the n-dimensional form
    disabled) within the two paths' certified gaps; both certify ``tol``. (Binomial paths:
    ``test_matrix_free_glm_path_certifies_every_lambda``.)"""
    family = "gaussian"
    X, y, _ = make_glmnet_benchmark(30, 300, 0.2, family=family, seed=5)
    y = (y - y.mean()) / y.std()
    tol = 1e-8
    runs = []
    monkeypatch.setenv("JAXREG_CACHE_DIR", "off")
    _retrace_paths()
    try:
        monkeypatch.setattr(quadratic, "woodbury_solve", _run_time_counter(quadratic.woodbury_solve, runs))
        fast = jaxreg.path(X, y, family=family, l1_ratio=0.1, tol=tol)
        monkeypatch.setattr(quadratic, "woodbury_min_free", lambda n, m: 10 ** 9)
        _retrace_paths()
        runs_fast = len(runs)
        plain = jaxreg.path(X, y, family=family, l1_ratio=0.1, tol=tol)
    finally:
        monkeypatch.undo()
        _retrace_paths()
    assert runs_fast > 0 and len(runs) == runs_fast
    assert np.max(np.count_nonzero(fast.coef, axis=1)) > 2 * X.shape[0]
    assert np.all(fast.gap <= tol) and np.all(plain.gap <= tol)
    bound = (fast.gap + plain.gap) * np.abs(plain.objective) + 1e-15
    assert np.all(np.abs(fast.objective - plain.objective) <= bound)


@pytest.mark.parametrize("pure_linalg", [False, True])
def test_refined_free_solve_extra_rhs_is_solved_with_the_same_factor(pure_linalg):
    """``extra_rhs``: ``t = (H + diag(l2))_FF^-1 extra_F`` (the factorized matrix, not the exact
    one: no refinement) against NumPy at every factor size, while ``d`` is unchanged by the
    second column; zero on the fixed coordinates."""
    rng = np.random.default_rng(5)
    n, m = 300, 129
    X = rng.normal(size=(n, m))
    H = X.T @ X / n
    A = H * (1.0 + 0.02 * rng.uniform(-1.0, 1.0, (m, m)))
    A = 0.5 * (A + A.T)
    l2 = rng.uniform(0.0, 0.1, m)
    rhs, extra = rng.normal(size=m), rng.normal(size=m)
    with jax.enable_x64(True):
        def run(free, with_extra):
            return quadratic.refined_free_solve(jnp.asarray(H), jnp.asarray(l2), jnp.asarray(rhs), free,
                                                lambda d: jnp.asarray(A) @ d + jnp.asarray(l2) * d, 2, pure_linalg,
                                                extra_rhs=jnp.asarray(extra) if with_extra else None)

        solve = jax.jit(run, static_argnums=1)
        for k in (1, 16, 50, 64, 90, 129):
            free = np.zeros(m, bool)
            free[rng.permutation(m)[:k]] = True
            F = np.flatnonzero(free)
            want = np.zeros(m)
            want[F] = np.linalg.solve(H[np.ix_(F, F)] + np.diag(l2[F]), extra[F])
            d, t = (np.asarray(v) for v in solve(jnp.asarray(free), True))
            assert np.all(t[~free] == 0.0)
            np.testing.assert_allclose(t, want, rtol=1e-10, atol=1e-10 * np.max(np.abs(want)))
            np.testing.assert_allclose(d, np.asarray(solve(jnp.asarray(free), False)), rtol=1e-13, atol=1e-15)


def _glm_state_at(X, y, beta, intercept, lam, l1_ratio):
    """The working-set solver's state (``_Problem``, ``_WorkingSet``, exact Hessian) for a
    binomial fit ``(intercept, beta)`` on the original scale: every feature in a slot (m = p + 1,
    slot 0 the intercept), standardized columns, weights 1/n."""
    from jaxreg.families import get_family
    from jaxreg.solvers import working_set as wsm

    fam = get_family("binomial")
    n, p = X.shape
    w = jnp.full(n, 1.0 / n)
    inf = jnp.full(1, jnp.inf)
    design, _, lower, upper = wsm.standardized_problem(jnp.asarray(X), w, jnp.full(p, -jnp.inf), jnp.full(p, jnp.inf), True, True)
    prob = wsm._Problem(design, jnp.asarray(y, float), w, jnp.zeros(n), jnp.concatenate([jnp.ones(p), jnp.zeros(2)]),
                        jnp.concatenate([lower, -inf, jnp.zeros(1)]), jnp.concatenate([upper, inf, jnp.zeros(1)]),
                        jnp.asarray(l1_ratio), jnp.zeros(p + 2), jnp.asarray(1.0))
    idx = jnp.concatenate([jnp.asarray([p]), jnp.arange(p)]).astype(jnp.int32)
    b_std = jnp.asarray(beta) * design.scale
    b = jnp.concatenate([jnp.asarray([intercept + jnp.dot(design.center, jnp.asarray(beta))]), b_std])
    ws0 = wsm._WorkingSet(idx, jnp.zeros(p + 1), jnp.zeros((1, 1)), jnp.zeros(n), jnp.zeros(p + 2), jnp.zeros(p + 2), jnp.zeros((1, 1)),
                          idx, jnp.zeros(1), jnp.zeros((1, 1)), jnp.zeros((), bool), jnp.zeros((), bool), jnp.zeros(p + 1), jnp.zeros((1, 1)),
                          jnp.zeros((1, 1)), jnp.full((1,), -1, jnp.int32), jnp.zeros((1,), bool))
    slots = wsm._SlotColumns(fam, prob, ws0)
    eta = slots.matvec(b)
    grad, grad_curv = wsm._glm_gradients(fam, prob, eta)
    hess_w = wsm._hessian_weights(fam, prob, eta)
    H = slots.gram(hess_w)
    ws = wsm._WorkingSet(idx, b, jnp.zeros((1, 1)), eta, grad, grad_curv, H, idx, hess_w, jnp.zeros((1, 1)),
                         jnp.zeros((), bool), jnp.zeros((), bool), jnp.zeros(p + 1), jnp.zeros((1, 1)),
                         jnp.zeros((1, 1)), jnp.full((1,), -1, jnp.int32), jnp.zeros((1,), bool))
    return fam, prob, ws, H, design.scale


def test_logistic_path_tangent_matches_finite_differences():
    """The path tangent ``db/dlam`` that the certificate's Newton correction returns (and the
    next lambda's predictor follows) against a central finite difference of two tightly solved
    logistic elastic-net fits at lam (1 +- 1e-4) with the same active set; the predicted point
    is much closer to the next lambda's solution than the warm start it replaces."""
    from jaxreg.solvers import working_set as wsm

    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(120, 30, 0.3, family="binomial", seed=4)
    X, y = np.asarray(X), np.asarray(y)
    alpha = 0.7
    grid = jaxreg.path(X, y, family="binomial", l1_ratio=alpha, n_lambdas=30, tol=1e-12).lambdas
    lam, lam_next = grid[12], grid[13]
    eps = 1e-4
    fits = [jaxreg.path(X, y, family="binomial", l1_ratio=alpha, lambdas=[lam * f], tol=1e-13)
            for f in (1 + eps, 1.0, 1 - eps, lam_next / lam)]
    coef = [np.asarray(f.coef).reshape(-1) for f in fits]
    active = coef[1] != 0
    assert active.sum() >= 5 and all(np.array_equal(c != 0, active) for c in coef[:3])
    fd = (coef[0] - coef[2]) / (2 * eps * lam)  # d beta / d lam, original scale
    with jax.enable_x64(True):
        fam, prob, ws, H, scale = _glm_state_at(X, y, coef[1], float(np.asarray(fits[1].intercept).reshape(-1)[0]), lam, alpha)
        _, _, tangent = wsm._newton_corrected_mean(fam, prob, ws, jnp.asarray(lam), H, 2, False)
        tangent = np.asarray(tangent)[1:] / np.asarray(scale)
    assert np.all(tangent[~active] == 0.0)
    np.testing.assert_allclose(tangent[active], fd[active], rtol=1e-3, atol=1e-3 * np.max(np.abs(fd)))
    predicted = coef[1] + (lam_next - lam) * tangent
    assert np.linalg.norm(predicted - coef[3]) < 0.1 * np.linalg.norm(coef[1] - coef[3])


@pytest.mark.parametrize("feature_sign", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_quadratic_solver_matches_coordinate_descent_oracle(seed, feature_sign):
    """The Newton / feature-sign solver reaches the lasso QP minimum that plain cyclic
    coordinate descent (run to 1e-14) reaches, from a cold and from a warm start."""
    H, g, lam = _qp(seed)
    m = H.shape[0]
    b = _cd_oracle(H, g, lam, 5000)
    obj = lambda b: 0.5 * b @ H @ b - g @ b + lam * np.abs(b).sum()
    with jax.enable_x64(True):
        qp = quadratic.QuadProblem(jnp.asarray(H), jnp.full(m, lam), jnp.zeros(m), jnp.full(m, -jnp.inf), jnp.full(m, jnp.inf))
        for start in (np.zeros(m), b + 0.05 * np.sign(b)):
            s = jnp.asarray(start)
            sol = quadratic.solve_quadratic(qp, s, jnp.asarray(g) - qp.H @ s, 1e-20, 200, feature_sign=feature_sign)
            assert bool(sol.converged)
            assert obj(np.asarray(sol.b)) - obj(b) <= 1e-13 * max(1.0, abs(obj(b)))
            np.testing.assert_allclose(np.asarray(sol.b), b, atol=1e-8)


@pytest.mark.parametrize("seed", range(4))
def test_newton_steps_drop_many_coefficients_at_once(seed):
    """From a warm start where many of the 60 coefficients must leave (a path's large working
    set at a larger lambda), a Newton step that would stop at the first kink instead drops
    every coordinate crossing zero when that lowers the objective more. Measured: 8-10
    iterations, 49-64 when each step dropped one coordinate. The minimum is the oracle's."""
    rng = np.random.default_rng(seed)
    m = 60
    A = rng.normal(size=(80, m)) + 1.5 * rng.normal(size=(80, 1))
    H = A.T @ A / 80
    g = A.T @ rng.normal(size=80) / 80
    lam = 0.3 * np.max(np.abs(g))
    b = _cd_oracle(H, g, lam, 20000)
    start = rng.uniform(0.5, 2.0, m) * rng.choice([-1.0, 1.0], m)
    with jax.enable_x64(True):
        qp = quadratic.QuadProblem(jnp.asarray(H), jnp.full(m, lam), jnp.zeros(m), jnp.full(m, -jnp.inf), jnp.full(m, jnp.inf))
        s = jnp.asarray(start)
        sol = quadratic.solve_quadratic(qp, s, jnp.asarray(g) - qp.H @ s, 1e-20, 500, feature_sign=False)
    assert bool(sol.converged) and int(sol.n_iter) <= 12, int(sol.n_iter)
    np.testing.assert_allclose(np.asarray(sol.b), b, atol=1e-8)


def test_newton_step_stopped_at_a_kink_is_followed_by_a_newton_step():
    """At the end of a p >> n path (50 x 500: the working set reaches rank n - 1), the Newton
    system is nearly singular, and a step stops where one coefficient reaches zero. If a
    coordinate sweep followed, it re-admitted that coefficient (it still violates at the
    intermediate point) and the two alternated: 66 iterations at one lambda. A Newton step on
    the smaller free set goes on to its minimizer: at most 5 were measured."""
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(50, 500, 0.0, seed=0)
    res = jaxreg.path(X, y, tol=1e-7)
    assert np.all(res.gap <= 1e-7), res.gap.max()
    assert res.n_iter.max() <= 12, res.n_iter.max()


@pytest.mark.parametrize("pure_linalg", [False, True])
def test_regularized_solve_retries_with_jitter_and_flags_failure(pure_linalg):
    """A definite system is solved exactly; a singular-but-PSD one that rounding makes
    indefinite is retried with the larger jitter and still gives a finite descent direction;
    a system with a NaN is flagged (ok false, direction 0), by the factor's diagonal alone, and
    the refined solve (factor kept for several solves) gives 0 too."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 8))
    with jax.enable_x64(True):
        free = jnp.ones(8, bool)
        M = jnp.asarray(A.T @ A / 30)
        rhs = jnp.asarray(rng.normal(size=8))
        d, ok = quadratic._regularized_solve(M, rhs, free, pure_linalg)
        assert bool(ok)
        np.testing.assert_allclose(np.asarray(M @ d), np.asarray(rhs), rtol=1e-9, atol=1e-9)

        v = rng.normal(size=8)
        singular = jnp.asarray(np.outer(v, v) - 1e-9 * np.eye(8))  # indefinite by 1e-9
        d, ok = quadratic._regularized_solve(singular, rhs, free, pure_linalg)
        assert bool(ok) and np.all(np.isfinite(np.asarray(d)))
        assert float(jnp.dot(rhs, d)) > 0  # a descent direction for the model -rhs.d + d'Md/2

        broken = M.at[3, 5].set(jnp.nan).at[5, 3].set(jnp.nan)
        d, ok = quadratic._regularized_solve(broken, rhs, free, pure_linalg)
        assert not bool(ok) and np.all(np.asarray(d) == 0)
        d = quadratic.refined_free_solve(broken, jnp.zeros_like(rhs), rhs, free, lambda d: M @ d, 2, pure_linalg)
        assert np.all(np.asarray(d) == 0)


def test_gaussian_path_with_full_gram_matches_sklearn_enet_path():
    """p <= 256 paths switch to the full Gram once an eighth of the features are in; the
    result is still scikit-learn's path (standardize=False: the same objective)."""
    sklm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(3)
    n, p = 300, 40
    X = rng.normal(size=(n, p)) + 0.5 * rng.normal(size=(n, 1)) + 10.0
    y = X[:, :5] @ rng.normal(size=5) + rng.normal(size=n)
    res = jaxreg.path(X, y, l1_ratio=0.8, n_lambdas=30, tol=1e-12, standardize=False)
    assert np.count_nonzero(res.coef[-1]) >= p // 8  # the full Gram was used
    Xc, yc = X - X.mean(0), y - y.mean()
    _, coefs, _ = sklm.enet_path(Xc, yc, l1_ratio=0.8, alphas=res.lambdas, tol=1e-14, max_iter=100_000)
    np.testing.assert_allclose(res.coef, coefs.T, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_woodbury_solve_from_a_slot_kernel_matches_the_fresh_product(dtype):
    """``F^T F`` from a ``SlotKernel`` (its mask less the eliminated intercept-like coordinate
    and a few slots at zero, subtracted) gives NumPy's solution, as the fresh product does;
    it is used only where it fits: not with damping (``D`` not proportional to the units),
    not with more dropped slots than ``KERNEL_DOWNDATE``, not when the kernel is stale."""
    rng = np.random.default_rng(11)
    m, n = 400, 30
    C, v, _ = _lowrank_system(rng, m, n, dtype)
    unit = rng.uniform(0.5, 2.0, m).astype(dtype)
    mask = np.ones(m, bool)
    mask[0] = False  # the intercept: unpenalized, outside the kernel
    unit[0] = 0.0
    lam2 = dtype(0.03)
    zeros = rng.permutation(np.arange(1, m))[:5]
    free = np.ones(m, bool)
    free[zeros] = False
    rhs = rng.normal(size=m).astype(dtype)
    tol = 1e-9 if dtype == np.float64 else 2e-3

    def reference(D):
        F = np.flatnonzero(free)
        M = (C.astype(float) * v.astype(float)) @ C.T.astype(float) + np.diag(D.astype(float))
        want = np.zeros(m)
        want[F] = np.linalg.solve(M[np.ix_(F, F)], rhs[F].astype(float))
        return want

    with jax.enable_x64(dtype == np.float64):
        gram = quadratic.slot_kernel_gram(jnp.asarray(C), jnp.asarray(mask), jnp.asarray(unit))
        np.testing.assert_allclose(np.asarray(gram, float), (C[mask].T.astype(float) / unit[mask]) @ C[mask].astype(float),
                                   rtol=50 * np.finfo(dtype).eps, atol=50 * np.finfo(dtype).eps * float(np.max(np.abs(gram))))

        def solve(D, valid=True, kernel_mask=mask):
            kernel_gram = gram if kernel_mask is mask else quadratic.slot_kernel_gram(jnp.asarray(C), jnp.asarray(kernel_mask), jnp.asarray(unit))
            kernel = quadratic.SlotKernel(kernel_gram, jnp.asarray(kernel_mask), jnp.asarray(unit), jnp.asarray(valid))
            lowrank = quadratic.low_rank_hessian(jnp.asarray(C), jnp.asarray(v), kernel=kernel)
            used = []
            original = quadratic._kernel_product

            def counted(*args):
                fits, thunk = original(*args)
                used.append(bool(fits))
                return fits, thunk

            quadratic._kernel_product = counted
            try:  # the solve with one coordinate eliminated (woodbury_solve's cond would trace it)
                d, ok = quadratic._woodbury_one(lowrank, jnp.asarray(D), jnp.asarray(rhs), jnp.asarray(free))
            finally:
                quadratic._kernel_product = original
            assert bool(ok)
            return np.asarray(d, float), used[0]

        D = (lam2 * unit).astype(dtype)
        want = reference(D)
        got, used = solve(D)
        assert used
        assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want))
        damped = (D + 1e-3 * rng.uniform(0.0, 1.0, m) * mask).astype(dtype)
        got, used = solve(damped)
        assert not used
        assert np.max(np.abs(got - reference(damped))) <= tol * np.max(np.abs(want))
        assert not solve(D, valid=False)[1]
        free_before = free.copy()
        free[np.flatnonzero(free & mask)[:30]] = False  # 35 dropped: the larger downdate
        got, used = solve(D)
        assert used
        want = reference(D)
        assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want))
        free[np.flatnonzero(free & mask)[:quadratic.KERNEL_DOWNDATE]] = False
        assert not solve(D)[1]  # 35 + KERNEL_DOWNDATE slots of the mask dropped
        free[:] = free_before
        outside = mask.copy()
        outside[7] = False  # a free penalized slot the kernel lacks (filled since it was built): added
        got, used = solve(D, kernel_mask=outside)
        want = reference(D)
        assert used
        assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want))


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_ridge_p_much_larger_than_n_path_with_the_slot_kernel_equals_the_path_without(family, monkeypatch):
    """A ridge path on 30 x 200 (matrix-free: 201 slots) forms its Newton systems from the
    working set's kernel (counted at run time), and its objective equals that of the same
    path without the kernel within the two paths' certified gaps; both certify ``tol``. The
    binomial path has unequal penalty factors and observation weights (the kernel's columns
    are weighted by 1 / pf; the weights enter V)."""
    from jaxreg.solvers import working_set

    X, y, _ = make_glmnet_benchmark(30, 200, 0.2, family=family, seed=8)
    rng = np.random.default_rng(8)
    options = {} if family == "gaussian" else {"penalty_factor": rng.uniform(0.5, 2.0, 200), "sample_weight": rng.uniform(0.5, 1.5, 30)}
    tol = 1e-8
    runs = []
    original = quadratic._kernel_product

    def counted(*args):
        fits, thunk = original(*args)

        def from_kernel():
            jax.debug.callback(lambda: runs.append(1))
            return thunk()

        return fits, from_kernel

    monkeypatch.setenv("JAXREG_CACHE_DIR", "off")
    # The Gaussian ridge would run in closed form (``solvers.ridge``): this is the working set's.
    monkeypatch.setattr(sys.modules["jaxreg.path"], "USE_CLOSED_FORM_RIDGE", False)
    _retrace_paths()
    try:
        monkeypatch.setattr(quadratic, "_kernel_product", counted)
        fast = jaxreg.path(X, y, family=family, l1_ratio=0.0, tol=tol, **options)
        runs_fast = len(runs)
        monkeypatch.setattr(working_set, "_slot_kernel", lambda prob, ws: None)
        _retrace_paths()
        plain = jaxreg.path(X, y, family=family, l1_ratio=0.0, tol=tol, **options)
    finally:
        monkeypatch.undo()
        _retrace_paths()
    assert runs_fast > len(fast.lambdas) // 2 and len(runs) == runs_fast
    assert np.all(fast.gap <= tol) and np.all(plain.gap <= tol)
    bound = (fast.gap + plain.gap) * np.abs(plain.objective) + 1e-15
    assert np.all(np.abs(fast.objective - plain.objective) <= bound)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.1])
def test_p_much_larger_than_n_glm_path_with_unpenalized_features_eliminates_them_by_a_schur_complement(l1_ratio,
                                                                                                  monkeypatch):
    """A binomial path on 30 x 200 with three unpenalized features (and the intercept) solves
    its n-dimensional Newton systems with the three eliminated by a Schur complement (counted
    at run time); its objectives equal those of the same path whose program leaves that out
    (the free block factorized instead) within the two certified gaps."""
    P = sys.modules["jaxreg.path"]
    X, y, _ = make_glmnet_benchmark(30, 200, 0.2, family="binomial", seed=12)
    pf = np.r_[[0.0, 1.0, 0.0, 1.0, 0.0], np.ones(195)]
    tol = 1e-8
    runs = []
    monkeypatch.setenv("JAXREG_CACHE_DIR", "off")
    _retrace_paths()
    try:
        monkeypatch.setattr(quadratic, "_woodbury_blocked", _run_time_counter(quadratic._woodbury_blocked, runs))
        fast = jaxreg.path(X, y, family="binomial", l1_ratio=l1_ratio, penalty_factor=pf, n_lambdas=30, tol=tol)
        monkeypatch.setattr(P, "WOODBURY_ELIMINATED", 0)
        _retrace_paths()
        plain = jaxreg.path(X, y, family="binomial", l1_ratio=l1_ratio, penalty_factor=pf, n_lambdas=30, tol=tol)
    finally:
        monkeypatch.undo()
        _retrace_paths()
    assert len(runs) > 0
    assert np.all(fast.gap <= tol) and np.all(plain.gap <= tol)
    np.testing.assert_allclose(fast.lambdas, plain.lambdas, rtol=1e-12)
    bound = (fast.gap + plain.gap + 8 * np.finfo(float).eps) * np.abs(plain.objective)
    assert np.all(np.abs(fast.objective - plain.objective) <= bound)
