"""The custom layers and the stronger CNNs: central difference convolution, in-graph colour
spaces, patches, gradient reversal, the MobileNet-style CDC network, keras.applications
backbones, seed ensembles, domain-adversarial training, safe-mode persistence.

Networks are tiny (32 px, one or two epochs, a few dozen crops) so the file stays fast.
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from PIL import Image
from scipy.signal import correlate2d
from sklearn.pipeline import Pipeline

from classifiers.cnn import models
from classifiers.cnn.estimator import CNNClassifier
from classifiers.cnn.layers import (
    CentralDifferenceConv2D,
    CentralDifferenceDepthwiseConv2D,
    ColourSpaces,
    GradientReversal,
    Patches,
    PatchMean,
)
from classifiers.cnn.search import CNNSearch, _resize
from classifiers.cnn.training import set_global_seed
from classifiers.fusion import ScoreFusion, SourceEnsemble
from classifiers.registry import METHODS, build_method
from features.crops import CropSequence
from features.faces import FaceCropper
from features.records import Presentation, file_sha256
from tests.test_cnn import easy_set


def reference_cdc(x: np.ndarray, w: np.ndarray, theta: float) -> np.ndarray:
    """CDCN's definition, literally: sum over input channels of the 'same' (zero-padded)
    cross-correlation, minus theta * x_centre * sum(w). x (H, W, Cin), w (k, k, Cin, Cout)."""
    out = np.zeros(x.shape[:2] + (w.shape[3],))
    for co in range(w.shape[3]):
        for ci in range(w.shape[2]):
            conv = correlate2d(x[..., ci], w[..., ci, co], mode="same")
            out[..., co] += conv - theta * x[..., ci] * w[..., ci, co].sum()
    return out


def test_cdc_conv_equals_the_reference_computation_and_strides_stay_aligned():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 9, 9, 2)).astype("float32")
    layer = CentralDifferenceConv2D(4, 3, padding="same", use_bias=False, theta=0.7)
    layer.build(x.shape)
    w = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    layer.set_weights([w])
    expected = reference_cdc(x[0].astype(float), w.astype(float), 0.7)
    np.testing.assert_allclose(np.asarray(layer(x))[0], expected, atol=1e-4)
    # stride 2 'valid': the reference at the centres of the visited 3x3 windows
    strided = CentralDifferenceConv2D(4, 3, strides=2, use_bias=False, theta=0.7)
    strided.build(x.shape)
    strided.set_weights([w])
    np.testing.assert_allclose(np.asarray(strided(x))[0], expected[1:-1:2, 1:-1:2], atol=1e-4)


def test_cdc_with_theta_zero_is_a_plain_convolution():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    cdc = CentralDifferenceConv2D(5, 3, padding="same", theta=0.0)
    plain = keras.layers.Conv2D(5, 3, padding="same")
    cdc.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(cdc.get_weights())
    np.testing.assert_allclose(np.asarray(cdc(x)), np.asarray(plain(x)), atol=1e-5)
    with pytest.raises(ValueError, match="odd kernel"):
        CentralDifferenceConv2D(4, 2)
    with pytest.raises(ValueError, match="theta"):
        CentralDifferenceConv2D(4, 3, theta=1.5)


def test_cdc_depthwise_equals_the_reference_per_channel():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 7, 7, 3)).astype("float32")
    layer = CentralDifferenceDepthwiseConv2D(3, padding="same", theta=0.7)
    layer.build(x.shape)
    w = rng.normal(size=(3, 3, 3, 1)).astype("float32")
    bias = rng.normal(size=(3,)).astype("float32")
    layer.set_weights([w, bias])
    expected = np.stack(
        [reference_cdc(x[0, ..., c : c + 1], w[:, :, c : c + 1, :], 0.7)[..., 0] for c in range(3)],
        axis=-1,
    )
    np.testing.assert_allclose(np.asarray(layer(x))[0], expected + bias, atol=1e-4)


def test_colour_spaces_match_opencv(seed_subset_dir):
    from benchmarks.datasets import load_dataset
    from features.faces import FaceCropper

    records = load_dataset(seed_subset_dir).records
    crops = FaceCropper(size=32).transform(np.array(records[:2] + records[-2:], dtype=object))
    rgb = np.asarray(crops, dtype="float32") / 255.0
    out = np.asarray(ColourSpaces(("RGB", "HSV", "YCbCr"))(rgb))
    assert out.shape == (4, 32, 32, 9)
    np.testing.assert_allclose(out[..., :3], rgb, atol=1e-6)
    for im, got in zip(rgb, out, strict=True):
        hsv = cv2.cvtColor(im, cv2.COLOR_RGB2HSV)  # float: H in degrees, S and V in [0, 1]
        ycrcb = cv2.cvtColor(im, cv2.COLOR_RGB2YCrCb)
        np.testing.assert_allclose(got[..., 4:6], hsv[..., 1:], atol=1e-4)
        coloured = hsv[..., 1] > 0.05  # hue is undefined on greys
        dh = np.abs(got[..., 3] * 360 - hsv[..., 0])[coloured]
        assert np.minimum(dh, 360 - dh).max() < 0.5
        np.testing.assert_allclose(got[..., 6:], ycrcb[..., [0, 2, 1]], atol=2e-3)
    with pytest.raises(ValueError, match="spaces"):
        ColourSpaces(("Lab",))


# --------------------------------------------------------------------------- architectures
def test_mobilenet_cdc_shapes_and_parameter_count():
    def bn(c):
        return 4 * c

    for colour, channels in (("rgb", 3), ("hsv-ycbcr", 6)):
        model = models.mobilenet_cdc(48, colour)
        expected = 9 * channels * 16 + bn(16)
        cin = 16
        for cout, _ in models.MOBILENET_CDC_BLOCKS:
            expected += 9 * cin + bn(cin) + cin * cout + bn(cout)
            cin = cout
        expected += cin + 1
        assert model.count_params() == expected
        assert model.output.shape[1:] == (1,)
        assert model.get_layer("embedding").output.shape[1:] == (cin,)
    assert models.mobilenet_cdc(48, theta=0.0).get_layer("stem_cdc").theta == 0.0
    with pytest.raises(ValueError, match="colour"):
        models.mobilenet_cdc(48, "lab")


def test_colour_option_leaves_the_existing_architectures_as_they_were():
    assert models.liveness_net(64).count_params() == models.liveness_net(64, "rgb").count_params()
    assert "colour_spaces" not in [layer.name for layer in models.liveness_net(64).layers]
    hsv = models.liveness_net(64, "hsv-ycbcr")
    assert hsv.get_layer("colour_spaces").output.shape[-1] == 6


def test_backbones_build_without_weights_and_save_in_safe_mode(tmp_path):
    effnet = models.ARCHITECTURES["efficientnetb0"](32)
    assert effnet.get_layer("embedding").output.shape[1:] == (1280,)
    model = models.ARCHITECTURES["mobilenetv3small"](32)
    assert model.output.shape[1:] == (1,) and model.get_layer("logit").units == 1
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_a_failed_weights_download_is_a_clear_error_with_a_timeout(monkeypatch, tmp_path):
    seen = {}

    def offline(**kwargs):
        seen["timeout"] = socket.getdefaulttimeout()
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", offline)
    before = socket.getdefaulttimeout()
    with pytest.raises(ValueError, match="pretrained='/path/to/weights.h5'"):
        models.pretrained_backbone("mobilenetv3small", 96, weights="imagenet")
    assert seen["timeout"] == models.DOWNLOAD_TIMEOUT
    assert socket.getdefaulttimeout() == before
    with pytest.raises(ValueError, match="does not exist"):
        models.pretrained_backbone("mobilenetv3small", 96, weights=str(tmp_path / "none.h5"))
    with pytest.raises(ValueError, match="RGB"):
        models.pretrained_backbone("mobilenetv3small", 96, colour="hsv-ycbcr")
    with pytest.raises(ValueError, match="backbone architecture"):
        CNNClassifier(pretrained="imagenet")._validate_params()


# --------------------------------------------------------------------------- estimator
def test_mobilenet_cdc_trains_saves_and_loads_in_safe_mode(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    X = np.clip(rng.normal(120, 25, (48, 32, 32, 3)) + 40 * y[:, None, None, None], 0, 255)
    X = X.astype(np.uint8)
    clf = CNNClassifier(
        "mobilenet-cdc",
        colour="hsv-ycbcr",
        augment="flip+capture",
        label_smoothing=0.1,
        lr_schedule="cosine",
        epochs=2,
        batch_size=16,
        fit_cache=False,
    ).fit(X[:32], y[:32], dev=(X[32:], y[32:]))
    assert clf.n_epochs_ == 2
    clf.save(tmp_path / "cdc.keras")
    loaded = CNNClassifier.load(tmp_path / "cdc.keras")  # safe_mode=True inside
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))
    assert loaded.get_params() == clf.get_params()
    assert loaded.embed(X).shape == (48, models.MOBILENET_CDC_BLOCKS[-1][0])


def test_new_parameters_are_validated():
    for bad in (
        {"colour": "lab"},
        {"theta": 2.0},
        {"label_smoothing": 0.9},
        {"lr_schedule": "step"},
        {"architecture": "livenessnet", "pretrained": "imagenet"},
        {"architecture": "efficientnetb0", "colour": "hsv-ycbcr"},
        {"patch": 4},
        {"patch": True},
        {"patch": 16.0},
        {"n_seeds": 0},
        {"n_seeds": 17},
        {"n_seeds": True},
        {"seed": 2**32 - 1, "n_seeds": 2},
        {"domain_adversarial": -0.5},
        {"domain_adversarial": 11.0},
        {"domain_adversarial": "yes"},
    ):
        name = next(iter(bad.keys() - {"architecture", "seed"}))
        with pytest.raises(ValueError, match=name if name != "pretrained" else "backbone"):
            CNNClassifier(**bad)._validate_params()


def test_new_parameters_reach_the_fit_cache_key_only_when_set():
    X = np.zeros((4, 32, 32, 3), np.uint8)
    y = np.array([0, 1, 0, 1])
    default = CNNClassifier()._fit_path(X, y, None, None)
    same = CNNClassifier(colour="rgb", lr_schedule="plateau", domain_adversarial=0.0)
    assert same._fit_path(X, y, None, None) == default
    changed_params = ({"colour": "hsv-ycbcr"}, {"label_smoothing": 0.1}, {"augment": "capture"})
    for changed in (*changed_params, {"patch": 16}, {"domain_adversarial": 0.5}):
        assert CNNClassifier(**changed)._fit_path(X, y, None, None) != default


def test_registry_entry_builds_a_96_px_mobilenet_cdc():
    assert METHODS["mobilenet-cdc"].family == "cnn"
    pipe = build_method("mobilenet-cdc")
    assert pipe["crop"].size == 96 and pipe["clf"].architecture == "mobilenet-cdc"
    assert pipe["clf"].augment == "flip+capture" and pipe["clf"].lr_schedule == "cosine"


# --------------------------------------------------------------------------- patches
def windows(crop: np.ndarray, size: int) -> dict[bytes, tuple[int, int]]:
    """Every size x size window of `crop` -> its (row, column) offset."""
    side = crop.shape[0]
    return {
        crop[i : i + size, j : j + size].tobytes(): (i, j)
        for i in range(side - size + 1)
        for j in range(side - size + 1)
    }


@pytest.mark.parametrize(("side", "starts"), [(40, [0, 8, 16, 24]), (37, [0, 8, 16, 21])])
def test_patches_cover_the_crop_with_a_grid_at_inference(side, starts):
    crops = np.random.default_rng(0).random((3, side, side, 2)).astype("float32")
    layer = Patches(16, 8)
    assert layer.starts(side) == starts  # the last row and column flush with the edge
    out = np.asarray(layer(crops, training=False))
    assert out.shape == (len(starts) ** 2 * 3, 16, 16, 2)
    places = [(i, j) for i in starts for j in starts]
    for g, (i, j) in enumerate(places):  # grid place after grid place, each crop in order
        for b in range(3):
            np.testing.assert_array_equal(out[g * 3 + b], crops[b, i : i + 16, j : j + 16])
    with pytest.raises(ValueError, match="at least that big"):
        layer(crops[:, :12, :12], training=False)


def test_patches_take_one_random_window_per_crop_in_training():
    crops = np.random.default_rng(1).random((4, 24, 24, 3)).astype("float32")
    layer = Patches(10, 5, seed=3)
    seen = [set() for _ in crops]
    for _ in range(6):
        out = np.asarray(layer(crops, training=True))
        assert out.shape == (4, 10, 10, 3)
        for b, patch in enumerate(out):
            seen[b].add(windows(crops[b], 10)[patch.tobytes()])  # KeyError if not a window
    assert all(len(places) > 1 for places in seen)  # drawn afresh at every call
    assert len({frozenset(places) for places in seen}) > 1  # and independently per crop


def test_patch_mean_averages_each_crops_patches_back():
    rng = np.random.default_rng(2)
    crops = rng.random((3, 20, 20, 1)).astype("float32")
    features = rng.random((4 * 3, 5)).astype("float32")  # 4 grid places x 3 crops
    out = np.asarray(PatchMean()([features, crops], training=False))
    np.testing.assert_allclose(out, features.reshape(4, 3, 5).mean(axis=0), rtol=1e-6)
    training = np.asarray(PatchMean()([features[:3], crops], training=True))
    np.testing.assert_array_equal(training, features[:3])


@pytest.mark.parametrize("architecture", ["livenessnet", "mobilenet-cdc"])
def test_a_patch_network_scores_a_crop_by_its_patches_mean_logit(architecture, tmp_path):
    X, y = easy_set(40, 32, seed=3)
    clf = CNNClassifier(architecture, patch=16, epochs=2, batch_size=16, fit_cache=False)
    clf.fit(X[:28], y[:28], dev=(X[28:], y[28:]))
    # training drew one set of random places per step (2 epochs of 2 batches), dev drew none
    steps = np.asarray(clf.model_.get_layer("patches").seed_generator.state)[1]
    assert steps == clf.n_epochs_ * 2 == 4
    assert clf.model_.input_shape == (None, 32, 32, 3)
    assert clf.model_.get_layer("patches").output.shape[1:3] == (16, 16)
    # the logit of each grid patch on its own (the layer before the patch mean), averaged
    mean = clf.model_.get_layer(models.PATCH_MEAN)
    per_patch = keras.Model(clf.model_.inputs, mean.input[0])
    kernel, bias = clf.model_.get_layer(models.LOGIT).get_weights()
    logits = np.asarray(per_patch([X.astype("float32") / 255], training=False)) @ kernel + bias
    expected = logits.reshape(9, 40).mean(axis=0)  # grid 0, 8, 16 on each side
    np.testing.assert_allclose(clf.decision_function(X), expected, rtol=1e-4, atol=1e-5)
    assert clf.embed(X).shape == (40, mean.output.shape[-1])
    clf.save(tmp_path / "patch.keras")
    loaded = CNNClassifier.load(tmp_path / "patch.keras")  # safe mode
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))
    with pytest.raises(ValueError, match="smaller than the crops"):
        CNNClassifier(architecture, patch=32, epochs=1).fit(X, y)


# --------------------------------------------------------------------------- seed ensembles
def test_a_seed_ensemble_is_its_networks_averaged_each_an_ordinary_cached_fit(tmp_path):
    X, y = easy_set(40, 32, seed=4)
    train, dev = (X[:28], y[:28]), (X[28:], y[28:])
    settings = {"architecture": "livenessnet", "epochs": 2, "batch_size": 16}
    single = CNNClassifier(seed=5, **settings).fit(*train, dev=dev)
    ensemble = CNNClassifier(seed=5, n_seeds=2, **settings).fit(*train, dev=dev)
    assert not ensemble.reused_fit_  # seed 5 came from the cache, seed 6 did not
    other = CNNClassifier(seed=6, **settings).fit(*train, dev=dev)
    assert other.reused_fit_  # the ensemble's second network is the plain seed-6 fit
    mean = (single.decision_function(X) + other.decision_function(X)) / 2
    np.testing.assert_allclose(ensemble.decision_function(X), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ensemble.embed(X), np.hstack([single.embed(X), other.embed(X)]))
    assert ensemble.n_epochs_ == max(single.n_epochs_, other.n_epochs_)
    assert ensemble.best_epoch_ == max(single.best_epoch_, other.best_epoch_)
    assert ensemble.history_["seed6_val_loss"] == other.history_["val_loss"]
    assert CNNClassifier(seed=5, n_seeds=2, **settings).fit(*train, dev=dev).reused_fit_
    ensemble.save(tmp_path / "seeds.keras")
    loaded = CNNClassifier.load(tmp_path / "seeds.keras")  # safe mode
    np.testing.assert_array_equal(loaded.decision_function(X), ensemble.decision_function(X))
    assert loaded.n_seeds == 2


# --------------------------------------------------------------------------- domain-adversarial
def test_gradient_reversal_passes_values_and_reverses_gradients():
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).normal(size=(3, 5)), tf.float32)
    c = tf.constant(np.random.default_rng(1).normal(size=(3, 5)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = GradientReversal(0.7)(x)
        loss = tf.reduce_sum(y * c)
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -0.7 * c.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="weight"):
        GradientReversal(-1.0)


def two_domains(n: int, size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`easy_set` crops whose second domain (every other pair) is 50 levels brighter."""
    X, y = easy_set(n, size)
    d = (np.arange(n) // 2) % 2
    X = np.where(d[:, None, None, None] == 1, np.clip(X.astype(int) + 50, 0, 255), X)
    return X.astype(np.uint8), y, d


def test_the_reversal_makes_the_features_defeat_the_domain_classifier():
    """Without reversal (weight 0) the domain head learns the brightness offset (its loss falls
    below chance, ln 2); with it the features are trained against the head, whose loss stays
    above chance."""
    X, y, d = two_domains(128)
    last = {}
    for weight in (0.0, 1.0):
        set_global_seed(0)
        model = models.domain_adversarial(models.liveness_net(32), 2, weight)
        model.compile("adam", ["binary_crossentropy", "sparse_categorical_crossentropy"])
        targets = (y[:, None].astype("float32"), d)
        fit = model.fit(X / 255.0, targets, epochs=6, batch_size=8, shuffle=False, verbose=0)
        last[weight] = np.mean(fit.history["domain_loss"][-3:])
    assert last[0.0] < math.log(2) < last[1.0]
    with pytest.raises(ValueError, match="2 domains"):
        models.domain_adversarial(models.liveness_net(32), 1, 1.0)


def domain_crops(tmp_path: Path, names: list[str]) -> tuple[CropSequence, np.ndarray]:
    """`two_domains` images saved as files, their records carrying dataset `names[d]`, cropped
    whole by a FaceCropper (the CNN's input in every benchmark)."""
    X, y, d = two_domains(64)
    records = []
    for i, (image, label, domain) in enumerate(zip(X, y, d, strict=True)):
        path = tmp_path / f"{i}.png"
        Image.fromarray(image).save(path)
        records.append(
            Presentation(
                path.name, path, int(label), file_sha256(path), extra={"dataset": names[domain]}
            )
        )
    return FaceCropper(size=32, mode="whole").transform(records), y


def test_domain_adversarial_training_knows_each_crops_dataset_and_keeps_the_network(tmp_path):
    crops, y = domain_crops(tmp_path, ["nuaa", "seed600"])
    train, dev = (
        CropSequence(crops.records[:48], crops.cropper),
        CropSequence(crops.records[48:], crops.cropper),
    )
    settings = {"augment": False, "epochs": 3, "batch_size": 16, "domain_adversarial": 1.0}
    clf = CNNClassifier(**settings).fit(train, y[:48], dev=(dev, y[48:]))
    assert clf.domains_ == ["nuaa", "seed600"]
    assert {"domain_loss", "val_domain_loss", "val_attack_probability_loss"} <= set(clf.history_)
    val_loss = clf.history_["val_attack_probability_loss"]
    assert clf.best_epoch_ == int(np.argmin(val_loss)) + 1
    assert len(clf.model_.outputs) == 1  # the domain head is not kept
    # The kept network has the weights of the best dev liveness loss (not of the last epoch,
    # nor of the best total loss).
    p = clf.model_.predict(np.asarray(dev) / 255.0, verbose=0)
    kept = keras.losses.BinaryCrossentropy()(y[48:, None].astype("float32"), p)
    np.testing.assert_allclose(float(kept), min(val_loss), rtol=1e-4)
    clf.save(tmp_path / "dann.keras")
    loaded = CNNClassifier.load(tmp_path / "dann.keras")  # safe mode
    np.testing.assert_array_equal(loaded.decision_function(dev), clf.decision_function(dev))
    assert CNNClassifier(**settings).fit(train, y[:48], dev=(dev, y[48:])).reused_fit_
    # The same crops with the datasets swapped are another training run, not the cached one.
    swapped, _ = domain_crops(tmp_path, ["seed600", "nuaa"])
    train2 = CropSequence(swapped.records[:48], swapped.cropper)
    dev2 = CropSequence(swapped.records[48:], swapped.cropper)
    assert not CNNClassifier(**settings).fit(train2, y[:48], dev=(dev2, y[48:])).reused_fit_
    ensemble = CNNClassifier(**settings, n_seeds=2).fit(train, y[:48], dev=(dev, y[48:]))
    assert ensemble.domains_ == ["nuaa", "seed600"]
    assert not hasattr(
        ensemble.set_params(domain_adversarial=0.0, n_seeds=1).fit(train, y[:48]), "domains_"
    )


def test_domain_adversarial_training_refuses_crops_without_two_datasets(tmp_path):
    crops, y = domain_crops(tmp_path, ["nuaa", "nuaa"])
    clf = CNNClassifier(augment=False, epochs=1, domain_adversarial=1.0)
    with pytest.raises(ValueError, match="at least two datasets"):
        clf.fit(crops, y)
    with pytest.raises(ValueError, match="crops of records"):
        clf.fit(np.asarray(crops), y)


def test_a_cnn_search_trains_domain_adversarial_candidates_on_shrunk_crops(tmp_path):
    crops, y = domain_crops(tmp_path, ["nuaa", "seed600"])
    train = CropSequence(crops.records[:48], crops.cropper)
    dev = CropSequence(crops.records[48:], crops.cropper)
    shrunk = _resize(dev, 16)  # lazily, keeping the records: the same pixels as shrinking them
    assert isinstance(shrunk, CropSequence) and shrunk.records == dev.records
    np.testing.assert_array_equal(np.asarray(shrunk), _resize(np.asarray(dev), 16))
    base = CNNClassifier(augment=False, epochs=2, batch_size=16, domain_adversarial=1.0)
    search = CNNSearch(cnn=base, space={"input_size": [16, 32]}, n_candidates=2)
    search.fit(train, y[:48], dev=(dev, y[48:]))
    assert sorted(r["input_size"] for r in search.search_results_) == [16, 32]
    assert search.cnn_.domains_ == ["nuaa", "seed600"]


def test_per_source_experts_refuse_domain_adversarial_training():
    dann = Pipeline([("clf", CNNClassifier(domain_adversarial=1.0))])
    for expert in (dann, Pipeline([("fusion", ScoreFusion([("cnn", dann)]))])):  # members too
        with pytest.raises(ValueError, match="each expert of a per-source ensemble"):
            SourceEnsemble(expert)._validate_params()
    SourceEnsemble(Pipeline([("clf", CNNClassifier())]))._validate_params()
