"""The two CNN architectures compared in the toolkit, as plain Keras functional models.

Both end in a layer named ``embedding`` (the penultimate representation, used by the
deep-features + SVM hybrid), a one-unit layer named ``logit`` and a sigmoid named
``attack_probability``: the output is P(attack), label 1 = attack. Splitting the sigmoid
from the last Dense layer keeps the architectures (and parameter counts) of the
originals while letting the toolkit score with the logit, which does not saturate.
"""

from __future__ import annotations

import keras
from keras import layers

EMBEDDING = "embedding"
LOGIT = "logit"
# Keras' default BatchNormalization momentum (0.99) needs hundreds of steps before the moving
# statistics used at inference settle; with ~12 batches per epoch on a few hundred images the dev
# loss is meaningless for the first ~20 epochs, so early stopping would fire on noise. 0.9 settles
# within one or two epochs.
BN_MOMENTUM = 0.9


def _head(x, inputs: keras.KerasTensor, name: str) -> keras.Model:
    logit = layers.Dense(1, name=LOGIT)(x)
    prob = layers.Activation("sigmoid", name="attack_probability")(logit)
    return keras.Model(inputs, prob, name=name)


def _input(input_size: int) -> keras.KerasTensor:
    if input_size < 8:
        raise ValueError(f"input_size must be at least 8 pixels, got {input_size}")
    return keras.Input((input_size, input_size, 3), name="image")


def liveness_net(input_size: int = 64) -> keras.Model:
    """LivenessNet (Rosebrock 2019) with one sigmoid output instead of a 2-way softmax.

    Two blocks of (Conv3x3-BN-ReLU) x 2 + 2x2 max-pool + dropout 0.25 (16, then 32
    filters), then Dense 64 + BN + ReLU + dropout 0.5; BN momentum `BN_MOMENTUM`.
    """
    inputs = x = _input(input_size)
    for block, filters in enumerate((16, 32), start=1):
        for i in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", name=f"block{block}_conv{i}")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{block}_bn{i}")(x)
            x = layers.Activation("relu", name=f"block{block}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(0.25, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, name="fc")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="fc_bn")(x)
    x = layers.Activation("relu", name=EMBEDDING)(x)
    x = layers.Dropout(0.5, name="fc_dropout")(x)
    return _head(x, inputs, "livenessnet")


def seed_cnn(input_size: int = 64) -> keras.Model:
    """The original Liveness-Detection project's CNN (ReynaraEzra, 2021).

    Conv32-Pool-Conv64-Pool-Conv128-Pool-Conv128-Pool-Flatten-Dense512-Dense1(sigmoid),
    3x3 'valid' convolutions with ReLU, 2x2 max-pools: 3,453,121 parameters at 150x150,
    as in the original notebook. The input must be at least 46x46 pixels.
    """
    if input_size < 46:
        raise ValueError(
            f"seed_cnn needs input_size >= 46 (four valid conv+pool stages), got {input_size}"
        )
    inputs = x = _input(input_size)
    for i, filters in enumerate((32, 64, 128, 128), start=1):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, activation="relu", name=EMBEDDING)(x)
    return _head(x, inputs, "seed_cnn")


ARCHITECTURES = {"livenessnet": liveness_net, "seed-cnn": seed_cnn}
