"""Input validation, in NumPy, before anything is traced or compiled.

Every problem is reported as a ValueError (or TypeError for wrong kinds of object) that
names the argument, so a user never sees a NaN result or a traceback from inside JAX.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["ValidatedData", "aligned_empty", "validate_inputs", "validate_lambdas"]

# XLA:CPU uses host memory in place only from a 64-byte boundary; NumPy places the arrays it
# allocates 16 bytes past one.
XLA_ALIGNMENT = 64


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialized C-ordered array starting on a 64-byte boundary, so that a path hands
    it to XLA:CPU without a copy (``path._device_matrix``)."""
    return _aligned(np.empty, shape, dtype)


def aligned_zeros(shape, dtype) -> np.ndarray:
    """``aligned_empty`` filled with zeros, from ``np.zeros``: the kernel hands out large
    zeroed pages without touching them, so an array that is only read (a default offset)
    adds nothing to the resident memory."""
    return _aligned(np.zeros, shape, dtype)


def _aligned(allocate, shape, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = allocate(nbytes + XLA_ALIGNMENT, np.uint8)
    start = (-buf.ctypes.data) % XLA_ALIGNMENT
    return buf[start:start + nbytes].view(dtype).reshape(shape)


# A column-major X of ``dtype`` from this size on is kept as it is (the path program takes it
# as the row-major X^T, ``design.Transposed``); a smaller one is copied to row-major order.
FORTRAN_KEPT_MIN_BYTES = 1 << 25


def _in_path_layout(arr: np.ndarray, dtype) -> np.ndarray:
    """``arr`` as a C-ordered array of ``dtype``, or a column-major one of
    ``FORTRAN_KEPT_MIN_BYTES`` or more: itself when it is one, else one C-ordered copy into
    ``aligned_empty`` (a copy NumPy would allocate, XLA would copy once more)."""
    kept_fortran = arr.flags.f_contiguous and arr.nbytes >= FORTRAN_KEPT_MIN_BYTES
    if arr.dtype == dtype and (arr.flags.c_contiguous or kept_fortran):
        return arr
    return _aligned_copy(arr, dtype)


def _shareable(arr: np.ndarray, dtype) -> np.ndarray:
    """An n-vector as a C-contiguous array of ``dtype`` on a 64-byte boundary: ``arr`` itself
    when it is one, else one copy into ``aligned_empty``. The compiled call then reads it in
    place instead of copying it (on a tall, narrow X each n-vector is a sizable part of X:
    a fifth at p = 5)."""
    if arr.dtype == dtype and arr.flags.c_contiguous and arr.ctypes.data % XLA_ALIGNMENT == 0:
        return arr
    return _aligned_copy(arr, dtype)


def _aligned_copy(arr: np.ndarray, dtype) -> np.ndarray:
    """A C-ordered copy of ``arr`` in ``dtype`` on a 64-byte boundary (``aligned_empty``)."""
    out = aligned_empty(arr.shape, dtype)
    np.copyto(out, arr, casting="unsafe")
    return out


class ValidatedData(NamedTuple):
    X: np.ndarray  # (n, p) float32 or float64
    y: np.ndarray  # (n,), 0/1 for binomial
    w: np.ndarray  # (n,), sums to 1; or a bool mask (``weight_masks``): 1 / its count on its rows
    offset: np.ndarray  # (n,)
    pf: np.ndarray  # (p,), rescaled to sum to the number of features
    lower: np.ndarray  # (p,), original scale
    upper: np.ndarray
    classes: np.ndarray | None  # binomial: the two labels, classes[1] is coded 1
    dtype: np.dtype


def _is_sparse(value):
    return hasattr(value, "toarray") and hasattr(value, "nnz")


def _refuse_sparse(name, value):
    if _is_sparse(value):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; jaxreg does not support sparse input yet. "
            f"Pass a dense array (for example {name}.toarray()) if it fits in memory."
        )


def _as_float_array(name, value, dtype=None):
    if value is None:
        raise ValueError(f"{name} must not be None")
    _refuse_sparse(name, value)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric; got values of type {arr.dtype}") from exc
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} must be real; got complex values")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def _extremes(arr):
    """``(min, max)`` without an array-sized temporary (NaN propagates into both)."""
    if arr.size == 0:
        return 0.0, 0.0
    return float(np.min(arr)), float(np.max(arr))


def _check_finite(name, arr, extremes=None):
    """``extremes``: ``_extremes(arr)`` when the caller already has it (one pass over X, not two)."""
    low, high = _extremes(arr) if extremes is None else extremes
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")


def _check_values(name, arr, dtype):
    """Finite, and no value whose square overflows ``dtype`` (it would silently give NaN or 0);
    one pass for both (the extremes)."""
    extremes = _extremes(arr)
    _check_finite(name, arr, extremes)
    limit = float(np.sqrt(np.finfo(dtype).max)) * 1e-4
    big = max(abs(extremes[0]), abs(extremes[1]))
    if big > limit:
        raise ValueError(
            f"{name} has values too large to solve in {np.dtype(dtype).name} "
            f"(max |{name}| = {big:.3g} > {limit:.3g}); rescale {name}"
        )


def _as_scalar(name, value):
    """A real scalar, or a TypeError / ValueError that names the argument."""
    if value is None or isinstance(value, (str, bytes)) or _is_sparse(value):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar; got an array of shape {np.shape(value)}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real number; got {value!r}") from exc


def _per_feature(name, value, p, default, dtype):
    if value is None:
        return np.full(p, default, dtype=dtype)
    arr = _as_float_array(name, value, np.float64)
    if arr.ndim == 0:
        arr = np.full(p, float(arr))
    if arr.shape != (p,):
        raise ValueError(f"{name} must be a scalar or have one entry per feature ({p}); got shape {arr.shape}")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} contains NaN")
    return arr.astype(dtype)


def _binary_labels(y, dtype=np.float64):
    """``(indicator, classes)``: the two distinct labels of ``y`` sorted, and ``y == classes[1]``
    as numbers of ``dtype``, written straight into an ``aligned_empty`` n-vector (no second
    copy for the path program to read in place)."""
    if y is None:
        raise ValueError("y must not be None")
    _refuse_sparse("y", y)
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"y must be 1-D for the binomial family; got shape {labels.shape}")
    if labels.dtype.kind in "fc" and not np.all(np.isfinite(labels)):
        raise ValueError("y contains NaN or infinite value(s)")
    if labels.dtype == object:
        missing = [v for v in labels if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v))]
        if missing:
            raise ValueError(f"y contains {len(missing)} missing (None, NaN or infinite) label(s)")
    try:
        classes = np.unique(labels)
    except TypeError as exc:
        raise ValueError(f"binomial y labels must be mutually comparable (one type); {exc}") from exc
    if classes.size != 2:
        raise ValueError(
            f"binomial y must have exactly two distinct values; got {classes.size}: {classes[:5].tolist()}"
        )
    indicator = aligned_empty(labels.shape, dtype)
    indicator[...] = labels == classes[1]
    return indicator, classes


def validate_inputs(
    X, y, *, family_name, sample_weight, offset, penalty_factor, lower_bounds, upper_bounds, l1_ratio,
    X_checked=False, y_checked=None, weight_masks=False, weight_checked=None, offset_checked=None,
) -> ValidatedData:
    """Check and normalize everything but lambdas; see ``jaxreg.path`` for the rules.

    ``X_checked=True`` skips the O(np) finiteness and magnitude scans of an X that a previous
    call already validated (batched sweeps validate X once, then each member's y and weights).
    ``y_checked``: the ``(y, classes)`` of an earlier call's result for the same ``y``, used
    as they are (batch members sharing y: no second indicator, no second sort for classes).
    ``weight_checked`` / ``offset_checked``: an earlier call's validated weights / offset for
    the same ``sample_weight`` / ``offset``, used as they are (batch members sharing them make
    no n-vector of their own: a default offset or unit weights made again for each member
    landed in recycled heap memory, where zeroing or filling them made 8 n bytes resident).
    ``weight_masks=True``: a boolean ``sample_weight`` (0/1 weights: a cross-validation fold's
    training rows) is returned as it is, one byte per row, for the path programs to normalize
    (``path.observation_weights``) rather than as a float n-vector; only the batch solver
    (``sweep._solve_batch``) asks for it, since its members' weights go to the programs only.
    """
    _refuse_sparse("X", X)
    if X is None:
        raise ValueError("X must not be None")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features); got {X.ndim} dimension(s)")
    if X.dtype == np.float32:
        dtype = np.dtype(np.float32)
    else:
        dtype = np.dtype(np.float64)
    # C order: compiled programs are specialized to the memory layout of their inputs (a
    # small F-ordered X, as pandas hands out, would compile a second program), and a
    # C-ordered X on a 64-byte boundary is shared with XLA without a copy. A large F-ordered
    # X is kept: copying it would double the path's memory.
    X = _in_path_layout(_as_float_array("X", X), dtype)
    n, p = X.shape
    if n < 2:
        raise ValueError(f"at least 2 samples are needed; got {n}")
    if p < 1:
        raise ValueError("X has no features (0 columns)")
    if not X_checked:
        _check_values("X", X, dtype)

    if not (np.isscalar(l1_ratio) or np.ndim(l1_ratio) == 0):
        raise ValueError(f"l1_ratio must be a scalar in [0, 1]; got {l1_ratio!r}")
    l1 = _as_scalar("l1_ratio", l1_ratio)
    if not (0.0 <= l1 <= 1.0):
        raise ValueError(f"l1_ratio must be in [0, 1]; got {l1_ratio!r}")

    classes = None
    if y_checked is not None:
        y_arr, classes = y_checked
    elif family_name == "binomial":
        y_arr, classes = _binary_labels(y, dtype)
    else:
        y_arr = _as_float_array("y", y, np.float64)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = y_arr[:, 0]
        if y_arr.ndim != 1:
            raise ValueError(f"y must be 1-D; got shape {y_arr.shape}")
        _check_values("y", y_arr, dtype)
    if y_arr.shape[0] != n:
        raise ValueError(f"X has {n} rows but y has {y_arr.shape[0]} entries")

    # The n-vectors made here go straight into aligned memory (``_shareable`` then keeps
    # them): on a tall, narrow X each is a fifth of X (p = 5), and a copy of each made the
    # path's peak memory.
    if weight_checked is not None:
        w = weight_checked
    elif sample_weight is None:
        w = aligned_empty((n,), dtype)
        w.fill(1.0 / n)
    elif weight_masks and isinstance(sample_weight, np.ndarray) and sample_weight.dtype == np.bool_:
        if sample_weight.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},); got {sample_weight.shape}")
        if not np.any(sample_weight):
            raise ValueError("sample_weight must have at least one positive entry (all are zero)")
        w = _shareable(sample_weight, np.bool_)
    else:
        w = _as_float_array("sample_weight", sample_weight, np.float64)
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},); got {w.shape}")
        _check_finite("sample_weight", w)
        if np.any(w < 0):
            raise ValueError("sample_weight must be non-negative")
        if not np.any(w > 0):
            raise ValueError("sample_weight must have at least one positive entry (all are zero)")
        scaled = aligned_empty((n,), np.float64)
        np.divide(w, w.max(), out=scaled)  # first by the max, so the sum cannot overflow
        w = np.divide(scaled, scaled.sum(), out=scaled)

    if offset_checked is not None:
        off = offset_checked
    elif offset is None:
        off = aligned_zeros((n,), dtype)
    else:
        off = _as_float_array("offset", offset, np.float64)
        if off.shape != (n,):
            raise ValueError(f"offset must have shape ({n},); got {off.shape}")
        _check_values("offset", off, dtype)

    pf = _per_feature("penalty_factor", penalty_factor, p, 1.0, np.float64)
    if np.any(~np.isfinite(pf)) or np.any(pf < 0):
        raise ValueError("penalty_factor must be finite and non-negative")
    if not np.any(pf > 0):
        # As glmnet ("All penalty factors are <= 0"): with nothing penalized there is no path.
        raise ValueError("penalty_factor must have at least one positive entry (all are zero)")
    pf = pf * p / pf.sum()  # glmnet rescales penalty factors to sum to the number of features

    lower = _per_feature("lower_bounds", lower_bounds, p, -np.inf, np.float64)
    upper = _per_feature("upper_bounds", upper_bounds, p, np.inf, np.float64)
    if np.any(lower > 0):
        raise ValueError("lower_bounds must be <= 0 (a coefficient of zero must be feasible)")
    if np.any(upper < 0):
        raise ValueError("upper_bounds must be >= 0 (a coefficient of zero must be feasible)")

    return ValidatedData(
        X=X,
        y=_shareable(y_arr, dtype),
        w=w if w.dtype == np.bool_ else _shareable(w, dtype),
        offset=_shareable(off, dtype),
        pf=pf.astype(dtype),
        lower=lower.astype(dtype),
        upper=upper.astype(dtype),
        classes=classes,
        dtype=dtype,
    )


def validate_lambdas(lambdas, n_lambdas, lambda_min_ratio):
    """Return ``(lambdas, order)``: the user lambdas and the order sorting them decreasingly, or (None, None)."""
    if lambdas is not None:
        lam = _as_float_array("lambdas", lambdas, np.float64).reshape(-1)
        if lam.size == 0:
            raise ValueError("lambdas must not be empty")
        if not np.all(np.isfinite(lam)):
            raise ValueError("lambdas must be finite (found NaN or inf)")
        if np.any(lam < 0):
            raise ValueError("lambdas must be non-negative")
        order = np.argsort(-lam, kind="stable")
        return lam, order
    if not isinstance(n_lambdas, (int, np.integer)) or isinstance(n_lambdas, bool) or n_lambdas < 1:
        raise ValueError(f"n_lambdas must be a positive integer; got {n_lambdas!r}")
    if lambda_min_ratio is not None:
        r = _as_scalar("lambda_min_ratio", lambda_min_ratio)
        if not (0.0 < r < 1.0) or not np.isfinite(r):
            raise ValueError(f"lambda_min_ratio must be in (0, 1); got {lambda_min_ratio!r}")
    return None, None
