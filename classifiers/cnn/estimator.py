"""`CNNClassifier`: a Keras CNN behind the scikit-learn estimator API, over face crops.

It is the last step of a CNN method's pipeline (``crop`` -> ``clf``): `fit(X, y, dev=(X_dev,
y_dev))` trains on (N, s, s, 3) uint8 crops with early stopping and best-weights restore on the
DEVELOPMENT loss (never test), and `decision_function(X)` returns attack scores (the logit of
P(attack); higher = more likely an attack). The input size is the crop size. TensorFlow is
imported when a network is trained or loaded, not when the estimator is built or validated.

A finished training run is kept on disk (`fit_cache`): `<cache root>/cnn-fits/<key>.keras` plus
its history, keyed by every training parameter, the crops, the labels and the TensorFlow
version, and loaded back with Keras' safe mode. Training is deterministic, so these are the
weights retraining would give; it spares the hybrids (and any re-run or parallel worker) a second
training of a CNN the benchmark has already trained, and `reused_fit_` says when it happened.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from features.base import check_crops
from features.crops import CropSequence, iter_chunks
from features.files import atomic_path, atomic_write, cache_root

if TYPE_CHECKING:
    import keras

FORMAT_VERSION = 2
ARCHITECTURES = ("livenessnet", "seed-cnn", "mobilenet-cdc", "mobilenetv3small", "efficientnetb0")
"""The names of `classifiers.cnn.models.ARCHITECTURES`, known without importing TensorFlow."""
BACKBONES = ("mobilenetv3small", "efficientnetb0")
"""The keras.applications architectures, the only ones `pretrained` weights can be given to."""
SMALLEST_INPUT = {"seed-cnn": 46, **dict.fromkeys(BACKBONES, 32)}
"""The smallest input (or patch) side of the architectures that need more than 8 px: the seed
CNN's four valid conv + pool stages, the backbones' own minimum."""
AUGMENTATIONS = {
    True: ("seed",),
    False: (),
    "seed": ("seed",),
    "none": (),
    "capture": ("capture",),
    "flip+capture": ("flip", "capture"),
    "seed+capture": ("seed", "capture"),
}
"""Values of `augment` -> the augmentations used: the seed project's geometric ones
(`training.seed_augmentation`), or a horizontal flip alone, and/or capture-robust ones
(`features.augment`)."""
COLOURS = ("rgb", "hsv-ycbcr", "rgb-hsv-ycbcr")
"""The input colour options of `classifiers.cnn.models.COLOURS`."""
LR_SCHEDULES = ("plateau", "cosine")
SCORING_BATCH = 256
"""Crops per batch when scoring, and in the development set's batches: read one at a time."""
# Parameters added after cached fits existed: left out of the fit-cache key while at these
# defaults, so the cache keys (and reuse) of earlier configurations stay the same.
_LATER_DEFAULTS = {
    "colour": "rgb",
    "theta": 0.7,
    "label_smoothing": 0.0,
    "lr_schedule": "plateau",
    "pretrained": None,
    "width": 1.0,
    "dropout": None,
    "patch": None,
    "n_seeds": 1,
    "domain_adversarial": 0.0,
}
PAD_LOSS = "attack_probability_loss"
"""The history key of the liveness loss of a domain-adversarial training model (whose "loss" is
the sum of it and the domain loss)."""


class CNNClassifier(ClassifierMixin, BaseEstimator):
    """Binary PAD CNN (label 1 = attack) trained from square face crops.

    Parameters
    ----------
    architecture : a name of `ARCHITECTURES` (see `classifiers.cnn.models`): "livenessnet",
        "seed-cnn", "mobilenet-cdc" (depthwise-separable central difference CNN), or the
        keras.applications backbones "mobilenetv3small" and "efficientnetb0".
    augment : training augmentation, a key of `AUGMENTATIONS`: True or "seed" (the seed
        project's geometric `SEED_AUGMENTATION`), "capture" (`features.augment`: gamma, white
        balance, blur, resampling, sensor noise, JPEG), "flip+capture" (plus a horizontal
        flip, cheaper than the seed's affine transforms), "seed+capture", False or "none".
    colour : input channels computed in-graph from the RGB crop: "rgb", "hsv-ycbcr" or
        "rgb-hsv-ycbcr" (`classifiers.cnn.layers.ColourSpaces`).
    theta : central difference weight of "mobilenet-cdc" (0 = plain convolutions).
    label_smoothing : binary cross-entropy label smoothing (0 = none).
    lr_schedule : "plateau" (halve on a dev-loss plateau, see lr_patience) or "cosine"
        (cosine decay from learning_rate to 0 over `epochs`).
    pretrained : backbones only: None (random init), "imagenet" (downloaded by Keras once,
        ValueError without network) or the path of a local no-top weights file.
    width : multiplier of the filters and dense units of livenessnet, seed-cnn and
        mobilenet-cdc (1 = as published); backbones take 1 only.
    dropout : the dropout rate before the logit, in [0, 0.9], or None for the architecture's
        own (livenessnet 0.5, its conv blocks half of it; mobilenet-cdc and backbones 0.3;
        seed-cnn none).
    patch : None (the network sees the whole crop), or the side in pixels of the patches of a
        patch-based network (`classifiers.cnn.layers.Patches`, Atoum et al. 2017): trained on
        one random patch per crop per step, scoring a crop by its patches' mean logit over a
        grid of half-patch steps. At least 8 (46 for seed-cnn, 32 for the backbones) and
        smaller than the crops.
    n_seeds : a deep ensemble of this many networks, trained alike with seeds seed, seed + 1,
        ...; a crop's score is the mean of their logits, its embedding theirs side by side.
        Each network is an ordinary fit (cached as such); 1 = one network.
    domain_adversarial : 0 (off), or the weight of domain-adversarial training (Ganin & Lempitsky
        2015; Shao et al., CVPR 2019, for multi-source face anti-spoofing): a classifier of
        each training crop's dataset sits on the embedding behind a gradient reversal layer of
        this weight, so the network learns features the training datasets cannot be told apart
        by. Needs crops of records (a FaceCropper's output) from at least two datasets; early
        stopping and the best epoch follow the dev liveness loss alone. The domain classifier
        is dropped after training.
    epochs : cap on training epochs. patience : early-stopping patience (epochs without a lower
        dev loss); the weights of the best dev-loss epoch are restored at the end. The defaults
        (8, 3) keep 5-fold seed600 at 64x64 within minutes on 2 CPU cores; on seed600 the best
        dev-loss epoch fell between 3 and 15 (median 10) in 20-epoch runs, but its dev loss
        was mostly within a few hundredths of the loss reached by epoch 8.
    lr_patience : epochs without improvement before the learning rate is halved (ReduceLROnPlateau
        on dev loss, or on training loss when no dev set is given).
    class_weight : "balanced" (inverse class frequency; all 1 for balanced data) or None.
    seed : seeds Python, NumPy, TensorFlow, augmentation and shuffling; with op determinism the same
        seed gives the same scores on the same machine and software versions.
    fit_cache : keep and reuse finished training runs on disk (see the module docstring).

    After `fit`: `model_`, `history_`, `n_epochs_` (epochs trained) and `best_epoch_` (the one
    whose weights were kept; of a seed ensemble, both the largest over its networks).
    """

    def __init__(
        self,
        architecture: str = "livenessnet",
        augment: bool | str = True,
        epochs: int = 8,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        patience: int = 3,
        lr_patience: int = 2,
        class_weight: str | None = "balanced",
        seed: int = 0,
        fit_cache: bool = True,
        verbose: int = 0,
        colour: str = "rgb",
        theta: float = 0.7,
        label_smoothing: float = 0.0,
        lr_schedule: str = "plateau",
        pretrained: str | None = None,
        width: float = 1.0,
        dropout: float | None = None,
        patch: int | None = None,
        n_seeds: int = 1,
        domain_adversarial: float = 0.0,
    ) -> None:
        self.architecture = architecture
        self.augment = augment
        self.colour = colour
        self.theta = theta
        self.label_smoothing = label_smoothing
        self.lr_schedule = lr_schedule
        self.pretrained = pretrained
        self.width = width
        self.dropout = dropout
        self.patch = patch
        self.n_seeds = n_seeds
        self.domain_adversarial = domain_adversarial
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.lr_patience = lr_patience
        self.class_weight = class_weight
        self.seed = seed
        self.fit_cache = fit_cache
        self.verbose = verbose

    def _validate_params(self) -> None:
        """Raise ValueError naming the first parameter outside what the CNN supports."""
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {sorted(ARCHITECTURES)}, got {self.architecture!r}"
            )
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("lr_patience", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, Real) or not 0 < lr < 1:
            raise ValueError(f"learning_rate must be a number in (0, 1), got {lr!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, Integral):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed!r}")
        if not isinstance(self.fit_cache, bool):
            raise ValueError(f"fit_cache must be true or false, got {self.fit_cache!r}")
        if not isinstance(self.augment, bool | str) or self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {list(AUGMENTATIONS)}, got {self.augment!r}")
        for name, options in (("colour", COLOURS), ("lr_schedule", LR_SCHEDULES)):
            if getattr(self, name) not in options:
                raise ValueError(
                    f"{name} must be one of {list(options)}, got {getattr(self, name)!r}"
                )
        for name, high in (("theta", 1.0), ("label_smoothing", 0.5), ("domain_adversarial", 10.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= high:
                raise ValueError(f"{name} must be a number in [0, {high}], got {value!r}")
        width = self.width
        if isinstance(width, bool) or not isinstance(width, Real) or not 0 < width <= 8:
            raise ValueError(f"width must be a number in (0, 8], got {width!r}")
        if self.architecture in BACKBONES and width != 1:
            raise ValueError(f"width must be 1 for {self.architecture}, got {width!r}")
        rate = self.dropout
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, Real) or not 0 <= rate <= 0.9
        ):
            raise ValueError(f"dropout must be None or a number in [0, 0.9], got {rate!r}")
        patch = self.patch
        if patch is not None and (
            isinstance(patch, bool) or not isinstance(patch, Integral) or patch < 8
        ):
            raise ValueError(f"patch must be None or an integer >= 8, got {patch!r}")
        n = self.n_seeds
        if isinstance(n, bool) or not isinstance(n, Integral) or not 1 <= n <= 16:
            raise ValueError(f"n_seeds must be an integer in [1, 16], got {n!r}")
        if isinstance(self.seed, Integral) and self.seed + n > 2**32:
            raise ValueError(f"seed + n_seeds must be at most 2**32, got {self.seed} + {n}")
        smallest = SMALLEST_INPUT.get(self.architecture, 8)
        if patch is not None and patch < smallest:
            raise ValueError(
                f"patch must be at least {smallest} for {self.architecture}, got {patch}"
            )
        if self.pretrained is not None:
            if self.architecture not in BACKBONES:
                raise ValueError(
                    f"pretrained weights need a backbone architecture {list(BACKBONES)}, "
                    f"not {self.architecture!r}"
                )
            if not isinstance(self.pretrained, str | os.PathLike):
                raise ValueError(
                    f"pretrained must be None, 'imagenet' or a weights file path, "
                    f"got {self.pretrained!r}"
                )
        if self.architecture in BACKBONES and self.colour != "rgb":
            raise ValueError(
                f"colour must be 'rgb' for {self.architecture} (ImageNet input), "
                f"got {self.colour!r}"
            )

    def check_crop_size(self, size: int) -> None:
        """ValueError unless the CNN can be trained on crops of side `size` (its patches must be
        smaller); run on the configured crop size before any work, and by `fit`."""
        if self.patch is not None and self.patch >= size:
            raise ValueError(
                f"patch ({self.patch} px) must be smaller than the crops ({size} px): raise "
                "crop__size or lower clf__patch"
            )

    # ------------------------------------------------------------------ input
    @staticmethod
    def _images(X: Any, size: int | None = None) -> np.ndarray | CropSequence:
        """X as square (N, s, s, 3) uint8 crops (of side `size` when given); a `CropSequence`
        stays lazy: training and scoring read it a batch at a time."""
        X = check_crops(X)
        if X.shape[1] != X.shape[2] or (size is not None and X.shape[1] != size):
            want = "square crops" if size is None else f"{size}x{size} crops"
            raise ValueError(f"CNNClassifier needs {want}, got {X.shape[1]}x{X.shape[2]}")
        return X

    @staticmethod
    def _labels(y: Sequence[int], n: int, what: str) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"{what}: expected {n} labels in a 1-D array, got shape {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{what}: labels must be 0 (bona fide) or 1 (attack), got {np.unique(y)}"
            )
        return y.astype("int64")

    # ------------------------------------------------------------------ training
    __metadata_request__fit = {"sample_weight": True}  # noqa: RUF012 - scikit-learn's declaration

    def fit(
        self,
        X: Any,
        y: Sequence[int],
        dev: tuple[Any, Sequence[int]] | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> CNNClassifier:
        """Train on (X, y); `dev=(X_dev, y_dev)` drives early stopping and the LR schedule.

        `sample_weight` multiplies the class weights of the training samples.
        """
        self._validate_params()
        self.__dict__.pop("domains_", None)  # set again below if this fit is domain-adversarial
        if self.n_seeds > 1:
            return self._fit_seeds(X, y, dev, sample_weight)
        images = self._images(X)
        self.check_crop_size(images.shape[1])
        y = self._labels(y, len(images), "training labels")
        weights = compute_sample_weight(self.class_weight, y) if self.class_weight else None
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
            if sample_weight.shape != y.shape or not np.all(np.isfinite(sample_weight)):
                raise ValueError(f"sample_weight must hold {len(y)} finite numbers")
            weights = sample_weight if weights is None else weights * sample_weight
        if len(np.unique(y)) < 2:
            raise ValueError("training labels hold one class only; a PAD classifier needs both")
        dev_images = dev_y = None
        if dev is not None:
            dev_images = self._images(dev[0], images.shape[1])
            dev_y = self._labels(dev[1], len(dev_images), "development labels")
        domains = self._domains(X, dev_images) if self.domain_adversarial else ()
        data = (images, y, weights, dev_images, dev_y, *domains)
        cached = self._fit_path(*data) if self.fit_cache else None
        model, history = _load_fit(cached) if cached is not None else (None, None)
        self.reused_fit_ = model is not None
        if model is None:
            model, history = self._train(*data)
            if cached is not None:
                _save_fit(cached, model, history)
        monitor = self._monitor(dev is not None)
        self.history_ = {k: list(v) for k, v in history.items()}
        self.n_epochs_ = len(history[monitor])
        self.best_epoch_ = int(np.argmin(history[monitor])) + 1
        self._set_model(model)
        self.threshold_ = 0.0  # logit 0 = P(attack) 0.5; the harness picks its own on dev scores
        return self

    def _monitor(self, dev: bool) -> str:
        """The history key that early stopping, the learning-rate plateau and the best epoch
        follow: the (dev) loss, of a domain-adversarial network its liveness loss alone."""
        return ("val_" if dev else "") + (PAD_LOSS if self.domain_adversarial else "loss")

    def _domains(
        self, X: Any, dev_images: np.ndarray | CropSequence | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Integer codes of the training (and dev) crops' datasets, for domain-adversarial
        training; `self.domains_` holds the sorted names. ValueError unless the crops come with
        their records (a `CropSequence`) from at least two datasets, every dev one among them."""
        from features.records import dataset_names

        if not hasattr(X, "records"):
            raise ValueError(
                "domain_adversarial needs the crops of records (a FaceCropper step before the "
                "CNN) to know each crop's dataset; got a plain array"
            )
        names = dataset_names(X.records)
        self.domains_ = sorted(set(names))
        if len(self.domains_) < 2:
            raise ValueError(
                "domain_adversarial needs training data from at least two datasets (e.g. "
                f"--train-data A B or --leave-one-out); got {self.domains_}: set "
                "clf__domain_adversarial = 0 for single-dataset training"
            )
        codes = np.searchsorted(self.domains_, names)
        if dev_images is None:
            return codes, None
        if not hasattr(dev_images, "records"):
            raise ValueError("domain_adversarial needs the dev crops of records too")
        dev_names = dataset_names(dev_images.records)
        unknown = sorted(set(dev_names) - set(self.domains_))
        if unknown:
            raise ValueError(f"dev crops of datasets {unknown} not among the training ones")
        return codes, np.searchsorted(self.domains_, dev_names)

    def _fit_seeds(
        self,
        X: Any,
        y: Sequence[int],
        dev: tuple[Any, Sequence[int]] | None,
        sample_weight: Sequence[float] | None,
    ) -> CNNClassifier:
        """The deep ensemble: one plain fit per seed, then one model averaging their logits.
        `n_epochs_` and `best_epoch_` are the largest over the networks."""
        from classifiers.cnn.models import seed_ensemble

        nets = [
            clone(self)
            .set_params(n_seeds=1, seed=self.seed + i)
            .fit(X, y, dev=dev, sample_weight=sample_weight)
            for i in range(self.n_seeds)
        ]
        self.reused_fit_ = all(net.reused_fit_ for net in nets)
        if self.domain_adversarial:
            self.domains_ = nets[0].domains_
        self.history_ = {f"seed{n.seed}_{k}": v for n in nets for k, v in n.history_.items()}
        self.n_epochs_ = max(net.n_epochs_ for net in nets)
        self.best_epoch_ = max(net.best_epoch_ for net in nets)
        self._set_model(seed_ensemble([net.model_ for net in nets]))
        self.threshold_ = 0.0
        return self

    def _fit_path(self, *arrays: np.ndarray | CropSequence | None) -> Path:
        """Where this training run is cached: parameters that shape it, data, labels, TF version."""
        from classifiers.cnn.runtime import tf

        params = {
            k: v
            for k, v in self.get_params().items()
            if k not in ("fit_cache", "verbose")
            and not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])
        }
        h = hashlib.sha256(
            json.dumps([params, tf.__version__], sort_keys=True, default=str).encode()
        )
        for a in arrays:  # chunk by chunk: the bytes of a.tobytes(), never all crops at once
            if a is None:
                h.update(b"none")
                continue
            h.update(f"{a.dtype}{tuple(map(int, a.shape))}".encode())
            for _, chunk in iter_chunks(a):
                h.update(np.ascontiguousarray(chunk).tobytes())
        return cache_root() / "cnn-fits" / f"{h.hexdigest()[:32]}.keras"

    def _train(
        self,
        images: np.ndarray | CropSequence,
        y: np.ndarray,
        weights: np.ndarray | None,
        dev_images: np.ndarray | CropSequence | None,
        dev_y: np.ndarray | None,
        domains: np.ndarray | None = None,
        dev_domains: np.ndarray | None = None,
    ) -> tuple[keras.Model, dict[str, list[float]]]:
        """Train a new network; with `domains`, through its `domain_adversarial` training model,
        returning the network alone."""
        from classifiers.cnn.models import ARCHITECTURES as BUILDERS
        from classifiers.cnn.models import domain_adversarial
        from classifiers.cnn.runtime import keras
        from classifiers.cnn.training import (
            SEED_AUGMENTATION,
            capture_augmentation,
            image_dataset,
            seed_augmentation,
            set_global_seed,
        )

        set_global_seed(self.seed)
        arch = {"colour": self.colour}
        if self.architecture == "mobilenet-cdc":
            arch["theta"] = self.theta
        if self.architecture in BACKBONES:
            arch["weights"] = None if self.pretrained is None else str(self.pretrained)
        else:
            arch["width"] = self.width
        arch["dropout"] = self.dropout
        arch["patch"] = None if self.patch is None else int(self.patch)
        model = BUILDERS[self.architecture](images.shape[1], **arch)
        steps = -(-len(images) // self.batch_size)
        learning_rate = self.learning_rate
        if self.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(
                self.learning_rate, decay_steps=self.epochs * steps
            )
        loss = (
            keras.losses.BinaryCrossentropy(label_smoothing=self.label_smoothing)
            if self.label_smoothing
            else "binary_crossentropy"
        )
        trained = model
        if domains is not None:
            trained = domain_adversarial(model, len(self.domains_), self.domain_adversarial)
            loss = [loss, "sparse_categorical_crossentropy"]
        trained.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=loss,
            # One call per epoch: with ~12 small batches per epoch, per-step overhead is a
            # large share of CPU training time.
            steps_per_execution=steps,
        )
        dev_ds = None
        if dev_images is not None:
            dev_ds = image_dataset(dev_images, dev_y, batch_size=SCORING_BATCH, domains=dev_domains)
        monitor = self._monitor(dev_ds is not None)
        callbacks = []
        if self.lr_schedule == "plateau":
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor, factor=0.5, patience=self.lr_patience, min_lr=1e-5, mode="min"
                )
            )
        if dev_ds is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor, patience=self.patience, restore_best_weights=True, mode="min"
                )
            )
        kinds = AUGMENTATIONS[self.augment]
        no_geometry = {k: 0 for k in SEED_AUGMENTATION if k != "horizontal_flip"}
        flip = seed_augmentation(self.seed, **no_geometry) if "flip" in kinds else None
        train_ds = image_dataset(
            images,
            y,
            weights,
            self.batch_size,
            shuffle_seed=self.seed,
            augmentation=seed_augmentation(self.seed) if "seed" in kinds else flip,
            crop_augmentation=capture_augmentation(self.seed) if "capture" in kinds else None,
            domains=domains,
        )
        history = trained.fit(
            train_ds,
            validation_data=dev_ds,
            epochs=self.epochs,
            callbacks=callbacks,
            shuffle=False,  # the dataset reshuffles itself, seeded
            verbose=self.verbose,
        )
        return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}

    def _set_model(self, model: keras.Model) -> None:
        from classifiers.cnn.models import LOGIT, embedding_layer
        from classifiers.cnn.runtime import keras

        self.model_ = model
        self.classes_ = np.array([0, 1])
        self.scorer_ = keras.Model(model.inputs, model.get_layer(LOGIT).output)
        self.embedder_ = keras.Model(model.inputs, embedding_layer(model).output)

    # ------------------------------------------------------------------ scoring
    def _run(self, net: keras.Model, X: Any) -> np.ndarray:
        """`net` on the crops of X, called directly in batches of `SCORING_BATCH`.

        A direct call, not `Model.predict`: predict builds a tf.function per model, and a
        benchmark that trains one model per fold retraces it every time (TensorFlow warns).
        """
        check_is_fitted(self, "model_")
        images = self._images(X, self.model_.input_shape[1])
        b = SCORING_BATCH
        out = [
            np.asarray(net([images[i : i + b].astype(np.float32) / 255.0], training=False))
            for i in range(0, len(images), b)
        ]
        return np.concatenate(out) if out else np.empty((0, net.output_shape[-1]), np.float32)

    def decision_function(self, X: Any) -> np.ndarray:
        """Attack scores: the logit of P(attack), shape (N,) float64."""
        return self._run(self.scorer_, X)[:, 0].astype("float64")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns [P(bona fide), P(attack)]."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 (attack) where the attack score reaches `threshold_`, else 0."""
        return (self.decision_function(X) >= self.threshold_).astype("int64")

    def embed(self, X: Any) -> np.ndarray:
        """Penultimate-layer activations (the `embedding` layer; of a patch-based network, their
        mean over the crop's patches; of a seed ensemble, its networks' side by side), (N, d)."""
        return self._run(self.embedder_, X).astype("float64")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write `path` (native .keras model) and `path` with suffix .json (params, threshold).

        Both files are written atomically. Returns the .json path.
        """
        from classifiers.cnn.runtime import keras, tf

        check_is_fitted(self, "model_")
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"{path}: the model file name must end in .keras")
        meta = {
            "format": FORMAT_VERSION,
            "estimator": type(self).__name__,
            "params": self.get_params(),
            "threshold": float(self.threshold_),
            "best_epoch": self.best_epoch_,
            "n_epochs": self.n_epochs_,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        }
        with atomic_path(path, suffix=".keras") as tmp:
            self.model_.save(tmp)
        meta_path = path.with_suffix(".json")
        atomic_write(meta_path, json.dumps(meta, indent=2))
        return meta_path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CNNClassifier:
        """Load a model written by `save` (Keras safe mode on: no arbitrary code is run)."""
        path = Path(path)
        meta_path = path.with_suffix(".json")
        if not path.is_file() or not meta_path.is_file():
            raise FileNotFoundError(f"{path}: need both the .keras model and its .json beside it")
        meta = _read_meta(meta_path, cls.__name__)
        import classifiers.cnn.layers  # noqa: F401  (registers the custom layers for loading)
        from classifiers.cnn.runtime import keras

        try:
            est = cls(**meta["params"])
        except TypeError as e:
            raise ValueError(f"{meta_path}: bad params: {e}") from None
        est._set_model(keras.models.load_model(path, compile=False, safe_mode=True))
        est.threshold_ = float(meta["threshold"])
        est.best_epoch_ = meta["best_epoch"]
        est.n_epochs_ = meta["n_epochs"]
        return est


def _load_fit(path: Path) -> tuple[keras.Model | None, dict[str, list[float]] | None]:
    """A cached training run (safe mode), or (None, None) when absent or unreadable."""
    import classifiers.cnn.layers  # noqa: F401  (registers the custom layers for loading)
    from classifiers.cnn.runtime import keras

    history_path = path.with_suffix(".json")
    if not path.is_file() or not history_path.is_file():
        return None, None
    try:
        history = json.loads(history_path.read_text())
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception:  # a damaged entry of any kind is retrained and overwritten
        return None, None
    return model, history


def _save_fit(path: Path, model: keras.Model, history: dict[str, list[float]]) -> None:
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    atomic_write(path.with_suffix(".json"), json.dumps(history))


def _read_meta(meta_path: Path, estimator: str) -> dict[str, Any]:
    """The checked .json beside a saved CNN; ValueError naming the file and field otherwise."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{meta_path}: not a JSON file ({e})") from None
    if (
        not isinstance(meta, dict)
        or meta.get("estimator") != estimator
        or meta.get("format") != FORMAT_VERSION
    ):
        raise ValueError(f"{meta_path}: not a {estimator} file of format {FORMAT_VERSION}")
    threshold = meta.get("threshold")
    number = isinstance(threshold, int | float) and not isinstance(threshold, bool)
    if not number or not math.isfinite(threshold):
        raise ValueError(f"{meta_path}: threshold must be a finite number, got {threshold!r}")
    if not isinstance(meta.get("params"), dict):
        raise ValueError(f"{meta_path}: 'params' must be an object, got {meta.get('params')!r}")
    for key in ("best_epoch", "n_epochs"):
        if isinstance(meta.get(key), bool) or not isinstance(meta.get(key), int):
            raise ValueError(f"{meta_path}: {key!r} must be an integer, got {meta.get(key)!r}")
    return meta
