"""The one registry of methods: each is a name, a family, a line of description and a builder.

A builder returns a plain scikit-learn `Pipeline` over presentation records, in the order the
data flows: ``crop`` (`features.faces.FaceCropper`) -> ``augment``
(`features.augmenter.CaptureAugmenter`: training crops only, off unless ``augment__p > 0``) ->
``features`` (an extractor of `features/`) -> ``clf`` (`classifiers.svm.TunedClassifier`),
or ``crop`` -> ``clf`` (a CNN), or one ``fusion`` step over other registered methods. Builders
state only what differs from each step's own defaults. Settings from a config are applied with
`set_params` under the pipeline's own names (``crop__size``, ``features__P``, ``clf__C``), so
every parameter of every step is configurable, and a fusion's members are the configured methods
themselves: a builder gets `member(name)`, which builds another registered method with its
configured parameters. Any ``per-source:<method>`` is a method too: one ``sources`` step
(`classifiers.fusion.SourceEnsemble`) fitting the configured `<method>` on each training dataset
alone and fusing their scores, of `<method>`'s family.

Families: ``handcrafted``, ``cnn``, ``hybrid``, ``external`` (a pre-trained ONNX model: any
name ``onnx:<name>`` is a method, ``crop`` -> ``clf`` (`classifiers.onnx_model.ONNXClassifier`),
specified by the config's ``[onnx.<name>]`` table), ``transductive`` (standardised with the
statistics of the unlabelled scored data itself: uses test data, so reported apart and never
ranked), and ``audit`` (the metadata audit: not a liveness method, it measures what a dataset
gives away without looking at a face). TensorFlow is imported only when a CNN or hybrid
pipeline is built, ONNX Runtime only when a model is fitted.

Adding a handcrafted method is an extractor module in `features/` plus one `Method` entry here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from classifiers.svm import HistogramNormaliser, TunedClassifier
from classifiers.transductive import BatchStandardiser
from features.augmenter import CaptureAugmenter
from features.coalbp import CoALBP
from features.colour import ColourLBP
from features.distortion import DistortionFeatures
from features.faces import FaceCropper
from features.fourier import FourierSpectrum
from features.lbp import LBPHistogram, MultiScaleLBP
from features.lpq import LPQ
from features.metadata import MetadataFeatures

Member = Callable[[str], Pipeline]
"""Builds another registered method with its configured parameters (for fusions)."""


@dataclass(frozen=True)
class Method:
    """A registered method: `build(member)` returns its default, unfitted `Pipeline`."""

    name: str
    family: str
    description: str
    build: Callable[[Member], Pipeline]


def _handcrafted(features: BaseEstimator, **clf: Any) -> Pipeline:
    return Pipeline(
        [
            ("crop", FaceCropper()),
            ("augment", CaptureAugmenter()),  # identity unless augment__p > 0; fit only
            ("features", features),
            ("clf", TunedClassifier(**clf)),
        ]
    )


def _cnn(architecture: str) -> Callable[[Member], Pipeline]:
    def build(member: Member) -> Pipeline:
        from classifiers.cnn.estimator import CNNClassifier

        return Pipeline([("crop", FaceCropper()), ("clf", CNNClassifier(architecture))])

    return build


def _mobilenet_cdc(member: Member) -> Pipeline:
    from classifiers.cnn.estimator import CNNClassifier

    clf = CNNClassifier(
        "mobilenet-cdc",
        augment="flip+capture",
        epochs=15,
        patience=5,
        learning_rate=3e-3,
        label_smoothing=0.1,
        lr_schedule="cosine",
    )
    return Pipeline([("crop", FaceCropper(size=96)), ("clf", clf)])


def _cnn_search(member: Member) -> Pipeline:
    """The configured livenessnet (its crop, its CNN as the search's base and first candidate)."""
    from classifiers.cnn.search import CNNSearch

    cnn = member("livenessnet")
    return Pipeline([("crop", cnn["crop"]), ("clf", CNNSearch(cnn=cnn["clf"]))])


def _fusion(method: str) -> Callable[[Member], Pipeline]:
    def build(member: Member) -> Pipeline:
        from classifiers.fusion import ScoreFusion

        members = [(name, member(name)) for name in ("colour-lbp-svm", "livenessnet")]
        return Pipeline([("fusion", ScoreFusion(members, method=method))])

    return build


def _deep_features(member: Member) -> Pipeline:
    from classifiers.fusion import DeepFeatureSVM

    cnn = member("livenessnet")
    return Pipeline([("crop", cnn["crop"]), ("clf", DeepFeatureSVM(cnn=cnn["clf"]))])


def _colour_texture() -> FeatureUnion:
    return FeatureUnion([("lbp", ColourLBP()), ("coalbp", CoALBP()), ("lpq", LPQ())])


def _transductive(member: Member) -> Pipeline:
    return Pipeline(
        [
            ("crop", FaceCropper()),
            ("features", ColourLBP()),
            ("norm", HistogramNormaliser("hellinger")),
            ("standardise", BatchStandardiser()),
            ("clf", TunedClassifier(norm=None)),
        ]
    )


def _metadata_audit(member: Member) -> Pipeline:
    return Pipeline(
        [
            ("features", MetadataFeatures()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(class_weight="balanced", max_iter=5000)),
        ]
    )


_ENTRIES = [
    Method(
        "lbp-svm",
        "handcrafted",
        "grey LBP^u2_{8,1} over 3x3 blocks + RBF SVM (Määttä et al. 2011; Chingovska et al. 2012)",
        lambda member: _handcrafted(LBPHistogram(grid=(3, 3))),
    ),
    Method(
        "lbp-multiscale-svm",
        "handcrafted",
        "grey LBP^u2 (8,1)+(8,2)+(16,2) + RBF SVM (Määttä et al. 2011)",
        lambda member: _handcrafted(MultiScaleLBP()),
    ),
    Method(
        "colour-lbp-svm",
        "handcrafted",
        "LBP^u2_{8,1} of each HSV and YCbCr channel + RBF SVM (Boulkenafet et al. 2015/2016)",
        lambda member: _handcrafted(ColourLBP()),
    ),
    Method(
        "fourier-svm",
        "handcrafted",
        "radial log-power spectrum, high-frequency ratios, DoG energies + RBF SVM "
        "(Li et al. 2004; Tan et al. 2010)",
        lambda member: _handcrafted(FourierSpectrum(), norm=None),
    ),
    Method(
        "distortion-svm",
        "handcrafted",
        "specular, blur, chromatic moments, colour diversity + RBF SVM (Wen, Han, Jain 2015)",
        lambda member: _handcrafted(DistortionFeatures(), norm=None),
    ),
    Method(
        "lbp-lr",
        "handcrafted",
        "lbp-svm's LBP features + logistic regression, the linear reference",
        lambda member: _handcrafted(
            LBPHistogram(grid=(3, 3)), kernels=("logistic",), C=(0.01, 0.1, 1.0, 10.0), gamma=(1.0,)
        ),
    ),
    Method(
        "livenessnet",
        "cnn",
        "LivenessNet (Rosebrock 2019): 2x(Conv-BN-ReLU)x2 blocks, dense 64, sigmoid; "
        "seed augmentation, early stopping on dev loss",
        _cnn("livenessnet"),
    ),
    Method(
        "seed-cnn",
        "cnn",
        "the original Liveness-Detection project's CNN (Conv32-64-128-128, Dense512, sigmoid), "
        "seed augmentation, early stopping on dev loss",
        _cnn("seed-cnn"),
    ),
    Method(
        "mobilenet-cdc",
        "cnn",
        "MobileNet-style depthwise-separable CNN of central difference convolutions (Yu et al. "
        "2020), RGB input at 96 px, flip + capture augmentation, label smoothing, cosine LR",
        _mobilenet_cdc,
    ),
    Method(
        "livenessnet-tuned",
        "cnn",
        "LivenessNet with learning rate, batch size, dropout, width and input size chosen on "
        "dev among 4 seeded candidates (livenessnet's own settings first), each trained on train",
        _cnn_search,
    ),
    Method(
        "fusion-zmean",
        "hybrid",
        "mean of dev-z-normalised scores of colour-lbp-svm and livenessnet",
        _fusion("zmean"),
    ),
    Method(
        "fusion-stacking",
        "hybrid",
        "logistic regression on dev scores of colour-lbp-svm and livenessnet",
        _fusion("stacking"),
    ),
    Method(
        "deep-features-svm",
        "hybrid",
        "livenessnet's penultimate-layer embeddings (64-d per network) + RBF SVM trained on the "
        "train split",
        _deep_features,
    ),
    Method(
        "coalbp-svm",
        "handcrafted",
        "CoALBP (LBP+, (R,D) = (1,2),(2,4),(4,8)) of each HSV and YCbCr channel + RBF SVM "
        "(Nosaka et al. 2011; Boulkenafet et al. 2016)",
        lambda member: _handcrafted(CoALBP()),
    ),
    Method(
        "lpq-svm",
        "handcrafted",
        "LPQ (3x3 STFT window, decorrelated) of each HSV and YCbCr channel + RBF SVM "
        "(Ojansivu & Heikkilä 2008; Boulkenafet et al. 2016)",
        lambda member: _handcrafted(LPQ()),
    ),
    Method(
        "colour-texture-svm",
        "handcrafted",
        "colour LBP + CoALBP + LPQ of each HSV and YCbCr channel, concatenated, + RBF SVM "
        "(Boulkenafet et al. 2016)",
        lambda member: _handcrafted(_colour_texture()),
    ),
    Method(
        "colour-lbp-svm-transductive",
        "transductive",
        "colour-lbp-svm with its Hellinger features standardised by the statistics of each "
        "scored set itself (unlabelled test data), not of the training set",
        _transductive,
    ),
    Method(
        "metadata-audit",
        "audit",
        "AUDIT, not liveness: file width, height, aspect, bytes/pixel, JPEG quality + "
        "logistic regression (how much the files alone give away)",
        _metadata_audit,
    ),
]

METHODS: dict[str, Method] = {m.name: m for m in _ENTRIES}
EXTERNAL_PREFIX = "onnx:"
PER_SOURCE_PREFIX = "per-source:"
_EXTERNAL_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a TOML bare key, and safe in file names


def _per_source(base: str) -> Callable[[Member], Pipeline]:
    def build(member: Member) -> Pipeline:
        from classifiers.fusion import SourceEnsemble

        return Pipeline([("sources", SourceEnsemble(member(base)))])

    return build


def _external(member: Member) -> Pipeline:
    from classifiers.onnx_model import ONNXClassifier

    return Pipeline([("crop", FaceCropper()), ("clf", ONNXClassifier())])


def get_method(name: str) -> Method:
    """The method called `name`: a registered one, ``per-source:<method>`` (one registered
    method per training dataset, `classifiers.fusion.SourceEnsemble`), or ``onnx:<name>`` (an
    external ONNX model).

    ValueError listing the known names otherwise.
    """
    if name in METHODS:
        return METHODS[name]
    if isinstance(name, str) and name.startswith(PER_SOURCE_PREFIX):
        base = name[len(PER_SOURCE_PREFIX) :]
        if base not in METHODS or METHODS[base].family == "transductive":
            raise ValueError(
                f"bad per-source method {name!r}: write {PER_SOURCE_PREFIX}<method>, the method "
                f"one of {', '.join(m for m in METHODS if METHODS[m].family != 'transductive')} "
                "(a transductive method standardises each scored dataset on its own, which the "
                "ensemble's fusion on the whole dev set does not)"
            )
        return Method(
            name,
            METHODS[base].family,
            f"one {base} per training dataset, their scores fused on dev (z-normalised and "
            "averaged, or stacked; on one dataset, the method itself)",
            _per_source(base),
        )
    if isinstance(name, str) and name.startswith(EXTERNAL_PREFIX):
        model = name[len(EXTERNAL_PREFIX) :]
        if not _EXTERNAL_NAME.fullmatch(model):
            raise ValueError(
                f"bad external method {name!r}: write {EXTERNAL_PREFIX}<name>, the name made "
                "of letters, digits, '-' and '_' (its spec is the config's [onnx.<name>] table)"
            )
        return Method(
            name,
            "external",
            f"external ONNX model {model!r} (the config's [onnx.{model}] table), run by ONNX "
            "Runtime on the crop step's face crops; threshold chosen on dev",
            _external,
        )
    raise ValueError(f"unknown method {name!r}; known: {known_names()}")


def members(name: str) -> list[str]:
    """The methods `name`'s pipeline is built from (a fusion's members, a per-source method's
    base, theirs in turn), each once, in building order; [] for a plain method."""
    found: list[str] = []

    def member(base: str) -> Pipeline:  # builds `base` once, noting it and its own members
        if base not in found:
            found.append(base)
        return get_method(base).build(member)

    get_method(name).build(member)
    return found


def known_names() -> str:
    """The registered names and the two name forms, for messages."""
    return f"{', '.join(METHODS)}, {EXTERNAL_PREFIX}<name>, {PER_SOURCE_PREFIX}<method>"


def build_method(
    name: str,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Pipeline:
    """The pipeline of method `name` with its configured parameters, not yet fitted.

    params: per method name, `set_params` keys of its pipeline (``{"lbp-svm": {"clf__C":
    [1.0]}}``); a fusion's members are built with their own entries. defaults: keys applied to
    every pipeline that has them (the config's ``[crop]``: ``{"crop__size": 64}``), before its
    own entry. A key the pipeline does not have is a ValueError naming it and the valid keys.
    """
    params = params or {}
    defaults = defaults or {}
    pipe = get_method(name).build(lambda member: build_method(member, params, defaults))
    valid = pipe.get_params(deep=True)
    own = dict(params.get(name, {}))
    unknown = sorted(k for k in own if k not in valid)
    if unknown:
        settable = sorted(k for k, v in valid.items() if "__" in k and not hasattr(v, "fit"))
        raise ValueError(
            f"method {name!r} has no parameter {', '.join(unknown)}; "
            f"settable: {', '.join(settable)}"
        )
    pipe.set_params(**{**{k: v for k, v in defaults.items() if k in valid}, **own})
    return pipe
