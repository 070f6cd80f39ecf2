"""The Gaussian lasso homotopy on statistics streamed from row blocks of a host X
(``jaxreg.streamed_gram``): the same statistics as the program computes from X, the same path,
certified at every lambda, and X never copied whole into XLA's memory."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg.datasets import make_glmnet_benchmark
from jaxreg.families import get_family
from jaxreg.solvers import homotopy

from .conftest import at_offset

P = importlib.import_module("jaxreg.path")
S = importlib.import_module("jaxreg.streamed_gram")

# 2000 x 30 is not padded to a bucket (``path.padded_shape``): X reaches the program as given.
N, NP = 2000, 30


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 17 rows at p = 30 (2000 is no multiple: the last block is shifted back) and
    streaming at any size."""
    monkeypatch.setattr(S, "BLOCK_BYTES", 17 * NP * 8)
    monkeypatch.setattr(P, "_STREAM_MIN_BYTES", 0)


@pytest.fixture
def no_copy(monkeypatch):
    """Fails a path that hands X to XLA (``path._device_matrix``)."""

    def refuse(X):
        raise AssertionError("X was handed to XLA whole")

    monkeypatch.setattr(P, "_device_matrix", refuse)


def _data(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, NP))
    X[:, 3] = 5.0  # constant: degenerate with an intercept
    X[:, 7] = 1e3 + 0.1 * X[:, 7]  # mean 1e4 sd: centering before the products matters
    w = rng.uniform(0.0, 2.0, N)
    w[:50] = 0.0  # the first used row is row 50
    w /= w.sum()
    y = X[:, :5] @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + rng.standard_normal(N)
    offset = 0.1 * rng.standard_normal(N)
    return X.astype(dtype), y.astype(dtype), w.astype(dtype), offset.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_streamed_statistics_match_the_programs(dtype, fit_intercept, small_blocks):
    """Every field of ``GramStatistics`` from 118 blocks of 17 rows against
    ``homotopy.gram_statistics`` on the whole X (blocks of 1024 rows): the same sums in a
    different grouping, equal to rounding; the constant columns exactly."""
    X, y, w, offset = _data(dtype)
    family = get_family("gaussian")
    with jax.enable_x64(dtype == np.float64):
        both = S.stream_gram_statistics(at_offset(X, 16), np.stack([y, y]), np.stack([w, w[::-1]]), np.stack([offset, offset]),
                                        family, fit_intercept)
        streamed = jax.tree_util.tree_map(lambda a: a[0], both)  # the first of two members
        y_work = homotopy.working_response(family, jnp.asarray(y), jnp.asarray(w), jnp.asarray(offset), fit_intercept)[0]
        r = np.asarray(jnp.asarray(w) * y_work)
        whole = jax.jit(homotopy.gram_statistics, static_argnums=3)(jnp.asarray(X), jnp.asarray(w), jnp.asarray(r), fit_intercept)
    # Rounding bounds: 64 eps times the sums of magnitudes (the two sum the same terms in
    # different groupings), plus, for sums about the center, what a center off by dm moves.
    eps = np.finfo(dtype).eps
    X64, w64 = X.astype(np.float64), w.astype(np.float64)
    Xc = np.abs(X64 - (w64 @ X64 if fit_intercept else 0.0))
    dm = 64 * eps * (w64 @ np.abs(X64)) if fit_intercept else np.zeros(NP)
    spread = w64 @ Xc
    r = np.abs(r.astype(np.float64))
    bounds = {
        "center": dm,
        "variance": 64 * eps * (w64 @ Xc ** 2) + 2 * dm * spread + dm ** 2,
        "gram": 64 * eps * (Xc.T @ (w64[:, None] * Xc)) + np.outer(dm, spread) + np.outer(spread, dm) + np.outer(dm, dm),
        "xr": 64 * eps * (np.abs(X64).T @ r),
    }
    for field, bound in bounds.items():
        a, b = np.asarray(getattr(streamed, field), np.float64), np.asarray(getattr(whole, field), np.float64)
        assert np.all(np.abs(a - b) <= bound), (field, np.max(np.abs(a - b) / np.where(bound > 0, bound, 1)))
    np.testing.assert_array_equal(np.asarray(streamed.constant), np.asarray(whole.constant))
    assert bool(np.asarray(streamed.constant)[3]) == fit_intercept
    assert abs(float(streamed.r_total) - float(whole.r_total)) <= 64 * eps * r.sum()


@pytest.mark.parametrize("kwargs", [{}, {"fit_intercept": False}, {"standardize": False},
                                    {"penalty_factor": np.linspace(0.5, 2.0, NP)}], ids=str)
def test_streamed_path_matches_the_copied_one_without_copying_X(kwargs, small_blocks, no_copy, monkeypatch):
    """An X XLA:CPU would copy (16 bytes off a 64-byte boundary) is streamed: the path never
    hands X to XLA, certifies every lambda, and its coefficients are the in-memory
    homotopy's to the tolerance's scale."""
    X, y, w, offset = _data(seed=1)
    X[:, 7] = np.random.default_rng(2).standard_normal(N)
    Xm = at_offset(X, 16)
    tol = 1e-10
    res = jaxreg.path(Xm, y, sample_weight=w + 0.01, offset=offset, tol=tol, **kwargs)
    monkeypatch.undo()
    assert not P._shared_with_xla(Xm)
    ref = jaxreg.path(X, y, sample_weight=w + 0.01, offset=offset, tol=tol, **kwargs)
    assert res.converged.all() and res.gap.max() <= tol
    scale = np.abs(ref.coef).max()
    np.testing.assert_allclose(res.coef, ref.coef, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(res.intercept, ref.intercept, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=10 * tol)
    np.testing.assert_allclose(res.dev_ratio, ref.dev_ratio, rtol=0, atol=1e-9)


def test_misaligned_read_only_memmap_is_streamed(tmp_path, small_blocks, no_copy, monkeypatch):
    """A read-only memory map 16 bytes past a page boundary (a raw file with a 16-byte
    header; XLA:CPU would copy it) is read block by block. (A ``.npy`` memory map starts on a
    64-byte boundary: the program shares it, ``test_api``.)"""
    X, y, _, _ = _data(seed=3)
    X[:, 7] = np.random.default_rng(4).standard_normal(N)
    with open(tmp_path / "X.bin", "wb") as fh:
        fh.write(b"\0" * 16 + X.tobytes())
    mapped = np.memmap(tmp_path / "X.bin", dtype=X.dtype, mode="r", offset=16, shape=X.shape)
    assert mapped.ctypes.data % 64 == 16
    res = jaxreg.path(mapped, y, tol=1e-10)
    assert res.converged.all()
    monkeypatch.undo()  # the reference: X in memory, handed to the program whole
    ref = homotopy_reference(X, y)
    np.testing.assert_allclose(res.coef, ref.coef, rtol=0, atol=1e-6 * np.abs(ref.coef).max())


def homotopy_reference(X, y, **kwargs):
    """The in-memory homotopy's path (default threshold: a small X is never streamed)."""
    assert not P._streams_statistics(X, False)
    return jaxreg.path(X, y, tol=1e-10, **kwargs)


def test_a_nearly_exact_fit_is_finished_from_X(small_blocks, monkeypatch):
    """Noise-free y: at the small lambdas the Gram's residual sum of squares cancels, the
    statistics program cannot certify them (no rows), and the working-set program finishes
    the path from X. The result is certified and matches the in-memory homotopy's."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N, NP))
    y = X @ rng.standard_normal(NP)
    handed = []
    device_matrix = P._device_matrix
    monkeypatch.setattr(P, "_device_matrix", lambda X: handed.append(X.shape) or device_matrix(X))
    res = jaxreg.path(at_offset(X, 16), y, tol=1e-10)
    assert handed == [(N, NP)]  # once, for the working-set program
    assert res.converged.all() and res.gap.max() <= 1e-10
    monkeypatch.undo()
    ref = homotopy_reference(X, y)
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-9)
    np.testing.assert_allclose(res.coef, ref.coef, rtol=0, atol=1e-6 * np.abs(ref.coef).max())


def test_float32_is_streamed_in_float32(small_blocks, no_copy, monkeypatch):
    X, y, _, _ = _data(np.float32, seed=6)
    # No constant or large-mean column: those make float32 paths run on a shifted copy of X
    # (``path.float32_shift``), which XLA may share or copy depending on its alignment.
    X[:, [3, 7]] = np.random.default_rng(7).standard_normal((N, 2)).astype(np.float32)
    res = jaxreg.path(at_offset(X, 16), y)
    assert res.coef.dtype == np.float32 and res.converged.all()
    monkeypatch.undo()
    ref = jaxreg.path(X.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-3)


def test_aligned_and_small_inputs_are_not_streamed(monkeypatch):
    """The default threshold: X of 32 MB or more that XLA would copy. A 64-byte-aligned X, a
    JAX array and a small X go to the program whole."""
    X = np.zeros((N, NP))
    assert not P._streams_statistics(X, False)  # 480 kB
    big = np.empty((1 << 22) + 8)[1:][: 1 << 22].reshape(-1, 64)  # 32 MB, 8 bytes off
    assert P._streams_statistics(big, False) and not P._streams_statistics(big, True)  # True: padded
    # 65536 x 64 members' Grams (32 kB each) held at once must stay under half of X (32 MB).
    assert P._streams_statistics(big, False, 512) and not P._streams_statistics(big, False, 513)
    with jax.enable_x64(True):
        assert not P._streams_statistics(np.asarray(jnp.zeros((1 << 16, 64))), False)


def test_batched_paths_stream_one_pass_for_all_members(small_blocks, no_copy, monkeypatch):
    """``path_batch`` of a Gaussian lasso over fold weights and responses, in chunks of two
    members on two threads, on a misaligned X: the members' statistics are streamed (X never
    handed to XLA) and every member's path is the in-memory path_batch's."""
    X, y, _, _ = _data(seed=8)
    X[:, [3, 7]] = np.random.default_rng(9).standard_normal((N, 2))
    folds = np.stack([(np.arange(N) % 3 != k).astype(float) for k in range(3)] + [np.ones(N)])
    Y = np.stack([y, -y, 2 * y + 1, y])
    got = jaxreg.path_batch(at_offset(X, 16), Y, sample_weight=folds, tol=1e-10, chunk_size=2, n_jobs=2)
    monkeypatch.undo()
    ref = jaxreg.path_batch(X, Y, sample_weight=folds, tol=1e-10, chunk_size=2, n_jobs=2)
    for a, b in zip(got.members, ref.members):
        assert a.converged.all() and a.gap.max() <= 1e-10
        np.testing.assert_allclose(a.coef, b.coef, rtol=0, atol=1e-6 * np.abs(b.coef).max())
        np.testing.assert_allclose(a.objective, b.objective, rtol=1e-9)


def test_cv_streams_a_gaussian_lasso(small_blocks, no_copy, monkeypatch):
    """``jaxreg.cv`` of a Gaussian lasso on a misaligned X: both of its ``path_batch`` calls
    stream X, and the curve and choices are those of an in-memory X."""
    X, y, _, _ = _data(seed=10)
    X[:, [3, 7]] = np.random.default_rng(11).standard_normal((N, 2))
    got = jaxreg.cv(at_offset(X, 16), y, n_folds=4, n_lambdas=30)
    monkeypatch.undo()
    ref = jaxreg.cv(X, y, n_folds=4, n_lambdas=30)
    np.testing.assert_allclose(got.cv_mean, ref.cv_mean, rtol=1e-6)
    np.testing.assert_allclose(got.lambdas, ref.lambdas, rtol=1e-12)  # lambda_max from sums in another order
    np.testing.assert_array_equal(got.index_min, ref.index_min)
    np.testing.assert_array_equal(got.index_1se, ref.index_1se)
