"""Two revisions of jaxreg in one process: steady path times, calls alternated (an A/B).

On this machine fresh-process timings of the same code move by 10-20% within minutes; two
versions imported into one interpreter and called in turn share that drift, so their ratio
is what a change did. Each revision's ``jaxreg/`` (``git archive``) is copied under a package
name of its own (``jaxreg_a``, ``jaxreg_b``: every ``jaxreg`` identifier in its sources
renamed) and imported side by side, disk cache off. Per cell: one call each to compile, then
``--rounds`` rounds of one call each (order reversed every other round, a garbage collection
before each call); printed: minimum and median per revision, B's minimum over A's, the worst
gap and the inner iterations of each.

    PYTHONPATH=. python benchmarks/bench_ab.py --revisions HEAD~1,HEAD \\
        --cells binomial:5000x100x0.1,binomial:100x1000x0 --rounds 10

``--cells`` takes registry ids (``NxPxRHO`` or ``binomial:NxPxRHO``), optionally with
``@tol`` (default 1e-6) and then ``%l1_ratio`` (default 1, the lasso), e.g.
``binomial:100x1000x0@1e-6%0.5``; ``--revisions`` anything ``git archive`` takes, or ``.`` for the
working tree.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(revision: str, name: str, into: Path) -> None:
    """``jaxreg/`` of ``revision`` (``.``: the working tree) as package ``name`` under ``into``."""
    target = into / name
    if revision == ".":
        shutil.copytree(ROOT / "jaxreg", target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "jaxreg"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
        (into / "jaxreg").rename(target)
    for source in target.rglob("*.py"):
        source.write_text(re.sub(r"\bjaxreg\b", name, source.read_text()))


def _compare(cell: str, modules, rounds: int, n_lambdas: int, registry, np) -> str:
    """One cell: both compiled, then ``rounds`` alternated calls; the report line."""
    cell, _, l1_ratio = cell.partition("%")
    cell, _, tol = cell.partition("@")
    tol = float(tol) if tol else 1e-6
    l1_ratio = float(l1_ratio) if l1_ratio else 1.0
    spec = registry.parse_problems(cell)[0]
    X, y = spec.load()

    def call(module):
        return module.path(X, y, family=spec.family, n_lambdas=n_lambdas, tol=tol, l1_ratio=l1_ratio)

    results = [call(m) for m in modules]
    times = [[], []]
    for r in range(rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            gc.collect()
            start = time.perf_counter()
            call(modules[i])
            times[i].append(time.perf_counter() - start)
    line = [f"{cell}@{tol:g}" + (f"%{l1_ratio:g}:" if l1_ratio != 1.0 else ":")]
    for label, t, res in zip("AB", times, results):
        line.append(f"{label} min {1e3 * min(t):.2f} med {1e3 * np.median(t):.2f} ms, gap {np.max(res.gap):.1e}, "
                    f"iters {int(np.sum(res.n_iter))};")
    line.append(f"B/A {min(times[1]) / min(times[0]):.3f}")
    return " ".join(line)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--revisions", default="HEAD~1,HEAD", help="A,B: git revisions (or . for the working tree)")
    ap.add_argument("--cells", default="binomial:5000x100x0.1,binomial:100x1000x0")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--n-lambdas", type=int, default=100)
    args = ap.parse_args(argv)
    revisions = args.revisions.split(",")
    if len(revisions) != 2:
        ap.error("--revisions takes two revisions, A,B")
    previous = os.environ.get("JAXREG_CACHE_DIR")
    os.environ["JAXREG_CACHE_DIR"] = "off"  # both compile; the disk cache is keyed by source anyway
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import numpy as np
    import registry

    names = ["jaxreg_a", "jaxreg_b"]
    with tempfile.TemporaryDirectory() as tmp:
        for revision, name in zip(revisions, names):
            export(revision, name, Path(tmp))
        sys.path.insert(0, tmp)
        try:
            modules = [importlib.import_module(name) for name in names]
            print(f"A = {revisions[0]}, B = {revisions[1]}; {args.rounds} alternated rounds, one call each")
            for cell in args.cells.split(","):
                print(_compare(cell, modules, args.rounds, args.n_lambdas, registry, np), flush=True)
        finally:  # a caller's process (the smoke test) keeps its own state
            sys.path.remove(tmp)
            for module in list(sys.modules):
                if module.split(".")[0] in names:
                    del sys.modules[module]
            if previous is None:
                os.environ.pop("JAXREG_CACHE_DIR", None)
            else:
                os.environ["JAXREG_CACHE_DIR"] = previous
    return 0


if __name__ == "__main__":
    sys.exit(main())
