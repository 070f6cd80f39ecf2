"""Compiled path programs, kept in memory and on disk across processes.

A path's first call on a new shape traces its program (about 0.5 s) and compiles it with XLA
(2-5 s on 2 cores, more than the solve on most problems). ``CachedProgram`` compiles each
program once per process, like ``jax.jit``, and also stores the executable on disk, keyed by
a hash of the lowered program text, the compile options, the JAX and jaxlib versions, the
platform and the host CPU. A new process (a restarted notebook, the next script) that traces
the same program loads it instead of compiling it. A changed jaxreg, JAX or machine gives a
different key. JAX's own persistent compilation cache does the same for every program, but it
is a global setting of the user's JAX; this cache holds jaxreg's programs only.

A jaxreg program is also indexed by what determines its trace: the source of the jaxreg
package, the function, its static arguments (builtins and jaxreg's own frozen dataclasses),
the arguments' shapes and dtypes, x64, the compile options, JAX's configuration and the
environment above. A new process finds the executable through that index without tracing
(a third to two thirds of a warm first call). Anything else (a user's ``Family`` subclass, a
function outside jaxreg) is traced, as is everything the index does not find. The index knows
jaxreg's files, not run-time patches of its functions: code that patches them (a test) turns
the cache off.

Directory: ``$JAXREG_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxreg``, else ``~/.cache/jaxreg``.
``JAXREG_CACHE_DIR=off`` (or ``0``, ``none``, empty) turns the disk cache off. At most
``MAX_ENTRIES`` files are kept (the least recently used go first). A file that cannot be
read or loaded is compiled again and rewritten; a directory that cannot be written is
skipped silently (the cache only saves time).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pickle
import platform
import re
import tempfile
import threading
import time
from pathlib import Path

import jax
import numpy as np

__all__ = ["CachedProgram", "cache_dir", "MAX_ENTRIES", "CPU_COMPILER_OPTIONS"]

MAX_ENTRIES = 256

# XLA:CPU compile options for jaxreg's programs only (JAX's global configuration is left
# alone). A path program is a few hundred small kernels, and compiling them dominates a first
# call: XLA:CPU's MLIR fusion emitters take about twice the compile time of its classic
# elemental emitters on these kernels (gaussian 1000 x 100: 6.5 s -> 3.4 s of compile CPU
# time), with the same results and run time. Backend optimization level 1 instead of XLA's
# default 3 cuts another 25-30% of compile CPU time (binomial 100 x 1000: 7.4-7.8 s -> 5.2-5.5
# s): the kernels are small or memory-bound, and steady run times were the same within noise
# on 9 problems (1000 x 100 to 20000 x 200, both families, interleaved in one process), the
# coefficients the same to 1e-13. Measured with benchmarks/bench_compile.py.
CPU_COMPILER_OPTIONS = {
    "xla_cpu_use_fusion_emitters": False,
    "xla_llvm_disable_expensive_passes": True,
    "xla_backend_optimization_level": 1,
}

_OFF = {"", "0", "off", "none", "false", "no"}


def cache_dir() -> Path | None:
    """The disk cache directory, or None when it is turned off."""
    configured = os.environ.get("JAXREG_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in _OFF else Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxreg"


def _host_cpu() -> str:
    """Model and instruction-set flags: an executable compiled for one CPU may not run on another."""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [line for line in fh if line.startswith(("model name", "flags", "Features", "CPU part"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _digest(parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _environment(options: dict) -> list:
    """The compile options, JAX and jaxlib versions, platform, devices and host CPU."""
    import jaxlib

    devices = jax.devices()
    return [
        json.dumps(options, sort_keys=True, default=str),
        jax.__version__,
        jaxlib.__version__,
        jax.default_backend(),
        str(getattr(devices[0].client, "platform_version", "")),
        ";".join(sorted({d.device_kind for d in devices})),
        _host_cpu(),
    ]


def _disk_key(lowered_text: str, options: dict) -> str:
    return _digest([lowered_text] + _environment(options))


@functools.lru_cache(maxsize=1)
def _source_digest() -> str | None:
    """A hash of every Python file of the jaxreg package (names and contents); None when
    they cannot be read (a zipped install): then nothing is indexed."""
    try:
        root = Path(__file__).resolve().parent
        digest = hashlib.sha256()
        files = sorted(root.rglob("*.py"))
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return digest.hexdigest() if any(f.name == "_program_cache.py" for f in files) else None


def _static_token(value) -> str | None:
    """A text that names a static argument across processes, or None when it may carry code
    or state outside jaxreg (then the program is traced)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    if isinstance(value, tuple):
        parts = [_static_token(v) for v in value]
        return None if None in parts else "(" + ",".join(parts) + ")"
    kind = type(value)
    if kind.__module__.startswith("jaxreg.") and dataclasses.is_dataclass(value) and kind.__dataclass_params__.frozen:
        fields = [_static_token(getattr(value, f.name)) for f in dataclasses.fields(value)]
        return None if None in fields else f"{kind.__module__}.{kind.__qualname__}({','.join(fields)})"
    return None


def _trace_key(fun, static: dict, signature: str, x64: bool, options: dict) -> str | None:
    """The index key of a jaxreg function's program (``None``: trace it)."""
    module = getattr(fun, "__module__", "") or ""
    source = _source_digest()
    if not module.startswith("jaxreg.") or source is None:
        return None
    tokens = {name: _static_token(value) for name, value in static.items()}
    if None in tokens.values():
        return None
    config = repr(sorted((k, repr(v)) for k, v in jax.config.values.items()))
    static_text = ";".join(f"{name}={token}" for name, token in sorted(tokens.items()))
    return _digest([source, module, fun.__qualname__, static_text, signature, str(x64), config]
                   + _environment(options))


def _load(path: Path, in_tree, out_tree):
    """The executable stored at ``path`` (``.xla``), or None: missing, truncated or from an
    incompatible build (the caller compiles or traces instead)."""
    from jax.experimental.serialize_executable import deserialize_and_load

    try:
        compiled = deserialize_and_load(path.read_bytes(), in_tree, out_tree)
    except Exception:
        return None
    try:
        os.utime(path)  # least recently used goes first
    except OSError:
        pass
    return compiled


def _write(directory: Path, name: str, payload: bytes, keep: int) -> None:
    """Write ``payload`` to ``directory / name`` atomically (concurrent processes never read a
    partial file) and keep the ``keep`` most recently used files of its suffix."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False, suffix=".tmp") as fh:
        fh.write(payload)
    os.replace(fh.name, directory / name)
    entries = sorted(directory.glob("*" + Path(name).suffix), key=lambda f: f.stat().st_mtime)
    for old in entries[: max(0, len(entries) - keep)]:
        old.unlink(missing_ok=True)


def _store(directory: Path, path: Path, compiled) -> None:
    from jax.experimental.serialize_executable import serialize

    try:
        _write(directory, path.name, serialize(compiled)[0], MAX_ENTRIES)
    except Exception:  # read-only or full disk, unserializable executable: not cached
        pass


def _custom_call_targets(lowered_text: str) -> frozenset:
    """The custom-call targets a lowered program calls (LAPACK kernels and the like)."""
    return frozenset(re.findall(r"custom_call @([\w.]+)", lowered_text)
                     + re.findall(r'call_target_name = "([^"]+)"', lowered_text))


@functools.lru_cache(maxsize=1)
def _lowered_targets() -> frozenset:
    """Lowers, once per process, a small program with the custom calls of jaxreg's programs
    (LAPACK Cholesky factorizations, triangular solves and symmetric eigendecompositions, a
    layout constraint) in both
    precisions, and returns their targets. Lowering is what readies their runtime kernels
    (JAX initializes its LAPACK bindings there): an executable loaded without tracing that
    calls a target this did not lower could crash, so such a program is traced instead."""
    import jax.numpy as jnp
    from jax.experimental.layout import Layout, with_layout_constraint

    def fun(a):
        factor = jnp.linalg.cholesky(a)
        solved = jax.lax.linalg.triangular_solve(factor, a, left_side=True, lower=True)
        return with_layout_constraint(solved, Layout(major_to_minor=(0, 1))), jnp.linalg.eigh(a)

    targets = frozenset()
    for dtype, x64 in ((np.float32, False), (np.float64, True)):
        with jax.enable_x64(x64):
            targets |= _custom_call_targets(jax.jit(fun).lower(np.eye(2, dtype=dtype)).as_text())
    return targets


def _load_indexed(directory: Path, key: str):
    """The executable the index entry ``key`` names, loaded without tracing, or None."""
    try:
        disk_key, in_tree, out_tree, targets = pickle.loads((directory / f"{key}.idx").read_bytes())
    except Exception:  # no entry, or an unreadable one: trace
        return None
    if not targets <= _lowered_targets():
        return None
    return _load(directory / f"{disk_key}.xla", in_tree, out_tree)


def _store_index(directory: Path, key: str, disk_key: str, lowered, lowered_text: str) -> None:
    try:
        payload = pickle.dumps((disk_key, lowered.in_tree, lowered.out_tree, _custom_call_targets(lowered_text)))
        _write(directory, f"{key}.idx", payload, 4 * MAX_ENTRIES)
    except Exception:  # unpicklable tree, read-only or full disk: not indexed
        pass


def _leaf_signature(a):
    dtype = a.dtype if hasattr(a, "dtype") else np.result_type(a)
    return np.shape(a), np.dtype(dtype).str


class CachedProgram:
    """``jax.jit(fun, static_argnames)`` whose executables also live on disk.

    Called like the jitted function with keyword-only static arguments. In memory, one
    executable per (static arguments, argument shapes and dtypes, x64 mode); a new shape is
    traced and lowered, then loaded from disk or compiled. ``compiler_options`` maps a
    platform (``jax.default_backend()``) to the XLA options its programs compile with;
    ``float64_options`` maps a platform to options added when an argument is a float64 array.
    ``stats``: counts of compiled and loaded programs, and the last new program's ``trace_s``
    (trace and lower), ``compile_s`` (load or compile, wall) and ``compile_cpu_s`` (process CPU
    time over all threads).
    """

    def __init__(self, fun, static_argnames, compiler_options=None, float64_options=None):
        self._fun = fun
        self._jitted = jax.jit(fun, static_argnames=static_argnames)
        self._options_by_platform = {k: dict(v) for k, v in (compiler_options or {}).items()}
        self._float64_options_by_platform = {k: dict(v) for k, v in (float64_options or {}).items()}
        self._compiled: dict = {}
        self._lock = threading.Lock()
        self.stats = {"compiled": 0, "loaded": 0}

    @property
    def options(self) -> dict:
        """The XLA options for the current default backend."""
        return self._options_by_platform.get(jax.default_backend(), {})

    def options_for(self, args) -> dict:
        """The XLA options a program of these arguments compiles with: ``options``, plus the
        backend's ``float64_options`` when any argument is a float64 array."""
        platform = jax.default_backend()
        options = dict(self._options_by_platform.get(platform, {}))
        leaves = jax.tree_util.tree_leaves(args)
        if any(np.dtype(_leaf_signature(a)[1]) == np.float64 for a in leaves):
            options.update(self._float64_options_by_platform.get(platform, {}))
        return options

    def __call__(self, *args, **static):
        signature = str(jax.tree_util.tree_map(_leaf_signature, args))
        x64 = bool(jax.config.read("jax_enable_x64"))
        key = (tuple(sorted(static.items())), signature, x64)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:  # threads running chunks of one batch share one compilation
                compiled = self._compiled.get(key)
                if compiled is None:
                    compiled = self._compile(args, static, signature, x64)
                    self._compiled[key] = compiled
        return compiled(*args)

    def _compile(self, args, static, signature, x64):
        start, cpu = time.perf_counter(), time.process_time()
        options = self.options_for(args)
        directory = cache_dir()
        index = None if directory is None else _trace_key(self._fun, static, signature, x64, options)
        compiled = None if index is None else _load_indexed(directory, index)
        if compiled is not None:
            self.stats["loaded"] += 1
            self.stats.update(trace_s=0.0, compile_s=time.perf_counter() - start, compile_cpu_s=time.process_time() - cpu)
            return compiled
        lowered = self._jitted.lower(*args, **static)
        traced, cpu = time.perf_counter(), time.process_time()
        compiled = self._load_or_compile(lowered, options, directory, index)
        self.stats.update(trace_s=traced - start, compile_s=time.perf_counter() - traced,
                          compile_cpu_s=time.process_time() - cpu)
        return compiled

    def _load_or_compile(self, lowered, options, directory, index):
        text = None if directory is None else lowered.as_text()
        disk_key = None if directory is None else _disk_key(text, options)
        path = None if disk_key is None else directory / f"{disk_key}.xla"
        compiled = None if path is None else _load(path, lowered.in_tree, lowered.out_tree)
        if compiled is not None:
            self.stats["loaded"] += 1
        else:
            compiled = lowered.compile(compiler_options=options or None)
            self.stats["compiled"] += 1
            if path is not None:
                _store(directory, path, compiled)
        if index is not None and path is not None and path.exists():
            _store_index(directory, index, disk_key, lowered, text)
        return compiled
