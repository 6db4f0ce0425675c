"""SVM pipelines, the group-aware TunedClassifier, and the method registry."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.metrics import roc_auc_score
from sklearn.metrics.pairwise import chi2_kernel
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

import classifiers.svm
from benchmarks.datasets import load_dataset
from benchmarks.splits import group_ids
from classifiers.fitting import fit_method
from classifiers.registry import METHODS, build_method, get_method
from classifiers.svm import (
    KERNELS,
    Chi2Kernel,
    GramRBFSVC,
    HistogramNormaliser,
    TunedClassifier,
    make_classifier,
)
from features.records import Presentation


def histograms(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of 20-bin histograms from different Dirichlet distributions."""
    rng = np.random.default_rng(seed)
    alpha0 = np.linspace(1, 3, 20)
    X = np.vstack([rng.dirichlet(alpha0, n), rng.dirichlet(alpha0[::-1], n)])
    return X, np.repeat([0, 1], n)


class LookupFeatures(TransformerMixin, BaseEstimator):
    """Records -> the feature row stored for their id (stands in for crop + extractor)."""

    def __init__(self, table: dict | None = None) -> None:
        self.table = table

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.stack([self.table[r.id] for r in X])


def test_hellinger_rows_have_unit_norm_and_negatives_are_refused():
    X, _ = histograms(5, 0)
    H = HistogramNormaliser("hellinger").fit_transform(X * 7)
    np.testing.assert_allclose((H**2).sum(axis=1), 1.0)
    np.testing.assert_allclose(HistogramNormaliser("l1").fit_transform(X * 7).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        HistogramNormaliser("l1").fit_transform(X - 0.5)
    with pytest.raises(ValueError, match="norm"):
        HistogramNormaliser("l2").fit(X)


def test_chi2_kernel_callable_matches_sklearn():
    X, _ = histograms(4, 1)
    np.testing.assert_allclose(Chi2Kernel(0.7)(X, X[:3]), chi2_kernel(X, X[:3], gamma=0.7))


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_kernel_separates_histograms_with_attack_scores(kernel):
    Xtr, ytr = histograms(40, 2)
    Xte, yte = histograms(40, 3)
    model = make_classifier(kernel, C=1.0, norm="l1").fit(Xtr, ytr)
    scores = model.decision_function(Xte)
    assert scores.shape == (80,)
    assert roc_auc_score(yte, scores) > 0.9  # higher = attack (label 1)


def test_chi2_kernels_need_histograms():
    with pytest.raises(ValueError, match="histogram"):
        make_classifier("chi2", norm=None)
    with pytest.raises(ValueError, match="kernel"):
        make_classifier("poly")


def test_tuned_classifier_picks_among_kernels_and_refits():
    X, y = histograms(30, 4)
    model = TunedClassifier(kernels=("linear", "chi2"), C=(0.1, 10), gamma=(1.0,)).fit(X, y)
    assert model.best_score_ > 0.9
    assert len(model.cv_results_) == 2
    assert model.decision_function(X).shape == (60,)
    assert model.classes_.tolist() == [0, 1]


def make_duplicated_records(n_groups: int, copies: int, seed: int):
    """Pure-noise features, each sample duplicated `copies` times under one sha256."""
    rng = np.random.default_rng(seed)
    records, table = [], {}
    for g in range(n_groups):
        row, label = rng.random(10), g % 2
        for c in range(copies):
            r = Presentation(id=f"{g}-{c}", path=f"/x/{g}-{c}.jpg", label=label, sha256=f"h{g}")
            records.append(r)
            table[r.id] = row
    X = np.empty(len(records), dtype=object)
    X[:] = records
    return X, np.array([r.label for r in records]), table


def test_inner_cv_keeps_duplicates_together():
    # Features are noise, so an honest inner CV scores about 0.5. If copies of one image sat on
    # both sides of an inner split, a narrow RBF would recognise them and score about 1.
    X, y, table = make_duplicated_records(40, 4, 5)
    tuned = TunedClassifier(C=(10.0,), gamma=(10.0, 100.0), norm=None)
    pipe = Pipeline([("features", LookupFeatures(table)), ("clf", tuned)])
    # the groups reach the classifier inside the pipeline through metadata routing
    honest = fit_method(clone(pipe), X, y, groups=group_ids(X))["clf"]
    leaky = fit_method(clone(pipe), X, y)["clf"]  # no groups: each sample its own group
    assert leaky.best_score_ > 0.95
    assert honest.best_score_ < 0.75


def test_tuned_classifier_refuses_one_class_and_bad_grids():
    X, y = histograms(5, 6)
    with pytest.raises(ValueError, match="both classes"):
        TunedClassifier().fit(X[:5], y[:5])
    for bad, key in [({"kernels": ("poly",)}, "kernels"), ({"C": (-1.0,)}, "C"),
                     ({"C": ("ten",)}, "C"), ({"inner_splits": 1}, "inner_splits")]:  # fmt: skip
        with pytest.raises(ValueError, match=key):
            TunedClassifier(**bad).fit(X, y)


def test_registry_lists_named_methods_as_pipelines_with_families_and_references():
    assert {"lbp-svm", "lbp-multiscale-svm", "colour-lbp-svm", "fourier-svm", "distortion-svm",
            "lbp-lr", "metadata-audit", "livenessnet", "fusion-zmean"} <= set(METHODS)  # fmt: skip
    for name, m in METHODS.items():
        assert m.name == name and m.family in (
            "handcrafted",
            "cnn",
            "hybrid",
            "transductive",
            "audit",
        )
        assert m.description and isinstance(build_method(name), Pipeline)
    for name in ("lbp-svm", "colour-lbp-svm", "fourier-svm", "distortion-svm", "lbp-lr"):
        assert [s for s, _ in build_method(name).steps] == ["crop", "augment", "features", "clf"]
    assert get_method("metadata-audit").family == "audit"
    with pytest.raises(ValueError, match="known: lbp-svm"):
        get_method("nope")


def test_parameters_are_set_by_step_name_with_defaults_under_each_methods_own():
    params = {
        "lbp-svm": {
            "features__P": 16,
            "features__R": 2,
            "crop__size": 48,
            "clf__kernels": ("chi2",),
        },
        "colour-lbp-svm": {"features__colour_spaces": ("Lab",)},
    }
    est = build_method("lbp-svm", params, {"crop__size": 32, "crop__scale": 1.2})
    assert (est["features"].P, est["features"].R, est["features"].grid) == (16, 2, (3, 3))
    assert (est["crop"].size, est["crop"].scale) == (48, 1.2)  # own entry over the default
    assert est["clf"].kernels == ("chi2",)
    assert build_method("colour-lbp-svm", params)["features"].colour_spaces == ("Lab",)
    # a default the pipeline has no step for is ignored; an own key it lacks is an error
    assert build_method("metadata-audit", {}, {"crop__size": 32})
    with pytest.raises(ValueError, match="no parameter features__Q.*settable: .*features__P"):
        build_method("lbp-svm", {"lbp-svm": {"features__Q": 3}})


def test_extractor_defaults_are_the_methods_defaults():
    """The registry states only departures from each step's own defaults (none drift)."""
    fourier = build_method("fourier-svm")["features"]
    assert fourier.get_params() == type(fourier)().get_params()
    assert (
        build_method("colour-lbp-svm")["features"].get_params()
        == type(build_method("colour-lbp-svm")["features"])().get_params()
    )


def test_colour_lbp_svm_on_real_records(seed600_dir):
    # a small real run: train on 40+40 seed600 images, score 20+20 others
    records = load_dataset(seed600_dir).records
    bona, attack = records[:300], records[300:]
    train, test = bona[:40] + attack[:40], bona[250:270] + attack[250:270]
    X = np.empty(len(train), dtype=object)
    X[:] = train
    Xt = np.empty(len(test), dtype=object)
    Xt[:] = test
    model = build_method(
        "colour-lbp-svm", {"colour-lbp-svm": {"clf__C": (1.0, 10.0), "clf__gamma": (1.0,)}}
    )
    fit_method(model, X, [r.label for r in train], groups=group_ids(X))
    scores = model.decision_function(Xt)
    assert scores.shape == (40,) and np.all(np.isfinite(scores))
    assert roc_auc_score([r.label for r in test], scores) > 0.8


@pytest.mark.parametrize("gamma", ["scale", 2e-4])
def test_gram_rbf_svc_is_sklearns_rbf_svc(gamma):
    """Same decision values and labels as SVC(kernel="rbf"), sample weights and all."""
    rng = np.random.default_rng(1)
    X = np.sqrt(np.vstack([rng.dirichlet(np.ones(2500), 80), rng.dirichlet(np.ones(2500) * 2, 80)]))
    y = np.repeat([0, 1], 80)
    train, test = np.r_[0:60, 80:140], np.r_[60:80, 140:160]
    weights = rng.uniform(0.5, 2.0, 120)
    weights[::7] = 0.0  # left out by libsvm before solving
    ours = GramRBFSVC(C=5.0, gamma=gamma).fit(X[train], y[train], sample_weight=weights)
    svc = SVC(kernel="rbf", C=5.0, gamma=gamma, class_weight="balanced")
    svc.fit(X[train], y[train], sample_weight=weights)
    np.testing.assert_allclose(
        ours.decision_function(X[test]), svc.decision_function(X[test]), rtol=0, atol=1e-9
    )
    assert np.array_equal(ours.predict(X[test]), svc.predict(X[test]))
    np.testing.assert_array_equal(ours.support_vectors_, svc.support_vectors_)  # only those kept
    with pytest.raises(ValueError, match="Only binary"):
        GramRBFSVC().fit(X[:3], [0, 1, 2])


def test_coalbp_svm_on_real_records_tunes_the_same_with_gram_kernels(seed600_dir, monkeypatch):
    """CoALBP's 18,432-long vectors take the BLAS path; the grid search and its scores are the
    same as with libsvm's own kernel."""
    records = load_dataset(seed600_dir).records
    train, test = records[:20] + records[300:320], records[250:260] + records[550:560]
    X, Xt = np.empty(len(train), dtype=object), np.empty(len(test), dtype=object)
    X[:], Xt[:] = train, test
    y = [r.label for r in train]
    params = {"coalbp-svm": {"clf__C": (1.0, 10.0), "clf__gamma": (0.1, 1.0)}}
    fast = fit_method(build_method("coalbp-svm", params), X, y, groups=group_ids(X))
    assert isinstance(fast["clf"].classifier_[-1], GramRBFSVC)
    monkeypatch.setattr(classifiers.svm, "GRAM_FROM", 10**9)
    plain = fit_method(build_method("coalbp-svm", params), X, y, groups=group_ids(X))
    assert type(plain["clf"].classifier_[-1]) is SVC
    for param in ("C", "gamma"):
        assert getattr(plain["clf"].best_params_["clf"], param) == getattr(
            fast["clf"].best_params_["clf"], param
        )
    np.testing.assert_allclose(
        fast.decision_function(Xt), plain.decision_function(Xt), rtol=0, atol=1e-8
    )
