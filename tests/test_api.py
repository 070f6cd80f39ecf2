"""The public surface of jaxreg.path: compilation, dtypes, prediction, interpolation, warnings."""

import warnings

import jax
import numpy as np
import pytest

import jaxreg
from jaxreg.datasets import make_glmnet_benchmark

from .conftest import at_offset


def test_second_call_with_new_data_of_same_shape_does_not_recompile():
    """One program per solver and shape: the Gaussian lasso (homotopy) and the elastic net
    (working set) each compile once; new data, l1_ratio and tol are traced leaves."""
    X1, y1, _ = make_glmnet_benchmark(60, 12, 0.3, seed=1)
    X2, y2, _ = make_glmnet_benchmark(60, 12, 0.3, seed=2)
    jaxreg.path(X1, y1, n_lambdas=20)
    jaxreg.path(X1, y1, n_lambdas=20, l1_ratio=0.7)
    before = jaxreg.trace_count()
    jaxreg.path(X2, y2, n_lambdas=20)
    jaxreg.path(X2, y2 * 3.0, n_lambdas=20, tol=1e-8)
    jaxreg.path(X2, y2 * 3.0, n_lambdas=20, l1_ratio=0.5, tol=1e-8)
    assert jaxreg.trace_count() == before


def test_read_only_and_jax_array_inputs_are_solved_without_error_or_copy():
    """256 x 32 is an unpadded shape, so X reaches XLA as given. A read-only X (a memmap
    opened with mode "r", ``np.asarray`` of a JAX array) is solved as any other; a JAX array
    is used as is (no copy of X)."""
    import jax.numpy as jnp

    from jaxreg.path import _device_matrix

    X, y, _ = make_glmnet_benchmark(256, 32, 0.3, seed=4)
    ref = jaxreg.path(X, y, n_lambdas=10)
    frozen = X.copy()
    frozen.flags.writeable = False
    res = jaxreg.path(frozen, y, n_lambdas=10)
    np.testing.assert_array_equal(res.coef, ref.coef)
    with jax.enable_x64(True):
        Xj = jnp.asarray(X)
        assert _device_matrix(np.asarray(Xj)) is Xj
    res = jaxreg.path(Xj, y, n_lambdas=10)
    np.testing.assert_array_equal(res.coef, ref.coef)


def test_large_x_on_a_64_byte_boundary_is_shared_with_xla_read_only_and_memmap_included(tmp_path):
    """Above 1 MB, a C-contiguous X on a 64-byte boundary reaches the program without a copy
    (writeable, read-only, a memory-mapped .npy); 16 bytes off the boundary it is copied.
    The path is the same either way."""
    from jaxreg.path import _device_matrix, _shared_with_xla

    X, y, _ = make_glmnet_benchmark(2000, 100, 0.3, seed=4)
    np.save(tmp_path / "X.npy", X)
    frozen = at_offset(X, 0)
    frozen.flags.writeable = False
    shared = {"writeable": at_offset(X, 0), "read-only": frozen, "memmap": np.load(tmp_path / "X.npy", mmap_mode="r")}
    ref = jaxreg.path(X, y, n_lambdas=10, l1_ratio=0.5)
    for name, Xs in {**shared, "misaligned": at_offset(X, 16)}.items():
        with jax.enable_x64(True):
            on_device = _device_matrix(Xs)
            assert (on_device.unsafe_buffer_pointer() == Xs.ctypes.data) == (name != "misaligned"), name
        assert _shared_with_xla(Xs) == (name != "misaligned"), name
        res = jaxreg.path(Xs, y, n_lambdas=10, l1_ratio=0.5)
        np.testing.assert_array_equal(res.coef, ref.coef)


def test_float64_and_float32_without_touching_global_config():
    X, y, _ = make_glmnet_benchmark(60, 12, 0.3, seed=1)
    flag = jax.config.jax_enable_x64
    r64 = jaxreg.path(X, y, n_lambdas=10)
    r32 = jaxreg.path(X.astype(np.float32), y.astype(np.float32), n_lambdas=10)
    assert jax.config.jax_enable_x64 == flag
    assert r64.coef.dtype == np.float64 and r32.coef.dtype == np.float32
    assert r64.gap.max() <= 1e-7
    np.testing.assert_allclose(r32.objective, r64.objective, rtol=1e-3)


def test_user_lambdas_in_any_order_are_solved_largest_first():
    X, y, _ = make_glmnet_benchmark(60, 12, 0.3, seed=1)
    ref = jaxreg.path(X, y, n_lambdas=6)
    shuffled = ref.lambdas[[3, 0, 5, 1, 4, 2]]
    res = jaxreg.path(X, y, lambdas=shuffled)
    np.testing.assert_allclose(res.lambdas, ref.lambdas)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=2e-7)


def test_predict_link_response_and_interpolation():
    X, y, _ = make_glmnet_benchmark(80, 10, 0.3, family="binomial", seed=4)
    res = jaxreg.path(X, y, family="binomial", n_lambdas=12)
    link = res.predict(X)
    np.testing.assert_allclose(link, X @ res.coef.T + res.intercept, rtol=1e-12)
    prob = res.predict(X, type="response")
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-link)), rtol=1e-12)
    # Interpolation (glmnet's predict(s=)): exact at grid points, linear in lambda between.
    mid = 0.25 * res.lambdas[3] + 0.75 * res.lambdas[4]
    coef, icpt = res.interpolate([res.lambdas[3], mid])
    np.testing.assert_allclose(coef[0], res.coef[3])
    np.testing.assert_allclose(coef[1], 0.25 * res.coef[3] + 0.75 * res.coef[4], rtol=1e-12)
    np.testing.assert_allclose(icpt[1], 0.25 * res.intercept[3] + 0.75 * res.intercept[4], rtol=1e-12)
    # Outside the grid: clamped to its ends.
    c_hi, _ = res.interpolate([10 * res.lambdas[0]])
    np.testing.assert_allclose(c_hi[0], res.coef[0])
    single = res.predict(X[:5], lambdas=[mid], type="response")
    assert single.shape == (5, 1) and np.all((single > 0) & (single < 1))
    with pytest.raises(ValueError, match="type"):
        res.predict(X, type="class")
    with pytest.raises(ValueError, match="shape"):
        res.predict(X[:, :3])


def test_result_fields_have_documented_shapes():
    X, y, _ = make_glmnet_benchmark(50, 7, 0.3, seed=3)
    res = jaxreg.path(X, y, n_lambdas=9)
    K, p = 9, 7
    assert res.coef.shape == (K, p) and res.intercept.shape == (K,)
    for name in ("lambdas", "dev_ratio", "df", "objective", "gap", "kkt", "n_iter", "converged"):
        assert getattr(res, name).shape == (K,), name
    assert np.all(np.diff(res.lambdas) < 0)
    assert np.all(np.diff(res.dev_ratio) >= -1e-12) and res.dev_ratio[0] == pytest.approx(0, abs=1e-12)
    np.testing.assert_array_equal(res.df, np.count_nonzero(res.coef, axis=1))


def test_running_out_of_iterations_warns_with_worst_lambda():
    """max_iter bounds the working-set solver (an elastic net here; the Gaussian lasso with
    n >= p is solved exactly by the homotopy, which max_iter does not limit)."""
    X, y, _ = make_glmnet_benchmark(60, 12, 0.5, seed=1)
    with pytest.warns(jaxreg.ConvergenceWarning, match=r"worst at lambda\[\d+\] = .* relative duality gap"):
        res = jaxreg.path(X, y, n_lambdas=10, l1_ratio=0.5, max_iter=1, tol=1e-14)
    assert not np.all(res.converged)
    assert np.all(np.isfinite(res.coef))


def test_capacity_overflow_resumes_with_larger_working_set():
    """p > 256 starts with a working set smaller than p; an elastic net with many non-zeros
    overflows it and the path resumes with doubled capacity, giving the same answer as a
    tight reference."""
    X, y, _ = make_glmnet_benchmark(40, 300, 0.2, seed=5)
    res = jaxreg.path(X, y, l1_ratio=0.05, n_lambdas=15)
    assert res.df.max() > 64
    assert np.all(res.converged) and np.all(res.gap <= 1e-7)


def test_path_that_overflowed_does_not_recompile_for_new_data_of_the_same_shape(monkeypatch):
    """After an overflow the next call of the same shape grows its working set through the
    programs the first call compiled: no tracing. The resumed program ran on the first
    program's lambdas and a fresh call computes its grid from lambda_max: whether the grid is
    computed is a traced input, so both are one executable. A later path that needs fewer
    slots runs on the initial working set only (a larger one costs more per lambda)."""
    import importlib

    P = importlib.import_module("jaxreg.path")
    X1, y1, _ = make_glmnet_benchmark(40, 300, 0.2, seed=6)
    X2, y2, _ = make_glmnet_benchmark(40, 300, 0.2, seed=7)
    first = jaxreg.path(X1, y1, l1_ratio=0.05, n_lambdas=15)
    assert first.df.max() > 64  # the initial working set (64 slots) overflowed
    capacities = []
    program = P._program
    monkeypatch.setattr(P, "_program", lambda batched: (lambda *a, **k: capacities.append(k["capacity"])
                                                         or program(batched)(*a, **k)))
    before = jaxreg.trace_count()
    res = jaxreg.path(X2, y2, l1_ratio=0.05, n_lambdas=15)
    assert jaxreg.trace_count() == before
    assert res.df.max() > 64 and np.all(res.converged)
    assert capacities[0] == 64 and capacities[-1] > 64
    capacities.clear()
    sparse = jaxreg.path(X2, y2, l1_ratio=0.9, n_lambdas=15)
    assert sparse.df.max() < 64 and capacities == [64]


def test_path_objective_matches_definition():
    X, y, _ = make_glmnet_benchmark(50, 7, 0.3, seed=3)
    w = np.linspace(1, 2, 50)
    res = jaxreg.path(X, y, n_lambdas=5, l1_ratio=0.4, sample_weight=w)
    wn = w / w.sum()
    m = wn @ X
    s = np.sqrt(wn @ (X - m) ** 2)
    for k in range(5):
        r = y - res.intercept[k] - X @ res.coef[k]
        b = res.coef[k] * s
        obj = 0.5 * wn @ r**2 + res.lambdas[k] * (0.4 * np.abs(b).sum() + 0.3 * b @ b)
        assert res.objective[k] == pytest.approx(obj, rel=1e-10)


def test_no_warnings_on_a_regular_problem():
    X, y, _ = make_glmnet_benchmark(60, 12, 0.3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jaxreg.path(X, y, n_lambdas=10)
