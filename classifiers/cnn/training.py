"""Training plumbing shared by the CNN wrappers: seeding, augmentation, tf.data input read
batch by batch from the crops (an array or a lazy `features.crops.CropSequence`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from classifiers.cnn.runtime import keras, tf
from features.augment import capture_augment
from features.crops import CropSequence

layers = keras.layers

# The original project's ImageDataGenerator settings (600-image notebook): rotation_range=20,
# width_shift_range=0.1, height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
# horizontal_flip=True, fill_mode="nearest". ImageDataGenerator's shear_range is an angle
# in DEGREES, so the seed's shear is at most 0.2 degrees; Keras 3's RandomShear takes a
# shear factor (a fraction of the image), hence tan(0.2 degrees) here.
SEED_AUGMENTATION = {
    "rotation_deg": 20.0,
    "width_shift": 0.1,
    "height_shift": 0.2,
    "shear_deg": 0.2,
    "zoom": 0.2,
    "horizontal_flip": True,
}


def set_global_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow ops deterministic.

    Op determinism is a process-wide TensorFlow switch: once on, it stays on.
    """
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def seed_augmentation(seed: int, **overrides: float | bool) -> keras.Sequential:
    """The seed project's augmentation as Keras preprocessing layers (active in training only).

    `overrides` replace entries of `SEED_AUGMENTATION` (e.g. ``zoom=0.1``).
    """
    unknown = set(overrides) - set(SEED_AUGMENTATION)
    if unknown:
        raise ValueError(
            f"unknown augmentation setting(s) {sorted(unknown)}; known: {sorted(SEED_AUGMENTATION)}"
        )
    cfg = {**SEED_AUGMENTATION, **overrides}
    fill = {"fill_mode": "nearest"}
    stack: list[keras.Layer] = []
    if cfg["horizontal_flip"]:
        stack.append(layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if cfg["rotation_deg"]:
        stack.append(
            layers.RandomRotation(
                cfg["rotation_deg"] / 360.0, seed=seed + 1, name="rotation", **fill
            )
        )
    if cfg["width_shift"] or cfg["height_shift"]:
        stack.append(
            layers.RandomTranslation(
                cfg["height_shift"], cfg["width_shift"], seed=seed + 2, name="shift", **fill
            )
        )
    if cfg["shear_deg"]:
        shear = math.tan(math.radians(cfg["shear_deg"]))
        stack.append(layers.RandomShear(shear, shear, seed=seed + 3, name="shear", **fill))
    if cfg["zoom"]:
        stack.append(
            layers.RandomZoom(cfg["zoom"], cfg["zoom"], seed=seed + 4, name="zoom", **fill)
        )
    return keras.Sequential(stack, name="augmentation")


def capture_augmentation(seed: int, p: float = 0.5) -> Callable[[np.ndarray], np.ndarray]:
    """`features.augment.capture_augment` as a batch function with its own seeded generator.

    Each call draws fresh transforms; a new function (same seed) replays the same sequence,
    so a training run is reproducible.
    """
    rng = np.random.default_rng(seed)

    def augment(batch: np.ndarray) -> np.ndarray:
        return capture_augment(batch, rng, p=p)

    return augment


def image_dataset(
    images: np.ndarray | CropSequence,
    labels: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    batch_size: int = 32,
    shuffle_seed: int | None = None,
    augmentation: keras.Layer | None = None,
    crop_augmentation: Callable[[np.ndarray], np.ndarray] | None = None,
    domains: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of uint8 crops rescaled to [0, 1] (plus labels and sample weights when given).

    Only row indices live in the dataset: each batch's crops are read from `images` (an array,
    or a lazy `CropSequence`) when the batch is made, so no copy of all crops is held. Shuffles
    every epoch, reproducibly, when `shuffle_seed` is given (the same batches as shuffling the
    crops themselves with that seed). `crop_augmentation` (uint8 batch -> uint8 batch, e.g.
    `capture_augmentation`) runs on each batch before the rescale, in order, so a seeded one is
    reproducible; `augmentation` (Keras layers, training mode) runs after it. Augmenting in the
    input pipeline rather than inside the model keeps saved models free of training-only layers.
    Give augmentations to TRAINING datasets only. `domains` (integer codes, with `labels`) make
    the targets a pair (labels, domains), for a `models.domain_adversarial` training model.
    """
    n = len(images)
    shape = tuple(int(d) for d in images.shape[1:])
    if domains is not None and labels is None:
        raise ValueError("domains need labels: they are the second target of a labelled set")
    targets = [
        tf.constant(t)
        for t in (
            None if labels is None else labels.astype("float32").reshape(-1, 1),
            None if domains is None else np.asarray(domains, dtype="int64"),
        )
        if t is not None
    ]
    rest: list[tf.Tensor] = [] if weights is None else [tf.constant(weights.astype("float32"))]
    ds = tf.data.Dataset.range(n)
    if shuffle_seed is not None:
        ds = ds.shuffle(n, seed=shuffle_seed, reshuffle_each_iteration=True)

    def read(rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(images[rows], dtype=np.uint8)

    def load(rows):
        x = tf.numpy_function(read, [rows], tf.uint8, stateful=False)
        x.set_shape((None, *shape))
        if crop_augmentation is not None:
            x = tf.numpy_function(crop_augmentation, [x], tf.uint8, stateful=True)
            x.set_shape((None, *shape))
        x = tf.cast(x, tf.float32) / 255.0
        if augmentation is not None:
            x = augmentation(x, training=True)
        out = [x]
        if targets:
            ys = tuple(tf.gather(t, rows) for t in targets)
            out.append(ys[0] if len(ys) == 1 else ys)
        out += [tf.gather(t, rows) for t in rest]
        return tuple(out) if len(out) > 1 else x

    return ds.batch(batch_size).map(load).prefetch(tf.data.AUTOTUNE)
