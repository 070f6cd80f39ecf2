"""Views of a large X that XLA:CPU would otherwise copy whole: one off XLA's 64-byte
boundary (where NumPy puts large arrays) reaches the path program as a ``design.RowShifted``
view (its buffer from the boundary on, shared, plus copies of its first s columns and last
row), a column-major one (as pandas hands out) as a ``design.Transposed`` view of the
row-major X^T. Every design operation equals the one on the plain array up to summation
order, the paths are the same, and X is not copied whole."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg import design as D

from .conftest import at_offset

P = importlib.import_module("jaxreg.path")

# 2000 x 100 is not padded to a bucket (``path.padded_shape``): X reaches the program as given.
N, NP = 2000, 100


def _close(got, want, X, rtol):
    """``got == want`` up to ``rtol`` times the products' magnitude (summation order differs)."""
    scale = max(1.0, float(np.max(np.abs(want))), float(np.max(np.abs(X))))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=rtol * scale * X.shape[0])


def _view(kind, X, shift):
    """X (n, p) as ``kind``: a ``RowShifted`` view, a ``Transposed`` array, or a
    ``Transposed`` ``RowShifted`` view of X^T (shift at most n there)."""
    if kind == "row-shifted":
        return P.row_shifted(X, shift)
    if kind == "transposed":
        return D.Transposed(jnp.asarray(X.T))
    return D.Transposed(P.row_shifted(np.ascontiguousarray(X.T), min(shift, X.shape[0])))


@pytest.mark.parametrize("kind", ["row-shifted", "transposed", "transposed-row-shifted"])
@pytest.mark.parametrize("n", [2, 7, 1030])  # one row of body; one block; two blocks (the last shifted back)
@pytest.mark.parametrize("shift", [1, 6])
def test_design_operations_on_a_view_equal_those_on_the_array(kind, n, shift):
    rng = np.random.default_rng(n + shift)
    p = 50
    X = rng.standard_normal((n, p))
    X[:, 0] = 3.0  # constant, in the copied head
    X[:, shift + 2] = 1e3 + 0.1 * X[:, shift + 2]
    w = rng.uniform(0.0, 2.0, n)
    w[0] = 0.0  # the first used row is row 1
    w /= w.sum()
    eps = np.finfo(np.float64).eps
    with jax.enable_x64(True):
        Xv = _view(kind, X, shift)
        assert Xv.shape == X.shape and Xv.dtype == X.dtype
        Xj = jnp.asarray(X)
        v = jnp.asarray(rng.standard_normal(p))
        r = jnp.asarray(rng.standard_normal(n))
        R = jnp.asarray(rng.standard_normal((3, n)))
        _close(D.x_times(Xv, v), X @ np.asarray(v), X, 4 * eps)
        _close(D.times_x(r, Xv), np.asarray(r) @ X, X, 4 * eps)
        _close(D.times_x(R, Xv), np.asarray(R) @ X, X, 4 * eps)
        idx = jnp.asarray(np.r_[np.arange(p), [0, shift, p - 1, shift - 1]].astype(np.int32))
        np.testing.assert_array_equal(np.asarray(D._take_columns(Xv, idx)), X[:, np.asarray(idx)])
        rows = np.r_[np.arange(n), [0, n - 1, n // 2]].astype(np.int32)
        np.testing.assert_array_equal(np.asarray(D._take_rows(Xv, jnp.asarray(rows))), X[rows])
        for i in sorted({0, 1, n // 2, n - 2, n - 1}):
            np.testing.assert_array_equal(np.asarray(D._row(Xv, jnp.asarray(i))), X[i])

        for fit_intercept in (True, False):
            got = D.column_moments(Xv, jnp.asarray(w), fit_intercept)
            want = D.column_moments(Xj, jnp.asarray(w), fit_intercept)
            for g, h in zip(got[:2], want[:2]):
                _close(g, h, X * X, 8 * eps)
            np.testing.assert_array_equal(np.asarray(got[2]), np.asarray(want[2]))
            assert bool(got[2][0]) == fit_intercept
        center, variance, degenerate = D.column_moments(Xj, jnp.asarray(w), True)
        # The constant column's variance is rounding (its scale would amplify rounding 1e16 times).
        variance = jnp.where(degenerate, 0.0, variance)
        d_view = D.make_design(Xv, center, variance, True)
        d_array = D.make_design(Xj, center, variance, True)
        _close(D.centered_gram(Xv, jnp.asarray(w), center), D.centered_gram(Xj, jnp.asarray(w), center), X * X, 8 * eps)
        _close(D.full_gram(d_view, jnp.asarray(w)), D.full_gram(d_array, jnp.asarray(w)), X, 1e3 * eps)
        aug = jnp.asarray(np.r_[np.arange(p + 2), [0, shift]].astype(np.int32))
        _close(D.gather_columns(d_view, aug), D.gather_columns(d_array, aug), X, 1e3 * eps)
        _close(D.matvec(d_view, v), D.matvec(d_array, v), X, 1e3 * eps)
        for got, want in zip(D.augmented_rmatvec_rows(d_view, R), D.augmented_rmatvec_rows(d_array, R)):
            _close(got, want, X, 1e3 * eps)


def test_row_shift_applies_to_large_c_contiguous_x_off_the_boundary(monkeypatch):
    """``_row_shift``: s = (64 - offset) / itemsize for a C-contiguous X of at least
    ``_ROW_SHIFT_MIN_BYTES`` with n >= 2 and 8 s <= p; 0 otherwise."""
    X = np.random.default_rng(0).standard_normal((N, NP))
    assert P._row_shift(at_offset(X, 16)) == 0  # 1.6 MB: under the threshold
    monkeypatch.setattr(P, "_ROW_SHIFT_MIN_BYTES", 0)
    assert P._row_shift(at_offset(X, 16)) == 6
    assert P._row_shift(at_offset(X, 56)) == 1
    assert P._row_shift(at_offset(X, 0)) == 0
    assert P._row_shift(at_offset(X.astype(np.float32), 16)) == 12
    assert P._row_shift(at_offset(X[:, :40], 16)) == 0  # 8 * 6 > 40
    assert P._row_shift(at_offset(X[:1], 16)) == 0
    assert P._row_shift(np.asfortranarray(X)) == 0
    Xm = at_offset(X, 16)
    with jax.enable_x64(True):
        on_device = P._device_matrix(Xm)
    assert isinstance(on_device, D.RowShifted)
    assert on_device.body.unsafe_buffer_pointer() == Xm.ctypes.data + 6 * 8  # shared, not copied
    np.testing.assert_array_equal(np.asarray(on_device.head_t), Xm[:, :6].T)
    np.testing.assert_array_equal(np.asarray(on_device.last), Xm[-1])


@pytest.fixture
def shifted(monkeypatch):
    """Row-shift any size of X and record what ``_device_matrix`` hands to the programs."""
    monkeypatch.setattr(P, "_ROW_SHIFT_MIN_BYTES", 0)
    handed = []
    original = P._device_matrix

    def record(X):
        out = original(X)
        handed.append((X, out))
        return out

    monkeypatch.setattr(P, "_device_matrix", record)
    return handed


def _assert_shared(handed, X):
    assert handed
    for given, out in handed:
        assert isinstance(out, D.RowShifted)
        assert out.body.unsafe_buffer_pointer() == X.ctypes.data + out.shift * X.itemsize


def _data(seed=0, dtype=np.float64, n=N):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, NP))
    X[:, :20] += 0.5 * X[:, 20:40]  # correlated features across the head / body split
    X[:, 1] = 2.0  # constant, in the copied head
    X[:, 9] = 1e3 + 0.1 * X[:, 9]
    eta = X[:, :8] @ np.array([1.0, 0.0, -1.0, 0.5, 0.0, 0.8, -0.6, 0.4]) + X[:, 50] - 0.5 * X[:, 99]
    return X.astype(dtype), eta, rng


CASES = {
    "gaussian-enet": dict(family="gaussian", l1_ratio=0.5),
    "gaussian-lasso-homotopy": dict(family="gaussian"),
    "gaussian-weights-offset-bounds": dict(family="gaussian", l1_ratio=0.8, fit_intercept=False, lower_bounds=-0.3),
    "binomial": dict(family="binomial", l1_ratio=0.9),
    "binomial-unstandardized-pf": dict(family="binomial", standardize=False, penalty_factor="pf"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_paths_on_a_row_shifted_x_equal_those_on_the_aligned_array_without_copying_it(case, shifted):
    X, eta, rng = _data()
    kwargs = dict(CASES[case], n_lambdas=30, tol=1e-10)
    if kwargs["family"] == "binomial":
        y = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = eta + rng.standard_normal(N)
    if case == "gaussian-weights-offset-bounds":
        kwargs.update(sample_weight=rng.uniform(0.5, 2.0, N), offset=0.1 * rng.standard_normal(N))
    if kwargs.get("penalty_factor") == "pf":
        kwargs["penalty_factor"] = np.r_[[0.0], np.ones(NP - 1)]  # an unpenalized head column
    Xm = at_offset(X, 16)
    got = jaxreg.path(Xm, y, **kwargs)
    _assert_shared(shifted, Xm)
    shifted.clear()
    want = jaxreg.path(at_offset(X, 0), y, **kwargs)
    assert not any(isinstance(out, D.RowShifted) for _, out in shifted)
    assert np.all(got.gap <= 1e-10) and np.all(want.gap <= 1e-10)
    np.testing.assert_allclose(got.lambdas, want.lambdas, rtol=1e-12)
    # Both are within tol * null_deviance / 2 of the optimal objective (relative gap <= tol).
    np.testing.assert_allclose(got.objective, want.objective, rtol=1e-14, atol=1e-10 * want.null_deviance)
    if kwargs["family"] == "gaussian":
        # The quadratic's iterates agree up to rounding; a binomial path's coefficients are
        # determined only to about sqrt(gap / curvature).
        scale = np.max(np.abs(want.coef)) + 1.0
        np.testing.assert_allclose(got.coef, want.coef, rtol=0, atol=1e-7 * scale)
        np.testing.assert_allclose(got.intercept, want.intercept, rtol=0, atol=1e-7 * scale)


def test_a_read_only_memory_map_off_the_boundary_is_row_shifted(tmp_path, shifted):
    """A raw binary file mapped at a 16-byte offset (a file with a header, ``np.memmap(...,
    offset=16)``): read-only, off XLA's boundary; its pages are handed over in place."""
    X, eta, rng = _data(5)
    y = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)
    path = tmp_path / "X.bin"
    with open(path, "wb") as f:
        f.write(b"header:16 bytes.")
        f.write(X.tobytes())
    mapped = np.memmap(path, dtype=np.float64, mode="r", offset=16, shape=X.shape)
    assert mapped.ctypes.data % 64 == 16 and not mapped.flags.writeable
    got = jaxreg.path(mapped, y, family="binomial", n_lambdas=20)
    _assert_shared(shifted, mapped)
    want = jaxreg.path(at_offset(X, 0), y, family="binomial", n_lambdas=20)
    assert np.all(got.gap <= got.tol)
    np.testing.assert_allclose(got.objective, want.objective, rtol=1e-14, atol=want.tol * want.null_deviance)


def test_float32_row_shifted_path_runs_in_float32(shifted):
    X, eta, rng = _data(1, n=2 * N)  # 1.6 MB: above ``_SMALL_X_BYTES``
    X[:, 9] -= 1e3  # a mean of 1e4 sd would have the path run on a shifted, aligned copy (``path.float32_shift``)
    X = X.astype(np.float32)
    y = (rng.random(2 * N) < 1 / (1 + np.exp(-eta))).astype(np.float32)
    Xm = at_offset(X, 16)
    got = jaxreg.path(Xm, y, family="binomial", n_lambdas=20)
    _assert_shared(shifted, Xm)
    assert shifted[0][1].shift == 12 and got.coef.dtype == np.float32
    want = jaxreg.path(at_offset(X, 0), y, family="binomial", n_lambdas=20)
    assert np.all(got.gap <= got.tol) and np.all(want.gap <= want.tol)
    np.testing.assert_allclose(got.objective, want.objective, rtol=1e-6, atol=want.tol * want.null_deviance)


def test_batched_paths_and_cv_share_a_row_shifted_x(shifted):
    """``path_batch`` in chunks on two threads and ``cv`` hand every program the same shared
    buffer (one view for all chunks, ``path.SharedViews``; no copy of X)."""
    X, eta, rng = _data(2)
    Y = np.stack([eta + rng.standard_normal(N) for _ in range(3)])
    Xm = at_offset(X, 16)
    got = jaxreg.path_batch(Xm, Y, l1_ratio=0.5, n_lambdas=20, tol=1e-10, chunk_size=2, n_jobs=2)
    _assert_shared(shifted, Xm)
    assert len(shifted) == 1  # one view (and one copy of its head) for both chunks: path.SharedViews
    for member, y in zip(got, Y):
        want = jaxreg.path(X, y, l1_ratio=0.5, n_lambdas=20, tol=1e-10)
        assert np.all(member.gap <= 1e-10)
        np.testing.assert_allclose(member.coef, want.coef, rtol=0, atol=1e-7 * (np.max(np.abs(want.coef)) + 1.0))
    shifted.clear()
    yb = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)
    res = jaxreg.cv(Xm, yb, family="binomial", n_folds=3, n_lambdas=15, l1_ratio=0.5)
    _assert_shared(shifted, Xm)
    shifted.clear()
    want = jaxreg.cv(at_offset(X, 0), yb, family="binomial", n_folds=3, n_lambdas=15, l1_ratio=0.5)
    np.testing.assert_allclose(res.cv_mean, want.cv_mean, rtol=1e-8)


def _column_major(X, offset):
    """A column-major copy of ``X`` whose buffer starts ``offset`` bytes past a 64-byte boundary."""
    return at_offset(np.ascontiguousarray(X.T), offset).T


def test_a_large_column_major_x_is_kept_and_handed_over_transposed(monkeypatch):
    """Validation keeps a column-major X of ``FORTRAN_KEPT_MIN_BYTES`` or more (a smaller one
    is copied to row-major order); ``_device_matrix`` hands over X^T's own memory, inside a
    ``Transposed`` view, whole on a 64-byte boundary and ``RowShifted`` off it."""
    V = importlib.import_module("jaxreg._validation")
    X, eta, _ = _data(3)
    F16 = _column_major(X, 16)
    assert F16.flags.f_contiguous and not F16.flags.c_contiguous
    kwargs = dict(family_name="gaussian", sample_weight=None, offset=None, penalty_factor=None, lower_bounds=None,
                  upper_bounds=None, l1_ratio=1.0)
    small = V.validate_inputs(F16, eta, **kwargs).X  # 1.6 MB: under the threshold
    assert small.flags.c_contiguous and small.ctypes.data % 64 == 0
    monkeypatch.setattr(V, "FORTRAN_KEPT_MIN_BYTES", 0)
    monkeypatch.setattr(P, "_ROW_SHIFT_MIN_BYTES", 0)
    assert V.validate_inputs(F16, eta, **kwargs).X is F16
    assert V.validate_inputs(F16.astype(np.float32, order="F"), eta, **kwargs).X.flags.f_contiguous
    with jax.enable_x64(True):
        shifted = P._device_matrix(F16)
        F0 = _column_major(X, 0)
        whole = P._device_matrix(F0)
    assert isinstance(shifted, D.Transposed) and isinstance(shifted.t, D.RowShifted)
    assert shifted.t.body.unsafe_buffer_pointer() == F16.ctypes.data + 6 * 8
    assert isinstance(whole, D.Transposed) and whole.t.unsafe_buffer_pointer() == F0.ctypes.data


@pytest.mark.parametrize("case", ["gaussian-enet", "gaussian-lasso-homotopy", "binomial"])
@pytest.mark.parametrize("offset", [16, 0])
def test_paths_on_a_column_major_x_equal_those_on_the_row_major_one_without_copying_it(case, offset, shifted, monkeypatch):
    V = importlib.import_module("jaxreg._validation")
    monkeypatch.setattr(V, "FORTRAN_KEPT_MIN_BYTES", 0)
    X, eta, rng = _data(4)
    kwargs = dict(CASES[case], n_lambdas=30, tol=1e-10)
    y = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float) if kwargs["family"] == "binomial" else eta + rng.standard_normal(N)
    F = _column_major(X, offset)
    got = jaxreg.path(F, y, **kwargs)
    handed = [out for _, out in shifted]
    assert handed and all(isinstance(out, D.Transposed) for out in handed)
    inner = handed[0].t
    pointer = inner.body.unsafe_buffer_pointer() - inner.shift * 8 if offset else inner.unsafe_buffer_pointer()
    assert pointer == F.ctypes.data
    want = jaxreg.path(at_offset(X, 0), y, **kwargs)
    assert np.all(got.gap <= 1e-10) and np.all(want.gap <= 1e-10)
    np.testing.assert_allclose(got.objective, want.objective, rtol=1e-14, atol=1e-10 * want.null_deviance)
    if kwargs["family"] == "gaussian":
        scale = np.max(np.abs(want.coef)) + 1.0
        np.testing.assert_allclose(got.coef, want.coef, rtol=0, atol=1e-7 * scale)
