"""Smoke test of the benchmark harness (benchmarks/): every installed library adapter, both
families, on a tiny problem (50 x 10, 10 lambdas), through the code the benchmark runs.

Every adapter runs in a real benchmark worker process (benchmarks/worker.py, in the library's
own interpreter: adelie may live in a separate environment), and its answer is scored by
``bench_path.evaluate`` (the benchmark's mapping back to the original scale and its one
objective) against jaxreg's near-exact path. The workers run concurrently, so the imports
and compilations (XLA for jaxreg, numba for skglm) overlap. Libraries that are not installed
are skipped by name; of the peers only scikit-learn is in the ``test`` extra.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import adapters  # noqa: E402
import bench_path  # noqa: E402
import registry  # noqa: E402
import worker  # noqa: E402
from jaxreg.datasets import make_glmnet_benchmark  # noqa: E402

N, P, K = 50, 10, 10
LOOSE = 1e-4  # relative objective difference allowed against jaxreg's near-exact path
JAXREG_TOL = 1e-10
CAP = 120.0


def smoke_tol(name: str) -> float:
    """jaxreg: near-exact (it is the yardstick); peers: the third rung of their ladder."""
    return JAXREG_TOL if name == "jaxreg" else adapters.ADAPTERS[name].tols[2]


def tiny_problem(family: str) -> registry.Problem:
    X, y, _ = make_glmnet_benchmark(N, P, 0.5, family=family, seed=1)
    return registry.make_problem(family, X, y, n_lambdas=K)


def _inputs(ad, problem):
    return (problem.Xs, problem.y_std) if ad.standardized_input else (problem.X, problem.y)


@pytest.fixture(scope="module")
def results():
    """{(name, family): worker answer, or a skip reason (str)}: every adapter x family, one
    worker process per installed adapter, all running at once."""
    problems = {fam: tiny_problem(fam) for fam in registry.FAMILIES}
    out, workers = {}, {}
    for name, ad in adapters.ADAPTERS.items():
        ok, why = adapters.probe(name)
        if not ok:
            for fam in registry.FAMILIES:
                out[name, fam] = f"{name} not installed ({why})"
            continue
        first = problems["gaussian"]
        workers[name] = worker.Worker(name, ad.executable(), *_inputs(ad, first), first.grid, "gaussian", CAP,
                                      env_extra={"OMP_NUM_THREADS": "1"})  # no OpenMP spinning: nothing is timed
    try:
        for fam in registry.FAMILIES:
            problem, pending = problems[fam], []
            for name, w in workers.items():
                ad = adapters.ADAPTERS[name]
                if fam in ad.unsupported:
                    out[name, fam] = f"{name}: {ad.unsupported[fam]}"
                    continue
                if fam != "gaussian":
                    assert "ok" in w.load(*_inputs(ad, problem), problem.grid, fam), name
                err = w.submit({"op": "run", "tol": smoke_tol(name)})
                if err is not None:
                    out[name, fam] = err
                else:
                    pending.append(name)
            for name in pending:  # all run concurrently; collect in turn
                out[name, fam] = workers[name].collect(CAP)
    finally:
        for w in workers.values():
            w.close()
    return problems, out


def _answer(results, name, family):
    problems, out = results
    ans = out[name, family]
    if isinstance(ans, str):
        pytest.skip(ans)
    assert "error" not in ans and "timeout" not in ans, f"{name} {family}: {ans}"
    return problems[family], ans


def _reference(results, family):
    problem, ans = _answer(results, "jaxreg", family)
    return bench_path.evaluate(problem, adapters.ADAPTERS["jaxreg"], ans, JAXREG_TOL)


@pytest.mark.parametrize("family", registry.FAMILIES)
@pytest.mark.parametrize("name", list(adapters.ADAPTERS))
def test_adapter_solves_the_objective(results, name, family):
    problem, ans = _answer(results, name, family)
    ref = _reference(results, family).obj
    assert ans["coef"].shape == (K, P)
    assert ans["intercept"] is None or ans["intercept"].shape == (K,)
    assert ans["time"] > 0 and ans["cpu"] >= 0
    run = bench_path.evaluate(problem, adapters.ADAPTERS[name], ans, smoke_tol(name))
    rel = (run.obj - ref) / ref
    assert np.all(np.isfinite(run.obj))
    assert np.max(rel) < LOOSE, f"{name}: objective {np.max(rel):.1e} above jaxreg's"
    assert np.min(rel) > -1e-8, f"{name}: objective {np.min(rel):.1e} below jaxreg's near-optimum"
    assert np.all(run.dual <= run.obj * (1 + 1e-12))


@pytest.mark.parametrize("family", registry.FAMILIES)
def test_dual_bound_is_valid_and_tight(results, family):
    """The reference's independent lower bound, at jaxreg's tol 1e-10 solution (the jaxreg
    adapter has also checked that jaxreg's default grid is the benchmark's)."""
    ref = _reference(results, family)
    problem = results[0][family]
    assert np.all(ref.dual <= ref.obj * (1 + 1e-13))
    assert np.max((ref.obj - ref.dual) / ref.obj) < 1e-8
    assert np.all(registry.dual_bound(problem, np.zeros((K, P))) <= ref.obj)


def test_ladder_and_worker_process():
    """The benchmark's per-problem loop (ladder, repeats, table): scikit-learn only, no jaxreg
    reference (its compilation would dominate this test's time)."""
    ok, version = adapters.probe("sklearn")
    if not ok:
        pytest.skip(f"sklearn not installed ({version})")
    spec = registry.parse_problems("40x8x0.5")[0]
    args = bench_path.parse_args(["--cells", "40x8x0.5", "--peers", "sklearn", "--repeats", "2", "--cap", "60"])
    installed = {"sklearn": (ok, version), "jaxreg": (False, "left out of this test")}
    rows, runs, diag = bench_path.bench_problem(spec, ["sklearn"], installed, args)
    (row,) = rows
    assert row.library == "sklearn" and row.status == "ok", row
    assert row.n_timed == 2 and row.subopt <= 1e-6 and row.first_call_s > 0
    # the reference is sklearn's own best run here: its dual point certifies it only loosely
    assert -1e-12 <= diag["ref_certified"] < 1e-2
    assert "sklearn" in bench_path.format_table(rows)


def test_registry_covers_table1_and_real_data():
    assert len(registry.GROUPS["table1"]) == 36 and len(registry.GROUPS["table1-binomial"]) == 36
    assert registry.PROBLEMS["binomial:100x50000x0.95"].family == "binomial"
    assert {s.family for s in registry.REAL} == {"gaussian", "binomial"}
    X, y = registry.PROBLEMS["diabetes-quad"].load()
    assert X.shape == (442, 64) and np.all(X.std(axis=0) > 0)
    with pytest.raises(ValueError):
        registry.parse_problems("nonsense")


def test_missing_data_is_skipped_cleanly(monkeypatch):
    """A real data set whose loader is absent becomes one "skipped: data unavailable" row."""
    import jaxreg.datasets

    monkeypatch.delattr(jaxreg.datasets, "load_srbct", raising=False)
    spec = registry.PROBLEMS["srbct"]
    with pytest.raises(registry.ProblemUnavailable):
        spec.load()
    args = bench_path.parse_args(["--cells", "srbct", "--peers", "sklearn"])
    rows, runs, diag = bench_path.bench_problem(spec, ["sklearn"], {"sklearn": (True, "?")}, args)
    assert [r.status for r in rows] == ["skipped: data unavailable"] and runs == [] and diag == {}


def test_compile_benchmark_aggregates_processes(monkeypatch):
    """``bench_compile --processes N``: medians of the times, the compile range, the worst gap
    and retrace of any process (the fresh processes replaced by canned results)."""
    import bench_compile

    keys = ("first", "trace", "compile", "compile_cpu", "other", "steady", "retrace", "max_gap")
    runs = iter([
        dict(zip(keys, (4.0, 1.0, 2.5, 4.0, 0.5, 0.10, 0, 1e-8)), coef=[1.0]),
        dict(zip(keys, (5.0, 1.2, 3.5, 5.0, 0.3, 0.12, 1, 3e-8)), coef=[1.0]),
        dict(zip(keys, (4.5, 0.9, 3.0, 4.5, 0.6, 0.11, 0, 2e-8)), coef=[1.0]),
    ])
    monkeypatch.setattr(bench_compile, "run_set", lambda cell, option_set, repeats: next(runs))
    result = bench_compile.run_processes("binomial:10x5x0", "jaxreg", 1, 3)
    medians = tuple(result[k] for k in ("first", "trace", "compile", "other", "steady"))
    assert medians == (4.5, 1.0, 3.0, 0.5, 0.11)
    assert (result["compile_min"], result["compile_max"], result["processes"]) == (2.5, 3.5, 3)
    assert result["retrace"] == 1 and result["max_gap"] == 3e-8


def test_thunk_profile_assigns_thunks_to_solver_phases():
    """``profile_path.py`` end to end on a small logistic path (its own child process: XLA
    dump, profiler trace, HLO stack frames): the table has the thunk total and the solver's
    Newton and certificate phases, and most thunks are assigned to a named phase."""
    import subprocess

    pytest.importorskip("jax.profiler").ProfileData  # noqa: B018 (jax < 0.5 has no trace reader)
    out = subprocess.run([sys.executable, str(BENCH / "profile_path.py"), "--cell", "binomial:40x60x0.5", "--warmup", "1"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    header, _, *rows, _ = out.strip().splitlines()
    assert "thunks" in header and "per lambda" in header
    shares = {row.split()[0]: float(row.split()[2].rstrip("%")) for row in rows}
    assert {"_newton_step", "_certificate", "_solve_one_lambda"} <= set(shares)
    assert shares.get("other", 0.0) < 20.0


def test_bench_streamed_runs_both_solvers_on_a_tiny_shape(tmp_path, capsys):
    """``bench_streamed.py`` (the streamed Newton solver against the working-set one) runs
    end to end and writes its CSV; both paths certify and agree."""
    import bench_streamed

    out = tmp_path / "streamed.csv"
    assert bench_streamed.main(["--shapes", "3000x6", "--n-lambdas", "8", "--repeats", "1", "--out", str(out)]) == 0
    row = out.read_text().splitlines()
    assert row[0].startswith("n,p,n_lambdas,streamed_s,working_set_s,ratio")
    values = dict(zip(row[0].split(","), row[1].split(",")))
    assert float(values["gap_streamed"]) <= 1e-7 and float(values["gap_working_set"]) <= 1e-7
    assert float(values["objective_rel_diff"]) <= 2e-7
    assert "3000x6" in capsys.readouterr().out


def test_bench_ab_runs_two_copies_side_by_side(capsys):
    """``bench_ab.py`` (two revisions of jaxreg imported side by side, calls alternated) runs
    end to end; here both sides are the working tree, so both certify the same path."""
    import bench_ab

    assert bench_ab.main(["--revisions", ".,.", "--cells", "binomial:300x20x0.5,binomial:300x20x0.5@1e-7%0.5",
                          "--rounds", "1", "--n-lambdas", "8"]) == 0
    lasso, enet = capsys.readouterr().out.splitlines()[-2:]
    assert lasso.startswith("binomial:300x20x0.5@1e-06:") and "B/A" in lasso
    assert enet.startswith("binomial:300x20x0.5@1e-07%0.5:") and "B/A" in enet
    for line, tol in ((lasso, 1e-6), (enet, 1e-7)):
        gaps = [float(g) for g in re.findall(r"gap ([0-9.e+-]+),", line)]
        assert len(gaps) == 2 and max(gaps) <= tol


def test_bench_enet_certifies_both_libraries(tmp_path, capsys):
    """``bench_enet.py`` (elastic net, jaxreg against glmnet at a certified 1e-6) runs end to
    end on tiny problems of both families and writes its CSV; its objective is the one jaxreg
    reports, and glmnet reaches the target at some ``thresh``."""
    pytest.importorskip("glmnet")
    import bench_enet

    out = tmp_path / "enet.csv"
    assert bench_enet.main(["--cells", "binomial:120x40x0.5,150x30x0", "--l1-ratios", "0.5", "--repeats", "1",
                            "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("cell,family,")
    import csv

    for row in csv.DictReader(rows):
        assert float(row["jaxreg_objective_vs_reported"]) < 1e-12
        assert float(row["jaxreg_max_gap"]) <= 1e-6
        assert row["glmnet_thresh"] and float(row["glmnet_certified_subopt"]) <= 1e-6
        assert float(row["ratio"]) > 0
