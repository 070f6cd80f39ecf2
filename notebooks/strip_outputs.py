"""Strip outputs, execution counts and execution timings from notebooks, in place.

    python notebooks/strip_outputs.py                 # every notebook in notebooks/
    python notebooks/strip_outputs.py path.ipynb ...  # the given ones

Notebooks are committed without outputs (``tests/test_notebooks.py`` checks it); the test suite
executes them instead.
"""

from __future__ import annotations

import pathlib
import sys

import nbformat


def strip(path: pathlib.Path) -> bool:
    """Strip one notebook; return True if it changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    after = nbformat.writes(nb)
    if after != before:
        nbformat.write(nb, path)
    return after != before


def main(argv: list[str]) -> int:
    paths = [pathlib.Path(a) for a in argv] or sorted(pathlib.Path(__file__).parent.glob("*.ipynb"))
    for path in paths:
        if strip(path):
            print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
