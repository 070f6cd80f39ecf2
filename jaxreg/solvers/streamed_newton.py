"""GLM paths on tall, narrow X: proximal Newton on every feature, streamed over row blocks.

On X with many rows and few columns the working-set program's state is dominated by
n-vectors (linear predictor, mean, curvature, working residual, and the temporaries XLA
materializes between them): at 2,500,000 x 5 it held eleven of them, three times the memory
of X. Here no n-vector is ever formed. Every quantity the solver needs is a sum over rows,
accumulated one row block at a time (``design.fold_rows``) from ``X``, ``y``, ``w`` and the
offset; the state between passes is O(p^2).

With ``A = [Xs, 1]`` (n, m), ``m = p + 1`` (the standardized features, then the intercept's
column; a zero column without an intercept) and coefficients ``b`` (m,), one pass at ``b``
gives (``_Pass``)

    loss = sum_i w_i l(y_i, eta_i),  eta = A b + offset,
    grad = A^T W (y - mu)             (m,)   the negative gradient of the loss,
    hess = A^T diag(w mu') A          (m, m) its Hessian (exact: n m^2 flops),

and, for a reference point ``b_ref`` in the same pass, ``sum_i w_i (l(eta_i) - l(eta_ref_i))``
term by term (the line search's decrease, resolved far below the rounding level of the
loss itself).

For each lambda (largest first, warm-started): proximal Newton steps, each the penalized
quadratic model on ``hess`` (``quadratic.solve_quadratic``, with Levenberg-Marquardt damping)
and one pass at the trial point, accepted on Armijo's condition (halving otherwise, one pass
per trial); then the certificate: the duality gap at the dual point of the Newton-corrected
mean (as ``working_set._certificate``: ``mu_c = mu + mu' (A delta + c)``, ``delta`` the
linearized Newton step on the free coefficients, ``c`` the intercept's correction, both from
``hess`` exactly), which costs one more pass (the conjugate of the loss at the scaled dual
point). If the gap exceeds ``tol``, the inner tolerance tightens and the Newton steps go on.

A lambda costs (Newton steps + 1) passes over X, each reading X once: O(n m^2) flops.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxreg import design as dsg
from jaxreg import penalties
from jaxreg.families import Family
from jaxreg.solvers.quadratic import QuadProblem, refined_free_solve, solve_quadratic, subproblem_violation
from jaxreg.solvers.working_set import (
    _INNER_CAP,
    _MAX_HALVINGS,
    _MAX_NEWTON,
    _MAX_ROUNDS,
    _MAX_STALLED,
    PathInputs,
    _dual_value,
    empty_outputs,
    null_grid,
    standardized_problem,
)

__all__ = ["run_streamed_path", "block_rows"]

_HIGHEST = jax.lax.Precision.HIGHEST
# A row block holds about this many bytes of A = [Xs, 1] (the centered block of X, and a
# few n-vectors of its rows): large enough that the loop over blocks costs little
# (2,500,000 x 5: 29 blocks a pass), small against X.
_BLOCK_BYTES = 1 << 22
# Curvature floor on the standardized scale (A^T W A has unit diagonal): keeps the Newton
# model of separated data definite; the certificate uses the exact Hessian.
_CURVATURE_FLOOR = 1e-10


def block_rows(n: int, m: int, itemsize: int) -> int:
    """Rows per block of the streamed passes: ``_BLOCK_BYTES`` of A (n, m), at most n."""
    return max(8, min(n, _BLOCK_BYTES // max(1, m * itemsize)))


class _Problem(NamedTuple):
    design: dsg.Design
    y: jax.Array
    w: jax.Array  # (n,) weights summing to one, or a boolean mask (weights ``w_scale`` on its rows)
    offset: jax.Array
    pf: jax.Array  # (m,): the features' penalty factors, 0 for the intercept
    lo: jax.Array  # (m,) bounds on the standardized scale; the intercept's (0, 0) without one
    hi: jax.Array
    alpha: jax.Array
    obj_scale: jax.Array
    intercept_column: float  # 1.0 with an intercept, 0.0 without (static)
    rows: int  # static: rows per block
    w_scale: jax.Array | None = None  # 1 / count of a boolean mask ``w``; None for float weights


def _block_vectors(prob: _Problem, vb):
    """A row block's ``(wb, yb, ob)`` with a mask block turned into its weights."""
    return vb if prob.w_scale is None else (vb[0] * prob.w_scale,) + tuple(vb[1:])


class _Pass(NamedTuple):
    loss: jax.Array  # sum w l(y, eta) at b
    dloss: jax.Array  # sum w (l(y, eta) - l(y, eta_ref)), term by term
    grad: jax.Array  # (m,) A^T W (y - mu)
    hess: jax.Array  # (m, m) A^T diag(w mu') A


def _centered_block(prob: _Problem, Xb):
    """``Xb - center`` (r, p): the block is centered before any product, so that a column
    whose mean is large against its spread does not cancel in the Hessian (as
    ``design.gram_step``); the scaling is applied to the sums."""
    return Xb - prob.design.center


def _raw_coefficients(prob: _Problem, b):
    """``(beta, b0)`` with ``A b = (X - center) beta + b0``: ``beta = b[:p] / scale``."""
    p = b.shape[0] - 1
    return b[:p] * prob.design.inv_scale, b[p] * prob.intercept_column


def _fold(prob: _Problem, step, init):
    return dsg.fold_rows(prob.design.X, (prob.w, prob.y, prob.offset),
                         lambda acc, Xb, vb: step(acc, Xb, _block_vectors(prob, vb)), init, prob.rows)


def _pass(family: Family, prob: _Problem, b, b_ref=None) -> _Pass:
    """Loss, gradient and Hessian at ``b`` (m,), and, given ``b_ref``, the loss change from
    ``b_ref`` (else 0): one pass over X."""
    m = b.shape[0]
    p = m - 1
    dtype = b.dtype
    beta, b0 = _raw_coefficients(prob, b)
    if b_ref is not None:
        beta_ref, b0_ref = _raw_coefficients(prob, b_ref)
        beta = jnp.stack([beta, beta_ref], axis=1)

    def step(acc, Xb, vb):
        wb, yb, ob = vb
        B = _centered_block(prob, Xb)
        eta = jnp.matmul(B, beta, precision=_HIGHEST)
        if b_ref is not None:
            eta, eta_ref = eta[:, 0] + b0 + ob, eta[:, 1] + b0_ref + ob
        else:
            eta = eta + b0 + ob
        loss_rows, mu, curv = family.loss_mean_curvature(yb, eta)
        loss, dloss, (g, g0), (H, h0, h00) = acc
        if b_ref is not None:
            dloss = dloss + jnp.sum(wb * (loss_rows - family.loss(yb, eta_ref)))
        r = wb * (yb - mu)
        v = wb * curv
        return (loss + jnp.sum(wb * loss_rows), dloss,
                (g + jnp.matmul(r, B, precision=_HIGHEST), g0 + jnp.sum(r)),
                (H + jnp.matmul(B.T * v[None, :], B, precision=_HIGHEST), h0 + jnp.matmul(v, B, precision=_HIGHEST),
                 h00 + jnp.sum(v)))

    zero = jnp.zeros((), dtype)
    init = (zero, zero, (jnp.zeros(p, dtype), zero), (jnp.zeros((p, p), dtype), jnp.zeros(p, dtype), zero))
    loss, dloss, (g, g0), (H, h0, h00) = _fold(prob, step, init)
    s, c = prob.design.inv_scale, prob.intercept_column
    grad = jnp.concatenate([g * s, (c * g0)[None]])
    H = 0.5 * (H + H.T) * (s[:, None] * s[None, :])
    side = h0 * s * c
    hess = jnp.concatenate([jnp.concatenate([H, side[:, None]], axis=1),
                            jnp.concatenate([side, (c * c * h00)[None]])[None, :]], axis=0)
    return _Pass(loss, dloss, grad, hess)


def _conjugate_pass(family: Family, prob: _Problem, b, delta, c, s):
    """``F*(-theta_s) + s sum_i theta_1i o_i`` for the dual point ``theta_s = s w (y - mu_c)``,
    ``mu_c = mu + mu' (A delta + c)`` at ``eta = A b + offset``: one pass (with an offset o the
    loss is ``F(u + o)``, whose conjugate is ``F*(v) - v.o``)."""
    beta, b0 = _raw_coefficients(prob, b)
    dbeta, d0 = _raw_coefficients(prob, delta)
    coefs = jnp.stack([beta, dbeta], axis=1)

    def step(acc, Xb, vb):
        wb, yb, ob = vb
        both = jnp.matmul(_centered_block(prob, Xb), coefs, precision=_HIGHEST)
        eta = both[:, 0] + b0 + ob
        _, mu, curv = family.loss_mean_curvature(yb, eta)
        mu_c = mu + curv * (both[:, 1] + d0 + c)
        conj, theta_o = acc
        return conj + family.conjugate_at_scaled_residual(yb, mu_c, wb, s), theta_o + jnp.sum(wb * (yb - mu_c) * ob)

    zero = jnp.zeros((), b.dtype)
    conj, theta_o = _fold(prob, step, (zero, zero))
    return conj + s * theta_o


def _fold_vectors(prob: _Problem, step, init):
    """``fold_rows`` over the n-vectors (w, y, offset) alone: ``step(acc, (wb, yb, ob))``."""
    n = prob.w.shape[0]
    return dsg._fold_blocks(n, lambda start, rows: None, (prob.w, prob.y, prob.offset),
                            lambda acc, _, vb: step(acc, _block_vectors(prob, vb)), init, prob.rows)


def _null_fit(family: Family, prob: _Problem, fit_intercept: bool):
    """``(b0, loss, deviance, saturated loss)`` of the intercept-only model (offset
    included), streamed: Newton on the scalar ``b0`` until its step stops changing it
    (at most 50 steps; 0 without an intercept)."""
    dtype = prob.y.dtype

    def moments(b0):
        def step(acc, vb):
            wb, yb, ob = vb
            loss, mu, curv = family.loss_mean_curvature(yb, b0 + ob)
            return acc[0] + jnp.sum(wb * (mu - yb)), acc[1] + jnp.sum(wb * curv), acc[2] + jnp.sum(wb * loss)
        zero = jnp.zeros((), dtype)
        return _fold_vectors(prob, step, (zero, zero, zero))

    def cond(c):
        b0, change, k = c
        return (change > 4.0 * jnp.finfo(dtype).eps * (1.0 + jnp.abs(b0))) & (k < 50)

    def body(c):
        b0, _, k = c
        grad, hess, _ = moments(b0)
        new = b0 - grad / jnp.maximum(hess, 1e-12)
        return new, jnp.abs(new - b0), k + 1

    b0 = jnp.zeros((), dtype)
    if fit_intercept:
        b0 = jax.lax.while_loop(cond, body, (b0, jnp.full((), jnp.inf, dtype), jnp.zeros((), jnp.int32)))[0]
    saturated = _fold_vectors(prob, lambda acc, vb: acc + jnp.sum(vb[0] * family.saturated_loss(vb[1])),
                              jnp.zeros((), dtype))
    loss = moments(b0)[2]
    return b0, loss, 2.0 * (loss - saturated), saturated


def _penalty(prob: _Problem, lam):
    return lam * prob.alpha * prob.pf, lam * (1.0 - prob.alpha) * prob.pf


def _newton(family: Family, prob: _Problem, b, at: _Pass, lam, lo, hi, inner_tol, budget, pure_linalg):
    """Proximal Newton steps from ``b`` (with ``at``, the pass there) until the model's
    stationarity violation is at most ``inner_tol``; returns ``(b, at, inner iterations)``."""
    l1, l2 = _penalty(prob, lam)
    m = b.shape[0]
    eye = jnp.eye(m, dtype=b.dtype)

    def cond(c):
        b, at, it, newton, damp, done = c
        return ~done & (newton < _MAX_NEWTON) & (it < budget)

    def body(c):
        b, at, it, newton, damp, _ = c
        H = at.hess + _CURVATURE_FLOOR * eye
        stationary = subproblem_violation(QuadProblem(H, l1, l2, lo, hi), b, at.grad) <= inner_tol

        def step(_):
            qp = QuadProblem(H + jnp.diag(damp * jnp.diagonal(H)), l1, l2, lo, hi)
            sol = solve_quadratic(qp, b, at.grad, inner_tol, jnp.minimum(budget - it, _INNER_CAP), pure_linalg,
                                  feature_sign=False)
            delta = sol.b - b
            model = -jnp.dot(at.grad, delta) + penalties.penalty_value(sol.b, l1, l2) - penalties.penalty_value(b, l1, l2)
            noise = 16.0 * jnp.finfo(b.dtype).eps * prob.obj_scale
            resolvable = -model > noise

            def trial(t):
                new = b + t * delta
                res = _pass(family, prob, new, b)
                change = res.dloss + penalties.penalty_value(new, l1, l2) - penalties.penalty_value(b, l1, l2)
                return res, ~resolvable | (change <= 1e-4 * t * jnp.minimum(model, 0.0))

            def ls_cond(c):
                t, k, res, ok = c
                return ~ok & (k < _MAX_HALVINGS)

            def ls_body(c):
                t, k, _, _ = c
                t = 0.5 * t
                return (t, k + 1) + trial(t)

            one = jnp.ones((), b.dtype)
            t, _, res, accepted = jax.lax.while_loop(ls_cond, ls_body, (one, jnp.zeros((), jnp.int32)) + trial(one))
            b_new = jnp.where(accepted, b + t * delta, b)
            at_new = jax.tree_util.tree_map(lambda new, old: jnp.where(accepted, new, old), res, at)
            poor = (t < 1.0) | ~sol.converged | ~accepted
            shrunk = jnp.where(damp > 1e-8, 0.1 * damp, 0.0)
            new_damp = jnp.where(poor, jnp.maximum(10.0 * damp, 1e-4), shrunk)
            give_up = ~accepted & (damp > 1.0)
            return b_new, at_new, it + sol.n_iter, newton + 1, new_damp, give_up

        stop = (b, at, it, newton + 1, damp, jnp.ones((), bool))
        return jax.lax.cond(stationary, lambda _: stop, step, None)

    zero = jnp.zeros((), jnp.int32)
    init = (b, at, zero, zero, jnp.zeros((), b.dtype), jnp.zeros((), bool))
    b, at, it, _, _, _ = jax.lax.while_loop(cond, body, init)
    return b, at, it


def _certificate(family: Family, prob: _Problem, b, at: _Pass, lam, lo, hi, pure_linalg):
    """``(primal, relative gap, max KKT violation)`` at ``b`` (``at``: the pass there).

    The dual point is ``theta_s = s w (y - mu_c)`` with ``mu_c = mu + mu' (A delta + c)``:
    ``delta`` solves ``(hess + diag(l2))_FF delta_F = v_F`` for the stationarity residual
    ``v = grad - l1 sign(b) - l2 b`` of the free coefficients F (non-zero or unpenalized,
    inside their bounds; zero ones whose |grad| exceeds l1 too), so that the corrected
    correlations ``A^T W (y - mu_c) = grad - hess delta`` meet stationarity to second order;
    ``c`` makes ``sum theta = 0`` (the intercept's dual constraint). Where ``mu_c`` leaves the
    family's range (the conjugate is infinite) the plain residual (``delta = 0``) is used.
    """
    l1, l2 = _penalty(prob, lam)
    m = b.shape[0]
    p = m - 1
    tiny = jnp.finfo(b.dtype).tiny
    g = at.grad
    primal = at.loss + penalties.penalty_value(b, l1, l2)
    violating_at_zero = (b == 0) & (jnp.abs(g) > l1)
    # A coefficient at a bound stays there (its residual is the bound's multiplier).
    inside = (lo < b) & (b < hi)
    move = inside & ((b != 0) | violating_at_zero | ((l1 == 0) & (l2 == 0)))
    sign = jnp.where(b != 0, jnp.sign(b), jnp.sign(g))
    v = jnp.where(move, g - l1 * sign - l2 * b, 0.0)
    delta = refined_free_solve(at.hess + _CURVATURE_FLOOR * jnp.eye(m, dtype=b.dtype), l2, v, move,
                               lambda d: jnp.matmul(at.hess, d, precision=_HIGHEST) + l2 * d, 1, pure_linalg)
    with_intercept = hi[p] > 0
    total = jnp.maximum(at.hess[p, p], tiny)

    def dual_at(delta):
        g_c = g - jnp.matmul(at.hess, delta, precision=_HIGHEST)
        c = jnp.where(with_intercept, g_c[p] / total, 0.0)
        g_c = g_c - c * at.hess[:, p]
        dual, s, _ = _dual_value(lo, hi, lambda s: _conjugate_pass(family, prob, b, delta, c, s), g_c, l1, l2)
        return dual, s, g_c

    dual, s, g_c = dual_at(delta)
    dual, s, g_c = jax.lax.cond(jnp.isfinite(dual), lambda: (dual, s, g_c), lambda: dual_at(jnp.zeros_like(delta)))
    gap = jnp.maximum(primal - dual, 0.0)
    # Unpenalized features: first-order term of their stationarity residual (as working_set).
    unpenalized = (l1 == 0) & (l2 == 0) & (lo < hi) & (jnp.arange(m) < p)
    gap = gap + jnp.sum(jnp.where(unpenalized, jnp.abs(b * s * g_c), 0.0))
    viol = penalties.kkt_violation(-g, b, l1, l2, lo, hi)
    return primal, gap / jnp.maximum(primal, tiny), jnp.max(viol)


def _solve_lambda(family, prob, b, at, lam, lo, hi, tol, max_iter, inner_tol0, pure_linalg):
    """Newton steps and certificates until the relative gap is at most ``tol`` (or the
    iterations run out, or ``_MAX_STALLED`` rounds at the inner tolerance's floor bring no
    progress). Returns ``(b, at, iterations, (primal, gap, kkt), converged)``."""
    eps = jnp.finfo(b.dtype).eps
    floor = eps * eps * prob.obj_scale

    def cond(c):
        b, at, it, rounds, stalled, inner_tol, cert, done = c
        return ~done & (rounds < _MAX_ROUNDS) & (it < max_iter) & (stalled < _MAX_STALLED)

    def body(c):
        b, at, it, rounds, stalled, inner_tol, prev, _ = c
        b, at, used = _newton(family, prob, b, at, lam, lo, hi, inner_tol, max_iter - it, pure_linalg)
        primal, rel_gap, kkt = _certificate(family, prob, b, at, lam, lo, hi, pure_linalg)
        done = rel_gap <= tol
        at_floor = inner_tol <= floor
        improved = (primal < prev[0] - 4 * eps * jnp.abs(primal)) | ~at_floor
        stalled = jnp.where(improved, 0, stalled + 1)
        inner_tol = jnp.maximum(inner_tol * 1e-3, floor)
        return b, at, it + jnp.maximum(used, 1), rounds + 1, stalled, inner_tol, (primal, rel_gap, kkt), done

    inf = jnp.full((), jnp.inf, b.dtype)
    zero = jnp.zeros((), jnp.int32)
    init = (b, at, zero, zero, zero, inner_tol0, (inf, inf, inf), jnp.zeros((), bool))
    b, at, it, _, _, _, cert, done = jax.lax.while_loop(cond, body, init)
    return b, at, it, cert, done


def run_streamed_path(inputs: PathInputs, *, family: Family, fit_intercept: bool, standardize: bool,
                      pure_linalg: bool = False):
    """The path of a non-Gaussian family, streamed over row blocks of X: the same outputs as
    ``working_set.run_path`` with every feature in a slot (``m = p + 1``: the features, then
    the intercept; ``overflow`` never set)."""
    if family.is_quadratic:
        raise ValueError("run_streamed_path solves non-Gaussian families")
    X, y, w, offset = inputs.X, inputs.y, inputs.w, inputs.offset
    dtype = X.dtype
    n, p = X.shape
    m = p + 1
    K = inputs.lambdas.shape[0]
    # A boolean w (cross-validation folds: ``path.observation_weights``) stays a mask of one
    # byte per row: each row block's weights are made from it as the block is read, so the
    # program holds no float n-vector of weights (20 MB at 2,500,000 rows).
    w_scale = dsg.mask_scale(w, dtype) if w.dtype == jnp.bool_ else None
    design, constant, lower, upper = standardized_problem(X, w, inputs.lower, inputs.upper, fit_intercept, standardize,
                                                          w_scale)
    inf = jnp.asarray(jnp.inf, dtype)
    icpt = inf if fit_intercept else jnp.zeros((), dtype)
    lo = jnp.concatenate([lower, -icpt[None]])
    hi = jnp.concatenate([upper, icpt[None]])
    pf = jnp.concatenate([inputs.pf, jnp.zeros((1,), dtype)])

    prob = _Problem(design, y, w, offset, pf, lo, hi, inputs.l1_ratio, jnp.ones((), dtype),
                    1.0 if fit_intercept else 0.0, block_rows(n, m, dtype.itemsize), w_scale)
    null_b0, null_obj, null_dev, saturated = _null_fit(family, prob, fit_intercept)
    obj_scale = jnp.maximum(null_obj, jnp.finfo(dtype).tiny)
    prob = prob._replace(obj_scale=obj_scale)

    # Iteration k = -1 is the null fit (penalized coefficients held at zero; unpenalized ones
    # and the intercept fitted), which gives lambda_max and the grid. A resumed path
    # (start > 0) then continues from its warm start.
    hold_lo = jnp.where(pf > 0, 0.0, lo)
    hold_hi = jnp.where(pf > 0, 0.0, hi)
    inner_tol0 = inputs.tol * 1e-2 * obj_scale
    b_null = jnp.zeros(m, dtype).at[p].set(null_b0)
    b_warm = jnp.concatenate([inputs.b_init, jnp.where(fit_intercept, inputs.intercept_init, 0.0)[None]])
    at_null = _pass(family, prob, b_null)
    icpt_idx = p if fit_intercept else p + 1
    idx = jnp.concatenate([jnp.arange(p, dtype=jnp.int32), jnp.full((1,), icpt_idx, jnp.int32)])

    out = empty_outputs(K, idx, dtype)

    def cond(c):
        return c[0] < K

    def body(c):
        k, b, at, out, lambda_max, lambda_max_ok, lambdas = c
        is_null = k < 0
        kk = jnp.maximum(k, 0)
        lam = jnp.where(is_null, 0.0, lambdas[kk])
        lo_k, hi_k = jnp.where(is_null, hold_lo, lo), jnp.where(is_null, hold_hi, hi)
        b, at, it, cert, done = _solve_lambda(family, prob, b, at, lam, lo_k, hi_k, inputs.tol, inputs.max_iter,
                                              inner_tol0, pure_linalg)

        lambda_max, lambda_max_ok, lambdas = jax.lax.cond(
            is_null, lambda _: null_grid(at.grad, pf, lo, hi, inputs, lambdas),
            lambda _: (lambda_max, lambda_max_ok, lambdas), None)
        primal, rel_gap, kkt = cert
        record = lambda arr, val: arr.at[kk].set(jnp.where(is_null, arr[kk], val))
        out = dict(
            out,
            b=record(out["b"], b),
            objective=record(out["objective"], primal),
            gap=record(out["gap"], rel_gap),
            kkt=record(out["kkt"], kkt),
            n_iter=record(out["n_iter"], it),
            converged=record(out["converged"], done),
            deviance=record(out["deviance"], 2.0 * (at.loss - saturated)),
        )
        resume = is_null & (inputs.start > 0)
        b, at = jax.lax.cond(resume, lambda: (b_warm, _pass(family, prob, b_warm)), lambda: (b, at))
        k_next = jnp.where(is_null, inputs.start, k + 1)
        return k_next, b, at, out, lambda_max, lambda_max_ok, lambdas

    init_lambdas = jnp.where(inputs.grid_from_ratios, 0.0, inputs.lambdas)
    init = (jnp.full((), -1, jnp.int32), b_null, at_null, out, jnp.ones((), dtype), jnp.zeros((), bool), init_lambdas)
    k_end, b, _, out, lambda_max, lambda_max_ok, lambdas = jax.lax.while_loop(cond, body, init)
    last_b = jnp.zeros(p + 2, dtype).at[:p].set(b[:p]).at[p].set(b[p])
    out.update(
        k_end=k_end,
        overflow=jnp.zeros((), bool),
        lambdas=lambdas,
        lambda_max=lambda_max,
        lambda_max_ok=lambda_max_ok,
        null_deviance=null_dev,
        center=design.center,
        scale=design.scale,
        constant=constant,
        intercept_shift=jnp.zeros((), dtype),
        last_b=last_b,
    )
    return out
