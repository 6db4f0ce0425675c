"""CNN baselines (TensorFlow/Keras) behind the scikit-learn estimator API.

`classifiers.cnn.models`: the architectures (`liveness_net`, `seed_cnn`).
`classifiers.cnn.training`: seeding, the seed project's augmentation, tf.data input.
`classifiers.cnn.estimator`: `CNNClassifier`, the estimator over records the harness runs.
This module holds the registry of named CNN methods; TensorFlow is imported only when a
method is built.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from classifiers.methods import Method

CNN_NAMES = ("livenessnet", "seed-cnn")


def build_cnn(name: str, **params: Any):  # noqa: ANN201 - CNNClassifier, imported lazily
    """A fresh `CNNClassifier` for CNN `name` ("livenessnet" or "seed-cnn"); `params` override
    its defaults (input_size, augment, epochs, ...)."""
    if name not in CNN_NAMES:
        raise ValueError(f"unknown CNN {name!r}; known: {', '.join(CNN_NAMES)}")
    from classifiers.cnn.estimator import CNNClassifier

    return CNNClassifier(architecture=name, **params)


CNN_METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "livenessnet",
            "cnn",
            "LivenessNet (Rosebrock 2019): 2x(Conv-BN-ReLU)x2 blocks, dense 64, sigmoid; "
            "seed augmentation, early stopping on dev loss",
            partial(build_cnn, "livenessnet"),
        ),
        Method(
            "seed-cnn",
            "cnn",
            "the original Liveness-Detection project's CNN (Conv32-64-128-128, Dense512, sigmoid), "
            "seed augmentation, early stopping on dev loss",
            partial(build_cnn, "seed-cnn"),
        ),
    ]
}
