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
