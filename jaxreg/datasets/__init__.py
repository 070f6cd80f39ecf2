"""Small real datasets shipped with jaxreg, and the glmnet paper's synthetic recipe.

- ``load_diabetes()``: 442 patients x 10 baseline variables (age, sex, bmi, blood pressure,
  six serum measurements), response = disease progression one year later (Efron, Hastie,
  Johnstone, Tibshirani 2004, "Least angle regression"; the copy distributed with
  scikit-learn, BSD licence). Unscaled values.
- ``load_breast_cancer()``: Wisconsin diagnostic breast cancer, 569 x 30 features computed
  from cell-nucleus images, labels "malignant" / "benign" (Wolberg, Street, Mangasarian,
  UCI Machine Learning Repository, CC BY 4.0; the copy distributed with scikit-learn).
- ``load_srbct()``: small round blue cell tumours of childhood, 83 tumour samples x 2308
  gene-expression measurements (cDNA microarrays), labels "EWS" / "RMS" / "NB" / "BL"
  (Khan et al. 2001, Nature Medicine 7:673-679; the copy distributed with ISLP, the Python
  companion of "An Introduction to Statistical Learning", BSD licence). p >> n.
- ``make_glmnet_benchmark(...)``: Friedman, Hastie, Tibshirani (2010), sec. 5.1.
"""

from __future__ import annotations

import csv
import gzip
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "load_diabetes", "load_breast_cancer", "load_srbct", "make_glmnet_benchmark"]


class Dataset(NamedTuple):
    X: np.ndarray
    y: np.ndarray
    feature_names: list
    target_name: str


def _read(name: str, numeric_target: bool) -> Dataset:
    path = resources.files("jaxreg.datasets") / "data" / name
    with path.open("rb") as raw, gzip.open(raw, "rt") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    X = np.array([[float(v) for v in r[:-1]] for r in body])
    target = [r[-1] for r in body]
    y = np.array([float(v) for v in target]) if numeric_target else np.array(target)
    return Dataset(X, y, header[:-1], header[-1])


def load_diabetes() -> Dataset:
    """Diabetes progression (442 x 10, regression)."""
    return _read("diabetes.csv.gz", numeric_target=True)


def load_breast_cancer() -> Dataset:
    """Wisconsin diagnostic breast cancer (569 x 30, labels "malignant" / "benign")."""
    return _read("breast_cancer.csv.gz", numeric_target=False)


def load_srbct() -> Dataset:
    """Small round blue cell tumours (SRBCT) of childhood: 83 x 2308 gene expression, p >> n.

    Four tumour classes, ``y`` is the label: "EWS" (Ewing's sarcoma, 29 samples), "RMS"
    (rhabdomyosarcoma, 25), "NB" (neuroblastoma, 18), "BL" (Burkitt lymphoma, 11). ``X`` holds
    the expression measurements of the 2308 genes kept by the paper's filter, from cDNA
    microarrays, as distributed (no further scaling); the feature names ``gene_0001``.. ``gene_2308`` are column positions only (the
    gene identifiers are not part of the distributed copy). Rows 0-62 are the paper's training
    set and rows 63-82 its test set (the 5 non-SRBCT test samples excluded).

    Source: Khan J, Wei JS, Ringner M, et al. (2001), "Classification and diagnostic prediction
    of cancers using gene expression profiling and artificial neural networks", Nature Medicine
    7(6):673-679 (data made public by the authors). This file is the copy
    distributed as ``Khan`` with ISLP 0.6.0 (James, Witten, Hastie, Tibshirani, Taylor; BSD
    licence; also ``Khan`` in the R package ISLR): training and test rows concatenated and the
    class codes 1-4 replaced by their names (1 = BL, 2 = EWS, 3 = NB, 4 = RMS, identified by
    the class counts 8 / 23 / 12 / 20 of the paper's training set); values unchanged.
    """
    return _read("srbct.csv.gz", numeric_target=False)


def make_glmnet_benchmark(n: int, p: int, rho: float, *, snr: float = 3.0, family: str = "gaussian", seed: int = 0):
    """The glmnet paper's simulation (sec. 5.1): equicorrelated Gaussian X.

    ``X_ij = sqrt(rho / (1 - rho)) Z_i + W_ij`` so every pair of columns has correlation
    ``rho``; ``beta_j = (-1)^j exp(-2 (j - 1) / 20)``; ``f = X beta``; Gaussian
    ``y = f + k e`` with ``k = sqrt(var(f) / (snr var(e)))``; binomial ``y ~ Bernoulli(
    sigmoid(f'))`` with ``f' = f`` scaled to the same signal-to-noise. Returns (X, y, beta).
    """
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be in [0, 1); got {rho}")
    rng = np.random.default_rng(seed)
    scale = np.sqrt(rho / (1.0 - rho))
    X = scale * rng.standard_normal((n, 1)) + rng.standard_normal((n, p))
    j = np.arange(1, p + 1)
    beta = (-1.0) ** j * np.exp(-2.0 * (j - 1) / 20.0)
    f = X @ beta
    if family == "gaussian":
        e = rng.standard_normal(n)
        k = np.sqrt(np.var(f) / (snr * np.var(e)))
        return X, f + k * e, beta
    if family == "binomial":
        f = f * np.sqrt(snr) / max(np.std(f), 1e-12)
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-f))).astype(np.float64)
        return X, y, beta
    raise ValueError(f"family must be 'gaussian' or 'binomial'; got {family!r}")
