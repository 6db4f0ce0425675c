"""TunedClassifier's switch to kernel approximations above `approximate_above` training rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.kernel_approximation import AdditiveChi2Sampler, Nystroem
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, LinearSVC

from benchmarks.datasets import load_dataset
from classifiers.svm import TunedClassifier
from features.faces import FaceCropper
from features.lbp import LBPHistogram


@pytest.fixture(scope="module")
def lbp_features(seed_subset_dir) -> tuple[np.ndarray, np.ndarray]:
    """LBP histograms of 50 real seed600 images, and their labels."""
    ds = load_dataset(seed_subset_dir)
    crops = FaceCropper().transform(ds.records)
    return LBPHistogram(grid=(3, 3)).transform(crops), np.array(ds.labels)


def _steps(clf: TunedClassifier) -> list:
    last = clf.classifier_[-1]
    inner = list(last.named_steps.values()) if isinstance(last, Pipeline) else [last]
    return [type(s) for s in [*clf.classifier_[:-1], *inner]]


def test_switch_happens_strictly_above_the_threshold(lbp_features) -> None:
    F, y = lbp_features
    kw = {"C": (1.0,), "gamma": (1.0,), "approximate_components": 20}
    exact = TunedClassifier(approximate_above=len(y), **kw).fit(F, y)
    assert exact.variant_ == "exact" and SVC in _steps(exact)
    approx = TunedClassifier(approximate_above=len(y) - 1, **kw).fit(F, y)
    assert approx.variant_ == "approximate: Nystroem + LinearSVC"
    assert Nystroem in _steps(approx) and LinearSVC in _steps(approx) and SVC not in _steps(approx)
    never = TunedClassifier(approximate_above=None, **kw).fit(F, y)
    assert never.variant_ == "exact"
    assert approx.decision_function(F).shape == (len(y),)


def test_chi2_becomes_the_additive_chi2_map_and_the_grid_still_runs(lbp_features) -> None:
    F, y = lbp_features
    clf = TunedClassifier(
        kernels=("chi2",), C=(0.1, 1.0), gamma=(0.5, 1.0), inner_splits=2, approximate_above=10
    ).fit(F, y)
    assert clf.variant_ == "approximate: AdditiveChi2Sampler + LinearSVC"
    assert AdditiveChi2Sampler in _steps(clf)
    # The additive kernel has no gamma: the grid is over C alone.
    assert len(clf.cv_results_[0]["params"]) == 2


def test_approximation_ranks_held_out_images_like_the_exact_svm(lbp_features) -> None:
    F, y = lbp_features
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:30], order[30:]
    kw = {"C": (1.0,), "gamma": (1.0,)}
    exact = TunedClassifier(approximate_above=None, **kw).fit(F[train], y[train])
    approx = TunedClassifier(approximate_above=10, approximate_components=30, **kw).fit(
        F[train], y[train]
    )
    auc_exact = roc_auc_score(y[test], exact.decision_function(F[test]))
    auc_approx = roc_auc_score(y[test], approx.decision_function(F[test]))
    assert auc_exact > 0.6
    assert abs(auc_exact - auc_approx) < 0.1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"approximate_above": 0}, "approximate_above"),
        ({"approximate_above": 2.5}, "approximate_above"),
        ({"approximate_components": 5}, "approximate_components"),
    ],
)
def test_bad_approximation_settings_are_refused(params, message) -> None:
    with pytest.raises(ValueError, match=message):
        TunedClassifier(**params)._validate_params()
