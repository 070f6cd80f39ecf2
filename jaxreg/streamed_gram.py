"""The Gaussian lasso's sufficient statistics from row blocks of a host X.

The homotopy (``solvers.homotopy``) needs of X (n, p) only its ``GramStatistics``: column
moments, the centered weighted Gram (p, p) and the correlations ``X^T r``. Inside a program
they come from X itself (``homotopy.gram_statistics``), which needs X in XLA's memory. A NumPy
X that XLA:CPU cannot share (not on a 64-byte boundary, where NumPy places large arrays;
read-only; a memory map; not C-contiguous) would be copied there whole, and the path would
hold X twice. Here X stays where it is and is read in row blocks of about ``BLOCK_BYTES``,
each copied into the block program on its own: the extra memory is a block or two and the
Gram, and X may be a memory map larger than RAM.

Two passes over the blocks, as in the program: the weighted column means (with an
intercept), then the variances about them, the count of used rows that differ from the
first used row (exact: it decides which columns are constant), the centered Gram and
``X^T r``. The block steps are ``design``'s: the variances and the Gram are the program's
sums, block for block; the means and ``X^T r``, one product over all rows in the program,
are summed here block by block (the same to rounding).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxreg import design as dsg
from jaxreg._program_cache import CPU_COMPILER_OPTIONS, CachedProgram
from jaxreg.families import Family
from jaxreg.solvers.homotopy import GramStatistics, working_response

__all__ = ["BLOCK_BYTES", "block_rows", "stream_gram_statistics"]

BLOCK_BYTES = 1 << 22
_HIGHEST = jax.lax.Precision.HIGHEST
_TRACES = {"count": 0}


def block_rows(n: int, p: int, itemsize: int, members: int = 1) -> int:
    """Rows per block: about ``BLOCK_BYTES`` of X per member (each member forms its own
    centered block), at least 8 rows, at most n."""
    return max(1, min(n, max(8, BLOCK_BYTES // max(1, p * itemsize * members))))


def _sums_step(total, Xb, w, start, first_new):
    """``total + wb^T Xb`` (p,) for one member's weights ``w`` (n,) on the block of rows
    ``start .. start + rows``."""
    wb = dsg.block_weights(w, start, first_new, Xb.shape[0])
    return total + jnp.matmul(wb, Xb, precision=_HIGHEST)


def _statistics_step(acc, Xb, w, r, start, first_new, center, reference):
    """One member's ``acc = (variance, differing, gram, xr)`` plus the block's terms
    (``design.moments_step``, ``design.gram_step`` and ``rb^T Xb``)."""
    rows = Xb.shape[0]
    wb = dsg.block_weights(w, start, first_new, rows)
    rb = dsg.block_weights(r, start, first_new, rows)
    variance, differing, gram, xr = acc
    variance, differing = dsg.moments_step((variance, differing), Xb, wb, center, reference)
    gram = dsg.gram_step(gram, Xb, wb, center)
    return variance, differing, gram, xr + jnp.matmul(rb, Xb, precision=_HIGHEST)


# The block programs take every member at once (a leading axis of B on the weights and the
# accumulators): one pass over X serves a batch of paths on it (folds, responses).
def _weighted_response(y, w, offset, *, family, fit_intercept):
    """``w * y_work`` (B, n): the correlations' weights (``homotopy.working_response``)."""
    _TRACES["count"] += 1
    return jax.vmap(lambda y, w, o: w * working_response(family, y, w, o, fit_intercept)[0])(y, w, offset)


def _column_sums(total, Xb, w, start, first_new):
    _TRACES["count"] += 1
    return jax.vmap(_sums_step, (0, None, 0, None, None))(total, Xb, w, start, first_new)


def _block_statistics(acc, Xb, w, r, start, first_new, center, reference):
    _TRACES["count"] += 1
    return jax.vmap(_statistics_step, (0, None, 0, 0, None, None, 0, 0))(acc, Xb, w, r, start, first_new, center, reference)


_OPTIONS = dict(compiler_options={"cpu": CPU_COMPILER_OPTIONS})
_compiled_response = CachedProgram(_weighted_response, ("family", "fit_intercept"), **_OPTIONS)
_compiled_sums = CachedProgram(_column_sums, (), **_OPTIONS)
_compiled_statistics = CachedProgram(_block_statistics, (), **_OPTIONS)


def _blocks(X: np.ndarray, rows: int):
    """``(block, start, first_new)`` over X's rows: blocks of ``rows`` rows, the last shifted
    back to end at row n (rows before ``first_new`` were in the previous block)."""
    n = X.shape[0]
    for first_new in range(0, n, rows):
        start = min(first_new, n - rows)
        # A view when X is C-contiguous (the block program's call copies it), else a block copy.
        block = np.ascontiguousarray(X[start:start + rows])
        yield block, np.int32(start), np.int32(first_new)


def stream_gram_statistics(X: np.ndarray, y, w, offset, family: Family, fit_intercept: bool) -> GramStatistics:
    """``GramStatistics`` of the host array ``X`` (n, p), ``n >= 1``, read in row blocks, for
    each of B members: ``y``, ``w`` (each row summing to one), ``offset`` are (B, n) in X's
    dtype, and every field of the result has a leading axis of B.

    Each block program call waits for the previous one, so that at most one block's copy is
    alive at a time.
    """
    n, p = X.shape
    B = w.shape[0]
    dtype = X.dtype
    rows = block_rows(n, p, dtype.itemsize, B)
    w = jnp.asarray(w)
    r = _compiled_response(y, w, offset, family=family, fit_intercept=bool(fit_intercept))
    center = jnp.zeros((B, p), dtype)
    reference = jnp.zeros((B, p), dtype)
    if fit_intercept:
        for block, start, first_new in _blocks(X, rows):
            center = jax.block_until_ready(_compiled_sums(center, block, w, start, first_new))
        first_used = np.argmax(np.asarray(w) > 0, axis=1)
        reference = jnp.asarray(np.asarray(X[first_used], dtype))
    acc = (jnp.zeros((B, p), dtype), jnp.zeros((B, p), dtype), jnp.zeros((B, p, p), dtype), jnp.zeros((B, p), dtype))
    for block, start, first_new in _blocks(X, rows):
        acc = jax.block_until_ready(_compiled_statistics(acc, block, w, r, start, first_new, center, reference))
    variance, differing, gram, xr = acc
    return GramStatistics(center, variance, differing == 0, gram, xr, jnp.sum(r, axis=1))
