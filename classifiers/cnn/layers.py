"""Custom Keras layers of the CNNs, registered so saved models load in Keras' safe mode.

`ColourSpaces`: RGB in [0, 1] -> HSV and/or YCbCr channels, in the graph (no Lambda layer),
so a saved model takes the same RGB crops as any other. `CentralDifferenceConv2D` and
`CentralDifferenceDepthwiseConv2D`: central difference convolution (Yu et al., "Searching
Central Difference Convolutional Networks for Face Anti-Spoofing", CVPR 2020),
y = conv(x, w) - theta * x_centre * sum(w): a blend of a plain convolution (intensity) and a
convolution of differences to the centre pixel (gradient-like texture, the fine detail
recapture destroys). It is computed as ONE convolution with the kernel's centre tap lowered by
theta * sum(w), which is the same sum and keeps any stride and padding aligned. `Patches` and
`PatchMean`: a patch-based CNN (Atoum et al., "Face anti-spoofing using patch and depth-based
CNNs", IJCB 2017), trained on one random patch of each crop and scoring a crop by the mean over a
grid of its patches, so the network can only learn local texture, not the face's shape or framing.
`GradientReversal`: identity forward, gradient times -weight backward (Ganin & Lempitsky, ICML
2015), between a CNN's embedding and a domain classifier in domain-adversarial training.
"""

from __future__ import annotations

import numpy as np

from classifiers.cnn.runtime import keras

layers, ops = keras.layers, keras.ops

PACKAGE = "liveness"
SPACES = ("RGB", "HSV", "YCbCr")

# ITU-R BT.601 full-range YCbCr as OpenCV computes it (COLOR_RGB2YCrCb), for values in [0, 1].
_Y = (0.299, 0.587, 0.114)
_CR, _CB = 0.713, 0.564


@keras.saving.register_keras_serializable(package=PACKAGE)
class ColourSpaces(layers.Layer):
    """RGB in [0, 1] -> the channels of `spaces`, concatenated, each in [0, 1].

    HSV: hue, saturation, value (hue as a fraction of the circle, as `tf.image.rgb_to_hsv`).
    YCbCr: Y, Cb, Cr in the channel order of `features.colour` (OpenCV's BT.601 conversion,
    offset 0.5).
    """

    def __init__(self, spaces: tuple[str, ...] = ("HSV", "YCbCr"), **kwargs) -> None:
        super().__init__(**kwargs)
        spaces = tuple(spaces)
        if not spaces or any(s not in SPACES for s in spaces):
            raise ValueError(f"spaces must be a non-empty tuple from {SPACES}, got {spaces!r}")
        self.spaces = spaces

    def call(self, rgb):
        from classifiers.cnn.runtime import tf

        parts = []
        for space in self.spaces:
            if space == "RGB":
                parts.append(rgb)
            elif space == "HSV":
                parts.append(tf.image.rgb_to_hsv(rgb))
            else:
                r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
                y = _Y[0] * r + _Y[1] * g + _Y[2] * b
                parts.append(ops.stack([y, (b - y) * _CB + 0.5, (r - y) * _CR + 0.5], axis=-1))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3 * len(self.spaces))

    def get_config(self) -> dict:
        return {**super().get_config(), "spaces": list(self.spaces)}


def central_difference_kernel(kernel, theta: float):
    """`kernel` (kh, kw, ...) with theta * (its spatial sum) taken off the centre tap."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    centre = np.zeros((kh, kw) + (1,) * (len(kernel.shape) - 2), dtype="float32")
    centre[kh // 2, kw // 2] = 1.0
    total = ops.sum(kernel, axis=(0, 1), keepdims=True)
    return kernel - theta * ops.convert_to_tensor(centre, dtype=kernel.dtype) * total


def _check_theta_and_kernel(theta: float, kernel_size) -> None:
    if not 0.0 <= theta <= 1.0:
        raise ValueError(f"theta must be in [0, 1], got {theta!r}")
    sizes = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if any(k % 2 == 0 for k in sizes):
        raise ValueError(f"central difference needs an odd kernel size, got {kernel_size!r}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class CentralDifferenceConv2D(layers.Conv2D):
    """Conv2D computing conv(x, w) - theta * x_centre * sum(w) (CDC, Yu et al. 2020).

    theta = 0 is a plain convolution; CDCN's best theta was 0.7.
    """

    def __init__(self, *args, theta: float = 0.7, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _check_theta_and_kernel(theta, self.kernel_size)
        self.theta = float(theta)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, central_difference_kernel(kernel, self.theta))

    def get_config(self) -> dict:
        return {**super().get_config(), "theta": self.theta}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CentralDifferenceDepthwiseConv2D(layers.DepthwiseConv2D):
    """DepthwiseConv2D with central difference: per channel, conv - theta * x_centre * sum(w)."""

    def __init__(self, *args, theta: float = 0.7, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _check_theta_and_kernel(theta, self.kernel_size)
        if self.data_format != "channels_last":
            raise ValueError("CentralDifferenceDepthwiseConv2D supports channels_last only")
        self.theta = float(theta)

    def call(self, inputs):
        outputs = ops.depthwise_conv(
            inputs,
            central_difference_kernel(self.kernel, self.theta),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )
        if self.use_bias:
            outputs = outputs + self.bias  # broadcasts over the last (channel) axis
        return outputs if self.activation is None else self.activation(outputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "theta": self.theta}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Patches(layers.Layer):
    """Square crops (B, s, s, C) -> patches of side `size`.

    Training: one patch per crop at a random place (drawn afresh at every step), (B, size, size,
    C). Inference: every patch of a grid of step `stride` (the last row and column flush with the
    crop's edge, so the grid covers it), stacked along the batch axis one grid place after another,
    (k * B, size, size, C), which `PatchMean` averages back to one row per crop. Plain slices, so
    the inference graph exports to ONNX.
    """

    def __init__(self, size: int, stride: int, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if size < 1 or stride < 1:
            raise ValueError(f"size and stride must be positive, got {size!r} and {stride!r}")
        self.size, self.stride, self.seed = int(size), int(stride), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def starts(self, side: int) -> list[int]:
        """The grid's patch offsets along one side of an s = `side` crop."""
        if side < self.size:
            raise ValueError(f"patches of {self.size} px need crops at least that big, got {side}")
        last = side - self.size
        starts = list(range(0, last + 1, self.stride))
        return starts if starts[-1] == last else [*starts, last]

    def call(self, crops, training=False):
        from classifiers.cnn.runtime import tf

        side, p = crops.shape[1], self.size
        starts = self.starts(side)
        if not training:
            return ops.concatenate(
                [crops[:, i : i + p, j : j + p, :] for i in starts for j in starts], axis=0
            )
        offsets = keras.random.randint(
            (ops.shape(crops)[0], 2), 0, side - p + 1, seed=self.seed_generator
        )
        steps = ops.arange(p, dtype=offsets.dtype)
        rows = tf.gather(crops, offsets[:, :1] + steps, axis=1, batch_dims=1)
        return tf.gather(rows, offsets[:, 1:] + steps, axis=2, batch_dims=1)

    def compute_output_shape(self, input_shape):
        return (None, self.size, self.size, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "stride": self.stride, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PatchMean(layers.Layer):
    """[per-patch features (k * B, d), the crops (B, ...)] -> the mean over each crop's k patches
    (B, d), undoing `Patches`' grid stacking; in training (one patch per crop) the identity."""

    def call(self, inputs, training=False):
        features, crops = inputs
        if training:
            return features
        per_place = ops.reshape(features, (-1, ops.shape(crops)[0], features.shape[-1]))
        return ops.mean(per_place, axis=0)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[1][0], input_shapes[0][-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class GradientReversal(layers.Layer):
    """Identity in the forward pass; multiplies the gradient by -`weight` in the backward pass.

    Written as -w * x + stop_gradient((1 + w) * x): the value is x, the gradient -w, on any
    Keras backend. Only in training models (`classifiers.cnn.models.domain_adversarial`).
    """

    def __init__(self, weight: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not weight >= 0:
            raise ValueError(f"weight must be a number >= 0, got {weight!r}")
        self.weight = float(weight)

    def call(self, x):
        return -self.weight * x + ops.stop_gradient((1.0 + self.weight) * x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "weight": self.weight}
