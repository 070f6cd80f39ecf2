"""The whole regularization path as one compiled program.

Working set of fixed capacity
-----------------------------
The solver keeps ``m = capacity + 1`` slots. Slot 0 holds the intercept (augmented column
``p``) for non-Gaussian families; for the Gaussian family the intercept is eliminated by
centering and slot 0 is an inert pad. Slots ``1..capacity`` hold feature indices; empty
slots point at the zero column ``p + 1``. Shapes never change, so the program compiles once
per (n, p, K, capacity, family, options).

For each lambda ``lam_k`` (largest first, warm-started from ``lam_{k-1}``):

1. sequential strong rule: features with ``|g_j| > l1_ratio * (2 lam_k - lam_{k-1}) pf_j``
   (``g`` = correlations with the residual at the previous solution) enter free slots;
2. solve on the working set: Gaussian: the exact quadratic subproblem on the Gram
   ``H = Xs_W^T W Xs_W``. With n >= m it is built from a cache of Gram rows
   ``Xs_W^T W Xs_aug`` (m, p + 2) that is extended only when a feature enters (glmnet's
   covariance updates; when every feature has a slot, the whole Gram is formed in one
   blocked product as soon as an eighth of the features are in, ``design.full_gram``);
   with n < m (p >> n), naive updates: ``H`` carried like the GLM Hessian below and the
   gradient from the residual, one pass over X per round;
   other families: proximal Newton (IRLS) steps on ``H = Xs_W^T V Xs_W`` with a backtracking
   line search on the true objective, so it cannot diverge;
3. certify on the full problem: correlations of every feature with the residual, the
   duality gap and the KKT violation; if the relative gap exceeds ``tol``, KKT violators
   enter the working set (evicting slots whose coefficient is zero) and step 2 repeats.

GLMs with n >= p (every feature in a slot) start each lambda from a first-order prediction
(``_predict``): the previous solution moved along the path's tangent ``db/dlam``, which the
certificate's Newton correction computes with the same factorization, kept when it lowers the
objective. Measured (in-process A/B): 17-20% fewer inner iterations, logistic 1000 x 100
paths 10-19% faster, 5000 x 100 2% (benchmarks/README.md, fourteenth session).

Working sets with at least ``_MATRIX_FREE_RATIO`` slots per row (elastic net with a small
l1_ratio, and ridge, on p >> n data) hold no (m, m) Hessian (``_matrix_free``): products,
sweeps and Newton systems go through the slots' columns, the systems in their n-dimensional
form (``quadratic.woodbury_solve``). They also keep the n x n kernel ``sum_j c_j c_j^T / pf_j``
of their slots (``quadratic.SlotKernel``, rebuilt when the slots change), from which a Newton
system with nearly every slot free costs n^2 flops instead of n^2 m: a ridge path builds it
once.

If a violator finds no slot (more non-zero coefficients than capacity), the program stops
at that lambda with ``overflow`` set; the caller doubles the capacity and resumes from that
lambda with the same warm start (at most log2(p) compilations).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxreg import design as dsg
from jaxreg import penalties
from jaxreg.families import Family
from jaxreg.solvers.quadratic import KERNEL_DOWNDATE, QuadProblem, SlotKernel, compaction_order, low_rank_hessian, slot_kernel_gram, refined_free_solve, solve_quadratic, subproblem_violation

__all__ = ["PathInputs", "run_path"]

_HIGHEST = jax.lax.Precision.HIGHEST
_MAX_ROUNDS = 50
_MAX_NEWTON = 50
_MAX_HALVINGS = 40
_MAX_STALLED = 3
_INNER_CAP = 300
# New slots whose Hessian rows are computed one by one at the stored weights; more than this
# and a fresh Gram costs about as much.
_INCREMENTAL_SLOTS = 8
# Refinement steps of the certificate's Newton correction with a carried (stale) Hessian. Each
# costs two passes over the slots' columns; one step certified the same paths as two (tests,
# Table 1 cells) and binomial 5000 x 100 paths ran 0.88x as long (twenty-second session).
_CERT_REFINE = 1
# Gaussian paths whose working set holds every feature keep the full Gram (<= 8 MB).
_FULL_GRAM_MAX_P = 1022
# Working sets of at least this many slots per row hold no (m, m) Hessian (_matrix_free).
_MATRIX_FREE_RATIO = 4
# Matrix-free working sets place this many entering features or more in one step when they
# fit in the empty slots (``_place_in_empty_slots``).
_BULK_PLACEMENT = 32


class PathInputs(NamedTuple):
    """Traced inputs of the path program (all arrays; nothing here triggers recompilation).

    X (n, p); y, w, offset (n,); pf, lower, upper (p,) with bounds on the standardized
    scale; l1_ratio, tol scalars; lambdas (K,): the lambda values, or ratios to lambda_max
    when the grid is computed in the program (``grid_from_ratios``, a bool scalar: an input,
    not a compile-time constant, so that a fresh path and one resumed on the lambdas of an
    earlier program share one executable); max_iter int scalar; start (int scalar), b_init
    (p,), and intercept_init (scalar, link scale) for resuming a path.
    """

    X: jax.Array
    y: jax.Array
    w: jax.Array
    offset: jax.Array
    pf: jax.Array
    lower: jax.Array
    upper: jax.Array
    l1_ratio: jax.Array
    lambdas: jax.Array
    tol: jax.Array
    max_iter: jax.Array
    start: jax.Array
    b_init: jax.Array
    intercept_init: jax.Array
    grid_from_ratios: jax.Array


class _Problem(NamedTuple):
    """Quantities fixed along the path (built once inside the program)."""

    design: dsg.Design
    y: jax.Array  # Gaussian: centered response; otherwise the response
    w: jax.Array
    offset: jax.Array  # Gaussian: zeros (folded into y)
    pf_aug: jax.Array  # (p + 2,)
    lo_aug: jax.Array
    hi_aug: jax.Array
    alpha: jax.Array
    c_full: jax.Array  # Gaussian: Xs_aug^T W y, (p + 2,)
    obj_scale: jax.Array  # objective of the null model, for relative tolerances
    eliminate: jax.Array | None = None  # ``LowRankHessian.eliminate`` (``run_path``'s ``eliminate``)


class _WorkingSet(NamedTuple):
    idx: jax.Array  # (m,) augmented column index of each slot
    b: jax.Array  # (m,) coefficients of the slots (standardized scale)
    gram_rows: jax.Array  # Gaussian with n >= m: (m, p + 2) cache Xs[:, idx]^T W Xs_aug (a slot's row is contiguous); else (1, 1)
    eta: jax.Array  # (n,) non-Gaussian: linear predictor incl. intercept and offset; Gaussian with n < m: Xs[:, idx] b
    grad: jax.Array  # (p + 2,) correlations Xs_aug^T w (y - mu) at the current solution
    grad_curv: jax.Array  # non-Gaussian: (p + 2,) Xs_aug^T (w * curvature) for the dual point
    hess: jax.Array  # non-Gaussian and Gaussian with n < m: (m, m) weighted Gram Xs[:, hess_idx]^T diag(hess_w) Xs[:, hess_idx]
    hess_idx: jax.Array  # (m,) the slots hess was built for
    hess_w: jax.Array  # (n,) the weights hess was built with (Gaussian: w); (1,) without hess
    gram_full: jax.Array  # Gaussian with every feature in a slot: (p + 2, p + 2) once ready; else (1, 1)
    gram_ready: jax.Array
    overflow: jax.Array
    tangent: jax.Array  # with ``_uses_predictor``: (m,) d b / d lambda of the slots at the last certificate (0: none); else (1,)
    cols: jax.Array  # with ``_has_column_cache``: (m, n) the slots' standardized columns Xs_aug[:, idx]^T, one row per slot; else (1, 1)
    kernel: jax.Array  # with ``_has_kernel``: (n, n) ``quadratic.SlotKernel.gram`` of the slots kernel_idx; else (1, 1)
    kernel_idx: jax.Array  # with ``_has_kernel``: (m,) the slots' features when ``kernel`` was built; else (1,)
    kernel_mask: jax.Array  # with ``_has_kernel``: (m,) the slots ``kernel`` sums over (none at first); else (1,)


def _slot_penalty(prob: _Problem, idx, lam):
    pf = prob.pf_aug[idx]
    return lam * prob.alpha * pf, lam * (1.0 - prob.alpha) * pf, prob.lo_aug[idx], prob.hi_aug[idx]


def _full_coef(ws: _WorkingSet, size):
    return jnp.zeros(size, ws.b.dtype).at[ws.idx].add(ws.b)


def _in_working_set(ws: _WorkingSet, size):
    return jnp.zeros(size, bool).at[ws.idx].set(True)


# --------------------------------------------------------------------------- working set


def _first_argmax(v):
    """``argmax(v)`` (first index of the maximum) for finite ``v``, as a max and a min: XLA:CPU
    vectorizes those, not argmax's (value, index) reduction (p = 20,000: 25 us vs 108 us)."""
    top = jnp.max(v)
    first = jnp.min(jnp.where(v == top, jnp.arange(v.shape[0], dtype=jnp.int32), v.shape[0]))
    return jnp.minimum(first, v.shape[0] - 1)


class _CandidateQueue(NamedTuple):
    """The positive entries of a score vector, taken largest first (``_pop_best``): the scores
    in blocks of ``width`` (zero-padded, taken entries set to 0) and each block's maximum.

    A pick costs two maxima over about sqrt(p) numbers rather than two passes over all p + 2
    scores (55 us per feature at p = 20,000: a fifth of a logistic path's time)."""

    scores: jax.Array  # (blocks, width)
    block_max: jax.Array  # (blocks,)


def _candidate_queue(score) -> _CandidateQueue:
    """Queue of the entries of ``score`` (size,) that are > 0."""
    size = score.shape[0]
    width = max(8, math.isqrt(max(size - 1, 0)) + 1)
    blocks = -(-size // width)
    scores = jnp.pad(score, (0, blocks * width - size)).reshape(blocks, width)
    return _CandidateQueue(scores, jnp.max(scores, axis=1))


def _has_candidate(queue: _CandidateQueue):
    return jnp.max(queue.block_max) > 0


def _pop_best(queue: _CandidateQueue):
    """``(j, queue)``: the index of the largest remaining entry (the lowest index among equal
    ones), and the queue without it. Only meaningful while ``_has_candidate``."""
    block = _first_argmax(queue.block_max)
    row = queue.scores[block]
    offset = _first_argmax(row)
    row = row.at[offset].set(0.0)
    queue = _CandidateQueue(queue.scores.at[block].set(row), queue.block_max.at[block].set(jnp.max(row)))
    return block * queue.scores.shape[1] + offset, queue


def _add_features(family: Family, prob: _Problem, ws: _WorkingSet, score, required, lam):
    """Move the features with positive ``score`` (best first) into free or zero slots.

    Empty slots are used first. Otherwise a slot whose penalized coefficient is zero is
    evicted, the one whose feature is furthest inside its KKT interval
    (``|g_j| / (lam l1_ratio pf_j)`` smallest) first; a feature at or beyond the boundary is
    never evicted, so two violators cannot keep evicting each other. Features placed in this
    call are not evicted. When ``required`` and a candidate finds no slot, ``overflow`` is set.

    Matrix-free working sets (thousands of slots) list the empty slots once, in slot order,
    and take them in turn (a feature costs O(n + sqrt(p)) then); the eviction choice, a pass
    over the m slots, runs only once they are used up. A ridge path places every feature at
    its second lambda: binomial 100 x 5000, 5000 placements at 65 us each when every one
    scanned the slots. Smaller working sets scan (the conditional cost compile time: binomial
    100 x 1000, first call 3.40 against 3.14-3.25 s).
    """
    m = ws.idx.shape[0]
    p2 = prob.pf_aug.shape[0]
    slot_ids = jnp.arange(m)
    use_full_gram = ws.gram_full.shape[0] == p2
    matrix_free = _matrix_free(family, ws)
    if matrix_free:
        empty = (ws.idx == p2 - 1) & (slot_ids > 0)
        empty_slots, n_empty = compaction_order(empty), jnp.sum(empty)

    def cond(carry):
        ws, queue, fresh, stop, placed = carry
        return (~stop) & _has_candidate(queue)

    def scan(ws, fresh, with_empty: bool):
        """``(slot, has_slot)``: an empty slot (``with_empty``), else the zero slot furthest
        inside its KKT interval, if any."""
        threshold = lam * prob.alpha * prob.pf_aug[ws.idx]
        inside = jnp.abs(ws.grad[ws.idx]) / jnp.where(threshold > 0, threshold, 1.0)
        zero_slot = (ws.b == 0) & (prob.pf_aug[ws.idx] > 0) & (threshold > 0) & (inside < 1.0)
        empty_now = ws.idx == p2 - 1
        priority = jnp.where(empty_now, 3.0 if with_empty else 0.0, jnp.where(zero_slot, 2.0 - inside, 0.0))
        priority = jnp.where((slot_ids > 0) & ~fresh, priority, 0.0)
        return jnp.argmax(priority).astype(jnp.int32), jnp.max(priority) > 0

    def body(carry):
        ws, queue, fresh, _, placed = carry
        j, queue = _pop_best(queue)
        if matrix_free:
            slot, has_slot = jax.lax.cond(placed < n_empty, lambda: (empty_slots[placed], jnp.ones((), bool)),
                                          lambda: scan(ws, fresh, False))
        else:
            slot, has_slot = scan(ws, fresh, True)

        # Written unconditionally (the old values when there is no slot): a conditional over
        # the state would copy the (m, p + 2) Gram rows instead of updating one in place.
        idx = ws.idx.at[slot].set(jnp.where(has_slot, j.astype(ws.idx.dtype), ws.idx[slot]))
        b = ws.b.at[slot].set(jnp.where(has_slot, 0.0, ws.b[slot]))
        rows = ws.gram_rows
        if _has_gram_cache(ws):
            def new_row():
                if use_full_gram:
                    return jax.lax.cond(ws.gram_ready, lambda: ws.gram_full[:, j], lambda: dsg.column_gram(prob.design, prob.w, j))
                return dsg.column_gram(prob.design, prob.w, j)

            rows = rows.at[slot].set(jax.lax.cond(has_slot, new_row, lambda: rows[slot]))
        cols = ws.cols
        if _has_column_cache(ws):
            cols = cols.at[slot].set(jnp.where(has_slot, dsg.gather_columns(prob.design, j[None])[:, 0], cols[slot]))
        ws = ws._replace(idx=idx, b=b, gram_rows=rows, cols=cols)
        ws = ws._replace(overflow=ws.overflow | (required & ~has_slot))
        fresh = fresh.at[slot].set(fresh[slot] | has_slot)
        return ws, queue, fresh, ~has_slot, placed + 1

    if matrix_free and not _has_gram_cache(ws):
        many = jnp.sum(score > 0)
        bulk = (many >= _BULK_PLACEMENT) & (many <= n_empty)
        ws = jax.lax.cond(bulk, lambda: _place_in_empty_slots(prob, ws, score, many, empty_slots), lambda: ws)
        score = jnp.where(bulk, 0.0, score)
    fresh = jnp.zeros(m, bool)
    carry = (ws, _candidate_queue(score), fresh, jnp.zeros((), bool), jnp.zeros((), jnp.int32))
    return jax.lax.while_loop(cond, body, carry)[0]


def _place_in_empty_slots(prob: _Problem, ws: _WorkingSet, score, many, empty_slots):
    """``_add_features`` in one step when all ``many`` features of positive ``score`` fit in
    the empty slots: the r-th best (lowest index among equal scores) goes to the r-th empty
    slot (``empty_slots``: their indices first, in slot order), as the loop places them; one
    sort of the scores and one gather of the columns. For matrix-free working sets (ridge
    and small l1_ratio on p >> n data), where hundreds or thousands of features enter at one
    lambda."""
    m = ws.idx.shape[0]
    k = min(m - 1, score.shape[0])
    order = jnp.argsort(-score, stable=True)[:k].astype(ws.idx.dtype)
    rank = jnp.arange(k)
    target = jnp.where(rank < many, empty_slots[:k], m)  # m: dropped
    idx = ws.idx.at[target].set(order, mode="drop")
    b = ws.b.at[target].set(0.0, mode="drop")
    cols = ws.cols.at[target].set(dsg.gather_columns(prob.design, order).T, mode="drop")
    return ws._replace(idx=idx, b=b, cols=cols)


def _place_initial(family: Family, prob: _Problem, ws: _WorkingSet, score):
    """Fill the empty slots ``1..m-1`` with the features of positive ``score``, best first;
    ``overflow`` when they do not all fit. (``_add_features`` without its loop: at the start
    every slot is empty.) GLMs whose slots hold every feature (``_fixed_slots``) place feature
    ``j`` in slot ``j + 1``."""
    m = ws.idx.shape[0]
    p2 = prob.pf_aug.shape[0]
    if _fixed_slots(family, prob, m):
        return ws._replace(idx=ws.idx.at[1:].set(jnp.arange(m - 1, dtype=ws.idx.dtype)))

    def ranked(_):
        order = jnp.argsort(-score, stable=True)[: m - 1]
        return jnp.where(score[order] > 0, order, p2 - 1).astype(ws.idx.dtype)

    # A fresh path has nothing to place: its sort of the p + 2 scores (0.5 ms at p = 5,000,
    # 2.3 ms at 20,000) is skipped.
    empty = jnp.full((m - 1,), p2 - 1, ws.idx.dtype)
    idx = ws.idx.at[1:].set(jax.lax.cond(jnp.any(score > 0), ranked, lambda _: empty, None))
    rows = ws.gram_rows
    if _has_gram_cache(ws):
        def fill(s, rows):
            j = idx[s]
            return jax.lax.cond(j < p2 - 2, lambda: rows.at[s].set(dsg.column_gram(prob.design, prob.w, j)), lambda: rows)

        rows = jax.lax.fori_loop(1, m, fill, rows)
    cols = dsg.gather_columns(prob.design, idx).T if _has_column_cache(ws) else ws.cols
    return ws._replace(idx=idx, gram_rows=rows, cols=cols, overflow=ws.overflow | (jnp.sum(score > 0) > m - 1))


# --------------------------------------------------------------------------- inner solves


def _has_gram_cache(ws: _WorkingSet) -> bool:
    """Static: the Gaussian Gram-row cache is kept (covariance updates; else naive updates)."""
    return ws.gram_rows.shape[0] == ws.idx.shape[0]


def _has_column_cache(ws: _WorkingSet) -> bool:
    """Static: the slots' columns are kept in ``ws.cols`` (GLMs whose slots change along the
    path, and Gaussian naive updates), updated one slot at a time as features enter."""
    return ws.cols.shape[0] == ws.idx.shape[0]


def _solve_quadratic_family(family: Family, prob: _Problem, ws: _WorkingSet, lam, inner_tol, budget, pure_linalg):
    """Gaussian: one exact subproblem on the working set's Gram ``H = Xs_W^T W Xs_W``.

    Covariance updates (n >= m, glmnet's ``type.gaussian = "covariance"``): ``H`` and the full
    gradient ``c - Xs_aug^T W Xs_W b`` come from the cached Gram rows (p m flops per round, n p
    per entering feature). Naive updates (n < m, p >> n): ``H`` is carried like the GLM Hessian
    (rows for new slots only, n m per slot) and the gradient is one pass over X per round
    (n p flops, less than the cache's p m; no cache of p m numbers).
    """
    l1, l2, lo, hi = _slot_penalty(prob, ws.idx, lam)
    gr = ws.grad[ws.idx]
    if _has_gram_cache(ws):
        H = ws.gram_rows[:, ws.idx]
        H = 0.5 * (H + H.T)
        compact = ws.gram_full.shape[0] != prob.pf_aug.shape[0]  # slots fill along the path
        sol = solve_quadratic(QuadProblem(H, l1, l2, lo, hi), ws.b, gr, inner_tol, budget, pure_linalg, compact_sweeps=compact)
        grad = prob.c_full - jnp.matmul(sol.b, ws.gram_rows, precision=_HIGHEST)
        return ws._replace(b=sol.b, grad=grad), sol.n_iter
    slots = _SlotColumns(family, prob, ws)
    if _matrix_free(family, ws):
        H = ws.hess  # the placeholder: no (m, m) Gram
        qp = QuadProblem(None, l1, l2, lo, hi, low_rank_hessian(slots.cols_t, ws.hess_w, kernel=_slot_kernel(prob, ws),
                                                                eliminate=prob.eliminate))
    else:
        H, usable = _update_changed_slots(ws, slots)
        H = jax.lax.cond(usable, lambda: H, lambda: slots.gram(ws.hess_w))
        qp = QuadProblem(H, l1, l2, lo, hi, low_rank_hessian(slots.cols_t, ws.hess_w, base_diagonal=jnp.diagonal(H),
                                                             eliminate=prob.eliminate))
    sol = solve_quadratic(qp, ws.b, gr, inner_tol, budget, pure_linalg, compact_sweeps=True)
    fitted = slots.matvec(sol.b)
    grad = dsg.augmented_rmatvec(prob.design, prob.w * (prob.y - fitted))
    return ws._replace(b=sol.b, eta=fitted, grad=grad, hess=H, hess_idx=ws.idx), sol.n_iter


def _objective_change_glm(family: Family, prob: _Problem, eta, deta, b, delta, l1, l2):
    """``P(b + delta) - P(b)`` summed term by term, so that changes far below the rounding
    level of ``P`` itself (needed at small lambda, nearly separable data) are still seen."""
    dloss = jnp.sum(prob.w * (family.loss(prob.y, eta + deta) - family.loss(prob.y, eta)))
    new = b + delta
    dpen = jnp.sum(l1 * (jnp.abs(new) - jnp.abs(b)) + 0.5 * l2 * (new - b) * (new + b))
    return dloss + dpen


def _hessian_weights(family: Family, prob: _Problem, eta):
    """``w * curvature(eta)``, floored so that a Hessian of separated data stays definite."""
    return prob.w * jnp.maximum(family.curvature(eta), 1e-10)


def _weighted_gram(cols_t, v):
    """``cols^T diag(v) cols``, symmetrized: (m, m) from ``cols_t = cols^T`` (m, n), at n m^2 flops."""
    H = jnp.matmul(cols_t * v[None, :], cols_t.T, precision=_HIGHEST)
    return 0.5 * (H + H.T)


def _matrix_free(family: Family, ws: _WorkingSet) -> bool:
    """Static: a working set without an (m, m) Hessian (``ws.hess`` is a placeholder): its
    Newton systems, products and sweeps go through the slots' columns (``ws.cols``) and the
    current weights (``quadratic.LowRankHessian`` with ``H`` None; Gaussian: the observation
    weights, naive updates). Chosen by ``run_path``
    when the slots outnumber the rows ``_MATRIX_FREE_RATIO`` times (p >> n elastic net and
    ridge): forming the Hessian costs n m^2 flops and m^2 numbers there, a Newton system in its
    n-dimensional form n^2 m."""
    return _has_column_cache(ws) and ws.hess.shape[0] != ws.idx.shape[0]


def _has_kernel(ws: _WorkingSet) -> bool:
    """Static: the working set keeps a ``quadratic.SlotKernel`` (matrix-free working sets)."""
    return ws.kernel_idx.shape[0] == ws.idx.shape[0]


def _kernel_slots(prob: _Problem, ws: _WorkingSet):
    """The slots a kernel covers: penalized features (not the intercept or empty slots)."""
    return (ws.idx < prob.design.n_features) & (prob.pf_aug[ws.idx] > 0)


def _kernel_valid(ws: _WorkingSet):
    """Whether every slot the kernel sums over still holds the feature it was built with (a
    slot filled since then is not in the kernel: the solves add it)."""
    return jnp.all(jnp.where(ws.kernel_mask, ws.kernel_idx == ws.idx, True))


def _slot_kernel(prob: _Problem, ws: _WorkingSet) -> SlotKernel | None:
    """The working set's kernel for ``quadratic.woodbury_solve``, or None without one."""
    if not _has_kernel(ws):
        return None
    return SlotKernel(ws.kernel, ws.kernel_mask, prob.pf_aug[ws.idx], _kernel_valid(ws))


def _refresh_kernel(prob: _Problem, ws: _WorkingSet, lam) -> _WorkingSet:
    """Rebuild the kernel (n^2 m flops) over the slots free at the current point when a slot
    it sums over was refilled, or when more than ``KERNEL_DOWNDATE // 2`` slots are free now
    and not in it or the reverse (the solves add or subtract up to ``KERNEL_DOWNDATE``): a
    ridge path builds it once, at the lambda its features enter."""
    l1, _, lo, hi = _slot_penalty(prob, ws.idx, lam)
    free = _kernel_slots(prob, ws) & (lo < ws.b) & (ws.b < hi) & ((ws.b != 0) | (l1 == 0))
    wanted = ~_kernel_valid(ws) | (jnp.sum(free ^ ws.kernel_mask) > KERNEL_DOWNDATE // 2)
    kernel, kernel_idx, kernel_mask = _compute_if(
        wanted, lambda: (slot_kernel_gram(ws.cols, free, prob.pf_aug[ws.idx]), ws.idx, free),
        (ws.kernel, ws.kernel_idx, ws.kernel_mask))
    return ws._replace(kernel=kernel, kernel_idx=kernel_idx, kernel_mask=kernel_mask)


def _fixed_slots(family: Family, prob: _Problem, m: int) -> bool:
    """Static: a GLM whose ``m = p + 1`` slots hold every feature, feature ``j`` in slot
    ``j + 1`` and the intercept (or the zero column) in slot 0, for the whole path; only with
    at least as many rows as slots. With fewer rows (ridge or a small l1_ratio on p >> n data)
    the slots keep their column cache, so that Newton systems are solved in their
    n-dimensional form (``quadratic.woodbury_solve``; the fixed slots' products go through the
    design and have no columns to hand it): binomial ridge on 100 x 5000, 191 s -> 5.4 s."""
    return (not family.is_quadratic) and m == prob.design.n_features + 1 and prob.y.shape[0] >= m


class _SlotColumns:
    """``Xs_aug[:, idx]`` (n, m) of the working set ``ws`` as the products the Newton solver needs.

    Slots chosen along the path use the working set's column cache (``ws.cols``, (m, n): a
    gather of m columns from a row-major X touches m n scattered numbers, 13-14 us at
    100 x 1000 and 100 x 5000, and a round needed three). With ``_fixed_slots`` the
    columns are Xs itself behind the intercept slot, and nothing is gathered: products go
    through the design (no copy of X, and the Gram is one blocked pass, ``dsg.full_gram``).
    """

    def __init__(self, family: Family, prob: _Problem, ws: _WorkingSet):
        self.design = prob.design
        self.idx = ws.idx
        self.fixed = _fixed_slots(family, prob, ws.idx.shape[0])
        if self.fixed:
            self.cols_t = None
        else:
            self.cols_t = ws.cols if _has_column_cache(ws) else dsg.gather_columns(prob.design, ws.idx).T

    def matvec(self, d):
        """``Xs_aug[:, idx] @ d``: (n,)."""
        if self.fixed:
            return dsg.matvec(self.design, d[1:]) + jnp.where(self.idx[0] == self.design.n_features, d[0], 0.0)
        return jnp.matmul(d, self.cols_t, precision=_HIGHEST)

    def rmatvec(self, r):
        """``Xs_aug[:, idx]^T r``: (m,)."""
        if self.fixed:
            first = jnp.where(self.idx[0] == self.design.n_features, jnp.sum(r), 0.0)
            return jnp.concatenate([first[None], dsg.rmatvec(self.design, r)])
        return jnp.matmul(self.cols_t, r, precision=_HIGHEST)

    def gram(self, v):
        """``Xs_aug[:, idx]^T diag(v) Xs_aug[:, idx]``, symmetrized: (m, m)."""
        if self.fixed:
            order = self.idx
            G = dsg.full_gram(self.design, v)[order][:, order]
            return 0.5 * (G + G.T)
        return _weighted_gram(self.cols_t, v)


def _update_changed_slots(ws: _WorkingSet, slots: _SlotColumns):
    """``ws.hess`` for the current slots at the weights it was built with (``hess_w``).

    Along a path a round usually brings in a few features; only their rows and columns are
    computed (``cols^T diag(hess_w) cols[:, new]``, n m k flops for k new slots, instead of
    n m^2 for a new Gram). The result is the exact Gram of the current columns at the stored
    weights, so it stays positive semidefinite; the weights are those of an earlier iterate,
    which the Newton loop corrects by refreshing when its steps are poor or slow. When more
    than ``_INCREMENTAL_SLOTS`` slots changed, the returned flag (``H`` usable) is false and
    the caller builds a fresh Gram.
    """
    m = ws.idx.shape[0]
    changed = ws.hess_idx != ws.idx
    k = min(m, _INCREMENTAL_SLOTS)
    n_changed = jnp.sum(changed)
    if slots.fixed:  # slots never change after the first Gram
        return ws.hess, n_changed == 0
    cols_t = slots.cols_t

    def update(H):
        order = compaction_order(changed)[:k]
        new = changed[order]
        C = jnp.matmul(cols_t * ws.hess_w[None, :], cols_t[order].T, precision=_HIGHEST)  # (m, k)
        H = H.at[:, order].set(jnp.where(new[None, :], C, H[:, order]))
        return H.at[order, :].set(jnp.where(new[:, None], C.T, H[order, :]))

    H = jax.lax.cond((n_changed > 0) & (n_changed <= k), update, lambda H: H, ws.hess)
    return H, n_changed <= k


def _glm_gradients(family: Family, prob: _Problem, eta):
    """``(Xs_aug^T w (y - mu), Xs_aug^T w curvature)`` at ``eta``, each (p + 2,), from one pass
    over X (the second is the certificate's intercept correction, ``_glm_dual_terms``)."""
    R = jnp.stack([prob.w * (prob.y - family.mean(eta)), prob.w * family.curvature(eta)])
    return dsg.augmented_rmatvec_rows(prob.design, R)


def _solve_newton_family(family: Family, prob: _Problem, ws: _WorkingSet, lam, inner_tol, budget, pure_linalg, grad_current):
    """Proximal Newton (IRLS) with Levenberg-Marquardt damping and backtracking.

    Each step minimizes the penalized quadratic model with Hessian
    ``H + damp * diag(H)``; ``damp`` grows tenfold when the model is poor (the line search
    cut the step or the subproblem did not converge in ``_INNER_CAP`` iterations) and
    shrinks tenfold after a full step. On (nearly) separable data ``H`` is nearly singular
    and the undamped subproblem is degenerate; damping keeps every subproblem well
    conditioned without changing the fixed point.

    ``H`` is carried from one call to the next (across rounds and lambdas) at the weights it
    was built with; new slots get their rows and columns at those weights
    (``_update_changed_slots``), and a fresh Gram (n m^2 flops, the dominant cost on n >> p
    data) is built only when a step is poor or converges slowly.

    ``grad_current`` (bool scalar): ``ws.grad`` and ``ws.grad_curv`` are the correlations at
    ``ws.eta``; the first step takes its gradient from them. With ``_fixed_slots`` every
    step's gradient comes from ``_glm_gradients`` (one pass over X for both correlations, as
    one for the slots' gradient alone), so a loop that ends at a stationary point hands out
    the correlations without a pass. Either saves a pass over X per lambda on n >> p data.
    """
    l1, l2, lo, hi = _slot_penalty(prob, ws.idx, lam)
    slots = _SlotColumns(family, prob, ws)
    matrix_free = _matrix_free(family, ws)

    def cond(carry):
        done, it, newton = carry[9], carry[2], carry[3]
        return (~done) & (newton < _MAX_NEWTON) & (it < budget)

    def fresh(eta):
        v = _hessian_weights(family, prob, eta)
        # Matrix-free: the weights are the whole Hessian (n numbers), always current.
        return (ws.hess if matrix_free else slots.gram(v)), v

    def hessian_model(H, plain, damp):
        """The subproblem's Hessian ``H + damp * diag(H)``: dense, or as columns and weights
        (from ``plain``, the undamped ``LowRankHessian``; None with fixed slots)."""
        lowrank = None if plain is None else plain._replace(extra=damp * plain.diag, diag=(1.0 + damp) * plain.diag)
        if matrix_free:
            return None, lowrank
        return H + jnp.diag(damp * jnp.diagonal(H)), lowrank

    def body(carry):
        b, eta, it, newton, damp, H, v, reuse, prev_model, _, grads, current = carry
        # The Hessian costs n m^2: it is rebuilt only after a poor or slow step; other steps
        # reuse it (the fixed point does not depend on it, the line search keeps every step a
        # descent step).
        H, v = _compute_if(~reuse, lambda: fresh(eta), (H, v))
        if slots.fixed:
            grads = _compute_if(~current, lambda: _glm_gradients(family, prob, eta), grads)
            current = jnp.ones((), bool)
            gr = grads[0][slots.idx]
        else:
            gr = _compute_if(~current, lambda: slots.rmatvec(prob.w * (prob.y - family.mean(eta))), grads[0][slots.idx])
        # Stationarity of the current point on the working set (gradient-based, so it stays
        # accurate far below the rounding level of the objective value).
        # Matrix-free, the diagonal of the weighted columns (m n flops) is formed here, once a step.
        plain = None
        if matrix_free or not slots.fixed:
            plain = low_rank_hessian(slots.cols_t, v, base_diagonal=None if matrix_free else jnp.diagonal(H),
                                     eliminate=prob.eliminate,
                                     kernel=_slot_kernel(prob, ws))
        stationary = subproblem_violation(QuadProblem(None if matrix_free else H, l1, l2, lo, hi, plain), b, gr) <= inner_tol

        def step(_):
            H_damped, lowrank = hessian_model(H, plain, damp)
            qp = QuadProblem(H_damped, l1, l2, lo, hi, lowrank)
            sol = solve_quadratic(qp, b, gr, inner_tol, jnp.minimum(budget - it, _INNER_CAP), pure_linalg, feature_sign=False,
                                  compact_sweeps=not slots.fixed)
            delta = sol.b - b
            deta = slots.matvec(delta)
            # Decrease predicted by the linear part of the model (<= 0); Armijo on the true objective.
            model = -jnp.dot(gr, delta) + penalties.penalty_value(sol.b, l1, l2) - penalties.penalty_value(b, l1, l2)
            # Below ``noise`` the objective cannot resolve the decrease; such tiny steps are taken
            # in full (the quadratic model is exact to first order there).
            noise = 16.0 * jnp.finfo(b.dtype).eps * prob.obj_scale
            resolvable = -model > noise

            def ls_cond(c):
                t, k = c
                change = _objective_change_glm(family, prob, eta, t * deta, b, t * delta, l1, l2)
                return resolvable & (change > 1e-4 * t * jnp.minimum(model, 0.0)) & (k < _MAX_HALVINGS)

            t, _ = jax.lax.while_loop(ls_cond, lambda c: (0.5 * c[0], c[1] + 1), (jnp.ones((), b.dtype), 0))
            accepted = t > 0.5 ** (_MAX_HALVINGS - 1)
            t = jnp.where(accepted, t, 0.0)
            b_new = b + t * delta
            eta_new = eta + t * deta
            poor = (t < 1.0) | ~sol.converged
            # A poor step with a reused Hessian first refreshes the Hessian; with a fresh one it
            # raises the damping.
            raise_damp = (poor & ~reuse) | ~sol.converged
            shrunk = jnp.where(damp > 1e-8, 0.1 * damp, 0.0)
            new_damp = jnp.where(raise_damp, jnp.maximum(10.0 * damp, 1e-4), jnp.where(poor, damp, shrunk))
            done = ~accepted & ~reuse & (damp > 1.0)
            # Linear convergence slower than 4x per step means the reused Hessian is too stale.
            slow = reuse & (-model > 0.25 * -prev_model)
            moved = t > 0
            reuse_next = jnp.zeros((), bool) if matrix_free else ~poor & ~slow
            return (b_new, eta_new, it + sol.n_iter, newton + 1, new_damp, H, v, reuse_next, model, done, grads,
                    current & ~moved)

        # A stationary point ends the loop without solving (and discarding) one more subproblem.
        stop = (b, eta, it, newton + 1, damp, H, v, reuse, prev_model, jnp.ones((), bool), grads, current)
        return jax.lax.cond(stationary, lambda _: stop, step, None)

    zero = jnp.zeros((), jnp.int32)
    H0, reuse0 = (ws.hess, jnp.zeros((), bool)) if matrix_free else _update_changed_slots(ws, slots)
    init = (ws.b, ws.eta, zero, zero, jnp.zeros((), ws.b.dtype), H0, ws.hess_w, reuse0, jnp.full((), -jnp.inf, ws.b.dtype),
            jnp.zeros((), bool), (ws.grad, ws.grad_curv), jnp.asarray(grad_current))
    b, eta, it, _, _, H, v, _, _, _, grads, current = jax.lax.while_loop(cond, body, init)
    grad, grad_curv = _compute_if(~current, lambda: _glm_gradients(family, prob, eta), grads)
    return ws._replace(b=b, eta=eta, grad=grad, grad_curv=grad_curv, hess=H, hess_idx=ws.idx, hess_w=v), it


# --------------------------------------------------------------------------- certificates


def _gaussian_residual_moments(prob: _Problem, ws: _WorkingSet):
    """``(sum w r^2, sum w r y)`` for ``r = y - Xs_W b``, from the Gram when that is accurate.

    ``sum w r^2 = y'Wy - 2 b'c_W + b'H b`` costs O(m^2) instead of a pass over the n rows;
    when the residual is tiny relative to y (cancellation) it is recomputed from the rows.
    Naive updates keep the fitted values: ``r`` directly (n flops).
    """
    if not _has_gram_cache(ws):
        r = prob.y - ws.eta
        return jnp.sum(prob.w * r * r), jnp.sum(prob.w * r * prob.y)
    yy = jnp.sum(prob.w * prob.y * prob.y)
    c_w = prob.c_full[ws.idx]
    H = ws.gram_rows[:, ws.idx].T
    bc = jnp.dot(ws.b, c_w)
    rr = yy - 2.0 * bc + jnp.dot(ws.b, jnp.matmul(H, ws.b, precision=_HIGHEST))
    ry = yy - bc

    def from_rows(_):
        # Through the full coefficient vector: gathering the working-set columns would hold
        # an n x m copy of X in the program's memory.
        p = prob.design.n_features
        r = prob.y - dsg.matvec(prob.design, _full_coef(ws, p + 2)[:p])
        return jnp.sum(prob.w * r * r), jnp.sum(prob.w * r * prob.y)

    accurate = rr > 1e-6 * yy
    return jax.lax.cond(accurate, lambda _: (rr, ry), from_rows, None)


def _glm_dual_terms(family: Family, prob: _Problem, ws: _WorkingSet, mu, grad, with_intercept: bool):
    """``(s -> F*(-theta_s), Xs_aug^T theta_1)`` for the dual point ``theta_s = s w (y - mu')``.

    ``grad = Xs_aug^T w (y - mu)``. With an intercept, ``mu' = mu + c * curvature`` with ``c``
    chosen so that ``sum theta = 0`` exactly (the intercept's dual constraint); otherwise a
    tiny intercept residual times a large intercept would dominate the gap at small lambda.
    """
    curv = family.curvature(ws.eta)
    total = jnp.sum(prob.w * curv)
    c = jnp.sum(prob.w * (prob.y - mu)) / jnp.maximum(total, jnp.finfo(total.dtype).tiny)
    c = jnp.where(with_intercept, c, 0.0)
    mu = mu + c * curv
    g = grad - c * ws.grad_curv
    # With an offset o the loss is F(u + o), whose conjugate is F*(v) - v.o.
    theta_o = jnp.sum(prob.w * (prob.y - mu) * prob.offset)
    return lambda s: family.conjugate_at_scaled_residual(prob.y, mu, prob.w, s) + s * theta_o, g


def _newton_corrected_mean(family: Family, prob: _Problem, ws: _WorkingSet, lam, H, refine: int, pure_linalg):
    """``(mu_c, curvature * Xs_aug delta, tangent)`` with ``mu_c = mu + curvature * Xs_aug delta``:
    the mean after one linearized Newton step ``delta`` on the non-zero (and unpenalized) slots,
    and the path's tangent ``db/dlam`` on those slots (for ``_predict``; (m,) each).

    ``(H_true + diag(l2)) delta = v`` with ``v`` the stationarity residual
    ``g - l1 sign(b) - l2 b`` of those slots and ``H_true`` the working-set Hessian at the
    current point. ``H`` approximates ``H_true`` (a Gram at earlier weights, or the exact one);
    ``refine`` steps of iterative refinement with exact Hessian-vector products (two passes
    over the columns each) shrink the error of an approximate ``H`` geometrically.

    Why: in float32, ``b`` sits on a grid whose spacing (times ``H``) leaves KKT residuals of
    a few 1e-4 lambda at small lambda, although the objective is exact to 1e-11, and in any
    precision the Newton loop stops on a criterion quadratic in the residual: the scaled dual
    point turns such a residual into a gap linear in it. ``delta`` is carried in its own
    floats, so the corrected residual meets stationarity to second order and the dual point
    is nearly feasible without scaling. Any residual gives a valid dual bound.
    """
    p = prob.design.n_features
    l1, l2, lo, hi = _slot_penalty(prob, ws.idx, lam)
    g = ws.grad[ws.idx]
    # Slots at zero whose |g| exceeds l1 move too, in the direction of g (in float32 the
    # solver can leave at zero a coefficient whose exact value is below the grid spacing).
    at_kink_violating = (ws.b == 0) & (jnp.abs(g) > l1)
    # A coefficient at a bound stays there: its stationarity residual is the bound's multiplier,
    # and moving it by that (past the bound) spoiled the dual point (gaps of 1e-3 to 1e-2 on
    # logistic paths with a coefficient held at its lower bound).
    inside = (lo < ws.b) & (ws.b < hi)
    move = (ws.idx <= p) & inside & ((ws.b != 0) | at_kink_violating | ((l1 == 0) & (l2 == 0)))
    sign = jnp.where(ws.b != 0, jnp.sign(ws.b), jnp.sign(g))
    v = jnp.where(move, g - l1 * sign - l2 * ws.b, 0.0)
    slots = _SlotColumns(family, prob, ws)
    curv = family.curvature(ws.eta)
    curv_w = prob.w * curv

    def exact_product(d):
        return slots.rmatvec(curv_w * slots.matvec(d)) + l2 * d

    lowrank = None if slots.fixed else low_rank_hessian(slots.cols_t, curv_w, kernel=_slot_kernel(prob, ws),
                                                        eliminate=prob.eliminate)

    # The path's tangent at this point: differentiating the stationarity of the moving slots,
    # g(b) = l1 sign(b) + l2 b with l1, l2 proportional to lam, gives (H + diag(l2)) db/dlam =
    # -(l1 sign(b) + l2 b) / lam: the same matrix, one more right-hand side.
    if _uses_predictor(family):
        safe_lam = jnp.where(lam > 0, lam, 1.0)
        tangent_rhs = jnp.where(move & (lam > 0), -(l1 * sign + l2 * ws.b) / safe_lam, 0.0)
        delta, tangent = refined_free_solve(H, l2, v, move, exact_product, refine, pure_linalg, extra_rhs=tangent_rhs,
                                           exact_lowrank=lowrank)
    else:
        delta = refined_free_solve(H, l2, v, move, exact_product, refine, pure_linalg, exact_lowrank=lowrank)
        tangent = ws.tangent
    deta = slots.matvec(delta)
    return family.mean(ws.eta) + curv * deta, curv * deta, tangent


def _corrected_dual_terms(family: Family, prob: _Problem, ws: _WorkingSet, mu_c, curv_deta, l1, with_intercept: bool):
    """``_glm_dual_terms`` at the Newton-corrected mean ``mu_c = mu + curv_deta``, whose
    correlations are ``ws.grad - u`` with ``u = Xs_aug^T (w curv_deta)``.

    ``u`` is computed on the slots only (n m flops). A feature outside them gets
    ``|u_j| <= rms_j sqrt(sum_i w_i curv_deta_i^2)`` (``Design.rms``); when every such bound
    leaves ``|g_j| < l1_j``, those features add nothing to the dual objective (their conjugate
    is 0 and they do not scale the dual point) whatever ``u_j`` is, and the pass over all of X
    is skipped. Otherwise ``u`` is computed for every feature (one pass over X, n p flops).
    """
    size = prob.pf_aug.shape[0]
    p = prob.design.n_features
    shift = prob.w * curv_deta
    u = jnp.zeros(size, shift.dtype).at[ws.idx].set(_SlotColumns(family, prob, ws).rmatvec(shift))
    conj_c, g_c = _glm_dual_terms(family, prob, ws, mu_c, ws.grad - u, with_intercept)
    outside = ~_in_working_set(ws, size)[:p] & (prob.lo_aug[:p] < prob.hi_aug[:p])
    reach = prob.design.rms * jnp.sqrt(jnp.sum(prob.w * curv_deta * curv_deta))
    margin = 1.0 - 16.0 * jnp.finfo(shift.dtype).eps
    bounded = jnp.all(~outside | (jnp.abs(g_c[:p]) + reach <= margin * l1[:p]))

    def every_feature():
        grad_c = dsg.augmented_rmatvec(prob.design, prob.w * (prob.y - mu_c))
        return _glm_dual_terms(family, prob, ws, mu_c, grad_c, with_intercept)[1]

    return conj_c, jax.lax.cond(bounded, lambda: g_c, every_feature)


def _dual_value(lo, hi, conj_loss, g, l1, l2):
    """``(D(theta_s), s, free)``: the dual objective at the largest ``s <= 1`` making
    ``Omega*`` finite. Coefficients with no penalty at this lambda (pf = 0, or lambda = 0)
    have the dual constraint ``(X^T theta)_j = 0``, which rounding never meets exactly: they
    are left out here and accounted for by the caller's first-order term."""
    free = (l1 == 0) & (l2 == 0)
    bound = jnp.where(g > 0, hi, -lo)  # the bound in the direction of g (>= 0)
    needs_scaling = ~free & (l2 == 0) & ~jnp.isfinite(bound) & (jnp.abs(g) > l1)
    ratio = jnp.where(needs_scaling, l1 / jnp.where(needs_scaling, jnp.abs(g), 1.0), 1.0)
    s = jnp.minimum(1.0, jnp.min(ratio))
    z = s * g
    l1 = jnp.where(free, jnp.inf, l1)
    # Omega_j*(z_j) is 0 unless |z_j| > l1_j, and then non-zero only through a ridge or a
    # finite bound: for a lasso without bounds, every term. The p-length sum runs only when
    # some term can be non-zero (it took 10 of 19 us at p = 5,000).
    contributes = (jnp.abs(z) > l1) & ((l2 > 0) | jnp.isfinite(bound))

    def conjugate_sum(_):
        return jnp.sum(jnp.where(contributes, penalties.conjugate(z, l1, l2, lo, hi), 0.0))

    conj = jax.lax.cond(jnp.any(contributes), conjugate_sum, lambda _: jnp.zeros((), g.dtype), None)
    return -conj_loss(s) - conj, s, free


def _certificate(family: Family, prob: _Problem, ws: _WorkingSet, lam, tol, pure_linalg):
    """``(primal objective, relative duality gap, KKT violations, deviance), ws``.

    The working set comes back with the fresh Hessian when the corrected dual point built one.

    Dual point ``theta = s w (y - mu)`` with the largest ``s <= 1`` making ``Omega*`` finite.
    For non-Gaussian families whose gap misses ``tol``, a second dual point from the
    Newton-corrected residual (``_newton_corrected_mean``) is tried; the better bound counts.
    Unpenalized coefficients (intercept, pf = 0) are taken at their stationary point: their
    stationarity residual is not in the gap but is in the KKT violation.
    """
    size = prob.pf_aug.shape[0]
    l1 = lam * prob.alpha * prob.pf_aug
    l2 = lam * (1.0 - prob.alpha) * prob.pf_aug
    tiny = jnp.finfo(ws.b.dtype).tiny
    if family.is_quadratic:
        rr, ry = _gaussian_residual_moments(prob, ws)
        loss = 0.5 * rr
        dual, s, _ = _dual_value(prob.lo_aug, prob.hi_aug, lambda s: 0.5 * s * s * rr - s * ry, ws.grad, l1, l2)
        g = ws.grad
    else:
        with_intercept = prob.hi_aug[-2] > 0
        loss = jnp.sum(prob.w * family.loss(prob.y, ws.eta))
    primal = loss + penalties.penalty_value(ws.b, l1[ws.idx], l2[ws.idx])  # coefficients outside the slots are 0
    if not family.is_quadratic:

        def misses(d):
            return primal - d > tol * jnp.maximum(primal, tiny)

        def attempt_cond(c):
            k, best, ws = c
            return ((k < 2) & misses(best[0])) | ((k == 2) & ~jnp.isfinite(best[0]))

        def attempt(c):
            # Attempt 0: the Hessian the Newton loop carried (earlier weights), refined by
            # exact Hessian-vector products: a few passes over the columns. Attempt 1, only
            # when that does not certify: a fresh Gram at this point (n m^2 flops), kept for
            # the next Newton solve. One copy of the correction serves both.
            k, best, ws = c
            use_carried = ((k == 0) & jnp.all(ws.hess_idx == ws.idx)) | matrix_free
            # Trip k = 2 runs only when no correction gave a finite bound (a corrected mean
            # outside the family's range): the plain residual's dual point, without a correction.
            plain = k == 2

            def fresh():
                hess_w = _hessian_weights(family, prob, ws.eta)
                return (ws.hess if matrix_free else _SlotColumns(family, prob, ws).gram(hess_w)), hess_w

            H, hess_w = _compute_if(~use_carried & ~plain, fresh, (ws.hess, ws.hess_w))
            # Matrix-free, the correction is exact at the current weights: no second attempt.
            mu_c, curv_deta, tangent = _newton_corrected_mean(family, prob, ws, lam, None if matrix_free else H,
                                                              _CERT_REFINE, pure_linalg)
            mu_c = jnp.where(plain, family.mean(ws.eta), mu_c)
            curv_deta = jnp.where(plain, 0.0, curv_deta)
            conj_c, g_c = _corrected_dual_terms(family, prob, ws, mu_c, curv_deta, l1, with_intercept)
            dual_c, s_c, _ = _dual_value(prob.lo_aug, prob.hi_aug, conj_c, g_c, l1, l2)
            take = dual_c > best[0]
            best = tuple(jnp.where(take, new, old) for old, new in zip(best, (dual_c, s_c, g_c)))
            ws = ws._replace(hess=H, hess_idx=ws.idx, hess_w=hess_w, tangent=tangent)
            return jnp.where(plain, 3, jnp.where(use_carried & ~matrix_free, 1, 2)).astype(k.dtype), best, ws

        # The dual point of the plain residual is the fallback only (trip k = 2): the corrected
        # one is the better bound (with the plain one computed first, a correction ran in
        # 99-100% of the rounds of binomial 100 x 1000 to 5000 x 100 paths), and each costs
        # passes over p + 2 numbers.
        matrix_free = _matrix_free(family, ws)
        ws = ws._replace(tangent=jnp.zeros_like(ws.tangent))
        dtype = ws.b.dtype
        best0 = (jnp.full((), -jnp.inf, dtype), jnp.ones((), dtype), ws.grad)
        _, (dual, s, g), ws = jax.lax.while_loop(attempt_cond, attempt, (jnp.zeros((), jnp.int32), best0, ws))
    gap = jnp.maximum(primal - dual, 0.0)
    # Unpenalized coefficients: first-order term of their stationarity residual.
    i = ws.idx
    unpenalized = (l1[i] == 0) & (l2[i] == 0) & (prob.lo_aug[i] < prob.hi_aug[i]) & (i < size - 2)
    gap = gap + jnp.sum(jnp.where(unpenalized, jnp.abs(ws.b * s * g[ws.idx]), 0.0))
    rel_gap = gap / jnp.maximum(primal, tiny)
    # Every coefficient outside the slots is 0: their violations come from a form with b = 0
    # (a constant, which XLA folds into a cheaper pass over the p + 2 numbers).
    viol = penalties.kkt_violation(-ws.grad, jnp.zeros((), ws.b.dtype), l1, l2, prob.lo_aug, prob.hi_aug)
    viol = viol.at[i].set(penalties.kkt_violation(-ws.grad[i], ws.b, l1[i], l2[i], prob.lo_aug[i], prob.hi_aug[i]))
    return (primal, rel_gap, viol, 2.0 * (loss - jnp.sum(prob.w * family.saturated_loss(prob.y)))), ws


# --------------------------------------------------------------------------- one lambda


def _uses_predictor(family: Family) -> bool:
    """Static: the path predictor (``_predict``) runs on every GLM path. On p >> n logistic
    paths it cuts the IRLS steps by about a third (binomial 100 x 1000: 257 -> 182 inner
    iterations) and, since the eighteenth session's measurements, 5-10% of the time; in the
    fourteenth session, before the gradient pass and the jitter loop got cheaper, it saved no
    time there (benchmarks/README.md)."""
    return not family.is_quadratic


def _predict(family: Family, prob: _Problem, ws: _WorkingSet, lam, lam_prev):
    """First-order predictor along the path: ``b + (lam - lam_prev) * ws.tangent`` on the
    non-zero and unpenalized slots (a coefficient whose sign would flip is set to 0; bounds
    are clipped), kept only when it lowers the objective at ``lam``. Returns ``(ws, moved)``:
    ``moved`` when the prediction was kept (``ws.grad`` is then no longer at ``ws.eta``)."""
    l1, l2, lo, hi = _slot_penalty(prob, ws.idx, lam)
    moving = (ws.b != 0) | (l1 == 0)
    new = ws.b + jnp.where(moving, (lam - lam_prev) * ws.tangent, 0.0)
    flips = (l1 > 0) & (jnp.sign(new) != jnp.sign(ws.b))
    new = jnp.clip(jnp.where(flips, 0.0, new), lo, hi)
    delta = new - ws.b
    deta = _SlotColumns(family, prob, ws).matvec(delta)
    better = _objective_change_glm(family, prob, ws.eta, deta, ws.b, delta, l1, l2) < 0
    return ws._replace(b=jnp.where(better, new, ws.b), eta=jnp.where(better, ws.eta + deta, ws.eta)), better


def _solve_one_lambda(family, prob, ws, lam, lam_prev, tol, max_iter, inner_tol0, pure_linalg):
    """Strong rule, then rounds of (working-set solve, certificate, add KKT violators).

    Stops when the relative gap is <= tol, when iterations run out, on overflow, or when
    ``_MAX_STALLED`` rounds in a row neither add a feature nor lower the objective (the
    certificate is then limited by floating-point resolution; the caller warns).
    """
    size = prob.pf_aug.shape[0]
    strong = jnp.abs(ws.grad) > prob.alpha * (2.0 * lam - lam_prev) * prob.pf_aug
    candidates = strong & ~_in_working_set(ws, size) & (prob.pf_aug > 0) & (prob.lo_aug < prob.hi_aug)
    if ws.gram_full.shape[0] == size:
        # Once an eighth of the features are in, all Gram columns come from one blocked
        # product (BLAS-3) instead of one pass over X per entering feature. Before that, a
        # short path on large n pays only for the columns it uses.
        n_in = jnp.sum(ws.idx < size - 2) + jnp.sum(candidates)
        wanted = ~ws.gram_ready & (n_in >= max(8, (size - 2) // 8))
        ws = jax.lax.cond(
            wanted,
            lambda ws: ws._replace(gram_full=dsg.full_gram(prob.design, prob.w), gram_ready=jnp.ones((), bool)),
            lambda ws: ws,
            ws,
        )
    eps = jnp.finfo(ws.b.dtype).eps
    moved = jnp.zeros((), bool)
    if _uses_predictor(family):
        ws, moved = _predict(family, prob, ws, lam, lam_prev)

    def cond(c):
        ws, it, rounds, stalled, inner_tol, cert, done, score = c
        return (~done) & (rounds < _MAX_ROUNDS) & (it < max_iter) & ~ws.overflow & (stalled < _MAX_STALLED)

    def body(c):
        ws, it, rounds, stalled, inner_tol, prev, _, score = c
        # Round 0 adds the strong set (no slot: skipped); later rounds add KKT violators (no
        # slot: overflow). One call site keeps one copy of this loop in the program.
        ws = _add_features(family, prob, ws, score, rounds > 0, lam)
        if _has_kernel(ws):
            ws = _refresh_kernel(prob, ws, lam)
        budget = max_iter - it
        if family.is_quadratic:
            ws, used = _solve_quadratic_family(family, prob, ws, lam, inner_tol, budget, pure_linalg)
        else:
            # ws.grad is at ws.eta unless the predictor moved it (a round's certificate and new
            # slots leave eta as the Newton loop left it).
            grad_current = (rounds > 0) | ~moved
            ws, used = _solve_newton_family(family, prob, ws, lam, inner_tol, budget, pure_linalg, grad_current)
        (primal, rel_gap, viol, dev), ws = _certificate(family, prob, ws, lam, tol, pure_linalg)
        done = rel_gap <= tol
        outside = ~_in_working_set(ws, size) & (viol > 0) & (prob.pf_aug > 0)
        score = jnp.where(outside & ~done, viol + 1.0, 0.0)
        n_new = jnp.sum(score > 0)
        # No violator outside: the working-set solve itself was not accurate enough. A round
        # counts as stalled only once the inner tolerance is at its floor: near a kink a
        # coordinate violation far below the objective's resolution can still hold the gap
        # above tol (the dual point is scaled by lam / |g_j|).
        floor = eps * eps * prob.obj_scale
        at_floor = inner_tol <= floor
        inner_tol = jnp.where(n_new == 0, jnp.maximum(inner_tol * 1e-3, floor), inner_tol)
        improved = (n_new > 0) | (primal < prev[0] - 4 * eps * jnp.abs(primal)) | ~at_floor
        stalled = jnp.where(improved, 0, stalled + 1)
        return ws, it + jnp.maximum(used, 1), rounds + 1, stalled, inner_tol, (primal, rel_gap, jnp.max(viol), dev), done, score

    dtype = ws.b.dtype
    cert0 = (jnp.full((), jnp.inf, dtype), jnp.full((), jnp.inf, dtype), jnp.full((), jnp.inf, dtype), jnp.zeros((), dtype))
    zero = jnp.zeros((), jnp.int32)
    strong_score = jnp.where(candidates, jnp.abs(ws.grad) + 1.0, 0.0)
    init = (ws, zero, zero, zero, inner_tol0, cert0, jnp.zeros((), bool), strong_score)
    ws, it, _, _, _, cert, done, _ = jax.lax.while_loop(cond, body, init)
    return ws, it, cert, done


# --------------------------------------------------------------------------- the program


def standardized_problem(X, w, lower, upper, fit_intercept: bool, standardize: bool, w_scale=None):
    """``(design, constant, lower, upper)``: the standardized design operator, its degenerate
    columns, and the bounds on the standardized scale (0 for degenerate columns, which stay
    at zero). ``w_scale``: ``w`` is a boolean mask (``design.column_moments``)."""
    center, variance, constant = dsg.column_moments(X, w, fit_intercept, w_scale)
    design = dsg.make_design(X, center, variance, standardize)
    return (design, constant) + standardized_bounds(lower, upper, constant, design.scale)


def standardized_bounds(lower, upper, constant, scale):
    """``(lower, upper)`` (p,) on the standardized scale; 0 for degenerate columns."""
    return jnp.where(constant, 0.0, lower * scale), jnp.where(constant, 0.0, upper * scale)


def _null_intercept(family: Family, y, w, offset, fit_intercept: bool):
    """Intercept-only fit (Newton on one scalar); 0 without an intercept."""
    if not fit_intercept:
        return jnp.zeros((), y.dtype)
    if family.is_quadratic:
        return jnp.sum(w * (y - offset))

    def body(_, b0):
        eta = b0 + offset
        grad = jnp.sum(w * (family.mean(eta) - y))
        hess = jnp.maximum(jnp.sum(w * family.curvature(eta)), 1e-12)
        return b0 - grad / hess

    return jax.lax.fori_loop(0, 50, body, jnp.zeros((), y.dtype))


def empty_outputs(K: int, idx, dtype) -> dict:
    """The per-lambda outputs of a path program before any lambda is solved: ``b`` (K, m),
    ``idx`` (K, m) (every row ``idx``, (m,)), and ``objective``, ``gap``, ``kkt``, ``n_iter``,
    ``converged``, ``deviance`` (K,)."""
    m = idx.shape[0]
    return dict(
        b=jnp.zeros((K, m), dtype),
        idx=jnp.broadcast_to(idx, (K, m)),
        objective=jnp.zeros(K, dtype),
        gap=jnp.full(K, jnp.inf, dtype),
        kkt=jnp.full(K, jnp.inf, dtype),
        n_iter=jnp.zeros(K, jnp.int32),
        converged=jnp.zeros(K, bool),
        deviance=jnp.zeros(K, dtype),
    )


def null_grid(grad, pf, lo, hi, inputs: PathInputs, lambdas):
    """``(lambda_max, lambda_max > 0, lambdas)`` from the correlations ``grad`` at the null
    fit (any layout; ``pf``, ``lo``, ``hi`` in the same): ``lambda_max = max_j |grad_j| / pf_j``
    over the penalized free coefficients, over ``max(l1_ratio, 1e-3)``, and the grid
    ``inputs.lambdas * lambda_max`` when ``grid_from_ratios``, else ``lambdas``."""
    ratio = jnp.where((pf > 0) & (lo < hi), jnp.abs(grad) / jnp.where(pf > 0, pf, 1.0), 0.0)
    raw_max = jnp.max(ratio) / jnp.maximum(inputs.l1_ratio, 1e-3)
    null_max = jnp.where(raw_max > 0, raw_max, 1.0)  # e.g. a constant y: the grid is 1 * ratios
    return null_max, raw_max > 0, jnp.where(inputs.grid_from_ratios, inputs.lambdas * null_max, lambdas)


def _compute_if(pred, compute, value):
    """``compute()`` if ``pred`` else ``value`` (pytrees of the same structure), leaving
    ``value``'s buffers untouched when ``pred`` is false: a loop of zero or one trip, whose
    state XLA updates in place. A conditional or a select returning ``value`` copies each of its
    arrays (the carried (m, m) Hessian, once per Newton step; the whole state, once per lambda)."""
    return jax.lax.while_loop(lambda c: c[0], lambda c: (jnp.zeros((), bool), compute()), (pred, value))[1]


def run_path(
    inputs: PathInputs,
    *,
    family: Family,
    capacity: int,
    fit_intercept: bool,
    standardize: bool,
    pure_linalg: bool = False,
    eliminate: int = 0,
):
    """Compute the path; see the module docstring. Returns a dict of arrays.

    ``pure_linalg`` avoids LAPACK custom calls (set for vmapped programs, see
    ``quadratic._regularized_solve``). ``eliminate``: how many unpenalized features the
    n-dimensional Newton solves may eliminate by a Schur complement (0: none; the caller
    sets it where some ``pf`` is 0).
    """
    X, y, w, offset = inputs.X, inputs.y, inputs.w, inputs.offset
    dtype = X.dtype
    n, p = X.shape
    K = inputs.lambdas.shape[0]
    m = capacity + 1
    design, constant, lower, upper = standardized_problem(X, w, inputs.lower, inputs.upper, fit_intercept, standardize)

    with_intercept_slot = fit_intercept and not family.is_quadratic
    inf = jnp.asarray(jnp.inf, dtype)
    icpt_lo = -inf if with_intercept_slot else jnp.zeros((), dtype)
    icpt_hi = inf if with_intercept_slot else jnp.zeros((), dtype)
    zero1 = jnp.zeros((1,), dtype)
    pf_aug = jnp.concatenate([inputs.pf, zero1, zero1])
    lo_aug = jnp.concatenate([lower, icpt_lo[None], zero1])
    hi_aug = jnp.concatenate([upper, icpt_hi[None], zero1])

    null_b0 = _null_intercept(family, y, w, offset, fit_intercept)
    null_eta = null_b0 + offset
    null_dev = family.deviance(y, null_eta, w)
    null_obj = jnp.sum(w * family.loss(y, null_eta))

    if family.is_quadratic:
        y_work = y - offset - null_b0
        offset_work = jnp.zeros_like(offset)
        c_full = dsg.augmented_rmatvec(design, w * y_work)
        obj_scale = jnp.maximum(jnp.sum(w * y_work * y_work) * 0.5, jnp.finfo(dtype).tiny)
    else:
        y_work, offset_work = y, offset
        c_full = jnp.zeros(p + 2, dtype)
        obj_scale = jnp.maximum(null_obj, jnp.finfo(dtype).tiny)
    prob = _Problem(design, y_work, w, offset_work, pf_aug, lo_aug, hi_aug, inputs.l1_ratio, c_full, obj_scale,
                    jnp.zeros((eliminate,), dtype) if eliminate else None)

    # Initial working set: intercept slot, unpenalized features, then warm-start non-zeros.
    idx0 = jnp.full((m,), p + 1, jnp.int32).at[0].set(p if with_intercept_slot else p + 1)
    b_aug_init = jnp.concatenate([inputs.b_init, zero1, zero1])
    b0_init = jnp.where(with_intercept_slot, inputs.intercept_init, 0.0)
    # Matrix-free working sets (``_matrix_free``): no (m, m) Hessian, and for the Gaussian
    # family naive updates rather than the full Gram's (p + 2)^2 numbers. Not in vmapped
    # programs (their factorizations are XLA loops; the n-dimensional solve is not used there).
    matrix_free = not pure_linalg and _MATRIX_FREE_RATIO * n <= m and not _fixed_slots(family, prob, m)
    full_gram_mode = family.is_quadratic and capacity == p and p <= _FULL_GRAM_MAX_P and not matrix_free
    gram_cache = family.is_quadratic and (full_gram_mode or n >= m)
    with_hess = not gram_cache
    gram0 = jnp.zeros((m, p + 2) if gram_cache else (1, 1), dtype)
    hess0 = jnp.zeros((m, m) if with_hess and not matrix_free else (1, 1), dtype)
    hess_idx0 = jnp.full((m,) if with_hess else (1,), -1, jnp.int32)
    hess_w0 = (w if family.is_quadratic else jnp.zeros(n, dtype)) if with_hess else jnp.zeros((1,), dtype)
    full = jnp.zeros((p + 2, p + 2) if full_gram_mode else (1, 1), dtype)
    column_cache = with_hess and not _fixed_slots(family, prob, m)
    ws = _WorkingSet(idx0, jnp.zeros(m, dtype).at[0].set(b0_init), gram0, jnp.zeros(n, dtype), c_full,
                     jnp.zeros(p + 2, dtype), hess0, hess_idx0, hess_w0, full, jnp.zeros((), bool), jnp.zeros((), bool),
                     jnp.zeros(m if _uses_predictor(family) else 1, dtype),
                     jnp.zeros((m, n) if column_cache else (1, 1), dtype),
                     jnp.zeros((n, n) if matrix_free else (1, 1), dtype), jnp.full((m,) if matrix_free else (1,), -1, jnp.int32),
                     jnp.zeros((m,) if matrix_free else (1,), bool))
    must = (pf_aug == 0) & (lo_aug < hi_aug)
    must = must.at[p].set(False).at[p + 1].set(False)
    warm = (b_aug_init != 0) & ~must
    score = jnp.where(must, 2.0, 0.0) + jnp.where(warm, 1.0 + jnp.abs(b_aug_init) / (1.0 + jnp.max(jnp.abs(b_aug_init))), 0.0)
    ws = _place_initial(family, prob, ws, score)
    ws = ws._replace(b=jnp.where(ws.idx < p, b_aug_init[jnp.clip(ws.idx, 0, p + 1)], ws.b))
    if gram_cache:
        ws = ws._replace(grad=c_full - jnp.matmul(ws.b, ws.gram_rows, precision=_HIGHEST))
    elif family.is_quadratic:
        fitted = _SlotColumns(family, prob, ws).matvec(ws.b)
        ws = ws._replace(eta=fitted, grad=dsg.augmented_rmatvec(design, w * (y_work - fitted)))
    else:
        eta = _SlotColumns(family, prob, ws).matvec(ws.b) + offset
        grad, grad_curv = _glm_gradients(family, prob, eta)
        ws = ws._replace(eta=eta, grad=grad, grad_curv=grad_curv)

    # Iteration k = -1 is the null fit (all penalized coefficients held at zero), which gives
    # lambda_max and the grid; it runs through the same solver code as the path (one copy of
    # the solver in the compiled program). On a resumed path (start > 0) the warm start is
    # kept and the null fit only provides lambda_max.
    inner_tol0 = inputs.tol * 1e-2 * obj_scale
    hold_lo = jnp.where(pf_aug > 0, 0.0, lo_aug)
    hold_hi = jnp.where(pf_aug > 0, 0.0, hi_aug)
    fresh_start = inputs.start == 0
    warm_ws = ws

    out = empty_outputs(K, jnp.full((m,), p + 1, jnp.int32), dtype)

    def cond(c):
        k, ws, out = c[:3]
        return (k < K) & ~ws.overflow

    def body(c):
        k, ws, out, lambda_max, lambda_max_ok, lambdas = c
        is_null = k < 0
        prob_k = prob._replace(lo_aug=jnp.where(is_null, hold_lo, lo_aug), hi_aug=jnp.where(is_null, hold_hi, hi_aug))
        kk = jnp.maximum(k, 0)
        lam = jnp.where(is_null, 0.0, lambdas[kk])
        lam_prev = jnp.where(is_null, 0.0, jnp.where(k == 0, jnp.maximum(lambda_max, lam), lambdas[jnp.maximum(k - 1, 0)]))
        new_ws, it, cert, done = _solve_one_lambda(family, prob_k, ws, lam, lam_prev, inputs.tol, inputs.max_iter, inner_tol0, pure_linalg)

        # After the null fit: lambda_max from the gradient at the null model, then the grid
        # (a pass over the p + 2 gradients, skipped at every other lambda).
        lambda_max, lambda_max_ok, lambdas = jax.lax.cond(
            is_null, lambda _: null_grid(new_ws.grad, pf_aug, lo_aug, hi_aug, inputs, lambdas),
            lambda _: (lambda_max, lambda_max_ok, lambdas), None)

        primal, rel_gap, kkt, dev = cert
        # On overflow keep the previous lambda's state: the caller resumes at k. Rows are
        # written in place (a select over whole (K, m) arrays would copy them every lambda).
        keep = new_ws.overflow & ~is_null
        skip = keep | is_null
        record = lambda arr, val: arr.at[kk].set(jnp.where(skip, arr[kk], val))
        out_next = dict(
            b=record(out["b"], new_ws.b),
            idx=record(out["idx"], new_ws.idx),
            objective=record(out["objective"], primal),
            gap=record(out["gap"], rel_gap),
            kkt=record(out["kkt"], kkt),
            n_iter=record(out["n_iter"], it),
            converged=record(out["converged"], done),
            deviance=record(out["deviance"], dev),
        )
        # The next state is new_ws except after the null fit of a resumed path (the warm start,
        # loop-invariant) and on overflow (the previous lambda's coefficients, which is all the
        # caller reads once the loop stops). No select or conditional over the whole state: it
        # would copy the (m, p + 2) Gram rows every lambda, as much as a pass over X on wide
        # problems.
        ws_next = _compute_if(is_null & ~fresh_start, lambda: warm_ws, new_ws)
        ws_next = ws_next._replace(
            idx=jnp.where(keep, ws.idx, ws_next.idx),
            b=jnp.where(keep, ws.b, ws_next.b),
            overflow=jnp.where(is_null, ws.overflow, keep),
        )
        # The full Gram does not depend on the state: no select over (p + 2)^2 per lambda.
        ws_next = ws_next._replace(gram_full=new_ws.gram_full, gram_ready=new_ws.gram_ready)
        k_next = jnp.where(is_null, inputs.start, jnp.where(keep, k, k + 1))
        return k_next, ws_next, out_next, lambda_max, lambda_max_ok, lambdas

    init_lambdas = jnp.where(inputs.grid_from_ratios, 0.0, inputs.lambdas)
    init = (jnp.full((), -1, jnp.int32), ws, out, jnp.ones((), dtype), jnp.zeros((), bool), init_lambdas)
    k_end, ws, out, lambda_max, lambda_max_ok, lambdas = jax.lax.while_loop(cond, body, init)
    out.update(
        k_end=k_end,
        overflow=ws.overflow,
        lambdas=lambdas,
        lambda_max=lambda_max,
        lambda_max_ok=lambda_max_ok,
        null_deviance=null_dev,
        center=design.center,
        scale=design.scale,
        constant=constant,
        intercept_shift=null_b0 if family.is_quadratic else jnp.zeros((), dtype),
        last_b=_full_coef(ws, p + 2),
    )
    return out
