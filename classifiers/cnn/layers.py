"""Custom Keras layers of the CNNs, registered so saved models load in Keras' safe mode.

`ColourSpaces`: RGB in [0, 1] -> HSV and/or YCbCr channels, in the graph (no Lambda layer),
so a saved model takes the same RGB crops as any other. `CentralDifferenceConv2D` and
`CentralDifferenceDepthwiseConv2D`: central difference convolution (Yu et al., "Searching
Central Difference Convolutional Networks for Face Anti-Spoofing", CVPR 2020),
y = conv(x, w) - theta * x_centre * sum(w): a blend of a plain convolution (intensity) and a
convolution of differences to the centre pixel (gradient-like texture, the fine detail
recapture destroys). It is computed as ONE convolution with the kernel's centre tap lowered by
theta * sum(w), which is the same sum and keeps any stride and padding aligned.
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
