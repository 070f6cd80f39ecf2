"""``single_threaded_blas``: one OpenBLAS thread inside every solve, the caller's count after."""

import threading

import jax.numpy as jnp
import pytest

from jaxreg._blas import _loaded_openblas, single_threaded_blas


def test_every_entry_sets_one_thread_and_restores_the_callers_count():
    """Not only the first: an earlier version scanned and set the count on the first entry
    only, so from the second path on OpenBLAS ran its solves with every thread (measured: the
    p >> n Table 1 paths 1.3-1.9x slower)."""
    jnp.linalg.cholesky(jnp.eye(3)).block_until_ready()  # JAX's LAPACK is loaded
    libs = _loaded_openblas()
    if not libs:
        pytest.skip("no OpenBLAS loaded in this process")
    before = [get() for get, _ in libs]
    for _, set_count in libs:
        set_count(2)
    try:
        for _ in range(3):
            with single_threaded_blas():
                assert [get() for get, _ in libs] == [1] * len(libs)
                with single_threaded_blas():  # re-entrant: still one thread
                    assert [get() for get, _ in libs] == [1] * len(libs)
                seen = []
                other = threading.Thread(target=lambda: seen.append([get() for get, _ in libs]))
                other.start()
                other.join()
                assert seen == [[1] * len(libs)]
            assert [get() for get, _ in libs] == [2] * len(libs)
    finally:
        for (_, set_count), count in zip(libs, before):
            set_count(count)
