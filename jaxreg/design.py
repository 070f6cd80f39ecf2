"""The design matrix as an operator, standardized without densifying a copy.

The solvers see the standardized design ``Xs = (X - 1 m^T) diag(1 / s)`` (``X``: n x p,
``m``, ``s``: shape (p,)), augmented with two virtual columns: index ``p`` is the
intercept's column of ones and index ``p + 1`` is a column of zeros used to pad empty
working-set slots. ``Xs`` is never formed: products are computed from ``X``, ``m`` and
``s``. Every product asks for the highest matmul precision, so float32 products are not
silently done in TF32 / bfloat16 on accelerators.

``X`` is an array, a ``RowShifted`` view of a row-major buffer that XLA:CPU could not
share as a whole (it starts off a 64-byte boundary), or a ``Transposed`` one of either (a
column-major X, as pandas hands out); the products, gathers and row blocks below take all.
The streamed Newton solver, which reads X by row blocks only (``fold_rows``), also takes a
``FlatShifted`` view (no column copied, however narrow X) or a ``Transposed`` one of it.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Design", "RowShifted", "Transposed", "FlatShifted", "fold_rows", "x_times", "times_x", "column_moments", "column_scale", "make_design", "matvec", "rmatvec", "gather_columns", "column_gram",
           "centered_gram", "full_gram"]

_HIGHEST = jax.lax.Precision.HIGHEST


class Design(NamedTuple):
    """Standardized design operator. ``X``: (n, p); ``center``, ``scale``, ``inv_scale``,
    ``rms``: (p,).

    ``inv_scale = 1 / scale``: products are scaled by a multiplication (XLA:CPU divides p
    numbers at about half the speed). ``rms_j = sqrt(sum_i w_i xs_ij^2)`` (1 for standardized
    columns) bounds a correlation without computing it:
    ``|xs_j^T v| <= rms_j sqrt(sum_i v_i^2 / w_i)`` (Cauchy-Schwarz).
    """

    X: jax.Array
    center: jax.Array
    scale: jax.Array
    inv_scale: jax.Array
    rms: jax.Array

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


class RowShifted(NamedTuple):
    """X (n, p), n >= 2, held as three pieces of its row-major buffer ``x`` (n p numbers,
    ``x[i p + j] = X[i, j]``), for a buffer that starts ``s`` numbers (1 <= s <= p) before a
    64-byte boundary, which XLA:CPU shares only from there on:

    - ``body`` (n - 1, p): ``body[i, k] = x[s + i p + k]``, the buffer from the boundary on,
      shared (row i of X from column s, then the first s numbers of row i + 1);
    - ``head_t`` (s, n): ``X[:, :s]^T``, a copy of s / p of X (transposed: products with
      it then run along rows of n numbers; with (n, s) they took 1 ms more at n = 1e5);
    - ``last`` (p,): ``X[n - 1]``, a copy of one row.

    So ``X[i, j] = body[i, j - s]`` for ``j >= s`` and ``i < n - 1``, ``head_t[j, i]`` for
    ``j < s``, ``last[j]`` on the last row.
    """

    body: jax.Array
    head_t: jax.Array
    last: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        return self.body.shape[0] + 1, self.body.shape[1]

    @property
    def dtype(self):
        return self.body.dtype

    @property
    def shift(self) -> int:
        return self.head_t.shape[0]


class Transposed(NamedTuple):
    """X (n, p) held as its transpose ``t`` (p, n), an array or a ``RowShifted`` view: a
    column-major X is a row-major X^T, shared with XLA as such."""

    t: Any

    @property
    def shape(self) -> tuple[int, int]:
        return self.t.shape[1], self.t.shape[0]

    @property
    def dtype(self):
        return self.t.dtype


@jax.tree_util.register_pytree_node_class
class FlatShifted:
    """X (n, p) held as its row-major buffer ``x`` (n p numbers) in two pieces, for a buffer
    that starts ``s`` numbers before a 64-byte boundary (any ``s < n p``): ``head`` (s,), a
    copy of the first s numbers, and ``body`` (n p - s,), the buffer from the boundary on,
    shared. Unlike ``RowShifted`` it copies no column, so it serves X of any width, but it
    offers only row blocks (``_row_block``, ``_row``, ``fold_rows``, ``times_x``): the
    streamed Newton solver reads nothing else."""

    def __init__(self, head, body, p: int):
        self.head, self.body, self.p = head, body, p

    def tree_flatten(self):
        return (self.head, self.body), self.p

    @classmethod
    def tree_unflatten(cls, p, children):
        return cls(*children, p)

    def __repr__(self) -> str:
        return f"FlatShifted(head={self.head!r}, body={self.body!r}, p={self.p})"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.head.shape[0] + self.body.shape[0]) // self.p, self.p

    @property
    def dtype(self):
        return self.body.dtype

    @property
    def shift(self) -> int:
        return self.head.shape[0]


def _flat_take(X: FlatShifted, idx):
    """``x[idx]`` of the whole buffer for integer ``idx`` in ``0 .. n p - 1``."""
    s = X.shift
    return jnp.where(idx < s, X.head[jnp.clip(idx, 0, s - 1)], X.body[jnp.maximum(idx - s, 0)])


def _flat_row_block(X: FlatShifted, start, rows: int):
    """Rows ``start .. start + rows - 1`` of a ``FlatShifted`` X: a slice of the body, or a
    gather where the rows reach into the head (the first block only)."""
    size = rows * X.p
    first = start * X.p

    def gathered():
        return _flat_take(X, first + jnp.arange(size))

    if size > X.body.shape[0]:
        flat = gathered()
    else:
        flat = jax.lax.cond(first >= X.shift, lambda: jax.lax.dynamic_slice_in_dim(X.body, first - X.shift, size, 0),
                            gathered)
    return flat.reshape(rows, X.p)


def _flat_columns_block(F: FlatShifted, start, rows: int):
    """Rows ``start .. start + rows - 1`` of X = ``Transposed(F)`` (F: X^T, (p, n)), i.e.
    columns of F: one slice of the body per feature, or gathers where one reaches into the
    head (the first block only). Returns (rows, p)."""
    p, n = F.shape
    firsts = [j * n + start for j in range(p)]

    def sliced():
        return jnp.stack([jax.lax.dynamic_slice_in_dim(F.body, f - F.shift, rows, 0) for f in firsts], axis=1)

    def gathered():
        return jnp.stack([_flat_take(F, f + jnp.arange(rows)) for f in firsts], axis=1)

    if rows > F.body.shape[0]:
        return gathered()
    return jax.lax.cond(start >= F.shift, sliced, gathered)


def _row_blocks_only(X) -> bool:
    """Whether X is read by row blocks only (a ``FlatShifted`` view, or one of X^T)."""
    return isinstance(X, FlatShifted) or (isinstance(X, Transposed) and isinstance(X.t, FlatShifted))


def x_times(X, v):
    """``X @ v`` for ``v`` (p,): (n,)."""
    if isinstance(X, Transposed):
        return times_x(v, X.t)
    if not isinstance(X, RowShifted):
        return jnp.matmul(X, v, precision=_HIGHEST)
    # body @ [v_s.., 0] is X[:n-1, s:] @ v[s:] (the zeros meet the next row's first s
    # numbers, which are finite: inputs are validated).
    s = X.shift
    tail = jnp.concatenate([v[s:], jnp.zeros((s,), v.dtype)])
    upper = jnp.matmul(X.body, tail, precision=_HIGHEST)
    bottom = jnp.dot(X.last[s:], v[s:], precision=_HIGHEST)
    return jnp.concatenate([upper, bottom[None]]) + jnp.matmul(v[:s], X.head_t, precision=_HIGHEST)


def times_x(r, X):
    """``r @ X`` for ``r`` (n,) or (k, n): (p,) or (k, p)."""
    if _row_blocks_only(X):
        if r.ndim != 1:
            raise TypeError("a FlatShifted X takes products with one n-vector")
        n, p = X.shape
        step = lambda acc, Xb, vb: acc + jnp.matmul(vb[0], Xb, precision=_HIGHEST)
        return fold_rows(X, (r,), step, jnp.zeros(p, jnp.result_type(r, X.dtype)), _block_rows(n, p, X.dtype.itemsize))
    if isinstance(X, Transposed):
        return x_times(X.t, r) if r.ndim == 1 else jnp.stack([x_times(X.t, row) for row in r])
    if not isinstance(X, RowShifted):
        return jnp.matmul(r, X, precision=_HIGHEST)
    s, p = X.shift, X.body.shape[1]
    if r.ndim == 1 and r.shape[0] > p:
        # Tall X: one product of the body with r[:n-1] and r[1:] stacked. Column k < p - s of
        # the first is sum_{i < n-1} r_i X[i, k + s], column p - s + j (j < s) of the second
        # sum_{i >= 1} r_i X[i, j]. XLA:CPU runs a (2, n) x (n, p) product faster than an
        # (n,) x (n, p) one on tall X (1e5 x 125: 2.8 against 4.4 ms), slower on wide X
        # (1000 x 12500: 4.0 against 2.1 ms).
        both = jnp.matmul(jnp.stack([r[:-1], r[1:]]), X.body, precision=_HIGHEST)
        left = both[1, p - s:] + r[0] * X.head_t[:, 0]
        right = both[0, :p - s] + r[-1] * X.last[s:]
        return jnp.concatenate([left, right])
    # Column k < p - s of r[:n-1] @ body is sum_{i < n-1} r_i X[i, k + s]; the last row and
    # the first s columns come from their copies. head_t @ r^T contracts head_t's rows
    # (r @ head_t^T had XLA transpose head_t first).
    upper = jnp.matmul(r[..., :-1], X.body, precision=_HIGHEST)[..., :p - s]
    right = upper + r[..., -1:] * X.last[s:]
    # (one product per row of r: (s, n) x (n, k) cost 0.8 against 0.6 ms at 1e5 x 125, k = 2).
    if r.ndim == 1:
        left = jnp.matmul(X.head_t, r, precision=_HIGHEST)
    else:
        left = jnp.stack([jnp.matmul(X.head_t, row, precision=_HIGHEST) for row in r])
    return jnp.concatenate([left, right], axis=-1)


def _take_columns(X, idx):
    """``X[:, idx]`` for ``idx`` (m,) in 0..p-1: (n, m)."""
    if isinstance(X, Transposed):
        return _take_rows(X.t, idx).T
    if not isinstance(X, RowShifted):
        return jnp.take(X, idx, axis=1)
    # One gather from the body: column j >= s of X is body column j - s, then last[j];
    # column j < s is X[0, j], then body column p - s + j (the next rows' first numbers).
    s, p = X.shift, X.body.shape[1]
    low = idx < s
    cols = jnp.take(X.body, jnp.where(low, p - s + idx, idx - s), axis=1)
    first = X.head_t[jnp.clip(idx, 0, s - 1), 0]
    below = jnp.concatenate([cols, X.last[idx][None]], axis=0)
    above = jnp.concatenate([first[None], cols], axis=0)
    return jnp.where(low, above, below)


def _take_rows(X, idx):
    """``X[idx]`` for ``idx`` (m,) in 0..n-1: (m, p)."""
    if isinstance(X, Transposed):
        return _take_columns(X.t, idx).T
    if not isinstance(X, RowShifted):
        return jnp.take(X, idx, axis=0)
    n, p = X.shape
    s = X.shift
    inner = jnp.concatenate([jnp.take(X.head_t, idx, axis=1).T,
                             jnp.take(X.body, jnp.minimum(idx, n - 2), axis=0)[:, :p - s]], axis=1)
    return jnp.where((idx == n - 1)[:, None], X.last, inner)


def _row_block(X, start, rows: int):
    """Rows ``start .. start + rows - 1`` of X: (rows, p); of a ``RowShifted`` X, all below
    n - 1."""
    if isinstance(X, FlatShifted):
        return _flat_row_block(X, start, rows)
    if isinstance(X, Transposed) and isinstance(X.t, FlatShifted):
        return _flat_columns_block(X.t, start, rows)
    if isinstance(X, Transposed):
        if isinstance(X.t, RowShifted):
            return _take_columns(X.t, start + jnp.arange(rows)).T
        return jax.lax.dynamic_slice_in_dim(X.t, start, rows, 1).T
    if not isinstance(X, RowShifted):
        return jax.lax.dynamic_slice_in_dim(X, start, rows, 0)
    p, s = X.body.shape[1], X.shift
    head = jax.lax.dynamic_slice_in_dim(X.head_t, start, rows, 1).T
    body = jax.lax.dynamic_slice_in_dim(X.body, start, rows, 0)[:, :p - s]
    return jnp.concatenate([head, body], axis=1)


def _row(X, i):
    """Row ``i`` (a traced index) of X: (p,)."""
    if isinstance(X, FlatShifted):
        return _flat_take(X, i * X.p + jnp.arange(X.p))
    if isinstance(X, Transposed) and isinstance(X.t, FlatShifted):
        p, n = X.t.shape
        return _flat_take(X.t, jnp.arange(p) * n + i)
    return _take_rows(X, jnp.reshape(i, (1,)))[0]


_GRAM_BLOCK_ROWS = 1024
# A row block holds at most this many bytes (at least 8 rows): XLA materializes an
# elementwise expression of a block before reducing it, a few of them at once.
_BLOCK_BYTES = 1 << 22


def _block_rows(n: int, p: int, itemsize: int) -> int:
    """Rows per block (``n >= 1``): ``_GRAM_BLOCK_ROWS``, fewer on wide X (1000 x 12500 float64:
    41 rows, so that a block is 4 MB rather than the whole 100 MB X), never more than ``n``."""
    return min(n, _GRAM_BLOCK_ROWS, max(8, _BLOCK_BYTES // max(1, p * itemsize)))


def block_weights(w, start, first_new, rows: int):
    """Weights of the ``rows`` rows from ``start``: ``w``, 0 on rows before ``first_new`` (a
    last block shifted back to end at row n repeats rows an earlier block covered)."""
    wb = jax.lax.dynamic_slice_in_dim(w, start, rows, 0)
    return jnp.where(start + jnp.arange(rows) >= first_new, wb, 0.0)


def _fold_row_blocks(X, w, step, init):
    """``acc = step(acc, Xb, wb)`` over row blocks of ``_block_rows`` rows, so that
    elementwise work on X never materializes more than one block (``fold_rows`` with the
    weights alone)."""
    rows = _block_rows(X.shape[0], X.shape[1], X.dtype.itemsize)
    return fold_rows(X, (w,), lambda acc, Xb, vb: step(acc, Xb, vb[0]), init, rows)


def fold_rows(X, vectors, step, init, rows: int):
    """``acc = step(acc, Xb, vb)`` over blocks of ``rows`` rows of X (n, p): ``Xb`` (r, p)
    and ``vb``, the same rows of each n-vector in the tuple ``vectors``, whose first member
    is the weights. The last block is shifted back to end at row n; rows an earlier block
    covered get weight 0 in ``vb[0]``. A ``RowShifted`` X folds its first n - 1 rows in
    blocks, then its last row."""
    row_block = functools.partial(_row_block, X)
    n, p = X.shape
    if isinstance(X, RowShifted):
        acc = _fold_blocks(n - 1, row_block, tuple(v[:-1] for v in vectors), step, init, rows)
        return step(acc, X.last[None, :], tuple(v[-1:] for v in vectors))
    return _fold_blocks(n, row_block, vectors, step, init, rows)


def _fold_blocks(n: int, row_block, vectors, step, init, rows: int):
    """``fold_rows`` over n rows given by ``row_block(start, rows)``."""
    if n == 0:
        return init
    rows = max(1, min(rows, n))

    def block(i, acc):
        start = jnp.minimum(i * rows, n - rows)
        vb = tuple(jax.lax.dynamic_slice_in_dim(v, start, rows, 0) for v in vectors[1:])
        return step(acc, row_block(start, rows), (block_weights(vectors[0], start, i * rows, rows),) + vb)

    return jax.lax.fori_loop(0, -(-n // rows), block, init)


def moments_step(acc, Xb, wb, center, reference):
    """One row block's terms of ``column_moments``' second pass: ``acc = (variance,
    differing)`` plus ``sum_i wb_i (x_ij - m_j)^2`` and the count of used rows (``wb > 0``)
    that differ from ``reference`` (exact in floating point)."""
    variance, differing = acc
    dev = Xb - center
    variance = variance + jnp.matmul(wb, dev * dev, precision=_HIGHEST)
    differs = (Xb != reference).astype(Xb.dtype)
    differing = differing + jnp.matmul((wb > 0).astype(Xb.dtype), differs, precision=_HIGHEST)
    return variance, differing


def gram_step(G, Xb, wb, center):
    """``G`` plus one row block's centered Gram ``(Xb - m)^T diag(wb) (Xb - m)`` (p, p)."""
    # The centered block is formed transposed, (p, rows), so that the product contracts the
    # contiguous axis of both operands: XLA:CPU runs that 1.5x faster than
    # ``Xb^T (w Xb)``, which contracts the strided rows (1000 x 100: 630 -> 430 us). The
    # barrier keeps XLA from folding the transpose back into the product.
    Bt = jax.lax.optimization_barrier((Xb - center).T)
    return G + jnp.matmul(Bt * wb[None, :], Bt.T, precision=_HIGHEST)


def mask_scale(mask, dtype):
    """``1 / count`` of a boolean mask's true entries: each of its rows' weight when a mask
    stands for 0/1 weights normalized to sum to one. The count is summed exactly, in integers."""
    return 1.0 / jnp.sum(mask, dtype=jnp.int32).astype(dtype)


def column_moments(X, w, fit_intercept: bool, w_scale=None):
    """``(center, variance, degenerate)`` per column; ``w`` sums to one, or, with
    ``w_scale``, ``w`` is a boolean mask whose weights are ``w_scale`` (``mask_scale``) on its
    rows (converted one row block at a time: no float n-vector).

    ``center`` is the weighted mean ``m_j = sum_i w_i x_ij`` (0 without an intercept) and
    ``variance = sum_i w_i (x_ij - m_j)^2``, taken about the center (a second pass over X),
    not as ``E[x^2] - m^2``: that difference cancels when ``|m_j|`` is large against the
    spread (float32 scales ~40% off at mean / sd = 1000). ``degenerate`` marks columns that
    carry no information, decided exactly on the rows with ``w > 0``: constant columns with
    an intercept (no used row differs from the first used row), all-zero columns without one.

    The second pass runs over row blocks (as ``full_gram``): several reductions of one
    elementwise expression of X would otherwise materialize n x p temporaries (measured: two
    extra copies of X at 1e8 bytes). Each column sum is a vector-matrix product: XLA:CPU
    reduces over the rows of a row-major block column by column, at a stride of p numbers
    (a max and a min over 100 x 20,000 took 13.5 ms; one product over it takes 0.4 ms).
    """
    p = X.shape[1]
    scaled = (lambda wb: wb) if w_scale is None else (lambda wb: wb * w_scale)
    if not fit_intercept:
        center = jnp.zeros(p, X.dtype)
    elif w_scale is None:
        center = times_x(w, X)
    else:
        center = _fold_row_blocks(X, w, lambda acc, Xb, wb: acc + jnp.matmul(scaled(wb), Xb, precision=_HIGHEST),
                                  jnp.zeros(p, X.dtype))
    used = w > 0
    reference = _row(X, jnp.argmax(used)) if fit_intercept else jnp.zeros(p, X.dtype)

    init = (jnp.zeros(p, X.dtype), jnp.zeros(p, X.dtype))
    variance, differing = _fold_row_blocks(X, w, lambda acc, Xb, wb: moments_step(acc, Xb, scaled(wb), center, reference),
                                           init)
    return center, variance, differing == 0


def make_design(X, center, variance, standardize: bool) -> Design:
    """Weighted centering and scaling as glmnet does it, from ``column_moments``.

    With an intercept, columns are centered at their weighted mean ``m_j = sum_i w_i x_ij``
    and (if ``standardize``) scaled by ``s_j = sqrt(sum_i w_i (x_ij - m_j)^2)``; without an
    intercept ``m = 0`` and ``s_j = sqrt(sum_i w_i x_ij^2)``. Constant columns get ``s = 1``
    (the caller fixes their coefficients at zero).
    """
    scale = column_scale(variance, standardize)
    return Design(X, center, scale, 1.0 / scale, jnp.sqrt(variance) / scale)


def column_scale(variance, standardize: bool):
    """``s_j = sqrt(variance_j)`` (1 for constant columns) with ``standardize``, else 1: (p,)."""
    if not standardize:
        return jnp.ones_like(variance)
    scale = jnp.sqrt(variance)
    return jnp.where(scale > 0, scale, 1.0)


def matvec(d: Design, b):
    """``Xs @ b`` for feature coefficients ``b`` of shape (p,); returns (n,)."""
    bs = b * d.inv_scale
    return x_times(d.X, bs) - jnp.dot(d.center, bs, precision=_HIGHEST)


def _standardized(d: Design, xtr, total):
    """``Xs^T r`` (p,) from ``xtr = X^T r`` (p,) and ``total = sum(r)``."""
    return (xtr - d.center * total) * d.inv_scale


def _augmented(d: Design, xtr, total):
    """``[Xs^T r, sum(r), 0]`` (p + 2,) from ``xtr = X^T r`` and ``total = sum(r)``."""
    return jnp.concatenate([_standardized(d, xtr, total), total[None], jnp.zeros((1,), xtr.dtype)])


def rmatvec(d: Design, r):
    """``Xs^T r`` for ``r`` of shape (n,); returns (p,)."""
    return _standardized(d, times_x(r, d.X), jnp.sum(r))


def augmented_rmatvec(d: Design, r):
    """``[Xs^T r, sum(r), 0]``: correlations with the p features, the ones and the zero column."""
    return _augmented(d, times_x(r, d.X), jnp.sum(r))


def augmented_rmatvec_rows(d: Design, R):
    """``augmented_rmatvec`` of each row of ``R`` (k, n), in one pass over X: a tuple of k
    arrays (p + 2,).

    A (k, n) x (n, p) product reads X once; on XLA:CPU at k = 2 it costs what one
    vector-matrix product does (measured 100 x 20000: 409 us against 771 us for two). Each
    row is finished and augmented on its own: one (k, p + 2) concatenation took a fifth of
    the pass at 100 x 5000 (100 against 80 us, micro-benchmark).
    """
    sums = jnp.sum(R, axis=1)
    xtr = times_x(R, d.X)
    return tuple(_augmented(d, xtr[i], sums[i]) for i in range(R.shape[0]))


def gather_columns(d: Design, idx):
    """Columns ``idx`` (shape (m,), values in 0..p+1) of the augmented ``Xs``: (n, m)."""
    p = d.n_features
    safe = jnp.clip(idx, 0, p - 1)
    cols = (_take_columns(d.X, safe) - d.center[safe]) * d.inv_scale[safe]
    cols = jnp.where(idx == p, 1.0, cols)
    return jnp.where(idx > p, 0.0, cols).astype(d.X.dtype)


def column_gram(d: Design, w, j):
    """``Xs_aug^T diag(w) xs_j`` for one augmented column index ``j``: shape (p + 2,)."""
    col = gather_columns(d, jnp.reshape(j, (1,)))[:, 0]
    return augmented_rmatvec(d, w * col)


def centered_gram(X, w, center):
    """``(X - 1 m^T)^T diag(w) (X - 1 m^T)`` (p, p), in one blocked pass over the rows of X
    (n, p): each row block is centered before the product (forming ``X^T W X - m m^T``
    instead would cancel catastrophically for columns whose mean is large against their
    spread, in float32 already at a mean of 100 sd), so the only temporary is one block."""
    return _fold_row_blocks(X, w, lambda G, Xb, wb: gram_step(G, Xb, wb, center), jnp.zeros((X.shape[1],) * 2, X.dtype))


def centered_kernel(X, center, column_weight):
    """``(X - 1 m^T) diag(column_weight) (X - 1 m^T)^T`` (n, n) for X (n, p), ``m`` = ``center``
    (p,), in one pass over blocks of columns of X, each centered before its product (as in
    ``centered_gram``), so that the only temporary is one block."""
    n, p = X.shape
    cols = max(1, min(p, _BLOCK_BYTES // max(1, n * X.dtype.itemsize)))
    plain = not isinstance(X, (RowShifted, Transposed, FlatShifted))

    def add_block(kernel, start, first_new):
        idx = start + jnp.arange(cols)
        Xb = jax.lax.dynamic_slice_in_dim(X, start, cols, 1) if plain else _take_columns(X, idx)
        Xb = Xb - center[idx]
        # A last block shifted back to end at column p repeats columns an earlier one covered.
        weight = jnp.where(idx >= first_new, column_weight[idx], 0.0)
        return kernel + jnp.matmul(Xb * weight, Xb.T, precision=_HIGHEST)

    def block(i, kernel):
        return add_block(kernel, jnp.minimum(i * cols, p - cols), i * cols)

    return jax.lax.fori_loop(0, -(-p // cols), block, jnp.zeros((n, n), X.dtype))


def full_gram(d: Design, w):
    """``Xs_aug^T diag(w) Xs_aug``: shape (p + 2, p + 2), from ``centered_gram`` (one blocked
    pass over the rows). Column ``j`` equals ``column_gram(d, w, j)``."""
    p = d.X.shape[1]
    G = centered_gram(d.X, w, d.center)
    G = G * (d.inv_scale[:, None] * d.inv_scale[None, :])
    ones = rmatvec(d, w)  # Xs^T W 1
    top = jnp.concatenate([G, ones[:, None], jnp.zeros((p, 1), G.dtype)], axis=1)
    bottom = jnp.zeros((2, p + 2), G.dtype).at[0, :p].set(ones).at[0, p].set(jnp.sum(w))
    return jnp.concatenate([top, bottom], axis=0)
