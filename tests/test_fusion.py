"""Hybrids: score fusion fitted on development scores only, and CNN embeddings + SVM."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from benchmarks.datasets.demo import synthetic_demo
from benchmarks.harness import evaluate_method
from benchmarks.splits import make_folds
from classifiers.cnn.estimator import CNNClassifier
from classifiers.fusion import (
    DeepFeatureSVM,
    ScoreFusion,
    SourceEnsemble,
)
from classifiers.registry import METHODS, build_method, get_method, members
from features.colour import ColourLBP
from features.records import Presentation


class ExtraLR(ClassifierMixin, BaseEstimator):
    """Logistic regression on one number stored in each record's `extra[key]` (no images)."""

    def __init__(self, key: str = "a") -> None:
        self.key = key

    def _x(self, X) -> np.ndarray:
        return np.array([[float(r.extra[self.key])] for r in X])

    def fit(self, X, y):
        self.lr_ = LogisticRegression().fit(self._x(X), y)
        self.classes_ = self.lr_.classes_
        return self

    def decision_function(self, X):
        return self.lr_.decision_function(self._x(X))


class DevSpy(ExtraLR):
    """ExtraLR that remembers the ids of the dev records it was given."""

    def fit(self, X, y, dev=None):
        self.dev_ids_ = None if dev is None else [r.id for r in dev[0]]
        return super().fit(X, y)


class WeightSpy(ExtraLR):
    """ExtraLR that remembers the sample weights it was given."""

    __metadata_request__fit = {"sample_weight": True}  # noqa: RUF012 - scikit-learn's declaration

    def fit(self, X, y, sample_weight=None):
        self.weights_ = sample_weight
        return super().fit(X, y)


def make_records(n: int = 120, seed: int = 0) -> list[Presentation]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % 2
        out.append(
            Presentation(
                id=f"r{i:03d}",
                path=Path(f"/nowhere/r{i:03d}.png"),
                label=label,
                sha256=f"{i:064x}",
                subject=f"s{i // 2}",
                extra={
                    "a": repr(rng.normal(1.0 * label, 1)),
                    "b": repr(rng.normal(-3.0 * label, 4)),
                },
            )
        )
    return out


RECORDS = make_records()
X_ALL = np.array(RECORDS, dtype=object)
Y_ALL = np.array([r.label for r in RECORDS])
TRAIN, DEV, TEST = np.arange(0, 60), np.arange(60, 90), np.arange(90, 120)


def pair(method: str) -> ScoreFusion:
    return ScoreFusion([("a", ExtraLR("a")), ("b", DevSpy("b"))], method=method)


def flip_labels(records: list[Presentation], idx: np.ndarray) -> list[Presentation]:
    out = list(records)
    for i in idx:
        out[i] = dataclasses.replace(out[i], label=1 - out[i].label)
    return out


# --------------------------------------------------------------------------- ScoreFusion
def test_fusion_refuses_to_fit_without_dev():
    with pytest.raises(ValueError, match="dev=\\(X_dev, y_dev\\)"):
        pair("zmean").fit(X_ALL[TRAIN], Y_ALL[TRAIN])


def test_fusion_checks_its_arguments():
    dev = (X_ALL[DEV], Y_ALL[DEV])
    with pytest.raises(ValueError, match="unknown fusion method"):
        pair("max").fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=dev)
    with pytest.raises(ValueError, match="two uniquely named"):
        ScoreFusion([("a", ExtraLR()), ("a", ExtraLR())]).fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=dev)
    with pytest.raises(ValueError, match="dev has 30 items but 5 labels"):
        pair("zmean").fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=(X_ALL[DEV], Y_ALL[DEV][:5]))


def test_zmean_normalises_with_dev_score_statistics():
    f = pair("zmean").fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=(X_ALL[DEV], Y_ALL[DEV]))
    bases = [est for _, est in f.estimators_]
    # Base estimators are fitted on TRAIN only (same as fitting them alone on train).
    alone = ExtraLR("a").fit(X_ALL[TRAIN], Y_ALL[TRAIN])
    np.testing.assert_allclose(bases[0].lr_.coef_, alone.lr_.coef_)
    assert bases[1].dev_ids_ == [r.id for r in X_ALL[DEV]]  # dev passed on to a dev-aware base
    dev_scores = np.column_stack([b.decision_function(X_ALL[DEV]) for b in bases])
    np.testing.assert_allclose(f.mean_, dev_scores.mean(axis=0))
    np.testing.assert_allclose(f.scale_, dev_scores.std(axis=0))
    test_scores = np.column_stack([b.decision_function(X_ALL[TEST]) for b in bases])
    expected = ((test_scores - f.mean_) / f.scale_).mean(axis=1)
    np.testing.assert_allclose(f.decision_function(X_ALL[TEST]), expected)
    # attack-score convention holds for the fused score
    fused = f.decision_function(X_ALL[TEST])
    assert fused[Y_ALL[TEST] == 1].mean() > fused[Y_ALL[TEST] == 0].mean()


def test_stacking_is_a_logistic_regression_fitted_on_dev_scores():
    f = pair("stacking").fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=(X_ALL[DEV], Y_ALL[DEV]))
    Z = (f.base_scores(X_ALL[DEV]) - f.mean_) / f.scale_
    ref = LogisticRegression(class_weight="balanced").fit(Z, Y_ALL[DEV])
    np.testing.assert_allclose(f.stacker_.coef_, ref.coef_)
    np.testing.assert_allclose(f.weights_, ref.coef_[0])
    # Other dev labels give another stacker: the dev labels are what it learns from.
    other = pair("stacking").fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=(X_ALL[DEV], Y_ALL[DEV][::-1]))
    assert not np.allclose(other.stacker_.coef_, f.stacker_.coef_)


@pytest.mark.parametrize("method", ["zmean", "stacking"])
def test_test_labels_never_reach_the_fusion(method):
    """Through the harness: flipping every TEST label changes no fused score of dev or test."""
    fold = dataclasses.make_dataclass("Fold", ["index", "train", "dev", "test"])(
        0, TRAIN, DEV, TEST
    )
    runs = [
        evaluate_method(pair(method), recs, [fold], "fusion", "hybrid", progress=False, n_boot=10)
        for recs in (RECORDS, flip_labels(RECORDS, TEST))
    ]
    a, b = (r.scores.take(np.argsort(r.scores.sample_id, kind="stable")) for r in runs)
    assert not np.array_equal(a.label, b.label)  # the test labels did differ
    np.testing.assert_array_equal(a.score, b.score)


# --------------------------------------------------------------------------- SourceEnsemble
def in_datasets(records, names: list[str]) -> np.ndarray:
    """The records with `extra["dataset"]` set to names[i]."""
    tagged = [
        dataclasses.replace(r, extra={**r.extra, "dataset": name})
        for r, name in zip(records, names, strict=True)
    ]
    return np.array(tagged, dtype=object)


# alternate 30-record blocks of "x" and "y" (labels alternate, so each block holds both classes)
SOURCES = in_datasets(RECORDS, [["x", "y"][(i // 30) % 2] for i in range(120)])
SPLIT = (np.arange(120) // 2) % 4  # train 0-1, dev 2, test 3: each part holds both datasets
# and both classes of each
TR, DV, TE = np.flatnonzero(SPLIT < 2), np.flatnonzero(SPLIT == 2), np.flatnonzero(SPLIT == 3)


def test_source_ensemble_fits_one_expert_per_training_dataset():
    X, y = SOURCES, Y_ALL
    ens = SourceEnsemble(DevSpy("a")).fit(X[TR], y[TR], dev=(X[DV], y[DV]))
    assert [name for name, _ in ens.estimators_] == ["x", "y"]
    for name, expert in ens.estimators_:
        own = [i for i in TR if X[i].extra["dataset"] == name]
        alone = ExtraLR("a").fit(X[own], y[own])  # the expert saw its dataset's records only
        np.testing.assert_allclose(expert.lr_.coef_, alone.lr_.coef_)
        assert expert.dev_ids_ == [X[i].id for i in DV if X[i].extra["dataset"] == name]
    # fused as ScoreFusion does: the mean of the experts' z-scores, statistics from all of dev
    dev_scores = np.column_stack([e.decision_function(X[DV]) for _, e in ens.estimators_])
    np.testing.assert_allclose(ens.mean_, dev_scores.mean(axis=0))
    test_scores = np.column_stack([e.decision_function(X[TE]) for _, e in ens.estimators_])
    expected = ((test_scores - ens.mean_) / ens.scale_).mean(axis=1)
    np.testing.assert_allclose(ens.decision_function(X[TE]), expected)
    assert len({tuple(e.lr_.coef_.ravel()) for _, e in ens.estimators_}) == 2


def test_source_ensemble_of_one_dataset_is_the_method_itself():
    ens = SourceEnsemble(ExtraLR("a")).fit(X_ALL[TRAIN], Y_ALL[TRAIN], dev=(X_ALL[DEV], Y_ALL[DEV]))
    (name, expert), alone = ens.estimators_[0], ExtraLR("a").fit(X_ALL[TRAIN], Y_ALL[TRAIN])
    assert len(ens.estimators_) == 1 and name == ""
    np.testing.assert_allclose(expert.lr_.coef_, alone.lr_.coef_)
    raw = alone.decision_function(X_ALL[TEST])
    np.testing.assert_allclose(ens.decision_function(X_ALL[TEST]), (raw - ens.mean_) / ens.scale_)


def test_source_ensemble_rescales_the_weights_within_each_source():
    X, y = SOURCES, Y_ALL
    w = np.where([r.extra["dataset"] == "x" for r in X], 0.5, 3.0) * (1 + np.arange(120) % 3)
    ens = SourceEnsemble(WeightSpy("a")).fit(X[TR], y[TR], dev=(X[DV], y[DV]), sample_weight=w[TR])
    for name, expert in ens.estimators_:  # each source's weights, rescaled to mean 1
        own = [i for i in TR if X[i].extra["dataset"] == name]
        np.testing.assert_allclose(expert.weights_, w[own] / w[own].mean())
    with pytest.raises(ValueError, match="5 sample weights for 60 records"):
        SourceEnsemble(WeightSpy()).fit(X[TR], y[TR], dev=(X[DV], y[DV]), sample_weight=w[:5])
    zero = np.where([X[i].extra["dataset"] == "y" for i in TR], 0.0, 1.0)
    with pytest.raises(ValueError, match="weights of training dataset 'y' are all zero"):
        SourceEnsemble(WeightSpy()).fit(X[TR], y[TR], dev=(X[DV], y[DV]), sample_weight=zero)


def test_an_expert_whose_dev_part_is_of_one_class_stops_on_all_of_dev():
    X, y = SOURCES, Y_ALL
    dev = [i for i in DV if X[i].extra["dataset"] == "x" or y[i] == 1]  # y's dev: attacks only
    ens = SourceEnsemble(DevSpy("a")).fit(X[TR], y[TR], dev=(X[dev], y[dev]))
    experts = dict(ens.estimators_)
    assert experts["x"].dev_ids_ == [X[i].id for i in dev if X[i].extra["dataset"] == "x"]
    assert experts["y"].dev_ids_ == [X[i].id for i in dev]


def test_source_ensemble_refuses_a_source_of_one_class_by_name():
    X, y = SOURCES, Y_ALL
    one_class = [i for i in TR if X[i].extra["dataset"] == "x" or y[i] == 1]
    with pytest.raises(ValueError, match="training dataset 'y' holds one class only"):
        SourceEnsemble(ExtraLR()).fit(X[one_class], y[one_class], dev=(X[DV], y[DV]))
    with pytest.raises(ValueError, match="SourceEnsemble needs dev"):
        SourceEnsemble(ExtraLR()).fit(X[TR], y[TR])


def test_per_source_methods_wrap_the_configured_method():
    params = {"livenessnet": {"clf__epochs": 3}, "per-source:livenessnet": {"sources__C": 2.0}}
    pipe = build_method("per-source:livenessnet", params)
    assert get_method("per-source:livenessnet").family == "cnn"
    assert get_method("per-source:colour-lbp-svm").family == "handcrafted"
    ens = pipe["sources"]
    assert isinstance(ens, SourceEnsemble) and ens.C == 2.0 and ens.method == "zmean"
    assert ens.estimator["clf"].epochs == 3  # the member is livenessnet as configured
    bad = ("nope", "per-source:lbp-svm", "onnx:m", "colour-lbp-svm-transductive")
    for base in bad:
        with pytest.raises(ValueError, match="write per-source:<method>"):
            get_method(f"per-source:{base}")


def test_members_lists_what_a_method_is_built_from_each_once():
    assert members("lbp-svm") == [] and members("livenessnet-tuned") == ["livenessnet"]
    assert members("fusion-stacking") == ["colour-lbp-svm", "livenessnet"]
    assert members("deep-features-svm") == ["livenessnet"]
    assert members("per-source:fusion-zmean") == ["fusion-zmean", "colour-lbp-svm", "livenessnet"]


# --------------------------------------------------------------------------- real members
@pytest.fixture(scope="module")
def demo():
    ds = synthetic_demo(n_faces=30)
    return ds.records, make_folds(ds.records, k=3, seed=0)[0]


def test_fusion_of_colour_lbp_svm_and_a_cnn_on_demo_records(demo):
    records, fold = demo

    params = {
        "colour-lbp-svm": {"clf__C": (1.0,), "clf__gamma": (1.0,)},
        "livenessnet": {"clf__epochs": 2, "clf__fit_cache": False},
    }
    est = build_method("fusion-stacking", params, {"crop__size": 32})
    runs = [
        evaluate_method(est, recs, [fold], "fusion", "hybrid", progress=False, n_boot=10)
        for recs in (records, flip_labels(records, fold.test))
    ]
    a, b = (r.scores.take(np.argsort(r.scores.sample_id, kind="stable")) for r in runs)
    assert not np.array_equal(a.label, b.label)
    np.testing.assert_array_equal(a.score, b.score)
    assert np.isfinite(a.score).all()


def test_deep_features_svm_fits_the_svm_on_training_embeddings():
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    stripes = 45 * np.sin(2 * np.pi * np.arange(32) / 3.0)[None, None, :, None]
    X = rng.uniform(60, 190, (120, 1, 1, 3)) + y[:, None, None, None] * stripes
    X = np.clip(X + rng.normal(0, 4, (120, 32, 32, 3)), 0, 255).astype(np.uint8)
    cnn = CNNClassifier(augment=False, epochs=4, batch_size=8, fit_cache=False)
    est = DeepFeatureSVM(cnn=cnn).fit(X[:64], y[:64], dev=(X[64:88], y[64:88]))
    assert est.cnn is cnn and not hasattr(cnn, "model_")  # the given CNN is cloned, not fitted
    scaler = est.svm_.named_steps["standardscaler"]
    np.testing.assert_allclose(scaler.mean_, est.cnn_.embed(X[:64]).mean(axis=0), rtol=1e-5)
    assert scaler.n_features_in_ == 64
    scores = est.decision_function(X[88:])
    assert scores.shape == (32,)
    assert roc_auc_score(y[88:], scores) > 0.9


def test_hybrids_are_built_from_the_configured_member_methods():
    hybrids = {n for n, m in METHODS.items() if m.family == "hybrid"}
    assert hybrids == {"fusion-zmean", "fusion-stacking", "deep-features-svm"}
    params = {
        "colour-lbp-svm": {"crop__detector": "thorough", "clf__C": (5.0,)},
        "livenessnet": {"clf__epochs": 3, "crop__size": 48},
    }
    zmean = build_method("fusion-zmean", params)["fusion"]
    assert zmean.method == "zmean"
    assert build_method("fusion-stacking")["fusion"].method == "stacking"
    (name_a, lbp), (name_b, cnn) = zmean.estimators
    assert (name_a, name_b) == ("colour-lbp-svm", "livenessnet")
    # the settings of the member methods reach the fusion's members (they used not to)
    assert isinstance(lbp["features"], ColourLBP) and lbp["crop"].detector == "thorough"
    assert lbp["clf"].C == (5.0,)
    assert isinstance(cnn["clf"], CNNClassifier) and cnn["clf"].epochs == 3
    assert cnn["crop"].size == 48
    dfs = build_method("deep-features-svm", params)
    assert dfs["crop"].size == 48 and dfs["clf"].cnn.epochs == 3
    # and the fusion's own parameters are set under its step name
    stacked = build_method("fusion-stacking", {"fusion-stacking": {"fusion__C": 0.5}})
    assert stacked["fusion"].C == 0.5
