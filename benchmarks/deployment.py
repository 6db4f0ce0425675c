"""`--save-models`: fit each method once more for use on new images, and save it with its threshold.

It trains on fold 0's train and test parts (in a cross-dataset run, on the training dataset's
train part only) and fixes the threshold on fold 0's dev part, which is group-disjoint from both,
so the saved threshold always comes from data the model was not trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.experiment import Experiment
from benchmarks.harness import fit_on
from benchmarks.metrics import choose_threshold
from classifiers.persistence import save_fitted
from classifiers.registry import get_method, members


def save_models(exp: Experiment, methods: Sequence[str]) -> None:
    """Fit, threshold on dev, and save each of `methods` under `<out>/models/<name>`."""
    fold = exp.folds[0]
    X = np.empty(len(exp.records), dtype=object)
    X[:] = exp.records
    y = np.array([r.label for r in exp.records])
    train = fold.train if exp.cross_dataset else np.concatenate([fold.train, fold.test])
    dev = (X[fold.dev], y[fold.dev])
    for name in methods:
        estimator = fit_on(exp.config.pipeline(name), X[train], y[train], dev)
        dev_scores = np.asarray(estimator.decision_function(dev[0]), dtype=float)
        types = [r.attack_type for r in dev[0]]
        threshold = choose_threshold(dev_scores, dev[1], types, exp.config.criterion)
        path = save_fitted(
            exp.out / "models" / name,
            estimator,
            threshold,
            {
                "method": name,
                "family": get_method(name).family,
                "params": exp.config.method_params(name),
                # the [params] its fusion members or per-source base were built with
                "member_params": {m: exp.config.method_params(m) for m in members(name)},
                "criterion": exp.config.criterion,
                "dataset": exp.name,
                "seed": exp.config.seed,
            },
        )
        print(f"saved {name} (threshold {threshold:.4g}) -> {path}")
