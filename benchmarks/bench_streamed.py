"""Binomial paths on tall, narrow X: the streamed Newton solver against the working-set one.

For each shape, in a fresh process: the glmnet paper's simulated X (rho 0.5) with a logistic
response, one path per solver to compile, then the best of ``--repeats`` steady calls of each,
interleaved, on the same X. Prints and writes (``--out``) per shape the two times, their
ratio (streamed / working set), both worst relative duality gaps and the largest relative
difference of their objectives. ``path.STREAMED_MIN_ROWS`` decides which solver a path runs;
this script overrides it per call (to 0 and to 2^62), so every shape can run both.

    PYTHONPATH=. python benchmarks/bench_streamed.py --shapes 262144x8,500000x25,2500000x5
"""

from __future__ import annotations

import argparse
import csv
import importlib
import multiprocessing as mp
import sys
import time

DEFAULT_SHAPES = "100000x10,100000x32,262144x8,262144x32,500000x25,1000000x16,2500000x5"


def _worker(n: int, p: int, n_lambdas: int, repeats: int, queue) -> None:
    import numpy as np

    import jaxreg
    from jaxreg.datasets import make_glmnet_benchmark

    P = importlib.import_module("jaxreg.path")
    X, y, _ = make_glmnet_benchmark(n, p, 0.5, family="binomial", seed=0)
    rows = {"streamed": 0, "working set": 1 << 62}

    def run(mode):
        P.STREAMED_MIN_ROWS = rows[mode]
        t = time.perf_counter()
        res = jaxreg.path(X, y, family="binomial", n_lambdas=n_lambdas)
        return time.perf_counter() - t, res

    for mode in rows:  # compile both
        run(mode)
    best = {mode: (np.inf, None) for mode in rows}
    for _ in range(repeats):
        for mode in rows:
            t, res = run(mode)
            if t < best[mode][0]:
                best[mode] = (t, res)
    (ts, rs), (tw, rw) = best["streamed"], best["working set"]
    queue.put(dict(n=n, p=p, n_lambdas=n_lambdas, streamed_s=ts, working_set_s=tw, ratio=ts / tw,
                   gap_streamed=float(rs.gap.max()), gap_working_set=float(rw.gap.max()),
                   objective_rel_diff=float(np.max(np.abs(rs.objective - rw.objective) / np.abs(rw.objective)))))


def measure(n: int, p: int, n_lambdas: int = 100, repeats: int = 2) -> dict:
    """One shape in a fresh process (see the module docstring)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(n, p, n_lambdas, repeats, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated NxP")
    parser.add_argument("--n-lambdas", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None, help="CSV file for the rows")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'shape':>12} {'streamed [s]':>12} {'working set [s]':>15} {'ratio':>6} {'gap streamed':>12} "
          f"{'gap w.s.':>9} {'obj rel diff':>12}", flush=True)
    for shape in args.shapes.split(","):
        n, p = (int(v) for v in shape.lower().split("x"))
        r = measure(n, p, args.n_lambdas, args.repeats)
        rows.append(r)
        print(f"{shape:>12} {r['streamed_s']:12.3f} {r['working_set_s']:15.3f} {r['ratio']:6.2f} "
              f"{r['gap_streamed']:12.1e} {r['gap_working_set']:9.1e} {r['objective_rel_diff']:12.1e}", flush=True)
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
