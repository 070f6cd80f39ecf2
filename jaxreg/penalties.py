"""The elastic-net penalty with penalty factors and box bounds.

For one coefficient ``b`` with penalty factor ``pf``, mixing ``l1_ratio = alpha`` and
strength ``lam``, the penalty is

    Omega(b) = lam * pf * (alpha * |b| + (1 - alpha) / 2 * b**2) + indicator(lo <= b <= hi).

Below, ``l1 = lam * alpha * pf`` and ``l2 = lam * (1 - alpha) * pf`` are per-coordinate
arrays (shape ``(m,)``), so the same functions serve any lambda, l1_ratio and pf without
recompiling. ``lo <= 0 <= hi`` always (validated at the boundary).
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = [
    "soft_threshold",
    "coordinate_minimizer",
    "penalty_value",
    "kkt_violation",
    "conjugate",
]


def soft_threshold(u, t):
    """``sign(u) * max(|u| - t, 0)``."""
    return jnp.sign(u) * jnp.maximum(jnp.abs(u) - t, 0.0)


def coordinate_minimizer(u, a, l1, l2, lo, hi):
    """Minimizer of ``a/2 b^2 - u b + l1 |b| + l2/2 b^2`` over ``lo <= b <= hi``.

    ``b* = clip(S(u, l1) / (a + l2), lo, hi)``; a coordinate with ``a + l2 = 0`` (an empty
    slot or a constant column) returns 0.
    """
    den = a + l2
    safe = jnp.where(den > 0, den, 1.0)
    b = jnp.where(den > 0, soft_threshold(u, l1) / safe, 0.0)
    return jnp.clip(b, lo, hi)


def penalty_value(b, l1, l2):
    """``sum_j l1_j |b_j| + l2_j / 2 b_j^2`` (bounds are assumed to hold)."""
    return jnp.sum(l1 * jnp.abs(b) + 0.5 * l2 * b * b)


def kkt_violation(grad, b, l1, l2, lo, hi):
    """Distance from 0 to ``grad + d Omega(b)``, per coordinate (shape of ``b``).

    ``grad`` is the derivative of the smooth loss in ``b`` (without the ridge term). The
    optimality condition is ``0 in grad + l2 b + l1 d|b| + N_[lo,hi](b)``: ``-(grad + l2 b)``
    must lie in ``[L, U]`` where ``L = U = l1 sign(b)`` off zero, ``[-l1, l1]`` at zero, and
    ``U = +inf`` at an upper bound, ``L = -inf`` at a lower bound.
    """
    v = -(grad + l2 * b)
    lower = jnp.where(b > 0, l1, -l1)
    upper = jnp.where(b < 0, -l1, l1)
    upper = jnp.where(b >= hi, jnp.inf, upper)
    lower = jnp.where(b <= lo, -jnp.inf, lower)
    return jnp.maximum(jnp.maximum(lower - v, v - upper), 0.0)


def conjugate(z, l1, l2, lo, hi):
    """``Omega*(z) = sup_{lo <= b <= hi} z b - l1 |b| - l2/2 b^2``, per coordinate.

    Finite whenever ``l2 > 0``, or the bound in the direction of ``z`` is finite, or
    ``|z| <= l1``; the caller scales the dual point so that one of these holds (an infinite
    value, which rounding can leave, counts as 0).

    With ``e = |z| - l1``: 0 when ``e <= 0``; otherwise the sup is at ``b = sign(z) t`` with
    ``t = min(e / l2, u)`` (``u`` the bound in the direction of ``z``; ``t = u`` when
    ``l2 = 0``), and equals ``e t - l2 / 2 t^2``.
    """
    e = jnp.abs(z) - l1
    bound = jnp.where(z > 0, hi, -lo)
    t = jnp.where(l2 > 0, jnp.minimum(e / jnp.where(l2 > 0, l2, 1.0), bound), bound)
    t = jnp.where(jnp.isfinite(t), t, 0.0)
    return jnp.where(e > 0, e * t - 0.5 * l2 * t * t, 0.0)
