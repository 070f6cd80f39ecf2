"""Lasso paths at equal accuracy: jaxreg against glmnet, scikit-learn, celer, skglm, glum, adelie.

The project's standing measure. One metric: **the wall-clock time to a 100-lambda path whose
worst relative suboptimality is <= 1e-6**, on every problem of the registry (registry.py:
the glmnet paper's Table 1 grid, the same designs with a logistic response, real data sets),
for every installed library (adapters.py).

Every library solves the same problems (design.md sec. 1, l1_ratio = 1, standardize=True):

    gaussian:  minimize  1/(2n) ||y - b0 - X beta||^2                + lambda sum_j s_j |beta_j|
    binomial:  minimize  1/n sum_i log(1 + exp(eta_i)) - y_i eta_i   + lambda sum_j s_j |beta_j|

with ``s_j`` the 1/n standard deviation of column j, over jaxreg's default grid (100 lambdas,
computed once per problem and passed to every library; jaxreg computes its own default grid,
checked equal on every call).

Protocol, per problem:

1. Each library runs in its own fresh worker process (worker.py), in its own interpreter
   (adelie: a separate environment). The first call (untimed for the metric) is reported on
   its own: imports, numba compilation (skglm), jaxreg's trace + XLA compile + solve. A
   library that does not import is reported "skipped: not installed"; one that cannot solve
   the objective exactly (celer: no intercept for the logistic loss) "skipped: unsupported".
2. Reference: the minimum over all runs of all libraries at each lambda, including jaxreg at
   tol 1e-13. A run's worst relative suboptimality is max over lambdas of (obj - ref) / ref;
   every objective is computed by registry.objective (one function, float64, original scale).
   The reference is checked against an independent lower bound, the best dual objective over
   all runs (registry.dual_bound: the lasso dual for the gaussian family, the
   logistic-lasso dual with the intercept profiled out for the binomial family).
3. Each library's tolerance is tightened one decade at a time from its loosest (its default
   where it has one, at the latest 1e-5: adapters.LADDER_START) until its worst relative
   suboptimality is <= ``--target`` (1e-6); it is timed, best of ``--repeats`` calls, at the
   first tolerance that gets there. A call over
   ``--cap`` seconds is killed; a library that never gets there is reported "not reached".
4. Memory (worker.py): ``+MB`` is the worker's peak resident set size during the first timed
   call at that tolerance minus its resident set size just before it (what a fit allocates
   once the library is loaded and warm); ``1st +MB`` the same for the first call (imports,
   compilation); ``RSS MB`` the worker's whole peak resident set size during the timed call
   (interpreter, library, runtime and data).

Run ``python benchmarks/bench_path.py --help`` for options. Results: a table on stdout,
``benchmarks/results/path_<date>.csv`` (one row per problem and library, rewritten after each
problem), ``path_<date>_ladder.csv`` (every tolerance tried), ``path_<date>_reference.csv``
(reference checks per problem) and ``path_<date>.png`` (time ratio to glmnet, plot.py).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import adapters as adapters_mod  # noqa: E402
import registry  # noqa: E402
from adapters import ADAPTERS, REFERENCE_TOL, Adapter  # noqa: E402
from registry import Problem, Spec, worst_rel_subopt  # noqa: E402
from worker import Worker  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_CELLS = "all"
QUICK_CELLS = "200x20x0.5,binomial:200x20x0.5"


# --------------------------------------------------------------------------------------
# Small shared helpers (bench_cv.py imports these)
# --------------------------------------------------------------------------------------


class Timing(NamedTuple):
    """Wall-clock seconds (what the table reports) and CPU seconds of the process (all its
    threads: can exceed wall for multithreaded code; less inflated than wall when other
    processes compete for the cores)."""

    wall: float
    cpu: float


def timed(fn, *args, **kwargs):
    """(fn(*args, **kwargs), Timing)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def best(times: list) -> Timing:
    """The timing with the smallest wall clock."""
    return min(times, key=lambda t: t.wall)


def version_of(distribution: str) -> str:
    """Installed version, or jaxreg.__version__ for an uninstalled checkout, or "absent"."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        if distribution == "jaxreg":
            import jaxreg

            return jaxreg.__version__
        return "absent"


def load_average() -> str:
    """1-minute load average: other processes on a 2-core machine inflate wall-clock times."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def write_csv(path: Path, header: list, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def git_state() -> str:
    """Commit of the checkout, and whether jaxreg/ has uncommitted changes."""
    root = BENCH_DIR.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "jaxreg"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"{head}" + (" + uncommitted changes in jaxreg/" if dirty else " (jaxreg/ clean)")


def machine_info(versions: dict | None = None) -> str:
    """CPU, OS, Python, library versions and the environment variables that affect timing."""
    import jax

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    dists = ["jax", "jaxlib", "numpy", "scipy", "scikit-learn", "python-glmnet", "celer", "skglm", "glum",
             "numba", "jaxreg"]
    text = ", ".join(f"{d} {version_of(d)}" for d in dists)
    if versions:
        text += "; adapters: " + ", ".join(f"{k} {v}" for k, v in versions.items())
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "XLA_FLAGS",
                                                     adapters_mod.ADELIE_ENV_VAR) if k in os.environ)
    return "\n".join([
        f"machine: {platform.platform()}; CPU: {model}; os.cpu_count()={os.cpu_count()}, usable cores={affinity}",
        f"python {platform.python_version()}; jax backend {jax.default_backend()}",
        f"versions: {text}",
        f"env: {env or '(none of OPENBLAS_CORETYPE, OMP_NUM_THREADS, XLA_FLAGS set)'}",
        f"jaxreg checkout: {git_state()}; load average (1 min) at start: {load_average()}",
    ])


# --------------------------------------------------------------------------------------
# Runs and ladders
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
    peak_mb: float | None = None
    hwm_mb: float | None = None


def evaluate(problem: Problem, adapter: Adapter, out: dict, tol: float) -> Run:
    """A Run from a worker's answer (coefficients on the scale of the data it was given)."""
    coef, intercept = out["coef"], out["intercept"]
    if adapter.standardized_input:
        coef, intercept = registry.to_original_scale(problem, coef, intercept)
    notes = [out.get("note") or ""]
    if out.get("n_warnings"):
        notes.append(f"{out['n_warnings']} warnings, e.g. {out['warning']}")
    return Run(adapter.name, tol, [Timing(out["time"], out["cpu"])], registry.objective(problem, coef, intercept),
               registry.dual_bound(problem, coef), "; ".join(n for n in notes if n), out.get("peak_mb"),
               out.get("hwm_mb"))


@dataclasses.dataclass
class Ladder:
    """A library's tolerance ladder on one problem: its runs, and why it stopped, if it did."""

    adapter: Adapter
    worker: Worker | None
    first: Run | None = None  # the warm-up call: first call in a fresh process
    runs: list = dataclasses.field(default_factory=list)
    stopped: str = ""

    def first_passing(self, ref: np.ndarray, target: float) -> Run | None:
        return next((r for r in self.runs if worst_rel_subopt(r.obj, ref) <= target), None)

    def advance(self, problem: Problem) -> None:
        """Run the next tolerance of the ladder (one timed call)."""
        tols = self.adapter.tols
        if len(self.runs) >= len(tols):
            self.stopped = self.stopped or "exhausted"
            return
        tol = tols[len(self.runs)]
        out = self.worker.run(tol)
        if "timeout" in out:
            self.stopped = f"run at tol {tol:.0e} exceeded the {out['timeout']:g} s cap"
        elif "error" in out:
            self.stopped = f"tol {tol:.0e}: {out['error']}"
        else:
            self.runs.append(evaluate(problem, self.adapter, out, tol))
        if len(self.runs) == len(tols) and not self.stopped:
            self.stopped = "exhausted"

    def top_up(self, run: Run, repeats: int) -> None:
        """Repeat the timed call at run.tol until ``repeats`` times are recorded."""
        while len(run.times) < repeats and self.worker is not None and self.worker.alive:
            out = self.worker.run(run.tol)
            if "time" not in out:
                run.note = (run.note + "; " if run.note else "") + f"repeat failed: {str(out)[:200]}"
                return
            run.times.append(Timing(out["time"], out["cpu"]))

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def start_ladder(adapter: Adapter, problem: Problem, cap: float, warmup_cap: float, env: dict | None = None) -> Ladder:
    """Spawn the library's worker and make the first (warm-up) call at its loosest tolerance."""
    X, y = (problem.Xs, problem.y_std) if adapter.standardized_input else (problem.X, problem.y)
    try:
        worker = Worker(adapter.name, adapter.executable(), X, y, problem.grid, problem.family, cap, env_extra=env)
    except RuntimeError as exc:
        return Ladder(adapter, None, stopped=f"worker failed: {exc}"[:400])
    ladder = Ladder(adapter, worker)
    out = worker.run(adapter.tols[0], timeout=warmup_cap)
    if "time" not in out:
        ladder.stopped = f"first call failed: {out.get('error') or out}"[:400]
        worker.close()
    else:
        ladder.first = evaluate(problem, adapter, out, adapter.tols[0])
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
# One problem, the table, the files
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One line of the table / summary CSV."""

    spec: Spec
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
    first_call_s: float | None = None
    peak_mb: float | None = None  # timed call: peak RSS minus RSS before it
    first_peak_mb: float | None = None  # the same for the first call (imports, compilation)
    hwm_mb: float | None = None  # timed call: the worker's whole peak RSS
    load: str = ""  # 1-minute load average when the problem started


def ladder_row(spec: Spec, lad: Ladder, ref: np.ndarray, target: float, repeats: int, version: str) -> Row:
    """Summarize a ladder: time at the first passing tolerance, or why there is none."""
    name = lad.adapter.name
    first = {} if lad.first is None else {"first_call_s": lad.first.times[0].wall, "first_peak_mb": lad.first.peak_mb}
    if not lad.runs:
        status = "over cap" if "exceeded" in lad.stopped else "failed"
        return Row(spec, name, version, None, None, None, 0, None, status, lad.stopped, **first)
    run = lad.first_passing(ref, target)
    if run is not None:
        lad.top_up(run, repeats)
        return Row(spec, name, version, run.tol, *best(run.times), len(run.times), worst_rel_subopt(run.obj, ref),
                   "ok", run.note, peak_mb=run.peak_mb, hwm_mb=run.hwm_mb, **first)
    last = lad.runs[-1]
    why = f"never reached {target:.0e} ({lad.stopped}); time is one run at the tightest tol tried"
    return Row(spec, name, version, last.tol, *best(last.times), len(last.times), worst_rel_subopt(last.obj, ref),
               "not reached", why + (f"; {last.note}" if last.note else ""), peak_mb=last.peak_mb,
               hwm_mb=last.hwm_mb, **first)


def add_ratios(rows: list) -> None:
    """ratio = time / glmnet's time on the same problem (when glmnet reached the target)."""
    base = next((r for r in rows if r.library == "glmnet" and r.status == "ok"), None)
    for r in rows:
        if base is not None and r.time_s is not None:
            r.ratio = r.time_s / base.time_s


def bench_problem(spec: Spec, names: list, installed: dict, args) -> tuple:
    """All selected libraries on one problem. Returns (rows, runs, reference diagnostics).

    ``installed``: adapter name -> (importable, version or reason), from adapters.probe.
    """
    try:
        problem = registry.load_problem(spec).problem
    except registry.ProblemUnavailable as exc:
        return [Row(spec, "-", "-", None, None, None, 0, None, "skipped: data unavailable", str(exc))], [], {}
    rows, ladders = [], []
    for name in names:
        adapter = ADAPTERS[name]
        ok, version = installed[name]
        if not ok:
            rows.append(Row(spec, name, "absent", None, None, None, 0, None, "skipped: not installed", version))
        elif spec.family in adapter.unsupported:
            rows.append(Row(spec, name, version, None, None, None, 0, None, "skipped: unsupported",
                            adapter.unsupported[spec.family]))
        else:
            lad = start_ladder(adapter, problem, args.cap, args.cap + 60.0, args.worker_env)
            ladders.append(lad)
            first = "-" if lad.first is None else f"{lad.first.times[0].wall:.2f} s"
            print(f"  {name}: first call {first}{'' if not lad.stopped else ' (' + lad.stopped[:150] + ')'}", flush=True)

    # The reference run: jaxreg at tol 1e-13 (in the jaxreg ladder's worker when there is one).
    fixed, ref_worker, own = [], None, False
    jl = next((lad for lad in ladders if lad.adapter.name == "jaxreg" and lad.worker is not None and lad.worker.alive), None)
    if jl is not None:
        ref_worker = jl.worker
    elif installed.get("jaxreg", (False,))[0]:
        try:
            ref_worker = Worker("jaxreg", ADAPTERS["jaxreg"].executable(), problem.X, problem.y, problem.grid,
                                problem.family, args.cap, env_extra=args.worker_env)
            own = True
        except RuntimeError as exc:
            print(f"  reference run failed to start: {exc}", flush=True)
    if ref_worker is not None:
        out = ref_worker.run(REFERENCE_TOL, timeout=args.cap + 60.0)
        if "coef" in out:
            fixed.append(evaluate(problem, ADAPTERS["jaxreg"], out, REFERENCE_TOL))
            fixed[-1].library = f"jaxreg (tol {REFERENCE_TOL:.0e}, reference)"
        else:
            print(f"  reference run failed: {str(out)[:300]}", flush=True)
        if own:
            ref_worker.close()

    try:
        if not fixed:  # no jaxreg reference: seed the reference with each ladder's first rung
            for lad in ladders:
                if not lad.stopped:
                    lad.advance(problem)
        if not fixed and not any(lad.runs for lad in ladders):
            rows += [ladder_row(spec, lad, None, args.target, args.repeats, installed[lad.adapter.name][1])
                     for lad in ladders]
            return rows, [], {}
        ref = climb(ladders, fixed, problem, args.target)
        for lad in ladders:
            rows.append(ladder_row(spec, lad, ref, args.target, args.repeats, installed[lad.adapter.name][1]))
    finally:
        for lad in ladders:
            lad.close()
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: order.get(r.library, -1))
    add_ratios(rows)

    runs = fixed + [r for lad in ladders for r in lad.runs]
    best_dual = np.max(np.stack([r.dual for r in runs]), axis=0)
    diag = {
        "n_runs": len(runs),
        "ref_certified": float(np.max((ref - best_dual) / ref)),
        "tight_subopt": worst_rel_subopt(fixed[0].obj, ref) if fixed else None,
        "tight_note": fixed[0].note if fixed else "no jaxreg reference run",
        "n": problem.shape[0],
        "p": problem.shape[1],
    }
    return rows, [(r, worst_rel_subopt(r.obj, ref)) for r in runs], diag


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def format_table(rows: list) -> str:
    """Fixed-width table; notes follow below it, numbered."""
    head = (f"{'problem':<22} {'library':<8} {'tol':>7} {'time [s]':>9} {'cpu [s]':>8} {'runs':>4} "
            f"{'worst rel subopt':>16} {'x glmnet':>8} {'1st call [s]':>12} {'+MB':>6} {'1st +MB':>7} {'RSS MB':>6}  status")
    lines, notes, last = [head, "-" * len(head)], [], None
    for r in rows:
        label = r.spec.label() if r.spec != last else ""
        last = r.spec
        mark = ""
        if r.note:
            notes.append(r.note)
            mark = f" [{len(notes)}]"
        sub = "-" if r.subopt is None else f"{max(r.subopt, 0.0):.1e}"
        lines.append(
            f"{label:<22} {r.library:<8} {_fmt(r.tol, '.0e'):>7} {_fmt(r.time_s, '.4f'):>9} {_fmt(r.cpu_s, '.3f'):>8} "
            f"{r.n_timed:>4} {sub:>16} {_fmt(r.ratio, '.2f'):>8} {_fmt(r.first_call_s, '.3f'):>12} "
            f"{_fmt(r.peak_mb, '.1f'):>6} {_fmt(r.first_peak_mb, '.1f'):>7} {_fmt(r.hwm_mb, '.0f'):>6}  {r.status}{mark}"
        )
    lines += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)]
    return "\n".join(lines)


SUMMARY_HEADER = ["date", "problem", "family", "n", "p", "rho", "library", "version", "tol", "time_s", "cpu_s",
                  "n_timed_runs", "worst_rel_subopt", "ratio_to_glmnet", "first_call_s", "peak_rss_mb",
                  "first_call_peak_rss_mb", "worker_peak_rss_mb", "status", "note", "load_avg"]


def summary_rows(rows: list, date: str) -> list:
    return [[date, r.spec.id, r.spec.family, r.spec.n, r.spec.p, "" if r.spec.rho is None else r.spec.rho, r.library,
             r.version, r.tol, r.time_s, r.cpu_s, r.n_timed, r.subopt, r.ratio, r.first_call_s, r.peak_mb,
             r.first_peak_mb, r.hwm_mb, r.status, r.note, r.load]
            for r in rows]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", "--problems", dest="cells", default=None,
                    help=f"comma-separated problem ids or groups (table1, table1-binomial, real, all; default "
                         f"{DEFAULT_CELLS}); ids: NxPxRHO (gaussian), binomial:NxPxRHO, "
                         + ", ".join(s.id for s in registry.REAL))
    ap.add_argument("--peers", "--libraries", dest="peers", default=",".join(ADAPTERS),
                    help="comma-separated subset of " + ",".join(ADAPTERS))
    ap.add_argument("--target", type=float, default=1e-6, help="worst relative suboptimality to reach")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs, best taken")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds allowed per run (first call: cap + 60)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic problems")
    ap.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_CELLS}, 1 repeat, 20 s cap")
    ap.add_argument("--out", type=Path, default=None, help="summary CSV path (default results/path_<date>.csv)")
    ap.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment variable for every worker, e.g. OMP_NUM_THREADS=1 (repeatable; "
                         "default: none, every library runs with its own threading defaults)")
    ap.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    ap.add_argument("--list", action="store_true", help="list the registry and exit")
    args = ap.parse_args(argv)
    if args.quick:
        args.cells = args.cells or QUICK_CELLS
        args.repeats, args.cap = 1, min(args.cap, 20.0)
    try:
        args.specs = registry.parse_problems(args.cells or DEFAULT_CELLS, seed=args.seed)
    except ValueError as exc:
        ap.error(str(exc))
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = set(names) - set(ADAPTERS)
    if unknown:
        ap.error(f"unknown libraries {sorted(unknown)}; choose from {sorted(ADAPTERS)}")
    args.names = names
    try:
        args.worker_env = dict(item.split("=", 1) for item in args.worker_env)
    except ValueError:
        ap.error("--worker-env takes KEY=VALUE")
    return args


def _ensure_jaxreg_importable() -> None:
    """Allow ``python benchmarks/bench_path.py`` from a checkout without installing jaxreg."""
    try:
        import jaxreg  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(BENCH_DIR.parent))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in registry.PROBLEMS.values():
            print(f"{s.id:<28} {s.family:<9} {s.group:<16} {s.n}x{s.p}  {s.description}")
        return 0
    _ensure_jaxreg_importable()
    date = datetime.date.today().isoformat()
    out = args.out or RESULTS_DIR / f"path_{date}{'_quick' if args.quick else ''}.csv"
    installed = {name: adapters_mod.probe(name) for name in dict.fromkeys(args.names + ["jaxreg"])}
    print(machine_info({n: (v if ok else "not installed") for n, (ok, v) in installed.items()}))
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"date: {date}; {len(args.specs)} problems; target worst relative suboptimality {args.target:.0e}; "
          f"best of {args.repeats}; cap {args.cap:.0f} s per run; seed {args.seed}; worker env "
          f"{args.worker_env or '(none added)'}\n", flush=True)

    all_rows, ladder_csv, ref_csv = [], [], []
    ladder_path = out.with_name(out.stem + "_ladder.csv")
    ref_path = out.with_name(out.stem + "_reference.csv")
    for spec in args.specs:
        load = load_average()
        print(f"{spec.label()} [{spec.id}] (load average {load})", flush=True)
        t0 = time.perf_counter()
        rows, runs, diag = bench_problem(spec, args.names, installed, args)
        for r in rows:
            r.load = load
        all_rows += rows
        ladder_csv += [[spec.id, spec.family, r.library, r.tol, r.times[0].wall, r.times[0].cpu, r.peak_mb, sub, r.note]
                       for r, sub in runs]
        if diag:
            ref_csv.append([spec.id, spec.family, diag["n"], diag["p"], diag["n_runs"], diag["ref_certified"],
                            diag["tight_subopt"], diag["tight_note"]])
            print(f"  reference: min over {diag['n_runs']} runs; within {max(diag['ref_certified'], 0):.1e} (relative) "
                  f"of the optimum by the best dual point; jaxreg tol 1e-13 run "
                  f"{_fmt(None if diag['tight_subopt'] is None else max(diag['tight_subopt'], 0), '.1e')} above it "
                  f"({diag['tight_note'][:120]}); {time.perf_counter() - t0:.0f} s", flush=True)
        else:
            print(f"  {rows[0].status if rows else 'nothing ran'}: {rows[0].note if rows else ''}", flush=True)
        write_csv(out, SUMMARY_HEADER, summary_rows(all_rows, date))
        write_csv(ladder_path, ["problem", "family", "library", "tol", "time_s_first_run", "cpu_s_first_run",
                                "peak_rss_mb", "worst_rel_subopt", "note"], ladder_csv)
        write_csv(ref_path, ["problem", "family", "n", "p", "n_runs", "ref_minus_best_dual_rel",
                             "jaxreg_tol1e-13_subopt", "jaxreg_note"], ref_csv)

    print(f"\nload average (1 min) at the end: {load_average()}\n")
    print(format_table(all_rows))
    print(f"\nwrote {out}, {ladder_path.name}, {ref_path.name}")
    if not args.no_plot:
        try:
            import plot

            png = plot.plot_ratios(out, out.with_suffix(".png"))
            print(f"wrote {png}" if png else "plot: no problem has a glmnet time to compare with")
        except ImportError as exc:
            print(f"plot skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
