"""Shared fixtures. jaxreg handles float64 itself: the tests never enable x64 globally."""

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest

# Compiled path programs go to a disk cache private to this test session (shared with the
# notebook kernels it starts), never to the user's ~/.cache/jaxreg.
_PROGRAM_CACHE = tempfile.mkdtemp(prefix="jaxreg-test-programs-")
os.environ["JAXREG_CACHE_DIR"] = _PROGRAM_CACHE
atexit.register(shutil.rmtree, _PROGRAM_CACHE, True)

from jaxreg.datasets import load_breast_cancer, load_diabetes, make_glmnet_benchmark


def at_offset(X, offset):
    """A copy of ``X`` (C-ordered) whose buffer starts ``offset`` bytes past a 64-byte
    boundary: 0 is shared with XLA:CPU, 16 is where NumPy places large arrays."""
    buf = np.empty(X.nbytes + 128, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    out = buf[start:start + X.nbytes].view(X.dtype).reshape(X.shape)
    out[:] = X
    return out


@pytest.fixture(scope="session")
def diabetes():
    return load_diabetes()


@pytest.fixture(scope="session")
def breast_cancer():
    return load_breast_cancer()


@pytest.fixture(scope="session")
def corr_data():
    """glmnet-recipe Gaussian data, n > p, rho = 0.5."""
    X, y, _ = make_glmnet_benchmark(200, 30, 0.5, seed=1)
    return X, y


def standardize(X, w=None):
    """Weighted (1/n) centering and scaling, as jaxreg does with standardize=True."""
    w = np.full(X.shape[0], 1.0 / X.shape[0]) if w is None else w / w.sum()
    m = w @ X
    s = np.sqrt(w @ (X - m) ** 2)
    return (X - m) / s, m, s


def gaussian_objective(X, y, coef, intercept, lam, l1_ratio=1.0, w=None, scale=None):
    """design.md objective for the Gaussian family; ``scale`` = standardization scales."""
    n = X.shape[0]
    w = np.full(n, 1.0 / n) if w is None else w / w.sum()
    s = np.ones(X.shape[1]) if scale is None else scale
    b = coef * s
    r = y - intercept - X @ coef
    return 0.5 * np.sum(w * r * r) + lam * (l1_ratio * np.sum(np.abs(b)) + 0.5 * (1 - l1_ratio) * np.sum(b * b))


def binomial_objective(X, y, coef, intercept, lam, l1_ratio=1.0, w=None, scale=None):
    n = X.shape[0]
    w = np.full(n, 1.0 / n) if w is None else w / w.sum()
    s = np.ones(X.shape[1]) if scale is None else scale
    b = coef * s
    eta = intercept + X @ coef
    return np.sum(w * (np.logaddexp(0, eta) - y * eta)) + lam * (
        l1_ratio * np.sum(np.abs(b)) + 0.5 * (1 - l1_ratio) * np.sum(b * b)
    )
