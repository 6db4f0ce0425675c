"""features.reductions: exactly np.mean and np.var, on every layout the extractors use."""

from __future__ import annotations

import numpy as np
import pytest

from features.reductions import mean, var


def arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (64, 64)).astype(np.float64)
    return [
        grey,
        grey / 255.0,
        rng.normal(0, 1e-3, (37, 13)) + 1e6,  # large offset: the mean's rounding matters
        rng.random(4097),
        rng.random((3, 4096)),
        rng.random((64, 64))[::2, 1::3],  # not contiguous
        rng.random((5, 5)).astype(np.float32),
        np.full((7, 9), 0.1),
    ]


@pytest.mark.parametrize("a", arrays(), ids=lambda a: f"{a.dtype}{a.shape}")
def test_equal_numpy_bit_for_bit(a):
    assert mean(a) == np.mean(a) and type(mean(a)) is type(np.mean(a))
    assert var(a) == np.var(a)
    for axis in range(-a.ndim, a.ndim):
        np.testing.assert_array_equal(mean(a, axis), np.mean(a, axis))
        np.testing.assert_array_equal(mean(a, axis, keepdims=True), np.mean(a, axis, keepdims=True))
        np.testing.assert_array_equal(var(a, axis), np.var(a, axis))


def test_other_dtypes_are_refused():
    for a in (np.arange(4), np.ones(4, np.float16)):
        with pytest.raises(TypeError, match="float32 or float64"):
            mean(a)
