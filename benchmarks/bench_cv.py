"""Cross-validated elastic-net paths: jaxreg.cv against scikit-learn ElasticNetCV and python-glmnet.

The task (issue target): 10-fold cross-validation over 3 l1_ratios (0.2, 0.5, 1.0) x 100 lambdas
on a glmnet-recipe problem, N = 1000, p = 200, rho = 0.5 (``make_glmnet_benchmark``, seed 0).
Every library gets the same folds (``jaxreg.make_folds(y, 10, seed)``) and the same lambda grid
per l1_ratio: jaxreg's (glmnet's rule), 100 log-spaced values from the full-data
``lambda_max(l1_ratio)`` down to 1e-4 of it (n > p; 1e-2 if n <= p).

The problem solved on each training set (design.md sec. 1, gaussian, ``standardize=True``):

    minimize over (b0, beta):
        1/(2m) ||y - b0 - X beta||^2 + lambda * (a ||s*beta||_1 + (1 - a)/2 ||s*beta||^2)

with ``a`` the l1_ratio and ``s`` the 1/m standard deviations of the columns. y is scaled to
unit 1/n standard deviation once, before anything else, for every library: glmnet divides y
by its standard deviation internally and solves the problem for ``y/sd(y)`` at
``lambda/sd(y)``, which for 0 < a < 1 is not the problem above for the raw y (the ridge term
does not scale like the rest). With sd(y) = 1 its full-data problems are exactly the ones above.

Fold conventions differ, and the script says where:

- jaxreg and glmnet standardize inside each training fold (``s`` = the fold's standard
  deviations), as cv.glmnet does. glmnet also rescales y by the training fold's sd(y), which is
  close to but not exactly 1, so for a < 1 its fold problems differ slightly from jaxreg's.
  glmnet gets the folds through ``groups=fold_ids`` (python-glmnet then uses
  ``GroupKFold(10)``: one group per fold, the same folds as jaxreg's).
- scikit-learn gets X standardized once on the full data (1/n std), and ElasticNetCV does not
  re-standardize per fold: its fold problems penalize ``||w||`` on the globally standardized
  columns. ``ElasticNetCV(alphas=100, eps=1e-4)`` builds a per-l1_ratio grid from the full
  data by the same rule as jaxreg (checked to be equal to ~1e-15), so the lambdas match.
  (A user-given ``alphas`` array is one grid tiled over all l1_ratios in scikit-learn 1.9.)
  An extra untimed ``jaxreg.cv(Xs, y, standardize=False)`` call solves exactly scikit-learn's
  fold problems, to compare the cross-validation curves like for like.

Protocol:

1. jaxreg: the first ``jaxreg.cv`` call (trace + compile + solve) is timed on its own, then
   the best of ``--repeats`` calls (steady state), at the default tol (certified relative
   duality gap 1e-7). Its fold solutions are recomputed by the same batched call that cv makes
   (``path_batch``, checked to reproduce ``cv_folds``) to measure their accuracy.
2. Accuracy, per fold problem and lambda: relative suboptimality ``(obj - ref) / ref``, with the
   objective computed by this script (float64, original scale, the library's own intercept).
   The reference is the minimum over all runs, including ``jaxreg.path`` at tol 1e-13 on the
   training rows (a plain subset, not a weight mask); it is checked against a lower bound from
   an independent dual point (:func:`dual_bound`).
   - jaxreg: all F x L fold problems and the L full-data paths.
   - scikit-learn: its fold problems, solved by ``enet_path`` exactly as ElasticNetCV's
     ``_path_residuals`` does (fold-centered X, Gram precomputed since n > p); ``tol`` is
     tightened one decade at a time from 1e-4 until the worst is <= ``--target``.
   - glmnet: the L full-data paths (its fold fits cannot be extracted from its CV); ``thresh``
     is tightened one decade at a time from 1e-7 until the worst is <= ``--target``.
3. Peers run in their own spawned worker process (each gets an untimed warm-up call) and are
   timed at the first tolerance that reaches the target (best of ``--repeats``), and once more
   at their default tolerance for information. scikit-learn: one ``ElasticNetCV(l1_ratio=[...],
   cv=PredefinedSplit(fold_ids), n_jobs=2)`` fit. glmnet: the L ``ElasticNet(alpha=a,
   n_splits=10, lambda_path=grid_a, scoring="mean_squared_error", n_jobs=2)`` fits together
   (each is one full-data fit plus 10 fold fits).
4. Agreement: lambda_min index per l1_ratio, the chosen (l1_ratio, lambda_min), and the largest
   relative difference between each library's CV-error curve and jaxreg's on the same problems.

Run ``python benchmarks/bench_cv.py --help`` for options; ``--quick`` is a smoke test.
Results are printed and written to ``benchmarks/results/cv_<date>.csv``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_path import (  # noqa: E402  (shared helpers: one machine report for all benchmarks)
    Timing,
    best,
    load_average,
    machine_info,
    timed,
    version_of,
    write_csv,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REFERENCE_TOL = 1e-13
SKLEARN_TOLS = tuple(10.0**-k for k in range(4, 12))  # 1e-4 (its default) ... 1e-11
GLMNET_TOLS = tuple(10.0**-k for k in range(7, 16))  # 1e-7 (its default) ... 1e-15


# --------------------------------------------------------------------------------------
# Problems, the one objective and its dual bound
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PathProblem:
    """One elastic-net path: design ``A`` (m, p), response ``y`` (m,), penalty scale ``s`` (p,)
    (the penalty applies to ``s * coef``), l1_ratio ``a`` and grid ``lambdas`` (K,)."""

    A: np.ndarray
    y: np.ndarray
    s: np.ndarray
    a: float
    lambdas: np.ndarray
    label: str

    def objective(self, coef, intercept) -> np.ndarray:
        """(K,) objective values of coef (K, p), intercept (K,) on A's scale; non-finite -> inf."""
        coef = np.asarray(coef, dtype=np.float64)
        intercept = np.asarray(intercept, dtype=np.float64)
        resid = self.y[None, :] - intercept[:, None] - coef @ self.A.T
        sc = coef * self.s
        pen = self.a * np.sum(np.abs(sc), axis=1) + 0.5 * (1.0 - self.a) * np.sum(sc * sc, axis=1)
        obj = 0.5 * np.mean(resid**2, axis=1) + self.lambdas * pen
        return np.where(np.isfinite(obj), obj, np.inf)

    def dual_bound(self, coef) -> np.ndarray:
        """A lower bound on the optimum at each lambda, from the dual point of ``coef``.

        On the centered problem in standardized coordinates (Z = (A - mean) / s, w = s * coef,
        intercept profiled out), with r = yc - Z w, g = Z' r / m and the Fenchel dual
        D(v) = -f*(v) - h*(-Z'v) at v = -kappa r / m:
        D = kappa r'yc/m - kappa^2 ||r||^2/(2m) - sum_j (kappa |g_j| - lam a)_+^2 / (2 lam (1-a)),
        with kappa = 1 for a < 1, and kappa = min(1, lam / max|g|) (dual feasibility) for a = 1.
        """
        m = self.A.shape[0]
        Z = (self.A - self.A.mean(axis=0)) / self.s
        yc = self.y - self.y.mean()
        w = np.nan_to_num(np.asarray(coef, dtype=np.float64) * self.s)
        r = yc[None, :] - w @ Z.T  # (K, m)
        g = np.abs(r @ Z) / m  # (K, p)
        lam = self.lambdas
        if self.a >= 1.0:
            kappa = np.minimum(1.0, lam / np.maximum(np.max(g, axis=1), np.finfo(float).tiny))
            excess = 0.0
        else:
            kappa = np.ones_like(lam)
            excess = np.sum(np.maximum(g - (lam * self.a)[:, None], 0.0) ** 2, axis=1) / (2 * lam * (1 - self.a))
        return kappa * (r @ yc) / m - kappa**2 * np.sum(r * r, axis=1) / (2 * m) - excess


def rel_subopt(obj, ref) -> np.ndarray:
    return (np.asarray(obj) - ref) / ref


class ProblemSet:
    """A list of PathProblems with every run's objectives, the reference and the dual bound."""

    def __init__(self, problems: list, name: str):
        self.problems = problems
        self.name = name
        self.objs: dict = {}  # run name -> list of (K,) objective arrays, one per problem
        self.duals = [np.full(p.lambdas.shape, -np.inf) for p in problems]

    def add(self, run: str, coefs, intercepts) -> None:
        objs = []
        for i, (prob, c, b) in enumerate(zip(self.problems, coefs, intercepts)):
            objs.append(prob.objective(c, b))
            self.duals[i] = np.maximum(self.duals[i], prob.dual_bound(c))
        self.objs[run] = objs

    def reference(self) -> list:
        return [np.min(np.stack([o[i] for o in self.objs.values()]), axis=0) for i in range(len(self.problems))]

    def worst(self, run: str) -> float:
        """max over problems and lambdas of the run's relative suboptimality."""
        ref = self.reference()
        return float(max(np.max(rel_subopt(o, r)) for o, r in zip(self.objs[run], ref)))

    def certified(self) -> float:
        """max relative distance of the reference above the best dual bound."""
        ref = self.reference()
        return float(max(np.max((r - d) / r) for r, d in zip(ref, self.duals)))


def std_1n(A) -> np.ndarray:
    return np.asarray(A).std(axis=0)


# --------------------------------------------------------------------------------------
# Peers, in a spawned worker process each
# --------------------------------------------------------------------------------------

_W: dict = {}  # the worker process's data


def sklearn_cv(tol: float, max_iter: int, n_jobs: int) -> dict:
    """One ElasticNetCV fit on the globally standardized X, folds from fold_ids."""
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import PredefinedSplit

    grids = _W["grids"]
    model = ElasticNetCV(
        l1_ratio=list(_W["ratios"]), alphas=grids.shape[1], eps=grids[0, -1] / grids[0, 0],
        cv=PredefinedSplit(_W["folds"]), n_jobs=n_jobs, tol=tol, max_iter=max_iter,
        fit_intercept=True, precompute="auto",
    )
    model.fit(_W["Xs"], _W["y"])
    mse = np.asarray(model.mse_path_).reshape(len(_W["ratios"]), grids.shape[1], -1)  # (L, K, F)
    return {"alphas": np.asarray(model.alphas_).reshape(grids.shape), "cv_mean": mse.mean(axis=2),
            "alpha": float(model.alpha_), "l1_ratio": float(model.l1_ratio_)}


def sklearn_fold_paths(tol: float, max_iter: int, folds_checked: list, n_jobs: int) -> dict:
    """The fold paths ElasticNetCV computes (its ``_path_residuals``: fold-centered X in Fortran
    order, Gram and X'y precomputed as precompute="auto" does when n > p), returned as coef
    (on Xs's scale) and intercept per (l1_ratio, fold)."""
    from joblib import Parallel, delayed
    from sklearn.linear_model import enet_path

    Xs, y, folds, grids, ratios = _W["Xs"], _W["y"], _W["folds"], _W["grids"], _W["ratios"]

    def one(a, grid, f):
        train = folds != f
        Xt, yt = Xs[train], y[train]
        xm, ym = Xt.mean(axis=0), yt.mean()
        Xc = np.asfortranarray(Xt - xm)
        yc = yt - ym
        gram = None
        if Xc.shape[0] > Xc.shape[1]:
            gram = Xc.T @ Xc
        _, coefs, _ = enet_path(Xc, yc, l1_ratio=a, alphas=grid, precompute=gram if gram is not None else False,
                                Xy=Xc.T @ yc if gram is not None else None, tol=tol, max_iter=max_iter, copy_X=False)
        coef = coefs.T
        return coef, ym - coef @ xm

    tasks = [(a, grid, f) for a, grid in zip(ratios, grids) for f in folds_checked]
    out = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(*t) for t in tasks)
    return {"coef": np.stack([o[0] for o in out]), "intercept": np.stack([o[1] for o in out])}


def _glmnet_model(a, grid, thresh, n_splits, n_jobs, max_iter):
    from glmnet import ElasticNet

    return ElasticNet(alpha=float(a), lambda_path=np.array(grid), standardize=True, fit_intercept=True,
                      n_splits=n_splits, scoring="mean_squared_error", tol=thresh, max_iter=max_iter,
                      n_jobs=n_jobs)


def glmnet_cv(thresh: float, n_jobs: int, max_iter: int) -> dict:
    """The L CV fits (full-data fit + n_folds fold fits each) on raw X, folds via groups."""
    X, y, folds, grids, ratios = _W["X"], _W["y"], _W["folds"], _W["grids"], _W["ratios"]
    means, lams = [], []
    for a, grid in zip(ratios, grids):
        m = _glmnet_model(a, grid, thresh, np.unique(folds).size, n_jobs, max_iter).fit(X, y, groups=folds)
        mean = np.full(grid.size, np.nan)
        mean[: m.cv_mean_score_.size] = -m.cv_mean_score_  # the scorer returns -MSE
        lam = np.full(grid.size, np.nan)
        lam[: m.lambda_path_.size] = m.lambda_path_
        means.append(mean)
        lams.append(lam)
    return {"cv_mean": np.stack(means), "lambdas": np.stack(lams)}


def glmnet_full_paths(thresh: float, max_iter: int) -> dict:
    """The L full-data paths (no CV), for the accuracy ladder."""
    X, y, grids, ratios = _W["X"], _W["y"], _W["grids"], _W["ratios"]
    coefs, ints = [], []
    for a, grid in zip(ratios, grids):
        m = _glmnet_model(a, grid, thresh, 0, 1, max_iter).fit(X, y)
        coef = np.full((grid.size, X.shape[1]), np.nan)
        b0 = np.full(grid.size, np.nan)
        k = m.coef_path_.shape[1]  # glmnet may stop a path early; missing lambdas count as failures
        coef[:k] = m.coef_path_.T
        b0[:k] = m.intercept_path_
        coefs.append(coef)
        ints.append(b0)
    return {"coef": np.stack(coefs), "intercept": np.stack(ints)}


TASKS = {f.__name__: f for f in (sklearn_cv, sklearn_fold_paths, glmnet_cv, glmnet_full_paths)}


def _worker_call(task: str, kwargs: dict) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, elapsed = timed(TASKS[task], **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    messages = sorted({f"{type(w.message).__name__}: {w.message}"[:200] for w in caught})
    out.update(time=elapsed.wall, cpu=elapsed.cpu, n_warnings=len(caught), warning=messages[0] if messages else "")
    return out


def _worker_loop(conn, data: dict) -> None:
    _W.update(data)
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(_worker_call(*msg))


class Worker:
    """A spawned, non-daemonic process holding the data (a daemonic multiprocessing.Pool worker
    would make joblib fall back to n_jobs=1); a call over its timeout kills it."""

    def __init__(self, data: dict):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_loop, args=(child, data), daemon=False)
        self.proc.start()
        child.close()
        self.alive = True

    def call(self, task: str, timeout: float, **kwargs) -> dict:
        if not self.alive:
            return {"error": "worker stopped after an earlier time-out"}
        self.conn.send((task, kwargs))
        if not self.conn.poll(timeout):
            self.close()
            return {"error": f"exceeded the {timeout:g} s cap"}
        return self.conn.recv()

    def close(self) -> None:
        if self.alive:
            self.alive = False
            if self.proc.is_alive():
                try:
                    self.conn.send(None)
                except OSError:
                    pass
                self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join()
            self.conn.close()


def repeat_timed(worker: Worker, task: str, repeats: int, cap: float, **kwargs):
    """(last output, [Timing]) over ``repeats`` calls; stops at the first error."""
    times, out = [], None
    for _ in range(repeats):
        out = worker.call(task, cap, **kwargs)
        if "error" in out:
            break
        times.append(Timing(out["time"], out["cpu"]))
    return out, times


# --------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    library: str
    setting: str
    tol: float | None
    times: list  # of Timing
    subopt: float | None
    measured_on: str
    index_min: list | None  # per l1_ratio
    best: tuple | None  # (l1_ratio, lambda_min)
    status: str
    note: str = ""
    ratio: float | None = None


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def format_table(rows: list, ratios) -> str:
    idx_head = "/".join(f"{a:g}" for a in ratios)
    head = (f"{'library':<30} {'tol':>7} {'time [s]':>9} {'cpu [s]':>8} {'runs':>4} {'x jaxreg':>8} "
            f"{'worst rel subopt':>16} {'measured on':<22} {'i_min ' + idx_head:<18} {'best a, lambda_min':<20} status")
    lines, notes = [head, "-" * len(head)], []
    for r in rows:
        mark = ""
        if r.note:
            notes.append(r.note)
            mark = f" [{len(notes)}]"
        t = best(r.times) if r.times else None
        sub = "-" if r.subopt is None else f"{max(r.subopt, 0.0):.1e}"
        idx = "-" if r.index_min is None else "/".join(str(int(i)) if i >= 0 else "?" for i in r.index_min)
        bst = "-" if r.best is None else f"{r.best[0]:g}, {r.best[1]:.5g}"
        lines.append(
            f"{r.library + ' ' + r.setting:<30} {_fmt(r.tol, '.0e'):>7} {_fmt(t and t.wall, '.3f'):>9} "
            f"{_fmt(t and t.cpu, '.2f'):>8} {len(r.times):>4} {_fmt(r.ratio, '.2f'):>8} {sub:>16} {r.measured_on:<22} "
            f"{idx:<18} {bst:<20} {r.status}{mark}"
        )
    lines += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(lines)


def csv_rows(rows: list, date: str, args, ratios) -> list:
    out = []
    for r in rows:
        t = best(r.times) if r.times else None
        out.append([
            date, args.n, args.p, args.rho, args.folds, " ".join(f"{a:g}" for a in ratios), r.library, r.setting,
            r.tol, t and t.wall, t and t.cpu, len(r.times), r.ratio, r.subopt, r.measured_on,
            "" if r.index_min is None else " ".join(str(int(i)) for i in r.index_min),
            "" if r.best is None else r.best[0], "" if r.best is None else r.best[1], r.status, r.note,
        ])
    return out


CSV_HEADER = ["date", "n", "p", "rho", "n_folds", "l1_ratios", "library", "setting", "tol", "time_s", "cpu_s",
              "n_timed_runs", "ratio_to_jaxreg_steady", "worst_rel_subopt", "measured_on", "index_min_per_l1_ratio",
              "best_l1_ratio", "best_lambda_min", "status", "note"]


# --------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------


def index_min(cv_mean: np.ndarray) -> list:
    """First (largest-lambda) index of the minimum of each row, -1 for an all-NaN row."""
    out = []
    for row in cv_mean:
        finite = np.where(np.isfinite(row), row, np.inf)
        out.append(int(np.flatnonzero(finite <= finite.min())[0]) if np.isfinite(finite.min()) else -1)
    return out


def best_choice(cv_mean: np.ndarray, grids: np.ndarray, ratios) -> tuple:
    idx = index_min(cv_mean)
    at = [cv_mean[l, i] if i >= 0 else np.inf for l, i in enumerate(idx)]
    l = int(np.argmin(at))
    return float(ratios[l]), float(grids[l, idx[l]])


def curve_diff(a: np.ndarray, b: np.ndarray) -> list:
    """max relative difference of two sets of CV-error curves (L, K), per l1_ratio."""
    return [float(v) for v in np.nanmax(np.abs(a - b) / np.abs(b), axis=1)]


def fold_fits_like_cv(X, y, folds, ratios, grids, **kw):
    """The batched fold call jaxreg.cv makes (member l * F + f), returning the BatchPathResult."""
    from jaxreg.sweep import path_batch

    labels = np.unique(folds)
    train_w = np.stack([(folds != f).astype(np.float64) for f in labels])
    F = labels.size
    return path_batch(X, y, l1_ratio=np.repeat(ratios, F), sample_weight=np.concatenate([train_w] * len(ratios)),
                      lambdas=np.repeat(grids, F, axis=0), **kw)


def path_loop(X, y, folds, ratios, grids):
    """The same cross-validation as jaxreg.cv, as a Python loop of unbatched jaxreg.path calls on
    the training rows (diagnostic). Returns (fold results (L*F), full-data results (L), cv_mean)."""
    import jaxreg

    labels = np.unique(folds)
    fold_res, full_res = [], []
    cv_mean = np.zeros(grids.shape)
    for l, a in enumerate(ratios):
        full_res.append(jaxreg.path(X, y, l1_ratio=float(a), lambdas=grids[l]))
        for f in labels:
            tr = folds != f
            r = jaxreg.path(X[tr], y[tr], l1_ratio=float(a), lambdas=grids[l])
            fold_res.append(r)
            err = np.mean((y[~tr, None] - X[~tr] @ r.coef.T - r.intercept[None, :]) ** 2, axis=0)
            cv_mean[l] += err * np.sum(~tr) / y.size
    return fold_res, full_res, cv_mean


def tight_paths(problems: list, standardize: bool):
    """jaxreg.path at tol 1e-13 on each problem's own rows; (coefs, intercepts, max gap, warnings)."""
    import jaxreg

    coefs, ints, gaps, msgs = [], [], [], []
    for prob in problems:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = jaxreg.path(prob.A, prob.y, l1_ratio=prob.a, lambdas=prob.lambdas, standardize=standardize,
                              tol=REFERENCE_TOL)
        if not np.allclose(res.lambdas, prob.lambdas, rtol=1e-14, atol=0):
            raise RuntimeError("jaxreg.path returned a different grid than the one it was given")
        coefs.append(res.coef)
        ints.append(res.intercept)
        gaps.append(float(np.max(res.gap)))
        msgs += [f"{type(w.message).__name__}: {w.message}"[:160] for w in caught]
    return coefs, ints, max(gaps), msgs


def run(args) -> tuple[list, dict]:
    import jaxreg
    from jaxreg.datasets import make_glmnet_benchmark

    ratios = np.array(args.l1_ratios, dtype=np.float64)
    X, y, _ = make_glmnet_benchmark(args.n, args.p, args.rho, seed=args.seed)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    y = y / y.std()  # see the module docstring: makes glmnet's internal y scaling a no-op
    folds = jaxreg.make_folds(y, args.folds, seed=args.seed)
    labels = np.unique(folds)
    F, L = labels.size, ratios.size
    Xs = np.asfortranarray((X - X.mean(axis=0)) / X.std(axis=0))
    info: dict = {"load_start": load_average()}
    sds = [y[folds != f].std() for f in labels]
    info["fold_sd_y"] = (min(sds), max(sds))

    # ---- jaxreg: first call, steady state -------------------------------------------------
    # The first call is a cold compile: jaxreg's disk cache of compiled programs is off unless
    # JAXREG_CACHE_DIR is set.
    os.environ.setdefault("JAXREG_CACHE_DIR", "off")

    def call_cv():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res, t = timed(jaxreg.cv, X, y, l1_ratio=ratios, fold_ids=folds)
        return res, t, [f"{type(w.message).__name__}: {w.message}"[:200] for w in caught]

    res, t_first, msgs = call_cv()
    print(f"jaxreg.cv first call {t_first.wall:.2f} s (load {load_average()})", flush=True)
    steady = []
    for _ in range(args.repeats):
        r2, t, m2 = call_cv()
        steady.append(t)
        msgs += m2
        if not np.array_equal(r2.cv_mean, res.cv_mean, equal_nan=True):
            info["nondeterministic"] = True
    print(f"jaxreg.cv steady {best(steady).wall:.3f} s (best of {len(steady)}: "
          f"{', '.join(f'{s.wall:.3f}' for s in steady)})", flush=True)
    grids = np.asarray(res.lambdas)

    # jaxreg's fold solutions (the same batched call cv makes) and its problems.
    fits = fold_fits_like_cv(X, y, folds, ratios, grids)
    recomputed = np.zeros((L, F, grids.shape[1]))
    for l in range(L):
        for i, f in enumerate(labels):
            fr, test = fits[l * F + i], folds == f
            recomputed[l, i] = np.mean((y[test, None] - X[test] @ fr.coef.T - fr.intercept[None, :]) ** 2, axis=0)
    info["fold_fits_match_cv"] = float(np.max(np.abs(recomputed - res.cv_folds) / res.cv_folds))

    j_probs, s_probs = [], []  # jaxreg's (fold-standardized) and scikit-learn's (global) fold problems
    for l, a in enumerate(ratios):
        for f in labels:
            tr = folds != f
            j_probs.append(PathProblem(X[tr], y[tr], std_1n(X[tr]), float(a), grids[l], f"a={a:g} fold {f}"))
            s_probs.append(PathProblem(Xs[tr], y[tr], np.ones(X.shape[1]), float(a), grids[l], f"a={a:g} fold {f}"))
    full_probs = [PathProblem(X, y, std_1n(X), float(a), grids[l], f"a={a:g} full") for l, a in enumerate(ratios)]

    jfold = ProblemSet(j_probs, "jaxreg fold problems")
    jfold.add("jaxreg", [fits[b].coef for b in range(L * F)], [fits[b].intercept for b in range(L * F)])
    full = ProblemSet(full_probs, "full-data paths")
    full.add("jaxreg", [p.coef for p in res.paths], [p.intercept for p in res.paths])
    info["jaxreg_max_gap_folds"] = float(max(np.max(fits[b].gap) for b in range(L * F)))
    info["jaxreg_max_gap_full"] = float(max(np.max(p.gap) for p in res.paths))

    t0 = time.perf_counter()
    c, b, g, m = tight_paths(j_probs, standardize=True)
    jfold.add("jaxreg tol 1e-13", c, b)
    c, b, g2, m2 = tight_paths(full_probs, standardize=True)
    full.add("jaxreg tol 1e-13", c, b)
    info["tight_gap_jaxreg_problems"] = max(g, g2)
    info["tight_warnings"] = len(m) + len(m2)
    info["tight_warning"] = (m + m2)[0] if m + m2 else ""
    print(f"tight references for jaxreg's problems: {time.perf_counter() - t0:.1f} s", flush=True)

    # ---- diagnostic: the same CV as a loop of unbatched jaxreg.path calls --------------------
    loop_times = []
    for i in range(args.repeats + 1):  # the first call compiles (untimed warm-up)
        (lf, lfull, loop_cv), t = timed(path_loop, X, y, folds, ratios, grids)
        if i:
            loop_times.append(t)
    jfold.add("jaxreg path loop", [r.coef for r in lf], [r.intercept for r in lf])
    full.add("jaxreg path loop", [r.coef for r in lfull], [r.intercept for r in lfull])
    print(f"jaxreg.path loop (diagnostic) {best(loop_times).wall:.3f} s", flush=True)

    # ---- jaxreg on scikit-learn's fold problems (untimed check) ----------------------------
    res_s = jaxreg.cv(Xs, y, l1_ratio=ratios, fold_ids=folds, standardize=False)
    info["grid_same_standardize_false"] = float(np.max(np.abs(res_s.lambdas / grids - 1)))

    rows = [
        Row("jaxreg", "(steady)", float(res.paths[0].tol), steady, None, "", [int(i) for i in res.index_min],
            (res.l1_ratio, res.lambda_min), "ok"),
        Row("jaxreg", "(1st call)", float(res.paths[0].tol), [t_first], None, "", [int(i) for i in res.index_min],
            (res.l1_ratio, res.lambda_min), "ok", "trace + compile + solve (one call; same results as steady state)"),
        Row("jaxreg", "path() loop (diag.)", float(lf[0].tol), loop_times, None, "", index_min(loop_cv),
            best_choice(loop_cv, grids, ratios), "diagnostic",
            f"not jaxreg.cv: {len(lf)} + {len(lfull)} unbatched jaxreg.path calls in a Python loop on the "
            "training rows, the same problems; compiled beforehand"),
    ]

    data = {"X": X, "Xs": Xs, "y": y, "folds": folds, "grids": grids, "ratios": ratios}
    peer_curves = {}

    # ---- scikit-learn --------------------------------------------------------------------
    if "sklearn" in args.peers:
        checked = list(labels[: args.check_folds])
        sel = [l * F + i for l in range(L) for i in range(len(checked))]
        sub = ProblemSet([s_probs[k] for k in sel], "scikit-learn fold problems (checked)")
        t0 = time.perf_counter()
        c, b, g, m = tight_paths(sub.problems, standardize=False)
        sub.add("jaxreg tol 1e-13", c, b)
        info["tight_gap_sklearn_problems"] = g
        print(f"tight references for scikit-learn's problems: {time.perf_counter() - t0:.1f} s", flush=True)
        w = Worker(data)
        try:
            warm = w.call("sklearn_cv", max(args.cap, 300.0), tol=1e-4, max_iter=1000, n_jobs=args.jobs)
            if "error" in warm:
                rows.append(Row("sklearn", "ElasticNetCV", None, [], None, "", None, None, "failed", warm["error"]))
            else:
                info["sklearn_grid_diff"] = float(np.max(np.abs(warm["alphas"] / grids - 1)))
                ladder, chosen = [], None
                for tol in SKLEARN_TOLS:
                    out = w.call("sklearn_fold_paths", args.cap * 4, tol=tol, max_iter=args.sklearn_max_iter,
                                 folds_checked=checked, n_jobs=args.jobs)
                    if "error" in out:
                        ladder.append((tol, None, out["error"]))
                        break
                    sub.add(f"sklearn {tol:.0e}", out["coef"], out["intercept"])
                    ladder.append((tol, out["time"], out["warning"]))
                    worst = sub.worst(f"sklearn {tol:.0e}")
                    print(f"  sklearn fold paths tol {tol:.0e}: worst rel subopt {worst:.1e} ({out['time']:.1f} s"
                          f"{'; ' + out['warning'] if out['warning'] else ''})", flush=True)
                    if worst <= args.target:
                        chosen = tol
                        break
                info["sklearn_ladder"] = [(t, sub.worst(f"sklearn {t:.0e}") if tt is not None else None, tt, wn)
                                          for t, tt, wn in ladder]
                where = f"{len(checked) * L} fold paths"
                for tol, setting, max_iter in ((chosen, "ElasticNetCV", args.sklearn_max_iter),
                                               (1e-4, "ElasticNetCV default", 1000)):
                    if tol is None:
                        rows.append(Row("sklearn", setting, None, [], None, where, None, None, "not reached",
                                        f"no tol in {SKLEARN_TOLS[0]:.0e}..{SKLEARN_TOLS[-1]:.0e} reached "
                                        f"{args.target:.0e}"))
                        continue
                    out, times = repeat_timed(w, "sklearn_cv", args.repeats, args.cap, tol=tol, max_iter=max_iter,
                                              n_jobs=args.jobs)
                    if "error" in out:
                        rows.append(Row("sklearn", setting, tol, times, None, where, None, None, "failed", out["error"]))
                        continue
                    run_name = f"sklearn {tol:.0e}"
                    if max_iter != args.sklearn_max_iter:  # accuracy at this max_iter, not the ladder's
                        acc = w.call("sklearn_fold_paths", args.cap * 4, tol=tol, max_iter=max_iter,
                                     folds_checked=checked, n_jobs=args.jobs)
                        if "error" not in acc:
                            run_name = f"sklearn {tol:.0e} max_iter {max_iter}"
                            sub.add(run_name, acc["coef"], acc["intercept"])
                    subopt = sub.worst(run_name)
                    note = f"max_iter={max_iter}, n_jobs={args.jobs}"
                    if out["n_warnings"]:
                        note += f"; {out['n_warnings']} warnings, e.g. {out['warning']}"
                    status = "ok" if subopt <= args.target else "info (accuracy not matched)"
                    rows.append(Row("sklearn", setting, tol, times, subopt, where, index_min(out["cv_mean"]),
                                    best_choice(out["cv_mean"], grids, ratios), status, note))
                    peer_curves.setdefault("sklearn", out["cv_mean"])
                    print(f"  sklearn {setting} tol {tol:.0e}: {best(times).wall:.3f} s", flush=True)
        finally:
            w.close()
        info["sklearn_problems_certified"] = sub.certified()

    # ---- glmnet --------------------------------------------------------------------------
    if "glmnet" in args.peers:
        w = Worker(data)
        try:
            warm = w.call("glmnet_full_paths", max(args.cap, 300.0), thresh=GLMNET_TOLS[0], max_iter=args.glmnet_max_iter)
            if "error" in warm:
                rows.append(Row("glmnet", "CV", None, [], None, "", None, None, "failed", warm["error"]))
            else:
                ladder, chosen = [], None
                for thresh in GLMNET_TOLS:
                    out = w.call("glmnet_full_paths", args.cap, thresh=thresh, max_iter=args.glmnet_max_iter)
                    if "error" in out:
                        ladder.append((thresh, None, out["error"]))
                        break
                    full.add(f"glmnet {thresh:.0e}", out["coef"], out["intercept"])
                    ladder.append((thresh, out["time"], out["warning"]))
                    worst = full.worst(f"glmnet {thresh:.0e}")
                    print(f"  glmnet full paths thresh {thresh:.0e}: worst rel subopt {worst:.1e} "
                          f"({out['time']:.2f} s)", flush=True)
                    if worst <= args.target and chosen is None:
                        chosen = thresh
                        break
                # The reference may have moved down with the tighter runs: re-check the choice.
                chosen = next((t for t, tt, _ in ladder if tt is not None and full.worst(f"glmnet {t:.0e}") <= args.target), None)
                info["glmnet_ladder"] = [(t, full.worst(f"glmnet {t:.0e}") if tt is not None else None, tt, wn)
                                         for t, tt, wn in ladder]
                for thresh, setting in ((chosen, "CV"), (GLMNET_TOLS[0], "CV default")):
                    if thresh is None:
                        rows.append(Row("glmnet", setting, None, [], None, f"{L} full-data paths", None, None,
                                        "not reached", f"no thresh in {GLMNET_TOLS[0]:.0e}..{GLMNET_TOLS[-1]:.0e} "
                                        f"reached {args.target:.0e}"))
                        continue
                    out, times = repeat_timed(w, "glmnet_cv", args.repeats, args.cap, thresh=thresh,
                                              n_jobs=args.jobs, max_iter=args.glmnet_max_iter)
                    if "error" in out:
                        rows.append(Row("glmnet", setting, thresh, times, None, "", None, None, "failed", out["error"]))
                        continue
                    subopt = full.worst(f"glmnet {thresh:.0e}")
                    note = (f"{L} ElasticNet(n_splits={F}) fits together, folds via groups=fold_ids, "
                            f"n_jobs={args.jobs}, max_iter={args.glmnet_max_iter}")
                    if out["n_warnings"]:
                        note += f"; {out['n_warnings']} warnings, e.g. {out['warning']}"
                    status = "ok" if subopt <= args.target else "info (accuracy not matched)"
                    rows.append(Row("glmnet", setting, thresh, times, subopt, f"{L} full-data paths",
                                    index_min(out["cv_mean"]), best_choice(out["cv_mean"], grids, ratios), status, note))
                    peer_curves.setdefault("glmnet", out["cv_mean"])
                    info["glmnet_lambda_diff"] = float(np.nanmax(np.abs(out["lambdas"] / grids - 1)))
                    print(f"  glmnet {setting} thresh {thresh:.0e}: {best(times).wall:.3f} s", flush=True)
        finally:
            w.close()

    # ---- jaxreg's accuracy, agreement -----------------------------------------------------
    j_sub_folds, j_sub_full = jfold.worst("jaxreg"), full.worst("jaxreg")
    for r in rows[:2]:
        r.subopt = max(j_sub_folds, j_sub_full)
        r.measured_on = f"{L * F} fold + {L} full"
    rows[0].note = (f"certified max gap {max(info['jaxreg_max_gap_folds'], info['jaxreg_max_gap_full']):.1e}; "
                    f"worst rel subopt {j_sub_folds:.1e} on the fold paths, {j_sub_full:.1e} on the full-data paths")
    if msgs:
        rows[0].note += f"; {len(msgs)} warning(s), e.g. {msgs[0]}"
    rows[2].subopt = max(jfold.worst("jaxreg path loop"), full.worst("jaxreg path loop"))
    rows[2].measured_on = rows[0].measured_on
    base = best(steady).wall
    for r in rows:
        if r.times:
            r.ratio = best(r.times).wall / base

    info["jaxreg_problems_certified"] = jfold.certified()
    info["full_certified"] = full.certified()
    info["curves"] = {"glmnet vs jaxreg": curve_diff(peer_curves["glmnet"], res.cv_mean) if "glmnet" in peer_curves else None,
                      "sklearn vs jaxreg": curve_diff(peer_curves["sklearn"], res.cv_mean) if "sklearn" in peer_curves else None,
                      "sklearn vs jaxreg(Xs, standardize=False)": curve_diff(peer_curves["sklearn"], res_s.cv_mean)
                      if "sklearn" in peer_curves else None}
    info["jaxreg_Xs_index_min"] = [int(i) for i in res_s.index_min]
    info["jaxreg_Xs_best"] = (res_s.l1_ratio, res_s.lambda_min)
    info["load_end"] = load_average()
    return rows, info


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cell", default="1000x200x0.5", help="NxPxRHO (default 1000x200x0.5)")
    ap.add_argument("--l1-ratios", default="0.2,0.5,1.0", help="comma-separated l1_ratios (default 0.2,0.5,1.0)")
    ap.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
    ap.add_argument("--peers", default="sklearn,glmnet", help="comma-separated subset of sklearn,glmnet")
    ap.add_argument("--target", type=float, default=1e-6, help="worst relative suboptimality to reach")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs, best taken")
    ap.add_argument("--jobs", type=int, default=2, help="n_jobs for ElasticNetCV and python-glmnet's CV")
    ap.add_argument("--check-folds", type=int, default=None,
                    help="folds (of each l1_ratio) on which scikit-learn's accuracy is measured (default all)")
    ap.add_argument("--sklearn-max-iter", type=int, default=100_000)
    ap.add_argument("--glmnet-max-iter", type=int, default=1_000_000)
    ap.add_argument("--cap", type=float, default=300.0, help="seconds allowed per peer call")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 200x20x0.5, 5 folds, 1 repeat")
    ap.add_argument("--out", type=Path, default=None, help="CSV path (default results/cv_<date>.csv)")
    args = ap.parse_args(argv)
    if args.quick:
        args.cell, args.folds, args.repeats = "200x20x0.5", 5, 1
    n, p, rho = args.cell.lower().split("x")
    args.n, args.p, args.rho = int(n), int(p), float(rho)
    args.l1_ratios = [float(a) for a in args.l1_ratios.split(",")]
    args.peers = [s.strip() for s in args.peers.split(",") if s.strip()]
    if set(args.peers) - {"sklearn", "glmnet"}:
        ap.error("--peers: choose from sklearn, glmnet")
    args.check_folds = args.folds if args.check_folds is None else max(1, min(args.check_folds, args.folds))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import jaxreg  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    date = datetime.date.today().isoformat()
    out = args.out or RESULTS_DIR / f"cv_{date}{'_quick' if args.quick else ''}.csv"
    print(machine_info())
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"date: {date}; cell {args.n}x{args.p} rho={args.rho:g}; {args.folds}-fold CV over l1_ratios "
          f"{args.l1_ratios} x 100 lambdas; target worst rel subopt {args.target:.0e}; best of {args.repeats}; "
          f"n_jobs {args.jobs}; cap {args.cap:.0f} s per peer call; seed {args.seed}\n", flush=True)

    rows, info = run(args)
    ratios = args.l1_ratios
    print(f"\nload average (1 min): {info['load_start']} at the start, {info['load_end']} at the end\n")
    print(format_table(rows, ratios))
    print("\nChecks:")
    print(f"- jaxreg's fold solutions (recomputed with the batched call cv makes) reproduce cv_folds to "
          f"{info['fold_fits_match_cv']:.1e}" + ("; WARNING: repeated cv calls differed" if info.get("nondeterministic") else ""))
    print(f"- references within {max(info['jaxreg_problems_certified'], 0):.1e} (jaxreg's fold problems), "
          f"{max(info['full_certified'], 0):.1e} (full-data paths)"
          + (f", {max(info['sklearn_problems_certified'], 0):.1e} (scikit-learn's fold problems)"
             if "sklearn_problems_certified" in info else "")
          + " of the optimum, relative, by the best independent dual bound")
    print(f"- jaxreg tol 1e-13 references: max certified gap {info['tight_gap_jaxreg_problems']:.1e}"
          + (f" (jaxreg's problems), {info['tight_gap_sklearn_problems']:.1e} (scikit-learn's)"
             if "tight_gap_sklearn_problems" in info else "") + f"; {info['tight_warnings']} warning(s)"
          + (f", e.g. {info['tight_warning']}" if info["tight_warning"] else ""))
    if "sklearn_grid_diff" in info:
        print(f"- ElasticNetCV(alphas=100, eps) grid vs jaxreg's: max rel diff {info['sklearn_grid_diff']:.1e}")
    if "glmnet_lambda_diff" in info:
        print(f"- glmnet lambda_path_ vs jaxreg's grid: max rel diff {info['glmnet_lambda_diff']:.1e}")
    print(f"- jaxreg.cv(Xs, standardize=False) (scikit-learn's fold problems): grid diff "
          f"{info['grid_same_standardize_false']:.1e}, index_min {info['jaxreg_Xs_index_min']}, "
          f"best a={info['jaxreg_Xs_best'][0]:g}, lambda_min={info['jaxreg_Xs_best'][1]:.5g}")
    for k, v in info["curves"].items():
        if v is not None:
            per = ", ".join(f"{d:.1e} (a={a:g})" for a, d in zip(ratios, v))
            print(f"- CV-error curves, {k}: max rel diff {per}")
    print(f"- 1/n sd(y) of the training folds: {info['fold_sd_y'][0]:.4f} to {info['fold_sd_y'][1]:.4f} "
          "(glmnet rescales each fold by it; 1 on the full data)")
    for name in ("sklearn_ladder", "glmnet_ladder"):
        for t, worst, secs, warn in info.get(name, []):
            print(f"  {name.split('_')[0]} tol {t:.0e}: worst rel subopt "
                  f"{'-' if worst is None else format(max(worst, 0), '.1e')}, {'-' if secs is None else format(secs, '.2f')} s"
                  + (f"; {warn}" if warn else ""))

    write_csv(out, CSV_HEADER, csv_rows(rows, datetime.date.today().isoformat(), args, ratios))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
