"""Run the compiled solvers with single-threaded OpenBLAS.

On CPU, JAX's ``jnp.linalg.cholesky`` / triangular solves call LAPACK through SciPy's
OpenBLAS. From order 128 up, OpenBLAS's blocked ``potrf`` and multi-right-hand-side ``trsm``
hand each call to its own thread pool. The working-set systems are small (m <= a few
hundred) and solved thousands of times per path, so the hand-off costs far more than the
arithmetic, and when the cores are busy it collapses. ``benchmarks/bench_blas_threads.py``
on a 2-core machine: a 201 x 201 Cholesky took 0.60 ms with two OpenBLAS threads and 0.23 ms
with one when idle; with two busy-loop processes running, 3.9 ms against 0.39 ms, and a
900 x 200 lasso path 10.2 s against 0.13 s.

``single_threaded_blas()`` sets every loaded OpenBLAS to one thread for the duration of a
solve and restores the previous count afterwards. It finds the libraries through
``/proc/self/maps`` (Linux); elsewhere, or when no OpenBLAS is loaded, it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
_STATE = {"libs": [], "scanned": False, "depth": 0, "saved": []}
_CACHE: dict = {}
_SYMBOLS = (
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
)


def _loaded_openblas():
    """``[(get, set)]`` thread-count functions of every OpenBLAS mapped into this process."""
    try:  # jaxlib's CPU LAPACK kernels are SciPy's; make sure they are loaded before the scan
        import scipy.linalg.cython_lapack  # noqa: F401
    except ImportError:  # pragma: no cover - scipy is a dependency of jax
        pass
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return []
    found = []
    for path in paths:
        if path in _CACHE:
            found.extend(_CACHE[path])
            continue
        _CACHE[path] = []
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            getter, setter = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if getter is not None and setter is not None:
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                _CACHE[path] = [(getter, setter)]
                found.append((getter, setter))
                break
    return found


@contextlib.contextmanager
def single_threaded_blas():
    """Context in which loaded OpenBLAS libraries use one thread (re-entrant, thread-safe)."""
    with _LOCK:
        if _STATE["depth"] == 0:
            if not _STATE["scanned"]:
                # Scanned once (~1 ms); the scan first imports SciPy's LAPACK, which JAX uses.
                _STATE["libs"] = _loaded_openblas()
                _STATE["scanned"] = True
            # Every outermost entry: the caller may have changed the counts since the last one.
            _STATE["saved"] = [(setter, getter()) for getter, setter in _STATE["libs"]]
            for setter, count in _STATE["saved"]:
                if count != 1:
                    setter(1)
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                for setter, count in _STATE["saved"]:
                    if count != 1:
                        setter(count)
