"""The CNN architectures of the toolkit, as plain Keras functional models.

Each ends in a layer named ``embedding`` (the penultimate representation, used by the
deep-features + SVM hybrid), a one-unit layer named ``logit`` and a sigmoid named
``attack_probability``: the output is P(attack), label 1 = attack. Splitting the sigmoid
from the last Dense layer keeps the architectures (and parameter counts) of the
originals while letting the toolkit score with the logit, which does not saturate.

Every builder takes `patch`: None, or the side of the patches of a patch-based network (a
`classifiers.cnn.layers.Patches` layer after the input, a `PatchMean` layer named
``patch_mean`` before the logit: the mean of the patches' embeddings, the crop's embedding).
`seed_ensemble` joins networks into one model with the same ``logit`` and ``embedding`` layer
names and a second output, the embedding. `domain_adversarial` wraps a network for
domain-adversarial training; the network itself is what is kept.
"""

from __future__ import annotations

import socket
from pathlib import Path

from classifiers.cnn.estimator import SMALLEST_INPUT
from classifiers.cnn.layers import (
    CentralDifferenceConv2D,
    CentralDifferenceDepthwiseConv2D,
    ColourSpaces,
    GradientReversal,
    Patches,
    PatchMean,
)
from classifiers.cnn.runtime import keras

layers = keras.layers

EMBEDDING = "embedding"
LOGIT = "logit"
PATCH_MEAN = "patch_mean"
# Keras' default BatchNormalization momentum (0.99) needs hundreds of steps before the moving
# statistics used at inference settle; with ~12 batches per epoch on a few hundred images the dev
# loss is meaningless for the first ~20 epochs, so early stopping would fire on noise. 0.9 settles
# within one or two epochs.
BN_MOMENTUM = 0.9
COLOURS = {"rgb": ("RGB",), "hsv-ycbcr": ("HSV", "YCbCr"), "rgb-hsv-ycbcr": ("RGB", "HSV", "YCbCr")}
"""Input colour options: the network sees these channels, computed in-graph from RGB."""


def embedding_layer(model: keras.Model) -> keras.Layer:
    """The layer whose output is `model`'s embedding of a crop: its patch mean, if it has one."""
    names = {layer.name for layer in model.layers}
    return model.get_layer(PATCH_MEAN if PATCH_MEAN in names else EMBEDDING)


def seed_ensemble(nets: list[keras.Model]) -> keras.Model:
    """Networks trained on the same crops (with different seeds) as one model: the mean of
    their logits is its logit, their embeddings side by side its embedding (a second output,
    so the layer stays in the graph)."""
    inputs = keras.Input(nets[0].input_shape[1:], name="image")
    logits, embeddings = [], []
    for i, net in enumerate(nets):
        both = [net.get_layer(LOGIT).output, embedding_layer(net).output]
        logit, embedding = keras.Model(net.inputs, both, name=f"network{i}")(inputs)
        logits.append(logit)
        embeddings.append(embedding)
    logit = layers.Average(name=LOGIT)(logits)
    prob = layers.Activation("sigmoid", name="attack_probability")(logit)
    embedding = layers.Concatenate(name=EMBEDDING)(embeddings)
    return keras.Model(inputs, [prob, embedding], name="seed_ensemble")


DOMAIN = "domain"


def domain_adversarial(model: keras.Model, n_domains: int, weight: float) -> keras.Model:
    """`model` with a second output for training: each crop's training dataset, predicted from
    the embedding behind a `GradientReversal` layer (Ganin & Lempitsky 2015; for multi-source
    face anti-spoofing, Shao et al., CVPR 2019), so the layers below learn an embedding the
    datasets cannot be told apart by. Shares `model`'s layers: training it trains `model`."""
    if n_domains < 2:
        raise ValueError(f"domain-adversarial training needs at least 2 domains, got {n_domains}")
    x = GradientReversal(weight, name="gradient_reversal")(embedding_layer(model).output)
    x = layers.Dense(64, activation="relu", name="domain_hidden")(x)
    domain = layers.Dense(n_domains, activation="softmax", name=DOMAIN)(x)
    return keras.Model(model.inputs, [model.outputs[0], domain], name=f"{model.name}_adversarial")


def _head(x, inputs: keras.KerasTensor, name: str, patch: int | None) -> keras.Model:
    if patch is not None:
        x = PatchMean(name=PATCH_MEAN)([x, inputs])
    logit = layers.Dense(1, name=LOGIT)(x)
    prob = layers.Activation("sigmoid", name="attack_probability")(logit)
    return keras.Model(inputs, prob, name=name)


def _input(input_size: int, patch: int | None) -> tuple[keras.KerasTensor, keras.KerasTensor, int]:
    """The crop input, what the network's first layer sees (the crop or its patches) and the
    side of that. The grid of a patch-based network steps by half a patch."""
    if input_size < 8:
        raise ValueError(f"input_size must be at least 8 pixels, got {input_size}")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    if patch is None:
        return inputs, inputs, input_size
    if not 8 <= patch < input_size:
        raise ValueError(
            f"patch must be at least 8 pixels and smaller than the input ({input_size}), "
            f"got {patch}"
        )
    return inputs, Patches(patch, patch // 2, name="patches")(inputs), patch


def _colour(x: keras.KerasTensor, colour: str) -> keras.KerasTensor:
    """x (RGB in [0, 1]) as the channels of `colour` (a key of `COLOURS`)."""
    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {list(COLOURS)}, got {colour!r}")
    spaces = COLOURS[colour]
    return x if spaces == ("RGB",) else ColourSpaces(spaces, name="colour_spaces")(x)


def _wide(units: int, width: float) -> int:
    """`units` filters or neurons scaled by the `width` multiplier (at least one)."""
    if not width > 0:
        raise ValueError(f"width must be a positive multiplier, got {width}")
    return max(1, round(units * width))


def _rate(dropout: float | None, default: float) -> float:
    """The dropout rate before the logit: `dropout`, or the architecture's own `default`."""
    if dropout is None:
        return default
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a rate in [0, 1), got {dropout}")
    return dropout


def liveness_net(
    input_size: int = 64,
    colour: str = "rgb",
    width: float = 1.0,
    dropout: float | None = None,
    patch: int | None = None,
) -> keras.Model:
    """LivenessNet (Rosebrock 2019) with one sigmoid output instead of a 2-way softmax.

    Two blocks of (Conv3x3-BN-ReLU) x 2 + 2x2 max-pool + dropout 0.25 (16, then 32
    filters), then Dense 64 + BN + ReLU + dropout 0.5; BN momentum `BN_MOMENTUM`.
    `width` multiplies the filters and dense units; `dropout` replaces the 0.5 before the
    logit, the blocks' dropout becoming half of it (the original ratio).
    """
    head_rate = _rate(dropout, 0.5)
    inputs, x, _ = _input(input_size, patch)
    x = _colour(x, colour)
    for block, filters in enumerate((16, 32), start=1):
        for i in (1, 2):
            x = layers.Conv2D(
                _wide(filters, width), 3, padding="same", name=f"block{block}_conv{i}"
            )(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{block}_bn{i}")(x)
            x = layers.Activation("relu", name=f"block{block}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        x = layers.Dropout(head_rate / 2, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(_wide(64, width), name="fc")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="fc_bn")(x)
    x = layers.Activation("relu", name=EMBEDDING)(x)
    x = layers.Dropout(head_rate, name="fc_dropout")(x)
    return _head(x, inputs, "livenessnet", patch)


def seed_cnn(
    input_size: int = 64,
    colour: str = "rgb",
    width: float = 1.0,
    dropout: float | None = None,
    patch: int | None = None,
) -> keras.Model:
    """The original Liveness-Detection project's CNN (ReynaraEzra, 2021).

    Conv32-Pool-Conv64-Pool-Conv128-Pool-Conv128-Pool-Flatten-Dense512-Dense1(sigmoid),
    3x3 'valid' convolutions with ReLU, 2x2 max-pools: 3,453,121 parameters at 150x150,
    as in the original notebook. The input must be at least 46x46 pixels. `width` multiplies
    the filters and dense units; the original has no dropout, `dropout` adds it before the logit.
    """
    inputs, x, side = _input(input_size, patch)
    if side < SMALLEST_INPUT["seed-cnn"]:
        raise ValueError(
            f"seed_cnn needs an input (or patch) of at least {SMALLEST_INPUT['seed-cnn']} px "
            f"(four valid conv+pool stages), got {side}"
        )
    x = _colour(x, colour)
    for i, filters in enumerate((32, 64, 128, 128), start=1):
        x = layers.Conv2D(_wide(filters, width), 3, activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(_wide(512, width), activation="relu", name=EMBEDDING)(x)
    if _rate(dropout, 0.0):
        x = layers.Dropout(dropout, name="dropout")(x)
    return _head(x, inputs, "seed_cnn", patch)


# (filters, stride) of the depthwise-separable blocks: 96 px -> 48 (stem) -> 24 -> 12 -> 6.
# Striding in the first block halves the training time of a stride-1 first block (measured
# on 2 cores at 96 px) for a network that already fits a few hundred crops.
MOBILENET_CDC_BLOCKS = ((32, 2), (64, 1), (128, 2), (128, 1), (192, 2))


def mobilenet_cdc(
    input_size: int = 96,
    colour: str = "rgb",
    theta: float = 0.7,
    width: float = 1.0,
    dropout: float | None = None,
    patch: int | None = None,
) -> keras.Model:
    """A small MobileNet-style CNN of central difference convolutions, trained from scratch.

    Stem: 3x3 CDC convolution (16 filters, stride 2); then the depthwise-separable blocks of
    `MOBILENET_CDC_BLOCKS`: 3x3 CDC depthwise convolution - BN - ReLU - 1x1 convolution - BN -
    ReLU (Howard et al. 2017); global average pooling (the embedding), dropout 0.3 and the
    logit. Every 3x3 convolution is a central difference one (Yu et al. 2020, theta 0.7 their
    best), so the network sees intensity and local differences both. About 60k parameters:
    a few hundred training crops, 2 CPU cores. `width` multiplies the filters; `dropout`
    replaces the 0.3.
    """
    head_rate = _rate(dropout, 0.3)
    inputs, x, _ = _input(input_size, patch)
    x = _colour(x, colour)

    def bn_relu(x, name: str):
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        return layers.ReLU(name=f"{name}_relu")(x)

    x = CentralDifferenceConv2D(
        _wide(16, width), 3, strides=2, padding="same", use_bias=False, theta=theta, name="stem_cdc"
    )(x)
    x = bn_relu(x, "stem")
    for i, (filters, stride) in enumerate(MOBILENET_CDC_BLOCKS, start=1):
        x = CentralDifferenceDepthwiseConv2D(
            3, strides=stride, padding="same", use_bias=False, theta=theta, name=f"block{i}_dw"
        )(x)
        x = bn_relu(x, f"block{i}_dw")
        x = layers.Conv2D(_wide(filters, width), 1, use_bias=False, name=f"block{i}_pw")(x)
        x = bn_relu(x, f"block{i}_pw")
    x = layers.GlobalAveragePooling2D(name=EMBEDDING)(x)
    x = layers.Dropout(head_rate, name="dropout")(x)
    return _head(x, inputs, "mobilenet_cdc", patch)


BACKBONES = {
    "mobilenetv3small": "MobileNetV3Small",
    "efficientnetb0": "EfficientNetB0",
}
"""keras.applications backbones: architecture name -> class name."""
DOWNLOAD_TIMEOUT = 30.0
"""Seconds without an answer after which a weights download is given up."""


def _backbone(architecture: str, input_size: int, weights: str | None) -> keras.Model:
    """The keras.applications backbone without its top, global-average pooled.

    weights: None (random), "imagenet" (Keras downloads them once into ~/.keras/models) or
    the path of a local weights file for the no-top model. A failed download is a ValueError
    saying how to provide the file, not a hang.
    """
    app = getattr(keras.applications, BACKBONES[architecture])
    build = dict(input_shape=(input_size, input_size, 3), include_top=False, pooling="avg")
    if weights not in (None, "imagenet"):
        if not Path(weights).is_file():
            raise ValueError(f"pretrained weights file {weights} does not exist")
        return app(weights=str(weights), **build)
    if weights is None:
        return app(weights=None, **build)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        return app(weights="imagenet", **build)
    except Exception as e:  # keras wraps URL, socket and HTTP errors in a plain Exception
        raise ValueError(
            f"could not get ImageNet weights for {BACKBONES[architecture]} ({e}). On a machine "
            "with network, run keras.applications."
            f"{BACKBONES[architecture]}(include_top=False, weights='imagenet') once (it keeps "
            "the file in ~/.keras/models), or download the no-top weights file and pass its "
            "path as pretrained='/path/to/weights.h5'"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)


def pretrained_backbone(
    architecture: str,
    input_size: int = 96,
    colour: str = "rgb",
    weights: str | None = None,
    dropout: float | None = None,
    patch: int | None = None,
) -> keras.Model:
    """A keras.applications backbone (`BACKBONES`) + dropout + logit, for fine-tuning.

    The crops in [0, 1] are rescaled to [0, 255], which both backbones expect (their own
    preprocessing is part of the model). BatchNormalization in the backbone stays in
    inference mode (its ImageNet statistics) while the rest is fine-tuned, the usual choice
    for a few hundred images. ImageNet weights expect RGB, so `colour` must be "rgb".
    `dropout` replaces the 0.3 before the logit.
    """
    if architecture not in BACKBONES:
        raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {architecture!r}")
    if colour != "rgb":
        raise ValueError(f"{architecture} takes RGB input only, got colour={colour!r}")
    inputs, x, side = _input(input_size, patch)
    if side < SMALLEST_INPUT[architecture]:
        raise ValueError(
            f"{architecture} needs an input (or patch) of at least "
            f"{SMALLEST_INPUT[architecture]} px, got {side}"
        )
    x = layers.Rescaling(255.0, name="to_255")(x)
    x = _backbone(architecture, side, weights)(x, training=False)
    x = layers.Identity(name=EMBEDDING)(x)
    x = layers.Dropout(_rate(dropout, 0.3), name="dropout")(x)
    return _head(x, inputs, architecture, patch)


ARCHITECTURES = {
    "livenessnet": liveness_net,
    "seed-cnn": seed_cnn,
    "mobilenet-cdc": mobilenet_cdc,
    **{
        name: (lambda size, name=name, **kw: pretrained_backbone(name, size, **kw))
        for name in BACKBONES
    },
}
