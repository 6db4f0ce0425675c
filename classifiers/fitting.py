"""How a method's pipeline is fitted: groups by metadata routing, dev to the step that takes it.

`fit_method(pipe, X, y, groups=..., dev=(X_dev, y_dev))` is the one fitting rule shared by the
harness, the fusions and model saving:

- ``groups`` (one group id per training record: subject, else video, else duplicate cluster)
  reach every step that requests them through scikit-learn's metadata routing
  (`TunedClassifier`'s inner cross-validation does), so no step inspects record types.
- ``dev`` goes to a final step whose `fit` takes a ``dev`` keyword (CNN early stopping,
  fusion): the steps before it are fitted on the training records and transform the dev records
  the same way, so the final step sees train and dev as the same kind of input. Other
  pipelines never see the dev set.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import get_routing_for_object


def accepts_dev(estimator: BaseEstimator) -> bool:
    """Does `estimator.fit` take a `dev` keyword?"""
    return "dev" in inspect.signature(estimator.fit).parameters


def _consumes_groups(estimator: BaseEstimator) -> bool:
    return bool(get_routing_for_object(estimator).consumes("fit", {"groups"}))


def fit_method(
    pipe: BaseEstimator,
    X: Any,
    y: Sequence[int],
    *,
    groups: Sequence | None = None,
    dev: tuple[Any, Sequence[int]] | None = None,
) -> BaseEstimator:
    """Fit `pipe` on (X, y) as the module docstring says; returns `pipe`, fitted."""
    y = np.asarray(y)
    with config_context(enable_metadata_routing=True):
        steps = pipe.steps if isinstance(pipe, Pipeline) else [("", pipe)]
        last = steps[-1][1]
        if dev is None or not accepts_dev(last):
            metadata = {"groups": groups} if groups is not None and _consumes_groups(pipe) else {}
            return pipe.fit(X, y, **metadata)
        X_dev, y_dev = dev
        if len(steps) > 1:
            head = pipe[:-1]  # shares its step objects with `pipe`, so fitting it fits them
            X, X_dev = head.fit_transform(X, y), head.transform(X_dev)
        metadata = {"groups": groups} if groups is not None and _consumes_groups(last) else {}
        last.fit(X, y, dev=(X_dev, np.asarray(y_dev)), **metadata)
        return pipe
