"""How a method's pipeline is fitted: groups by metadata routing, dev to the step that takes it.

`fit_method(pipe, X, y, groups=..., dev=(X_dev, y_dev))` is the one fitting rule shared by the
harness, the fusions and model saving:

- ``groups`` (one group id per training record: subject, else video, else duplicate cluster)
  reach every step that requests them through scikit-learn's metadata routing
  (`TunedClassifier`'s inner cross-validation does), so no step inspects record types.
- ``sample_weight`` (e.g. every dataset weighted equally when training on several) reaches the
  steps that request it the same way; a method none of whose steps takes weights (the metadata
  audit) is fitted unweighted.
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


def estimators(obj: Any) -> list[BaseEstimator]:
    """`obj` and every estimator nested in its parameters (steps, fusion members, ...)."""
    if isinstance(obj, BaseEstimator):
        found = [obj]
        for value in obj.get_params(deep=False).values():
            found += estimators(value)
        return found
    if isinstance(obj, list | tuple):
        return [e for item in obj for e in estimators(item)]
    return []


def needs_several_datasets(obj: Any) -> bool:
    """Does an estimator in `obj` train domain-adversarially (a CNN's `domain_adversarial`), so
    that every fit of `obj` needs training data from several datasets?"""
    return any(getattr(e, "domain_adversarial", 0) for e in estimators(obj))


def accepts_dev(estimator: BaseEstimator) -> bool:
    """Does `estimator.fit` take a `dev` keyword?"""
    return "dev" in inspect.signature(estimator.fit).parameters


def _routed(estimator: BaseEstimator, metadata: dict[str, Any]) -> dict[str, Any]:
    """The given (non-None) metadata that `estimator` or one of its steps requests."""
    given = {k: v for k, v in metadata.items() if v is not None}
    wanted = get_routing_for_object(estimator).consumes("fit", set(given)) if given else set()
    return {k: given[k] for k in wanted}


def fit_method(
    pipe: BaseEstimator,
    X: Any,
    y: Sequence[int],
    *,
    groups: Sequence | None = None,
    dev: tuple[Any, Sequence[int]] | None = None,
    sample_weight: Sequence[float] | None = None,
) -> BaseEstimator:
    """Fit `pipe` on (X, y) as the module docstring says; returns `pipe`, fitted."""
    y = np.asarray(y)
    with config_context(enable_metadata_routing=True):
        steps = pipe.steps if isinstance(pipe, Pipeline) else [("", pipe)]
        last = steps[-1][1]
        metadata = {"groups": groups, "sample_weight": sample_weight}
        if dev is None or not accepts_dev(last):
            return pipe.fit(X, y, **_routed(pipe, metadata))
        X_dev, y_dev = dev
        if len(steps) > 1:
            head = pipe[:-1]  # shares its step objects with `pipe`, so fitting it fits them
            X, X_dev = head.fit_transform(X, y), head.transform(X_dev)
        last.fit(X, y, dev=(X_dev, np.asarray(y_dev)), **_routed(last, metadata))
        return pipe
