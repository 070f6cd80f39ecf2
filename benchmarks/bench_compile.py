"""First-call cost of ``jaxreg.path``: trace, XLA compile and solve, each in a fresh process.

Issue 5's target: a path's first call compiles in under 3 s on a 2-core machine, and new data
of the same shape never recompiles. For each problem (``NxPxRHO`` or ``binomial:NxPxRHO``,
``make_glmnet_benchmark(seed=0)``) and each XLA:CPU option set, a fresh interpreter:

1. imports jaxreg and builds the data (not timed);
2. times one ``jaxreg.path(X, y, family=...)`` call, split into ``trace`` (tracing and lowering
   the path program to StableHLO), ``compile`` (XLA, wall clock, and ``compile cpu``, the
   process CPU time over both cores) and the rest (``other``: validation, moments and the
   solve itself);
3. times the steady call (best of ``--repeats``) and checks that new data of the same shape
   (another seed) does not trace again (``retrace`` column: the number of new traces, must be 0).

Option sets: ``jaxreg`` is what ``jaxreg.path`` uses (``jaxreg.path._CPU_COMPILER_OPTIONS``,
plus ``_CPU_FLOAT64_OPTIONS`` for float64 working-set programs); ``xla-default`` compiles the same program
with XLA's default options, to show what the options buy; ``tree-reductions`` is ``jaxreg``
without the float64 addition (XLA keeps splitting long reductions), to show what that buys.
``max |coef diff|`` compares each set's coefficients with the first set's: the code generation
options alone give bit-identical ones, the float64 addition changes the order of summation
(differences at rounding level). These runs turn jaxreg's disk cache of
compiled programs off: they measure a cold compile. ``warm-cache`` is the same call in a new
process after another process compiled the program into an empty cache directory
(``JAXREG_CACHE_DIR``), the first call of a restarted notebook: there ``compile`` is the time
to load the program from disk, and ``trace`` is 0 when the program was found through the
cache's trace index (``jaxreg._program_cache``: no tracing at all). The split comes from the program's own ``stats``
(``jaxreg._program_cache.CachedProgram``).

    PYTHONPATH=. python benchmarks/bench_compile.py
    PYTHONPATH=. python benchmarks/bench_compile.py --cells 1000x100x0.5,binomial:100x5000x0 --repeats 5
    PYTHONPATH=. python benchmarks/bench_compile.py --sets jaxreg --processes 5

``--processes N`` runs each problem in N fresh processes and reports the median times and the
range of the compile time: on this 2-core VM one process's compile time can be 20-30% off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

DEFAULT_CELLS = "1000x100x0.5,5000x100x0,100x5000x0,binomial:1000x100x0.5,binomial:100x1000x0,binomial:100x5000x0"
OPTION_SETS = ("jaxreg", "xla-default", "tree-reductions", "warm-cache")

_CHILD = r"""
import json, sys, time
import numpy as np
import jax
import jaxreg
import importlib
P = importlib.import_module("jaxreg.path")
from jaxreg._program_cache import CachedProgram
from jaxreg.datasets import make_glmnet_benchmark

cell, option_set, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
family, _, shape = cell.rpartition(":")
family = family or "gaussian"
n, p, rho = shape.split("x")
X, y, _ = make_glmnet_benchmark(int(n), int(p), float(rho), family=family, seed=0)

# The path program as jaxreg.path runs it (its options; the disk cache as the parent set it:
# off, or a directory for warm-cache), the same program with XLA's default options, or
# with jaxreg's options but XLA's tree reductions kept.
# A Gaussian lasso with n >= p runs the homotopy program (and the working-set program only
# if a lambda does not certify); the split sums over the programs the first call built.
if option_set == "xla-default":
    P._compiled_path = CachedProgram(P._traced_run_path, P._STATIC)
    P._compiled_homotopy = CachedProgram(P._traced_homotopy, P._HOMOTOPY_STATIC)
elif option_set == "tree-reductions":
    options = {"cpu": P._CPU_COMPILER_OPTIONS}
    P._compiled_path = CachedProgram(P._traced_run_path, P._STATIC, compiler_options=options)
    P._compiled_homotopy = CachedProgram(P._traced_homotopy, P._HOMOTOPY_STATIC, compiler_options=options)
programs = [P._compiled_path, P._compiled_homotopy]
t0 = time.perf_counter()
first = jaxreg.path(X, y, family=family)
built = [prog.stats for prog in programs if "trace_s" in prog.stats]
split = {"first": time.perf_counter() - t0, "trace": sum(s["trace_s"] for s in built),
         "compile": sum(s["compile_s"] for s in built), "compile_cpu": sum(s["compile_cpu_s"] for s in built),
         "loaded": sum(s["loaded"] for s in built), "programs": len(built)}
split["other"] = split["first"] - split["trace"] - split["compile"]
steady = []
for _ in range(repeats):
    t0 = time.perf_counter()
    jaxreg.path(X, y, family=family)
    steady.append(time.perf_counter() - t0)
traces = jaxreg.trace_count()
X2, y2, _ = make_glmnet_benchmark(int(n), int(p), float(rho), family=family, seed=1)
jaxreg.path(X2, y2, family=family)
split.update(steady=min(steady), retrace=jaxreg.trace_count() - traces,
             max_gap=float(np.max(first.gap)), coef=np.asarray(first.coef).tolist())
print("RESULT " + json.dumps(split))
"""


def run_child(cell: str, option_set: str, repeats: int, cache: str = "off") -> dict:
    env = dict(os.environ, JAXREG_CACHE_DIR=cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, cell, option_set, str(repeats)], capture_output=True, text=True, env=env
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{cell} / {option_set} failed:\n{out.stderr[-3000:]}")


def run_set(cell: str, option_set: str, repeats: int) -> dict:
    if option_set != "warm-cache":
        return run_child(cell, option_set, repeats)
    with tempfile.TemporaryDirectory(prefix="jaxreg-bench-cache-") as cache:
        run_child(cell, option_set, 1, cache)  # compiles and stores
        result = run_child(cell, option_set, repeats, cache)
    if result.get("loaded") != 1:
        raise RuntimeError(f"{cell}: the second process did not load the program from the cache")
    return result


def run_processes(cell: str, option_set: str, repeats: int, processes: int) -> dict:
    """``run_set`` in ``processes`` fresh processes: the median of each time over the processes
    (column by column, so the split of the medians need not add up to the median first call),
    the range of the compile time, the largest gap and retrace count of any process, and the
    first process's coefficients."""
    import numpy as np

    runs = [run_set(cell, option_set, repeats) for _ in range(processes)]
    result = dict(runs[0])
    for key in ("first", "trace", "compile", "compile_cpu", "other", "steady"):
        result[key] = float(np.median([r[key] for r in runs]))
    result["retrace"] = max(r["retrace"] for r in runs)
    result["max_gap"] = max(r["max_gap"] for r in runs)
    result["compile_min"] = min(r["compile"] for r in runs)
    result["compile_max"] = max(r["compile"] for r in runs)
    result["processes"] = processes
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=DEFAULT_CELLS, help="comma-separated NxPxRHO or binomial:NxPxRHO")
    parser.add_argument("--repeats", type=int, default=3, help="steady calls (best is reported)")
    parser.add_argument("--sets", default=",".join(OPTION_SETS), help="option sets: jaxreg, xla-default, tree-reductions, warm-cache")
    parser.add_argument("--processes", type=int, default=1,
                        help="fresh processes per problem and option set; times are their medians "
                             "(this VM's compile times vary by 20-30%% between processes)")
    parser.add_argument("--out", default=None, help="CSV file for the table")
    args = parser.parse_args(argv)

    import numpy as np

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}")
    try:
        load = os.getloadavg()[0]
        print(f"load average at start: {load:.2f}")
    except OSError:
        pass
    header = (
        f"{'problem':28s} {'options':12s} {'first [s]':>9s} {'trace':>6s} {'compile':>8s} {'cpu':>6s} "
        f"{'other':>6s} {'steady':>7s} {'retrace':>7s} {'max gap':>8s} {'max |coef diff|':>15s} {'compile range':>13s}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for cell in args.cells.split(","):
        results = {s: run_processes(cell, s, args.repeats, args.processes) for s in args.sets.split(",")}
        reference = next(iter(results.values()))["coef"]
        for option_set, r in results.items():
            diff = float(np.max(np.abs(np.asarray(r["coef"]) - np.asarray(reference))))
            print(
                f"{cell:28s} {option_set:12s} {r['first']:9.2f} {r['trace']:6.2f} {r['compile']:8.2f} "
                f"{r['compile_cpu']:6.2f} {r['other']:6.2f} {r['steady']:7.4f} {r['retrace']:7d} "
                f"{r['max_gap']:8.1e} {diff:15.1e} {r['compile_min']:6.2f}-{r['compile_max']:<6.2f}"
            )
            rows.append((cell, option_set, r, diff))
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("problem,options,first_s,trace_s,compile_s,compile_cpu_s,other_s,steady_s,retrace,max_gap,max_coef_diff,"
                     "processes,compile_min_s,compile_max_s\n")
            for cell, option_set, r, diff in rows:
                fh.write(
                    f"{cell},{option_set},{r['first']:.4f},{r['trace']:.4f},{r['compile']:.4f},{r['compile_cpu']:.4f},"
                    f"{r['other']:.4f},{r['steady']:.5f},{r['retrace']},{r['max_gap']:.3e},{diff:.3e},"
                    f"{r['processes']},{r['compile_min']:.4f},{r['compile_max']:.4f}\n"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
