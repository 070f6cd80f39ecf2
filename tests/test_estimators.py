"""scikit-learn estimators: every check_estimator check, sklearn oracles, and the no-sklearn path.

Compilation is the cost here: one XLA compile per shape bucket (jaxreg.path pads n, p, the grid
and the batch to buckets), family, dtype and batch size. The data below (200 x 10 Gaussian,
200 x 4 binary and 3-class) are shaped like scikit-learn's check data (200 x 10 in
check_regressors_train, 200 x 2 in check_classifiers_train, 150 x 4 iris) and the grids have
20 points like the check instances, so that these tests reuse the programs the checks compiled.
"""

import importlib.util
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import ElasticNetCV as SkElasticNetCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import jaxreg
from jaxreg import ElasticNet, ElasticNetCV, LogisticNet, LogisticNetCV

N, P, PC = 200, 10, 4


@pytest.fixture(scope="module")
def reg():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, P)) * np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 1.0, 0.2, 1.0, 1.0]) + 1.0
    y = X @ np.array([1.0, -0.5, 0.0, 0.0, 0.3, 2.0, 0.0, 0.0, -1.0, 0.0]) + 1.5 * rng.normal(size=N) + 3.0
    return X, y


@pytest.fixture(scope="module")
def clf():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N, PC))
    eta = X @ np.array([1.5, -1.0, 0.0, 0.5])
    y = (eta + rng.logistic(size=N) > 0).astype(int)
    y3 = np.digitize(eta + 0.5 * rng.normal(size=N), [-0.7, 0.7])
    return X, y, y3


# --------------------------------------------------------------------------- check_estimator

# Few path points / grid values keep every check quick; the checks exercise the API, not accuracy.
# Their blob data are separable, so jaxreg's SeparationWarning (informative, not an error) is muted.
@pytest.mark.filterwarnings("ignore::jaxreg.SeparationWarning")
@parametrize_with_checks(
    [
        ElasticNet(n_lambdas=20),
        ElasticNetCV(alphas=20, cv=3),
        LogisticNet(n_lambdas=20),
        LogisticNetCV(alphas=20, cv=3),
    ]
)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- scikit-learn oracles


@pytest.mark.parametrize("alpha, l1_ratio", [(0.05, 0.5), (0.3, 1.0), (0.1, 0.0)])
def test_elasticnet_equals_sklearn(reg, alpha, l1_ratio):
    X, y = reg
    ours = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, n_lambdas=20, tol=1e-10).fit(X, y)
    ref = SkElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-6)
    assert ours.dual_gap_ <= 1e-10
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-6)


def test_elasticnet_weights_and_bounds_equal_sklearn(reg):
    X, y = reg
    w = np.random.default_rng(3).integers(0, 4, size=N).astype(float)
    ours = ElasticNet(alpha=0.05, l1_ratio=0.7, n_lambdas=20, tol=1e-10).fit(X, y, sample_weight=w)
    ref = SkElasticNet(alpha=0.05, l1_ratio=0.7, tol=1e-14, max_iter=100_000).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    # lower_bounds=0 is scikit-learn's positive=True.
    ours = ElasticNet(alpha=0.05, l1_ratio=0.7, lower_bounds=0.0, n_lambdas=20, tol=1e-10).fit(X, y)
    ref = SkElasticNet(alpha=0.05, l1_ratio=0.7, positive=True, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    assert np.all(ours.coef_ >= 0) and np.any(ours.coef_ == 0)


@pytest.mark.parametrize("l1_ratio, solver", [(0.0, "newton-cholesky"), (1.0, "saga"), (0.5, "saga")])
def test_logisticnet_equals_sklearn_with_C_mapping(clf, l1_ratio, solver):
    X, y, _ = clf
    alpha = 0.02
    ours = LogisticNet(alpha=alpha, l1_ratio=l1_ratio, n_lambdas=20, tol=1e-10).fit(X, y)
    ref = LogisticRegression(C=1.0 / (N * alpha), l1_ratio=l1_ratio, solver=solver, tol=1e-12, max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's ConvergenceWarning at tol=1e-12 on its last decimals
        ref.fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def test_pipeline_gridsearch_matches_sklearn(reg):
    X, y = reg
    grid = {"elasticnet__alpha": [0.01, 0.3], "elasticnet__l1_ratio": [0.2, 0.9]}
    cv = KFold(3)
    ours = GridSearchCV(make_pipeline(StandardScaler(), ElasticNet(n_lambdas=20, tol=1e-10)), grid, cv=cv).fit(X, y)
    ref = GridSearchCV(make_pipeline(StandardScaler(), SkElasticNet(tol=1e-12, max_iter=100_000)), grid, cv=cv).fit(X, y)
    assert ours.best_params_ == ref.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], rtol=1e-6)
    assert ours.best_estimator_[-1].alphas_[-1] == ours.best_params_["elasticnet__alpha"]


def test_cross_val_score(reg):
    X, y = reg
    ours = cross_val_score(ElasticNet(alpha=0.1, n_lambdas=20, tol=1e-10), X, y, cv=KFold(3))
    ref = cross_val_score(SkElasticNet(alpha=0.1, tol=1e-12, max_iter=100_000), X, y, cv=KFold(3))
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_elasticnetcv_matches_sklearn_elasticnetcv(reg):
    X, y = reg
    alphas = np.geomspace(1.0, 1e-3, 15)
    ours = ElasticNetCV(l1_ratio=[0.3, 0.9], alphas=alphas, cv=KFold(3), tol=1e-10).fit(X, y)
    ref = SkElasticNetCV(l1_ratio=[0.3, 0.9], alphas=alphas, cv=KFold(3), tol=1e-12, max_iter=100_000).fit(X, y)
    assert ours.mse_path_.shape == ref.mse_path_.shape == (2, 15, 3)
    np.testing.assert_allclose(ours.mse_path_, ref.mse_path_, rtol=1e-6)
    np.testing.assert_allclose(ours.alphas_, np.stack([alphas, alphas]))  # scikit-learn keeps one 1-D user grid
    assert ours.alpha_ == ref.alpha_ and ours.l1_ratio_ == ref.l1_ratio_
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5, atol=1e-8)
    assert isinstance(ours.cv_result_, jaxreg.CVResult)
    assert ours.cv_mean_.shape == ours.cv_se_.shape == (2, 15)


# --------------------------------------------------------------------------- paths, attributes


def test_path_from_lambda_max_down_to_alpha(reg):
    X, y = reg
    m = ElasticNet(alpha=0.05, l1_ratio=0.5, n_lambdas=20, standardize=True).fit(X, y)
    assert m.alphas_.shape == (20,) and m.coef_path_.shape == (P, 20) and m.gap_path_.shape == (20,)
    np.testing.assert_allclose(m.alphas_[0], m.path_.lambda_max, rtol=1e-10)  # numpy lambda_max == the program's
    assert m.alphas_[-1] == 0.05 and np.all(np.diff(m.alphas_) < 0)
    assert np.all(m.coef_path_[:, 0] == 0) and np.array_equal(m.coef_path_[:, -1], m.coef_)
    assert np.all(m.gap_path_ <= 1e-7) and m.n_iter_ >= 20
    # standardize=True is jaxreg.path's (glmnet's) problem at the same lambdas.
    ref = jaxreg.path(X, y, l1_ratio=0.5, lambdas=m.alphas_, standardize=True)
    np.testing.assert_allclose(m.coef_, ref.coef[-1], rtol=1e-6, atol=1e-9)
    # alpha >= lambda_max: the null model; alpha = 0: the path ends at 0.
    big = ElasticNet(alpha=2 * m.alphas_[0], n_lambdas=20, standardize=True).fit(X, y)
    assert np.all(big.coef_ == 0) and np.all(big.alphas_ == big.alpha)
    np.testing.assert_allclose(big.intercept_, y.mean())
    zero = ElasticNet(alpha=0.0, n_lambdas=20, tol=1e-10).fit(X, y)
    assert zero.alphas_[-1] == 0.0
    ols = np.linalg.lstsq(np.column_stack([np.ones(N), X]), y, rcond=None)[0]
    np.testing.assert_allclose(zero.coef_, ols[1:], rtol=1e-6)


def test_unpenalized_features_and_offset(reg, clf):
    X, y = reg
    pf = np.array([0.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    m = ElasticNet(alpha=0.1, penalty_factor=pf, n_lambdas=20).fit(X, y)
    np.testing.assert_allclose(m.alphas_[0], m.path_.lambda_max, rtol=1e-8)
    assert np.all(m.coef_path_[1:, 0] == 0) and m.coef_path_[0, 0] != 0
    off = np.linspace(-1, 1, N)
    a = ElasticNet(alpha=0.1, n_lambdas=20, tol=1e-10).fit(X, y, offset=off)
    b = ElasticNet(alpha=0.1, n_lambdas=20, tol=1e-10).fit(X, y - off)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a.predict(X, offset=off), b.predict(X) + off, rtol=1e-8)
    Xc, yc, _ = clf
    c = LogisticNet(alpha=0.02, n_lambdas=20, penalty_factor=[0.0, 1.0, 1.0, 2.0]).fit(Xc, yc, offset=off)
    np.testing.assert_allclose(c.alphas_[0, 0], c.path_[0].lambda_max, rtol=1e-6)


def test_logisticnet_binary_attributes_and_string_labels(clf):
    X, y, _ = clf
    labels = np.array(["no", "yes"])[y]
    m = LogisticNet(alpha=0.02, n_lambdas=20).fit(X, labels)
    assert list(m.classes_) == ["no", "yes"]
    assert m.coef_.shape == (1, PC) and m.intercept_.shape == (1,)
    assert m.alphas_.shape == (1, 20) and m.coef_path_.shape == (1, PC, 20) and m.n_iter_.shape == (1,)
    np.testing.assert_allclose(m.alphas_[0, 0], m.path_[0].lambda_max, rtol=1e-8)
    dec = m.decision_function(X)
    proba = m.predict_proba(X)
    assert dec.shape == (N,) and proba.shape == (N, 2)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-dec)), rtol=1e-10)
    np.testing.assert_allclose(m.predict_log_proba(X), np.log(proba))
    assert set(m.predict(X)) <= {"no", "yes"} and m.score(X, labels) > 0.7


def test_logisticnet_multiclass_is_one_vs_rest_in_one_batched_call(clf):
    X, _, y3 = clf
    labels = np.array(["a", "b", "c"])[y3]
    m = LogisticNet(alpha=0.02, n_lambdas=20, tol=1e-10).fit(X, labels)
    assert m.coef_.shape == (3, PC) and m.alphas_.shape == (3, 20) and len(m.path_) == 3
    for k, name in enumerate(m.classes_):
        one = LogisticNet(alpha=0.02, n_lambdas=20, tol=1e-10).fit(X, labels == name)
        np.testing.assert_allclose(m.coef_[k], one.coef_[0], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(m.alphas_[k], one.alphas_[0], rtol=1e-12)
    proba = m.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    sig = 1 / (1 + np.exp(-m.decision_function(X)))
    np.testing.assert_allclose(proba, sig / sig.sum(axis=1, keepdims=True), rtol=1e-10)
    assert np.array_equal(m.predict(X), m.classes_[np.argmax(proba, axis=1)])


def test_logisticnetcv_selection_and_refit_free(clf):
    X, y, y3 = clf
    m = LogisticNetCV(alphas=20, cv=3, tol=1e-10).fit(X, y)
    res = m.cv_result_
    assert isinstance(res, jaxreg.CVResult) and res.cv_mean.shape == (1, 20)
    assert m.alpha_ == m.alpha_min_ == res.lambda_min and m.alpha_1se_ >= m.alpha_min_
    single = LogisticNet(alpha=m.alpha_, l1_ratio=0.5, n_lambdas=20, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(m.coef_, single.coef_, rtol=1e-5, atol=1e-6)
    se = LogisticNetCV(alphas=20, cv=3, selection="lambda_1se", scoring="accuracy").fit(X, y)
    assert se.alpha_ == se.alpha_1se_ and se.cv_result_.scoring == "class"
    multi = LogisticNetCV(alphas=20, cv=3).fit(X, y3)
    assert multi.alpha_.shape == (3,) and multi.coef_.shape == (3, PC) and len(multi.cv_result_) == 3
    assert multi.alphas_.shape == (3, 20) and multi.score(X, y3) > 0.5


def test_float32_is_kept(reg, clf):
    X, y = reg
    X32 = X.astype(np.float32)
    m = ElasticNet(alpha=0.1, n_lambdas=20).fit(X32, y)
    assert m.coef_.dtype == np.float32 and m.predict(X32).dtype == np.float32
    ref = ElasticNet(alpha=0.1, n_lambdas=20).fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=2e-3, atol=1e-3)
    Xc, yc, _ = clf
    c = LogisticNet(alpha=0.02, n_lambdas=20).fit(Xc.astype(np.float32), yc)
    assert c.coef_.dtype == np.float32 and c.intercept_.dtype == np.float32


def test_dataframe_feature_names(reg):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X, y = reg
    names = [f"f{j}" for j in range(P)]
    for frame in (pd.DataFrame(X, columns=names), pl.DataFrame({n: X[:, j] for j, n in enumerate(names)})):
        m = ElasticNet(alpha=0.1, n_lambdas=20).fit(frame, y)
        assert list(m.feature_names_in_) == names and m.n_features_in_ == P
        with pytest.warns(UserWarning, match="valid feature names"):
            np.testing.assert_allclose(m.predict(frame), m.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        m.predict(pd.DataFrame(X, columns=names[::-1]))


def test_sparse_input_is_refused(reg, clf):
    X, y = reg
    for est in (ElasticNet(), ElasticNetCV(), LogisticNet(), LogisticNetCV()):
        target = y if not hasattr(est, "predict_proba") else clf[1]
        with pytest.raises(TypeError, match="[Ss]parse"):
            est.fit(sp.csr_matrix(X), target)
    m = ElasticNet(alpha=0.1, n_lambdas=20).fit(X, y)
    with pytest.raises(TypeError, match="[Ss]parse"):
        m.predict(sp.csr_array(X))


@pytest.mark.parametrize(
    "est, match",
    [
        (ElasticNet(alpha=-1.0), "alpha"),
        (ElasticNet(l1_ratio=1.5), "l1_ratio"),
        (ElasticNet(n_lambdas=0), "n_lambdas"),
        (ElasticNet(tol=-1e-3), "tol"),
        (ElasticNet(max_iter=0), "max_iter"),
        (ElasticNet(lambda_min_ratio=2.0), "lambda_min_ratio"),
        (ElasticNet(penalty_factor=[1.0, 2.0]), "penalty_factor"),
        (ElasticNet(lower_bounds=1.0), "lower_bounds"),
        (ElasticNetCV(alphas=[-1.0, 1.0]), "alphas"),
        (ElasticNetCV(alphas=0), "alphas"),
        (ElasticNetCV(l1_ratio=[0.5, 2.0]), "l1_ratio"),
        (ElasticNetCV(cv=1), "cv"),
        (ElasticNetCV(scoring="r2"), "scoring"),
        (ElasticNetCV(selection="best"), "selection"),
        (LogisticNetCV(scoring="mse"), "scoring"),
        (LogisticNet(alpha=float("nan")), "alpha"),
        (ElasticNet(fit_intercept="yes"), "fit_intercept"),
        (ElasticNet(l1_ratio=[0.5]), "l1_ratio"),
        (ElasticNetCV(cv=2.5), "cv"),
    ],
)
def test_bad_parameters_raise_valueerror_at_fit(reg, est, match):
    X, y = reg
    target = y if not hasattr(est, "predict_proba") else (y > y.mean()).astype(int)
    est.get_params()  # __init__ only stores
    with pytest.raises(ValueError, match=match) as info:
        est.fit(X, target)
    if not match.endswith(("_factor", "_bounds")):  # those two are jaxreg.path's own ValueErrors
        assert isinstance(info.value, jaxreg.estimators.InvalidParameterError)


def test_bad_data_messages(reg):
    X, y = reg
    with pytest.raises(ValueError, match="sample_weight"):
        ElasticNet().fit(X, y, sample_weight=np.ones(N + 1))
    with pytest.raises(ValueError, match="offset"):
        ElasticNet().fit(X, y, offset=np.ones((N, 2)))
    with pytest.raises(ValueError, match="class"):
        LogisticNet().fit(X, np.zeros(N))
    with pytest.raises(ValueError, match="only one class"):
        LogisticNetCV(cv=[(np.arange(10), np.arange(10, N)), (np.arange(10, N), np.arange(10))]).fit(
            X, (np.arange(N) >= 10).astype(int)
        )
    with pytest.raises((TypeError, ValueError), match="fitted"):
        ElasticNet().predict(X)


def test_pickle_and_clone_keep_the_path(reg):
    X, y = reg
    m = ElasticNet(alpha=0.1, n_lambdas=20).fit(X, y)
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(again.predict(X), m.predict(X))
    assert again.path_.n_lambdas == 20
    assert clone(m).get_params() == m.get_params() and not hasattr(clone(m), "coef_")


# --------------------------------------------------------------------------- without scikit-learn

_NO_SKLEARN = textwrap.dedent(
    """
    import sys
    sys.modules["sklearn"] = None  # any `import sklearn...` now raises ImportError
    import numpy as np
    import jaxreg
    assert "sklearn" not in sys.modules or sys.modules["sklearn"] is None
    from jaxreg import ElasticNet
    from jaxreg import estimators
    assert not estimators.HAVE_SKLEARN
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)); y = X @ np.array([1.0, 0.0, -1.0]) + 0.1 * rng.normal(size=40)
    m = ElasticNet(alpha=0.01, n_lambdas=5).fit(X, y)
    assert m.score(X, y) > 0.9 and m.coef_.shape == (3,)
    assert repr(m) == "ElasticNet(alpha=0.01, n_lambdas=5)", repr(m)
    assert m.set_params(alpha=0.5).get_params()["alpha"] == 0.5
    print("ok")
    """
)


def test_import_and_fit_without_sklearn_in_a_subprocess():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _NO_SKLEARN], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def _load_without_sklearn(monkeypatch):
    """A fresh copy of jaxreg/estimators.py imported while scikit-learn is hidden: the fallback
    classes, run in this process so that its compiled jaxreg programs are reused."""
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    spec = importlib.util.spec_from_file_location("_jaxreg_estimators_nosk", jaxreg.estimators.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not module.HAVE_SKLEARN
    return module


def test_fallbacks_without_sklearn(reg, clf):
    X, y = reg
    Xc, yc, y3 = clf
    labels = np.array(["u", "v", "w"])[y3]
    grid = np.geomspace(1.0, 1e-3, 15)
    # References computed while scikit-learn is importable.
    ref = SkElasticNet(alpha=0.1, tol=1e-14, max_iter=100_000).fit(X, y)
    withsk = ElasticNetCV(alphas=grid, l1_ratio=[0.3, 0.9], cv=3, tol=1e-10).fit(X, y)
    with pytest.MonkeyPatch.context() as mp:
        nosk = _load_without_sklearn(mp)
        m = nosk.ElasticNet(alpha=0.1, n_lambdas=20, tol=1e-10).fit(X, y)
        assert 0.5 < m.score(X, y) <= 1.0
        assert repr(m) == "ElasticNet(alpha=0.1, n_lambdas=20, tol=1e-10)"
        with pytest.raises(ValueError, match="Invalid parameter"):
            m.set_params(C=1.0)
        with pytest.raises(ValueError, match="3 features, but ElasticNet is expecting 10"):
            m.predict(X[:, :3])
        with pytest.raises(TypeError, match="sparse"):
            nosk.ElasticNet().fit(sp.csr_matrix(X), y)
        with pytest.raises(ValueError, match="NaN"):
            nosk.ElasticNet().fit(np.where(X > 2, np.nan, X), y)
        with pytest.raises(ValueError, match="alpha"):
            nosk.ElasticNet(alpha=-1).fit(X, y)
        with pytest.raises(nosk.NotFittedError):
            nosk.ElasticNet().predict(X)
        # Integer cv = contiguous K-fold for regressors, as scikit-learn's KFold.
        cvm = nosk.ElasticNetCV(alphas=grid, l1_ratio=[0.3, 0.9], cv=3, tol=1e-10).fit(X, y)
        c = nosk.LogisticNet(alpha=0.02, n_lambdas=20).fit(Xc, labels)
        c_score = c.score(Xc, labels)
        with pytest.raises(ValueError, match="Unknown label type"):
            nosk.LogisticNet().fit(Xc, Xc[:, 0])
        cc = nosk.LogisticNetCV(alphas=20, cv=3).fit(Xc, yc)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cvm.mse_path_, withsk.mse_path_, rtol=1e-10)
    assert list(c.classes_) == ["u", "v", "w"] and 0.5 < c_score <= 1
    assert cc.coef_.shape == (1, PC) and cc.n_splits_ == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_column_moments_over_row_blocks(dtype):
    """The grid's null-fit moments are summed over row blocks (blocks of 3 rows here, 100 is
    no multiple) in float64, without a float64 copy of X or X * X: the direct sums."""
    from jaxreg.estimators import _weighted_column_moments

    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6)).astype(dtype)
    v = rng.uniform(size=100)
    first, squares = _weighted_column_moments(X, v, block_bytes=3 * 6 * 8)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(first, v @ X64, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(squares, v @ (X64 * X64), rtol=1e-13)
    assert _weighted_column_moments(X, v, second=False)[1] is None


def test_logisticnetcv_one_vs_rest_curves_equal_each_binary_problem(clf):
    """In the one-vs-rest batch each target's folds see its own labels: its CV curve equals
    that of the binary problem (class k against the rest) on the same splits."""
    X, _, y3 = clf
    splits = [(np.flatnonzero(np.arange(X.shape[0]) % 3 != f), np.flatnonzero(np.arange(X.shape[0]) % 3 == f))
              for f in range(3)]
    multi = LogisticNetCV(alphas=12, cv=splits, tol=1e-10).fit(X, y3)
    for k in range(3):
        one = LogisticNetCV(alphas=12, cv=splits, tol=1e-10).fit(X, y3 == k)
        np.testing.assert_allclose(multi.cv_result_[k].cv_mean, one.cv_result_.cv_mean, rtol=1e-8)
        np.testing.assert_allclose(multi.cv_result_[k].lambdas, one.cv_result_.lambdas, rtol=1e-12)
