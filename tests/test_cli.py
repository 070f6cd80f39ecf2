"""The ``jaxreg`` command: happy paths in-process, one real subprocess, every bad input.

Compilation dominates the run time (a few seconds per distinct problem shape), so the
happy paths share a few shapes: diabetes 442 x 10 with 100 lambdas (also the demo's), a
3-fold CV of it over two l1_ratios with 20 lambdas (also tests/test_plotting.py's), and one
binomial path. Error cases fail before anything is compiled.
"""

import csv
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jaxreg
from jaxreg.cli import atomic_write, build_problem, main, make_parser, path_options, read_table
from jaxreg.datasets import load_breast_cancer, load_diabetes

CV_ARGS = ["--l1-ratio", "0.5", "1", "--n-folds", "3", "--n-lambdas", "20", "--seed", "1"]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    return str(path)


def read_coef_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=float)


def nums(values):
    return [repr(float(v)) for v in values]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def diabetes_csv(data_dir):
    """All of diabetes (442 x 10), numeric, target y."""
    d = load_diabetes()
    rows = [nums(x) + nums([y]) for x, y in zip(d.X, d.y)]
    return write_csv(data_dir / "diabetes.csv", d.feature_names + ["y"], rows)


@pytest.fixture(scope="module")
def diabetes_mixed_csv(data_dir):
    """Diabetes with sex as text (F / M), a weight column w and s6: 442 x 10 after
    ``--weights w --drop s6`` and one-hot encoding of sex, the same shape as diabetes.csv."""
    d = load_diabetes()
    w = 1.0 + np.arange(d.X.shape[0]) % 3
    rows = []
    for x, y, wi in zip(d.X, d.y, w):
        row = nums(x)
        row[1] = "F" if x[1] == 1 else "M"
        rows.append(row + nums([y, wi]))
    return write_csv(data_dir / "mixed.csv", d.feature_names + ["y", "w"], rows)


@pytest.fixture(scope="module")
def cancer_csv(data_dir):
    """Breast cancer, first 200 rows and 8 features, target diagnosis: benign / malignant."""
    d = load_breast_cancer()
    rows = [nums(x[:8]) + [label] for x, label in zip(d.X[:200], d.y[:200])]
    return write_csv(data_dir / "cancer.csv", d.feature_names[:8] + ["diagnosis"], rows)


def outputs(out):
    return sorted(os.listdir(out))


def load_summary(out):
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


# --------------------------------------------------------------------------- happy paths


def test_path_writes_coefficients_summary_and_plot(diabetes_csv, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["path", diabetes_csv, "--target", "y", "--out", out]) == 0
    assert outputs(out) == ["coef.csv", "path.png", "summary.json"]  # no temporary files left
    d = load_diabetes()
    res = jaxreg.path(d.X, d.y)
    header, table = read_coef_csv(os.path.join(out, "coef.csv"))
    assert header == ["lambda", "intercept", *d.feature_names]
    np.testing.assert_allclose(table[:, 0], res.lambdas, rtol=1e-13)
    np.testing.assert_allclose(table[:, 1], res.intercept, rtol=1e-12)
    np.testing.assert_allclose(table[:, 2:], res.coef, rtol=1e-12, atol=1e-12)
    summary = load_summary(out)
    assert summary["command"] == "path" and summary["jaxreg_version"] == jaxreg.__version__
    assert (summary["n"], summary["p"], summary["target"]) == (442, 10, "y")
    assert summary["data"] == os.path.abspath(diabetes_csv)
    assert summary["settings"] == {
        "family": "gaussian", "n_lambdas": 100, "lambda_min_ratio": 1e-4, "standardize": True,
        "fit_intercept": True, "tol": 1e-7, "max_iter": 1000, "weights": None, "drop": [], "l1_ratio": 1.0,
    }
    np.testing.assert_allclose(summary["path"]["dev_ratio"], res.dev_ratio)
    assert summary["path"]["df"] == res.df.tolist()
    assert max(summary["path"]["gap"]) <= 1e-7 and all(summary["path"]["converged"])
    assert summary["files"] == ["coef.csv", "path.png", "summary.json"]
    with open(os.path.join(out, "path.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    captured = capsys.readouterr()
    assert "442 rows x 10 features" in captured.err and "wrote" in captured.out


def test_path_one_hot_weights_drop_and_settings(diabetes_mixed_csv, tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = ["path", diabetes_mixed_csv, "--target", "y", "--weights", "w", "--drop", "s6", "--l1-ratio", "0.5",
            "--tol", "1e-9", "--lambda-min-ratio", "0.001", "--out", out]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "one-hot encoded 1 non-numeric column(s) into 2 dummy columns" in err and "sex (2 levels: F, M)" in err
    d = load_diabetes()
    names = ["age", "sex=F", "sex=M", "bmi", "bp", "s1", "s2", "s3", "s4", "s5"]
    X = np.column_stack([d.X[:, 0], d.X[:, 1] == 1, d.X[:, 1] == 2, d.X[:, 2:9]]).astype(float)
    w = 1.0 + np.arange(442) % 3
    res = jaxreg.path(X, d.y, sample_weight=w, l1_ratio=0.5, tol=1e-9, lambda_min_ratio=1e-3)
    header, table = read_coef_csv(os.path.join(out, "coef.csv"))
    assert header == ["lambda", "intercept", *names]
    np.testing.assert_allclose(table[:, 2:], res.coef, rtol=1e-12, atol=1e-12)
    summary = load_summary(out)
    assert summary["features"] == names and summary["one_hot"] == {"sex": ["F", "M"]}
    settings = summary["settings"]
    assert (settings["l1_ratio"], settings["tol"], settings["lambda_min_ratio"]) == (0.5, 1e-9, 1e-3)
    assert (settings["weights"], settings["drop"]) == ("w", ["s6"])


def test_design_matrix_is_built_on_a_64_byte_boundary(diabetes_mixed_csv):
    """X (numeric and one-hot columns) starts where XLA:CPU shares it without a copy."""
    problem = build_problem(read_table(diabetes_mixed_csv), target="y", family="gaussian", weights="w")
    assert problem.X.ctypes.data % 64 == 0 and problem.X.flags.c_contiguous and problem.X.dtype == np.float64
    d = load_diabetes()
    np.testing.assert_array_equal(problem.X[:, 3:], d.X[:, 2:])
    np.testing.assert_array_equal(problem.X[:, 1:3], np.column_stack([d.X[:, 1] == 1, d.X[:, 1] == 2]))


def test_flags_reach_jaxreg():
    args = make_parser().parse_args(["path", "d.csv", "--target", "y", "--no-standardize", "--no-intercept",
                                     "--max-iter", "50", "--n-lambdas", "7", "--family", "binomial"])
    assert path_options(args) == {
        "family": "binomial", "n_lambdas": 7, "lambda_min_ratio": None, "standardize": False,
        "fit_intercept": False, "tol": None, "max_iter": 50,
    }


def test_binomial_path_with_text_labels(cancer_csv, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["path", cancer_csv, "--target", "diagnosis", "--family", "binomial", "--n-lambdas", "20",
                 "--out", out]) == 0
    assert "P(diagnosis = 'malignant')" in capsys.readouterr().out
    d = load_breast_cancer()
    res = jaxreg.path(d.X[:200, :8], d.y[:200], family="binomial", n_lambdas=20)
    _, table = read_coef_csv(os.path.join(out, "coef.csv"))
    np.testing.assert_allclose(table[:, 1], res.intercept, rtol=1e-12)
    np.testing.assert_allclose(table[:, 2:], res.coef, rtol=1e-12, atol=1e-12)
    assert load_summary(out)["classes"] == ["benign", "malignant"]


def test_cv_writes_curve_choices_and_progress(diabetes_csv, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["cv", diabetes_csv, "--target", "y", *CV_ARGS, "--out", out]) == 0
    assert outputs(out) == ["coef.csv", "cv.png", "path.png", "summary.json"]
    err = capsys.readouterr().err
    assert "paths solved" in err and "cross-validated in" in err  # progress
    d = load_diabetes()
    cvr = jaxreg.cv(d.X, d.y, l1_ratio=[0.5, 1.0], n_folds=3, n_lambdas=20, seed=1)
    summary = load_summary(out)
    block = summary["cv"]
    assert block["best_l1_ratio"] == cvr.l1_ratio
    assert (block["lambda_min"], block["lambda_1se"]) == pytest.approx((cvr.lambda_min, cvr.lambda_1se), rel=1e-12)
    for l, entry in enumerate(block["per_l1_ratio"]):
        np.testing.assert_allclose(entry["cv_mean"], cvr.cv_mean[l], rtol=1e-10)
        np.testing.assert_allclose(entry["cv_se"], cvr.cv_se[l], rtol=1e-8)
    coef, intercept = cvr.coef("lambda_1se")
    assert summary["coef_lambda_1se"]["intercept"] == pytest.approx(intercept, rel=1e-12)
    assert [summary["coef_lambda_1se"][name] for name in d.feature_names] == pytest.approx(coef.tolist(), rel=1e-12)
    settings = summary["settings"]
    chosen = (settings["l1_ratio"], settings["n_folds"], settings["seed"], settings["scoring"])
    assert chosen == ([0.5, 1.0], 3, 1, "deviance")
    _, table = read_coef_csv(os.path.join(out, "coef.csv"))
    np.testing.assert_allclose(table[:, 2:], cvr.path.coef, rtol=1e-12, atol=1e-12)


def test_without_matplotlib_writes_tables_and_says_so(diabetes_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib..." now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    out = str(tmp_path / "out")
    assert main(["path", diabetes_csv, "--target", "y", "--out", out]) == 0
    assert outputs(out) == ["coef.csv", "summary.json"]
    assert "plots skipped" in capsys.readouterr().err
    assert load_summary(out)["plots"].startswith("matplotlib is not installed")


def test_demo(tmp_path, capsys):
    out = str(tmp_path / "demo")
    assert main(["demo", "--out", out]) == 0
    assert outputs(out) == ["coef_path.csv", "coef_path.png"]
    header, table = read_coef_csv(os.path.join(out, "coef_path.csv"))
    assert header[:4] == ["lambda", "dev_ratio", "df", "rel_gap"] and table.shape == (100, 14)
    assert "coefficient table" in capsys.readouterr().out


def test_gzip_csv_reads_like_plain(diabetes_csv, tmp_path):
    gz = tmp_path / "diabetes.csv.gz"
    with open(diabetes_csv, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    plain, packed = read_table(diabetes_csv), read_table(str(gz))
    assert [c.name for c in plain] == [c.name for c in packed]
    for a, b in zip(plain, packed):
        np.testing.assert_array_equal(a.values, b.values)


def test_parquet_when_pyarrow_is_installed(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = str(tmp_path / "small.parquet")
    pq.write_table(pa.table({"x": [1, 2, None], "g": ["a", "b", "a"], "y": [0.5, 1.5, 2.5]}), path)
    columns = {c.name: c for c in read_table(path)}
    assert columns["x"].numeric and columns["x"].missing.tolist() == [False, False, True]
    assert not columns["g"].numeric and columns["g"].values.tolist() == ["a", "b", "a"]


def test_atomic_write_is_all_or_nothing(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")

    def fail(f):
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(str(target), fail)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["file.txt"]
    atomic_write(str(target), lambda f: f.write("new"))
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["file.txt"]


def test_installed_entry_point(diabetes_csv, tmp_path):
    """``python -m jaxreg`` as a user runs it (fresh process: import + compile), and the
    ``jaxreg`` console script's error path."""
    out = str(tmp_path / "out")
    done = subprocess.run([sys.executable, "-m", "jaxreg", "path", diabetes_csv, "--target", "y",
                           "--n-lambdas", "10", "--out", out], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert outputs(out) == ["coef.csv", "path.png", "summary.json"]
    script = os.path.join(os.path.dirname(sys.executable), "jaxreg")
    if not os.path.exists(script):
        pytest.skip("the jaxreg console script is not installed next to this Python (pip install -e .)")
    done = subprocess.run([script, "path", str(tmp_path / "missing.csv"), "--target", "y"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"jaxreg: error: data file not found: {tmp_path / 'missing.csv'}"]


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_files(data_dir):
    """Small files that must be refused, by name."""
    files = {
        "empty": b"",
        "header_only": b"a,b,y\n",
        "ragged": b"a,b,y\n1,2,3\n4,5\n",
        "missing_feature": b"a,b,y\n1,2,3\n4,,6\n7,8,9\n",
        "missing_target": b"a,b,y\n1,2,3\n4,5,NA\n7,8,9\n",
        "three_classes": b"a,b,y\n1,2,u\n4,5,v\n7,8,w\n",
        "one_class": b"a,b,y\n1,2,u\n4,5,u\n7,8,u\n",
        "text_weights": b"a,b,w,y\n1,2,x,1\n4,5,y,2\n7,8,z,3\n",
        "negative_weights": b"a,b,w,y\n1,2,1,1\n4,5,-1,2\n7,8,1,3\n",
        "infinite": b"a,b,y\n1,2,3\n4,inf,6\n7,8,9\n",
        "huge": b"a,b,y\n1,2,3\n4,1e300,6\n7,8,9\n",
        "latin1": "a,b,y\n1,2,caf\xe9\n".encode("latin-1"),
        "parquet": b"PAR1 not really parquet",
        "ok": b"a,b,y\n1,2,3\n4,5,6\n7,8,10\n",
    }
    paths = {}
    for name, content in files.items():
        paths[name] = str(data_dir / f"{name}.csv")
        with open(paths[name], "wb") as f:
            f.write(content)
    paths["folder"] = str(data_dir)
    paths["absent"] = str(data_dir / "absent.csv")
    return paths


BAD = [
    (["path", "{absent}", "--target", "y"], "data file not found"),
    (["path", "{folder}", "--target", "y"], "is a folder, not a data file"),
    (["path", "{empty}", "--target", "y"], "is empty"),
    (["path", "{header_only}", "--target", "y"], "no data rows"),
    (["path", "{ragged}", "--target", "y"], "line 3: 2 fields, but the header has 3"),
    (["path", "{latin1}", "--target", "y"], "not a UTF-8 text (CSV) file"),
    (["path", "{ok}", "--target", "z"], "--target column 'z' is not in"),
    (["path", "{ok}"], "the following arguments are required: --target"),
    (["path", "{ok}", "--target", "y", "--drop", "c"], "--drop column 'c' is not in"),
    (["path", "{ok}", "--target", "y", "--weights", "q"], "--weights column 'q' is not in"),
    (["path", "{ok}", "--target", "y", "--drop", "a", "b"], "no feature columns left"),
    (["path", "{missing_feature}", "--target", "y"], "column 'b' has 1 missing value(s) (first in data row 2)"),
    (["path", "{missing_target}", "--target", "y"], "column 'y' has 1 missing value(s)"),
    (["path", "{infinite}", "--target", "y"], "column 'b' has 1 infinite value(s)"),
    (["path", "{huge}", "--target", "y"], "too large"),
    (["path", "{three_classes}", "--target", "y"], "target column 'y' is not numeric"),
    (["path", "{three_classes}", "--target", "y", "--family", "binomial"], "exactly two classes; 'y' has 3: u, v, w"),
    (["path", "{one_class}", "--target", "y", "--family", "binomial"], "exactly two classes; 'y' has 1"),
    (["path", "{text_weights}", "--target", "y", "--weights", "w"], "--weights column 'w' is not numeric"),
    (["path", "{negative_weights}", "--target", "y", "--weights", "w"], "--weights column 'w' has negative values"),
    (["path", "{ok}", "--target", "y", "--family", "poisson"], "invalid choice: 'poisson'"),
    (["path", "{ok}", "--target", "y", "--l1-ratio", "1.5"], "--l1-ratio: '1.5' is not a number in [0, 1]"),
    (["path", "{ok}", "--target", "y", "--l1-ratio", "lasso"], "--l1-ratio: 'lasso' is not a number"),
    (["path", "{ok}", "--target", "y", "--n-lambdas", "0"], "--n-lambdas: '0' is not a positive integer"),
    (["path", "{ok}", "--target", "y", "--lambda-min-ratio", "2"], "--lambda-min-ratio: '2' is not a number in (0, 1)"),
    (["path", "{ok}", "--target", "y", "--tol", "-1"], "--tol: '-1' is not a positive number"),
    (["cv", "{ok}", "--target", "y", "--n-folds", "1"], "--n-folds: '1' is not an integer >= 2"),
    (["cv", "{ok}", "--target", "y", "--n-folds", "5"], "--n-folds 5 is more than the 3 rows"),
    (["cv", "{ok}", "--target", "y", "--scoring", "auc"], "--scoring auc is not available for --family gaussian"),
    (["path", "{ok}", "--target", "y", "--out", "{ok}"], "cannot create the output folder"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[:1] + a[2:])[:60] for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(argv, message, bad_files, capsys):
    assert main([a.format(**bad_files) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxreg: error: "), err
    assert message in lines[0]


def test_parquet_without_pyarrow_says_what_to_install(bad_files, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert main(["path", bad_files["parquet"], "--target", "y"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxreg: error: ") and "needs pyarrow: pip install pyarrow" in err and "\n" not in err
