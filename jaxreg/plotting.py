"""Plots (matplotlib is an optional dependency, imported only when a plot is drawn)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_path"]


def plot_path(result, *, feature_names=None, ax=None, n_labels=8):
    """Coefficient paths against ``log(lambda)``, glmnet style; returns the matplotlib Axes.

    The ``n_labels`` features with the largest absolute coefficient at the smallest lambda
    are labelled at the right edge; the top axis shows the number of non-zero coefficients.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'jaxreg[plot]'") from exc
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    loglam = np.log(result.lambdas)
    p = result.coef.shape[1]
    names = feature_names if feature_names is not None else [f"x{j}" for j in range(p)]
    lines = ax.plot(loglam, result.coef, linewidth=1.2)
    top = np.argsort(-np.abs(result.coef[-1]))[:n_labels]
    for j in top:
        ax.annotate(str(names[j]), (loglam[-1], result.coef[-1, j]), xytext=(3, 0),
                    textcoords="offset points", fontsize=8, color=lines[j].get_color(), va="center")
    ax.set_xlabel(r"$\log(\lambda)$")
    ax.set_ylabel("coefficient")
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    ax.invert_xaxis()
    ticks = np.linspace(0, result.n_lambdas - 1, 6).astype(int)
    top_ax = ax.secondary_xaxis("top")
    top_ax.set_xticks(loglam[ticks], [str(int(d)) for d in result.df[ticks]])
    top_ax.set_xlabel("non-zero coefficients")
    ax.set_title(f"{result.family} path, l1_ratio = {result.l1_ratio:g}", fontsize=10, pad=28)
    return ax
