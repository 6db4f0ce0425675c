"""Capture-robust augmentation: each transform on real face crops, seeding, training-only use."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.datasets import load_dataset
from classifiers.cnn.estimator import CNNClassifier
from classifiers.cnn.training import capture_augmentation, image_dataset
from features import augment
from features.augment import CAPTURE_RANGES, capture_augment
from features.faces import FaceCropper


@pytest.fixture(scope="module")
def crops(seed_subset_dir):
    """Eight real 48x48 face crops (4 bona fide, 4 attacks)."""
    records = load_dataset(seed_subset_dir).records
    picked = np.array(records[:4] + records[-4:], dtype=object)
    return np.asarray(FaceCropper(size=48).transform(picked))  # an array: the tests do arithmetic


def high_frequency(images: np.ndarray) -> float:
    """Mean squared Laplacian of the grey images: the fine detail a capture chain removes."""
    grey = [cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY) for im in images]
    return float(np.mean([np.mean(cv2.Laplacian(g.astype(np.float64), -1) ** 2) for g in grey]))


def each(fn, images: np.ndarray, *args) -> np.ndarray:
    return np.stack([fn(im, *args) for im in images])


def test_same_seed_same_output_other_seed_differs_and_input_is_kept(crops):
    before = crops.copy()
    a, b = capture_augment(crops, 0), capture_augment(crops, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == crops.shape
    assert not np.array_equal(a, capture_augment(crops, 1))
    assert not np.array_equal(a, crops)
    np.testing.assert_array_equal(crops, before)


def test_probability_zero_is_identity_and_one_always_applies(crops):
    np.testing.assert_array_equal(capture_augment(crops, 0, p=0.0), crops)
    only_gamma = capture_augment(crops, 0, p=1.0, ranges={"gamma": (2.0, 2.0)})
    np.testing.assert_array_equal(only_gamma, each(augment.gamma, crops, 2.0))


def test_gamma_changes_mean_brightness_monotonically(crops):
    means = [each(augment.gamma, crops, g).mean() for g in (0.6, 0.8, 1.0, 1.25, 1.6)]
    assert all(a > b for a, b in zip(means, means[1:], strict=False))
    np.testing.assert_array_equal(each(augment.gamma, crops, 1.0), crops)


def test_colour_temperature_moves_red_and_blue_in_opposite_directions(crops):
    warm = each(augment.colour_temperature, crops, 0.1).astype(float)
    cool = each(augment.colour_temperature, crops, -0.1).astype(float)
    ref = crops.astype(float)
    assert warm[..., 0].mean() > ref[..., 0].mean() > cool[..., 0].mean()
    assert warm[..., 2].mean() < ref[..., 2].mean() < cool[..., 2].mean()
    np.testing.assert_array_equal(warm[..., 1], ref[..., 1])


def test_blur_resampling_and_jpeg_remove_high_frequencies(crops):
    base = high_frequency(crops)
    blurred = [high_frequency(each(augment.blur, crops, s)) for s in (0.5, 1.0, 1.5)]
    assert base > blurred[0] > blurred[1] > blurred[2]
    resampled = [high_frequency(each(augment.resample, crops, s)) for s in (0.8, 0.5, 0.3)]
    assert base > resampled[0] > resampled[1] > resampled[2]
    assert each(augment.resample, crops, 0.3).shape == crops.shape
    assert high_frequency(each(augment.jpeg, crops, 10)) < 0.9 * base
    # a higher quality stays closer to the crop
    err = [np.abs(each(augment.jpeg, crops, q).astype(int) - crops).mean() for q in (95, 50, 10)]
    assert err[0] < err[1] < err[2]


def test_sensor_noise_has_the_stated_signal_dependent_spread():
    rng = np.random.default_rng(0)
    for level in (32, 128):
        flat = np.full((64, 64, 3), level, np.uint8)
        residual = augment.sensor_noise(flat, 4.0, rng).astype(float) - level
        assert residual.mean() == pytest.approx(0, abs=0.2)
        assert residual.std() == pytest.approx(4.0 * np.sqrt(1 + level / 64), rel=0.05)


def test_capture_augment_rejects_bad_arguments(crops):
    with pytest.raises(ValueError, match="unknown capture transform"):
        capture_augment(crops, 0, ranges={"rotate": (0, 1)})
    with pytest.raises(ValueError, match="probability"):
        capture_augment(crops, 0, p=1.5)
    with pytest.raises(ValueError, match="low <= high"):
        capture_augment(crops, 0, ranges={"blur": (2.0, 1.0)})
    with pytest.raises(ValueError, match="uint8"):
        capture_augment(crops.astype(float), 0)
    assert list(CAPTURE_RANGES)[-1] == "jpeg"  # compression comes last, as in a capture chain


# --------------------------------------------------------------------------- CNN input pipeline
def batches(ds) -> list[np.ndarray]:
    return [b[0].numpy() if isinstance(b, tuple) else b.numpy() for b in ds]


def test_tf_data_capture_augmentation_is_seeded_and_only_where_asked(crops):
    y = np.arange(len(crops)) % 2

    def run(seed=None):
        aug = None if seed is None else capture_augmentation(seed)
        ds = image_dataset(crops, y, batch_size=4, shuffle_seed=0, crop_augmentation=aug)
        return np.concatenate(batches(ds) + batches(ds))  # two epochs

    plain, a, b, c = run(), run(0), run(0), run(1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, plain)
    assert not np.array_equal(a[: len(crops)], a[len(crops) :])  # fresh draws each epoch
    # without it, the pipeline only rescales (scoring and dev data take this path)
    np.testing.assert_allclose(np.sort(plain[: len(crops)].ravel()), np.sort(crops.ravel()) / 255)


def test_capture_augmented_training_leaves_dev_data_alone():
    """The dev loss Keras reports is that of the untouched dev crops (as scored later)."""
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    X = np.clip(rng.normal(120, 20, (64, 32, 32, 3)) + 30 * y[:, None, None, None], 0, 255)
    X = X.astype(np.uint8)
    clf = CNNClassifier(
        augment="flip+capture", epochs=2, batch_size=16, fit_cache=False, patience=2
    ).fit(X[:48], y[:48], dev=(X[48:], y[48:]))
    p = 1 / (1 + np.exp(-clf.decision_function(X[48:])))
    bce = -np.mean(y[48:] * np.log(p) + (1 - y[48:]) * np.log(1 - p))
    assert bce == pytest.approx(min(clf.history_["val_loss"]), rel=1e-3)
    with pytest.raises(ValueError, match="augment must be one of"):
        CNNClassifier(augment="colour").fit(X, y)
