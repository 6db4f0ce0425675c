"""CaptureAugmenter: seeded capture augmentation of training crops, never of scored crops.

scikit-learn's `Pipeline.fit` calls `fit_transform` on the steps before the last, and
`predict`, `decision_function` and `score` call `transform`; `fit_method`
fits the head on the training records and only `transform`s the dev records. These tests
watch the crops that reach the feature step (or a dev-taking final step) on every path.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from benchmarks.config import ConfigError, load_config
from benchmarks.datasets import load_dataset
from benchmarks.splits import group_ids
from classifiers.fitting import fit_method
from classifiers.registry import METHODS, build_method
from features.augmenter import CaptureAugmenter
from features.colour import ColourLBP
from features.faces import FaceCropper


@pytest.fixture(scope="module")
def records(seed_subset_dir):
    """The 50 real seed600 records of the subset (25 bona fide, 25 attacks) and labels."""
    recs = load_dataset(seed_subset_dir).records
    X = np.empty(len(recs), dtype=object)
    X[:] = recs
    return X, np.array([r.label for r in recs])


@pytest.fixture(scope="module")
def crops(records):
    return np.asarray(FaceCropper(size=32).transform(records[0]))


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: does crop a differ from crop b?"""
    return np.any(a.reshape(len(a), -1) != b.reshape(len(b), -1), axis=1)


def test_same_seed_same_crops_other_seed_other_crops_input_kept(crops):
    before = crops.copy()
    a = CaptureAugmenter(p=1.0, random_state=3).fit_transform(crops)
    np.testing.assert_array_equal(a, CaptureAugmenter(p=1.0, random_state=3).fit_transform(crops))
    b = CaptureAugmenter(p=1.0, random_state=4).fit_transform(crops)
    assert a.shape == crops.shape and a.dtype == np.uint8
    assert changed(a, b).mean() > 0.9
    np.testing.assert_array_equal(crops, before)


def test_p_is_the_share_of_crops_replaced_and_zero_is_the_identity(crops):
    assert CaptureAugmenter(p=0.0).fit_transform(crops) is crops
    every = CaptureAugmenter(p=1.0, transform_p=1.0).fit_transform(crops)
    assert changed(every, crops).all()
    half = CaptureAugmenter(p=0.5, transform_p=1.0).fit_transform(crops)
    hit = changed(half, crops)
    assert 0.3 < hit.mean() < 0.7
    # the crops replaced at p = 0.5 are replaced exactly as at p = 1
    np.testing.assert_array_equal(half[hit], every[hit])
    # no transform drawn: a replaced crop is the crop itself
    none = CaptureAugmenter(p=1.0, transform_p=0.0).fit_transform(crops)
    np.testing.assert_array_equal(none, crops)


def test_transforms_limits_the_re_capture_to_the_named_ones(crops):
    """White balance alone scales red and blue and leaves green exactly as it was."""
    wb = CaptureAugmenter(p=1.0, transform_p=1.0, transforms=("colour_temperature",))
    out = wb.fit_transform(crops)
    np.testing.assert_array_equal(out[..., 1], crops[..., 1])
    # a gain drawn near 1 can leave a crop as it was after rounding: most change
    assert changed(out, crops).mean() >= 0.9
    red, blue = (out[..., c].mean((1, 2)) - crops[..., c].mean((1, 2)) for c in (0, 2))
    np.testing.assert_array_equal(np.sign(red), -np.sign(blue))  # red gain 1 + t, blue 1 - t
    everything = CaptureAugmenter(p=1.0, transform_p=1.0).fit_transform(crops)
    assert changed(everything[..., 1], crops[..., 1]).all()


def test_a_crop_is_augmented_the_same_in_any_batch_or_order(crops):
    aug = CaptureAugmenter(p=1.0, random_state=0)
    whole = aug.fit_transform(crops)
    order = np.random.default_rng(0).permutation(len(crops))
    np.testing.assert_array_equal(aug.fit_transform(crops[order]), whole[order])
    np.testing.assert_array_equal(aug.fit_transform(crops[5:9]), whole[5:9])


def test_transform_is_the_identity_whatever_p(crops):
    aug = CaptureAugmenter(p=1.0, transform_p=1.0)
    assert aug.transform(crops) is crops
    assert aug.fit(crops).transform(crops) is crops


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"p": 1.5}, "p must be a probability"),
        ({"p": True}, "p must be a probability"),
        ({"transform_p": -0.1}, "transform_p must be a probability"),
        ({"transforms": ("gamma", "rotate")}, "transforms must be None or a non-empty tuple"),
        ({"transforms": "gamma"}, "transforms must be None or a non-empty tuple"),
        ({"transforms": ()}, "transforms must be None or a non-empty tuple"),
        ({"random_state": -1}, "random_state must be a non-negative int"),
        ({"random_state": None}, "random_state must be a non-negative int"),
    ],
)
def test_bad_parameters_are_refused(crops, params, message):
    with pytest.raises(ValueError, match=message):
        CaptureAugmenter(**params).fit_transform(crops)


def test_crops_that_are_not_uint8_images_are_refused(crops):
    with pytest.raises(ValueError, match="uint8"):
        CaptureAugmenter(p=0.5).fit_transform(crops.astype(float))
    with pytest.raises(ValueError, match="expected shape"):
        CaptureAugmenter(p=0.5).transform(crops[..., 0])


class SeenLBP(ColourLBP):
    """ColourLBP that keeps a copy of every batch of crops it transforms."""

    def transform(self, X: np.ndarray) -> np.ndarray:
        self.seen_.append(np.array(X, copy=True))
        return super().transform(X)


def test_augmentation_reaches_fit_but_never_the_scoring_paths(records):
    X, y = records
    pipe = build_method(
        "colour-lbp-svm",
        {
            "colour-lbp-svm": {
                "augment__p": 1.0,
                "augment__transform_p": 1.0,
                "clf__C": (1.0,),
                "clf__gamma": (1.0,),
            }
        },
        {"crop__size": 32},
    )
    probe = SeenLBP(cache=False)
    probe.seen_ = []
    pipe.set_params(features=probe)
    train, test = np.arange(len(X)) % 5 != 0, np.arange(len(X)) % 5 == 0
    fit_method(pipe, X[train], y[train], groups=group_ids(X[train]))
    clean = FaceCropper(size=32).transform(X)
    (fitted_on,) = probe.seen_
    assert changed(fitted_on, clean[train]).all()
    for score in (pipe.predict, pipe.decision_function):
        probe.seen_.clear()
        score(X[test])
        (scored,) = probe.seen_
        np.testing.assert_array_equal(scored, clean[test])
    probe.seen_.clear()
    pipe.score(X[test], y[test])
    np.testing.assert_array_equal(probe.seen_[0], clean[test])


class DevProbe(ClassifierMixin, BaseEstimator):
    """A final step that takes `dev`, as the CNNs and fusions do; keeps what it was given."""

    def fit(self, X, y, dev=None):
        self.train_, self.dev_ = np.array(X, copy=True), np.array(dev[0], copy=True)
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        return np.zeros(len(X))


def test_fit_method_augments_the_training_crops_but_not_the_dev_crops(records):
    X, y = records
    pipe = Pipeline(
        [
            ("crop", FaceCropper(size=32)),
            ("augment", CaptureAugmenter(p=1.0, transform_p=1.0)),
            ("clf", DevProbe()),
        ]
    )
    train, dev = np.arange(len(X)) % 4 != 0, np.arange(len(X)) % 4 == 0
    fit_method(pipe, X[train], y[train], dev=(X[dev], y[dev]))
    clean = FaceCropper(size=32).transform(X)
    assert changed(pipe["clf"].train_, clean[train]).all()
    np.testing.assert_array_equal(pipe["clf"].dev_, clean[dev])


def test_every_handcrafted_method_has_the_step_and_it_is_off_by_default():
    for name, method in METHODS.items():
        if method.family == "handcrafted":
            steps = build_method(name).named_steps
            assert list(steps) == ["crop", "augment", "features", "clf"], name
            assert steps["augment"].p == 0.0


def test_the_config_sets_and_checks_the_step(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[params.colour-lbp-svm]\naugment__p = 0.5\naugment__random_state = 7\n")
    aug = load_config(good).pipeline("colour-lbp-svm")["augment"]
    assert (aug.p, aug.random_state) == (0.5, 7)
    bad = tmp_path / "bad.toml"
    bad.write_text("[params.colour-lbp-svm]\naugment__p = 1.5\n")
    with pytest.raises(ConfigError, match="p must be a probability") as e:
        load_config(bad)
    assert str(bad) in str(e.value)
    ablation = load_config().ablations["capture_augmentation"]
    assert [v.params["augment__p"] for v in ablation.variants] == [0.0, 0.5, 1.0, 0.5, 0.5]
