"""The on-disk cache of compiled programs (jaxreg._program_cache): a second process loads what
the first compiled; a damaged file, another compile option or a turned-off cache compiles."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg
from jaxreg import _program_cache as pc


def _program(options=None):
    """A fresh CachedProgram: its in-memory table is empty, like a new process's."""

    def fun(x, *, power):
        return jnp.cumsum(jnp.sin(x) ** power)

    return pc.CachedProgram(fun, ("power",), compiler_options=options)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXREG_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_new_process_loads_what_another_compiled(cache):
    x = np.linspace(0.0, 3.0, 50)
    first = _program()
    expected = np.asarray(first(x, power=3))
    assert (first.stats["compiled"], first.stats["loaded"]) == (1, 0)
    assert first.stats["trace_s"] > 0 and first.stats["compile_s"] > 0
    first(x + 1.0, power=3)  # same shape: no new compilation
    assert (first.stats["compiled"], first.stats["loaded"]) == (1, 0)
    assert len(list(cache.glob("*.xla"))) == 1

    second = _program()
    np.testing.assert_array_equal(np.asarray(second(x, power=3)), expected)
    assert (second.stats["compiled"], second.stats["loaded"]) == (0, 1)
    second(x, power=2)  # another static argument: another program
    second(np.linspace(0.0, 1.0, 7), power=3)  # another shape
    assert (second.stats["compiled"], second.stats["loaded"]) == (2, 1)
    assert len(list(cache.glob("*.xla"))) == 3


def test_damaged_file_is_compiled_again(cache):
    x = np.arange(5.0)
    expected = np.asarray(_program()(x, power=2))
    (entry,) = cache.glob("*.xla")
    entry.write_bytes(b"not an executable")
    again = _program()
    np.testing.assert_array_equal(np.asarray(again(x, power=2)), expected)
    assert (again.stats["compiled"], again.stats["loaded"]) == (1, 0)
    assert _program()(x, power=2) is not None and entry.stat().st_size > 100  # rewritten


def test_compile_options_are_part_of_the_key(cache):
    x = np.arange(5.0)
    _program()(x, power=2)
    other = _program({"cpu": {"xla_cpu_use_fusion_emitters": False}})
    other(x, power=2)
    if jax.default_backend() == "cpu":
        assert (other.stats["compiled"], other.stats["loaded"]) == (1, 0)
        assert len(list(cache.glob("*.xla"))) == 2


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_turned_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("JAXREG_CACHE_DIR", value)
    assert pc.cache_dir() is None
    program = _program()
    program(np.arange(3.0), power=1)
    assert (program.stats["compiled"], program.stats["loaded"]) == (1, 0)
    assert not list(tmp_path.iterdir())


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXREG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert pc.cache_dir() == tmp_path / "jaxreg"


def test_unwritable_directory_still_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    monkeypatch.setenv("JAXREG_CACHE_DIR", str(blocker / "cache"))
    program = _program()
    np.testing.assert_allclose(np.asarray(program(np.zeros(4), power=1)), np.zeros(4))
    assert (program.stats["compiled"], program.stats["loaded"]) == (1, 0)


def test_oldest_entries_are_removed(cache, monkeypatch):
    monkeypatch.setattr(pc, "MAX_ENTRIES", 2)
    program = _program()
    for size in (3, 4, 5, 6):
        program(np.zeros(size), power=1)
    assert len(list(cache.glob("*.xla"))) == 2


def test_path_programs_use_the_cache():
    """The path programs are CachedPrograms with the CPU compile options on CPU."""
    module = importlib.import_module("jaxreg.path")
    assert isinstance(module._program(False), pc.CachedProgram)
    if jax.default_backend() == "cpu":
        assert module._program(False).options == module._CPU_COMPILER_OPTIONS
    res = jaxreg.path(np.eye(4)[:, :3] + 0.1, np.arange(4.0), n_lambdas=3)
    assert np.all(res.converged)


def test_float64_programs_add_their_options_and_float32_programs_do_not():
    """``float64_options`` apply to a program with a float64 argument only: the path programs'
    float64 builds skip XLA's tree-reduction rewrite, float32 builds keep it (their long sums
    need it)."""
    module = importlib.import_module("jaxreg.path")
    program = module._program(False)
    with jax.enable_x64(True):
        wide = program.options_for((np.zeros(3), np.zeros(2, np.int32)))
        narrow = program.options_for((np.zeros(3, np.float32), np.zeros(2, np.int64)))
    if jax.default_backend() == "cpu":
        assert wide == {**module._CPU_COMPILER_OPTIONS, **module._CPU_FLOAT64_OPTIONS}
        assert narrow == module._CPU_COMPILER_OPTIONS
    # The option reaches the compiler: a float64 sum over 1,000 numbers then has no
    # reduce-window, the float32 one keeps XLA's split.
    fun = pc.CachedProgram(lambda x: jnp.sum(x * x), (), compiler_options={jax.default_backend(): {}},
                           float64_options={jax.default_backend(): module._CPU_FLOAT64_OPTIONS})
    with jax.enable_x64(True):
        for dtype, split in ((np.float64, False), (np.float32, True)):
            x = np.linspace(0.0, 1.0, 1000).astype(dtype)
            lowered = fun._jitted.lower(x)
            text = lowered.compile(compiler_options=fun.options_for((x,)) or None).as_text()
            if jax.default_backend() == "cpu":
                assert ("reduce-window" in text) == split, dtype
            np.testing.assert_allclose(fun(x), np.sum(x.astype(np.float64) ** 2), rtol=1e-6 if split else 1e-14)


_CHILD = r"""
import importlib, json, sys
import numpy as np
import jaxreg
from jaxreg.datasets import make_glmnet_benchmark
P = importlib.import_module("jaxreg.path")
X, y, _ = make_glmnet_benchmark(60, 12, 0.3, seed=1)
res = jaxreg.path(X, y, n_lambdas=20)
print(json.dumps({"stats": P._compiled_homotopy.stats, "traces": jaxreg.trace_count(), "coef": res.coef.tolist()}))
"""


_RIDGE_CHILD = _CHILD.replace("res = jaxreg.path(X, y, n_lambdas=20)", "res = jaxreg.path(X.T, y[:12], l1_ratio=0.0, n_lambdas=20)").replace(
    "P._compiled_homotopy.stats", "P._compiled_ridge.stats")


def _fresh_process(cache, child=_CHILD):
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, JAXREG_CACHE_DIR=str(cache), PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_new_process_finds_a_jaxreg_program_without_tracing_it(cache):
    """The second process loads the path program through the trace index: nothing traced
    (``trace_count`` 0, ``trace_s`` 0), nothing compiled, the same coefficients. Its LAPACK
    kernels were readied by ``_lowered_targets`` alone (loading without that crashed)."""
    first = _fresh_process(cache)
    assert (first["stats"]["compiled"], first["stats"]["loaded"], first["traces"]) == (1, 0, 1)
    assert len(list(cache.glob("*.idx"))) == 1
    second = _fresh_process(cache)
    assert (second["stats"]["compiled"], second["stats"]["loaded"], second["traces"]) == (0, 1, 0)
    assert second["stats"]["trace_s"] == 0.0
    assert second["coef"] == first["coef"]


def test_a_new_process_loads_the_closed_form_ridge_program_without_tracing_it(cache):
    """The same for the closed-form ridge (a p > n kernel and its LAPACK eigendecomposition,
    whose kernels ``_lowered_targets`` readies too)."""
    first = _fresh_process(cache, _RIDGE_CHILD)
    assert (first["stats"]["compiled"], first["stats"]["loaded"], first["traces"]) == (1, 0, 1)
    second = _fresh_process(cache, _RIDGE_CHILD)
    assert (second["stats"]["compiled"], second["stats"]["loaded"], second["traces"]) == (0, 1, 0)
    assert second["coef"] == first["coef"]


def _jaxreg_program():
    """A fresh CachedProgram of a small jaxreg function (its in-memory table empty)."""
    from jaxreg import streamed_gram

    return pc.CachedProgram(streamed_gram._column_sums, ())


def _sums_args():
    return np.zeros((1, 3)), np.ones((4, 3)), np.full((1, 4), 0.25), np.int32(0), np.int32(0)


def test_the_trace_index_serves_jaxreg_functions_only_and_checks_their_custom_calls(cache):
    args = _sums_args()
    expected = np.asarray(_jaxreg_program()(*args))
    assert len(list(cache.glob("*.idx"))) == 1
    again = _jaxreg_program()
    np.testing.assert_array_equal(np.asarray(again(*args)), expected)
    assert (again.stats["loaded"], again.stats["trace_s"]) == (1, 0.0)
    # A function outside jaxreg (the test module's) is never indexed.
    _program()(np.arange(3.0), power=1)
    assert len(list(cache.glob("*.idx"))) == 1
    # An entry naming a custom call the process has not lowered is traced instead.
    import pickle

    (entry,) = cache.glob("*.idx")
    disk_key, in_tree, out_tree, _ = pickle.loads(entry.read_bytes())
    entry.write_bytes(pickle.dumps((disk_key, in_tree, out_tree, frozenset({"some_unlowered_kernel"}))))
    traced = _jaxreg_program()
    np.testing.assert_array_equal(np.asarray(traced(*args)), expected)
    assert traced.stats["trace_s"] > 0


def test_trace_key_changes_with_source_config_statics_and_refuses_foreign_code(monkeypatch):
    from jaxreg import streamed_gram
    from jaxreg.families import Gaussian

    fun = streamed_gram._weighted_response
    key = pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig", True, {})
    assert key is not None
    assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": False}, "sig", True, {}) != key
    assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig2", True, {}) != key
    assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig", False, {}) != key
    assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig", True, {"a": 1}) != key
    with jax.default_matmul_precision("float32"):
        assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig", True, {}) != key

    class MyFamily(Gaussian):  # a user's subclass: its code is not in jaxreg's source
        pass

    assert pc._trace_key(fun, {"family": MyFamily(), "fit_intercept": True}, "sig", True, {}) is None
    assert pc._trace_key(_program()._fun, {"power": 1}, "sig", True, {}) is None
    monkeypatch.setattr(pc, "_source_digest", lambda: "another jaxreg")
    assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig", True, {}) != key
    monkeypatch.setattr(pc, "_source_digest", lambda: None)  # sources unreadable: no index
    assert pc._trace_key(fun, {"family": Gaussian(), "fit_intercept": True}, "sig", True, {}) is None
