"""Why jaxreg runs its solves with single-threaded OpenBLAS (jaxreg/_blas.py), measured.

Two measurements, each with SciPy's OpenBLAS at its default thread count and at one thread:

1. one Cholesky factorization of a 201 x 201 SPD matrix (JAX's CPU ``cholesky`` calls
   OpenBLAS's ``potrf``), the size of a full working set on a p = 200 problem, timed as the
   mean of 100 calls inside one jitted loop;
2. a 900 x 200 lasso path (glmnet recipe, rho 0.5, 100 lambdas; the training set of one
   bench_cv.py fold), with jaxreg's context bypassed, best of 3 after a warm-up call.

    PYTHONPATH=. python benchmarks/bench_blas_threads.py

    PYTHONPATH=. python benchmarks/bench_blas_threads.py --busy 2   # with 2 busy-loop processes

Run it on an idle machine and with ``--busy``: the threaded factorization degrades far more
under load than the single-threaded one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import multiprocessing as mp
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg
from jaxreg import _blas
from jaxreg.datasets import make_glmnet_benchmark


@contextlib.contextmanager
def openblas_threads(count):
    libs = _blas._loaded_openblas()
    saved = [getter() for getter, _ in libs]
    for _, setter in libs:
        setter(count)
    try:
        yield
    finally:
        for (_, setter), value in zip(libs, saved):
            setter(value)


def cholesky_us(m=201, calls=100):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, m))
    with jax.enable_x64(True):
        A = jnp.asarray(A @ A.T + m * np.eye(m))

        @jax.jit
        def loop(A):
            def body(_, acc):
                return acc + jnp.linalg.cholesky(A + acc * 1e-30 * jnp.eye(m))[-1, -1]
            return jax.lax.fori_loop(0, calls, body, 0.0)

        loop(A).block_until_ready()
        t, c = time.perf_counter(), time.process_time()
        loop(A).block_until_ready()
        return (time.perf_counter() - t) / calls * 1e6, (time.process_time() - c) / calls * 1e6


def lasso_path_s():
    X, y, _ = make_glmnet_benchmark(1000, 200, 0.5, seed=0)
    X, y = X[:900], y[:900] / y.std()
    jaxreg.path(X, y)
    best = (np.inf, np.inf)
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        jaxreg.path(X, y)
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return best


def _spin() -> None:
    while True:
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", type=int, default=0, help="busy-loop processes to run meanwhile (load)")
    args = ap.parse_args(argv)
    hogs = [mp.get_context("spawn").Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for hog in hogs:
        hog.start()
    time.sleep(1.0 if hogs else 0.0)
    default = _blas._loaded_openblas()[0][0]()
    print(f"load average {os.getloadavg()[0]:.2f}; OpenBLAS default threads {default}")
    # Bypass jaxreg's own single-threading so the thread count set here is the one used.
    _blas.single_threaded_blas = contextlib.nullcontext
    path_module = importlib.import_module("jaxreg.path")  # `import jaxreg.path` gives the function
    path_module.single_threaded_blas = contextlib.nullcontext
    for count in (default, 1):
        with openblas_threads(count):
            wall, cpu = cholesky_us()
            pwall, pcpu = lasso_path_s()
        print(f"OpenBLAS threads {count}: cholesky 201x201 {wall:9.1f} us wall {cpu:9.1f} us cpu; "
              f"900x200 lasso path {pwall:.3f} s wall {pcpu:.3f} s cpu", flush=True)
    for hog in hogs:
        hog.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
