"""The CNN baselines: architectures, training, attack-score convention, seeding, persistence.

Training runs are tiny (32x32 or 48x48 images, a few epochs, ~100 images) so the whole file
stays within a CPU budget of about a minute.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from benchmarks.datasets import load_dataset
from benchmarks.datasets.demo import synthetic_demo
from classifiers.cnn import models
from classifiers.cnn.estimator import ARCHITECTURES, CNNClassifier
from classifiers.cnn.models import liveness_net, seed_cnn
from classifiers.cnn.training import SEED_AUGMENTATION, image_dataset, seed_augmentation
from classifiers.fitting import fit_method
from classifiers.registry import METHODS, build_method
from features.files import cache_root

SIZE = 32


def easy_set(n: int, size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth colour fields (bona fide) vs the same plus a fine stripe pattern (attacks)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    ramp = np.linspace(0, 1, size)
    base = (
        rng.uniform(60, 190, (n, 1, 1, 3))
        + rng.uniform(-40, 40, (n, 1, 1, 1)) * ramp[None, :, None, None]
    )
    stripes = 45 * np.sin(2 * np.pi * np.arange(size) / 3.0)[None, None, :, None]
    images = base + y[:, None, None, None] * stripes + rng.normal(0, 4, (n, size, size, 3))
    return np.clip(images, 0, 255).astype(np.uint8), y


def small_cnn(**params) -> CNNClassifier:
    defaults = dict(augment=False, epochs=4, batch_size=8, fit_cache=False)
    return CNNClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    X, y = easy_set(160)
    return {"train": (X[:96], y[:96]), "dev": (X[96:128], y[96:128]), "test": (X[128:], y[128:])}


@pytest.fixture(scope="module")
def trained(data):
    return small_cnn(epochs=6, patience=3, fit_cache=True).fit(*data["train"], dev=data["dev"])


@pytest.fixture(scope="module")
def augmented(data):
    X, y = data["train"]
    return small_cnn(seed=7, epochs=2, augment=True, batch_size=16).fit(X[:48], y[:48])


# --------------------------------------------------------------------------- architectures
def test_seed_cnn_has_the_original_notebooks_layers_and_parameter_count():
    model = seed_cnn(150)
    # "Total params: 3,453,121" in the original project's model.summary() at 150x150.
    assert model.count_params() == 3_453_121
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128, 128]
    assert all(c.kernel_size == (3, 3) and c.padding == "valid" for c in convs)
    assert model.get_layer("embedding").units == 512
    assert model.get_layer("flatten").output.shape[-1] == 7 * 7 * 128
    assert model.output.shape[-1] == 1


def test_livenessnet_parameter_count_matches_its_layers():
    def conv(cin, cout):
        return 9 * cin * cout + cout

    def bn(c):  # gamma, beta, moving mean, moving variance
        return 4 * c

    s = 64
    expected = (
        conv(3, 16) + bn(16) + conv(16, 16) + bn(16)
        + conv(16, 32) + bn(32) + conv(32, 32) + bn(32)
        + (s // 4) * (s // 4) * 32 * 64 + 64 + bn(64)
        + 64 + 1
    )  # fmt: skip
    model = liveness_net(s)
    assert model.count_params() == expected
    assert model.get_layer("embedding").output.shape[-1] == 64


def test_width_and_dropout_reshape_the_architectures():
    def rates(model):
        return {layer.name: layer.rate for layer in model.layers if hasattr(layer, "rate")}

    wide = liveness_net(32, width=2.0, dropout=0.3)
    assert [wide.get_layer(f"block{b}_conv1").filters for b in (1, 2)] == [32, 64]
    assert wide.get_layer("fc").units == 128
    assert rates(wide) == {"block1_dropout": 0.15, "block2_dropout": 0.15, "fc_dropout": 0.3}
    assert rates(liveness_net(32)) == {
        "block1_dropout": 0.25,
        "block2_dropout": 0.25,
        "fc_dropout": 0.5,
    }
    assert rates(seed_cnn(48)) == {} and rates(seed_cnn(48, dropout=0.2)) == {"dropout": 0.2}
    assert seed_cnn(48, width=0.5).get_layer("conv1").filters == 16
    cdc = models.mobilenet_cdc(32, width=0.5, dropout=0.1)
    assert cdc.get_layer("stem_cdc").filters == 8 and rates(cdc) == {"dropout": 0.1}
    # the defaults are the published networks: the fit-cache keys of earlier fits still hold
    assert liveness_net(32, width=1.0).count_params() == liveness_net(32).count_params()
    with pytest.raises(ValueError, match="width must be"):
        small_cnn(width=0).fit(np.zeros((4, 32, 32, 3), np.uint8), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="dropout must be"):
        small_cnn(dropout=1.0).fit(np.zeros((4, 32, 32, 3), np.uint8), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="width must be 1 for mobilenetv3small"):
        small_cnn(architecture="mobilenetv3small", width=2.0)._validate_params()


def test_architectures_reject_inputs_too_small():
    with pytest.raises(ValueError, match="46"):
        seed_cnn(40)
    with pytest.raises(ValueError, match="input_size"):
        liveness_net(4)


def test_augmentation_changes_images_only_in_training():
    x = easy_set(8)[0].astype("float32") / 255
    aug = seed_augmentation(0)
    assert [layer.name for layer in aug.layers] == ["flip", "rotation", "shift", "shear", "zoom"]
    assert not np.allclose(np.asarray(aug(x, training=True)), x)
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)
    assert [layer.name for layer in seed_augmentation(0, shear_deg=0, zoom=0).layers] == [
        "flip",
        "rotation",
        "shift",
    ]
    with pytest.raises(ValueError, match="unknown augmentation"):
        seed_augmentation(0, brightness=0.2)
    assert SEED_AUGMENTATION["rotation_deg"] == 20


def test_image_dataset_rescales_to_unit_range():
    X, y = easy_set(10)
    batch, labels = next(iter(image_dataset(X, y, batch_size=10)))
    np.testing.assert_allclose(batch.numpy(), X / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels.numpy()[:, 0], y)


# --------------------------------------------------------------------------- training
def test_short_training_lowers_the_loss_and_attacks_score_higher(trained, data):
    loss = trained.history_["loss"]
    assert loss[-1] < loss[0]
    X_test, y_test = data["test"]
    scores = trained.decision_function(X_test)
    assert scores.shape == (len(X_test),) and scores.dtype == np.float64
    assert scores[y_test == 1].mean() > scores[y_test == 0].mean()
    assert roc_auc_score(y_test, scores) > 0.9
    proba = trained.predict_proba(X_test)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)), rtol=1e-6)
    np.testing.assert_array_equal(trained.predict(X_test), (scores >= 0).astype(int))


def test_early_stopping_keeps_the_weights_of_the_best_dev_epoch(trained, data):
    val = trained.history_["val_loss"]
    assert trained.best_epoch_ == int(np.argmin(val)) + 1
    X_dev, y_dev = data["dev"]
    # The dev loss of the returned model is the best epoch's, not the last epoch's.
    p = 1 / (1 + np.exp(-trained.decision_function(X_dev)))
    bce = -np.mean(y_dev * np.log(p) + (1 - y_dev) * np.log(1 - p))
    assert bce == pytest.approx(min(val), rel=1e-3)


def test_same_seed_gives_the_same_scores_and_another_seed_does_not(augmented, data):
    X, y = data["train"]
    runs = [augmented] + [clone(augmented).set_params(seed=s).fit(X[:48], y[:48]) for s in (7, 8)]
    scores = [r.decision_function(data["test"][0]) for r in runs]
    assert not runs[1].reused_fit_
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.allclose(scores[0], scores[2])


def test_fit_cache_gives_back_the_weights_of_an_identical_earlier_fit(trained, data):
    X, y = data["train"]
    again = clone(trained).fit(X, y, dev=data["dev"])
    assert again.reused_fit_ and not trained.reused_fit_
    assert again.best_epoch_ == trained.best_epoch_ and again.history_ == trained.history_
    X_test = data["test"][0]
    np.testing.assert_array_equal(
        again.decision_function(X_test), trained.decision_function(X_test)
    )
    other_labels = clone(trained).fit(X, y, dev=(data["dev"][0], 1 - data["dev"][1]))
    assert not other_labels.reused_fit_


def test_a_damaged_fit_cache_entry_is_trained_again(data):
    X, y = data["train"]
    folder = cache_root() / "cnn-fits"
    before = set(folder.glob("*.keras")) if folder.is_dir() else set()
    first = small_cnn(epochs=1, fit_cache=True, seed=3).fit(X[:32], y[:32])
    (cached,) = set(folder.glob("*.keras")) - before
    cached.write_bytes(b"not a keras file")
    again = clone(first).fit(X[:32], y[:32])
    assert not again.reused_fit_
    assert clone(first).fit(X[:32], y[:32]).reused_fit_  # rewritten whole


def test_save_and_load_give_identical_scores(augmented, data, tmp_path):
    """A model trained with augmentation saves and loads (Keras' own RandomShear config cannot)."""
    trained = augmented
    trained.threshold_ = 0.25
    meta_path = trained.save(tmp_path / "m" / "livenessnet.keras")
    meta = json.loads(meta_path.read_text())
    assert meta["params"]["architecture"] == "livenessnet" and meta["threshold"] == 0.25
    loaded = CNNClassifier.load(tmp_path / "m" / "livenessnet.keras")
    X_test = data["test"][0]
    np.testing.assert_array_equal(
        loaded.decision_function(X_test), trained.decision_function(X_test)
    )
    np.testing.assert_array_equal(loaded.embed(X_test), trained.embed(X_test))
    assert loaded.get_params() == trained.get_params() and loaded.threshold_ == 0.25
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "livenessnet.json",
        "livenessnet.keras",
    ]
    trained.threshold_ = 0.0


def test_save_and_load_refuse_bad_paths(trained, tmp_path):
    with pytest.raises(ValueError, match=r"\.keras"):
        trained.save(tmp_path / "model.h5")
    trained.save(tmp_path / "m.keras")
    (tmp_path / "m.json").unlink()
    with pytest.raises(FileNotFoundError, match="json"):
        CNNClassifier.load(tmp_path / "m.keras")


def test_bad_inputs_get_clear_errors(data):
    X, y = data["train"]
    with pytest.raises(ValueError, match="square"):
        small_cnn().fit(X[:, :16], y)
    with pytest.raises(ValueError, match="0 \\(bona fide\\) or 1"):
        small_cnn().fit(X, y + 1)
    with pytest.raises(ValueError, match="one class"):
        small_cnn().fit(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="expected 96 labels"):
        small_cnn().fit(X, y[:10])
    with pytest.raises(ValueError, match="architecture must be one of"):
        small_cnn(architecture="resnet").fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        small_cnn(epochs=-1).fit(X, y)


# --------------------------------------------------------------------------- records
def test_fit_on_demo_records_and_score_real_crops(seed600_dir):
    demo = synthetic_demo(n_faces=24)
    records = np.array(demo.records, dtype=object)
    y = np.array(demo.labels)
    pipe = build_method(
        "seed-cnn", {"seed-cnn": {"crop__size": 48, "clf__epochs": 2, "clf__fit_cache": False}}
    )
    fit_method(pipe, records[:36], y[:36], dev=(records[36:], y[36:]))
    cnn = pipe["clf"]
    assert cnn.n_epochs_ == 2 and len(cnn.history_["val_loss"]) == 2
    real = load_dataset(seed600_dir).records
    few = np.array(real[:3] + real[-3:], dtype=object)  # 3 bona fide, 3 attacks
    scores = pipe.decision_function(few)
    assert scores.shape == (6,) and np.isfinite(scores).all()
    assert cnn.embed(pipe["crop"].transform(few)).shape == (6, 512)


def test_registry_builds_cloneable_cnn_pipelines_without_importing_tensorflow_names():
    assert tuple(models.ARCHITECTURES) == ARCHITECTURES
    cnns = {name: m for name, m in METHODS.items() if m.family == "cnn"}
    assert set(cnns) == {"livenessnet", "seed-cnn", "mobilenet-cdc", "livenessnet-tuned"}
    for name in set(cnns) - {"livenessnet-tuned"}:  # a search over livenessnet: its own tests
        pipe = build_method(name, {name: {"clf__epochs": 3, "crop__size": 48}})
        assert [s for s, _ in pipe.steps] == ["crop", "clf"]
        assert pipe["clf"].architecture == name and pipe["clf"].epochs == 3
        assert pipe["crop"].size == 48
        assert clone(pipe).get_params()["clf__epochs"] == 3
