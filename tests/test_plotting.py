"""jaxreg.plotting: plot_path, plot_cv, plot_stability draw what they say and return the Axes.

The path and CV results reuse the problem shapes of tests/test_cli.py (diabetes, 100
lambdas; 3-fold CV over two l1_ratios with 20 lambdas), so both files share compilations.
"""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxreg  # noqa: E402
from jaxreg.datasets import load_diabetes  # noqa: E402
from jaxreg.plotting import __all__ as exported  # noqa: E402
from jaxreg.plotting import plot_cv, plot_path, plot_stability  # noqa: E402
from jaxreg.stability import StabilityResult  # noqa: E402


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes()


@pytest.fixture(scope="module")
def path_result(diabetes):
    return jaxreg.path(diabetes.X, diabetes.y)


@pytest.fixture(scope="module")
def cv_result(diabetes):
    return jaxreg.cv(diabetes.X, diabetes.y, l1_ratio=[0.5, 1.0], n_folds=3, n_lambdas=20, seed=1)


@pytest.fixture(scope="module")
def stability_result():
    """A hand-made result: 6 features on 20 lambdas; features 0 and 2 selected."""
    lambdas = np.geomspace(1.0, 1e-3, 20)
    ramp = np.linspace(0.0, 1.0, 20)
    prob = np.column_stack([np.clip(3 * ramp, 0, 1), 0.3 * ramp, np.clip(2 * ramp, 0, 1), 0.2 * ramp, ramp, 0 * ramp])
    region = 8
    max_prob = prob[:region].max(axis=0)
    return StabilityResult(lambdas=lambdas, probabilities=prob, region=region, q=2.5, max_probability=max_prob,
                           selected=np.flatnonzero(max_prob >= 0.6), threshold=0.6, error_bound=1.3,
                           masks=np.ones((4, 10)))


@pytest.fixture
def ax():
    fig, axes = plt.subplots()
    yield axes
    plt.close(fig)


def texts(ax):
    return [t.get_text() for t in ax.texts]


def top_axis_labels(ax):
    (top,) = ax.child_axes
    return [t.get_text() for t in top.get_xticklabels()]


def test_exports():
    assert exported == ["plot_path", "plot_cv", "plot_stability"]


@pytest.mark.parametrize("xvar", ["lambda", "norm", "dev"])
def test_plot_path_lines_labels_and_axes(path_result, diabetes, ax, xvar):
    assert plot_path(path_result, xvar=xvar, feature_names=diabetes.feature_names, n_labels=4, ax=ax) is ax
    assert len(ax.lines) == 10 + 1  # one per feature and the zero line
    assert [line.get_label() for line in ax.lines[:10]] == diabetes.feature_names
    last = path_result.coef[-1]
    assert texts(ax) == [diabetes.feature_names[j] for j in np.argsort(-np.abs(last))[:4]]
    assert ax.xaxis_inverted() == (xvar == "lambda")  # lambda decreases to the right, like glmnet
    x = {"lambda": np.log(path_result.lambdas), "norm": np.abs(path_result.coef).sum(1),
         "dev": path_result.dev_ratio}[xvar]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), x)
    counts = [int(label) for label in top_axis_labels(ax)]
    assert counts and set(counts) <= set(path_result.df.tolist())


def test_plot_path_defaults_draw_a_new_figure(path_result):
    ax = plot_path(path_result)
    try:
        assert len(ax.texts) == 8 and texts(ax)[0].startswith("x")
        assert ax.get_xlabel() == r"$\log(\lambda)$" and ax.get_ylabel() == "coefficient"
    finally:
        plt.close(ax.figure)


def test_plot_path_refuses_bad_arguments(path_result, ax):
    with pytest.raises(ValueError, match="xvar must be one of"):
        plot_path(path_result, xvar="alpha", ax=ax)
    with pytest.raises(ValueError, match="one name per feature"):
        plot_path(path_result, feature_names=["a", "b"], ax=ax)
    with pytest.raises(ValueError, match="n_labels"):
        plot_path(path_result, n_labels=-1, ax=ax)


def test_plot_cv_curve_lines_and_labels(cv_result, ax):
    assert plot_cv(cv_result, ax=ax) is ax
    dots, line_min, line_1se = ax.lines
    best = cv_result.best
    np.testing.assert_allclose(dots.get_ydata(), cv_result.cv_mean[best])
    assert dots.get_color() == "red"
    assert (line_min.get_label(), line_1se.get_label()) == ("lambda_min", "lambda_1se")
    assert line_min.get_xdata()[0] == pytest.approx(np.log(cv_result.lambda_min))
    assert line_1se.get_xdata()[0] == pytest.approx(np.log(cv_result.lambda_1se))
    assert line_min.get_linestyle() == "--"
    assert len(ax.collections) == 2  # the error bars and their caps
    assert [t.strip() for t in texts(ax)] == ["lambda_min", "lambda_1se"]
    assert ax.get_ylabel() == "mean-squared error" and ax.xaxis_inverted()
    assert f"l1_ratio = {cv_result.l1_ratio:g}" in ax.get_title()
    assert [int(c) for c in top_axis_labels(ax)]


def test_plot_cv_other_l1_ratio_and_bad_index(cv_result, ax):
    other = 1 - cv_result.best
    plot_cv(cv_result, l1_ratio_index=other, ax=ax)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), cv_result.cv_mean[other])
    assert f"l1_ratio = {cv_result.l1_ratios[other]:g}" in ax.get_title()
    with pytest.raises(ValueError, match="l1_ratio_index"):
        plot_cv(cv_result, l1_ratio_index=2, ax=ax)


def test_plot_stability_highlights_and_labels_selected(stability_result, ax):
    names = ["a", "b", "c", "d", "e", "f"]
    assert plot_stability(stability_result, feature_names=names, ax=ax) is ax
    assert stability_result.selected.tolist() == [0, 2]
    features = [line for line in ax.lines if line.get_label() in names]
    assert len(features) == 6 and len(ax.lines) == 6 + 2  # + threshold and region boundary
    grey = {line.get_label() for line in features if line.get_color() == "0.72"}
    assert grey == {"b", "d", "e", "f"}
    assert sorted(texts(ax)) == ["a", "c"]
    threshold = [line for line in ax.lines if line.get_label() == "_threshold"]
    assert threshold[0].get_ydata()[0] == 0.6
    assert ax.get_ylabel() == "selection probability" and ax.xaxis_inverted()


def test_plot_stability_n_labels(stability_result, ax):
    plot_stability(stability_result, n_labels=1, ax=ax)
    assert texts(ax) == ["x0"]  # the selected feature with the highest probability in the region


def test_png_files(path_result, cv_result, stability_result, tmp_path):
    for name, ax in [("path", plot_path(path_result, xvar="dev")), ("cv", plot_cv(cv_result)),
                     ("stability", plot_stability(stability_result))]:
        png = tmp_path / f"{name}.png"
        ax.figure.savefig(png, dpi=80)
        plt.close(ax.figure)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
