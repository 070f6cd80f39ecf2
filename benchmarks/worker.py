"""A worker process per library and problem, and the client that drives it.

The harness (bench_path.py) never runs a library in its own process: each (library, problem)
gets a fresh ``python benchmarks/worker.py`` child, in the library's own interpreter (adelie
needs a separate environment with numpy < 2). So:

- a run over the time cap is stopped by killing the child;
- the first call in a fresh process is measured on its own (imports, numba or XLA
  compilation: jaxreg's trace + compile + solve);
- peak memory is the child's: its peak resident set size during the call (``VmHWM`` of
  /proc/self/status, reset before each call by writing 5 to /proc/self/clear_refs) minus its
  resident set size just before the call (``peak_mb``: what the call allocates), and that peak
  itself (``hwm_mb``: the whole process, with the library, its runtime and the data). That sees everything the process allocates (NumPy,
  XLA buffers, Fortran work arrays), which tracemalloc would not.

Protocol: length-prefixed pickles of plain Python values (arrays travel as ``.npy`` bytes, so
the two sides may run different NumPy versions). The child's stdout is redirected to its
stderr so that library prints cannot corrupt the channel; its stderr goes to a temporary file
whose tail is reported with any error.
"""

from __future__ import annotations

import gc
import io
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
_HEADER = struct.Struct("<Q")


# --------------------------------------------------------------------------------------
# Framing and array encoding (both sides)
# --------------------------------------------------------------------------------------


def _to_bytes(a) -> bytes | None:
    if a is None:
        return None
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    return buf.getvalue()


def _from_bytes(b) -> np.ndarray | None:
    return None if b is None else np.load(io.BytesIO(b), allow_pickle=False)


def _write_frame(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=4)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("worker closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None):
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


# --------------------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------------------


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measured_fit(name: str, X, y, grid, tol, family) -> dict:
    """One timed call of adapters.run_fit, with CPU time, peak memory and warnings.

    Exceptions come back as {"error": ...}: reported in the table, never hidden.
    """
    import adapters

    gc.collect()
    rss_before = _status_kb("VmRSS")
    resettable = _reset_peak()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            coef, intercept, note = adapters.run_fit(name, X, y, grid, tol, family)
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {exc}"[:400]}
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _status_kb("VmHWM") if resettable else None
    messages = sorted({f"{type(w.message).__name__}: {w.message}"[:220] for w in caught})
    return {
        "time": wall,
        "cpu": cpu,
        "coef": coef,
        "intercept": intercept,
        "note": note,
        "n_warnings": len(caught),
        "warning": messages[0] if messages else "",
        "peak_mb": None if peak is None or rss_before is None else max(peak - rss_before, 0) / 1024.0,
        "hwm_mb": None if peak is None else peak / 1024.0,  # the whole process: libraries, runtime, data
    }


def _child_main() -> int:
    out_fd = os.dup(1)
    os.dup2(2, 1)  # library prints go to stderr, never into the channel
    in_fd = 0
    state: dict = {}
    while True:
        try:
            msg = _read_frame(in_fd)
        except EOFError:
            return 0
        op = msg["op"]
        if op == "exit":
            return 0
        if op == "init":
            state = {k: msg[k] for k in ("name", "family")}
            state.update(X=_from_bytes(msg["X"]), y=_from_bytes(msg["y"]), grid=_from_bytes(msg["grid"]))
            _write_frame(out_fd, {"ok": True, "pid": os.getpid()})
        elif op == "run":
            res = measured_fit(state["name"], state["X"], state["y"], state["grid"], msg["tol"], state["family"])
            if "coef" in res:
                res["coef"] = _to_bytes(res["coef"])
                res["intercept"] = _to_bytes(res["intercept"])
            _write_frame(out_fd, res)
        else:
            _write_frame(out_fd, {"error": f"unknown op {op!r}"})


# --------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------


class Worker:
    """A child process running one library on one problem; a call over its time limit
    kills it (later calls then answer {"error": ...})."""

    def __init__(self, name: str, executable: str, X, y, grid, family: str, cap: float,
                 start_timeout: float = 300.0, env_extra: dict | None = None):
        self.cap = cap
        self.alive = False
        self._log = tempfile.TemporaryFile()
        # `1st call` is a cold compile: jaxreg's disk cache of compiled programs is off unless
        # --worker-env JAXREG_CACHE_DIR=... asks for it.
        env = dict(os.environ, JAXREG_CACHE_DIR="off")
        env.update(env_extra or {})
        # jaxreg from this checkout when it is not installed; adapters/worker from benchmarks/.
        env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR.parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self.proc = subprocess.Popen([executable, str(BENCH_DIR / "worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, env=env, bufsize=0)
        self.alive = True
        self.name = name
        out = self.load(X, y, grid, family, start_timeout)
        if "ok" not in out:
            self.close()
            raise RuntimeError(f"worker for {name} did not start: {out}")

    def load(self, X, y, grid, family: str, timeout: float = 300.0) -> dict:
        """Give the worker a (new) problem: {"ok": True, ...} or {"error"/"timeout": ...}."""
        msg = {"op": "init", "name": self.name, "family": family, "X": _to_bytes(X), "y": _to_bytes(y),
               "grid": _to_bytes(grid)}  # .npy keeps the memory order (Fortran for Xs)
        return self._call(msg, timeout)

    def _stderr_tail(self, n: int = 600) -> str:
        try:
            self._log.seek(0)
            return self._log.read().decode(errors="replace")[-n:].strip()
        except (OSError, ValueError):
            return ""

    def _call(self, msg: dict, timeout: float) -> dict:
        sent = self.submit(msg)
        return sent if sent is not None else self.collect(timeout)

    def submit(self, msg: dict) -> dict | None:
        """Send a request without waiting (None), or the error if the worker is gone."""
        if not self.alive:
            return {"error": "worker stopped after an earlier time-out or crash"}
        try:
            _write_frame(self.proc.stdin.fileno(), msg)
        except OSError as exc:
            return self._died(exc)
        return None

    def collect(self, timeout: float) -> dict:
        """The answer to the last request; a time-out kills the worker."""
        if not self.alive:
            return {"error": "worker stopped after an earlier time-out or crash"}
        try:
            out = _read_frame(self.proc.stdout.fileno(), time.monotonic() + timeout)
        except TimeoutError:
            self.close(kill=True)
            return {"timeout": timeout}
        except (EOFError, OSError) as exc:
            return self._died(exc)
        if "coef" in out:
            out["coef"] = _from_bytes(out["coef"])
            out["intercept"] = _from_bytes(out["intercept"])
        return out

    def _died(self, exc) -> dict:
        tail = self._stderr_tail()
        self.close(kill=True)
        return {"error": f"worker died ({type(exc).__name__}: {exc}); stderr: {tail}"[:800]}

    def run(self, tol: float, timeout: float | None = None) -> dict:
        """{"time", "cpu", "coef", "intercept", "note", "peak_mb", ...}, {"error"} or {"timeout"}."""
        return self._call({"op": "run", "tol": float(tol)}, self.cap if timeout is None else timeout)

    def close(self, kill: bool = False) -> None:
        """Ask the child to exit (or kill it: a call is still running) and reap it."""
        if self.alive:
            self.alive = False
            try:
                if self.proc.poll() is None and not kill:
                    try:
                        _write_frame(self.proc.stdin.fileno(), {"op": "exit"})
                        self.proc.wait(timeout=5)
                    except (OSError, subprocess.TimeoutExpired):
                        pass
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                for f in (self.proc.stdin, self.proc.stdout):
                    try:
                        f.close()
                    except OSError:
                        pass
        try:
            self._log.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    sys.exit(_child_main())
