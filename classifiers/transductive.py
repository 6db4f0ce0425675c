"""Unlabelled per-batch standardisation: a transductive step that uses the scored data itself.

`BatchStandardiser.transform` standardises each feature with the mean and standard deviation
of the batch it is given, not of the training data. The harness scores each fold's dev and
test parts in separate calls, so every scored part (a whole test dataset in a cross-dataset
run) is standardised by its own unlabelled statistics: a domain adaptation that needs no
labels but does look at the test data, so methods that use it form the ``transductive``
family and are reported apart from (and never ranked with) the inductive methods.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class BatchStandardiser(TransformerMixin, BaseEstimator):
    """(X - mean(X)) / std(X) per feature, with the statistics of the batch being transformed.

    `min_batch` is the smallest batch accepted: statistics of a handful of samples are noise,
    and a single sample has none. Features constant in a batch are only centred.
    """

    def __init__(self, min_batch: int = 10) -> None:
        self.min_batch = min_batch

    def _validate_params(self) -> None:
        if isinstance(self.min_batch, bool) or not isinstance(self.min_batch, int | np.integer):
            raise ValueError(f"min_batch must be an integer >= 2, got {self.min_batch!r}")
        if self.min_batch < 2:
            raise ValueError(f"min_batch must be an integer >= 2, got {self.min_batch!r}")

    def fit(self, X: np.ndarray, y: object = None) -> BatchStandardiser:
        """Check the parameters and the feature count; nothing is learnt from X."""
        self._validate_params()
        validate_data(self, X, dtype=np.float64)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """X standardised by its own per-feature mean and standard deviation."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if X.shape[0] < self.min_batch:
            raise ValueError(
                f"BatchStandardiser: a batch of {X.shape[0]} samples is too small to "
                f"standardise by its own statistics (min_batch={self.min_batch}); score a "
                "whole set at once"
            )
        std = X.std(axis=0)
        return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
