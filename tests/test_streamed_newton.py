"""The streamed Newton solver for GLM paths on tall, narrow X (``solvers.streamed_newton``)
against the working-set solver on the same problems (both certified by their duality gaps),
its row-block views of X (``design.FlatShifted``), and what makes it hold no n-vector."""

import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg import design as D
from jaxreg._validation import XLA_ALIGNMENT, validate_inputs

from .conftest import at_offset

P = importlib.import_module("jaxreg.path")
S = importlib.import_module("jaxreg.solvers.streamed_newton")


@pytest.fixture
def streamed(monkeypatch):
    """Every GLM path with p <= 32 runs the streamed solver (small n included)."""
    monkeypatch.setattr(P, "STREAMED_MIN_ROWS", 0)


def _logistic(n, p, seed, rho=0.3):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, p))
    X = np.sqrt(1 - rho) * Z + np.sqrt(rho) * rng.standard_normal((n, 1))
    beta = np.zeros(p)
    beta[:4] = [1.5, -1.0, 0.7, 0.4]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta + 0.3)))).astype(float)
    return X, y


def _both(monkeypatch, X, y, n_lambdas, **kw):
    """The same path from the streamed and the working-set solver, on the working-set
    solver's grid (each computes lambda_max from a null fit certified to tol: with an
    unpenalized feature that fit is iterative, and the two grids differ by about sqrt(tol))."""
    monkeypatch.setattr(P, "STREAMED_MIN_ROWS", 1 << 62)
    want = jaxreg.path(X, y, family="binomial", n_lambdas=n_lambdas, **kw)
    monkeypatch.setattr(P, "STREAMED_MIN_ROWS", 0)
    got = jaxreg.path(X, y, family="binomial", lambdas=want.lambdas, **kw)
    return got, want


OPTIONS = {
    "lasso": dict(),
    "elastic net": dict(l1_ratio=0.5),
    "ridge": dict(l1_ratio=0.0),
    "weights and offset": "weights",
    "unpenalized feature and bounds": dict(penalty_factor=[0.0] + [1.0] * 11, lower_bounds=-0.3, upper_bounds=[np.inf] * 6 + [0.0] * 6),
    "no intercept, unstandardized": dict(fit_intercept=False, standardize=False),
}


@pytest.mark.parametrize("case", list(OPTIONS))
def test_streamed_path_matches_the_working_set_solver(monkeypatch, case):
    n, p = 3000, 12  # not padded to a bucket: 3000 x 12 > 2^15 cells
    X, y = _logistic(n, p, seed=len(case))
    kw = OPTIONS[case]
    if kw == "weights":
        rng = np.random.default_rng(1)
        kw = dict(sample_weight=rng.uniform(0.0, 2.0, n), offset=0.2 * rng.standard_normal(n))
    tol = 1e-8
    got, want = _both(monkeypatch, X, y, tol=tol, n_lambdas=30, **kw)
    assert got.converged.all() and want.converged.all()
    assert np.max(got.gap) <= tol and np.max(want.gap) <= tol
    np.testing.assert_array_equal(got.lambdas, want.lambdas)
    if "offset" in kw:  # the streamed null fit is exact: against Newton in NumPy
        w = kw["sample_weight"] / kw["sample_weight"].sum()
        b0 = 0.0
        for _ in range(100):
            mu = 1.0 / (1.0 + np.exp(-(b0 + kw["offset"])))
            b0 -= np.sum(w * (mu - y)) / np.sum(w * mu * (1.0 - mu))
        mu = 1.0 / (1.0 + np.exp(-(b0 + kw["offset"])))
        center = w @ X
        sd = np.sqrt(w @ (X - center) ** 2)
        assert got.lambda_max == pytest.approx(np.max(np.abs(((X - center) / sd).T @ (w * (y - mu)))), rel=1e-12)
    # Both objectives are within tol (relative) of the optimum, so of each other.
    np.testing.assert_allclose(got.objective, want.objective, rtol=2 * tol, atol=0)
    # Coefficients: the objective is strongly convex on the support (n >> p), so a relative
    # suboptimality tol bounds their distance by about sqrt(tol) on the standardized scale.
    scale = 1.0 + np.max(np.abs(want.coef))
    np.testing.assert_allclose(got.coef, want.coef, rtol=0, atol=50 * np.sqrt(tol) * scale)
    np.testing.assert_allclose(got.intercept, want.intercept, rtol=0, atol=50 * np.sqrt(tol) * scale)
    if case == "unpenalized feature and bounds":
        assert np.all(got.coef[:, 0] != 0)
        assert np.all(got.coef >= -0.3 - 1e-12) and np.all(got.coef[:, 6:] <= 0)


def test_streamed_path_certifies_on_padded_rows_and_float32(streamed):
    # 300 x 5 is padded to 512 x 32 (zero-weight rows, zero columns); float32 solves in float32.
    X, y = _logistic(300, 5, seed=3)
    res = jaxreg.path(X.astype(np.float32), y, family="binomial", n_lambdas=20)
    assert res.converged.all() and np.max(res.gap) <= res.tol
    ref = jaxreg.path(X, y, family="binomial", n_lambdas=20, tol=1e-10)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=10 * res.tol, atol=0)


def test_streamed_batch_and_cv_match_single_paths(streamed):
    X, y = _logistic(2000, 8, seed=5)
    Y = np.stack([y, 1.0 - y, np.roll(y, 7)])
    batch = jaxreg.path_batch(X, Y, family="binomial", n_lambdas=15)
    for b in range(3):
        single = jaxreg.path(X, Y[b], family="binomial", n_lambdas=15)
        np.testing.assert_allclose(batch.coef[b], single.coef, rtol=0, atol=1e-10)
        assert batch.gap[b].max() <= single.tol
    res = jaxreg.cv(X, y, family="binomial", n_lambdas=15, n_folds=3)
    assert np.all(np.isfinite(res.cv_mean)) and res.paths[0].converged.all()


def test_streamed_path_warns_when_iterations_run_out(streamed):
    X, y = _logistic(3000, 10, seed=7)
    with pytest.warns(P.ConvergenceWarning):
        jaxreg.path(X, y, family="binomial", n_lambdas=10, max_iter=1, tol=1e-12)


# --------------------------------------------------------------------------- views


def _flat(X, shift):
    return P.flat_shifted(X, shift)


@pytest.mark.parametrize("p, shift", [(5, 6), (5, 5), (5, 1), (12, 6), (1, 3)])
@pytest.mark.parametrize("column_major", [False, True])
def test_row_blocks_of_a_flat_view_equal_the_arrays(p, shift, column_major):
    n = 1030
    rng = np.random.default_rng(p + shift)
    X = rng.standard_normal((n, p))
    w = rng.uniform(0.0, 1.0, n)
    with jax.enable_x64(True):
        Xv = D.Transposed(_flat(np.ascontiguousarray(X.T), shift)) if column_major else _flat(X, shift)
        assert Xv.shape == X.shape
        for start, rows in [(0, 8), (0, 1030), (3, 100), (1022, 8)]:
            block = jax.jit(lambda Xv, s: D._row_block(Xv, s, rows))(Xv, start)
            np.testing.assert_array_equal(np.asarray(block), X[start:start + rows])
        for i in [0, 1, 517, n - 1]:
            np.testing.assert_array_equal(np.asarray(jax.jit(D._row)(Xv, i)), X[i])
        np.testing.assert_allclose(np.asarray(jax.jit(D.times_x)(jnp.asarray(w), Xv)), w @ X, rtol=1e-13)
        center, variance, constant = jax.jit(lambda Xv, w: D.column_moments(Xv, w, True))(Xv, jnp.asarray(w / w.sum()))
        np.testing.assert_allclose(np.asarray(center), (w / w.sum()) @ X, rtol=1e-12)


def test_fold_rows_zeroes_the_weights_of_repeated_rows():
    n, p, rows = 10, 3, 4  # blocks 0-3, 4-7, then 6-9 (rows 6, 7 repeated)
    X = np.arange(n * p, dtype=float).reshape(n, p)
    w, v = np.ones(n), np.arange(n, dtype=float)
    with jax.enable_x64(True):
        step = lambda acc, Xb, vb: (acc[0] + vb[0] @ Xb, acc[1] + jnp.sum(vb[0] * vb[1]))
        got = D.fold_rows(jnp.asarray(X), (jnp.asarray(w), jnp.asarray(v)), step, (jnp.zeros(p), 0.0), rows)
    np.testing.assert_allclose(np.asarray(got[0]), X.sum(axis=0))
    assert float(got[1]) == v.sum()


def test_a_large_unaligned_x_reaches_the_streamed_program_without_a_copy(monkeypatch):
    monkeypatch.setattr(P, "_ROW_SHIFT_MIN_BYTES", 0)
    X0, y = _logistic(4000, 5, seed=11)
    want = jaxreg.path(at_offset(X0, 0), y, family="binomial", n_lambdas=10)
    for column_major in (False, True):
        X = at_offset(X0.T, 16).T if column_major else at_offset(X0, 16)
        with jax.enable_x64(True):
            view = P._streamed_matrix(X)
            flat = view.t if column_major else view
            assert isinstance(flat, D.FlatShifted) and flat.shift == 6
            buffer = X.T if column_major else X
            assert flat.body.unsafe_buffer_pointer() == buffer.ctypes.data + 6 * 8  # the caller's memory
        monkeypatch.setattr(P, "STREAMED_MIN_ROWS", 0)
        got = jaxreg.path(X, y, family="binomial", n_lambdas=10)
        monkeypatch.setattr(P, "STREAMED_MIN_ROWS", 1 << 62)
        np.testing.assert_allclose(got.objective, want.objective, rtol=2 * want.tol)


def test_batched_paths_on_an_unaligned_narrow_x_share_the_callers_buffer(monkeypatch):
    # path_batch's chunks (two threads) and cv get one FlatShifted view of the caller's X: no
    # copy of X made ahead of them (XLA would copy it whole: s = 6 > p / 8).
    monkeypatch.setattr(P, "_ROW_SHIFT_MIN_BYTES", 0)
    monkeypatch.setattr(P, "STREAMED_MIN_ROWS", 0)
    X0, y = _logistic(4000, 5, seed=13)
    X = at_offset(X0, 16)
    handed = []
    original = P._streamed_matrix
    monkeypatch.setattr(P, "_streamed_matrix", lambda A: handed.append(original(A)) or handed[-1])
    Y = np.stack([y, 1.0 - y, np.roll(y, 3), np.roll(y, 5)])
    got = jaxreg.path_batch(X, Y, family="binomial", n_lambdas=10, chunk_size=2, n_jobs=2)
    assert len(handed) == 1 and isinstance(handed[0], D.FlatShifted)
    assert handed[0].body.unsafe_buffer_pointer() == X.ctypes.data + 6 * 8
    for member, yb in zip(got, Y):
        np.testing.assert_allclose(member.objective, jaxreg.path(X0, yb, family="binomial", n_lambdas=10).objective,
                                   rtol=2 * member.tol)
    handed.clear()
    jaxreg.cv(X, y, family="binomial", n_lambdas=10, n_folds=3)
    assert handed and all(h.body.unsafe_buffer_pointer() == X.ctypes.data + 6 * 8 for h in handed)


def test_validation_writes_the_n_vectors_aligned():
    n = 1000
    X = np.ones((n, 2))
    X[:, 0] = np.arange(n)
    y = np.array(["a", "b"] * (n // 2))
    data = validate_inputs(X, y, family_name="binomial", sample_weight=np.arange(1.0, n + 1), offset=None,
                           penalty_factor=None, lower_bounds=None, upper_bounds=None, l1_ratio=1.0)
    for v in (data.y, data.w, data.offset):
        assert v.ctypes.data % XLA_ALIGNMENT == 0 and v.dtype == np.float64
    np.testing.assert_array_equal(data.y, (y == "b").astype(float))
    np.testing.assert_allclose(data.w, np.arange(1.0, n + 1) / np.sum(np.arange(1.0, n + 1)), rtol=1e-15)
    assert not np.any(data.offset)
    data32 = validate_inputs(X.astype(np.float32), y, family_name="binomial", sample_weight=None, offset=None,
                             penalty_factor=None, lower_bounds=None, upper_bounds=None, l1_ratio=1.0)
    assert data32.y.dtype == np.float32 and data32.w.dtype == np.float32
    np.testing.assert_allclose(data32.w, 1.0 / n)


def test_the_streamed_program_holds_no_n_vector():
    # XLA's buffer assignment: temporaries are row blocks and O(p^2) state, not n-vectors.
    # A boolean w (cross-validation's fold masks) is weighted block by block: no float copy
    # of it (made once up front, it added 8.4 MB here).
    n, p = 1 << 20, 5
    f64 = jnp.float64
    spec = lambda *s, d=f64: jax.ShapeDtypeStruct(s, d)
    temps = {}
    for weights, w in (("float", spec(n)), ("mask", spec(n, d=bool))):
        inputs = P.PathInputs(spec(n, p), spec(n), w, spec(n), spec(p), spec(p), spec(p), spec(), spec(20), spec(),
                              spec(d=jnp.int32), spec(d=jnp.int32), spec(p), spec(), spec(d=bool))
        with jax.enable_x64(True):
            program = jax.jit(lambda i: P._traced_streamed(i, family=jaxreg.families.get_family("binomial"),
                                                           fit_intercept=True, standardize=True))
            temps[weights] = program.lower(inputs).compile().memory_analysis().temp_size_in_bytes
    rows = S.block_rows(n, p + 1, 8)
    assert temps["float"] < 2 * n * 8  # two n-vectors; the working-set program held eleven at 2,500,000 x 5
    assert temps["float"] < 20 * rows * (p + 1) * 8
    assert temps["mask"] < temps["float"] + n  # not one float n-vector more


def test_streamed_paths_with_weight_masks_equal_float_weights(streamed):
    """Boolean member weights (fold masks) in the streamed solver: the paths of float 0/1
    weights (normalized by validation), to rounding."""
    X, y = _logistic(3000, 6, seed=8)
    masks = np.stack([np.arange(3000) % 3 != f for f in range(3)])
    with_masks = jaxreg.path_batch(X, y, family="binomial", sample_weight=masks, n_lambdas=15)
    with_floats = jaxreg.path_batch(X, y, family="binomial", sample_weight=masks.astype(float),
                                    lambdas=with_masks.lambdas)
    np.testing.assert_allclose(with_masks.objective, with_floats.objective, rtol=1e-12)
    np.testing.assert_allclose(with_masks.coef, with_floats.coef, rtol=1e-9, atol=1e-12)
    assert with_masks.gap.max() <= with_masks[0].tol
