"""Plots in the style of glmnet's ``plot.glmnet`` and ``plot.cv.glmnet``, and stability paths.

matplotlib is an optional dependency (``pip install 'jaxreg[plot]'``), imported only when a
plot is drawn on a new figure. Every function draws on ``ax`` (a new figure when ``ax`` is
None) and returns the matplotlib Axes, so plots can be combined and restyled::

    from jaxreg.plotting import plot_path, plot_cv, plot_stability
    ax = plot_path(res, feature_names=data.feature_names)
    ax.figure.savefig("path.png")

On a lambda axis, lambda decreases from left to right (the model grows to the right), and
the top axis gives the number of non-zero coefficients, as in glmnet.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_path", "plot_cv", "plot_stability"]

_XVARS = {
    "lambda": r"$\log(\lambda)$",
    "norm": "L1 norm of the coefficients",
    "dev": "fraction of deviance explained",
}

_SCORING_LABELS = {
    ("gaussian", "deviance"): "mean-squared error",
    ("gaussian", "mse"): "mean-squared error",
    ("gaussian", "mae"): "mean absolute error",
    ("binomial", "deviance"): "binomial deviance",
    ("binomial", "class"): "misclassification error",
    ("binomial", "auc"): "AUC",
}

_LABEL_FONTSIZE = 8
_LABEL_GAP = 0.045  # smallest vertical distance between two end labels, in axes heights


def _new_axes(ax):
    """``ax`` itself, or the Axes of a new pyplot figure (imports matplotlib only then)."""
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'jaxreg[plot]'") from exc
    _, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    return ax


def _names(feature_names, p):
    """Feature labels as strings: the given names (checked for length) or x0, x1, ..."""
    if feature_names is None:
        return [f"x{j}" for j in range(p)]
    names = [str(v) for v in feature_names]
    if len(names) != p:
        raise ValueError(f"feature_names must have one name per feature ({p}); got {len(names)}")
    return names


def _check_n_labels(n_labels):
    if not isinstance(n_labels, (int, np.integer)) or isinstance(n_labels, bool) or n_labels < 0:
        raise ValueError(f"n_labels must be a non-negative integer; got {n_labels!r}")
    return int(n_labels)


def _log_lambdas(lambdas):
    lam = np.asarray(lambdas, dtype=np.float64)
    if np.any(lam <= 0):
        raise ValueError("a log(lambda) axis needs positive lambdas; this grid contains lambda = 0")
    return np.log(lam)


def _path_x(result, xvar):
    """``(x values (K,), axis label, decreasing?)`` for ``plot_path``'s ``xvar``."""
    if xvar not in _XVARS:
        raise ValueError(f"xvar must be one of {tuple(_XVARS)}; got {xvar!r}")
    if xvar == "lambda":
        return _log_lambdas(result.lambdas), _XVARS[xvar], True
    if xvar == "norm":
        return np.abs(np.asarray(result.coef, dtype=np.float64)).sum(axis=1), _XVARS[xvar], False
    return np.asarray(result.dev_ratio, dtype=np.float64), _XVARS[xvar], False


def _spread(targets, gap, top):
    """Label heights near ``targets`` that are at least ``gap`` apart and at most ``top``."""
    targets = np.asarray(targets, dtype=np.float64)
    order = np.argsort(targets, kind="stable")
    pos = targets[order].copy()
    for i in range(1, pos.size):
        pos[i] = max(pos[i], pos[i - 1] + gap)
    if pos.size and pos[-1] > top:
        pos[-1] = top
        for i in range(pos.size - 2, -1, -1):
            pos[i] = min(pos[i], pos[i + 1] - gap)
    out = np.empty_like(pos)
    out[order] = pos
    return out


def _label_right(ax, heights, names, colors, top=None):
    """Write ``names`` just right of the axes, at data heights spread so they do not overlap
    (and stay below ``top``, default the upper y limit)."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi)  # freeze: the label positions depend on the limits
    placed = _spread(heights, _LABEL_GAP * (hi - lo), hi if top is None else top)
    for y, name, color in zip(placed, names, colors):
        ax.text(1.01, y, name, transform=ax.get_yaxis_transform(), color=color,
                fontsize=_LABEL_FONTSIZE, ha="left", va="center", clip_on=False)


def _top_count_axis(ax, x, counts, label="non-zero coefficients"):
    """A top axis giving ``counts`` (the number of non-zeros) at the bottom axis's ticks."""
    lo, hi = sorted(ax.get_xlim())
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    ax.set_xticks(ticks)  # freeze, so both axes keep the same ticks
    nearest = [int(np.nanargmin(np.abs(x - t))) for t in ticks]
    top = ax.secondary_xaxis("top")
    top.set_xticks(ticks, labels=[str(int(counts[i])) for i in nearest])
    top.tick_params(labelsize=_LABEL_FONTSIZE)
    top.set_xlabel(label, fontsize=_LABEL_FONTSIZE)
    return top


def _finish_x(ax, x, decreasing):
    """x limits: the data range with a 2% margin, reversed when ``decreasing``."""
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    pad = 0.02 * (hi - lo) if hi > lo else 0.5
    ax.set_xlim((hi + pad, lo - pad) if decreasing else (lo - pad, hi + pad))


def plot_path(result, *, xvar="lambda", feature_names=None, n_labels=8, ax=None):
    """Coefficient paths of a ``PathResult``, like glmnet's ``plot.glmnet``; returns the Axes.

    xvar : "lambda" (``log(lambda)``, decreasing to the right), "norm" (L1 norm of the
        coefficients) or "dev" (fraction of deviance explained, ``result.dev_ratio``).
    feature_names : one name per feature (default x0, x1, ...).
    n_labels : the ``n_labels`` features with the largest absolute coefficient at the
        smallest lambda are labelled at the right edge (features that are zero along the
        whole path are never labelled).

    ``ax.lines`` holds one line per feature (labelled with its name) and a dotted zero line;
    the top axis shows the number of non-zero coefficients.
    """
    n_labels = _check_n_labels(n_labels)
    x, xlabel, decreasing = _path_x(result, xvar)
    coef = np.asarray(result.coef, dtype=np.float64)
    names = _names(feature_names, coef.shape[1])
    ax = _new_axes(ax)
    lines = ax.plot(x, coef, linewidth=1.1)
    for line, name in zip(lines, names):
        line.set_label(name)
    ax.axhline(0.0, color="0.5", linewidth=0.7, linestyle=":", label="_zero", zorder=0)
    _finish_x(ax, x, decreasing)
    ever = np.flatnonzero(np.any(coef != 0, axis=0))
    last = coef[-1]
    top = ever[np.argsort(-np.abs(last[ever]), kind="stable")][:n_labels]
    _label_right(ax, last[top], [names[j] for j in top], [lines[j].get_color() for j in top])
    _top_count_axis(ax, x, np.asarray(result.df))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("coefficient")
    ax.set_title(f"{result.family} path, l1_ratio = {result.l1_ratio:g}", fontsize=10)
    return ax


def _check_index(l1_ratio_index, cv_result):
    L = len(cv_result.l1_ratios)
    if l1_ratio_index is None:
        return int(cv_result.best)
    index = l1_ratio_index
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not -L <= index < L:
        raise ValueError(f"l1_ratio_index must be an integer in [0, {L}); got {l1_ratio_index!r}")
    return int(index) % L


def plot_cv(cv_result, *, l1_ratio_index=None, ax=None):
    """Cross-validation curve of a ``CVResult``, like glmnet's ``plot.cv.glmnet``; returns the Axes.

    Red dots: ``cv_mean`` against ``log(lambda)`` (decreasing to the right); grey error bars:
    plus or minus ``cv_se``; dashed vertical lines at ``lambda_min`` and ``lambda_1se``; top
    axis: number of non-zero coefficients of the full-data path. ``l1_ratio_index`` picks
    the l1_ratio (default: the best one, ``cv_result.best``).

    ``ax.lines`` holds the dots and the two vertical lines (labelled "lambda_min" and
    "lambda_1se").
    """
    index = _check_index(l1_ratio_index, cv_result)
    lam = np.asarray(cv_result.lambdas[index], dtype=np.float64)
    x = _log_lambdas(lam)
    mean = np.asarray(cv_result.cv_mean[index], dtype=np.float64)
    se = np.asarray(cv_result.cv_se[index], dtype=np.float64)
    ax = _new_axes(ax)
    # Error bars as collections (not Line2D caplines), so that ax.lines is only what is documented.
    ax.vlines(x, mean - se, mean + se, colors="0.65", linewidth=1.0, zorder=1, label="_cv_se")
    ax.scatter(np.concatenate([x, x]), np.concatenate([mean - se, mean + se]), marker="_", s=20,
               color="0.65", linewidths=1.0, zorder=1, label="_cv_se_caps")
    ax.plot(x, mean, "o", color="red", markersize=3.5, zorder=2, label="_cv_mean")
    _finish_x(ax, x, decreasing=True)
    marks = (("lambda_min", int(cv_result.index_min[index]), "left"),
             ("lambda_1se", int(cv_result.index_1se[index]), "right"))
    higher_is_better = cv_result.scoring == "auc"  # the curve peaks near the top: label at the bottom
    for name, k, side in marks:
        ax.axvline(x[k], color="0.35", linestyle="--", linewidth=0.9, label=name, zorder=0)
        ax.text(x[k], 0.02 if higher_is_better else 0.98, f" {name} ", transform=ax.get_xaxis_transform(),
                rotation=90, ha=side, va="bottom" if higher_is_better else "top", fontsize=_LABEL_FONTSIZE,
                color="0.35")
    _top_count_axis(ax, x, np.asarray(cv_result.paths[index].df))
    family = getattr(cv_result, "family", None)
    ax.set_ylabel(_SCORING_LABELS.get((family, cv_result.scoring), cv_result.scoring))
    ax.set_xlabel(_XVARS["lambda"])
    n_folds = np.shape(cv_result.cv_folds)[1]
    ax.set_title(f"{n_folds}-fold cross-validation, l1_ratio = {cv_result.l1_ratios[index]:g}", fontsize=10)
    return ax


def plot_stability(stab_result, *, feature_names=None, n_labels=8, ax=None):
    """Selection probability of each feature along the lambda path; returns the Axes.

    Selected features (``stab_result.selected``) are drawn in colour, the others in grey;
    the ``n_labels`` selected features with the highest selection probability are labelled
    at the right edge. A dashed horizontal line marks the threshold; the shaded band is the
    selection region (the top of the grid, where the probabilities are compared with the
    threshold), ending at a dotted vertical line.

    ``ax.lines`` holds one line per feature (labelled with its name), the threshold line and
    the region boundary.
    """
    n_labels = _check_n_labels(n_labels)
    x = _log_lambdas(stab_result.lambdas)
    prob = np.asarray(stab_result.probabilities, dtype=np.float64)
    names = _names(feature_names, prob.shape[1])
    selected = [int(j) for j in stab_result.selected]
    ax = _new_axes(ax)
    region_end = x[max(int(stab_result.region), 1) - 1]
    ax.axvspan(x[0], region_end, color="0.93", zorder=0, label="_region")
    lines = {}
    for j in range(prob.shape[1]):
        if j not in selected:
            lines[j] = ax.plot(x, prob[:, j], color="0.72", linewidth=0.8, zorder=1, label=names[j])[0]
    for j in selected:
        lines[j] = ax.plot(x, prob[:, j], linewidth=1.8, zorder=3, label=names[j])[0]
    ax.axhline(stab_result.threshold, color="0.3", linestyle="--", linewidth=0.9, label="_threshold", zorder=2)
    ax.axvline(region_end, color="0.5", linestyle=":", linewidth=0.9, label="_region_end", zorder=2)
    ax.set_ylim(-0.02, 1.04)
    _finish_x(ax, x, decreasing=True)
    # Strongest first: highest probability in the region, then earliest to enter (ties at 1).
    region = prob[: max(int(stab_result.region), 1)]
    ranked = sorted(selected, key=lambda j: (-float(stab_result.max_probability[j]), -region[:, j].mean()))
    ranked = ranked[:n_labels][::-1]  # equal heights stack upwards in order: the strongest on top
    _label_right(ax, prob[-1, ranked], [names[j] for j in ranked], [lines[j].get_color() for j in ranked], top=1.0)
    ax.set_xlabel(_XVARS["lambda"])
    ax.set_ylabel("selection probability")
    bound = stab_result.error_bound
    bound_text = f", E[false selections] <= {bound:.2g}" if np.isfinite(bound) else ""
    ax.set_title(f"stability selection: {len(selected)} of {prob.shape[1]} features selected "
                 f"(threshold {stab_result.threshold:g}{bound_text})", fontsize=10)
    return ax
