"""Solver for the penalized quadratic subproblem on a working set.

On a working set of ``m`` slots the (exact, or proximal-Newton) subproblem is

    minimize_b  1/2 b^T H b - g^T b + sum_j l1_j |b_j| + l2_j / 2 b_j^2,  lo <= b <= hi,

with ``H`` (m, m) positive semidefinite. The solver carries ``b`` and the negative gradient
of the smooth part ``gr = g - H b`` (the correlation of each slot with the residual).

Each iteration takes

1. an active-set Newton step: with the signs and the set ``A`` of free coordinates
   (non-zero or unpenalized, strictly inside their bounds) frozen, the objective is a
   quadratic whose minimizer solves ``(H_AA + diag(l2_A)) d_A = gr_A - l2_A b_A - l1_A s_A``.
   The step goes to that minimizer or stops at the first coordinate that reaches zero or a
   bound; when it stops, the whole step with every coordinate that crosses zero set to zero
   is tried too, and the better one is kept if it decreases the objective. The objective
   is therefore monotone and the method cannot cycle, however correlated the columns;
   In the first step of a solve the worst coordinate violating its condition at zero
   joins ``A`` with the sign that lowers the objective (a feature-sign step), so the usual
   case along a path, one new feature, costs one factorization and no sweep;
2. a vectorized KKT check of every slot; if it fails, one cyclic coordinate-descent sweep,
   which lets coordinates enter or leave ``A``, unless the Newton step stopped at a kink
   (the next Newton step continues on the smaller ``A``) or a feature-sign step with at most
   ``_FEW_ENTERING`` violators just descended.

Near the solution the Newton step is exact, so along a warm-started path a subproblem
typically takes one or two iterations. All shapes are static (masked slots), so it runs
inside ``jax.jit`` / ``vmap`` without host round trips.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxreg import penalties

__all__ = ["LowRankHessian", "QuadProblem", "QuadSolution", "SlotKernel", "low_rank_hessian", "solve_quadratic"]

_HIGHEST = jax.lax.Precision.HIGHEST
# Up to this many coordinates violating at zero enter one per Newton step (no sweep); more
# are left to a coordinate sweep, which admits them all in one pass.
_FEW_ENTERING = 4


class SlotKernel(NamedTuple):
    """``gram = sum_{j in mask} c_j c_j^T / unit_j`` (n, n): the slots' columns ``c_j`` (rows of
    a ``LowRankHessian``'s ``cols_t``) weighted by the inverse of their penalty per unit of
    lambda (``unit`` (m,), > 0 on ``mask`` (m,)); ``valid`` (bool scalar): the slots of
    ``mask`` hold the features it was built for. Kept by the working set across Newton steps
    and lambdas: where every free coordinate's ``D_j`` is ``lam2 * unit_j`` (no damping) and
    the free set differs from ``mask`` in a few coordinates, ``woodbury_solve`` forms ``F^T F``
    from it in n^2 (times those few) flops instead of n^2 m."""

    gram: jax.Array
    mask: jax.Array
    unit: jax.Array
    valid: jax.Array


def slot_kernel_gram(cols_t, mask, unit):
    """``SlotKernel.gram``: ``sum_{j in mask} c_j c_j^T / unit_j`` (n, n), n^2 m flops."""
    scaled = cols_t * jnp.where(mask, 1.0 / jnp.where(mask, unit, 1.0), 0.0)[:, None]
    G = jnp.matmul(scaled.T, cols_t, precision=_HIGHEST)
    return 0.5 * (G + G.T)


class LowRankHessian(NamedTuple):
    """``H = cols_t diag(v) cols_t^T + diag(extra)``: the same matrix as a ``QuadProblem``'s
    ``H``, as the slots' columns ``cols_t`` (m, n) and weights ``v`` (n,) (``extra`` (m,): the
    Levenberg-Marquardt damping, or zeros), with its diagonal ``diag`` (m,) and optionally a
    ``SlotKernel`` of the same columns. With more free coordinates than rows, Newton systems
    on ``H`` are solved in their n-dimensional form (``woodbury_solve``). Build it with
    ``low_rank_hessian``, which forms ``diag`` once."""

    cols_t: jax.Array
    v: jax.Array
    extra: jax.Array
    diag: jax.Array
    kernel: SlotKernel | None = None
    # (E,) zeros, whose static length E is how many unpenalized features (D_j = 0) besides one
    # ``woodbury_solve`` may eliminate by a Schur complement; None: none (that code is not
    # compiled: 1 s of a p >> n binomial program's compile time).
    eliminate: jax.Array | None = None


def low_rank_hessian(cols_t, v, extra=None, base_diagonal=None, kernel: SlotKernel | None = None,
                     eliminate=None) -> LowRankHessian:
    """``LowRankHessian`` of ``cols_t diag(v) cols_t^T + diag(extra)`` (``extra`` None: zeros).
    ``base_diagonal`` (m,): the diagonal of ``cols_t diag(v) cols_t^T`` where the caller has it
    (a dense ``H`` of the same weights, or the undamped problem's); otherwise it is computed
    here (m n flops), once for every solve, sweep and test that reads it."""
    if base_diagonal is None:
        base_diagonal = jnp.matmul(cols_t * cols_t, v, precision=_HIGHEST)
    if extra is None:
        extra = jnp.zeros_like(base_diagonal)
    return LowRankHessian(cols_t, v, extra, base_diagonal + extra, kernel, eliminate)


class QuadProblem(NamedTuple):
    """Subproblem data. ``H``: (m, m), symmetric; ``l1``, ``l2``, ``lo``, ``hi``: (m,);
    ``lowrank``: ``H`` again as a ``LowRankHessian``, or None. ``H`` None (matrix-free):
    ``lowrank`` is the only form of the Hessian, and no (m, m) matrix is formed (products,
    diagonal and sweeps go through the columns)."""

    H: jax.Array
    l1: jax.Array
    l2: jax.Array
    lo: jax.Array
    hi: jax.Array
    lowrank: LowRankHessian | None = None


class QuadSolution(NamedTuple):
    b: jax.Array
    gr: jax.Array
    n_iter: jax.Array
    converged: jax.Array


def compaction_order(mask):
    """The permutation that lists the indices where ``mask`` (m,) is true first, then the
    others, each in increasing order: ``argsort(~mask, stable=True)`` as a running count and a
    scatter. XLA:CPU's sort takes 15-22 us at m = 129 (up to 340 sorts in a logistic path);
    this takes 2-3 us (toy loop, by hand)."""
    m = mask.shape[0]
    flags = mask.astype(jnp.int32)
    before = jnp.cumsum(flags) - flags  # true entries at lower indices
    positions = jnp.arange(m, dtype=jnp.int32)
    target = jnp.where(mask, before, jnp.sum(flags) + positions - before)
    return jnp.zeros(m, jnp.int32).at[target].set(positions, unique_indices=True)


def _objective_change(qp: QuadProblem, b, gr, delta, H_delta):
    """Change of the subproblem objective when ``b -> b + delta`` (``gr = g - H b``,
    ``H_delta = H delta``)."""
    smooth = -jnp.dot(gr, delta) + 0.5 * jnp.dot(delta, H_delta)
    pen = penalties.penalty_value(b + delta, qp.l1, qp.l2) - penalties.penalty_value(b, qp.l1, qp.l2)
    return smooth + pen


def _cholesky_loop(A):
    """Lower Cholesky factor by a loop of matrix-vector products (pure XLA, no LAPACK call)."""
    n = A.shape[0]
    rows = jnp.arange(n)

    def body(j, L):
        v = A[:, j] - jnp.matmul(L, L[j, :], precision=_HIGHEST)
        return L.at[:, j].set(jnp.where(rows >= j, v / jnp.sqrt(v[j]), 0.0))

    return jax.lax.fori_loop(0, n, body, jnp.zeros_like(A))


def _cho_solve_loop(L, rhs):
    """Solve ``L L^T d = rhs`` by forward and back substitution loops."""
    n = rhs.shape[0]

    def forward(i, x):
        return x.at[i].set((rhs[i] - jnp.dot(L[i], x)) / L[i, i])

    z = jax.lax.fori_loop(0, n, forward, jnp.zeros_like(rhs))

    def backward(k, x):
        i = n - 1 - k
        return x.at[i].set((z[i] - jnp.dot(L[:, i], x)) / L[i, i])

    return jax.lax.fori_loop(0, n, backward, jnp.zeros_like(rhs))


def _lapack_cholesky(M):
    """Lower Cholesky factor of the symmetric ``M`` (LAPACK); NaN everywhere when ``M`` is not
    positive definite. ``jnp.linalg.cholesky`` would first symmetrize ``M`` (``(M + M^T) / 2``,
    a strided pass over m^2 numbers: 6 ms of a 15 ms factorization at m = 1001). ``M^T`` (the
    same matrix) is what is factorized: LAPACK takes column-major input, which for ``M^T`` is
    ``M``'s own row-major storage, so XLA passes it without a transposing copy."""
    return jax.lax.linalg.cholesky(M.T, symmetrize_input=False)


def _factor_ok(chol):
    """Whether a factorization succeeded: a failed one (or one of non-finite input) has a
    non-finite diagonal, so m numbers are checked rather than m^2."""
    return jnp.all(jnp.isfinite(jnp.diagonal(chol)))


def _retry_with_jitter(attempt, top, dtype, template):
    """``attempt(shift) -> (value, ok)`` with ``shift = jitter * top`` (``top``: the largest
    diagonal entry of the free block) for the relative jitters of ``_regularized_solve``, the
    larger one only when the first result is not ``ok``. ``template``: zeros shaped like
    ``value`` (given rather than found by ``jax.eval_shape``, which traced ``attempt`` a second
    time: a quarter of the path program's tracing).

    One loop (usually one trip) rather than a call and a conditional retry: each call site
    of the factorization is then compiled once, not twice (compile time of the program).
    """
    top = top + jnp.finfo(dtype).tiny
    jitters = jnp.asarray([max(1e-12, 8.0 * float(jnp.finfo(dtype).eps)), 1e-6], dtype)

    def body(carry):
        k, _, _ = carry
        value, ok = attempt(jitters[k] * top)
        return k + 1, value, ok

    init = (jnp.zeros((), jnp.int32), template, jnp.zeros((), bool))
    _, value, ok = jax.lax.while_loop(lambda c: ~c[2] & (c[0] < jitters.shape[0]), body, init)
    return value, ok


def _regularized_solve(M, rhs, free, pure_linalg=False):
    """Solve ``M d = rhs`` by Cholesky with a relative jitter of max(1e-12, 8 eps) (in float32
    a jitter below eps is no jitter at all: nearly separable logistic Newton systems then
    factorize as numerically singular and the path stalls), retried with 1e-6
    (Levenberg-Marquardt style) when rounding makes a nearly singular ``M`` indefinite, as
    happens on (nearly) separable logistic data. The jittered direction is still a descent
    direction; the caller checks that the objective decreases.

    ``pure_linalg`` factorizes with XLA loops instead of LAPACK custom calls. Batched
    (vmapped) programs use it: on XLA:CPU (jaxlib 0.10.2) the batched LAPACK Cholesky inside
    nested while loops intermittently deadlocks (all worker threads idle, the result never
    ready); the loop version does not, and for the small working-set systems costs little.
    """
    eye = jnp.eye(M.shape[0], dtype=M.dtype)
    top = jnp.max(jnp.where(free, jnp.diagonal(M), 0.0))
    d, ok = _retry_with_jitter(lambda shift: _cholesky_solve(M + shift * eye, rhs, pure_linalg), top, M.dtype, jnp.zeros_like(rhs))
    return jnp.where(free & ok, d, 0.0), ok


def _masked_system(H, l2, free, shift=None):
    """``(H + diag(l2))`` on the free block, the identity elsewhere, plus ``shift * I``
    (the jitter) when given: the matrix every Newton system factorizes. (k, k) from (k, k)."""
    eye = jnp.eye(H.shape[0], dtype=H.dtype)
    M = jnp.where(free[:, None] & free[None, :], H + jnp.diag(l2), eye)
    return M if shift is None else M + shift * eye


def _cholesky_solve(M, rhs, pure_linalg=False):
    """``(d, ok)`` with ``M d = rhs`` by one Cholesky factorization; ``ok``: it succeeded."""
    if pure_linalg:
        chol = _cholesky_loop(M)
        d = _cho_solve_loop(chol, rhs)
    else:
        chol = _lapack_cholesky(M)
        d = jax.scipy.linalg.cho_solve((chol, True), rhs)
    return d, _factor_ok(chol) & jnp.all(jnp.isfinite(d))


def _rows(mask, r):
    """``mask`` (m,) broadcast against ``r`` (m,) or (m, k) by rows."""
    return mask if r.ndim == 1 else mask[:, None]


def _factor_solve(chol, ok, rhs, free, pure_linalg=False):
    """``d`` with ``L L^T d = rhs`` on ``free`` (0 elsewhere, and 0 when the factor failed);
    ``rhs`` (m,) or (m, k) (``free`` (m,) masks the rows)."""
    if pure_linalg:
        d = _cho_solve_loop(chol, rhs) if rhs.ndim == 1 else jax.vmap(lambda r: _cho_solve_loop(chol, r), 1, 1)(rhs)
    else:
        d = jax.scipy.linalg.cho_solve((chol, True), rhs)
    return jnp.where(_rows(free, rhs) & ok & jnp.all(jnp.isfinite(d)), d, 0.0)


def hessian_diagonal(qp: QuadProblem):
    """``diag(H)`` (m,), from ``H`` or, matrix-free, the ``LowRankHessian``'s."""
    return jnp.diagonal(qp.H) if qp.H is not None else qp.lowrank.diag


def hessian_product(qp: QuadProblem, d):
    """``H d`` (m,): m^2 flops from ``H``, 2 n m matrix-free."""
    if qp.H is not None:
        return jnp.matmul(qp.H, d, precision=_HIGHEST)
    lr = qp.lowrank
    return jnp.matmul(lr.cols_t, lr.v * jnp.matmul(d, lr.cols_t, precision=_HIGHEST), precision=_HIGHEST) + lr.extra * d


def column_block_solve(lowrank: LowRankHessian, l2, rhs, free):
    """``(d, ok)`` with ``(C_F^T V C_F + diag(extra_F + l2_F)) d_F = rhs_F`` (0 elsewhere),
    the free block formed from the free columns alone: they are gathered to the front and the
    block is built at the smallest size of ``_system_sizes(m)`` that holds them (n size^2
    flops; sizes below ``woodbury_min_free``, then m), for matrix-free problems where
    ``woodbury_solve`` does not apply (too few free coordinates, or a lasso's ``D = 0``).
    Jitter and retry as in ``_regularized_solve``. ``rhs`` (m,) or (m, r)."""
    cols_t, v = lowrank.cols_t, lowrank.v
    m, n = cols_t.shape
    dtype = rhs.dtype
    # Sizes from woodbury_min_free on serve only systems the n-dimensional form could not
    # take (a lasso's, or two unpenalized coordinates): m alone covers them (compile time).
    sizes = tuple(size for size in _system_sizes(m) if size < woodbury_min_free(n, m)) + (m,)
    order = compaction_order(free)
    f = free[order]
    D = lowrank.extra + l2

    def at_size(size):
        def branch(shift):
            block, fb = order[:size], f[:size]
            Cb = cols_t[block]
            M = jnp.matmul(Cb * v[None, :], Cb.T, precision=_HIGHEST) + jnp.diag(D[block])
            d, ok = _cholesky_solve(_masked_system(0.5 * (M + M.T), jnp.zeros(size, dtype), fb, shift),
                                    jnp.where(_rows(fb, rhs), rhs[block], 0.0))
            return jnp.zeros(rhs.shape, dtype).at[block].set(d), ok

        return branch

    which = jnp.searchsorted(jnp.asarray(sizes), jnp.sum(free))
    top = jnp.max(jnp.where(free, lowrank.diag + l2, 0.0))
    d, ok = _retry_with_jitter(lambda shift: jax.lax.switch(which, [at_size(size) for size in sizes], shift), top, dtype,
                               jnp.zeros_like(rhs))
    return jnp.where(_rows(free, rhs) & ok, d, 0.0), ok


def woodbury_min_free(n: int, m: int) -> int:
    """Static: the number of free coordinates from which ``woodbury_solve`` replaces the
    Cholesky factorization of the free block (k^3 / 3 flops against n^2 m for the n x n
    system). Never below n + 1: with fewer free coordinates than rows the free block is the
    smaller system."""
    return max(n + 1, math.ceil((n * n * m) ** (1.0 / 3.0)))


def _woodbury_compiled(m: int, n: int) -> bool:
    """Static: dense-Hessian programs hold the n-dimensional solve only with at least twice as
    many slots as rows. Below that it serves few systems (its threshold is above n) and its
    branches cost compile time: binomial 100 x 1000 (m = 129), first call 3.4 s with them
    against 2.7 s without (``bench_compile.py``, twenty-fourth session)."""
    return 2 * n <= m


# Free coordinates whose ``D_j`` is not clearly positive (unpenalized features) that
# ``woodbury_solve`` eliminates by a Schur complement, besides the one it eliminates exactly,
# in programs built for them (``LowRankHessian.eliminate``).
WOODBURY_ELIMINATED = 8


def _unpenalized_free(lowrank: LowRankHessian, D, free):
    """Free coordinates whose ``D_j`` is not clearly positive: below ``sqrt(eps)`` times their
    curvature ``lowrank.diag`` (the intercept, unpenalized features, lasso coordinates)."""
    return free & (D <= math.sqrt(float(jnp.finfo(D.dtype).eps)) * lowrank.diag)


def woodbury_usable(lowrank: LowRankHessian, D, free):
    """Whether ``woodbury_solve`` applies to ``(C_F^T diag(v) C_F + diag(D_F))``: enough free
    coordinates (``woodbury_min_free``) and at most ``1 + E`` whose ``D_j`` is not clearly
    positive (``_unpenalized_free``; they are eliminated exactly), ``E`` the length of
    ``lowrank.eliminate`` (0 without). Static n >= m: never."""
    m, n = lowrank.cols_t.shape
    if n >= m:
        return jnp.zeros((), bool)
    small = _unpenalized_free(lowrank, D, free)
    allowed = 1 + (0 if lowrank.eliminate is None else lowrank.eliminate.shape[0])
    return (jnp.sum(free) >= woodbury_min_free(n, m)) & (jnp.sum(small) <= allowed)


def matrix_free_solve(lowrank: LowRankHessian, l2, rhs, free):
    """``(d, ok)`` with ``(C_F^T V C_F + diag(extra_F + l2_F)) d_F = rhs_F`` for a problem held
    only as columns and weights: in the n-dimensional form where ``woodbury_usable``, else
    from the gathered free columns (``column_block_solve``). ``rhs`` (m,) or (m, r)."""
    D = l2 + lowrank.extra
    return jax.lax.cond(woodbury_usable(lowrank, D, free),
                        lambda: woodbury_solve(lowrank, D, rhs, free),
                        lambda: column_block_solve(lowrank, l2, rhs, free))


def woodbury_solve(lowrank: LowRankHessian, D, rhs, free):
    """``d`` with ``(C_F^T V C_F + diag(D_F)) d_F = rhs_F`` on the free set ``F`` (0 elsewhere),
    in the n-dimensional form: ``(d, ok)``; ``rhs`` (m,) or (m, r).

    At most one free coordinate whose ``D_j`` is not clearly positive (the intercept):
    ``_woodbury_one``. More (unpenalized features; up to ``1 + E`` in a ``lowrank`` built with
    ``eliminate`` of length E, see ``woodbury_usable``): all but the one of smallest
    ``D_j / |a_j|^2`` (the set ``S``, ``a_j = V^1/2 c_j``) are eliminated by their Schur
    complement. With
    ``M = (A^T A + diag(D))_PP`` on the other free coordinates ``P`` (solved by
    ``_woodbury_one``, k more right-hand sides ``H_PS = A_P^T A_S``):

        d_S = (H_SS + D_S - H_SP M^-1 H_PS)^-1 (rhs_S - H_SP M^-1 rhs_P),
        d_P = M^-1 (rhs_P - H_PS d_S).
    """
    if lowrank.eliminate is None:
        return _woodbury_one(lowrank, D, rhs, free)
    small = _unpenalized_free(lowrank, D, free)
    return jax.lax.cond(jnp.sum(small) <= 1, lambda: _woodbury_one(lowrank, D, rhs, free),
                        lambda: _woodbury_blocked(lowrank, D, rhs, free, small))


def _woodbury_blocked(lowrank: LowRankHessian, D, rhs, free, small):
    """``woodbury_solve`` with several free coordinates of ``D_j`` not clearly positive
    (``small``): the Schur complement of up to ``E`` (``lowrank.eliminate``) of them."""
    cols_t, v = lowrank.cols_t, lowrank.v
    m = cols_t.shape[0]
    norms = lowrank.diag - lowrank.extra  # |a_j|^2
    ratio = jnp.where(free, D / jnp.where(norms > 0, norms, 1.0), jnp.inf)
    kept = jnp.arange(m) == jnp.argmin(ratio)  # eliminated exactly by _woodbury_one
    S_idx = jnp.nonzero(small & ~kept, size=lowrank.eliminate.shape[0], fill_value=m)[0]
    valid = S_idx < m
    safe = jnp.where(valid, S_idx, 0)
    in_S = jnp.zeros(m, bool).at[S_idx].set(True, mode="drop")
    P = free & ~in_S
    root_v = jnp.sqrt(v)
    A_S = jnp.where(valid[:, None], root_v[None, :] * cols_t[safe], 0.0)  # (k, n)
    H_S = jnp.matmul(cols_t, (root_v[None, :] * A_S).T, precision=_HIGHEST)  # (m, k): a_j . a_s
    rhs2 = rhs if rhs.ndim == 2 else rhs[:, None]
    r = rhs2.shape[1]
    H_PS = jnp.where(P[:, None], H_S, 0.0)
    solved, ok = _woodbury_one(lowrank, D, jnp.concatenate([rhs2, H_PS], axis=1), P)
    Y_r, Y_S = solved[:, :r], solved[:, r:]
    sigma = (jnp.matmul(A_S, A_S.T, precision=_HIGHEST) + jnp.diag(jnp.where(valid, D[safe], 1.0))
             - jnp.matmul(H_PS.T, Y_S, precision=_HIGHEST))
    sigma = jnp.where(valid[:, None] & valid[None, :], sigma, jnp.eye(S_idx.shape[0], dtype=sigma.dtype))
    factor = jnp.linalg.cholesky(0.5 * (sigma + sigma.T))
    r_S = jnp.where(valid[:, None], rhs2[safe], 0.0)
    d_S = jax.scipy.linalg.cho_solve((factor, True), r_S - jnp.matmul(H_PS.T, Y_r, precision=_HIGHEST))
    d = (Y_r - jnp.matmul(Y_S, d_S, precision=_HIGHEST)).at[S_idx].add(d_S, mode="drop")
    ok = ok & jnp.all(jnp.isfinite(d))
    d = jnp.where(free[:, None] & ok, d, 0.0)
    return (d if rhs.ndim == 2 else d[:, 0]), ok


def _woodbury_one(lowrank: LowRankHessian, D, rhs, free):
    """``woodbury_solve`` with at most one free coordinate whose ``D_j`` is not clearly
    positive, which it eliminates exactly.

    Shapes: ``lowrank.cols_t`` (m, n) holds the columns ``c_j`` as rows, ``lowrank.v`` (n,)
    the weights (``lowrank.extra`` is not used: the caller folds it into ``D``); ``D``, ``free``
    (m,); ``rhs`` (m,) or (m, r).

    With ``a_j = V^1/2 c_j``, the free coordinate ``u`` of smallest ``D_j / |a_j|^2`` (the
    intercept or an unpenalized feature, ``D_u`` possibly 0) is eliminated exactly:
    ``d_u = (rhs_u - a_u . z) / (|a_u|^2 + D_u)`` with ``z = sum_{j in P} a_j d_j`` over the
    other free coordinates ``P``, whose system becomes ``(A R R A^T + diag(D_P)) d_P = rhs~``
    with ``R = I - beta q q^T`` (``q = a_u / |a_u|``, ``beta = 1 - sqrt(D_u / (|a_u|^2 + D_u))``,
    so ``R^2 = I - a_u a_u^T / (|a_u|^2 + D_u)``) and ``rhs~_j = rhs_j - (a_j . a_u) rhs_u /
    (|a_u|^2 + D_u)``. With ``F_j = R a_j / sqrt(D_j)`` (Woodbury, every ``D_P`` > 0):

        d_P = D^-1/2 (y - F (I_n + F^T F)^-1 F^T y),   y = D^-1/2 rhs~,

    n^2 m flops for ``F^T F`` and n^3 / 3 for its Cholesky factor, against k^3 / 3 for a
    factorization of the k x k free block: the cheaper one once k exceeds about
    ``(n^2 m)^(1/3)`` (``woodbury_min_free``). Callers check ``woodbury_usable`` first. With
    a ``lowrank.kernel`` that fits (``_kernel_product``: ridge paths, elastic-net working sets
    whose slots are nearly all non-zero), ``F^T F`` costs n^2 times a few, and the solve is
    four passes over ``cols_t``.
    """
    cols_t, v = lowrank.cols_t, lowrank.v
    dtype = cols_t.dtype
    n = cols_t.shape[1]
    root_v = jnp.sqrt(v)
    # Products with A = C V^1/2 and F go through cols_t (four passes over it, no (m, n)
    # temporaries): F^T y = V^1/2 C^T (s y) - q (gamma . s y) and F x = s (C V^1/2 x - gamma (q . x)),
    # with s = D_P^-1/2 and gamma_j = beta (q . a_j).
    norms = lowrank.diag - lowrank.extra  # |a_j|^2
    ratio = jnp.where(free, D / jnp.where(norms > 0, norms, 1.0), jnp.inf)
    first = jnp.argmin(ratio)
    has_u = jnp.any(free)
    u = free & (jnp.arange(D.shape[0]) == first)
    P = free & ~u
    a_u = jnp.where(has_u, root_v * cols_t[first], 0.0)
    nu = jnp.sum(a_u * a_u)
    D_u = jnp.where(has_u, D[first], 0.0)
    total = nu + D_u
    safe_total = jnp.where(total > 0, total, 1.0)
    root_nu = jnp.sqrt(jnp.where(nu > 0, nu, 1.0))
    q = a_u / root_nu
    beta = 1.0 - jnp.sqrt(D_u / safe_total)
    Aa = jnp.matmul(cols_t, root_v * a_u, precision=_HIGHEST)  # (m,): a_j . a_u
    gamma = beta / root_nu * Aa
    r_u = jnp.sum(jnp.where(_rows(u, rhs), rhs, 0.0), axis=0)
    rhs_p = rhs - (Aa / safe_total)[:, None] * r_u if rhs.ndim == 2 else rhs - Aa / safe_total * r_u
    scale = jnp.where(P, jax.lax.rsqrt(jnp.where(P, D, 1.0)), 0.0)

    def fresh_product():
        F = scale[:, None] * (cols_t * root_v[None, :] - gamma[:, None] * q[None, :])
        return jnp.matmul(F.T, F, precision=_HIGHEST)

    if lowrank.kernel is None:
        FtF = fresh_product()
    else:
        fits, from_kernel = _kernel_product(lowrank, D, P, root_v, q, beta)
        FtF = jax.lax.cond(fits, from_kernel, fresh_product)
    K = jnp.eye(n, dtype=dtype) + FtF
    chol = _lapack_cholesky(K)
    y = _rows(scale, rhs_p) * rhs_p
    sy = _rows(scale, y) * y
    Fty = jnp.matmul(sy.T, cols_t, precision=_HIGHEST).T  # C^T (s y): (n,) or (n, r)
    Fty = (root_v[:, None] * Fty - q[:, None] * jnp.matmul(gamma, sy, precision=_HIGHEST)[None, :]
           if rhs.ndim == 2 else root_v * Fty - q * jnp.dot(gamma, sy, precision=_HIGHEST))
    inner = jax.scipy.linalg.cho_solve((chol, True), Fty)
    if rhs.ndim == 2:
        F_inner = jnp.matmul(cols_t, root_v[:, None] * inner, precision=_HIGHEST) - gamma[:, None] * jnp.matmul(q, inner, precision=_HIGHEST)[None, :]
    else:
        F_inner = jnp.matmul(cols_t, root_v * inner, precision=_HIGHEST) - gamma * jnp.dot(q, inner, precision=_HIGHEST)
    d_p = _rows(scale, y) * (y - _rows(scale, F_inner) * F_inner)
    z = jnp.matmul(d_p.T, cols_t, precision=_HIGHEST).T  # C^T d_p
    z = root_v[:, None] * z if rhs.ndim == 2 else root_v * z  # A^T d_p: (n,) or (n, r)
    d_u = (r_u - jnp.matmul(a_u, z, precision=_HIGHEST)) / safe_total
    d = jnp.where(_rows(u, rhs), d_u, d_p)
    ok = _factor_ok(chol) & jnp.all(jnp.isfinite(d)) & (~jnp.any(u) | (total > 0))
    return jnp.where(_rows(free, rhs) & ok, d, 0.0), ok


# Slots in which a free set may differ from a SlotKernel's mask (the eliminated coordinate and
# slots at zero subtracted, newly free slots added) in ``_kernel_product``; with more, F^T F is
# formed afresh. 64 rather than 16: p >> n paths at l1_ratio 0.1 ran 0.89-0.96x as long (A/B,
# twenty-fifth session).
KERNEL_DOWNDATE = 64


def _kernel_product(lowrank: LowRankHessian, D, P, root_v, q, beta):
    """``(fits, thunk)`` (``root_v``: ``sqrt(lowrank.v)``): whether ``woodbury_solve``'s ``F^T F = R V^1/2 (sum_{j in P} c_j c_j^T
    / D_j) V^1/2 R`` can come from ``lowrank.kernel`` (``R = I - beta q q^T``), and a thunk
    that forms it so. It fits when the kernel is valid, ``P`` differs from its mask in at
    most ``KERNEL_DOWNDATE`` slots (``u`` and slots at zero subtracted, slots freed since it
    was built added: ``C_Z^T diag(+-1 / unit) C_Z``), every ``P`` slot is penalized and
    ``D_P = lam2 * unit_P`` for one ``lam2 > 0`` (no damping). n^2 (KERNEL_DOWNDATE + 4) flops
    against n^2 m."""
    kern = lowrank.kernel
    eps = jnp.finfo(D.dtype).eps
    penalized = kern.unit > 0
    unit = jnp.where(penalized, kern.unit, 1.0)
    lam2 = jnp.max(jnp.where(P, D / unit, 0.0))
    changed = P ^ kern.mask
    proportional = jnp.all(jnp.where(P, penalized & (jnp.abs(D - lam2 * unit) <= 16 * eps * D), True))
    fits = kern.valid & (lam2 > 0) & proportional & (jnp.sum(changed) <= KERNEL_DOWNDATE)

    def thunk():
        cols_t = lowrank.cols_t
        m = cols_t.shape[0]
        order = compaction_order(changed)
        sign = jnp.where(P, 1.0, -1.0)

        def update(size):
            def rank_k():
                Z = order[:size]
                Cz = cols_t[Z] * jnp.where(changed[Z], jax.lax.rsqrt(unit[Z]), 0.0)[:, None]
                return kern.gram + jnp.matmul((Cz * sign[Z][:, None]).T, Cz, precision=_HIGHEST)

            return rank_k

        # Mostly the eliminated coordinate alone (ridge): 16 rows; up to KERNEL_DOWNDATE else.
        small = min(16, KERNEL_DOWNDATE, m)
        G = jax.lax.cond(jnp.sum(changed) <= small, update(small), update(min(KERNEL_DOWNDATE, m)))
        M0 = G * (root_v[:, None] * root_v[None, :]) / lam2
        Mq = jnp.matmul(M0, q, precision=_HIGHEST)
        qMq = jnp.dot(q, Mq, precision=_HIGHEST)
        outer = q[:, None] * Mq[None, :]
        return M0 - beta * (outer + outer.T) + (beta * beta * qMq) * (q[:, None] * q[None, :])

    return fits, thunk


def _system_sizes(m: int) -> tuple[int, ...]:
    """Static sizes of the Newton systems: ``m`` alone up to 128 slots, else 16, 64, 256, ...
    below ``m``, one size between the last of those and ``m`` (their geometric mean, rounded
    up to a multiple of 16), then ``m``. Each size is a compiled branch: a factor of 4 keeps
    compilation time down. Measured on 1000 x 100 paths (m = 101), gathering the free block
    cost 20% more than factorizing at full size; on 900 x 200 (m = 201) it saved 40%. The size
    in between (96 at m = 129, where p >> n paths end with 70-80 non-zeros) made p >> n paths
    7-14% faster (in-process A/B, binomial and Gaussian); its compile cost is in
    benchmarks/README.md (thirteenth session). Above 200 slots (elastic-net paths on p >> n
    data: 257 slots at l1_ratio 0.5 on binomial 100 x 1000, 513 at 0.1) one more size halfway
    between that one and ``m`` (208 at m = 257): 4-10% faster on those paths (in-process A/B,
    twenty-third session)."""
    if m <= 128:  # a full factorization costs < 50 us: less than gathering the free block
        return (m,)
    sizes = []
    size = 16
    while size * 2 <= m:
        sizes.append(size)
        size *= 4
    between = 16 * math.ceil(math.sqrt(sizes[-1] * m) / 16)
    if sizes[-1] < between < m:
        sizes.append(between)
    upper = 16 * math.ceil((sizes[-1] + m) / 32)
    if m > 200 and upper + 32 < m:
        sizes.append(upper)
    return tuple(sizes) + (m,)


def _refinement_sizes(m: int) -> tuple[int, ...]:
    """``_system_sizes(m)`` without the sizes under 64, for ``refined_free_solve``. Each of its
    branches holds its own copy of the refinement (the caller's exact products): 0.11 s of
    compile per branch on binomial 100 x 1000, against 0.03 s per branch of the Newton step's.
    The 16 branch would serve only the first lambdas of a path, where a 64 x 64 factorization
    costs ~10 us more (eighteenth session, benchmarks/README.md)."""
    return tuple(size for size in _system_sizes(m) if size >= 64 or size == m)


def _free_block_solve(H, l2, rhs, free, pure_linalg, lowrank: LowRankHessian | None = None):
    """Solve ``(H_FF + diag(l2_F)) d_F = rhs_F`` on the free set ``F``; ``d`` is 0 elsewhere.

    With ``lowrank`` (``H`` as columns and weights) and more free coordinates than
    ``woodbury_min_free``, the system is solved in its n-dimensional form
    (``woodbury_solve``) instead; not in vmapped programs (``pure_linalg``), where both sides
    of the conditional would run.

    The free coordinates are gathered to the front and the system is solved at the smallest
    static size in ``_system_sizes(m)`` that holds them (``lax.switch``: only that branch
    runs), so a path whose working set has 20 free coefficients out of 200 slots factorizes
    64 x 64 matrices rather than 200 x 200 ones; the full size masks instead of gathering.
    The jitter's retry loop (``_regularized_solve``) is outside the switch: one copy of it in
    the program. Vmapped programs (``pure_linalg``) solve at full size: under ``vmap`` every
    branch of a switch would run.
    """
    if H is None:
        return matrix_free_solve(lowrank, l2, rhs, free)
    if lowrank is not None and not pure_linalg and _woodbury_compiled(*lowrank.cols_t.shape):
        D = l2 + lowrank.extra
        return jax.lax.cond(woodbury_usable(lowrank, D, free),
                            lambda: woodbury_solve(lowrank, D, rhs, free),
                            lambda: _free_block_solve(H, l2, rhs, free, pure_linalg))
    m = rhs.shape[0]
    dtype = rhs.dtype
    sizes = _system_sizes(m)
    if pure_linalg or len(sizes) == 1:
        return _regularized_solve(_masked_system(H, l2, free), jnp.where(free, rhs, 0.0), free, pure_linalg)
    order = compaction_order(free)
    f = free[order]

    def solve_full(shift):
        return _cholesky_solve(_masked_system(H, l2, free, shift), jnp.where(free, rhs, 0.0))

    def solve_at(size):
        def branch(shift):
            block, fb = order[:size], f[:size]
            d, ok = _cholesky_solve(_masked_system(H[block][:, block], l2[block], fb, shift), jnp.where(fb, rhs[block], 0.0))
            return jnp.zeros(m, dtype).at[block].set(d), ok

        return branch

    which = jnp.searchsorted(jnp.asarray(sizes), jnp.sum(free))
    top = jnp.max(jnp.where(free, jnp.diagonal(H) + l2, 0.0))
    d, ok = _retry_with_jitter(
        lambda shift: jax.lax.switch(which, [solve_at(size) for size in sizes[:-1]] + [solve_full], shift), top, dtype,
        jnp.zeros_like(rhs))
    return jnp.where(free & ok, d, 0.0), ok


def refined_free_solve(H, l2, rhs, free, product, refine: int, pure_linalg=False, extra_rhs=None,
                       exact_lowrank: LowRankHessian | None = None):
    """``d`` with ``A_FF d_F = rhs_F`` on the free set ``F`` (0 elsewhere), where ``product(d)``
    gives ``A d`` exactly and ``H + diag(l2)`` approximates ``A``: one solve with the Cholesky
    factor of ``(H + diag(l2))_FF``, then ``refine`` (static) steps of iterative refinement
    ``d += (H + diag(l2))_FF^-1 (rhs - A d)_F``, which shrink the error of the approximation
    geometrically. A failed factorization gives ``d = 0``. With ``extra_rhs`` (m,), returns
    ``(d, t)`` with ``t = (H + diag(l2))_FF^-1 extra_rhs_F`` (not refined), solved in the same
    triangular solves as a second right-hand-side column.

    Shapes: ``H`` (m, m); ``l2``, ``rhs``, ``free`` (m,); ``product``: (m,) -> (m,).

    As in ``_free_block_solve``, the free block is factorized at the smallest size of
    ``_refinement_sizes(m)`` that holds it (LAPACK took 15 us for a 64 x 64 Cholesky, 87 us at
    m = 129), the free coordinates permuted to the front. The factorization, the solves and
    the refinement's products all run inside the branch of that size: a factor handed out
    of the branch would have to be padded to (m, m) and sliced back for each solve.

    ``exact_lowrank``: ``A - diag(l2)`` as columns and weights (``LowRankHessian``). Where
    ``woodbury_usable``, both right-hand sides are solved exactly in the n-dimensional form
    (``woodbury_solve``, no refinement); not in vmapped programs (``pure_linalg``).
    """
    if exact_lowrank is not None and not pure_linalg and (H is None or _woodbury_compiled(*exact_lowrank.cols_t.shape)):
        D = l2 + exact_lowrank.extra
        both = rhs if extra_rhs is None else jnp.stack([rhs, extra_rhs], axis=1)

        def split(d):
            return d if extra_rhs is None else (d[:, 0], d[:, 1])

        def exact():
            return split(woodbury_solve(exact_lowrank, D, both, free)[0])

        if H is None:  # matrix-free: exact either way
            return split(matrix_free_solve(exact_lowrank, l2, both, free)[0])
        return jax.lax.cond(woodbury_usable(exact_lowrank, D, free), exact,
                            lambda: refined_free_solve(H, l2, rhs, free, product, refine, pure_linalg, extra_rhs))
    m = rhs.shape[0]
    dtype = rhs.dtype
    sizes = _refinement_sizes(m)
    zeros = jnp.zeros(m, dtype)
    template = zeros if extra_rhs is None else (zeros, zeros)

    def refined(solve):
        """The refinement with ``solve(r)`` (r: (m,) or (m, 2)) applying the factor's inverse."""
        # The first trip solves for rhs itself: one call site of the solve. Its product(0) = 0
        # is skipped: on n >> p data each product is two passes over X (a ninth of a
        # binomial 5000 x 100 path's time).
        def residual(k, d):
            return rhs - jax.lax.cond(k > 0, product, jnp.zeros_like, d)

        if extra_rhs is None:
            return jax.lax.fori_loop(0, refine + 1, lambda k, d: d + solve(residual(k, d)), zeros)

        def trip(k, carry):
            d, _ = carry
            both = solve(jnp.stack([residual(k, d), extra_rhs], axis=1))
            return d + both[:, 0], both[:, 1]

        return jax.lax.fori_loop(0, refine + 1, trip, template)

    def at_full(shift):
        M = _masked_system(H, l2, free, shift)
        chol = _cholesky_loop(M) if pure_linalg else _lapack_cholesky(M)
        ok = _factor_ok(chol)
        return refined(lambda r: _factor_solve(chol, ok, jnp.where(_rows(free, r), r, 0.0), free, pure_linalg)), ok

    top = jnp.max(jnp.where(free, jnp.diagonal(H) + l2, 0.0))
    if pure_linalg or len(sizes) == 1:
        return _retry_with_jitter(at_full, top, dtype, template)[0]
    order = compaction_order(free)
    f = free[order]

    def at_size(size):
        def branch(shift):
            block, fb = order[:size], f[:size]
            chol = _lapack_cholesky(_masked_system(H[block][:, block], l2[block], fb, shift))
            ok = _factor_ok(chol)

            def solve(r):
                solved = _factor_solve(chol, ok, jnp.where(_rows(fb, r), r[block], 0.0), fb)
                return jnp.zeros(r.shape, dtype).at[block].set(solved)

            return refined(solve), ok

        return branch

    # The full size needs no permutation (gathering the whole matrix costs more than it saves).
    # The jitter's retry loop is outside the switch: one copy of it in the program.
    which = jnp.searchsorted(jnp.asarray(sizes), jnp.sum(free))
    branches = [at_size(size) for size in sizes[:-1]] + [at_full]
    return _retry_with_jitter(lambda shift: jax.lax.switch(which, branches, shift), top, dtype, template)[0]


def _newton_step(qp: QuadProblem, b, gr, tol, allow_enter, pure_linalg=False):
    """Active-set Newton step, truncated at the first kink or projected (crossing coordinates
    set to zero), whichever lowers the objective more; kept only if it descends.

    Coordinates at zero that violate their optimality condition enter the free set with the
    sign of the direction that lowers the objective (a feature-sign step, Lee et al. 2007),
    so a new feature along the path joins in the same factorization rather than through a
    coordinate sweep. An entering coordinate whose Newton direction has the other sign is
    held at zero. Returns ``(b, gr, entered, stopped)``: ``entered`` when such a step
    descended, ``stopped`` when an accepted step stopped short of the Newton point (at least
    one coordinate left the free set). With ``allow_enter`` false the step is on the free set
    only.
    """
    free = (qp.lo < b) & (b < qp.hi) & ((b != 0) | (qp.l1 == 0))
    up = (gr > qp.l1) & (qp.hi > 0)
    down = (gr < -qp.l1) & (qp.lo < 0)
    # Only violations that matter at ``tol`` (the subproblem's stopping test): at lambda_max
    # the top feature violates by rounding alone.
    excess = jnp.where((b == 0) & (qp.l1 > 0) & (up | down), jnp.abs(gr) - qp.l1, 0.0)
    den = hessian_diagonal(qp) + qp.l2
    excess = jnp.where(excess * excess > tol * den, excess, 0.0)
    entering = (excess > 0) & (jnp.arange(b.shape[0]) == jnp.argmax(excess)) & allow_enter
    few = jnp.sum(excess > 0) <= _FEW_ENTERING
    sign = jnp.where(entering, jnp.where(up, 1.0, -1.0), jnp.sign(b)).astype(b.dtype)
    active = free | entering
    rhs = jnp.where(active, gr - qp.l2 * b - qp.l1 * sign, 0.0)
    d, ok = _free_block_solve(qp.H, qp.l2, rhs, active, pure_linalg, qp.lowrank)
    d = jnp.where(entering & (d * sign <= 0), 0.0, d)

    # Largest step keeping every free coordinate in its orthant and its bounds.
    target = b + d
    crosses_zero = (qp.l1 > 0) & (b != 0) & (jnp.sign(target) != sign)
    safe_d = jnp.where(d != 0, d, 1.0)
    t_zero = jnp.where(crosses_zero, -b / safe_d, jnp.inf)
    t_hi = jnp.where((d > 0) & jnp.isfinite(qp.hi), (qp.hi - b) / safe_d, jnp.inf)
    t_lo = jnp.where((d < 0) & jnp.isfinite(qp.lo), (qp.lo - b) / safe_d, jnp.inf)
    t_each = jnp.minimum(t_zero, jnp.minimum(t_hi, t_lo))
    t = jnp.clip(jnp.min(t_each), 0.0, 1.0)
    new_b = b + t * d
    hit = active & (t_each <= t)
    snapped = jnp.where(t_zero <= t, 0.0, jnp.where(t_hi <= t, qp.hi, qp.lo))
    new_b = jnp.where(hit & (t < 1.0), snapped, new_b)
    new_b = jnp.clip(new_b, qp.lo, qp.hi)
    # Second candidate when the step stops at a kink: the whole step, with every coordinate
    # that would cross zero set to zero (and bounds clipped). Where many coefficients leave at
    # once (large working sets near the end of a p > n path) the truncated step drops one per
    # factorization; this one drops them all. The better of the two is taken.
    projected = jnp.clip(jnp.where(crosses_zero, 0.0, target), qp.lo, qp.hi)
    delta_t, delta_p = new_b - b, jnp.where(t < 1.0, projected - b, 0.0)
    # Two matrix-vector products, not one with two columns: XLA:CPU runs the latter through a
    # slower generic dot (26-30 us against 8-9 at m = 101).
    H_delta_t = hessian_product(qp, delta_t)
    H_delta_p = hessian_product(qp, delta_p)
    change_t = _objective_change(qp, b, gr, delta_t, H_delta_t)
    change_p = _objective_change(qp, b, gr, delta_p, H_delta_p)
    use_p = (t < 1.0) & (change_p < change_t)
    delta = jnp.where(use_p, delta_p, delta_t)
    H_delta = jnp.where(use_p, H_delta_p, H_delta_t)
    change = jnp.where(use_p, change_p, change_t)
    accept = ok & (change <= 0.0)
    delta = jnp.where(accept, delta, 0.0)
    entered = few & accept & (change < 0.0) & jnp.any(entering & (delta != 0))
    stopped = accept & (t < 1.0) & jnp.any(delta != 0)
    return b + delta, gr - jnp.where(accept, H_delta, 0.0), entered, stopped


def _cd_sweep(qp: QuadProblem, b, gr, compact=False):
    """One cyclic coordinate-descent sweep from ``(b, gr)``; returns the new ``(b, gr)``.

    ``compact`` (static): visit only the coordinates that can move (``lo < hi``; empty
    working-set slots are fixed at zero), in their order. Worth its sort only where many slots
    are empty, i.e. working sets that fill along the path.
    """
    diag = hessian_diagonal(qp)
    m = b.shape[0]
    if compact:
        movable = qp.lo < qp.hi
        order = compaction_order(movable)
        count = jnp.sum(movable).astype(jnp.int32)
    else:
        order, count = None, m

    slot = jnp.arange(m)
    if qp.H is None:
        return _cd_sweep_columns(qp, b, gr, diag, order, count, slot)

    # Each coordinate is visited once per sweep, so its value before the update is the
    # sweep's input b[j]: the loop carries only the output, which it writes and never reads
    # (a carried b that was both read and updated cost XLA two copies of b per coordinate).
    def body(i, carry):
        b_out, gr = carry
        j = i if order is None else order[i]
        a = diag[j]
        bj = b[j]
        new = penalties.coordinate_minimizer(gr[j] + a * bj, a, qp.l1[j], qp.l2[j], qp.lo[j], qp.hi[j])
        delta = new - bj
        # Row j, not column j: H is symmetric and a row is contiguous (a strided column read
        # made a 1001-slot sweep 2.8x slower).
        gr = gr - qp.H[j] * delta
        return jnp.where(slot == j, new, b_out), gr

    return jax.lax.fori_loop(0, count, body, (b, gr))


def _cd_sweep_columns(qp: QuadProblem, b, gr, diag, order, count, slot):
    """``_cd_sweep`` of a matrix-free problem, in residual form (glmnet's naive updates): the
    loop carries ``z = C^T (b_out - b)`` (n,), a coordinate's gradient is ``gr_j - c_j . (v z)``
    (its own change is still 0 when it is visited, so ``extra`` does not enter) and its update
    adds ``c_j delta`` to ``z``: 2 n flops per coordinate instead of a row of ``H``. The
    gradient of every slot is brought up to date once, at the end (2 n m)."""
    lr = qp.lowrank
    v = lr.v

    def body(i, carry):
        b_out, z = carry
        j = i if order is None else order[i]
        a = diag[j]
        bj = b[j]
        c = lr.cols_t[j]
        g = gr[j] - jnp.dot(c, v * z, precision=_HIGHEST)
        new = penalties.coordinate_minimizer(g + a * bj, a, qp.l1[j], qp.l2[j], qp.lo[j], qp.hi[j])
        return jnp.where(slot == j, new, b_out), z + c * (new - bj)

    b_out, z = jax.lax.fori_loop(0, count, body, (b, jnp.zeros(v.shape, b.dtype)))
    gr = gr - jnp.matmul(lr.cols_t, v * z, precision=_HIGHEST) - lr.extra * (b_out - b)
    return b_out, gr


def subproblem_violation(qp: QuadProblem, b, gr):
    """Largest ``viol_j^2 / (H_jj + l2_j)``: objective decrease a coordinate step could give."""
    viol = penalties.kkt_violation(-gr, b, qp.l1, qp.l2, qp.lo, qp.hi)
    den = hessian_diagonal(qp) + qp.l2
    return jnp.max(jnp.where(den > 0, viol * viol / jnp.where(den > 0, den, 1.0), 0.0))


def solve_quadratic(qp: QuadProblem, b, gr, tol, max_iter, pure_linalg=False, feature_sign=True, compact_sweeps=False) -> QuadSolution:
    """Minimize the subproblem from ``(b, gr)`` until no coordinate can lower it by ``tol``.

    ``tol`` is in objective units; ``max_iter`` bounds the Newton + sweep iterations;
    ``pure_linalg`` (static) selects the LAPACK-free factorization (see ``_regularized_solve``);
    ``feature_sign`` (static) lets the worst violating coordinate enter through the first
    Newton step (see ``_newton_step``; in later steps it was measured to multiply the
    iterations near the end of p > n paths). The proximal-Newton (IRLS) subproblems do not use it: on nearly
    separable float32 data it multiplied their iterations. ``compact_sweeps`` (static): see
    ``_cd_sweep``.
    """

    def cond(state):
        b, gr, it, done = state
        return (~done) & (it < max_iter)

    def sweep(args):
        b, gr = args
        return _cd_sweep(qp, b, gr, compact_sweeps)

    def body(state):
        b, gr, it, _ = state
        allow_enter = feature_sign & (it == 0)
        b, gr, entered, stopped = _newton_step(qp, b, gr, tol, allow_enter, pure_linalg)
        done = subproblem_violation(qp, b, gr) <= tol
        # The sweep (sequential, m steps) is skipped after a descent step that brought in new
        # coordinates (the next Newton step re-examines the signs at a factorization's cost),
        # and after a step that stopped at a kink: the next Newton step, on the smaller free
        # set, goes on towards its minimizer. A sweep there re-admits the coordinate that just
        # left, while it still violates at the intermediate point, and the two alternate
        # (on nearly singular systems: 90 iterations instead of 5).
        b, gr = jax.lax.cond(done | entered | stopped, lambda args: args, sweep, (b, gr))
        return b, gr, it + 1, done

    init = (b, gr, jnp.zeros((), jnp.int32), jnp.zeros((), bool))
    b, gr, it, done = jax.lax.while_loop(cond, body, init)
    done = done | (subproblem_violation(qp, b, gr) <= tol)
    return QuadSolution(b, gr, it, done)
