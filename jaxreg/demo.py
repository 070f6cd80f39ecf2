"""``python -m jaxreg.demo``: a lasso path on the diabetes data shipped with jaxreg.

Writes ``coef_path.csv`` (one row per lambda) and, when matplotlib is installed,
``coef_path.png`` into the output folder (default ``./jaxreg-demo``), and prints where.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import jaxreg
from jaxreg.datasets import load_diabetes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="jaxreg-demo", help="output folder")
    args = parser.parse_args(argv)
    data = load_diabetes()
    t0 = time.perf_counter()
    res = jaxreg.path(data.X, data.y, l1_ratio=1.0)
    elapsed = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "coef_path.csv")
    header = "lambda,dev_ratio,df,rel_gap," + ",".join(data.feature_names)
    table = np.column_stack([res.lambdas, res.dev_ratio, res.df, res.gap, res.coef])
    np.savetxt(csv_path + ".tmp", table, delimiter=",", header=header, comments="", fmt="%.10g")
    os.replace(csv_path + ".tmp", csv_path)
    print(f"lasso path on diabetes ({data.X.shape[0]} x {data.X.shape[1]}): {res.n_lambdas} lambdas "
          f"in {elapsed:.2f} s (including compilation), worst relative duality gap {res.gap.max():.2e}")
    print(f"deviance explained at the smallest lambda: {res.dev_ratio[-1]:.4f}")
    print(f"coefficient table: {os.path.abspath(csv_path)}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from jaxreg.plotting import plot_path
    except ImportError:
        print("matplotlib is not installed: no picture (pip install 'jaxreg[plot]')")
        return 0
    ax = plot_path(res, feature_names=data.feature_names)
    png_path = os.path.join(args.out, "coef_path.png")
    ax.figure.tight_layout()
    ax.figure.savefig(png_path + ".tmp.png", dpi=120)
    os.replace(png_path + ".tmp.png", png_path)
    plt.close(ax.figure)
    print(f"coefficient-path picture: {os.path.abspath(png_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
