"""Elastic-net paths (l1_ratio < 1), jaxreg against glmnet, at the same certified accuracy.

``bench_path.py`` measures the lasso (glmnet's Table 1). This script measures the same
glmnet-recipe problems at ``l1_ratio`` < 1, for jaxreg and python-glmnet only (the other
adapters and the registry's dual bound are lasso-only). Objective, both libraries (glmnet's
convention, coefficients on the standardized scale with 1/n standard deviations ``s_j``):

    loss(beta, b0) + lambda * (a * sum_j s_j |beta_j| + (1 - a) / 2 * sum_j (s_j beta_j)^2)

with ``loss`` the mean squared error / 2 (Gaussian) or the mean logistic loss. glmnet solves
this Gaussian objective only for a response of unit variance (it standardizes y internally,
which rescales its ridge term but not its lasso term): Gaussian responses are divided by
their (1/n) standard deviation here, for both libraries.

Per cell and ``l1_ratio``: jaxreg's path (its default 100-lambda grid, ``tol=1e-6``) is
called once to compile, then ``--repeats`` times; its relative duality gaps certify its
objective ``P_j`` within ``gap_j`` of the optimum. glmnet solves the same grid with ``thresh``
tightened (1e-7, 1e-8, ...) until its certified relative suboptimality,
``max_k (P_glmnet - P_j) / P_j + gap_j`` (the optimum is at least ``P_j (1 - gap_j)``), is at
most 1e-6; that ``thresh`` is timed. Times are minima over the repeats, calls alternated in
one process; the ratio is jaxreg's time over glmnet's.

    PYTHONPATH=. python benchmarks/bench_enet.py --cells binomial:100x1000x0,100x1000x0 \\
        --l1-ratios 0.5,0.1 --out benchmarks/results/enet.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings

import numpy as np

TARGET = 1e-6
THRESHOLDS = (1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12)


def objective(X, y, family, l1_ratio, lambdas, coef, intercept):
    """The objective above at each lambda: (K,) from coef (K, p) and intercept (K,)."""
    s = X.std(axis=0)
    eta = intercept[:, None] + coef @ X.T
    if family == "gaussian":
        loss = 0.5 * np.mean((y[None, :] - eta) ** 2, axis=1)
    else:
        loss = np.mean(np.logaddexp(0.0, eta) - y[None, :] * eta, axis=1)
    scaled = coef * s
    penalty = l1_ratio * np.abs(scaled).sum(axis=1) + 0.5 * (1.0 - l1_ratio) * (scaled ** 2).sum(axis=1)
    return loss + lambdas * penalty


def fit_jaxreg(X, y, family, l1_ratio):
    import jaxreg

    return jaxreg.path(X, y, family=family, l1_ratio=l1_ratio, tol=TARGET)


def fit_glmnet(X, y, family, l1_ratio, lambdas, thresh):
    """``(coef (K, p), intercept (K,))`` of python-glmnet on ``lambdas``; NaN rows for lambdas
    it did not return."""
    import glmnet

    cls = glmnet.ElasticNet if family == "gaussian" else glmnet.LogitNet
    model = cls(alpha=l1_ratio, lambda_path=lambdas, standardize=True, fit_intercept=True, n_splits=0, tol=thresh,
                max_iter=1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    coef, intercept = np.asarray(model.coef_path_), np.asarray(model.intercept_path_)
    if family == "binomial":
        coef, intercept = coef[0], intercept[0]
    K, k = lambdas.size, coef.shape[1]
    full = np.full((K, X.shape[1]), np.nan)
    full[:k] = coef.T
    b0 = np.full(K, np.nan)
    b0[:k] = intercept
    return full, b0


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_cell(cell: str, l1_ratio: float, repeats: int) -> dict:
    from jaxreg.datasets import make_glmnet_benchmark

    family, _, shape = cell.rpartition(":")
    family = family or "gaussian"
    n, p, rho = shape.split("x")
    X, y, _ = make_glmnet_benchmark(int(n), int(p), float(rho), family=family, seed=0)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if family == "gaussian":
        # glmnet scales a Gaussian y to unit (1/n) variance inside and its ridge term with it:
        # its elastic net solves the objective above only for such a y.
        y = y / y.std()

    res = fit_jaxreg(X, y, family, l1_ratio)  # compiles (and grows the working set) once
    lambdas = np.asarray(res.lambdas)
    P_j = objective(X, y, family, l1_ratio, lambdas, res.coef, res.intercept)
    gap_j = np.asarray(res.gap)
    row = dict(cell=cell, family=family, n=int(n), p=int(p), rho=float(rho), l1_ratio=l1_ratio,
               jaxreg_max_gap=float(gap_j.max()),
               jaxreg_objective_vs_reported=float(np.max(np.abs(P_j - res.objective) / P_j)))
    glmnet_thresh = glmnet_bound = None
    for thresh in THRESHOLDS:
        coef, b0 = fit_glmnet(X, y, family, l1_ratio, lambdas, thresh)
        P_g = objective(X, y, family, l1_ratio, lambdas, coef, b0)
        bound = float(np.max(np.where(np.isfinite(P_g), (P_g - P_j) / P_j + gap_j, np.inf)))
        if bound <= TARGET:
            glmnet_thresh, glmnet_bound = thresh, bound
            break
    row.update(glmnet_thresh=glmnet_thresh, glmnet_certified_subopt=glmnet_bound)
    t_j = best_time(lambda: fit_jaxreg(X, y, family, l1_ratio), repeats)
    t_g = (best_time(lambda: fit_glmnet(X, y, family, l1_ratio, lambdas, glmnet_thresh), repeats)
           if glmnet_thresh is not None else float("nan"))
    row.update(jaxreg_s=t_j, glmnet_s=t_g, ratio=t_j / t_g)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", default="binomial:100x1000x0,binomial:100x1000x0.5,binomial:1000x100x0.5,"
                                        "100x1000x0,1000x100x0.5")
    ap.add_argument("--l1-ratios", default="0.5,0.1")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="CSV file for the rows")
    args = ap.parse_args(argv)
    try:
        import glmnet  # noqa: F401
    except ImportError:
        print("bench_enet.py compares with python-glmnet, which is not installed "
              "(pip install python-glmnet, or the bench extra: pip install -e '.[bench]')", file=sys.stderr)
        return 2
    rows = []
    print(f"{'cell':>24} {'l1_ratio':>8} {'jaxreg [ms]':>11} {'glmnet [ms]':>11} {'ratio':>6} {'thresh':>7} "
          f"{'glmnet subopt':>13} {'jaxreg gap':>10}")
    for cell in args.cells.split(","):
        for l1_ratio in (float(a) for a in args.l1_ratios.split(",")):
            r = run_cell(cell, l1_ratio, args.repeats)
            rows.append(r)
            thresh = "-" if r["glmnet_thresh"] is None else f"{r['glmnet_thresh']:.0e}"
            subopt = "-" if r["glmnet_certified_subopt"] is None else f"{r['glmnet_certified_subopt']:.1e}"
            print(f"{cell:>24} {l1_ratio:8g} {1e3 * r['jaxreg_s']:11.1f} {1e3 * r['glmnet_s']:11.1f} "
                  f"{r['ratio']:6.2f} {thresh:>7} {subopt:>13} {r['jaxreg_max_gap']:10.1e}", flush=True)
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
