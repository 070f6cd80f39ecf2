"""The exact Gaussian lasso path by homotopy (LARS with the lasso modification).

For the Gaussian family with ``l1_ratio = 1`` the solution ``b(lambda)`` of

    minimize_b  1/2 b^T G b - c^T b + lambda sum_j pf_j |b_j|

(``G = Xs^T W Xs`` (p, p), ``c = Xs^T W y``, standardized and centered as in
``working_set``) is piecewise linear in lambda. On the active set ``A`` with signs ``s``,
stationarity ``c_A - G_AA b_A = lambda pf_A s_A`` gives ``b_A(lambda - t) = b_A + t u_A`` with
``G_AA u_A = pf_A s_A``. The correlations ``c - G b`` move as ``- t G u``. A linear piece ends
at the first of

- an inactive feature reaching its boundary, ``|c_j - t a_j| = (lambda - t) pf_j``
  (``a = G u``): it enters with the sign of the boundary it reaches;
- an active coefficient reaching zero, ``t = -b_j / u_j``: it leaves (the lasso modification
  of LARS; Efron et al. 2004, Osborne et al. 2000).

Every grid lambda inside a piece is read off the line. Each piece costs a few products with
``G`` and with the inverse ``L^-1`` of the Cholesky factor of ``G_AA`` (kept in order of entry,
so that an entering feature adds one row to it, O(|A|^2); refactorized when one leaves),
instead of the Newton and coordinate steps of the working-set solver at each of the 100
lambdas. A lasso path on n > p data has about p pieces.

Each step also applies a Newton correction ``G_AA delta_A = c_A - G_AA b_A - lambda pf_A s_A``
(the same factor), so that rounding does not accumulate along the path. Every grid lambda is
then certified exactly as the working-set solver certifies it (relative duality gap and KKT
violation); the caller re-solves, with the working-set program, from the first lambda that
does not certify (a singular ``G_AA``, a path with more pieces than ``max_steps``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental.layout import Layout, with_layout_constraint

from jaxreg import design as dsg
from jaxreg import penalties
from jaxreg.families import Family
from jaxreg.solvers.quadratic import _factor_ok, _lapack_cholesky
from jaxreg.solvers.working_set import PathInputs, _dual_value, _null_intercept, standardized_bounds

__all__ = ["GramStatistics", "certify_gaussian", "full_slot_outputs", "gaussian_certificates", "gram_statistics",
           "run_lasso_homotopy", "run_lasso_homotopy_from_statistics", "working_response"]

_HIGHEST = jax.lax.Precision.HIGHEST
# A feature whose Schur complement in G_AA is below this many eps times its diagonal is
# (numerically) a combination of the active ones: the homotopy stops there and the
# working-set solver takes over.
_SINGULAR = 1e3


def _first_argmin(v):
    """``(index, value)`` of the first minimum of ``v`` (a min and a min over indices: XLA:CPU
    vectorizes those, not argmin's (value, index) reduction)."""
    low = jnp.min(v)
    first = jnp.min(jnp.where(v == low, jnp.arange(v.shape[0], dtype=jnp.int32), v.shape[0]))
    return jnp.minimum(first, v.shape[0] - 1), low


def _refactor(G, active, rank):
    """``(order, slot_of, n_active, Linv, ok)``: active features in order of entry (``rank``),
    padded with ``p``; each feature's position in ``order`` (``p`` when inactive); and the
    inverse of the lower Cholesky factor of ``G`` on them (identity on the padding)."""
    p = G.shape[0]
    n_active = jnp.sum(active).astype(jnp.int32)
    big = jnp.iinfo(jnp.int32).max
    positions = jnp.arange(p, dtype=jnp.int32)
    order = jnp.argsort(jnp.where(active, rank, big), stable=True).astype(jnp.int32)
    order = jnp.where(positions < n_active, order, p)
    safe = jnp.minimum(order, p - 1)
    used = positions < n_active
    eye = jnp.eye(p, dtype=G.dtype)
    L = _lapack_cholesky(jnp.where(used[:, None] & used[None, :], G[safe][:, safe], eye))
    Linv = jax.lax.linalg.triangular_solve(L, eye, left_side=True, lower=True)
    # Row-major, as the path loop carries it (products with its rows); without the constraint
    # XLA carries LAPACK's column-major result through the loop and copies it at every piece.
    Linv = with_layout_constraint(Linv, Layout(major_to_minor=(0, 1)))
    slot_of = jnp.full(p, p, jnp.int32).at[order].set(positions, mode="drop")
    return order, slot_of, n_active, Linv, _factor_ok(L) & jnp.all(jnp.isfinite(Linv))


def _extend_if(enters, G, Linv, order, slot_of, n_active, j):
    """``(order, slot_of, n_active, Linv, ok)`` with feature ``j`` appended when ``enters`` (else
    unchanged, ``ok`` true): with ``l = L^-1 G_Aj`` and ``d = sqrt(G_jj - l.l)``, the new
    factor's inverse gains the row ``[-l^T L^-1 / d, 1/d]`` (two products with ``Linv``,
    O(|A|^2), and no triangular solve). ``ok`` is false when ``j`` is numerically in the span
    of the active columns. The row is written in place whether or not ``j`` enters (its old
    value when not): a conditional would copy ``Linv`` (p, p) at every piece."""
    p = G.shape[0]
    positions = jnp.arange(p, dtype=jnp.int32)
    g = jnp.where(positions < n_active, G[jnp.minimum(order, p - 1), j], 0.0)
    l = jnp.matmul(Linv, g, precision=_HIGHEST)
    schur = G[j, j] - jnp.dot(l, l, precision=_HIGHEST)
    ok = schur > _SINGULAR * jnp.finfo(G.dtype).eps * G[j, j]
    d = jnp.sqrt(jnp.where(ok, schur, 1.0))
    row = jnp.where(positions < n_active, -jnp.matmul(l, Linv, precision=_HIGHEST) / d, jnp.where(positions == n_active, 1.0 / d, 0.0))
    # n_active < p whenever a feature enters; otherwise the (clamped) row is rewritten as is.
    slot = jnp.minimum(n_active, p - 1).astype(jnp.int32)
    Linv = jax.lax.dynamic_update_slice(Linv, jnp.where(enters, row, Linv[slot])[None, :], (slot, jnp.zeros((), jnp.int32)))
    order = jax.lax.dynamic_update_slice(order, jnp.where(enters, j, order[slot]).astype(order.dtype)[None], (slot,))
    slot_of = jax.lax.dynamic_update_slice(slot_of, jnp.where(enters, slot, slot_of[j])[None], (j.astype(jnp.int32),))
    return order, slot_of, n_active + enters.astype(n_active.dtype), Linv, ~enters | ok


def _refactor_if(leaves, G, active, rank, order, slot_of, n_active, Linv, ok):
    """``_refactor(G, active, rank)`` when ``leaves``, else the arguments: a loop of zero or one
    trip, whose state XLA updates in place (a conditional copies ``Linv`` every piece)."""
    def body(carry):
        return (jnp.zeros((), bool),) + _refactor(G, active, rank)

    return jax.lax.while_loop(lambda c: c[0], body, (leaves, order, slot_of, n_active, Linv, ok))[1:]


# Grid lambdas usually fall a few to a piece: they are written through a window of this many
# rows (the whole (K, p) array was the costliest operation of a piece at p = 100).
_RECORD_WINDOW = 8


def _record(B, on_piece, lambdas, lam, b, u):
    """``B`` with rows ``k`` in ``on_piece`` set to ``b + (lam - lambda_k) u``. ``on_piece`` is a
    run of rows starting at the first one not yet written (the grid decreases), so up to
    ``_RECORD_WINDOW`` of them are written through a window; longer runs (the last piece)
    rewrite the whole array."""
    K, p = B.shape
    W = min(_RECORD_WINDOW, K)
    start = jnp.minimum(jnp.argmax(on_piece), K - W)
    lam_w = jax.lax.dynamic_slice_in_dim(lambdas, start, W)
    on_w = jax.lax.dynamic_slice_in_dim(on_piece, start, W)
    old = jax.lax.dynamic_slice(B, (start, 0), (W, p))
    rows = jnp.where(on_w[:, None], b[None, :] + (lam - lam_w)[:, None] * u[None, :], old)
    B = jax.lax.dynamic_update_slice(B, rows, (start, 0))

    def whole(carry):
        return jnp.zeros((), bool), jnp.where(on_piece[:, None], b[None, :] + (lam - lambdas)[:, None] * u[None, :], carry[1])

    # Longer runs (the last piece) rewrite the whole array: a loop of zero or one trip (a
    # conditional would copy B at every piece).
    return jax.lax.while_loop(lambda c: c[0], whole, (jnp.sum(on_piece) > W, B))[1]


def lasso_homotopy(G, c, pf, allowed, lambdas, lambda_max, max_steps: int):
    """Coefficients of the lasso path at ``lambdas`` (K,), decreasing, by homotopy.

    ``G`` (p, p) positive semidefinite, ``c`` (p,), ``pf`` (p,) > 0 where ``allowed``;
    features not ``allowed`` stay at zero. Returns ``(B, recorded, steps)``: ``B`` (K, p), the
    coefficients; ``recorded`` (K,), which lambdas the path reached (all but those after a
    failure or past ``max_steps``); ``steps`` (K,) int, the number of pieces up to the one
    each lambda lies on (0 above lambda_max).
    """
    p = G.shape[0]
    dtype = G.dtype
    inf = jnp.asarray(jnp.inf, dtype)
    lambda_min = lambdas[-1]
    positions = jnp.arange(p)

    def cond(state):
        return (state["status"] == 0) & (state["step"] < max_steps)

    def body(state):
        lam, b, active, sign = state["lam"], state["b"], state["active"], state["sign"]
        order, slot_of, n_active, Linv, step = state["order"], state["slot_of"], state["n_active"], state["Linv"], state["step"]
        safe = jnp.minimum(order, p - 1)
        used = positions < n_active
        # Direction u (per unit decrease of lambda) and the Newton correction delta that
        # restores stationarity on A, both with the one factor.
        grad = c - jnp.matmul(G, b, precision=_HIGHEST)
        def solve(r):
            # G_AA^-1 = Linv^T Linv: matrix-vector products (one right-hand side at a time:
            # XLA:CPU runs a two-column product through its slower generic dot), no
            # triangular solve. Back to feature order by a gather (a scatter is a loop).
            z = jnp.matmul(Linv, jnp.where(used, r[safe], 0.0), precision=_HIGHEST)
            x = jnp.matmul(z, Linv, precision=_HIGHEST)
            return jnp.where(slot_of < p, x[jnp.minimum(slot_of, p - 1)], 0.0)

        u, delta = solve(pf * sign), solve(grad - lam * pf * sign)
        b = b + delta
        grad = grad - jnp.matmul(G, delta, precision=_HIGHEST)
        a = jnp.matmul(G, u, precision=_HIGHEST)

        # Length t of the linear piece: entry of an inactive feature, exit of an active one,
        # or the end of the grid.
        den_up, den_down = pf - a, pf + a
        t_up = jnp.where(den_up > 0, jnp.maximum(lam * pf - grad, 0.0) / jnp.where(den_up > 0, den_up, 1.0), inf)
        t_down = jnp.where(den_down > 0, jnp.maximum(lam * pf + grad, 0.0) / jnp.where(den_down > 0, den_down, 1.0), inf)
        # A feature that has just left sits on the boundary of its old sign; rounding must not
        # bring it straight back through that boundary (in exact arithmetic it moves inside).
        just_left = positions == state["left"]
        t_up = jnp.where(just_left & (state["left_sign"] > 0), inf, t_up)
        t_down = jnp.where(just_left & (state["left_sign"] < 0), inf, t_down)
        j_in, t_in = _first_argmin(jnp.where(allowed & ~active, jnp.minimum(t_up, t_down), inf))
        # Coefficients moving towards zero, by their sign (a just-entered one is 0, or a
        # rounding error on the wrong side of it, and moves away).
        shrinking = active & (u * sign < 0)
        j_out, t_out = _first_argmin(jnp.where(shrinking, jnp.maximum(b * sign, 0.0) / jnp.where(shrinking, jnp.abs(u), 1.0), inf))
        t_end = jnp.maximum(lam - lambda_min, 0.0)
        t = jnp.minimum(jnp.minimum(t_in, t_out), t_end)
        # Grid lambdas on this piece, lam - t <= lambda_k <= lam (all the rest at the end of
        # the grid), are read off the line: O(K p) per piece, no per-piece storage.
        on_piece = (lambdas <= lam) & ((lambdas >= lam - t) | (t >= t_end)) & ~state["recorded"]
        B = _record(state["B"], on_piece, lambdas, lam, b, u)
        pieces = jnp.where(on_piece, step + 1, state["pieces"])
        recorded = state["recorded"] | on_piece

        b = b + t * u
        leaves = (t_out <= t_in) & (t_out <= t_end)
        enters = ~leaves & (t_in <= t_end)
        b = jnp.where(leaves & (positions == j_out), 0.0, b)
        active = jnp.where(leaves & (positions == j_out), False, jnp.where(enters & (positions == j_in), True, active))
        up = t_up[j_in] <= t_down[j_in]
        left_sign = sign[j_out]
        sign = jnp.where(enters & (positions == j_in), jnp.where(up, 1.0, -1.0).astype(dtype), sign)
        sign = jnp.where(active, sign, 0.0)
        rank = jnp.where(enters & (positions == j_in), step, state["rank"])

        # At most one of: a feature enters (one row more in the factor), one leaves
        # (refactorization), the grid ends (nothing).
        order, slot_of, n_active, Linv, ok = _extend_if(enters, G, Linv, order, slot_of, n_active, j_in)
        order, slot_of, n_active, Linv, ok = _refactor_if(leaves, G, active, rank, order, slot_of, n_active, Linv, ok)
        status = jnp.where(~ok, 2, jnp.where(enters | leaves, 0, 1)).astype(jnp.int32)
        return dict(lam=lam - t, b=b, active=active, sign=sign, rank=rank, order=order, slot_of=slot_of, n_active=n_active, Linv=Linv,
                    step=step + 1, status=status, left=jnp.where(leaves, j_out, -1).astype(jnp.int32), left_sign=left_sign,
                    B=B, pieces=pieces, recorded=recorded)

    init = dict(
        lam=jnp.asarray(lambda_max, dtype),
        b=jnp.zeros(p, dtype),
        active=jnp.zeros(p, bool),
        sign=jnp.zeros(p, dtype),
        rank=jnp.zeros(p, jnp.int32),
        order=jnp.full(p, p, jnp.int32),
        slot_of=jnp.full(p, p, jnp.int32),
        n_active=jnp.zeros((), jnp.int32),
        Linv=jnp.eye(p, dtype=dtype),
        step=jnp.zeros((), jnp.int32),
        status=jnp.zeros((), jnp.int32),
        left=jnp.full((), -1, jnp.int32),
        left_sign=jnp.zeros((), dtype),
        B=jnp.zeros((lambdas.shape[0], p), dtype),
        pieces=jnp.zeros(lambdas.shape[0], jnp.int32),
        recorded=lambdas >= lambda_max,
    )
    state = jax.lax.while_loop(cond, body, init)
    return state["B"], state["recorded"], state["pieces"]


def certify_gaussian(G, c, yy, y, w, family: Family, pf, lo, hi, lambdas, B, residual_moments=None, l1_ratio=1.0):
    """Per lambda: ``(primal objective, relative duality gap, max KKT violation, deviance)``
    of the coefficients ``B`` (K, p) at ``l1_ratio``, as ``working_set._certificate``
    computes them for one lambda: residual moments from the Gram, the dual point ``s w r``
    scaled into the dual feasible set.

    The Gram's residual sum of squares ``yy - 2 b.c + b.G b`` cancels when the fit is nearly
    exact (below ``1e-6 yy``). There ``residual_moments(b)``, ``(sum w r^2, sum w r y)`` from
    the rows, replaces it; without it (statistics streamed from a host X: no rows in the
    program) such a lambda gets gap ``inf``, and the caller re-solves it from X.
    """
    GB = jnp.matmul(B, G, precision=_HIGHEST)
    bc = jnp.matmul(B, c, precision=_HIGHEST)
    rr = yy - 2.0 * bc + jnp.sum(B * GB, axis=1)
    ry = yy - bc
    accurate = rr > 1e-6 * yy

    if residual_moments is not None:
        # One lambda at a time: a (K, n) block of residuals would hold K / p copies of X.
        rows = jax.lax.cond(jnp.all(accurate), lambda _: (rr, ry), lambda _: jax.lax.map(residual_moments, B), None)
        rr, ry = jnp.where(accurate, rr, rows[0]), jnp.where(accurate, ry, rows[1])
    primal, rel_gap, kkt, deviance = gaussian_certificates(B, c[None, :] - GB, rr, ry, y, w, family, pf, lo, hi, lambdas,
                                                           l1_ratio)
    if residual_moments is None:
        rel_gap = jnp.where(accurate, rel_gap, jnp.inf)
    return primal, rel_gap, kkt, deviance


def gaussian_certificates(B, grads, rr, ry, y, w, family: Family, pf, lo, hi, lambdas, l1_ratio, one_at_a_time=False):
    """``certify_gaussian`` from the correlations ``grads = Xs^T W r_k`` (K, p) and the
    residual moments ``rr = sum w r_k^2``, ``ry = sum w r_k y`` (K,) of ``B`` (K, p), with the
    penalty ``lambda (l1_ratio pf |b| + (1 - l1_ratio) pf b^2 / 2)``. ``one_at_a_time``
    (static): lambda after lambda (``lax.map``) rather than all at once (``vmap``), whose
    (K, p) temporaries cost more than the loop where p is large (ridge on 100 x 5000: 19-25
    against 30-36 ms a path, by hand)."""
    saturated = jnp.sum(w * family.saturated_loss(y))

    def one(b, g, lam, rr, ry):
        l1, l2 = lam * l1_ratio * pf, lam * (1.0 - l1_ratio) * pf
        loss = 0.5 * rr
        dual, s, free = _dual_value(lo, hi, lambda s: 0.5 * s * s * rr - s * ry, g, l1, l2)
        primal = loss + penalties.penalty_value(b, l1, l2)
        # At lambda = 0 every coefficient is unpenalized: first-order term of its stationarity
        # residual, as in ``working_set._certificate``.
        gap = jnp.maximum(primal - dual, 0.0) + jnp.sum(jnp.where(free & (lo < hi), jnp.abs(b * s * g), 0.0))
        rel_gap = gap / jnp.maximum(primal, jnp.finfo(b.dtype).tiny)
        viol = penalties.kkt_violation(-g, b, l1, l2, lo, hi)
        return primal, rel_gap, jnp.max(viol), 2.0 * (loss - saturated)

    if one_at_a_time:
        return jax.lax.map(lambda args: one(*args), (B, grads, lambdas, rr, ry))
    return jax.vmap(one)(B, grads, lambdas, rr, ry)


class GramStatistics(NamedTuple):
    """What the Gaussian lasso homotopy needs of X (n, p), with weights ``w`` (n,) summing to
    one and the weighted working response ``r = w * y_work`` (n,) (``working_response``):

    - ``center``, ``variance``, ``constant`` (p,): ``design.column_moments(X, w, fit_intercept)``;
    - ``gram`` (p, p): ``design.centered_gram(X, w, center)``, unscaled;
    - ``xr`` (p,) = ``X^T r`` and ``r_total`` = ``sum(r)`` (scalar).

    ``gram_statistics`` computes them from X inside a program; ``streamed_gram`` from row
    blocks of a host X.
    """

    center: jax.Array
    variance: jax.Array
    constant: jax.Array
    gram: jax.Array
    xr: jax.Array
    r_total: jax.Array


def working_response(family: Family, y, w, offset, fit_intercept: bool):
    """``(y_work, null_b0)``: the response less the offset and the null model's intercept (n,)."""
    null_b0 = _null_intercept(family, y, w, offset, fit_intercept)
    return y - offset - null_b0, null_b0


def gram_statistics(X, w, r, fit_intercept: bool) -> GramStatistics:
    """``GramStatistics`` of ``X`` (n, p) in two blocked passes over its rows."""
    center, variance, constant = dsg.column_moments(X, w, fit_intercept)
    gram = dsg.centered_gram(X, w, center)
    return GramStatistics(center, variance, constant, gram, dsg.times_x(r, X), jnp.sum(r))


def run_lasso_homotopy(inputs: PathInputs, *, family: Family, fit_intercept: bool, standardize: bool, max_steps: int):
    """The Gaussian lasso path by homotopy, with ``run_path``'s outputs (``full_slot_outputs``:
    slot ``j`` holds feature ``j``). ``k_end`` is the first lambda that did
    not certify (K when all did): the caller resumes the working-set program there.

    Requires (checked by the caller): Gaussian family, ``l1_ratio = 1``, every ``pf > 0``, no
    finite bound, n >= p.
    """
    X, w = inputs.X, inputs.w
    y_work, null_b0 = working_response(family, inputs.y, w, inputs.offset, fit_intercept)
    stats = gram_statistics(X, w, w * y_work, fit_intercept)
    design = dsg.make_design(X, stats.center, stats.variance, standardize)

    def residual_moments(b):
        r = y_work - dsg.matvec(design, b)
        return jnp.sum(w * r * r), jnp.sum(w * r * y_work)

    return _homotopy_path(inputs, stats, y_work, null_b0, residual_moments, family=family, standardize=standardize,
                          max_steps=max_steps)


def run_lasso_homotopy_from_statistics(inputs: PathInputs, stats: GramStatistics, *, family: Family, fit_intercept: bool,
                                       standardize: bool, max_steps: int):
    """``run_lasso_homotopy`` from ``stats`` (``inputs.X`` unused, may be None), for an X
    whose statistics were streamed from the host. A lambda whose certificate needs the rows
    (a nearly exact fit) ends the path there (``k_end``): the caller re-solves it from X."""
    y_work, null_b0 = working_response(family, inputs.y, inputs.w, inputs.offset, fit_intercept)
    return _homotopy_path(inputs, stats, y_work, null_b0, None, family=family, standardize=standardize, max_steps=max_steps)


def _homotopy_path(inputs: PathInputs, stats: GramStatistics, y_work, null_b0, residual_moments, *, family: Family,
                   standardize: bool, max_steps: int):
    y, w, offset = inputs.y, inputs.w, inputs.offset
    scale = dsg.column_scale(stats.variance, standardize)
    inv_scale = 1.0 / scale
    lo, hi = standardized_bounds(inputs.lower, inputs.upper, stats.constant, scale)
    allowed = lo < hi

    null_dev = family.deviance(y, null_b0 + offset, w)
    c = (stats.xr - stats.center * stats.r_total) * inv_scale  # Xs^T W y_work
    yy = jnp.sum(w * y_work * y_work)
    G = stats.gram * (inv_scale[:, None] * inv_scale[None, :])
    G = 0.5 * (G + G.T)

    ratio = jnp.where(allowed, jnp.abs(c) / inputs.pf, 0.0)
    raw_max = jnp.max(ratio)
    lambda_max = jnp.where(raw_max > 0, raw_max, 1.0)
    lambdas = jnp.where(inputs.grid_from_ratios, inputs.lambdas * lambda_max, inputs.lambdas)

    B, recorded, steps = lasso_homotopy(G, c, inputs.pf, allowed, lambdas, raw_max, max_steps)
    objective, gap, kkt, deviance = certify_gaussian(G, c, yy, y_work, w, family, inputs.pf, lo, hi, lambdas, B,
                                                     residual_moments)
    return full_slot_outputs(inputs, B, recorded, (objective, gap, kkt, deviance), jnp.diff(steps, prepend=0), lambdas,
                             lambda_max, raw_max > 0, null_dev, stats.center, scale, stats.constant, null_b0)


def full_slot_outputs(inputs: PathInputs, B, recorded, certificates, n_iter, lambdas, lambda_max, lambda_max_ok, null_dev,
                      center, scale, constant, null_b0) -> dict:
    """``run_path``'s outputs for a Gaussian path solved on every feature at once (p slots,
    slot ``j`` holding feature ``j``; no intercept slot: it is eliminated), from its coefficients
    ``B`` (K, p), which lambdas it reached (``recorded``, (K,) bool) and their
    ``certificates`` (objective, relative gap, KKT violation, deviance; each (K,)).
    ``k_end`` is the first lambda not certified at ``inputs.tol`` (K when all are): the
    caller resumes the working-set program there, from ``last_b``."""
    objective, gap, kkt, deviance = certificates
    K, p = B.shape
    dtype = B.dtype
    converged = recorded & (gap <= inputs.tol)
    failed = jnp.nonzero(~converged, size=1, fill_value=K)[0][0].astype(jnp.int32)
    previous = jnp.where(failed > 0, B[jnp.maximum(failed - 1, 0)], 0.0)
    return dict(
        b=B,
        idx=jnp.broadcast_to(jnp.arange(p, dtype=jnp.int32), (K, p)),
        objective=objective,
        gap=jnp.where(recorded, gap, jnp.inf),
        kkt=jnp.where(recorded, kkt, jnp.inf),
        n_iter=n_iter.astype(jnp.int32),
        converged=converged,
        deviance=deviance,
        k_end=failed,
        overflow=failed < K,
        lambdas=lambdas,
        lambda_max=lambda_max,
        lambda_max_ok=lambda_max_ok,
        null_deviance=null_dev,
        center=center,
        scale=scale,
        constant=constant,
        intercept_shift=null_b0,
        last_b=jnp.concatenate([previous, jnp.zeros(2, dtype)]),
    )
