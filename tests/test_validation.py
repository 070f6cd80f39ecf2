"""Bad inputs are refused by ``jaxreg.path`` with a clear error, before anything is compiled.

Every bad input must raise a ValueError (TypeError for a wrong kind of object) whose message
names the problem, and the path program must be neither traced (``jaxreg.trace_count()``
unchanged) nor called. Two-valued labels of any type are accepted by the binomial family.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

import jaxreg

# ``jaxreg.path`` is the function (re-exported by the package); the module is this.
_path_module = sys.modules["jaxreg.path"]

# A shape (and grid length) used only by the bad-input tests below, so that an input slipping
# through validation would have to trace the program, not hit a cached compilation.
N, P, K = 11, 3, 3
_rng = np.random.default_rng(20240601)
X = _rng.standard_normal((N, P))
Y = X @ np.array([1.0, -0.5, 0.0]) + 0.3 * _rng.standard_normal(N)
Y01 = np.r_[np.zeros(5), np.ones(6)]


@pytest.fixture
def refuse(monkeypatch):
    """``refuse(exc, match, X=..., y=..., **kwargs)``: the call raises before any compilation."""

    def no_solver(*args, **kwargs):
        raise AssertionError("the path program was called with an input that should have been refused")

    monkeypatch.setattr(_path_module, "_program", lambda batched: no_solver)

    def check(exc, match, *, X=X, y=Y, **kwargs):
        kwargs.setdefault("n_lambdas", K)
        before = jaxreg.trace_count()
        with pytest.raises(exc, match=match) as info:
            jaxreg.path(X, y, **kwargs)
        assert type(info.value) is exc, f"expected exactly {exc.__name__}, got {type(info.value).__name__}"
        assert jaxreg.trace_count() == before, "the path program was traced before the error"
        return info.value

    return check


def _with(arr, index, value):
    out = np.array(arr, dtype=np.float64)
    out[index] = value
    return out


# --------------------------------------------------------------------------- non-finite values


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_X(refuse, bad):
    refuse(ValueError, r"X contains 1 NaN or infinite", X=_with(X, (2, 1), bad))


def test_nonfinite_X_counts_every_bad_entry(refuse):
    Xb = _with(_with(X, (0, 0), np.nan), (4, 2), np.inf)
    refuse(ValueError, r"X contains 2 NaN or infinite", X=Xb)


def test_nan_in_float32_X(refuse):
    refuse(ValueError, r"X contains 1 NaN", X=_with(X, (0, 0), np.nan).astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_y_gaussian(refuse, bad):
    refuse(ValueError, r"y contains 1 NaN or infinite", y=_with(Y, 3, bad))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_y_binomial(refuse, bad):
    refuse(ValueError, r"y contains .*NaN or infinite", y=_with(Y01, 3, bad), family="binomial")


@pytest.mark.parametrize("missing", [None, np.nan])
def test_missing_label_in_object_y_binomial(refuse, missing):
    labels = np.array(["yes", "no"] * 5 + [missing], dtype=object)
    refuse(ValueError, r"y contains 1 missing", y=labels, family="binomial")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_sample_weight(refuse, bad):
    refuse(ValueError, r"sample_weight contains 1 NaN or infinite", sample_weight=_with(np.ones(N), 5, bad))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_nonfinite_offset(refuse, bad, family):
    y = Y if family == "gaussian" else Y01
    refuse(ValueError, r"offset contains 1 NaN or infinite", y=y, family=family, offset=_with(np.zeros(N), 0, bad))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("X", {"X": X * 1e160}),
        ("y", {"y": Y * 1e160}),
        ("offset", {"offset": np.full(N, 1e160)}),
        # finite in float64 but not once cast to float32, the dtype X is solved in
        ("y", {"X": X.astype(np.float32), "y": Y * 1e39}),
    ],
)
def test_values_too_large_to_square(refuse, name, kwargs):
    refuse(ValueError, rf"{name} has values too large", **kwargs)


def test_huge_but_valid_weights_are_normalized():
    """Weights whose sum overflows are fine: only their ratios matter."""
    res_big = jaxreg.path(X, Y, n_lambdas=K + 1, sample_weight=np.full(N, 1e308))
    res_one = jaxreg.path(X, Y, n_lambdas=K + 1)
    np.testing.assert_allclose(res_big.coef, res_one.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res_big.intercept, res_one.intercept, rtol=1e-10)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("bad_X, ndim", [(X[:, 0], 1), (X[:, :, None], 3), (np.float64(1.0), 0)])
def test_X_not_2d(refuse, bad_X, ndim):
    refuse(ValueError, rf"X must be a 2-D array .*got {ndim} dimension", X=bad_X)


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
@pytest.mark.parametrize("m", [N - 1, N + 1])
def test_length_of_y(refuse, family, m):
    y = np.r_[Y, 0.0][:m] if family == "gaussian" else np.r_[Y01, 1.0][:m]
    refuse(ValueError, rf"X has {N} rows but y has {m} entries", y=y, family=family)


def test_y_with_two_columns(refuse):
    refuse(ValueError, r"y must be 1-D", y=np.c_[Y, Y])


@pytest.mark.parametrize("m", [N - 1, N + 1])
def test_length_of_sample_weight(refuse, m):
    refuse(ValueError, rf"sample_weight must have shape \({N},\); got \({m},\)", sample_weight=np.ones(m))


@pytest.mark.parametrize("m", [N - 1, N + 1])
def test_length_of_offset(refuse, m):
    refuse(ValueError, rf"offset must have shape \({N},\); got \({m},\)", offset=np.zeros(m))


def test_too_few_samples(refuse):
    refuse(ValueError, r"at least 2 samples", X=X[:1], y=Y[:1])


def test_no_features(refuse):
    refuse(ValueError, r"X has no features", X=X[:, :0])


# --------------------------------------------------------------------------- weights


def test_negative_weight(refuse):
    refuse(ValueError, r"sample_weight must be non-negative", sample_weight=_with(np.ones(N), 4, -0.5))


def test_all_zero_weights(refuse):
    refuse(ValueError, r"sample_weight must have at least one positive entry \(all are zero\)", sample_weight=np.zeros(N))


# --------------------------------------------------------------------------- binomial labels


@pytest.mark.parametrize(
    "labels, count",
    [
        (np.ones(N), 1),
        (np.array(["yes"] * N), 1),
        (np.arange(N) % 3, 3),
        (np.array(["a", "b", "c"] * 3 + ["a", "b"]), 3),
        (np.linspace(0.0, 1.0, N), N),
    ],
)
def test_binomial_needs_exactly_two_labels(refuse, labels, count):
    refuse(ValueError, rf"binomial y must have exactly two distinct values; got {count}", y=labels, family="binomial")


def test_binomial_labels_of_mixed_types(refuse):
    labels = np.array(["a", 1] * 5 + ["a"], dtype=object)
    refuse(ValueError, r"binomial y labels must be mutually comparable", y=labels, family="binomial")


# --------------------------------------------------------------------------- l1_ratio


@pytest.mark.parametrize("l1_ratio", [-0.1, -1e-12, 1.0 + 1e-9, 1.5, np.nan, np.inf])
def test_l1_ratio_outside_unit_interval(refuse, l1_ratio):
    refuse(ValueError, r"l1_ratio must be in \[0, 1\]", l1_ratio=l1_ratio)


def test_l1_ratio_not_a_scalar(refuse):
    refuse(ValueError, r"l1_ratio must be a scalar", l1_ratio=[0.5, 0.5])


@pytest.mark.parametrize("l1_ratio", [None, "0.5"])
def test_l1_ratio_wrong_kind(refuse, l1_ratio):
    refuse(TypeError, r"l1_ratio must be a real number", l1_ratio=l1_ratio)


# --------------------------------------------------------------------------- lambdas


@pytest.mark.parametrize("lambdas", [[1.0, -0.1], [-1e-12], np.array([0.5, 0.1, -3.0])])
def test_negative_lambdas(refuse, lambdas):
    refuse(ValueError, r"lambdas must be non-negative", lambdas=lambdas)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_lambdas(refuse, bad):
    refuse(ValueError, r"lambdas must be finite", lambdas=[1.0, bad, 0.1])


@pytest.mark.parametrize("lambdas", [[], np.array([]), np.zeros((0, 3))])
def test_empty_lambdas(refuse, lambdas):
    refuse(ValueError, r"lambdas must not be empty", lambdas=lambdas)


def test_non_numeric_lambdas(refuse):
    refuse(ValueError, r"lambdas must be numeric", lambdas=["big", "small"])


@pytest.mark.parametrize("n_lambdas", [0, -1, 2.5, True])
def test_n_lambdas_must_be_a_positive_integer(refuse, n_lambdas):
    refuse(ValueError, r"n_lambdas must be a positive integer", n_lambdas=n_lambdas)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5, np.nan, np.inf])
def test_lambda_min_ratio_outside_open_unit_interval(refuse, ratio):
    refuse(ValueError, r"lambda_min_ratio must be in \(0, 1\)", lambda_min_ratio=ratio)


def test_lambda_min_ratio_wrong_kind(refuse):
    refuse(TypeError, r"lambda_min_ratio must be a real number", lambda_min_ratio="small")


# --------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("lower", [0.1, np.inf, [-1.0, 0.2, -1.0]])
def test_lower_bounds_above_zero(refuse, lower):
    refuse(ValueError, r"lower_bounds must be <= 0", lower_bounds=lower)


@pytest.mark.parametrize("upper", [-0.1, -np.inf, [1.0, 1.0, -0.2]])
def test_upper_bounds_below_zero(refuse, upper):
    refuse(ValueError, r"upper_bounds must be >= 0", upper_bounds=upper)


@pytest.mark.parametrize("name", ["lower_bounds", "upper_bounds"])
def test_bounds_wrong_length_or_nan(refuse, name):
    refuse(ValueError, rf"{name} must be a scalar or have one entry per feature \({P}\)", **{name: [0.0, 0.0]})
    refuse(ValueError, rf"{name} contains NaN", **{name: np.nan})


# --------------------------------------------------------------------------- penalty factors


@pytest.mark.parametrize("pf", [[1.0, -1.0, 1.0], [-1e-12, 1.0, 1.0]])
def test_negative_penalty_factor(refuse, pf):
    refuse(ValueError, r"penalty_factor must be finite and non-negative", penalty_factor=pf)


def test_infinite_penalty_factor(refuse):
    refuse(ValueError, r"penalty_factor must be finite", penalty_factor=[1.0, np.inf, 1.0])


def test_nan_penalty_factor(refuse):
    refuse(ValueError, r"penalty_factor contains NaN", penalty_factor=[1.0, np.nan, 1.0])


@pytest.mark.parametrize("m", [P - 1, P + 1])
def test_penalty_factor_wrong_length(refuse, m):
    refuse(
        ValueError,
        rf"penalty_factor must be a scalar or have one entry per feature \({P}\); got shape \({m},\)",
        penalty_factor=np.ones(m),
    )


def test_all_zero_penalty_factors(refuse):
    refuse(ValueError, r"penalty_factor must have at least one positive entry", penalty_factor=np.zeros(P))


# --------------------------------------------------------------------------- solver settings


@pytest.mark.parametrize("tol", [0.0, -1e-6, np.nan, np.inf])
def test_tol_must_be_positive(refuse, tol):
    refuse(ValueError, r"tol must be a positive finite number", tol=tol)


@pytest.mark.parametrize("max_iter", [0, -5, 2.5, True])
def test_max_iter_must_be_positive_integer(refuse, max_iter):
    refuse(ValueError, r"max_iter must be a positive integer", max_iter=max_iter)


@pytest.mark.parametrize("family", ["poisson", "", None, 3])
def test_unknown_family(refuse, family):
    refuse(ValueError, r"family must be one of \['binomial', 'gaussian'\]", family=family)


@pytest.mark.parametrize("flag", ["fit_intercept", "standardize"])
def test_boolean_flags(refuse, flag):
    refuse(TypeError, r"fit_intercept and standardize must be booleans", **{flag: "yes"})


# --------------------------------------------------------------------------- kinds of object


def _booby_trapped(matrix):
    """A sparse matrix that fails the test if anything densifies it."""

    def densify(*args, **kwargs):
        raise AssertionError("sparse input was densified")

    for name in ("toarray", "todense", "__array__"):
        try:
            setattr(matrix, name, densify)
        except AttributeError:  # pragma: no cover - read-only attribute
            pass
    return matrix


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array])
def test_sparse_X_is_refused_not_densified(refuse, kind):
    err = refuse(TypeError, r"X is a scipy.sparse matrix", X=_booby_trapped(kind(X)))
    assert "toarray" in str(err)


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_sparse_y_is_refused(refuse, family):
    y = Y if family == "gaussian" else Y01
    refuse(TypeError, r"y is a scipy.sparse matrix", y=_booby_trapped(sp.csr_matrix(y[:, None])), family=family)


@pytest.mark.parametrize("name, length", [("sample_weight", N), ("offset", N), ("penalty_factor", P)])
def test_other_sparse_arguments_are_refused(refuse, name, length):
    refuse(TypeError, rf"{name} is a scipy.sparse matrix", **{name: sp.csr_matrix(np.ones((length, 1)))})


def test_non_numeric_X(refuse):
    refuse(ValueError, r"X must be numeric", X=np.array([["a", "b", "c"]] * N))


def test_complex_X(refuse):
    refuse(ValueError, r"X must be real", X=X + 1j)


# --------------------------------------------------------------------------- two-valued labels

# A separate (non-separable) problem so it does not share a compilation with the tests above.
NB, PB, KB = 40, 3, 8
_rng_b = np.random.default_rng(7)
XB = _rng_b.standard_normal((NB, PB))
CODE = (XB @ np.array([2.0, -2.0, 1.0]) + _rng_b.logistic(size=NB) > 0).astype(int)  # 1 = classes[1]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def reference_fit():
    assert 5 < CODE.sum() < NB - 5
    return jaxreg.path(XB, CODE.astype(np.float64), family="binomial", n_lambdas=KB)


@pytest.mark.parametrize(
    "labels, classes",
    [
        (CODE.astype(bool), [False, True]),
        (np.where(CODE == 1, "yes", "no"), ["no", "yes"]),
        (np.where(CODE == 1, "yes", "no").astype(object), ["no", "yes"]),
        (np.where(CODE == 1, 1, -1), [-1, 1]),
        (np.where(CODE == 1, 1.0, -1.0), [-1.0, 1.0]),
        # classes[1] is the larger label even when it is listed first or is "0"-like
        (np.where(CODE == 1, "b", "a"), ["a", "b"]),
        (np.where(CODE == 1, 7, 3), [3, 7]),
    ],
)
def test_two_valued_labels(reference_fit, labels, classes):
    assert labels[0] != labels[np.flatnonzero(CODE != CODE[0])[0]]
    res = jaxreg.path(XB, labels, family="binomial", n_lambdas=KB)
    assert res.classes is not None
    assert list(res.classes) == classes
    # classes[1] is modelled: identical to the 0/1 fit with y = (labels == classes[1]).
    np.testing.assert_array_equal(res.coef, reference_fit.coef)
    np.testing.assert_array_equal(res.intercept, reference_fit.intercept)
    prob = res.predict(XB, type="response")
    assert prob.shape == (NB, KB)
    assert np.all((prob > 0) & (prob < 1))
    np.testing.assert_allclose(prob, _sigmoid(res.predict(XB, type="link")), rtol=1e-12)
    # At the least penalized fit the model has learnt the labels: P(classes[1]) is higher
    # where the label is classes[1], and (intercept score equation) averages to its frequency.
    # Allowed residual of that equation for a relative duality gap <= tol: sqrt(2 L eps), L = 1/4.
    allowed = 3.0 * np.sqrt(0.5 * res.tol * res.objective)
    freq = np.mean(labels == res.classes[1])
    last = prob[:, -1]
    assert last[CODE == 1].mean() > last[CODE == 0].mean() + 0.2
    assert abs(last.mean() - freq) <= allowed[-1]
    # At lambda_max only the intercept is fitted: the response is the frequency of classes[1].
    np.testing.assert_allclose(prob[:, 0], freq, rtol=0, atol=allowed[0])
    assert np.all(res.coef[0] == 0)


def test_labels_do_not_change_compiled_program(reference_fit):
    before = jaxreg.trace_count()
    jaxreg.path(XB, np.where(CODE == 1, "yes", "no"), family="binomial", n_lambdas=KB)
    assert jaxreg.trace_count() == before


def test_x_is_copied_at_most_once_and_then_onto_a_64_byte_boundary():
    """A C-ordered X of the solver's dtype is used as given; any other X (Fortran order, as
    pandas hands out, integers, float16) is copied once, C-ordered and on a 64-byte boundary,
    where XLA:CPU shares it (``path._device_matrix``) rather than copying it again."""
    from jaxreg._validation import validate_inputs

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 7))
    y = rng.standard_normal(300)
    options = dict(family_name="gaussian", sample_weight=None, offset=None, penalty_factor=None, lower_bounds=None,
                   upper_bounds=None, l1_ratio=1.0)
    assert validate_inputs(X, y, **options).X is X
    for given in (np.asfortranarray(X), np.round(10 * X).astype(np.int64), X.astype(np.float16), X[:, ::2]):
        got = validate_inputs(given, y, **options).X
        assert got.flags.c_contiguous and got.ctypes.data % 64 == 0 and got.dtype == np.float64
        np.testing.assert_array_equal(got, np.asarray(given, dtype=np.float64))
    f32 = validate_inputs(np.asfortranarray(X.astype(np.float32)), y, **options).X
    assert f32.dtype == np.float32 and f32.flags.c_contiguous and f32.ctypes.data % 64 == 0


def test_n_vectors_are_aligned_and_not_copied_again_for_one_path():
    """y, sample weights and offset come out of validation C-contiguous on a 64-byte boundary
    (the compiled call reads them in place), copied only where they must be (dtype, labels,
    normalized weights); one path's inputs view them rather than stacking copies."""
    import importlib

    from jaxreg._validation import validate_inputs

    from .conftest import at_offset

    P = importlib.import_module("jaxreg.path")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 7))
    y0 = at_offset(rng.standard_normal(300), 0)
    offset = at_offset(rng.standard_normal(300), 16)
    options = dict(family_name="gaussian", penalty_factor=None, lower_bounds=None, upper_bounds=None, l1_ratio=1.0)
    data = validate_inputs(X, y0, sample_weight=rng.uniform(1, 2, 300), offset=offset, **options)
    assert data.y is y0  # aligned float64 already: used as given
    for arr in (data.y, data.w, data.offset):
        assert arr.flags.c_contiguous and arr.ctypes.data % 64 == 0 and arr.dtype == np.float64
    np.testing.assert_array_equal(data.offset, offset)
    f32 = validate_inputs(X.astype(np.float32), y0, sample_weight=None, offset=None, **options)
    assert f32.y.dtype == f32.w.dtype == f32.offset.dtype == np.float32
    assert all(a.ctypes.data % 64 == 0 for a in (f32.y, f32.w, f32.offset))
    vectors = tuple(getattr(data, f)[None] for f in ("y", "w", "offset"))
    inputs = P.make_inputs(data, vectors, [1.0], np.ones((1, 5)), 1e-6, 10, True)
    assert all(np.shares_memory(getattr(inputs, f)[0], getattr(data, f)) for f in ("y", "w", "offset"))


def test_checked_weights_and_offset_are_used_as_they_are():
    """A batch member sharing the first member's weights and offset gets those very arrays:
    no n-vector of its own (``sweep._solve_batch``)."""
    from jaxreg._validation import validate_inputs

    X = np.random.default_rng(0).standard_normal((30, 4))
    y = X[:, 0].copy()
    common = dict(family_name="gaussian", penalty_factor=None, lower_bounds=None, upper_bounds=None, l1_ratio=1.0)
    first = validate_inputs(X, y, sample_weight=None, offset=None, **common)
    again = validate_inputs(first.X, y, sample_weight=None, offset=None, X_checked=True,
                            weight_checked=first.w, offset_checked=first.offset, **common)
    assert again.w is first.w and again.offset is first.offset
    np.testing.assert_array_equal(again.w, np.full(30, 1 / 30))
