"""The result of a path: NumPy arrays, prediction and glmnet-style interpolation."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["PathResult"]


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclasses.dataclass(frozen=True)
class PathResult:
    """A regularization path. K = number of lambdas, p = number of features.

    Attributes
    ----------
    lambdas : (K,) penalty strengths, decreasing.
    coef : (K, p) coefficients on the original scale of X.
    intercept : (K,) intercepts.
    dev_ratio : (K,) fraction of (null) deviance explained, ``1 - dev / null_dev``.
    df : (K,) number of non-zero coefficients.
    objective : (K,) value of the objective (design.md sec. 1) at the returned solution.
    gap : (K,) relative duality gap ``(P - D) / P``, an upper bound on the relative
        suboptimality of the returned objective value (certificate).
    kkt : (K,) largest KKT violation over all coefficients, in units of the gradient of the
        objective with respect to standardized coefficients.
    n_iter : (K,) inner iterations (Newton steps + coordinate sweeps) per lambda.
    converged : (K,) ``gap <= tol``.
    lambda_max : smallest lambda with every penalized coefficient zero.
    null_deviance : deviance of the intercept-only (+ offset) model.
    family, l1_ratio, tol : the settings used.
    classes : binomial only, the two labels; ``classes[1]`` is modelled (coded 1).
    """

    lambdas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    dev_ratio: np.ndarray
    df: np.ndarray
    objective: np.ndarray
    gap: np.ndarray
    kkt: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    lambda_max: float
    null_deviance: float
    family: str
    l1_ratio: float
    tol: float
    classes: np.ndarray | None = None

    @property
    def n_lambdas(self) -> int:
        return int(self.lambdas.shape[0])

    def interpolate(self, lambdas):
        """Coefficients and intercepts at arbitrary lambdas, as glmnet's ``predict(s=)``.

        Linear interpolation in lambda between the two neighbouring grid values; lambdas
        outside the grid are clamped to its ends. Returns ``(coef (L, p), intercept (L,))``.
        """
        s = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError("lambdas to interpolate at must be finite and non-negative")
        lam = self.lambdas
        if lam.size == 1:
            return np.repeat(self.coef, s.size, axis=0), np.repeat(self.intercept, s.size)
        s = np.clip(s, lam.min(), lam.max())
        # lam is decreasing: interpolate on the increasing reversed grid.
        rev = lam[::-1]
        pos = np.interp(s, rev, np.arange(lam.size)[::-1].astype(float))
        left = np.floor(pos).astype(int)
        right = np.minimum(left + 1, lam.size - 1)
        span = lam[left] - lam[right]
        frac = np.where(span > 0, (s - lam[right]) / np.where(span > 0, span, 1.0), 1.0)
        coef = frac[:, None] * self.coef[left] + (1 - frac)[:, None] * self.coef[right]
        icpt = frac * self.intercept[left] + (1 - frac) * self.intercept[right]
        return coef, icpt

    def coef_at(self, lam):
        """Coefficients (p,) and intercept at one lambda (interpolated)."""
        coef, icpt = self.interpolate([lam])
        return coef[0], float(icpt[0])

    def predict(self, X, lambdas=None, *, type="link", offset=None):
        """Predictions for new X (m, p): ``(m, K)`` on the grid, or ``(m, L)`` at ``lambdas``.

        ``type="link"`` gives the linear predictor ``X coef + intercept (+ offset)``;
        ``type="response"`` the mean (probability of ``classes[1]`` for binomial).
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response'; got {type!r}")
        X = np.asarray(X, dtype=self.coef.dtype)
        if X.ndim != 2 or X.shape[1] != self.coef.shape[1]:
            raise ValueError(f"X must have shape (m, {self.coef.shape[1]}); got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite value(s)")
        if lambdas is None:
            coef, icpt = self.coef, self.intercept
        else:
            coef, icpt = self.interpolate(lambdas)
        eta = X @ coef.T + icpt[None, :]
        if offset is not None:
            off = np.asarray(offset, dtype=eta.dtype)
            if off.shape != (X.shape[0],):
                raise ValueError(f"offset must have shape ({X.shape[0]},); got {off.shape}")
            eta = eta + off[:, None]
        if type == "link" or self.family == "gaussian":
            return eta
        return _sigmoid(eta)
