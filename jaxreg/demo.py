"""``jaxreg demo`` or ``python -m jaxreg.demo``: a lasso path on the diabetes data shipped with jaxreg.

Writes ``coef_path.csv`` (one row per lambda: lambda, dev_ratio, df, rel_gap, one column per
feature) and, when matplotlib is installed, ``coef_path.png`` into the output folder
(default ``./jaxreg-demo``), and prints where. Each file is written completely or not at all.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import jaxreg
from jaxreg.cli import atomic_write, prepare_out, write_plots
from jaxreg.datasets import load_diabetes


def _write_table(path, res, feature_names):
    def write(f):
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["lambda", "dev_ratio", "df", "rel_gap", *feature_names])
        for k in range(res.n_lambdas):
            row = [res.lambdas[k], res.dev_ratio[k], res.df[k], res.gap[k], *res.coef[k]]
            out.writerow([f"{float(v):.10g}" for v in row])

    atomic_write(path, write)


def run(out="jaxreg-demo") -> int:
    """Solve the lasso path on the diabetes data, write the table and the plot into ``out``."""
    from jaxreg.plotting import plot_path

    data = load_diabetes()
    prepare_out(out)
    t0 = time.perf_counter()
    res = jaxreg.path(data.X, data.y, l1_ratio=1.0)
    elapsed = time.perf_counter() - t0
    csv_path = os.path.join(out, "coef_path.csv")
    _write_table(csv_path, res, data.feature_names)
    print(f"lasso path on diabetes ({data.X.shape[0]} x {data.X.shape[1]}): {res.n_lambdas} lambdas "
          f"in {elapsed:.2f} s (including compilation), worst relative duality gap {res.gap.max():.2e}")
    print(f"deviance explained at the smallest lambda: {res.dev_ratio[-1]:.4f}")
    print(f"coefficient table: {os.path.abspath(csv_path)}")
    draw = {"coef_path.png": lambda ax: plot_path(res, feature_names=data.feature_names, ax=ax)}
    pngs, note = write_plots(out, draw)
    if note:
        print(note)
    for png in pngs:
        print(f"coefficient-path picture: {os.path.abspath(png)}")
    return 0


def main(argv=None) -> int:
    """``python -m jaxreg.demo [--out DIR]``; errors exit with status 2 (see ``jaxreg.cli``)."""
    parser = argparse.ArgumentParser(prog="python -m jaxreg.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="jaxreg-demo", help="output folder")
    args = parser.parse_args(argv)
    from jaxreg.cli import main as cli_main

    return cli_main(["demo", "--out", args.out])


if __name__ == "__main__":
    sys.exit(main())
