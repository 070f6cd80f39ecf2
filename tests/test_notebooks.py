"""The notebooks in notebooks/: committed without outputs, and executed without error.

The default suite executes every notebook in small mode (``JAXREG_NOTEBOOK_SMALL=1``: fewer
lambdas, folds, replicates and features); the full-size runs are marked slow
(``pytest -m slow tests/test_notebooks.py`` or ``make notebooks``). A notebook fails on any
error, on a failed assertion in a code cell (the notebooks assert the claims their text
makes), and on a ``jaxreg.ConvergenceWarning``.

Also here: a check of ``jaxreg.datasets.load_srbct``, the p >> n data of ``cv_stability.ipynb``.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time
from collections import Counter

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"quickstart", "l1_or_l2", "ng2004", "cv_stability"}


def test_the_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["cells"], f"{path.name} has no cells"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        hint = f"{path.name}, cell {i}: run `python notebooks/strip_outputs.py` before committing"
        assert cell.get("outputs") == [], f"{hint} (it has outputs)"
        assert cell.get("execution_count") is None, f"{hint} (it has an execution count)"


def _kernel_dir(tmp_path: pathlib.Path, small: bool) -> str:
    """A kernelspec that runs this very Python, with the environment the notebooks read."""
    spec = tmp_path / "jupyter" / "kernels" / "jaxreg-notebook-test"
    spec.mkdir(parents=True)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "jaxreg notebook test",
        "language": "python",
        "env": {"JAXREG_NOTEBOOK_SMALL": "1" if small else "0", "PYTHONPATH": pythonpath},
    }
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    return str(tmp_path / "jupyter")


def _execute(path: pathlib.Path, tmp_path: pathlib.Path, monkeypatch, small: bool):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", _kernel_dir(tmp_path, small))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="jaxreg-notebook-test", timeout=600 if small else 3600,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.perf_counter() - start
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            assert "ConvergenceWarning" not in text, f"{path.name}, cell {i}: {text}"
    print(f"{path.name}: executed in {elapsed:.1f} s ({'small' if small else 'full'} size)")
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_small(path, tmp_path, monkeypatch):
    _execute(path, tmp_path, monkeypatch, small=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_full_size(path, tmp_path, monkeypatch):
    _execute(path, tmp_path, monkeypatch, small=False)


def test_load_srbct():
    from jaxreg.datasets import load_srbct

    data = load_srbct()
    assert data.X.shape == (83, 2308) and data.X.dtype == np.float64 and np.isfinite(data.X).all()
    assert len(data.feature_names) == 2308 and data.feature_names[0] == "gene_0001"
    assert data.target_name == "tumor"
    assert Counter(data.y.tolist()) == {"EWS": 29, "RMS": 25, "NB": 18, "BL": 11}
    # The paper's training set (rows 0-62) and test set (rows 63-82).
    assert Counter(data.y[:63].tolist()) == {"EWS": 23, "RMS": 20, "NB": 12, "BL": 8}
    assert Counter(data.y[63:].tolist()) == {"EWS": 6, "RMS": 5, "NB": 6, "BL": 3}
    # Values as distributed (ISLP's Khan_xtrain.csv, first row, first genes).
    np.testing.assert_allclose(data.X[0, :3], [0.7733437, -2.438405, -0.4825622])
