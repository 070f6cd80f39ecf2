"""``jaxreg.path``: a whole elastic-net regularization path in one compiled program.

The objective (glmnet's; scikit-learn's for the Gaussian family). For observations
``i = 1..n`` with weights ``w_i`` normalized to sum to one, offset ``o_i`` and
``eta_i = x_i . beta + beta_0 + o_i``, each lambda solves

    minimize over (beta_0, beta):
        sum_i w_i * l(y_i, eta_i)
      + lambda * sum_j pf_j * ( l1_ratio * |beta_j| + (1 - l1_ratio) / 2 * beta_j**2 )
    subject to lower_j <= beta_j <= upper_j

with ``l(y, eta) = (y - eta)**2 / 2`` (gaussian) or ``log(1 + exp(eta)) - y eta``
(binomial). With ``standardize=True`` the penalty applies to the coefficients of columns
scaled to unit weighted (1/n) variance and results are returned on the original scale.
Penalty factors are rescaled to sum to the number of features, as glmnet does.

Names: jaxreg ``lambda`` = glmnet ``lambda`` = scikit-learn ``alpha``; jaxreg ``l1_ratio``
= glmnet ``alpha`` = scikit-learn ``l1_ratio``.
"""

from __future__ import annotations

import functools
import threading
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import streamed_gram
from jaxreg._blas import single_threaded_blas
from jaxreg._program_cache import CPU_COMPILER_OPTIONS as _CPU_COMPILER_OPTIONS
from jaxreg._program_cache import CachedProgram
from jaxreg._validation import XLA_ALIGNMENT, aligned_empty, validate_inputs, validate_lambdas
from jaxreg.design import FlatShifted, RowShifted, Transposed, mask_scale
from jaxreg.families import get_family
from jaxreg.result import PathResult
from jaxreg.solvers.homotopy import run_lasso_homotopy, run_lasso_homotopy_from_statistics
from jaxreg.solvers.quadratic import WOODBURY_ELIMINATED
from jaxreg.solvers.ridge import run_ridge_path
from jaxreg.solvers.streamed_newton import run_streamed_path
from jaxreg.solvers.working_set import _FULL_GRAM_MAX_P, PathInputs, run_path

__all__ = ["path", "ConvergenceWarning", "SeparationWarning", "trace_count"]


class ConvergenceWarning(UserWarning):
    """The solver stopped at max_iter before certifying ``gap <= tol`` at some lambda."""


class SeparationWarning(UserWarning):
    """Binomial data look (nearly) separable: deviance explained exceeds 0.999."""


_TRACES = {"count": 0}


def trace_count() -> int:
    """Number of times a path program (or a block program of ``streamed_gram``) has been
    traced (compiled) in this process."""
    return _TRACES["count"] + streamed_gram._TRACES["count"]


def observation_weights(w, dtype):
    """Observation weights that sum to one, (n,): ``w`` itself when it is a float vector
    (validation normalized it), ``w / count`` for a boolean mask (0/1 weights: a
    cross-validation fold's training rows, kept as one byte per row on the host:
    ``validate_inputs(weight_masks=True)``): the same weights as validation's float
    normalization of the 0/1 vector (``design.mask_scale``)."""
    if w.dtype != jnp.bool_:
        return w
    return w.astype(dtype) * mask_scale(w, dtype)


def _with_float_weights(inputs: PathInputs) -> PathInputs:
    """``inputs`` with ``observation_weights`` applied to one member's ``w``."""
    return inputs._replace(w=observation_weights(inputs.w, inputs.y.dtype))


def _traced_run_path(inputs, *, family, capacity, fit_intercept, standardize, pure_linalg=False, eliminate=0):
    _TRACES["count"] += 1
    inputs = _with_float_weights(inputs)
    return run_path(
        inputs,
        family=family,
        capacity=capacity,
        fit_intercept=fit_intercept,
        standardize=standardize,
        pure_linalg=pure_linalg,
        eliminate=eliminate,
    )


_STATIC = ("family", "capacity", "fit_intercept", "standardize", "eliminate")

# Float64 working-set programs also skip XLA's tree-reduction rewrite, which splits every
# reduction over more than 32 numbers into a windowed partial reduction and a second one, for
# the accuracy of long float32 sums. In float64 a sequential sum over n numbers errs by at
# most n eps relative to the sum of magnitudes (1e-9 at n = 1e7; glmnet's Fortran sums
# sequentially too). The working-set program held 75 such split reductions, each its own
# kernel, down to reductions over m = 129 slots: binomial 100 x 1000 compiles in 2.30-2.35 s
# instead of 2.82-2.87 s, and runs faster (benchmarks/README.md, eighteenth session). The
# homotopy programs keep the rewrite: they compile in under 0.9 s with it, and their many
# short reductions per breakpoint ran slower without it (Gaussian 1000 x 100: 3.4 against
# 3.0-3.1 ms, `bench_compile.py --sets jaxreg,tree-reductions`). Float32 programs keep it.
_CPU_FLOAT64_OPTIONS = {"xla_disable_hlo_passes": "tree_reduction_rewriter"}
_CPU_OPTIONS = dict(compiler_options={"cpu": _CPU_COMPILER_OPTIONS}, float64_options={"cpu": _CPU_FLOAT64_OPTIONS})
_CPU_HOMOTOPY_OPTIONS = dict(compiler_options={"cpu": _CPU_COMPILER_OPTIONS})

_compiled_path = CachedProgram(_traced_run_path, _STATIC, **_CPU_OPTIONS)


def _traced_homotopy(inputs, *, family, fit_intercept, standardize, max_steps):
    _TRACES["count"] += 1
    inputs = _with_float_weights(inputs)
    return run_lasso_homotopy(inputs, family=family, fit_intercept=fit_intercept, standardize=standardize,
                              max_steps=max_steps)


_HOMOTOPY_STATIC = ("family", "fit_intercept", "standardize", "max_steps")
_compiled_homotopy = CachedProgram(_traced_homotopy, _HOMOTOPY_STATIC, **_CPU_HOMOTOPY_OPTIONS)


def _traced_homotopy_statistics(inputs, stats, *, family, fit_intercept, standardize, max_steps):
    _TRACES["count"] += 1
    inputs = _with_float_weights(inputs)
    return run_lasso_homotopy_from_statistics(inputs, stats, family=family, fit_intercept=fit_intercept,
                                              standardize=standardize, max_steps=max_steps)


# The homotopy from statistics streamed off a host X (``streamed_gram``): its inputs hold no X.
_compiled_homotopy_statistics = CachedProgram(_traced_homotopy_statistics, _HOMOTOPY_STATIC, **_CPU_HOMOTOPY_OPTIONS)


def _traced_homotopy_statistics_batch(inputs, stats, **static):
    """``run_lasso_homotopy_from_statistics`` over the members (leading axis of the per-member
    fields and of ``stats``), one after another (``lax.map``)."""
    shared, per_member = _split_members(inputs)
    return jax.lax.map(lambda m: _traced_homotopy_statistics(PathInputs(**shared, **m[0]), m[1], **static), (per_member, stats))


_compiled_homotopy_statistics_batch = CachedProgram(_traced_homotopy_statistics_batch, _HOMOTOPY_STATIC,
                                                    **_CPU_HOMOTOPY_OPTIONS)


def _shared_by_members(value, B: int) -> bool:
    """Whether a per-member field of a batch of B is one value for every member: a leading
    axis of 1 where B > 1 (``make_inputs``)."""
    return B > 1 and value.shape[0] == 1


def _split_members(inputs: PathInputs):
    """``(shared, per_member)`` field dicts of batched inputs (per-member fields: leading axis
    of B). An n-vector with a leading axis of 1 in a batch of B > 1 is the same for every
    member (y and the offset of cross-validation folds): it goes to ``shared``, one copy for
    all members, not B (on a tall, narrow X each is a sizable part of X)."""
    B = inputs.lambdas.shape[0]
    shared = {f: getattr(inputs, f) for f in PathInputs._fields if f not in _MEMBER_FIELDS}
    per_member = {}
    for f in _MEMBER_FIELDS:
        value = getattr(inputs, f)
        if _shared_by_members(value, B):
            shared[f] = value[0]
        else:
            per_member[f] = value
    return shared, per_member


def _traced_homotopy_batch(inputs, **static):
    """``run_lasso_homotopy`` over the per-member fields of ``inputs``, one member after another
    (``lax.map``) in one program."""
    shared, per_member = _split_members(inputs)
    return jax.lax.map(lambda member: _traced_homotopy(PathInputs(**shared, **member), **static), per_member)


_compiled_homotopy_batch = CachedProgram(_traced_homotopy_batch, _HOMOTOPY_STATIC, **_CPU_HOMOTOPY_OPTIONS)
# Gaussian lasso paths with n >= p run the homotopy first (``solvers.homotopy``); tests turn
# it off to exercise the working-set solver on the same problems.
USE_HOMOTOPY = True


# The homotopy forms the Gram of all features, as the working-set solver does up to this p.
# It is the faster solver over that whole range (best of 2-3, same process, homotopy vs
# working set: 1000 x 100 x 0 6.7 vs 11.0 ms, 1000 x 256 x 0 65 vs 151 ms, 2000 x 400 x 0.5
# 218 vs 547 ms, 3000 x 700 x 0 1.16 vs 1.59 s, 2000 x 1000 x 0.5 4.3 vs 6.3 s).
_HOMOTOPY_MAX_P = _FULL_GRAM_MAX_P


def _homotopy_max_steps(p: int) -> int:
    """Pieces the homotopy may take: a lasso path has about p of them (one entry each), more
    where coefficients leave and come back. A path that needs more is finished by the
    working-set solver from the first lambda not reached."""
    return 4 * p + 32


def _homotopy_applies(fam, all_lasso: bool, batched: bool, inputs: PathInputs, n: int, p: int, p_run: int) -> bool:
    """The exact homotopy covers the Gaussian lasso (every l1_ratio 1) with n >= p and
    p <= ``_HOMOTOPY_MAX_P`` (it forms the Gram of all features), positive penalty factors and
    no bounds (``n``, ``p``: the data's shape; ``p_run``: the program's, padded). Batches (CV
    folds, subsamples, responses) run it member after member on CPU; on accelerators they stay
    with the vectorized working-set program (under ``vmap`` every branch of the homotopy's
    per-piece switch would run, the refactorization included)."""
    return (USE_HOMOTOPY and fam.is_quadratic and all_lasso and n >= p
            and (not batched or jax.default_backend() == "cpu")
            and p_run <= _HOMOTOPY_MAX_P and bool(np.all(inputs.pf > 0))
            and bool(np.all(np.isneginf(inputs.lower))) and bool(np.all(np.isposinf(inputs.upper))))


def _traced_ridge(inputs, *, family, fit_intercept, standardize, unpenalized):
    _TRACES["count"] += 1
    return run_ridge_path(_with_float_weights(inputs), family=family, fit_intercept=fit_intercept, standardize=standardize,
                          unpenalized=unpenalized)


def _traced_ridge_batch(inputs, *, family, fit_intercept, standardize, unpenalized, vectorize):
    """``run_ridge_path`` over the members: ``lax.map`` on CPU (one member's temporaries at a
    time), ``vmap`` on accelerators (the program has no data-dependent loop but the refinement's
    conditional)."""
    return _over_members(functools.partial(_traced_ridge, family=family, fit_intercept=fit_intercept,
                                           standardize=standardize, unpenalized=unpenalized), inputs, vectorize)


_RIDGE_STATIC = ("family", "fit_intercept", "standardize", "unpenalized")
_compiled_ridge = CachedProgram(_traced_ridge, _RIDGE_STATIC, **_CPU_OPTIONS)
_compiled_ridge_batch = CachedProgram(_traced_ridge_batch, _RIDGE_STATIC + ("vectorize",), **_CPU_OPTIONS)
# Gaussian ridge paths run the closed form first (``solvers.ridge``); tests turn it off to
# exercise the working-set solver on the same problems.
USE_CLOSED_FORM_RIDGE = True
# The closed form decomposes a d = min(n, p) square matrix, about 9 d^3 flops, once; the
# working set factorizes one (its n x n kernel or p x p Hessian, d^3 / 3 flops) per Newton
# step, about two per lambda. Measured paths (100 lambdas, by hand): 1000 x 2000 0.19 s
# (glmnet 0.91 s), 2000 x 4000 and 4000 x 2000 1.45 s. Larger ones are not measured and
# stay with the working set.
_RIDGE_MAX_DIM = 4096


def _ridge_applies(fam, inputs: PathInputs, n: int, n_run: int, p_run: int) -> bool:
    """The closed form covers the Gaussian ridge (l1_ratio 0) without bounds, with fewer
    unpenalized features (``pf = 0``) than ``n / 2`` and ``min(n, p) <= _RIDGE_MAX_DIM`` (the
    program's padded shape). In a batch it runs when any member is a ridge path; the others
    go on to the working set."""
    return (USE_CLOSED_FORM_RIDGE and fam.is_quadratic and bool(np.any(np.asarray(inputs.l1_ratio) == 0))
            and min(n_run, p_run) <= _RIDGE_MAX_DIM and 2 * int(np.sum(inputs.pf == 0)) < n
            and bool(np.all(np.isneginf(inputs.lower))) and bool(np.all(np.isposinf(inputs.upper))))


def _ridge_unpenalized(count: int) -> int:
    """The ridge program's static ``unpenalized`` for ``count`` features with ``pf = 0``: 0, or
    the count rounded up to a power of two (at least 4), so that nearby counts share a program."""
    return 0 if count == 0 else max(4, _next_pow2(count))


def _ridge_program(batched: bool):
    if not batched:
        return _compiled_ridge
    return functools.partial(_compiled_ridge_batch, vectorize=jax.default_backend() != "cpu")


def _traced_run_batch(inputs, *, family, capacity, fit_intercept, standardize, vectorize, eliminate=0):
    """``run_path`` over the per-member fields of ``inputs`` (leading axis), in one program.

    ``vectorize=False`` (CPU): members run one after another (``lax.map``), each at its own
    pace with LAPACK factorizations. ``vectorize=True`` (accelerators): ``vmap``, so every
    member's while loops run in lockstep (each step waits for the slowest member) and the
    factorizations are XLA loops (batched LAPACK Cholesky inside nested while loops
    deadlocks intermittently on XLA:CPU, jaxlib 0.10.2).
    """
    return _over_members(functools.partial(_traced_run_path, family=family, capacity=capacity,
                                           fit_intercept=fit_intercept, standardize=standardize,
                                           pure_linalg=vectorize, eliminate=eliminate), inputs, vectorize)


def _over_members(program, inputs: PathInputs, vectorize: bool):
    """``program(member inputs)`` for each member of batched ``inputs`` (per-member fields
    with a leading axis), in one program: ``vmap`` when ``vectorize``, else ``lax.map``."""
    shared, per_member = _split_members(inputs)

    def one(member):
        return program(PathInputs(**shared, **member))

    return jax.vmap(one)(per_member) if vectorize else jax.lax.map(one, per_member)


_compiled_batch = CachedProgram(_traced_run_batch, _STATIC + ("vectorize",), **_CPU_OPTIONS)


def _traced_streamed(inputs, *, family, fit_intercept, standardize, pure_linalg=False):
    _TRACES["count"] += 1  # a boolean w stays a mask: the streamed solver weights row blocks
    return run_streamed_path(inputs, family=family, fit_intercept=fit_intercept, standardize=standardize,
                             pure_linalg=pure_linalg)


_STREAMED_STATIC = ("family", "fit_intercept", "standardize")
_compiled_streamed = CachedProgram(_traced_streamed, _STREAMED_STATIC, **_CPU_OPTIONS)


def _traced_streamed_batch(inputs, *, family, fit_intercept, standardize, vectorize):
    """``run_streamed_path`` over the per-member fields of ``inputs`` (as ``_traced_run_batch``)."""
    return _over_members(functools.partial(_traced_streamed, family=family, fit_intercept=fit_intercept,
                                           standardize=standardize, pure_linalg=vectorize), inputs, vectorize)


_compiled_streamed_batch = CachedProgram(_traced_streamed_batch, _STREAMED_STATIC + ("vectorize",), **_CPU_OPTIONS)

# GLM paths on X with at least this many rows and at most this many columns (the program's
# shape) run the streamed Newton solver (``solvers.streamed_newton``): no n-vector is formed.
# There the working-set program's n-vectors (eleven at 2,500,000 x 5) weigh 11 / p of X. Steady
# binomial paths of 100 lambdas, streamed against working set (benchmarks/README.md,
# twenty-first session): 100000 x 10 1.17-1.38x, 100000 x 32 1.46x, 262144 x 8 1.12x,
# 262144 x 32 1.07x, 500000 x 25 0.91-1.09x, 1000000 x 16 0.67x, 2500000 x 5 0.68-0.79x.
STREAMED_MIN_ROWS = 1 << 18
STREAMED_MAX_P = 32


def _streamed_applies(fam, n: int, p: int) -> bool:
    """Whether a path runs ``run_streamed_path``: a non-Gaussian family on a tall, narrow X
    (``n >= STREAMED_MIN_ROWS``, ``p <= STREAMED_MAX_P``), whose working-set program would
    hold n-vectors outweighing X."""
    return not fam.is_quadratic and n >= STREAMED_MIN_ROWS and p <= STREAMED_MAX_P


def _streamed_matrix(X: np.ndarray):
    """X for the streamed Newton program: a ``design.FlatShifted`` view of a C-contiguous X
    of ``_ROW_SHIFT_MIN_BYTES`` or more that XLA:CPU would copy (off its 64-byte boundary;
    the program reads only row blocks, so no column is copied, however narrow X), or a
    ``Transposed`` one of a column-major X's X^T; else ``_device_matrix(X)``."""
    shift = _flat_shift(X)
    if not shift:
        return _device_matrix(X)
    column_major = not X.flags.c_contiguous
    flat = flat_shifted(X.T if column_major else X, shift)
    return Transposed(flat) if column_major else flat


def _flat_shift(X: np.ndarray) -> int:
    """The s of ``_streamed_matrix``'s ``FlatShifted`` view (of X^T for a column-major X): how
    many numbers the buffer starts before a 64-byte boundary; 0 where X is handed over
    otherwise (not the CPU, under ``_ROW_SHIFT_MIN_BYTES``, aligned, a JAX array's memory)."""
    rows_first = X.T if X.flags.f_contiguous and not X.flags.c_contiguous else X
    offset = -rows_first.ctypes.data % XLA_ALIGNMENT
    if (jax.default_backend() != "cpu" or not rows_first.flags.c_contiguous or X.nbytes < _ROW_SHIFT_MIN_BYTES
            or offset % X.itemsize or _jax_owner(rows_first) is not None):
        return 0
    return offset // X.itemsize


def flat_shifted(X: np.ndarray, shift: int) -> FlatShifted:
    """The ``FlatShifted`` view of a C-contiguous X (``1 <= shift < X.size``): its buffer from
    number ``shift`` on, shared with XLA where that is on a 64-byte boundary, and a copy of
    the first ``shift`` numbers."""
    flat = X.reshape(-1)
    return FlatShifted(jax.device_put(np.array(flat[:shift])), jax.device_put(flat[shift:], may_alias=True), X.shape[1])


def _streamed_program(batched: bool):
    if not batched:
        return _compiled_streamed
    return functools.partial(_compiled_streamed_batch, vectorize=jax.default_backend() != "cpu")


def _next_pow2(k: int) -> int:
    return 1 << max(int(k) - 1, 0).bit_length()


def _initial_capacity(n: int, p: int, n_unpenalized: int) -> int:
    """Working-set slots: all features when p is small, else a power of two near min(n, p)."""
    if p <= 256:
        return p
    return min(p, _next_pow2(max(64, min(n, p) + n_unpenalized)))


def path(
    X,
    y,
    *,
    family="gaussian",
    l1_ratio=1.0,
    lambdas=None,
    n_lambdas=100,
    lambda_min_ratio=None,
    penalty_factor=None,
    sample_weight=None,
    offset=None,
    lower_bounds=None,
    upper_bounds=None,
    fit_intercept=True,
    standardize=True,
    tol=None,
    max_iter=1000,
) -> PathResult:
    """Compute an elastic-net regularization path (see the module docstring for the objective).

    Parameters
    ----------
    X : array (n, p). float32 input is solved in float32, anything else in float64. With an
        intercept, float32 columns whose mean exceeds 16 standard deviations make the path run
        on a shifted copy ``X - mean`` (one more X of memory): float32 products with the
        implicit centering would lose ``log10(mean / sd)`` digits.
    y : array (n,). Binomial: any two distinct labels; ``classes[1]`` of the sorted labels is
        coded 1 and kept in ``result.classes``.
    family : "gaussian" or "binomial" (or a ``jaxreg.families.Family``).
    l1_ratio : float in [0, 1]; 1 is the lasso, 0 is ridge.
    lambdas : optional user grid (any order; solved and returned in decreasing order).
    n_lambdas, lambda_min_ratio : default grid of ``n_lambdas`` log-spaced values from
        ``lambda_max`` down to ``lambda_min_ratio * lambda_max`` (default 1e-4 if n > p else
        1e-2). ``lambda_max`` comes from the null fit (intercept, offset and unpenalized
        features) divided by ``pf_j * max(l1_ratio, 1e-3)``.
    penalty_factor : (p,) non-negative; 0 leaves a feature unpenalized. Rescaled to sum to p.
    sample_weight : (n,) non-negative, normalized to sum to one.
    offset : (n,) added to the linear predictor.
    lower_bounds, upper_bounds : scalars or (p,) box on the original-scale coefficients;
        ``lower <= 0 <= upper``.
    fit_intercept, standardize : as in glmnet.
    tol : relative duality gap to certify at every lambda (default 1e-7 in float64, 1e-4 in
        float32); the relative suboptimality of every returned objective value is <= tol.
    max_iter : inner iterations (Newton steps + coordinate sweeps) the working-set solver may
        take per lambda. The Gaussian lasso with n >= p, positive penalty factors and no bounds
        is solved by an exact homotopy instead (``solvers.homotopy``), whose steps are the
        path's breakpoints (at most 4 p + 32 in all); a lambda it does not certify is re-solved
        by the working-set solver. The Gaussian ridge (``l1_ratio = 0``, no bounds, fewer
        than n / 2 unpenalized features, ``min(n, p) <= 4096``) is solved in closed form
        (``solvers.ridge``: one iteration per lambda), likewise handing a lambda it does not
        certify to the working-set solver.

    Returns
    -------
    PathResult
    """
    fam = get_family(family)
    data = validate_inputs(
        X,
        y,
        family_name=fam.name,
        sample_weight=sample_weight,
        offset=offset,
        penalty_factor=penalty_factor,
        lower_bounds=lower_bounds,
        upper_bounds=upper_bounds,
        l1_ratio=l1_ratio,
    )
    user_lambdas, order = validate_lambdas(lambdas, n_lambdas, lambda_min_ratio)
    tol = check_options(tol, max_iter, fit_intercept, standardize, data.dtype)
    n, p = data.X.shape
    grid, from_ratios = lambda_grid(user_lambdas, order, n, p, n_lambdas, lambda_min_ratio)
    inputs = make_inputs(data, (data.y[None], data.w[None], data.offset[None]), [float(l1_ratio)], grid[None, :], tol,
                         max_iter, from_ratios)
    pieces = solve(inputs, data, fam, fit_intercept, standardize, batched=False, all_lasso=float(l1_ratio) == 1.0)
    return assemble(pieces[0], data, fam.name, float(l1_ratio), tol, p)


def check_options(tol, max_iter, fit_intercept, standardize, dtype) -> float:
    """Validate the solver options; return tol with its dtype-dependent default filled in."""
    if tol is None:
        tol = 1e-7 if dtype == np.float64 else 1e-4
    try:
        tol = float(tol)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tol must be a number; got {tol!r}") from exc
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number; got {tol!r}")
    if not isinstance(max_iter, (int, np.integer)) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not isinstance(fit_intercept, (bool, np.bool_)) or not isinstance(standardize, (bool, np.bool_)):
        raise TypeError("fit_intercept and standardize must be booleans")
    return tol


def lambda_grid(user_lambdas, order, n, p, n_lambdas, lambda_min_ratio):
    """``(grid (K,), from_ratios)``: user lambdas sorted decreasing, or ratios to lambda_max."""
    if user_lambdas is not None:
        return user_lambdas[order], False
    ratio = lambda_min_ratio if lambda_min_ratio is not None else (1e-4 if n > p else 1e-2)
    grid = np.logspace(0.0, np.log10(ratio), int(n_lambdas)) if n_lambdas > 1 else np.ones(1)
    return grid, True


def make_inputs(shared, vectors, l1_ratios, grids, tol, max_iter, from_ratios) -> PathInputs:
    """PathInputs (NumPy; moved to JAX in ``solve``) of B members: ``vectors`` = ``(y, w,
    offset)``, each (B, n), or (1, n) when every member has the same one (then the program
    holds it once: ``_split_members``); ``l1_ratios`` (B,); ``grids`` (B, K); the design and
    penalty arrays from ``shared`` (validated data)."""
    B = len(l1_ratios)
    p = shared.X.shape[1]
    dt = shared.dtype
    y, w, offset = vectors
    for name, v in zip(("y", "w", "offset"), vectors):
        assert v.ndim == 2 and v.shape[0] in (1, B), (name, v.shape, B)
    return PathInputs(
        X=shared.X,
        y=y,
        w=w,
        offset=offset,
        pf=shared.pf,
        lower=shared.lower,
        upper=shared.upper,
        l1_ratio=np.asarray(l1_ratios, dtype=dt).reshape(B),
        lambdas=np.broadcast_to(np.asarray(grids, dtype=dt), (B, np.shape(grids)[-1])).copy(),
        tol=np.asarray(tol, dtype=dt),
        max_iter=np.asarray(int(max_iter), np.int32),
        start=np.zeros(B, np.int32),
        b_init=np.zeros((B, p), dt),
        intercept_init=np.zeros(B, dt),
        grid_from_ratios=np.asarray(bool(from_ratios)),
    )


_MEMBER_FIELDS = ("y", "w", "offset", "l1_ratio", "lambdas", "start", "b_init", "intercept_init")


def _program(batched: bool):
    if not batched:
        return _compiled_path
    return functools.partial(_compiled_batch, vectorize=jax.default_backend() != "cpu")


# Small problems are padded to shape buckets so that nearby shapes share one compiled
# program (compilation, ~3 s, dominates their solve time). Padding rows carry zero weight and
# padding columns are zero, hence constant and fixed at zero: the solution is unchanged.
_BUCKET_MAX_CELLS = 1 << 15


def _bucket(value: int, floor: int) -> int:
    return max(floor, _next_pow2(value))


def padded_shape(n: int, p: int, K: int, B: int) -> tuple[int, int, int, int]:
    """``(n, p, K, B)`` of the compiled program: powers of two for small problems, else as is."""
    n_pad, p_pad = _bucket(n, 256), _bucket(p, 32)
    if n_pad * p_pad > _BUCKET_MAX_CELLS:
        return n, p, K, B
    return n_pad, p_pad, _bucket(K, 8), (_bucket(B, 1) if B > 1 else 1)


def _pad_axis(a, axis, size, mode="zero"):
    """Pad ``a`` along ``axis`` to ``size`` with zeros, or by repeating the first / last entry."""
    extra = size - a.shape[axis]
    if extra == 0:
        return a
    if mode == "zero":
        widths = [(0, 0)] * a.ndim
        widths[axis] = (0, extra)
        return np.pad(a, widths)
    edge = np.take(a, [0 if mode == "first" else -1], axis=axis)
    return np.concatenate([a, np.repeat(edge, extra, axis=axis)], axis=axis)


def _pad_members(a, B: int, B_pad: int):
    """``a`` padded along its member axis to ``B_pad`` by repeating its first member, unless it
    is shared by the B members (a leading axis of 1 in a batch of B > 1)."""
    return a if _shared_by_members(a, B) else _pad_axis(a, 0, B_pad, "first")


def pad_inputs(inputs: PathInputs, n_pad: int, p_pad: int, K_pad: int, B_pad: int) -> PathInputs:
    """Pad rows (zero weight), columns (zero, penalty factor 1), lambdas (repeat the last)
    and members (repeat the first) to the bucketed shape."""
    f = inputs
    B = f.lambdas.shape[0]
    return PathInputs(
        X=_pad_axis(_pad_axis(f.X, 0, n_pad), 1, p_pad),
        y=_pad_members(_pad_axis(f.y, 1, n_pad), B, B_pad),
        w=_pad_members(_pad_axis(f.w, 1, n_pad), B, B_pad),
        offset=_pad_members(_pad_axis(f.offset, 1, n_pad), B, B_pad),
        pf=np.concatenate([f.pf, np.ones(p_pad - f.pf.shape[0], f.pf.dtype)]),
        lower=_pad_axis(f.lower, 0, p_pad),
        upper=_pad_axis(f.upper, 0, p_pad),
        l1_ratio=_pad_axis(f.l1_ratio, 0, B_pad, "first"),
        lambdas=_pad_axis(_pad_axis(f.lambdas, 1, K_pad, "last"), 0, B_pad, "first"),
        tol=f.tol,
        max_iter=f.max_iter,
        start=_pad_axis(f.start, 0, B_pad, "first"),
        b_init=_pad_axis(_pad_axis(f.b_init, 1, p_pad), 0, B_pad, "first"),
        intercept_init=_pad_axis(f.intercept_init, 0, B_pad, "first"),
        grid_from_ratios=f.grid_from_ratios,
    )


_PER_LAMBDA = ("b", "idx", "objective", "gap", "kkt", "n_iter", "converged", "deviance", "lambdas")


def _unpad_member(out: dict, K: int) -> dict:
    """Drop the padded lambdas of one member's output (columns stay padded: see ``assemble``)."""
    return {k: (v[:K] if k in _PER_LAMBDA else v) for k, v in out.items()} | {"k_end": np.minimum(out["k_end"], K)}


_SMALL_X_BYTES = 1 << 20


def _jax_owner(X: np.ndarray):
    """The JAX array (on one device) whose memory the NumPy view ``X`` is (``np.asarray`` of
    a ``jax.Array`` on CPU, read-only), or None."""
    owner = getattr(X.base, "obj", None) if isinstance(X.base, memoryview) else None
    if (isinstance(owner, jax.Array) and owner.shape == X.shape and owner.dtype == X.dtype
            and len(owner.devices()) == 1 and owner.unsafe_buffer_pointer() == X.ctypes.data):
        return owner
    return None


def _device_matrix(X: np.ndarray):
    """X as a JAX array (or a ``design.RowShifted`` or ``design.Transposed`` view), shared
    rather than copied where XLA:CPU allows it, so that a path's peak memory is X plus the
    solver state (the program never writes to its inputs).

    - a NumPy view of a JAX array (``np.asarray`` of a ``jax.Array`` on CPU, read-only) gives
      back that array;
    - an X of at most ``_SMALL_X_BYTES`` stays a NumPy array, which the compiled call copies
      itself: on 1000 x 100 a DLPack import took 0.2 ms of a 5.5 ms path;
    - a larger C-contiguous X is shared (``jax.device_put(..., may_alias=True)``, read-only
      arrays and memory maps included) when it starts on a 64-byte boundary (XLA:CPU's
      alignment);
    - NumPy places large arrays 16 bytes past one: from ``_ROW_SHIFT_MIN_BYTES`` on, such an
      X is handed over as a ``RowShifted`` view (its buffer from the boundary on, shared,
      plus copies of its first s columns and last row, ``_row_shift``); smaller ones are
      copied by XLA;
    - a column-major X (validation keeps one of ``FORTRAN_KEPT_MIN_BYTES`` or more, as
      pandas hands out) is the row-major X^T, handed over as above inside a ``Transposed``.
    """
    if jax.default_backend() == "cpu" and X.flags.f_contiguous and not X.flags.c_contiguous:
        return Transposed(_row_major_on_device(X.T))
    return _row_major_on_device(X)


def _row_major_on_device(X: np.ndarray):
    """``_device_matrix`` of an X that is not column-major."""
    if jax.default_backend() != "cpu" or not X.flags.c_contiguous:
        return jnp.asarray(X)
    owner = _jax_owner(X)
    if owner is not None:
        return owner
    if X.nbytes <= _SMALL_X_BYTES:
        return X
    shift = _row_shift(X)
    if shift:
        return row_shifted(X, shift)
    return jax.device_put(X, may_alias=True)


def row_shifted(X: np.ndarray, shift: int) -> RowShifted:
    """The ``RowShifted`` view of a C-contiguous X (n >= 2, 1 <= shift <= p): its buffer from
    number ``shift`` on, shared with XLA where that is on a 64-byte boundary, and copies of
    its first ``shift`` columns (transposed) and its last row."""
    n, p = X.shape
    body = X.reshape(-1)[shift:shift + (n - 1) * p].reshape(n - 1, p)
    return RowShifted(jax.device_put(body, may_alias=True), jax.device_put(np.ascontiguousarray(X[:, :shift].T)),
                      jax.device_put(np.array(X[-1])))


# From this size on, an X that XLA:CPU would copy (off its 64-byte boundary) is handed over as
# a ``RowShifted`` view instead: the copy would double the path's memory.
_ROW_SHIFT_MIN_BYTES = 1 << 25


def _row_shift(X: np.ndarray) -> int:
    """The s of ``_device_matrix``'s ``RowShifted`` view of X: how many numbers its buffer
    starts before a 64-byte boundary; 0 where X is not handed over that way (not the CPU,
    not C-contiguous, under ``_ROW_SHIFT_MIN_BYTES``, aligned already, fewer than 2 rows, or
    ``8 s > p``: the copy of the first s columns would be more than an eighth of X)."""
    if (jax.default_backend() != "cpu" or X.ndim != 2 or not X.flags.c_contiguous
            or X.nbytes < _ROW_SHIFT_MIN_BYTES):
        return 0
    offset = -X.ctypes.data % XLA_ALIGNMENT
    if offset % X.itemsize:
        return 0
    shift = offset // X.itemsize
    n, p = X.shape
    return shift if n >= 2 and 8 * shift <= p else 0


def _shared_with_xla(X: np.ndarray) -> bool:
    """Whether ``_device_matrix`` hands a large X to XLA:CPU without copying it: a view of a
    JAX array, or a C-contiguous X on a 64-byte boundary (XLA:CPU's alignment)."""
    if jax.default_backend() != "cpu" or not X.flags.c_contiguous:
        return False
    return _jax_owner(X) is not None or X.ctypes.data % XLA_ALIGNMENT == 0


# A Gaussian lasso homotopy on an X of at least this many bytes that XLA:CPU would copy reads
# X in row blocks instead (``streamed_gram``): the path then holds X once, not twice.
_STREAM_MIN_BYTES = 1 << 25


def _streams_statistics(X: np.ndarray, padded: bool, members: int = 1) -> bool:
    """Whether a homotopy takes its statistics from row blocks of the host ``X`` (CPU, no
    padding, a large X that XLA would otherwise copy), for ``members`` paths at once: their
    Grams (members x p x p, held together) must stay under half of X, or the copy costs less."""
    gram_bytes = members * X.shape[1] ** 2 * X.itemsize
    return (not padded and jax.default_backend() == "cpu" and X.nbytes >= _STREAM_MIN_BYTES
            and 2 * gram_bytes <= X.nbytes and X.flags.c_contiguous and not _shared_with_xla(X))


# float32 matrix products on a column whose mean is K times its spread lose log10(K) digits
# (the implicit centering subtracts two nearly equal products); above this ratio the path
# runs on a shifted copy of X instead.
_FLOAT32_SHIFT_RATIO = 16.0


def float32_shift(X: np.ndarray, fit_intercept: bool, chunk: int = 1 << 14):
    """``(X_run, shift)``: for float32 X with an intercept whose columns have
    ``|mean| > 16 sd``, the copy ``X - shift`` (shift = column means, rounded to float32) and
    the shift in float64; otherwise ``(X, None)``. With an intercept the shift changes only
    the intercept (``b0 = b0_shifted - shift . coef``); the copy costs one more X of memory.
    Constant columns (sd exactly 0: the float64 sums of float32 numbers are exact) do not
    count: their coefficients are fixed at zero whatever their mean.
    """
    if X.dtype != np.float32 or not fit_intercept or X.size == 0:
        return X, None
    n = X.shape[0]
    total = np.zeros(X.shape[1])
    for i in range(0, n, chunk):
        total += X[i:i + chunk].sum(axis=0, dtype=np.float64)
    mean = total / n
    ss = np.zeros(X.shape[1])
    for i in range(0, n, chunk):
        ss += np.sum((X[i:i + chunk].astype(np.float64) - mean) ** 2, axis=0)
    sd = np.sqrt(ss / n)
    if not np.any((np.abs(mean) > _FLOAT32_SHIFT_RATIO * sd) & (sd > 0)):
        return X, None
    shift = mean.astype(np.float32)
    X_run = aligned_empty(X.shape, X.dtype)  # shared with XLA, not copied once more
    for i in range(0, n, chunk):
        np.subtract(X[i:i + chunk], shift, out=X_run[i:i + chunk])
    return X_run, shift.astype(np.float64)


def _program_args(current: PathInputs, X_device, batched: bool) -> PathInputs:
    """The program's arguments: ``X_device`` and the other fields as NumPy arrays, which the
    compiled program's call transfers itself (13 small arrays: about 60 us, against 300 us
    for ``jax.device_put`` or a ``jnp.asarray`` each); without ``batched`` the per-member
    fields lose their member axis."""
    if not batched:
        current = current._replace(**{f: getattr(current, f)[0] for f in _MEMBER_FIELDS})
    return current._replace(X=X_device)


def _collect(out, pieces, batched: bool, K: int, x_shift):
    """Append each member's program output (NumPy, padded lambdas dropped) to ``pieces``;
    returns the outputs with a leading member axis."""
    # The outputs are a flat dict of arrays: comprehensions, not tree_map (0.24 -> 0.19 ms a
    # call on 1000 x 100, by hand). Copies, not views of the program's output buffers: an output
    # that is an input passed through (the lambdas of a given grid) shares its buffer, and
    # XLA:CPU's view of it kept every input of the call alive (a cv's fold weights, 0.8x X on
    # 2500000 x 5) for as long as a result held its lambdas.
    out = {k: np.array(v) if batched else np.array(v)[None] for k, v in out.items()}
    for b, member_pieces in enumerate(pieces):
        piece = _unpad_member({k: v[b] for k, v in out.items()}, K)
        member_pieces.append(piece | ({"x_shift": x_shift} if x_shift is not None else {}))
    return out


def _resume(current: PathInputs, out, members, K_pad: int, p_pad: int) -> PathInputs:
    """Inputs that resume ``members`` at their ``k_end`` from their last coefficients, on the
    lambdas the program used; the other members start at ``K_pad`` (nothing left to solve)
    from zero coefficients (a finished ridge path's, all non-zero, would overflow a
    working set smaller than p)."""
    last_b = np.where(np.asarray(members)[:, None], out["last_b"], 0.0).astype(out["last_b"].dtype)
    return current._replace(start=np.where(members, out["k_end"], K_pad).astype(np.int32),
                            b_init=last_b[:, :p_pad], intercept_init=last_b[:, p_pad],
                            lambdas=out["lambdas"], grid_from_ratios=np.asarray(False))


class SharedViews:
    """The device views of X (``_device_matrix``, ``_streamed_matrix``) made for the chunks of
    one batched call (``path_batch``'s threads): each is made once and shared. Otherwise each
    chunk's program call would make its own: a ``RowShifted`` or ``FlatShifted`` view copies a
    few numbers of X (100000 x 125: the first 6 columns, 4.8 MB), and an X that XLA:CPU
    cannot share is copied whole. Only the views a chunk's solver asks for are made (a
    Gaussian lasso streamed from host row blocks asks for none). Lives for one call: X
    cannot change under it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._views = {}

    def get(self, X: np.ndarray, make):
        """``make(X)``, made once per (X object, make); X is kept alive with it, so that its
        id is not reused."""
        key = (id(X), make)
        with self._lock:
            if key not in self._views:
                self._views[key] = (X, make(X))
            return self._views[key][1]


def solve(inputs: PathInputs, data, fam, fit_intercept, standardize, *, batched, all_lasso, views=None):
    """Run the compiled path program, growing the working set on overflow.

    ``inputs`` has a leading member axis of size B on the per-member fields. Returns, per
    member, the list of program outputs (one per capacity used), for ``assemble``. Small
    problems run padded to a bucketed shape (``padded_shape``). ``views``: a ``SharedViews``
    that the chunks of one batched call share.
    """
    view = (lambda X, make: make(X)) if views is None else views.get
    n, p = data.X.shape
    is64 = data.dtype == np.float64
    B, K = inputs.lambdas.shape
    n_pad, p_pad, K_pad, B_pad = padded_shape(n, p, K, B if batched else 1)
    X_run, x_shift = float32_shift(inputs.X, fit_intercept)
    current = pad_inputs(inputs._replace(X=X_run), n_pad, p_pad, K_pad, B_pad if batched else B)
    del X_run
    n_unpen = int(np.sum(data.pf == 0))
    # Every call starts at the initial capacity and doubles it on overflow, resuming at the
    # lambda that overflowed. Starting at the largest capacity an earlier call of this shape
    # needed (as this did up to the twenty-third session) ran every lambda of every later
    # path on the larger working set, whose costs grow as its square: after one l1_ratio 0.1
    # path on binomial 100 x 1000 (512 slots), an l1_ratio 0.9 path took 228 ms instead of
    # 38. The smaller programs a path grows through are compiled once per process (and on
    # disk), so growing again costs no compilation, only the overflowing lambda's partial work.
    capacity = min(p_pad, max(_initial_capacity(n_pad, p_pad, n_unpen), n_unpen + 1))
    if np.all(np.asarray(inputs.l1_ratio) == 0):
        # Ridge: every feature is non-zero at every lambda; growing through the doubling
        # sizes would compile and run each of them for nothing.
        capacity = p_pad
    # Programs for data with unpenalized features hold the Newton solves that eliminate
    # several of them (``quadratic.woodbury_solve``); others leave that code out.
    eliminate = WOODBURY_ELIMINATED if n_unpen else 0
    pieces = [[] for _ in range(B)]
    with jax.enable_x64(is64), single_threaded_blas():
        X_device = None
        if _homotopy_applies(fam, all_lasso, batched, inputs, n, p, p_pad):
            static = dict(family=fam, fit_intercept=bool(fit_intercept), standardize=bool(standardize),
                          max_steps=_homotopy_max_steps(p_pad))
            if _streams_statistics(current.X, (n_pad, p_pad) != (n, p), current.lambdas.shape[0]):
                members = current.lambdas.shape[:1] + current.y.shape[1:]
                w_host = current.w
                if w_host.dtype == np.bool_:  # fold masks: the statistics take float weights
                    w_host = (w_host / np.sum(w_host, axis=1, keepdims=True)).astype(current.y.dtype)
                y_all, w_all, offset_all = (np.broadcast_to(v, members) for v in (current.y, w_host, current.offset))
                stats = streamed_gram.stream_gram_statistics(current.X, y_all, w_all, offset_all, fam,
                                                             bool(fit_intercept))
                if batched:
                    out = _compiled_homotopy_statistics_batch(_program_args(current, None, True), stats, **static)
                else:
                    member = jax.tree_util.tree_map(lambda a: a[0], stats)
                    out = _compiled_homotopy_statistics(_program_args(current, None, False), member, **static)
            else:
                X_device = view(current.X, _device_matrix)
                program = _compiled_homotopy_batch if batched else _compiled_homotopy
                out = program(_program_args(current, X_device, batched), **static)
            out = _collect(out, pieces, batched, K, x_shift)
            unfinished = out["k_end"] < K
            if not np.any(unfinished[:B]):
                return pieces
            # A lambda did not certify: the working-set program resumes there, warm-started
            # (members that finished get start = K_pad: nothing to do).
            current = _resume(current, out, unfinished, K_pad, p_pad)
        elif _ridge_applies(fam, inputs, n, n_pad, p_pad):
            X_device = view(current.X, _device_matrix)
            out = _ridge_program(batched)(_program_args(current, X_device, batched), family=fam,
                                          fit_intercept=bool(fit_intercept), standardize=bool(standardize),
                                          unpenalized=_ridge_unpenalized(n_unpen))
            out = _collect(out, pieces, batched, K, x_shift)
            unfinished = out["k_end"] < K
            if not np.any(unfinished[:B]):
                return pieces
            if np.any(unfinished & (np.asarray(current.l1_ratio) == 0)):
                capacity = p_pad  # a ridge path resumed: every feature is non-zero
            current = _resume(current, out, unfinished, K_pad, p_pad)
        if _streamed_applies(fam, n_pad, p_pad):
            X_device = view(current.X, _streamed_matrix)
            out = _streamed_program(batched)(_program_args(current, X_device, batched), family=fam,
                                             fit_intercept=bool(fit_intercept), standardize=bool(standardize))
            _collect(out, pieces, batched, K, x_shift)
            return pieces
        if X_device is None:
            X_device = view(current.X, _device_matrix)
        while True:
            out = _program(batched)(
                _program_args(current, X_device, batched),
                family=fam,
                capacity=capacity,
                fit_intercept=bool(fit_intercept),
                standardize=bool(standardize),
                eliminate=eliminate,
            )
            out = _collect(out, pieces, batched, K, x_shift)
            overflow = out["overflow"]
            if not np.any(overflow) or capacity >= p_pad:
                break
            capacity = min(p_pad, 2 * capacity)
            current = _resume(current, out, overflow, K_pad, p_pad)
    _release_host_references()
    return pieces


def _release_host_references() -> None:
    """Let XLA drop its references to the NumPy arrays its programs read in place.

    XLA:CPU reads aligned NumPy inputs (y, the weights, the offset, X) without copying them and
    lets go of them in a garbage pass of its own, which otherwise waits for the next JAX
    operation or Python garbage collection (jax-ml/jax#14882). Without it a batch's n-vectors
    outlived the call: ``cv``'s fold weights (0.8x X on 2500000 x 5) through its held-out
    errors, which are NumPy only, and a first batch's n-vectors through the next one's
    validation. The pass costs well under a microsecond when there is nothing to do."""
    collect = getattr(getattr(jax._src.lib, "_jax", None), "collect_garbage", None)
    if collect is not None:
        collect()


@functools.cache
def _libc_malloc_trim():
    """glibc's ``malloc_trim`` (int -> int), or None where the C library has none (macOS,
    musl). Looked up on first use: ``ctypes.util.find_library`` can start a subprocess, which
    importing jaxreg should not."""
    import ctypes
    import ctypes.util

    def load(name):
        try:
            trim = ctypes.CDLL(name).malloc_trim
        except (OSError, AttributeError, TypeError):
            return None
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        return trim

    return load("libc.so.6") or load(ctypes.util.find_library("c"))


def trim_host_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc; elsewhere nothing).

    glibc keeps freed memory in its heaps for reuse, and that memory stays resident. A phase
    that frees n-vectors (a batch's validated y and weights, a path's temporaries) leaves them
    resident, and the next phase's buffers, allocated on other threads' heaps (XLA runs its
    programs on its own pool), land beside them instead of in them: the peaks of the two
    phases add up. ``cv`` calls this between its full-data fits and its fold fits. It takes
    about a millisecond and changes no setting."""
    trim = _libc_malloc_trim()
    if trim is not None:
        trim(0)


def _merge_pieces(pieces, fields, K: int, fill_idx: int) -> dict:
    """One member's per-lambda ``fields`` over its pieces (one per program run, in order):
    piece ``i`` holds lambdas ``k_end[i - 1] .. k_end[i] - 1`` (the last one up to K).
    Pieces holding none (a ridge program's member with l1_ratio > 0, a finished member's
    later runs in a batch) are skipped. Slot arrays of different widths (capacities) are
    widened to the widest with empty slots (``fill_idx``, coefficient 0). A single piece is
    used as it is (``_collect`` copied it out of the program's buffers)."""
    spans, start = [], 0
    for i, piece in enumerate(pieces):
        end = K if i == len(pieces) - 1 else int(piece["k_end"])
        if end > start:
            spans.append((piece, start, end))
        start = max(start, end)
    if len(spans) == 1:
        return {f: spans[0][0][f] for f in fields}
    merged = {}
    for f in fields:
        sample = spans[-1][0][f]
        if sample.ndim == 2:
            width = max(piece[f].shape[1] for piece, _, _ in spans)
            merged[f] = np.full((K, width), fill_idx if f == "idx" else 0, dtype=sample.dtype)
        else:
            merged[f] = np.zeros(K, dtype=sample.dtype)
        for piece, lo, hi in spans:
            if sample.ndim == 2:
                merged[f][lo:hi, :piece[f].shape[1]] = piece[f][lo:hi]
            else:
                merged[f][lo:hi] = piece[f][lo:hi]
    return merged


def assemble(pieces, data, family_name, l1_ratio, tol, p, warn=True) -> PathResult:
    last = pieces[-1]
    K = last["lambdas"].shape[0]
    fields = ("b", "idx", "objective", "gap", "kkt", "n_iter", "converged", "deviance")
    merged = _merge_pieces(pieces, fields, K, fill_idx=last["scale"].shape[0] + 1)
    # Slot indices live in the (possibly padded) column space of the program: p_run >= p.
    p_run = last["scale"].shape[0]
    scale = last["scale"].astype(np.float64)[:p]
    center = last["center"].astype(np.float64)[:p]
    if "x_shift" in last:  # the program ran on X - x_shift (float32_shift)
        center = center + last["x_shift"][:p]
    idx, b = merged["idx"], merged["b"]
    if np.array_equal(idx, np.broadcast_to(idx[0], idx.shape)):
        # Every lambda on the same slots (ridge, the homotopy): column assignments straight
        # into the coefficients, a fraction of put_along_axis's time on their (K, p) slots.
        slots = idx[0]
        if slots.shape[0] >= p and np.array_equal(slots[:p], np.arange(p)):
            coef = b[:, :p] / scale  # slot j holds feature j (``homotopy.full_slot_outputs``)
        else:
            coef = np.zeros((K, p))
            features = slots < p
            coef[:, slots[features]] = b[:, features]
            coef /= scale
        intercept_std = b[:, slots == p_run].sum(axis=1)
    else:
        coef_std = np.zeros((K, p_run + 2))
        # A row's slots hold distinct features and the intercept once; only empty slots
        # repeat, all pointing at the zero column p_run + 1 with coefficient 0 (assignment,
        # not the slower np.add.at, is exact).
        np.put_along_axis(coef_std, idx.astype(np.intp), b.astype(np.float64, copy=False), axis=1)
        coef = coef_std[:, :p] / scale
        intercept_std = coef_std[:, p_run]
    intercept = intercept_std + float(last["intercept_shift"]) - coef @ center
    dtype = data.dtype
    null_dev = float(last["null_deviance"])
    dev = merged["deviance"].astype(np.float64)
    dev_ratio = 1.0 - dev / null_dev if null_dev > 0 else np.zeros(K)
    lambdas = np.asarray(last["lambdas"], dtype=np.float64)
    res = PathResult(
        lambdas=lambdas,
        coef=coef.astype(dtype, copy=False),
        intercept=intercept.astype(dtype),
        dev_ratio=dev_ratio,
        df=np.count_nonzero(coef, axis=1),
        objective=merged["objective"].astype(np.float64),
        gap=merged["gap"].astype(np.float64),
        kkt=merged["kkt"].astype(np.float64),
        n_iter=merged["n_iter"].astype(np.int64),
        converged=merged["converged"].astype(bool),
        lambda_max=float(pieces[0]["lambda_max"]),  # the first piece starts fresh; a resumed one does not
        null_deviance=null_dev,
        family=family_name,
        l1_ratio=l1_ratio,
        tol=tol,
        classes=data.classes,
    )
    if warn:
        _warn(res)
    return res


def _warn(res: PathResult) -> None:
    if not np.all(res.converged):
        bad = np.flatnonzero(~res.converged)
        worst = bad[np.argmax(np.where(np.isfinite(res.gap[bad]), res.gap[bad], np.inf))]
        warnings.warn(
            f"jaxreg.path did not certify convergence at {bad.size} of {res.n_lambdas} lambdas; "
            f"worst at lambda[{worst}] = {res.lambdas[worst]:.6g} with relative duality gap "
            f"{res.gap[worst]:.3g} > tol = {res.tol:.3g} after {res.n_iter[worst]} iterations. "
            "Increase max_iter, or tol if the gap is near the floating-point limit of the objective.",
            ConvergenceWarning,
            stacklevel=3,
        )
    if res.family == "binomial" and np.max(res.dev_ratio) > 0.999:
        warnings.warn(
            "binomial data are (nearly) perfectly separable: deviance explained exceeds 0.999 "
            f"at the smallest lambdas (max {np.max(res.dev_ratio):.6f}). Coefficients stay finite "
            "because of the penalty but grow as lambda decreases.",
            SeparationWarning,
            stacklevel=3,
        )
