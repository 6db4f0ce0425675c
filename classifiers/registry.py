"""Every named method the benchmark runs: handcrafted + SVM, the metadata audit, CNNs, hybrids."""

from __future__ import annotations

from classifiers.cnn import CNN_METHODS
from classifiers.fusion import HYBRID_METHODS
from classifiers.methods import METHODS as HANDCRAFTED_METHODS
from classifiers.methods import Method

METHODS: dict[str, Method] = {**HANDCRAFTED_METHODS, **CNN_METHODS, **HYBRID_METHODS}
