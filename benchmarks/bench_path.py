"""Lasso paths: jaxreg against glmnet, scikit-learn, celer and skglm at equal accuracy.

Every library solves the same problems (design.md sec. 1, gaussian, l1_ratio = 1):

    minimize over (b0, beta):
        1/(2n) ||y - b0 - X beta||^2 + lambda * sum_j s_j |beta_j|

where ``s_j`` is the 1/n standard deviation of column j (``standardize=True``: the penalty
applies to the coefficients of the standardized columns), for each lambda of one fixed grid,
jaxreg's default grid (100 log-spaced values from lambda_max down to 1e-4 lambda_max if n > p,
else 1e-2 lambda_max). Data follow the glmnet paper's recipe (design.md sec. 3,
``jaxreg.datasets.make_glmnet_benchmark``).

Protocol, per cell (n, p, rho):

1. jaxreg: time the first call (trace + compile + solve), then the best of ``--repeats`` more
   calls at the default tol (steady state); one more call at tol=1e-13 feeds the reference.
2. Peers get the same grid. glmnet gets the raw X and y (it standardizes internally);
   scikit-learn, celer and skglm get X centered and scaled to unit 1/n standard deviation and
   y centered, and their coefficients are mapped back to the original scale
   (beta = w / s, b0 = mean(y) - mean(X) . beta). Each peer runs in its own worker process
   (so a run can be stopped at ``--cap`` seconds) and gets one untimed warm-up call (numba
   compilation for skglm, imports, page faults).
3. Every run's objective is evaluated by :func:`objective` (one function, float64, original
   scale). The reference at each lambda is the minimum over all runs of all libraries.
   A run's worst relative suboptimality is max over lambdas of (obj - ref) / ref.
4. Each peer's tolerance is tightened one decade at a time until its worst relative
   suboptimality is <= ``--target`` (1e-6); it is timed (best of ``--repeats`` wall-clock
   runs) at the first tolerance that gets there. If none does, or a run exceeds ``--cap``,
   the table says so.
5. The reference itself is checked against an independent lower bound: the best dual
   objective over all runs (:func:`dual_bound`), which bounds how far the reference can be
   from the true optimum.

Run ``python benchmarks/bench_path.py --help`` for options; ``--quick`` is a smoke test.
Results are printed and written to ``benchmarks/results/path_<date>.csv`` (one row per
library and cell) and ``path_<date>_ladder.csv`` (every tolerance tried).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import importlib.metadata
import multiprocessing
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_CELLS = "1000x100x0.5,100x5000x0.5"
QUICK_CELLS = "200x20x0.5,50x300x0.5"
REFERENCE_TOL = 1e-13


# --------------------------------------------------------------------------------------
# Problems and the one objective
# --------------------------------------------------------------------------------------


class Cell(NamedTuple):
    """One benchmark problem size: n observations, p features, pairwise correlation rho."""

    n: int
    p: int
    rho: float

    def label(self) -> str:
        return f"{self.n}x{self.p} rho={self.rho:g}"


def parse_cells(text: str) -> list[Cell]:
    """Parse ``"1000x100x0.5,100x5000x0.5"`` into cells."""
    cells = []
    for item in text.split(","):
        n, p, rho = item.strip().lower().split("x")
        cells.append(Cell(int(n), int(p), float(rho)))
    return cells


@dataclasses.dataclass(frozen=True)
class Problem:
    """Raw and standardized data of one cell, and the lambda grid every library solves.

    ``Xs = (X - xbar) / s`` (Fortran order) and ``yc = y - ybar`` are what the peers that do
    not standardize internally receive.
    """

    X: np.ndarray
    y: np.ndarray
    grid: np.ndarray
    xbar: np.ndarray
    s: np.ndarray
    ybar: float
    Xs: np.ndarray
    yc: np.ndarray


def make_problem(X: np.ndarray, y: np.ndarray, grid: np.ndarray) -> Problem:
    """Center and scale X to unit 1/n standard deviation; center y."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xbar, s, ybar = X.mean(axis=0), X.std(axis=0), float(y.mean())
    Xs = np.asfortranarray((X - xbar) / s)
    return Problem(X, y, np.asarray(grid, dtype=np.float64), xbar, s, ybar, Xs, y - ybar)


def to_original_scale(problem: Problem, coef_std: np.ndarray):
    """Standardized-scale coefficients (K, p) of a model fit without intercept on (Xs, yc)
    -> original-scale coefficients (K, p) and intercepts (K,)."""
    coef = coef_std / problem.s
    return coef, problem.ybar - coef @ problem.xbar


def objective(problem: Problem, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """The objective (module docstring) at each lambda of the grid, float64, original scale.

    coef (K, p) and intercept (K,) on the original scale of X; returns (K,). Rows with
    non-finite values give +inf.
    """
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64)
    resid = problem.y[None, :] - intercept[:, None] - coef @ problem.X.T
    obj = 0.5 * np.mean(resid**2, axis=1) + problem.grid * (np.abs(coef) @ problem.s)
    return np.where(np.isfinite(obj), obj, np.inf)


def dual_bound(problem: Problem, coef: np.ndarray) -> np.ndarray:
    """A lower bound on the optimal objective at each lambda, from the dual point of coef.

    On the standardized problem (intercept profiled out by centering), with residual
    ``r = yc - Xs w`` and ``theta = r / max(n lambda, ||Xs' r||_inf)`` (dual feasible),
    ``D(theta) = (||yc||^2 - ||yc - n lambda theta||^2) / (2n)`` <= optimum (weak duality).
    """
    n = problem.X.shape[0]
    w = np.nan_to_num(np.asarray(coef, dtype=np.float64) * problem.s)
    resid = problem.yc[None, :] - w @ problem.Xs.T
    scale = np.maximum(n * problem.grid, np.max(np.abs(resid @ problem.Xs), axis=1))
    theta = resid / scale[:, None]
    gap_term = problem.yc[None, :] - (n * problem.grid)[:, None] * theta
    return (problem.yc @ problem.yc - np.sum(gap_term**2, axis=1)) / (2 * n)


def worst_rel_subopt(obj: np.ndarray, ref: np.ndarray) -> float:
    """max over lambdas of (obj - ref) / ref."""
    return float(np.max((obj - ref) / ref))


class Timing(NamedTuple):
    """Wall-clock seconds (what the table reports) and CPU seconds of this process (all its
    threads: can exceed wall for multithreaded code; less inflated than wall when other
    processes compete for the cores)."""

    wall: float
    cpu: float


def timed(fn, *args, **kwargs):
    """(fn(*args, **kwargs), Timing)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, Timing(time.perf_counter() - wall, time.process_time() - cpu)


# --------------------------------------------------------------------------------------
# Peers: one adapter per library. Each returns (coef (K, p), intercept (K,) or None) on the
# scale of the data it was given; intercept None means "fit without intercept on centered
# data", mapped back by to_original_scale.
# --------------------------------------------------------------------------------------


def fit_glmnet(X, y, grid, tol):
    """Fortran glmnet (python-glmnet): raw data, internal standardization, thresh = tol."""
    from glmnet import ElasticNet

    model = ElasticNet(
        alpha=1.0,
        lambda_path=grid,
        standardize=True,
        fit_intercept=True,
        n_splits=0,
        tol=tol,
        max_iter=1_000_000,
    )
    model.fit(X, y)
    # glmnet may stop the path early (it warns); missing lambdas count as failures.
    coef = np.full((grid.size, X.shape[1]), np.nan)
    intercept = np.full(grid.size, np.nan)
    k = model.coef_path_.shape[1]
    coef[:k] = model.coef_path_.T
    intercept[:k] = model.intercept_path_
    return coef, intercept


def fit_sklearn(X, y, grid, tol):
    """scikit-learn enet_path (coordinate descent, Gram precomputed when n > p)."""
    from sklearn.linear_model import enet_path

    _, coefs, _ = enet_path(X, y, l1_ratio=1.0, alphas=grid, tol=tol, max_iter=100_000)
    return coefs.T, None


def fit_celer(X, y, grid, tol):
    """celer_path (working sets + dual extrapolation), pruning on as in celer.Lasso."""
    from celer import celer_path

    _, coefs, _ = celer_path(
        X, y, "lasso", alphas=grid, tol=tol, max_iter=100, max_epochs=100_000, prune=True
    )
    return coefs.T, None


def fit_skglm(X, y, grid, tol):
    """skglm AndersonCD path (working sets + Anderson-accelerated coordinate descent)."""
    from skglm.datafits import Quadratic
    from skglm.penalties import L1
    from skglm.solvers import AndersonCD

    solver = AndersonCD(tol=tol, max_iter=100, max_epochs=100_000, fit_intercept=False)
    _, coefs, _ = solver.path(X, y, Quadratic(), L1(alpha=float(grid[0])), alphas=grid)
    return coefs.T, None


class Peer(NamedTuple):
    """A library under comparison: how to call it and which tolerances to try, in order."""

    name: str
    distribution: str  # for importlib.metadata.version
    fit: Callable
    standardized_input: bool  # True: gets (Xs, yc) and no intercept; False: raw (X, y)
    tols: tuple


def _decades(first: int, last: int) -> tuple:
    return tuple(10.0**-k for k in range(first, last + 1))


PEERS = {
    "glmnet": Peer("glmnet", "python-glmnet", fit_glmnet, False, _decades(7, 15)),
    "sklearn": Peer("sklearn", "scikit-learn", fit_sklearn, True, _decades(4, 13)),
    "celer": Peer("celer", "celer", fit_celer, True, _decades(4, 13)),
    "skglm": Peer("skglm", "skglm", fit_skglm, True, _decades(4, 13)),
}


# --------------------------------------------------------------------------------------
# Worker process: one per peer and cell, so that a run can be stopped at the time cap.
# --------------------------------------------------------------------------------------

_WORKER: dict = {}


def _worker_init(peer_name: str, X: np.ndarray, y: np.ndarray, grid: np.ndarray) -> None:
    _WORKER.update(peer=PEERS[peer_name], X=X, y=y, grid=grid)


def _worker_run(tol: float) -> dict:
    """One timed call of the worker's peer; exceptions come back as {"error": ...}."""
    peer, X, y, grid = _WORKER["peer"], _WORKER["X"], _WORKER["y"], _WORKER["grid"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            (coef, intercept), elapsed = timed(peer.fit, X, y, grid, tol)
        except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    messages = sorted({f"{type(w.message).__name__}: {w.message}"[:220] for w in caught})
    return {
        "time": elapsed.wall,  # plain floats: the parent does not unpickle worker classes
        "cpu": elapsed.cpu,
        "coef": np.asarray(coef, dtype=np.float64),
        "intercept": None if intercept is None else np.asarray(intercept, dtype=np.float64),
        "n_warnings": len(caught),
        "warning": messages[0] if messages else "",
    }


class PeerWorker:
    """A single-process pool running one peer on one problem; a run over ``cap`` s is killed."""

    def __init__(self, peer: Peer, problem: Problem, cap: float):
        X, y = (problem.Xs, problem.yc) if peer.standardized_input else (problem.X, problem.y)
        ctx = multiprocessing.get_context("spawn")
        self.pool = ctx.Pool(1, initializer=_worker_init, initargs=(peer.name, X, y, problem.grid))
        self.cap = cap
        self.alive = True

    def run(self, tol: float, timeout: float | None = None) -> dict:
        """{"time", "coef", "intercept", ...}, {"error": ...} or {"timeout": seconds}."""
        if not self.alive:
            return {"error": "worker stopped after an earlier time-out"}
        limit = self.cap if timeout is None else timeout
        try:
            return self.pool.apply_async(_worker_run, (tol,)).get(timeout=limit)
        except multiprocessing.TimeoutError:
            self.close()
            return {"timeout": limit}

    def close(self) -> None:
        if self.alive:
            self.pool.terminate()
            self.pool.join()
            self.alive = False


# --------------------------------------------------------------------------------------
# Runs, ladders and the reference
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One solve of the whole path at one tolerance: objective and dual bound per lambda."""

    library: str
    tol: float
    times: list  # of Timing
    obj: np.ndarray
    dual: np.ndarray
    note: str = ""


def evaluate(problem: Problem, library: str, tol: float, timing: Timing, coef, intercept, note="") -> Run:
    """A Run from coefficients returned by a library (intercept None: standardized scale)."""
    if intercept is None:
        coef, intercept = to_original_scale(problem, coef)
    return Run(library, tol, [timing], objective(problem, coef, intercept), dual_bound(problem, coef), note)


@dataclasses.dataclass
class Ladder:
    """A peer's tolerance ladder on one cell: the runs so far and why it stopped, if it did."""

    peer: Peer
    worker: PeerWorker
    runs: list = dataclasses.field(default_factory=list)
    stopped: str = ""  # why no further tolerance is tried: exhausted, time cap, error

    def first_passing(self, ref: np.ndarray, target: float) -> Run | None:
        return next((r for r in self.runs if worst_rel_subopt(r.obj, ref) <= target), None)

    def advance(self, problem: Problem) -> None:
        """Run the next tolerance of the ladder (one timed call)."""
        if len(self.runs) == len(self.peer.tols):
            self.stopped = self.stopped or "exhausted"
            return
        tol = self.peer.tols[len(self.runs)]
        out = self.worker.run(tol)
        if "timeout" in out:
            self.stopped = f"run at tol {tol:.0e} exceeded the {out['timeout']:g} s cap"
        elif "error" in out:
            self.stopped = f"tol {tol:.0e}: {out['error']}"
        else:
            note = f"{out['n_warnings']} warnings, e.g. {out['warning']}" if out["n_warnings"] else ""
            self.runs.append(evaluate(problem, self.peer.name, tol, Timing(out["time"], out["cpu"]), out["coef"], out["intercept"], note))
        if len(self.runs) == len(self.peer.tols) and not self.stopped:
            self.stopped = "exhausted"

    def top_up(self, run: Run, repeats: int) -> None:
        """Repeat the timed call at run.tol until ``repeats`` times are recorded."""
        while len(run.times) < repeats and self.worker.alive:
            out = self.worker.run(run.tol)
            if "time" not in out:
                run.note = (run.note + "; " if run.note else "") + f"repeat failed: {out}"
                return
            run.times.append(Timing(out["time"], out["cpu"]))


def start_ladder(peer: Peer, problem: Problem, cap: float) -> Ladder:
    """Spawn the peer's worker and make one untimed warm-up call at its loosest tolerance."""
    worker = PeerWorker(peer, problem, cap)
    out = worker.run(peer.tols[0], timeout=max(cap, 300.0))
    ladder = Ladder(peer, worker)
    if "time" not in out:
        ladder.stopped = f"warm-up failed: {out.get('error') or out}"
        worker.close()
    return ladder


def reference(runs: list) -> np.ndarray:
    """Per-lambda minimum objective over runs."""
    return np.min(np.stack([r.obj for r in runs]), axis=0)


def climb(ladders: list, fixed_runs: list, problem: Problem, target: float) -> np.ndarray:
    """Tighten every ladder until it has a run within ``target`` of the reference.

    The reference (min over all runs so far) can only decrease as runs are added, so this
    repeats until no ladder needs another step. Returns the final reference.
    """
    while True:
        ref = reference(fixed_runs + [r for lad in ladders for r in lad.runs])
        moved = False
        for lad in ladders:
            while not lad.stopped and lad.first_passing(ref, target) is None:
                lad.advance(problem)
                moved = True
        if not moved:
            return ref


# --------------------------------------------------------------------------------------
# jaxreg
# --------------------------------------------------------------------------------------


def _timed_jaxreg(X, y, **kwargs):
    """(Timing, result, warning messages) of one jaxreg.path call."""
    import jaxreg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res, elapsed = timed(jaxreg.path, X, y, **kwargs)
    return elapsed, res, [f"{type(w.message).__name__}: {w.message}" for w in caught]


def bench_jaxreg(X, y, repeats: int):
    """First call, steady state (best of ``repeats``) and the tol=1e-13 reference run.

    Returns (problem, first, steady, tight, info) where first/steady/tight are Runs.
    """
    t_first, res, msgs = _timed_jaxreg(X, y)
    problem = make_problem(X, y, res.lambdas)
    times = [_timed_jaxreg(X, y)[0] for _ in range(repeats)]
    t_tight, tight, tight_msgs = _timed_jaxreg(X, y, tol=REFERENCE_TOL)
    if not np.allclose(tight.lambdas, problem.grid, rtol=1e-14, atol=0):
        raise RuntimeError("jaxreg returned a different default grid on a repeated call")

    note = f"certified max gap {np.max(res.gap):.1e}"
    if msgs:
        note += f"; {len(msgs)} warning(s): {msgs[0][:220]}"
    first = evaluate(problem, "jaxreg (1st call)", res.tol, t_first, res.coef, res.intercept,
                     "trace + compile + solve; same solution as the steady-state calls")
    steady = dataclasses.replace(first, library="jaxreg (steady)", times=times, note=note)
    tight_note = f"certified max gap {np.max(tight.gap):.1e}" + (f"; {tight_msgs[0][:220]}" if tight_msgs else "")
    tight_run = evaluate(problem, "jaxreg (tol 1e-13)", REFERENCE_TOL, t_tight, tight.coef, tight.intercept, tight_note)
    own_obj_err = float(np.max(np.abs(res.objective - first.obj) / first.obj))
    return problem, first, steady, tight_run, {"gap": res.gap, "own_objective_rel_err": own_obj_err}


# --------------------------------------------------------------------------------------
# One cell, the table, the files
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One line of the table / summary CSV."""

    cell: Cell
    library: str
    version: str
    tol: float | None
    time_s: float | None
    cpu_s: float | None
    n_timed: int
    subopt: float | None
    status: str
    note: str = ""
    ratio: float | None = None


def version_of(distribution: str) -> str:
    """Installed version, or jaxreg.__version__ for an uninstalled checkout, or "absent"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        if distribution == "jaxreg":
            import jaxreg

            return jaxreg.__version__
        return "absent"


def git_state() -> str:
    """Commit of the checkout, and whether jaxreg/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "jaxreg"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{head}" + (" + uncommitted changes in jaxreg/" if dirty else " (jaxreg/ clean)")


def load_average() -> str:
    """1-minute load average: other processes on a 2-core machine inflate wall-clock times."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def best(times: list) -> Timing:
    """The timing with the smallest wall clock."""
    return min(times, key=lambda t: t.wall)


def peer_row(cell: Cell, lad: Ladder, ref: np.ndarray, target: float, repeats: int) -> Row:
    """Summarize a ladder: time at the first passing tolerance, or why there is none."""
    version = version_of(lad.peer.distribution)
    if not lad.runs:
        status = "skipped (not importable)" if "ImportError" in lad.stopped or "ModuleNotFound" in lad.stopped else "failed"
        return Row(cell, lad.peer.name, version, None, None, None, 0, None, status, lad.stopped)
    run = lad.first_passing(ref, target)
    if run is not None:
        lad.top_up(run, repeats)
        return Row(cell, lad.peer.name, version, run.tol, *best(run.times), len(run.times),
                   worst_rel_subopt(run.obj, ref), "ok", run.note)
    last = lad.runs[-1]
    why = f"never reached {target:.0e} ({lad.stopped}); time is one run at the tightest tol"
    return Row(cell, lad.peer.name, version, last.tol, *best(last.times), len(last.times),
               worst_rel_subopt(last.obj, ref), "not reached", why + (f"; {last.note}" if last.note else ""))


def jaxreg_row(cell: Cell, run: Run, ref: np.ndarray, target: float) -> Row:
    sub = worst_rel_subopt(run.obj, ref)
    return Row(cell, run.library, version_of("jaxreg"), run.tol, *best(run.times), len(run.times),
               sub, "ok" if sub <= target else "not reached", run.note)


def bench_cell(cell: Cell, peers: list, args) -> tuple[list, list, dict]:
    """All libraries on one cell. Returns (rows, every run, reference diagnostics)."""
    from jaxreg.datasets import make_glmnet_benchmark

    X, y, _ = make_glmnet_benchmark(cell.n, cell.p, cell.rho, seed=args.seed)
    problem, first, steady, tight, jinfo = bench_jaxreg(X, y, args.repeats)
    print(f"  jaxreg: first call {first.times[0].wall:.2f} s, steady {best(steady.times).wall:.4f} s", flush=True)

    ladders = []
    for peer in peers:
        lad = start_ladder(peer, problem, args.cap)
        ladders.append(lad)
        print(f"  {peer.name}: warm-up {'ok' if not lad.stopped else lad.stopped}", flush=True)
    try:
        ref = climb(ladders, [first, tight], problem, args.target)
        rows = [peer_row(cell, lad, ref, args.target, args.repeats) for lad in ladders]
    finally:
        for lad in ladders:
            lad.worker.close()
    rows += [jaxreg_row(cell, steady, ref, args.target), jaxreg_row(cell, first, ref, args.target)]
    add_ratios(rows)

    runs = [first, tight] + [r for lad in ladders for r in lad.runs]
    best_dual = np.max(np.stack([r.dual for r in runs]), axis=0)
    diag = {
        "n_runs": len(runs),
        "ref_certified": float(np.max((ref - best_dual) / ref)),
        "tight_subopt": worst_rel_subopt(tight.obj, ref),
        "tight_note": tight.note,
        "jaxreg_objective_rel_err": jinfo["own_objective_rel_err"],
        "jaxreg_gap_violations": int(np.sum((first.obj - ref) / ref > jinfo["gap"] * (1 + 1e-6) + 1e-13)),
    }
    return rows, runs, diag


def add_ratios(rows: list) -> None:
    """ratio = time / glmnet's time on the same cell (when glmnet reached the target)."""
    base = next((r for r in rows if r.library == "glmnet" and r.status == "ok"), None)
    for r in rows:
        if base is not None and r.time_s is not None:
            r.ratio = r.time_s / base.time_s


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def format_table(rows: list) -> str:
    """Fixed-width table; notes follow below it, numbered."""
    head = (f"{'cell':<18} {'library':<18} {'tol':>7} {'time [s]':>9} {'cpu [s]':>8} {'runs':>4} "
            f"{'worst rel subopt':>16} {'x glmnet':>8}  status")
    lines, notes, last_cell = [head, "-" * len(head)], [], None
    for r in rows:
        cell = r.cell.label() if r.cell != last_cell else ""
        last_cell = r.cell
        mark = ""
        if r.note:
            notes.append(r.note)
            mark = f" [{len(notes)}]"
        sub = "-" if r.subopt is None else f"{max(r.subopt, 0.0):.1e}"
        lines.append(
            f"{cell:<18} {r.library:<18} {_fmt(r.tol, '.0e'):>7} {_fmt(r.time_s, '.4f'):>9} {_fmt(r.cpu_s, '.3f'):>8} "
            f"{r.n_timed:>4} {sub:>16} {_fmt(r.ratio, '.2f'):>8}  {r.status}{mark}"
        )
    lines += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(lines)


def write_csv(path: Path, header: list, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def summary_rows(rows: list, date: str) -> list:
    return [
        [date, r.cell.n, r.cell.p, r.cell.rho, r.library, r.version, r.tol, r.time_s, r.cpu_s, r.n_timed,
         r.subopt, r.ratio, r.status, r.note]
        for r in rows
    ]


def ladder_rows(cell: Cell, runs: list, ref: np.ndarray) -> list:
    return [[cell.n, cell.p, cell.rho, r.library, r.tol, r.times[0].wall, r.times[0].cpu, worst_rel_subopt(r.obj, ref), r.note]
            for r in runs]


def machine_info() -> str:
    """CPU, OS, Python, library versions and the environment variables that affect timing."""
    import jax

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    dists = ["jax", "jaxlib", "numpy", "scipy", "scikit-learn", "python-glmnet", "celer", "skglm", "numba", "jaxreg"]
    versions = ", ".join(f"{d} {version_of(d)}" for d in dists)
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "XLA_FLAGS") if k in os.environ)
    return "\n".join([
        f"machine: {platform.platform()}; CPU: {model}; os.cpu_count()={os.cpu_count()}, usable cores={affinity}",
        f"python {platform.python_version()}; jax backend {jax.default_backend()}",
        f"versions: {versions}",
        f"env: {env or '(none of OPENBLAS_CORETYPE, OMP_NUM_THREADS, XLA_FLAGS set)'}",
        f"jaxreg checkout: {git_state()}; load average (1 min) at start: {load_average()}",
    ])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default=None, help=f"comma-separated NxPxRHO (default {DEFAULT_CELLS})")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ",".join(PEERS))
    ap.add_argument("--target", type=float, default=1e-6, help="worst relative suboptimality to reach")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs, best taken")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds allowed per peer run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help=f"smoke run: cells {QUICK_CELLS}, 1 repeat, 20 s cap")
    ap.add_argument("--out", type=Path, default=None, help="summary CSV path (default results/path_<date>.csv)")
    args = ap.parse_args(argv)
    if args.quick:
        args.cells = args.cells or QUICK_CELLS
        args.repeats, args.cap = 1, min(args.cap, 20.0)
    args.cells = parse_cells(args.cells or DEFAULT_CELLS)
    unknown = set(args.peers.split(",")) - set(PEERS)
    if unknown:
        ap.error(f"unknown peers {sorted(unknown)}; choose from {sorted(PEERS)}")
    args.peers = [PEERS[name] for name in args.peers.split(",")]
    return args


def _ensure_jaxreg_importable() -> None:
    """Allow ``python benchmarks/bench_path.py`` from a checkout without installing jaxreg."""
    try:
        import jaxreg  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    args = parse_args(argv)
    _ensure_jaxreg_importable()
    date = datetime.date.today().isoformat()
    out = args.out or RESULTS_DIR / f"path_{date}{'_quick' if args.quick else ''}.csv"
    print(machine_info())
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"date: {date}; target worst relative suboptimality {args.target:.0e}; best of {args.repeats}; "
          f"cap {args.cap:.0f} s per peer run; seed {args.seed}\n", flush=True)

    all_rows, all_ladder = [], []
    for cell in args.cells:
        print(f"cell {cell.label()} (load average {load_average()})", flush=True)
        rows, runs, diag = bench_cell(cell, args.peers, args)
        ref = reference(runs)
        all_rows += rows
        all_ladder += ladder_rows(cell, runs, ref)
        print(f"  reference: min over {diag['n_runs']} runs; within {max(diag['ref_certified'], 0):.1e} "
              f"(relative) of the optimum by the best dual point; jaxreg tol 1e-13 run is "
              f"{max(diag['tight_subopt'], 0):.1e} above it ({diag['tight_note']})")
        print(f"  jaxreg's own .objective vs this script's: max rel diff {diag['jaxreg_objective_rel_err']:.1e}; "
              f"lambdas where measured suboptimality exceeds jaxreg's gap certificate: "
              f"{diag['jaxreg_gap_violations']}", flush=True)

    print(f"\nload average (1 min) at the end: {load_average()}\n")
    print(format_table(all_rows))
    header = ["date", "n", "p", "rho", "library", "version", "tol", "time_s", "cpu_s", "n_timed_runs",
              "worst_rel_subopt", "ratio_to_glmnet", "status", "note"]
    write_csv(out, header, summary_rows(all_rows, date))
    ladder_path = out.with_name(out.stem + "_ladder.csv")
    write_csv(ladder_path, ["n", "p", "rho", "library", "tol", "time_s_first_run", "cpu_s_first_run", "worst_rel_subopt", "note"],
              all_ladder)
    print(f"\nwrote {out} and {ladder_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
