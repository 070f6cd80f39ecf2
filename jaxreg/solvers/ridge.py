"""Gaussian ridge paths in closed form, from one symmetric eigendecomposition.

For the Gaussian family with ``l1_ratio = 0`` the coefficients at ``lambda`` solve

    (G + lambda D) b = c,    G = Xs^T W Xs (p, p),  c = Xs^T W y (p,),  D = diag(pf)

(``Xs`` standardized and centered, ``W`` the weights summing to one, as in ``working_set``).
One eigendecomposition gives every lambda of the path:

- **n >= p** (``ridge_from_gram``): ``D^-1/2 G D^-1/2 = V diag(e) V^T`` (p, p), and
  ``b = D^-1/2 V diag(1 / (e + lambda)) V^T D^-1/2 c``: ``4 p^2`` flops per lambda after the
  ``O(p^3)`` decomposition and the Gram's ``n p^2``.
- **p > n** (``ridge_from_kernel``): with ``A = W^1/2 Xs D^-1/2`` (n, p), ``b = D^-1/2 A^T a``
  where ``(A A^T + lambda I) a = W^1/2 y``. The kernel ``A A^T`` (n, n) costs ``n^2 p``
  flops and its decomposition ``O(n^3)``; each lambda then costs ``4 n^2`` flops plus one
  product with ``Xs^T``, all lambdas in one matrix product.

Neither is trusted: every lambda is certified as the working-set solver certifies it
(``homotopy.certify_gaussian``: the residual's dual point, relative duality gap and KKT
violation), the kernel form from residuals and correlations recomputed from X (three passes
over X in all, each a product with K columns). Where a lambda misses ``tol`` (float32 data
with a badly conditioned kernel), one step of iterative refinement with the exact operator
runs and the better coefficients per lambda are kept; a lambda still not certified hands
the path to the working-set solver from there (``k_end``).

Features with ``pf = 0`` are eliminated first, as an intercept is (``unpenalized``, static:
how many there may be, rounded up). Requires (checked by the caller,
``path._ridge_applies``): Gaussian family, no finite bound, fewer unpenalized features than
``n / 2``. In a batch, members with ``l1_ratio > 0`` come back with no lambda solved
(``k_end = 0``). Features with ``lower = upper = 0``
(degenerate columns) are left out of the system and stay at 0.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxreg import design as dsg
from jaxreg.families import Family
from jaxreg.solvers.homotopy import certify_gaussian, full_slot_outputs, gaussian_certificates, gram_statistics, working_response
from jaxreg.solvers.working_set import PathInputs, null_grid, standardized_bounds

__all__ = ["ridge_from_gram", "ridge_from_kernel", "run_ridge_path"]

_HIGHEST = jax.lax.Precision.HIGHEST


def _spectral_inverse(Q, lambdas):
    """``solve(R)``: the rows of ``R`` (K, d) times ``(Q + lambda_k I)^-1``, row ``k`` with
    ``lambda_k``, from ``Q = V diag(e) V^T`` (d, d symmetric positive semi-definite). An
    eigenvalue that rounding made negative is taken as 0; a shifted eigenvalue ``e + lambda``
    of 0 (``lambda = 0`` on a singular ``Q``) gives 0 there, and the certificate fails that
    lambda."""
    e, V = jnp.linalg.eigh(0.5 * (Q + Q.T))
    shifted = jnp.maximum(e, 0.0)[None, :] + lambdas[:, None]
    inverse = jnp.where(shifted > 0, 1.0 / jnp.where(shifted > 0, shifted, 1.0), 0.0)

    def solve(R):
        return jnp.matmul(jnp.matmul(R, V, precision=_HIGHEST) * inverse, V.T, precision=_HIGHEST)

    return solve


class _Unpenalized(NamedTuple):
    """The unpenalized features (``pf = 0``), eliminated from the ridge system as an
    intercept is: ``idx`` (k,) their indices, padded with ``p + 1`` (the zero column);
    ``valid`` (k,) which are real; ``solve(R)``: ``R C^-1`` for rows ``R`` (..., k), ``C``
    their Gram (k, k; identity on the padding)."""

    idx: jax.Array
    valid: jax.Array
    solve: Callable


def _unpenalized_block(C, idx, p: int) -> _Unpenalized:
    valid = idx < p
    C = jnp.where(valid[:, None] & valid[None, :], C, 0.0) + jnp.diag(jnp.where(valid, 0.0, 1.0))
    factor = jnp.linalg.cholesky(0.5 * (C + C.T))

    def solve(R):
        return jax.scipy.linalg.cho_solve((factor, True), R.T).T

    return _Unpenalized(idx, valid, solve)


def _scatter(B, block: _Unpenalized, a):
    """``B`` (K, p) with ``a`` (K, k) added at the unpenalized features."""
    return B.at[:, block.idx].add(a, mode="drop")


def _gram_block(G, unpenalized_idx):
    """``(G_U, block)``: the columns ``G_{., U}`` (p, k) of the unpenalized features (0 on the
    padding) and their ``_Unpenalized`` block."""
    p = G.shape[0]
    safe = jnp.where(unpenalized_idx < p, unpenalized_idx, 0)
    G_U = jnp.where(unpenalized_idx[None, :] < p, jnp.take(G, safe, axis=1), 0.0)
    return G_U, _unpenalized_block(G_U[safe], unpenalized_idx, p)


def _rows_at(R, block: _Unpenalized):
    """The columns of ``R`` (K, p) at the unpenalized features: (K, k), 0 on the padding."""
    p = R.shape[-1]
    return jnp.where(block.valid, jnp.take(R, jnp.where(block.idx < p, block.idx, 0), axis=-1), 0.0)


def null_correlations_from_gram(G, c, unpenalized_idx=None):
    """``Xs^T W r`` (p,) at the null fit: ``c`` without unpenalized features, else ``c - G_{., U}
    b_U`` with ``b_U = G_UU^-1 c_U`` fitted (the correlations ``lambda_max`` comes from)."""
    if unpenalized_idx is None:
        return c
    G_U, block = _gram_block(G, unpenalized_idx)
    return c - jnp.matmul(G_U, block.solve(_rows_at(c, block)), precision=_HIGHEST)


def ridge_from_gram(G, c, pf, allowed, lambdas, unpenalized_idx=None):
    """``(B, refine)``: ``B`` (K, p), row ``k`` solving ``(G + lambda_k diag(pf)) b = c`` on the
    ``allowed`` features (0 elsewhere), and ``refine(B)``: ``B`` after one step of iterative
    refinement, ``B + (G + lambda D)^-1 (c - (G + lambda D) B)``, with the same
    decomposition. ``G`` (p, p), ``c``, ``pf`` (p,), ``allowed`` (p,) bool, ``lambdas`` (K,).

    ``unpenalized_idx`` (k,): the allowed features with ``pf = 0`` (padded with ``p + 1``),
    eliminated first: the decomposition is of the Schur complement
    ``G_PP - G_PU G_UU^-1 G_UP`` on the penalized features ``P``, and ``b_U = G_UU^-1
    (c_U - G_UP b_P)``."""
    penalized = allowed & (pf > 0)
    root = jnp.where(penalized, jax.lax.rsqrt(jnp.where(penalized, pf, 1.0)), 0.0)
    if unpenalized_idx is None:
        solve = _spectral_inverse(G * (root[:, None] * root[None, :]), lambdas)

        def apply_inverse(R):
            return solve(R * root) * root
    else:
        G_U, block = _gram_block(G, unpenalized_idx)
        schur = G - jnp.matmul(block.solve(G_U), G_U.T, precision=_HIGHEST)
        solve = _spectral_inverse(schur * (root[:, None] * root[None, :]), lambdas)

        def apply_inverse(R):
            R_U = _rows_at(R, block)
            R_P = R - jnp.matmul(block.solve(R_U), G_U.T, precision=_HIGHEST)
            B_P = solve(R_P * root) * root
            return _scatter(B_P, block, block.solve(R_U - jnp.matmul(B_P, G_U, precision=_HIGHEST)))

    B = apply_inverse(jnp.broadcast_to(c, (lambdas.shape[0], c.shape[0])))

    def refine(B):
        residual = c[None, :] - jnp.matmul(B, G, precision=_HIGHEST) - lambdas[:, None] * pf * B
        return B + apply_inverse(jnp.where(allowed, residual, 0.0))

    return B, refine


def _kernel_coefficients(design: dsg.Design, sqrt_w, coef_scale, alphas):
    """``b_k = coef_scale * Xs^T (sqrt_w * a_k)`` for each row ``a_k`` of ``alphas`` (K, n): (K, p),
    in one pass over X."""
    return jax.vmap(lambda a: dsg.rmatvec(design, sqrt_w * a))(alphas) * coef_scale


def _fitted(design: dsg.Design, B):
    """``Xs b_k`` for each row of ``B`` (K, p): (K, n), in one pass over X."""
    return jax.vmap(lambda b: dsg.matvec(design, b))(B)


def _kernel_block(design: dsg.Design, sqrt_w, unpenalized_idx):
    """``(columns_U, A_U, block)``: the unpenalized features' columns of ``Xs`` (n, k; 0 on the
    padding), ``W^1/2`` times them, and their ``_Unpenalized`` block (``C = A_U^T A_U``)."""
    columns_U = dsg.gather_columns(design, unpenalized_idx)
    A_U = sqrt_w[:, None] * columns_U
    return columns_U, A_U, _unpenalized_block(jnp.matmul(A_U.T, A_U, precision=_HIGHEST), unpenalized_idx,
                                              design.X.shape[1])


def null_correlations_from_kernel(design: dsg.Design, y, w, unpenalized_idx=None):
    """``Xs^T W r`` (p,) at the null fit (``null_correlations_from_gram``), from X: one pass."""
    if unpenalized_idx is None:
        return dsg.rmatvec(design, w * y)
    sqrt_w = jnp.sqrt(w)
    columns_U, A_U, block = _kernel_block(design, sqrt_w, unpenalized_idx)
    b_U = block.solve(jnp.matmul(sqrt_w * y, A_U, precision=_HIGHEST))
    return dsg.rmatvec(design, w * (y - jnp.matmul(columns_U, b_U, precision=_HIGHEST)))


def ridge_from_kernel(design: dsg.Design, y, w, pf, allowed, lambdas, unpenalized_idx=None):
    """``(B, residuals, refine)`` for ``p > n``: ``B`` (K, p) as in ``ridge_from_gram``,
    computed from the kernel ``A A^T`` (n, n), ``A = W^1/2 Xs D^-1/2`` on the penalized
    features, with ``residuals`` ``y - Xs b_k`` (K, n) recomputed from X; ``refine(B,
    residuals)``: one step of iterative refinement of ``(A A^T + lambda I) a = W^1/2 y``
    (whose residual is ``W^1/2 r - lambda a``) mapped to both, two more passes over X.

    ``unpenalized_idx`` (k,): the allowed features with ``pf = 0`` (padded with ``p + 1``),
    eliminated in the n-dimensional space: with ``A_U = W^1/2 Xs_U`` and the projection
    ``Q = I - A_U (A_U^T A_U)^-1 A_U^T``, the kernel is ``Q A A^T Q``, the right-hand side
    ``Q W^1/2 y``, and ``b_U = (A_U^T A_U)^-1 A_U^T W^1/2 (y - Xs_P b_P)``."""
    sqrt_w = jnp.sqrt(w)
    penalized = allowed & (pf > 0)
    coef_scale = jnp.where(penalized, 1.0 / jnp.where(penalized, pf, 1.0), 0.0)
    # Xs D^-1 Xs^T on the raw columns: x_j's weight is 1 / (s_j^2 pf_j).
    column_weight = coef_scale * design.inv_scale * design.inv_scale
    kernel = dsg.centered_kernel(design.X, design.center, column_weight) * (sqrt_w[:, None] * sqrt_w[None, :])
    if unpenalized_idx is None:
        def project(V):
            return V
    else:
        columns_U, A_U, block = _kernel_block(design, sqrt_w, unpenalized_idx)

        def project(V):
            """``Q`` applied to each row of ``V`` (..., n)."""
            return V - jnp.matmul(block.solve(jnp.matmul(V, A_U, precision=_HIGHEST)), A_U.T, precision=_HIGHEST)

        kernel = project(project(kernel).T)
    solve = _spectral_inverse(kernel, lambdas)

    def finish(alphas):
        """``(B, residuals)`` from the n-dimensional solutions (K, n): two passes over X."""
        B = _kernel_coefficients(design, sqrt_w, coef_scale, alphas)
        residuals = y[None, :] - _fitted(design, B)
        if unpenalized_idx is not None:
            a = block.solve(jnp.matmul(sqrt_w * residuals, A_U, precision=_HIGHEST))
            B = _scatter(B, block, a)
            residuals = residuals - jnp.matmul(a, columns_U.T, precision=_HIGHEST)
        return B, residuals

    alphas = solve(project(jnp.broadcast_to(sqrt_w * y, (lambdas.shape[0], y.shape[0]))))
    B, residuals = finish(alphas)

    def refine(B, residuals):
        # Each row of ``alphas`` is W^1/2 r / lambda at the exact solution.
        return finish(alphas + solve(project(sqrt_w * residuals - lambdas[:, None] * alphas)))

    return B, residuals, refine


def _better(first, second, gap_first, gap_second):
    """Per lambda (leading axis), ``second`` where its gap is smaller, else ``first``."""
    take = gap_second < gap_first
    return jax.tree_util.tree_map(lambda a, b: jnp.where(take.reshape((-1,) + (1,) * (a.ndim - 1)), b, a), first, second)


def run_ridge_path(inputs: PathInputs, *, family: Family, fit_intercept: bool, standardize: bool, unpenalized: int = 0):
    """The Gaussian ridge path in closed form, with ``run_path``'s outputs
    (``homotopy.full_slot_outputs``: slot ``j`` holds feature ``j``). The Gram form runs when ``n >= p`` (static shapes),
    the kernel form otherwise. ``n_iter`` is 1 per lambda (2 where the refinement ran).
    ``unpenalized`` (static): at least the number of allowed features with ``pf = 0``."""
    X, w = inputs.X, inputs.w
    n, p = X.shape
    K = inputs.lambdas.shape[0]
    y_work, null_b0 = working_response(family, inputs.y, w, inputs.offset, fit_intercept)
    null_dev = family.deviance(inputs.y, null_b0 + inputs.offset, w)
    tol = inputs.tol

    if n >= p:
        stats = gram_statistics(X, w, w * y_work, fit_intercept)
        center, variance, constant = stats.center, stats.variance, stats.constant
    else:
        center, variance, constant = dsg.column_moments(X, w, fit_intercept)
    design = dsg.make_design(X, center, variance, standardize)
    scale = design.scale
    lo, hi = standardized_bounds(inputs.lower, inputs.upper, constant, scale)
    allowed = lo < hi

    if n >= p:
        c = (stats.xr - center * stats.r_total) * design.inv_scale  # Xs^T W y_work
        G = stats.gram * (design.inv_scale[:, None] * design.inv_scale[None, :])
        yy = jnp.sum(w * y_work * y_work)

        def residual_moments(b):
            r = y_work - dsg.matvec(design, b)
            return jnp.sum(w * r * r), jnp.sum(w * r * y_work)
    unpenalized_idx = None
    if unpenalized:
        unpenalized_idx = jnp.nonzero(allowed & (inputs.pf == 0), size=unpenalized, fill_value=p + 1)[0].astype(jnp.int32)
    if n >= p:
        null_correlations = null_correlations_from_gram(G, c, unpenalized_idx)
    else:
        null_correlations = null_correlations_from_kernel(design, y_work, w, unpenalized_idx)
    lambda_max, lambda_max_ok, lambdas = null_grid(null_correlations, inputs.pf, lo, hi, inputs, inputs.lambdas)

    if n >= p:
        B, refine = ridge_from_gram(G, c, inputs.pf, allowed, lambdas, unpenalized_idx)

        def certify(B):
            return certify_gaussian(G, c, yy, y_work, w, family, inputs.pf, lo, hi, lambdas, B, residual_moments, 0.0)

        state = (B,)
        refine_state = lambda state: (refine(state[0]),)  # noqa: E731
    else:
        B, residuals, refine = ridge_from_kernel(design, y_work, w, inputs.pf, allowed, lambdas, unpenalized_idx)

        def certify(B, residuals):
            grads = jax.vmap(lambda r: dsg.rmatvec(design, w * r))(residuals)
            rr = jnp.sum(w * residuals * residuals, axis=1)
            ry = jnp.matmul(residuals, w * y_work, precision=_HIGHEST)
            return gaussian_certificates(B, grads, rr, ry, y_work, w, family, inputs.pf, lo, hi, lambdas, 0.0,
                                         one_at_a_time=True)

        state = (B, residuals)
        refine_state = lambda state: refine(*state)  # noqa: E731

    certificates = certify(*state)

    def refined(args):
        state, certificates = args
        new_state = refine_state(state)
        new_certificates = certify(*new_state)
        return _better(state, new_state, certificates[1], new_certificates[1]), \
            _better(certificates, new_certificates, certificates[1], new_certificates[1])

    misses = ~(certificates[1] <= tol)
    state, certificates = jax.lax.cond(jnp.any(misses), refined, lambda args: args, (state, certificates))
    n_iter = jnp.where(misses, 2, 1)
    # A member of a batch with l1_ratio > 0 (a cross-validation over l1_ratios) has solved
    # the ridge problem, not its own: nothing is recorded, and the working set solves it.
    ridge = jnp.broadcast_to(inputs.l1_ratio == 0, (K,))
    return full_slot_outputs(inputs, state[0], ridge, certificates, n_iter, lambdas, lambda_max, lambda_max_ok,
                             null_dev, center, scale, constant, null_b0)
