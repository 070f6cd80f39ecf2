"""Exponential-family losses (datafits) in the linear predictor ``eta``.

Every family is a small frozen object with no array leaves: it only selects
functions, so it is static under ``jax.jit``. All functions are elementwise over
observations; sample weights ``w`` (normalized to sum to one) are applied by the
caller.

For observation ``i`` with response ``y_i`` and linear predictor ``eta_i``:

==========  ===================================  ===================  ============
family      loss ``l(y, eta)``                   mean ``mu(eta)``     ``d mu/d eta``
==========  ===================================  ===================  ============
gaussian    ``(y - eta)**2 / 2``                 ``eta``              ``1``
binomial    ``log(1 + exp(eta)) - y * eta``      ``sigmoid(eta)``     ``mu (1 - mu)``
==========  ===================================  ===================  ============

For both, ``d l / d eta = mu - y`` and ``d2 l / d eta2 = d mu / d eta``.

The Fenchel conjugate of ``F(u) = sum_i w_i l(y_i, u_i)`` evaluated at the dual point
``-theta`` with ``theta = s * w * (y - mu)`` (``0 < s <= 1``) is what duality gaps need
(``conjugate_at_scaled_residual``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = ["Family", "Gaussian", "Binomial", "get_family"]


@dataclasses.dataclass(frozen=True)
class Family:
    """Base class: a family selects loss, mean and curvature functions."""

    name: str = "family"
    #: True when the loss is quadratic in eta with constant curvature (one Newton step is exact).
    is_quadratic: bool = False

    def loss(self, y, eta):  # pragma: no cover - abstract
        raise NotImplementedError

    def mean(self, eta):  # pragma: no cover - abstract
        raise NotImplementedError

    def curvature(self, eta):  # pragma: no cover - abstract
        raise NotImplementedError

    def conjugate_at_scaled_residual(self, y, mu, w, s):  # pragma: no cover - abstract
        raise NotImplementedError

    def saturated_loss(self, y):
        """Loss of the saturated model, elementwise; deviance = 2 * sum w (l - l_sat)."""
        return jnp.zeros_like(y)

    def loss_mean_curvature(self, y, eta):
        """``(loss(y, eta), mean(eta), curvature(eta))``, elementwise; families override it
        to share their transcendental functions among the three."""
        return self.loss(y, eta), self.mean(eta), self.curvature(eta)

    def deviance(self, y, eta, w):
        """Weighted deviance ``2 * sum_i w_i (l(y_i, eta_i) - l_sat(y_i))``."""
        return 2.0 * jnp.sum(w * (self.loss(y, eta) - self.saturated_loss(y)))


@dataclasses.dataclass(frozen=True)
class Gaussian(Family):
    """Least squares: ``l(y, eta) = (y - eta)**2 / 2``, identity link."""

    name: str = "gaussian"
    is_quadratic: bool = True

    def loss(self, y, eta):
        return 0.5 * (y - eta) ** 2

    def mean(self, eta):
        return eta

    def curvature(self, eta):
        return jnp.ones_like(eta)

    def conjugate_at_scaled_residual(self, y, mu, w, s):
        """``F*(-theta)`` for ``theta = s w (y - mu)``: ``sum w (s^2 r^2 / 2 - s r y)``."""
        r = y - mu
        return jnp.sum(w * (0.5 * s * s * r * r - s * r * y))


def _xlogx(t):
    """``t log t`` with the limit 0 at t = 0 (finite for every t; meaningful on [0, 1]).

    ``log(max(t, tiny))`` rather than selects around the log: XLA:CPU left the logs of the
    select form unvectorized (the conjugate below took 3x longer on 5000 rows)."""
    return t * jnp.log(jnp.maximum(t, jnp.finfo(t.dtype).tiny))


@dataclasses.dataclass(frozen=True)
class Binomial(Family):
    """Logistic regression for 0/1 responses: ``l(y, eta) = log(1 + exp(eta)) - y eta``."""

    name: str = "binomial"

    def loss(self, y, eta):
        # softplus(eta) = max(eta, 0) + log1p(exp(-|eta|)): exact to rounding for every eta.
        # Written out rather than ``jnp.logaddexp(0, eta)``, which XLA:CPU (jaxlib 0.10) runs
        # 4-5x slower on the same vector; the line search evaluates this on n rows per trial.
        return jnp.maximum(eta, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(eta))) - y * eta

    def mean(self, eta):
        return jax.nn.sigmoid(eta)

    def curvature(self, eta):
        mu = jax.nn.sigmoid(eta)
        return mu * (1.0 - mu)

    def saturated_loss(self, y):
        return -(_xlogx(y) + _xlogx(1.0 - y))

    def loss_mean_curvature(self, y, eta):
        """One exponential, one log1p and one division for the three, with
        ``e = exp(-|eta|)``: ``mu = 1 / (1 + e)`` for ``eta >= 0``, ``e / (1 + e)`` below, and
        ``mu (1 - mu) = e / (1 + e)^2``. (A streamed pass over 2,500,000 x 5 took 72 ms written
        this way on centered blocks of X, against 136 ms for a first version that formed
        [Xs, 1] per block, called the three functions apart and also evaluated the loss at a
        reference point; micro-benchmarks, not separated further.)"""
        e = jnp.exp(-jnp.abs(eta))
        inv = 1.0 / (1.0 + e)
        loss = jnp.maximum(eta, 0.0) + jnp.log1p(e) - y * eta
        return loss, jnp.where(eta >= 0, inv, e * inv), e * inv * inv

    def conjugate_at_scaled_residual(self, y, mu, w, s):
        """``F*(-theta) = sum w phi((1 - s) y + s mu)`` with ``phi(t) = t log t + (1-t) log(1-t)``
        on ``0 <= t <= 1`` and ``+inf`` outside (where a corrected ``mu`` may land)."""
        t = (1.0 - s) * y + s * mu
        # Rows with w = 0 add w * (a finite number) = 0 wherever t lands.
        value = jnp.sum(w * (_xlogx(t) + _xlogx(1.0 - t)))
        outside = jnp.any((w > 0) & ((t < 0.0) | (t > 1.0)))
        return jnp.where(outside, jnp.inf, value)


_FAMILIES = {"gaussian": Gaussian(), "binomial": Binomial()}


def get_family(family) -> Family:
    """Return the family object for a name (``"gaussian"``, ``"binomial"``) or a Family."""
    if isinstance(family, Family):
        return family
    if isinstance(family, str) and family.lower() in _FAMILIES:
        return _FAMILIES[family.lower()]
    raise ValueError(
        f"family must be one of {sorted(_FAMILIES)} or a jaxreg.families.Family, got {family!r}"
    )
