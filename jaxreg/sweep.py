"""Batched paths: many independent problems on one X in one compiled program.

``path_batch`` solves B paths that share the design X (and penalty factors, bounds and
options) but may differ in the response, the sample weights (bootstrap, subsample or
cross-validation fold masks), the offset and the l1_ratio. Each member keeps its own warm
starts along its own lambda grid. A fold or a subsample is a weight vector, never a copy of
X, so memory grows with B only through the small per-member state (the working-set Gram
cache, (p + 2) x (capacity + 1) per member).

How a chunk of members runs inside its one compiled program depends on the backend:

- CPU: members run one after another (``lax.map``), each at its own pace; the chunks run
  concurrently, one per core (``n_jobs``), like glmnet's and scikit-learn's parallel CV
  but on threads sharing one X;
- accelerators: the path program is vmapped over the members, so the matrix-vector work of
  all members becomes matrix-matrix work; members that converge early wait for the slowest
  one inside a chunk (vmap of a while loop).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import jax
import numpy as np

from jaxreg._validation import aligned_empty, validate_inputs, validate_lambdas
from jaxreg.families import get_family
from jaxreg.path import SharedViews, _release_host_references, _warn, assemble, check_options, lambda_grid, make_inputs, solve
from jaxreg.result import PathResult

__all__ = ["path_batch", "BatchPathResult"]

_DEFAULT_MEMORY = 1 << 30  # bytes of per-member solver state allowed in one chunk

# On CPU, from an X of this many bytes on, the default is one chunk at a time (``n_jobs=1``).
# XLA:CPU runs each program's loops on its pool of one thread per core, and a kernel split
# over that pool (large reductions and products, YNNPACK's among them) leaves a task record
# in the pool's queue that only an idle pool thread removes. With one program per core no
# thread is idle, so the records pile up until a program ends: measured 4-7 MB per second
# of two concurrent binomial paths on 2 cores (20000 x 200 to 2500000 x 5), none with one.
# A 4-fold binomial cv on 2500000 x 5 peaked at 2.9x X on two threads and 2.1x on one (in
# 1.2x the time); on X this large a program runs for seconds to minutes, so the pile grows
# with the run (benchmarks/README.md, twenty-seventh session).
_CONCURRENT_MAX_BYTES = 1 << 26


@dataclasses.dataclass(frozen=True)
class BatchPathResult:
    """B stacked paths (K lambdas each, p features).

    ``lambdas`` (B, K), ``coef`` (B, K, p), ``intercept``, ``dev_ratio``, ``df``,
    ``objective``, ``gap``, ``kkt``, ``n_iter``, ``converged`` (B, K), ``lambda_max`` (B,),
    ``l1_ratio`` (B,). ``members[b]`` is member b's ``PathResult`` (prediction,
    interpolation).
    """

    members: tuple

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, b) -> PathResult:
        return self.members[b]

    def _stack(self, name):
        return np.stack([getattr(m, name) for m in self.members])

    lambdas = property(lambda self: self._stack("lambdas"))
    coef = property(lambda self: self._stack("coef"))
    intercept = property(lambda self: self._stack("intercept"))
    dev_ratio = property(lambda self: self._stack("dev_ratio"))
    df = property(lambda self: self._stack("df"))
    objective = property(lambda self: self._stack("objective"))
    gap = property(lambda self: self._stack("gap"))
    kkt = property(lambda self: self._stack("kkt"))
    n_iter = property(lambda self: self._stack("n_iter"))
    converged = property(lambda self: self._stack("converged"))
    lambda_max = property(lambda self: np.array([m.lambda_max for m in self.members]))
    l1_ratio = property(lambda self: np.array([m.l1_ratio for m in self.members]))


def _batch_size(name, value, axis_ndim):
    """Leading batch size of ``value`` if it carries one (ndim == axis_ndim + 1), else None."""
    if value is None:
        return None
    arr = np.asarray(value) if not hasattr(value, "nnz") else value
    if getattr(arr, "ndim", 0) == axis_ndim + 1:
        return arr.shape[0]
    if getattr(arr, "ndim", 0) > axis_ndim + 1:
        raise ValueError(f"{name} has too many dimensions for a batch: shape {arr.shape}")
    return None


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _chunk_size(B, n, p, K, capacity_guess, itemsize, memory):
    per_member = itemsize * ((p + 2) * (capacity_guess + 1) * 2 + 8 * n + 2 * K * (capacity_guess + 1) + 4 * p)
    return int(max(1, min(B, memory // max(per_member, 1))))


def path_batch(
    X,
    y,
    *,
    family="gaussian",
    l1_ratio=1.0,
    sample_weight=None,
    offset=None,
    lambdas=None,
    n_lambdas=100,
    lambda_min_ratio=None,
    penalty_factor=None,
    lower_bounds=None,
    upper_bounds=None,
    fit_intercept=True,
    standardize=True,
    tol=None,
    max_iter=1000,
    chunk_size=None,
    max_memory=_DEFAULT_MEMORY,
    n_jobs=None,
    progress=False,
) -> BatchPathResult:
    """Solve B independent paths on one X in one compiled, vmapped program.

    Any of ``y`` (B, n), ``sample_weight`` (B, n), ``offset`` (B, n), ``l1_ratio`` (B,) and
    ``lambdas`` (B, K) may carry a leading batch axis; those that do must agree on B, the
    others are shared by every member. Each member is exactly the problem ``jaxreg.path``
    would solve with that member's arguments (same objective, grid rules, certificates).

    chunk_size : members per compiled call (default: on CPU, B split evenly over ``n_jobs``
        chunks; at most as many as ``max_memory`` bytes of per-member solver state allow).
        Every chunk of the same size reuses one compilation.
    n_jobs : chunks solved concurrently (threads). Default: the number of CPU cores on the
        CPU backend for an X under 64 MiB and 1 from 64 MiB on (concurrent programs on
        large X make XLA:CPU's thread pool hold memory that grows with the run time, a few
        MB per second); 1 on accelerators (there the members of a chunk are vmapped).
    progress : print one line per chunk to stderr.
    """
    fam = get_family(family)
    sizes = {
        "y": _batch_size("y", y, 1),
        "sample_weight": _batch_size("sample_weight", sample_weight, 1),
        "offset": _batch_size("offset", offset, 1),
        "l1_ratio": _batch_size("l1_ratio", l1_ratio, 0),
        "lambdas": _batch_size("lambdas", lambdas, 1),
    }
    given = {k: v for k, v in sizes.items() if v is not None}
    if len(set(given.values())) > 1:
        raise ValueError(f"batched arguments disagree on the batch size: {given}")
    B = next(iter(given.values()), 1)
    if B < 1:
        raise ValueError("the batch is empty")

    arrays = {name: (np.asarray(value) if sizes[name] is not None and not hasattr(value, "nnz") else value)
              for name, value in (("y", y), ("sample_weight", sample_weight), ("offset", offset), ("l1_ratio", l1_ratio))}
    return _solve_batch(
        X, fam, B,
        y_of=_accessor(arrays["y"], sizes["y"] is not None),
        weight_of=_accessor(arrays["sample_weight"], sizes["sample_weight"] is not None),
        offset_of=_accessor(arrays["offset"], sizes["offset"] is not None),
        batched={"y": sizes["y"] is not None, "w": sizes["sample_weight"] is not None,
                 "offset": sizes["offset"] is not None},
        l1_ratios=[_accessor(arrays["l1_ratio"], sizes["l1_ratio"] is not None)(b) for b in range(B)],
        lambdas_of=_accessor(lambdas, sizes["lambdas"] is not None),
        n_lambdas=n_lambdas, lambda_min_ratio=lambda_min_ratio, penalty_factor=penalty_factor,
        lower_bounds=lower_bounds, upper_bounds=upper_bounds, fit_intercept=fit_intercept,
        standardize=standardize, tol=tol, max_iter=max_iter, chunk_size=chunk_size, max_memory=max_memory,
        n_jobs=n_jobs, progress=progress,
    )


def _accessor(value, batched: bool):
    """``b -> member b's value``: row b of a batched argument, else the shared value."""
    return (lambda b: value[b]) if batched else (lambda b: value)


def _solve_batch(X, fam, B, *, y_of, weight_of, offset_of, batched, l1_ratios, lambdas_of, n_lambdas,
                 lambda_min_ratio, penalty_factor, lower_bounds, upper_bounds, fit_intercept, standardize, tol,
                 max_iter, chunk_size, max_memory, n_jobs, progress, consume=None):
    """``path_batch`` of B members whose y, sample weights and offset come from ``y_of(b)``,
    ``weight_of(b)``, ``offset_of(b)`` (``batched[name]``: whether they differ by member;
    cross-validation hands out fold weights made on demand, never all at once).

    Memory: each member's validated n-vectors go straight into its chunk's (chunk, n) stacks
    (boolean weight masks as they are, one byte per row: ``validate_inputs(weight_masks=True)``),
    which the compiled call takes as they are; an n-vector every member shares is validated
    once and held once (on a tall, narrow X each n-vector is a sizable part of X: at p = 5, a
    fifth). Members after the first are validated against the first one's converted X (an X
    that needed converting is not converted again per member).

    ``consume(b, result)``, when given, takes member b's ``PathResult`` as soon as it is
    assembled, and the call returns the list of what it returned, in member order, instead of
    a ``BatchPathResult``: ``cv`` keeps each fold's held-out errors, not its (K, p)
    coefficients (on 1000 x 12500, 10 MB a fold).
    """
    def validate(b, first=None):
        return validate_inputs(
            X if first is None else first.X, y_of(b), family_name=fam.name, sample_weight=weight_of(b), offset=offset_of(b),
            penalty_factor=penalty_factor, lower_bounds=lower_bounds, upper_bounds=upper_bounds,
            l1_ratio=l1_ratios[b], X_checked=first is not None,
            y_checked=None if first is None or batched["y"] else (first.y, first.classes), weight_masks=True,
            weight_checked=None if first is None or batched["w"] else first.w,
            offset_checked=None if first is None or batched["offset"] else first.offset,
        )

    shared = validate(0)
    n, p = shared.X.shape

    grids = []
    from_ratios = None
    for b in range(B):
        user, order = validate_lambdas(lambdas_of(b), n_lambdas, lambda_min_ratio)
        grid, from_r = lambda_grid(user, order, n, p, n_lambdas, lambda_min_ratio)
        grids.append(grid)
        from_ratios = from_r
    K = grids[0].shape[0]
    tol = check_options(tol, max_iter, fit_intercept, standardize, shared.dtype)

    on_cpu = jax.default_backend() == "cpu"
    if n_jobs is None:
        n_jobs = _cpu_count() if on_cpu and shared.X.nbytes < _CONCURRENT_MAX_BYTES else 1
    if not isinstance(n_jobs, (int, np.integer)) or isinstance(n_jobs, bool) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer; got {n_jobs!r}")
    if chunk_size is None:
        chunk_size = _chunk_size(B, n, p, K, min(p, 256), shared.dtype.itemsize, max_memory)
        chunk_size = min(chunk_size, -(-B // n_jobs))
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")

    chunks = [list(range(lo, min(B, lo + chunk_size))) for lo in range(0, B, chunk_size)]
    # Pad the last chunk with copies of its first member so every chunk has one shape.
    padded = [idx + [idx[0]] * (chunk_size - len(idx)) if B > chunk_size else idx for idx in chunks]
    names = ("y", "w", "offset")
    members = [None] * B  # each member's validated data, without its n-vectors
    stacks = []  # per chunk: (y, w, offset), (chunk, n) each, or (1, n) when shared by all
    for idx, rows in zip(chunks, padded):
        # Members' weights given as boolean masks (0/1 weights) stay masks: n bytes each.
        stack = {name: aligned_empty((len(rows), n), getattr(shared, name).dtype) if batched[name]
                 else getattr(shared, name)[None] for name in names}
        for j, b in enumerate(idx):
            data = shared if b == 0 else validate(b, shared)
            for name in names:
                if batched[name]:
                    stack[name][j] = getattr(data, name)
            members[b] = data._replace(X=shared.X, y=None, w=None, offset=None)
            del data  # its n-vectors, before the next member's are made
        for name in names:
            if batched[name]:
                stack[name][len(idx):] = stack[name][0]  # padding: the chunk's first member again
        stacks.append(tuple(stack[name] for name in names))
    # The design and penalty arrays stay; member 0's per-member n-vectors live in its stacks.
    shared = shared._replace(**{name: None for name in names if batched[name]})
    ratios = [float(r) for r in l1_ratios]  # validated above
    all_lasso = all(r == 1.0 for r in ratios)
    views = SharedViews()  # one device view (or copy) of X for every chunk's program
    t0 = time.perf_counter()
    solved = [0]

    def run_chunk(c):
        idx, rows = chunks[c], padded[c]
        inputs = make_inputs(shared, stacks[c], [ratios[i] for i in rows], np.stack([grids[i] for i in rows]), tol,
                             max_iter, from_ratios)
        pieces = solve(inputs, shared, fam, fit_intercept, standardize, batched=True,
                       all_lasso=all_lasso, views=views)
        out = []
        for j, i in enumerate(idx):
            res = assemble(pieces[j], members[i], fam.name, ratios[i], tol, p, warn=False)
            out.append((res, res) if consume is None else (consume(i, res), _warning_fields(res)))
            del res
        if progress:
            solved[0] += len(idx)
            print(f"jaxreg: {solved[0]}/{B} paths solved ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        return out

    if n_jobs > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(n_jobs, len(chunks))) as pool:
            per_chunk = list(pool.map(run_chunk, range(len(chunks))))
    else:
        per_chunk = [run_chunk(c) for c in range(len(chunks))]
    stacks.clear()  # XLA's own references to them go in the garbage pass below
    _release_host_references()
    results = [value for chunk in per_chunk for value in chunk]
    for _, fields in results:
        _warn(fields)
    if consume is not None:
        return [value for value, _ in results]
    return BatchPathResult(tuple(value for value, _ in results))


def _warning_fields(res: PathResult) -> SimpleNamespace:
    """What ``path._warn`` reads of a result (per-lambda vectors and scalars, no coefficients)."""
    return SimpleNamespace(converged=res.converged, gap=res.gap, lambdas=res.lambdas, n_iter=res.n_iter, tol=res.tol,
                           n_lambdas=res.n_lambdas, family=res.family, dev_ratio=res.dev_ratio)
