"""Plot a bench_path.py summary CSV: time ratio to glmnet per problem and library, log scale.

    python benchmarks/plot.py benchmarks/results/path_<date>.csv [out.png]

One panel per family (gaussian, binomial); x: the problems in CSV order; y: time / glmnet's
time at equal accuracy (both reached the target; 1 = as fast as glmnet, below = faster).
Libraries that did not reach the target on a problem, or problems where glmnet did not, have
no point there. jaxreg's first call (compile + solve) is drawn as open circles.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

MARKERS = {"jaxreg": "o", "sklearn": "s", "celer": "^", "skglm": "v", "glum": "D", "adelie": "P"}
COLORS = {"jaxreg": "C3", "sklearn": "C0", "celer": "C1", "skglm": "C2", "glum": "C4", "adelie": "C5"}


def _label(row: dict) -> str:
    if row["rho"] == "":
        return f"{row['problem']}"
    return f"{row['n']}x{row['p']} {float(row['rho']):g}"


def plot_ratios(csv_path, png_path) -> Path | None:
    """Write the PNG; returns its path, or None when no problem has a glmnet time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    glmnet = {r["problem"]: float(r["time_s"]) for r in rows if r["library"] == "glmnet" and r["status"] == "ok"}
    if not glmnet:
        return None
    families = [fam for fam in ("gaussian", "binomial") if any(r["family"] == fam and r["problem"] in glmnet for r in rows)]
    fig, axes = plt.subplots(len(families), 1, figsize=(max(8.0, 0.28 * len(glmnet) + 3), 4.2 * len(families)),
                             squeeze=False)
    for ax, fam in zip(axes[:, 0], families):
        problems = list(dict.fromkeys(r["problem"] for r in rows if r["family"] == fam and r["problem"] in glmnet))
        labels = {r["problem"]: _label(r) for r in rows}
        xpos = {p: i for i, p in enumerate(problems)}
        libs = list(dict.fromkeys(r["library"] for r in rows if r["library"] in MARKERS))
        for k, lib in enumerate(libs):
            pts = [(xpos[r["problem"]], float(r["time_s"]) / glmnet[r["problem"]]) for r in rows
                   if r["library"] == lib and r["status"] == "ok" and r["problem"] in xpos]
            offset = (k - (len(libs) - 1) / 2) * 0.08
            if pts:
                ax.plot([x + offset for x, _ in pts], [y for _, y in pts], MARKERS[lib], ls="none", label=lib,
                        ms=6 if lib == "jaxreg" else 4.5, color=COLORS[lib])
            if lib == "jaxreg":
                first = [(xpos[r["problem"]], float(r["first_call_s"]) / glmnet[r["problem"]]) for r in rows
                         if r["library"] == lib and r["first_call_s"] not in ("", "None") and r["problem"] in xpos]
                if first:
                    ax.plot([x + offset for x, _ in first], [y for _, y in first], "o", mfc="none", color=COLORS[lib],
                            ls="none", ms=6, label="jaxreg 1st call (compile)")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(problems)))
        ax.set_xticklabels([labels[p] for p in problems], rotation=60, ha="right", fontsize=7)
        ax.set_xlim(-0.6, len(problems) - 0.4)
        ax.set_ylabel("time / glmnet time")
        ax.set_title(f"{fam}: time to a 100-lambda path with worst rel. suboptimality <= 1e-6 (log scale)", fontsize=9)
        ax.grid(True, which="major", axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncol=4, loc="best")
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return png_path


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = Path(sys.argv[1])
    dst = Path(sys.argv[2]) if len(sys.argv) == 3 else src.with_suffix(".png")
    print(plot_ratios(src, dst) or "no problem has a glmnet time to compare with")
