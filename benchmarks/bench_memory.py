"""Peak memory of a path on a dense X of 1e8 bytes, relative to the size of X.

For each shape, in a fresh process: X (float64, glmnet recipe, rho = 0.5) is built, one path
is solved to compile the program, the kernel's high-water mark of resident memory is reset
(``/proc/self/clear_refs``) after a garbage collection and glibc's ``malloc_trim(0)`` (so
that memory the first call freed is not silently reused), and a second path on the same X is
solved. The reported peak is the high-water mark minus the resident memory just before that
call: what the path itself needs on top of X (compiled code excluded). One run per shape and way of handing X over:
``numpy`` (as NumPy allocates it, 16 bytes past a 64-byte boundary: XLA:CPU would copy it
once into an aligned buffer; the path hands it over as a ``design.RowShifted`` view
instead), ``aligned`` (NumPy, placed on a 64-byte boundary: shared with XLA, no copy),
``jax`` (``jnp.asarray(X)``, the NumPy copy dropped: used as is), ``memmap``
(``np.load(..., mmap_mode="r")`` of X saved to a temporary ``.npy``, shared read-only; its
pages, once read, count as resident memory of the process) and ``fortran``
(``np.asfortranarray(X)``, as pandas hands out a float frame's values: the program takes
the row-major X^T, ``design.Transposed``). ``streamed``: whether the path read X in row
blocks (``jaxreg.streamed_gram``: the Gaussian lasso with n >= p on a row-major X that XLA
would copy) instead of handing it to the program; ``view``: how the program got X (``-``:
as is; ``T``: transposed; ``shifted``: ``RowShifted``). Linux only.

    PYTHONPATH=. python benchmarks/bench_memory.py                 # 100000 x 125 and 1000 x 12500
    PYTHONPATH=. python benchmarks/bench_memory.py --shapes 20000x625 --n-lambdas 20
    PYTHONPATH=. python benchmarks/bench_memory.py --shapes 100000x125 --family binomial
    PYTHONPATH=. python benchmarks/bench_memory.py --shapes 1000x12500 --l1-ratio 0 --inputs numpy
    PYTHONPATH=. python benchmarks/bench_memory.py --shapes 100000x125 --cv 4 --n-lambdas 20 --estimator --inputs numpy
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import multiprocessing as mp
import time


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(key)).split()[1]) * 1024


INPUTS = ("numpy", "aligned", "jax", "memmap", "fortran")


def _view(X, family: str) -> str:
    """How the path hands X over: ``-`` (as is, or copied by XLA), ``T`` (the row-major X^T of
    a column-major X), ``shifted`` (``RowShifted``, ``path._device_matrix``), ``flat``
    (``FlatShifted``, ``path._streamed_matrix``: the streamed Newton solver), ``T+shifted``,
    ``T+flat``."""
    import numpy as np

    P = importlib.import_module("jaxreg.path")
    n, p = X.shape
    if P._streamed_applies(importlib.import_module("jaxreg.families").get_family(family), n, p):
        column_major = X.flags.f_contiguous and not X.flags.c_contiguous
        return "+".join(["T"] * column_major + ["flat"] * (P._flat_shift(X) > 0)) or "-"
    if X.flags.f_contiguous and not X.flags.c_contiguous:
        if X.nbytes < importlib.import_module("jaxreg._validation").FORTRAN_KEPT_MIN_BYTES:
            return "-"  # copied to an aligned row-major X by validation
        transposed = True
    else:
        transposed = False
    shifted = P._row_shift(np.asarray(X.T if transposed else X)) > 0
    return "+".join(["T"] * transposed + ["shifted"] * shifted) or "-"


def _solve(X, y, family: str, n_lambdas: int, folds: int, n_jobs=None, l1_ratio=1.0, estimator=False):
    """One path, or with ``folds`` a ``jaxreg.cv`` of that many folds (``n_jobs`` threads), or
    with ``estimator`` too the scikit-learn-style ``ElasticNetCV`` / ``LogisticNetCV`` fit
    (``alphas=n_lambdas``, ``cv=folds``); returns the max gap (of the full-data paths for cv:
    the folds' are not kept, they warn if they do not certify)."""
    import jaxreg

    if folds and estimator:
        from jaxreg.estimators import ElasticNetCV, LogisticNetCV

        Est = LogisticNetCV if family == "binomial" else ElasticNetCV
        fitted = Est(alphas=n_lambdas, cv=folds, l1_ratio=l1_ratio).fit(X, y)
        results = fitted.cv_result_ if isinstance(fitted.cv_result_, tuple) else (fitted.cv_result_,)
        return max(float(path.gap.max()) for res in results for path in res.paths)
    if folds:
        res = jaxreg.cv(X, y, family=family, l1_ratio=l1_ratio, n_lambdas=n_lambdas, n_folds=folds, n_jobs=n_jobs)
        return max(float(path.gap.max()) for path in res.paths)
    return float(jaxreg.path(X, y, family=family, l1_ratio=l1_ratio, n_lambdas=n_lambdas).gap.max())


def _worker(n: int, p: int, given: str, n_lambdas: int, family: str, folds: int, n_jobs, l1_ratio, estimator, queue) -> None:
    import jax
    import numpy as np

    import jaxreg
    from jaxreg.datasets import make_glmnet_benchmark

    X0, y, _ = make_glmnet_benchmark(n, p, 0.5, family=family, seed=0)
    if given == "jax":
        with jax.enable_x64(True):
            X = jax.numpy.asarray(X0)
        del X0
    elif given == "aligned":
        buf = np.empty(X0.nbytes + 64, np.uint8)
        off = (-buf.ctypes.data) % 64
        X = buf[off : off + X0.nbytes].view(np.float64).reshape(n, p)
        X[:] = X0
        del X0
    elif given == "fortran":
        X = np.asfortranarray(X0)
        del X0
    elif given == "memmap":
        import os
        import tempfile

        fd, name = tempfile.mkstemp(suffix=".npy")
        os.close(fd)
        np.save(name, X0)
        del X0
        X = np.load(name, mmap_mode="r")
        os.unlink(name)  # the mapping keeps the file's data until the process ends
    else:
        X = np.ascontiguousarray(X0)
    t = time.perf_counter()
    _solve(X, y, family, n_lambdas, folds, n_jobs, l1_ratio, estimator)
    first = time.perf_counter() - t
    # Drop what the first call left (arrays awaiting collection) and hand the allocator's
    # free pages back to the kernel: otherwise the second call reuses them unseen, and the
    # extra peak reads low by whatever the first call freed (measured: a 100 MB copy of X by
    # XLA read as 0.1 MB).
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status("VmRSS")
    t = time.perf_counter()
    max_gap = _solve(X, y, family, n_lambdas, folds, n_jobs, l1_ratio, estimator)
    steady = time.perf_counter() - t
    peak = _status("VmHWM") - base
    pointer = X.unsafe_buffer_pointer() if given == "jax" else X.ctypes.data  # the caller's X
    block_program = jaxreg.streamed_gram._compiled_statistics.stats
    streamed = block_program["compiled"] + block_program["loaded"] > 0
    queue.put(dict(n=n, p=p, family=family, input=given, x_bytes=X.nbytes, x_64_aligned=pointer % 64 == 0,
                   streamed=streamed, view="-" if streamed or given == "jax" else _view(X, family),
                   peak_extra_bytes=peak, ratio_extra=peak / X.nbytes, ratio_total=(peak + X.nbytes) / X.nbytes,
                   first_call_s=first, steady_s=steady, max_gap=max_gap, cv_folds=folds, n_jobs=n_jobs, l1_ratio=l1_ratio,
                   estimator=estimator))


def measure(n: int, p: int, given: str, n_lambdas: int, family: str = "gaussian", folds: int = 0,
            n_jobs=None, l1_ratio: float = 1.0, estimator: bool = False) -> dict:
    """One fresh process; ``given`` in ``INPUTS``; ``n_jobs``: cv's threads (None: its default)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(n, p, given, n_lambdas, family, folds, n_jobs, l1_ratio, estimator, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="100000x125,1000x12500", help="comma-separated NxP")
    ap.add_argument("--n-lambdas", type=int, default=100)
    ap.add_argument("--family", default="gaussian", choices=["gaussian", "binomial"])
    ap.add_argument("--cv", type=int, default=0, metavar="FOLDS",
                    help="measure jaxreg.cv with this many folds instead of one path (its chunks run on threads)")
    ap.add_argument("--n-jobs", type=int, default=None, help="with --cv: its threads (default: cv's, one per core)")
    ap.add_argument("--inputs", default=",".join(INPUTS), help="comma-separated, of " + ", ".join(INPUTS))
    ap.add_argument("--l1-ratio", type=float, default=1.0, help="the paths' l1_ratio (default 1, the lasso)")
    ap.add_argument("--estimator", action="store_true",
                    help="with --cv: fit ElasticNetCV / LogisticNetCV (alphas = --n-lambdas) instead of jaxreg.cv")
    args = ap.parse_args(argv)
    print(f"{'shape':>12} {'X [MB]':>7} {'input':>7} {'X 64B-aligned':>13} {'streamed':>8} {'view':>9} {'extra peak [MB]':>15} {'extra/X':>7} {'(X+extra)/X':>11} {'steady [s]':>10} {'max gap':>8}")
    for shape in args.shapes.split(","):
        n, p = (int(v) for v in shape.lower().split("x"))
        for given in args.inputs.split(","):
            r = measure(n, p, given, args.n_lambdas, args.family, args.cv, args.n_jobs, args.l1_ratio, args.estimator)
            print(f"{shape:>12} {r['x_bytes'] / 1e6:7.0f} {given:>7} {str(r['x_64_aligned']):>13} {str(r['streamed']):>8} {r['view']:>9} {r['peak_extra_bytes'] / 1e6:15.1f} "
                  f"{r['ratio_extra']:7.2f} {r['ratio_total']:11.2f} {r['steady_s']:10.2f} {r['max_gap']:8.1e}", flush=True)
            print("  " + json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
