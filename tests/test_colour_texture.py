"""colour-texture-svm: a FeatureUnion of colour LBP, CoALBP and LPQ, every parameter settable."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.config import check_pipeline
from classifiers.registry import build_method
from features.coalbp import CoALBP
from features.colour import ColourLBP
from features.lpq import LPQ


def test_features_are_the_three_extractors_concatenated_with_reachable_parameters():
    pipe = build_method(
        "colour-texture-svm",
        {
            "colour-texture-svm": {
                "features__coalbp__scales": ((1, 2),),
                "features__lpq__window_size": 5,
                "features__lbp__colour_spaces": ("YCbCr",),
            }
        },
    )
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    union = pipe["features"].set_params(lbp__cache=False, coalbp__cache=False, lpq__cache=False)
    expected = np.hstack(
        [
            ColourLBP(colour_spaces=("YCbCr",), cache=False).fit_transform(crops),
            CoALBP(scales=((1, 2),), cache=False).fit_transform(crops),
            LPQ(window_size=5, cache=False).fit_transform(crops),
        ]
    )
    got = union.fit_transform(crops)
    assert got.shape == (3, 3 * 59 + 6 * 1024 + 6 * 256)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("features__lpq__window_size", 4, "window_size"),
        ("features__coalbp__scales", ((1, 0),), "scales"),
    ],
)
def test_a_bad_member_parameter_is_caught_up_front(key, value, named):
    pipe = build_method("colour-texture-svm", {"colour-texture-svm": {key: value}})
    with pytest.raises(ValueError, match=named):
        check_pipeline(pipe)
