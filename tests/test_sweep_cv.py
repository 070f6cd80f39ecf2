"""Batched sweeps, cross-validation and stability selection against one-by-one references."""

import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import jaxreg
from jaxreg.cv import _pointwise_loss, _select, cv, make_folds
from jaxreg.stability import stability_selection
from jaxreg.sweep import path_batch

from .conftest import at_offset


@pytest.fixture(scope="module")
def gdata():
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(90, 15, 0.4, seed=11)
    return X, y


@pytest.fixture(scope="module")
def bdata():
    X, y, _ = jaxreg.datasets.make_glmnet_benchmark(90, 15, 0.4, family="binomial", seed=12)
    return X, y


def test_batched_weights_and_l1_ratios_equal_one_by_one(gdata):
    X, y = gdata
    rng = np.random.default_rng(0)
    W = rng.poisson(1.0, size=(4, X.shape[0])).astype(float)
    ratios = np.array([1.0, 0.5, 0.2, 1.0])
    batch = path_batch(X, y, sample_weight=W, l1_ratio=ratios, n_lambdas=20)
    assert batch.coef.shape == (4, 20, 15)
    for b in range(4):
        one = jaxreg.path(X, y, sample_weight=W[b], l1_ratio=ratios[b], n_lambdas=20)
        np.testing.assert_allclose(batch.lambdas[b], one.lambdas, rtol=1e-12)
        np.testing.assert_allclose(batch.objective[b], one.objective, rtol=2e-7)
        assert np.all(batch.gap[b] <= 1e-7)


def test_batched_responses_binomial_equal_one_by_one(bdata):
    X, y = bdata
    Y = np.stack([y, 1 - y, y[::-1]])
    lam = np.logspace(-1, -3, 12)
    batch = path_batch(X, Y, family="binomial", lambdas=lam)
    for b in range(3):
        one = jaxreg.path(X, Y[b], family="binomial", lambdas=lam)
        np.testing.assert_allclose(batch.objective[b], one.objective, rtol=2e-7)


def test_chunks_give_the_same_answer_and_report_progress(gdata, capsys):
    X, y = gdata
    W = np.random.default_rng(1).uniform(0.5, 1.5, size=(5, X.shape[0]))
    whole = path_batch(X, y, sample_weight=W, n_lambdas=20)
    chunked = path_batch(X, y, sample_weight=W, n_lambdas=20, chunk_size=2, progress=True)
    np.testing.assert_allclose(chunked.objective, whole.objective, rtol=2e-7)
    assert "5/5 paths solved" in capsys.readouterr().err


def test_large_x_runs_its_chunks_one_at_a_time_by_default(gdata, capsys, monkeypatch):
    """From ``_CONCURRENT_MAX_BYTES`` of X on, the default n_jobs is 1 (one chunk holding every
    member); below it, one chunk per core; an explicit n_jobs is kept either way."""
    sweep = importlib.import_module("jaxreg.sweep")
    X, y = gdata
    W = np.random.default_rng(2).uniform(0.5, 1.5, size=(4, X.shape[0]))
    monkeypatch.setattr(sweep, "_cpu_count", lambda: 2)

    def chunks(**kw):
        path_batch(X, y, sample_weight=W, n_lambdas=8, progress=True, **kw)
        return capsys.readouterr().err.count("paths solved")

    monkeypatch.setattr(sweep, "_CONCURRENT_MAX_BYTES", X.nbytes + 1)
    assert chunks() == 2
    monkeypatch.setattr(sweep, "_CONCURRENT_MAX_BYTES", X.nbytes)
    assert chunks() == 1
    assert chunks(n_jobs=2) == 2


def test_batch_consumer_sees_every_member_in_order_and_warnings_still_come(bdata):
    """``_solve_batch(consume=...)`` hands each member's PathResult to the consumer and returns
    what it returned, in member order; non-convergence still warns (from the main thread)."""
    sweep = importlib.import_module("jaxreg.sweep")
    fam = jaxreg.families.get_family("binomial")
    X, y = bdata
    W = np.random.default_rng(3).uniform(0.5, 1.5, size=(3, X.shape[0]))
    whole = path_batch(X, y, family="binomial", sample_weight=W, n_lambdas=10, chunk_size=2, n_jobs=2)

    def run(max_iter, consume):
        return sweep._solve_batch(
            X, fam, 3, y_of=lambda b: y, weight_of=lambda b: W[b], offset_of=lambda b: None,
            batched={"y": False, "w": True, "offset": False}, l1_ratios=[1.0] * 3, lambdas_of=lambda b: None,
            n_lambdas=10, lambda_min_ratio=None, penalty_factor=None, lower_bounds=None, upper_bounds=None,
            fit_intercept=True, standardize=True, tol=None, max_iter=max_iter, chunk_size=2, max_memory=1 << 30,
            n_jobs=2, progress=False, consume=consume)

    seen = run(1000, lambda b, res: (b, res.objective))
    assert [b for b, _ in seen] == [0, 1, 2]
    for b, objective in seen:
        np.testing.assert_allclose(objective, whole.objective[b], rtol=1e-12)
    with pytest.warns(jaxreg.ConvergenceWarning, match="did not certify convergence"):
        run(1, lambda b, res: None)


def test_make_folds_deals_a_permutation_round_robin_in_a_small_integer_type():
    n = 103
    folds = make_folds(np.zeros(n), 10, seed=4)
    expected = np.empty(n, dtype=np.int64)
    expected[np.random.default_rng(4).permutation(n)] = np.arange(n) % 10
    np.testing.assert_array_equal(folds, expected)
    assert folds.dtype == np.int8
    assert make_folds(np.zeros(300), 128).dtype == np.int8
    assert make_folds(np.zeros(300), 129).dtype == np.int16
    y = np.random.default_rng(0).integers(0, 3, 400)
    strat = make_folds(y, 7, stratified=True, seed=1)
    assert np.ptp(np.bincount(strat, minlength=7)) <= 1
    for label in range(3):  # each class spread evenly over the folds
        assert np.ptp(np.bincount(strat[y == label], minlength=7)) <= 1


def test_batch_sizes_must_agree(gdata):
    X, y = gdata
    with pytest.raises(ValueError, match="disagree on the batch size"):
        path_batch(X, np.stack([y, y]), l1_ratio=[1.0, 0.5, 0.2])


def _reference_cv(X, y, family, folds, lambdas, l1_ratio, scoring):
    """CV curve from a plain loop over folds with jaxreg.path on row subsets."""
    errs = []
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        fit = jaxreg.path(X[tr], y[tr], family=family, lambdas=lambdas, l1_ratio=l1_ratio)
        eta = X[te] @ fit.coef.T + fit.intercept
        yt = (y[te] == fit.classes[1]).astype(float) if family == "binomial" else y[te]
        errs.append(_pointwise_loss(scoring, family, yt, eta).mean(axis=0))
    errs = np.array(errs)
    W = np.bincount(folds) / len(folds)
    mean = W @ errs
    se = np.sqrt(W @ (errs - mean) ** 2 / (len(W) - 1))
    return mean, se


@pytest.mark.parametrize("family,scoring", [("gaussian", "mse"), ("binomial", "deviance")])
def test_cv_matches_a_loop_over_fold_subsets(gdata, bdata, family, scoring):
    X, y = gdata if family == "gaussian" else bdata
    folds = np.random.default_rng(5).permutation(np.arange(X.shape[0]) % 5)
    res = cv(X, y, family=family, fold_ids=folds, scoring=scoring, n_lambdas=20, l1_ratio=[1.0, 0.5])
    for l, ratio in enumerate(res.l1_ratios):
        mean, se = _reference_cv(X, y, family, folds, res.lambdas[l], ratio, scoring)
        np.testing.assert_allclose(res.cv_mean[l], mean, rtol=1e-5)
        np.testing.assert_allclose(res.cv_se[l], se, rtol=1e-4, atol=1e-8 * mean.max())
        assert (res.index_min[l], res.index_1se[l]) == _select(mean, se, False)
    assert res.lambda_1se >= res.lambda_min
    assert res.l1_ratio == res.l1_ratios[np.argmin(res.cv_mean[np.arange(2), res.index_min])]


def test_cv_matches_glmnet_fold_fits(gdata):
    gn = pytest.importorskip("glmnet", reason="python-glmnet is not installed")
    X, y = gdata
    folds = np.arange(X.shape[0]) % 5
    res = cv(X, y, fold_ids=folds, scoring="mse", n_lambdas=20)
    lam = res.lambdas[0]
    errs = []
    for f in range(5):
        tr, te = folds != f, folds == f
        m = gn.ElasticNet(alpha=1.0, n_splits=0, tol=1e-14, lambda_path=lam, max_iter=10**6).fit(X[tr], y[tr])
        errs.append(((y[te, None] - X[te] @ m.coef_path_ - m.intercept_path_) ** 2).mean(axis=0))
    mean = np.mean(errs, axis=0)
    np.testing.assert_allclose(res.cv_mean[0], mean, rtol=1e-4)
    se = np.sqrt(np.mean((np.array(errs) - mean) ** 2, axis=0) / 4)
    assert (res.index_min[0], res.index_1se[0]) == _select(mean, se, False)


def test_cv_auc_class_and_keep(bdata):
    X, y = bdata
    folds = make_folds(y, 4, stratified=True, seed=2)
    for f in range(4):  # stratified: each fold holds its share of each class (+-1)
        assert abs(np.mean(y[folds == f]) - np.mean(y)) < 2.0 / np.sum(folds == f) + 1e-12
    res = cv(X, y, family="binomial", fold_ids=folds, scoring="auc", n_lambdas=20, keep=True)
    assert res.oof_link.shape == (1, X.shape[0], 20)
    for f in range(4):
        te = folds == f
        k = 7
        assert res.cv_folds[0, f, k] == pytest.approx(roc_auc_score(y[te], res.oof_link[0, te, k]), rel=1e-12)
    # AUC is maximized: lambda_min has the best mean.
    assert res.cv_mean[0, res.index_min[0]] == pytest.approx(np.nanmax(res.cv_mean[0]))
    cls = cv(X, y, family="binomial", fold_ids=folds, scoring="class", n_lambdas=20)
    assert np.all((cls.cv_mean >= 0) & (cls.cv_mean <= 1))
    prob = cls.predict(X[:3], "lambda_min", type="response")
    assert prob.shape == (3,) and np.all((prob > 0) & (prob < 1))


def test_cv_bad_input(gdata, bdata):
    X, y = gdata
    with pytest.raises(ValueError, match="scoring"):
        cv(X, y, scoring="auc")
    with pytest.raises(ValueError, match="fold_ids"):
        cv(X, y, fold_ids=np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="at least 2 folds"):
        cv(X, y, fold_ids=np.zeros(X.shape[0], dtype=int), n_lambdas=20)
    with pytest.raises(ValueError, match="n_folds"):
        cv(X, y, n_folds=1, n_lambdas=20)
    Xb, yb = bdata
    folds = (yb == 1).astype(int)  # each training set would hold one class only
    with pytest.raises(ValueError, match="only one class"):
        cv(Xb, yb, family="binomial", fold_ids=folds, n_lambdas=20)


def test_stability_selection_recovers_the_true_support():
    rng = np.random.default_rng(0)
    n, p = 150, 40
    X = rng.standard_normal((n, p))
    beta = np.zeros(p)
    support = [3, 17, 29]
    beta[support] = [2.0, -1.5, 1.0]
    y = X @ beta + rng.standard_normal(n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = stability_selection(X, y, n_subsamples=20, n_lambdas=25, lambda_min_ratio=1e-2, threshold=0.75)
    assert sorted(res.selected.tolist()) == support
    assert res.probabilities.shape == (25, p)
    assert np.all(res.max_probability[support] == 1.0)
    assert res.masks.shape == (20, n) and np.all(res.masks.sum(axis=1) == n // 2)
    # complementary pairs are disjoint
    assert np.all(res.masks[0::2] * res.masks[1::2] == 0)
    assert np.isfinite(res.error_bound) and res.error_bound > 0


def test_chunks_on_threads_share_one_copy_of_a_large_misaligned_x(monkeypatch):
    """A 2.4 MB X 16 bytes off a 64-byte boundary (which XLA:CPU would copy for each chunk's
    program, two at a time on threads) is copied once by ``path_batch``: every chunk's
    program gets the same buffer, and the answers are those of an aligned X."""
    import importlib

    P = importlib.import_module("jaxreg.path")
    rng = np.random.default_rng(3)
    n, p = 3000, 100
    X = rng.standard_normal((n, p))
    y = X[:, :4] @ np.array([1.0, -1.0, 0.5, 2.0]) + rng.standard_normal(n)
    misaligned, aligned = at_offset(X, 16), at_offset(X, 0)
    weights = np.stack([(np.arange(n) % 4 != k).astype(float) for k in range(4)])
    buffers = []
    device_matrix = P._device_matrix
    monkeypatch.setattr(P, "_device_matrix", lambda A: buffers.append(device_matrix(A)) or buffers[-1])
    got = path_batch(misaligned, y, sample_weight=weights, n_lambdas=10, chunk_size=1, n_jobs=2)
    assert len(buffers) == 1  # made once (path.SharedViews); the four chunks' programs share it
    assert buffers[0].unsafe_buffer_pointer() != misaligned.ctypes.data
    buffers.clear()
    ref = path_batch(aligned, y, sample_weight=weights, n_lambdas=10, chunk_size=1, n_jobs=2)
    assert {b.unsafe_buffer_pointer() for b in buffers} == {aligned.ctypes.data}
    np.testing.assert_array_equal(got.coef, ref.coef)


@pytest.mark.parametrize("scoring", ["deviance", "class"])
def test_cv_errors_in_row_chunks_equal_the_whole_fold(bdata, monkeypatch, scoring):
    # The held-out errors are accumulated over chunks of rows (no copy of a fold's rows of X,
    # no (n_test, K) temporaries): with 7-row chunks they equal the error of the whole fold,
    # computed here from the out-of-fold predictions.
    X, y = bdata
    w = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0])
    monkeypatch.setattr(importlib.import_module("jaxreg.cv"), "_PREDICT_ROWS", 7)
    res = cv(X, y, family="binomial", sample_weight=w, n_folds=4, n_lambdas=12, scoring=scoring, keep=True)
    y01 = (y == res.paths[0].classes[1]).astype(float)
    for f in range(4):
        te = res.fold_ids == np.unique(res.fold_ids)[f]
        loss = _pointwise_loss(scoring, "binomial", y01[te], res.oof_link[0, te])
        np.testing.assert_allclose(res.cv_folds[0, f], w[te] @ loss / w[te].sum(), rtol=1e-12)
    direct = X[te] @ res.paths[0].coef.T  # the full-data fit, against _linear_predictor's chunks
    chunked = importlib.import_module("jaxreg.cv")._linear_predictor(X, np.flatnonzero(te), res.paths[0].coef,
                                                                      np.zeros(12), np.zeros(X.shape[0]))
    np.testing.assert_allclose(chunked, direct, rtol=1e-13, atol=1e-13)


def test_batches_hold_shared_n_vectors_once(bdata, monkeypatch):
    """``path_batch`` and ``cv`` hand each chunk's program the n-vectors every member shares
    (y, the offset) as one (1, n) array, and the members' own weights as one aligned
    (chunk, n) stack (no further copy for XLA:CPU); the program gives each member the shared
    ones (``_split_members``). Answers equal one path per member, with padded chunks (5
    members in chunks of 2)."""
    sweep = importlib.import_module("jaxreg.sweep")
    P = importlib.import_module("jaxreg.path")
    X, y = bdata
    n = X.shape[0]
    offset = 0.3 * np.sin(np.arange(n))
    W = np.random.default_rng(4).uniform(0.5, 1.5, size=(5, n))
    seen = []
    solve = sweep.solve
    monkeypatch.setattr(sweep, "solve", lambda inputs, *a, **k: seen.append(inputs) or solve(inputs, *a, **k))
    batch = path_batch(X, y, family="binomial", sample_weight=W, offset=offset, n_lambdas=12, chunk_size=2)
    assert len(seen) == 3
    for inputs in seen:
        assert inputs.y.shape == (1, n) and inputs.offset.shape == (1, n)
        assert inputs.w.shape == (2, n) and inputs.w.ctypes.data % 64 == 0
    np.testing.assert_array_equal(seen[2].w[1], seen[2].w[0])  # the padded member repeats the first
    for b in range(5):
        one = jaxreg.path(X, y, family="binomial", sample_weight=W[b], offset=offset, lambdas=batch.lambdas[b])
        np.testing.assert_allclose(batch.objective[b], one.objective, rtol=2e-7)
    shared, per_member = P._split_members(seen[0])
    assert shared["y"].shape == (n,) and shared["offset"].shape == (n,) and per_member["w"].shape == (2, n)

    seen.clear()
    folds = np.arange(n) % 3
    res = cv(X, y, family="binomial", fold_ids=folds, n_lambdas=12, chunk_size=3)
    assert seen[-1].y.shape == (1, n) and seen[-1].w.shape == (3, n)
    # Unit sample weights: each fold's training rows as a boolean mask (one byte per row),
    # which the program normalizes into the weights validation would have made.
    assert seen[-1].w.dtype == np.bool_ and seen[-1].w.ctypes.data % 64 == 0
    for f in range(3):
        np.testing.assert_array_equal(seen[-1].w[f], folds != f)
        with jax.enable_x64(True):
            normalized = np.asarray(P.observation_weights(jnp.asarray(seen[-1].w[f]), jnp.float64))
        np.testing.assert_array_equal(normalized, (folds != f) / np.sum(folds != f))
    assert np.all(np.isfinite(res.cv_mean))
    # The masks give the answers of float fold weights (a batch of the same members).
    fold_weights = np.stack([(folds != f).astype(float) for f in range(3)])
    floats = path_batch(X, y, family="binomial", sample_weight=fold_weights, lambdas=res.paths[0].lambdas)
    masks = path_batch(X, y, family="binomial", sample_weight=fold_weights > 0, lambdas=res.paths[0].lambdas)
    np.testing.assert_allclose(masks.objective, floats.objective, rtol=1e-13)
    np.testing.assert_allclose(masks.coef, floats.coef, rtol=1e-10, atol=1e-12)


def test_batch_converts_an_x_that_needs_it_once(gdata, monkeypatch):
    """An integer X is converted to float once per ``path_batch`` call, not once per member."""
    V = importlib.import_module("jaxreg._validation")
    X, y = gdata
    Xi = np.round(10 * X).astype(np.int64)
    converted = []
    copy = V._aligned_copy
    monkeypatch.setattr(V, "_aligned_copy", lambda arr, dtype: converted.append(arr.shape) or copy(arr, dtype))
    W = np.random.default_rng(5).uniform(0.5, 1.5, size=(3, X.shape[0]))
    batch = path_batch(Xi, y, sample_weight=W, n_lambdas=8)
    assert converted.count(Xi.shape) == 1
    one = jaxreg.path(Xi.astype(float), y, sample_weight=W[2], lambdas=batch.lambdas[2])
    np.testing.assert_allclose(batch.objective[2], one.objective, rtol=2e-7)


def test_batch_n_vectors_do_not_outlive_the_call(monkeypatch):
    """The members' weight stacks, which XLA:CPU reads in place on worker threads, are freed
    when ``path_batch`` returns, not at the next JAX operation or Python garbage collection
    (``path._release_host_references``; Python's collector is off here to show it)."""
    import gc
    import weakref

    sweep = importlib.import_module("jaxreg.sweep")
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3000, 12))  # over the shape buckets: the stacks are not padded (copied)
    y = X[:, :3] @ np.array([1.0, -0.5, 0.25]) + rng.standard_normal(3000)
    stacks = []
    aligned_empty = sweep.aligned_empty
    monkeypatch.setattr(sweep, "aligned_empty", lambda shape, dtype: stacks.append(aligned_empty(shape, dtype)) or stacks[-1])
    W = rng.uniform(0.5, 1.5, size=(4, X.shape[0]))
    path_batch(X, y, sample_weight=W, n_lambdas=8, chunk_size=2, n_jobs=2)  # compiled
    stacks.clear()
    gc.collect()
    gc.disable()
    try:
        result = path_batch(X, y, sample_weight=W, n_lambdas=8, chunk_size=2, n_jobs=2)
        refs = [weakref.ref(a.base) for a in stacks]
        stacks.clear()
        assert len(refs) == 2 and all(r() is None for r in refs)
    finally:
        gc.enable()
    assert np.all(result.gap <= 1e-7)


def test_vectorized_batch_program_matches_the_mapped_one(bdata, monkeypatch):
    """The batch program accelerators run (members vmapped, LAPACK-free factorizations) gives
    the members' answers of the CPU one (members one after another), with per-member weights
    and with every n-vector shared (only the l1_ratio differs)."""
    import functools

    P = importlib.import_module("jaxreg.path")
    X, y = bdata
    W = np.random.default_rng(7).uniform(0.5, 1.5, size=(3, X.shape[0]))
    mapped = path_batch(X, y, family="binomial", sample_weight=W, n_lambdas=10, n_jobs=1)
    shared = path_batch(X, y, family="binomial", l1_ratio=[1.0, 0.5], n_lambdas=10, n_jobs=1)
    program = P._program
    monkeypatch.setattr(P, "_program",
                        lambda batched: functools.partial(P._compiled_batch, vectorize=True) if batched else program(batched))
    vmapped = path_batch(X, y, family="binomial", sample_weight=W, n_lambdas=10, n_jobs=1)
    np.testing.assert_allclose(vmapped.objective, mapped.objective, rtol=2e-7)  # both within tol = 1e-7
    assert np.all(vmapped.gap <= 1e-7)
    vmapped = path_batch(X, y, family="binomial", l1_ratio=[1.0, 0.5], n_lambdas=10, n_jobs=1)
    np.testing.assert_allclose(vmapped.objective, shared.objective, rtol=2e-7)


def test_weight_masks_reach_streamed_statistics_as_weights(monkeypatch):
    """Boolean member weights (fold masks) on the Gaussian homotopy that streams its
    statistics off a host X (an X that XLA:CPU would copy) become normalized float weights
    there too: the same paths as float 0/1 weights."""
    P = importlib.import_module("jaxreg.path")
    monkeypatch.setattr(P, "_STREAM_MIN_BYTES", 0)
    rng = np.random.default_rng(6)
    X = at_offset(rng.standard_normal((3000, 12)), 16)
    y = X @ rng.standard_normal(12) + rng.standard_normal(3000)
    masks = np.stack([np.arange(3000) % 3 != f for f in range(3)])
    streamed = []
    stats = P.streamed_gram.stream_gram_statistics
    monkeypatch.setattr(P.streamed_gram, "stream_gram_statistics",
                        lambda *a, **k: streamed.append(a[2].dtype) or stats(*a, **k))
    with_masks = path_batch(X, y, sample_weight=masks, n_lambdas=20)
    assert streamed and all(dtype == np.float64 for dtype in streamed)
    with_floats = path_batch(X, y, sample_weight=masks.astype(float), n_lambdas=20)
    np.testing.assert_allclose(with_masks.objective, with_floats.objective, rtol=1e-13)
    np.testing.assert_allclose(with_masks.coef, with_floats.coef, rtol=1e-10, atol=1e-12)
