"""Classical-plus-deep hybrids: score-level fusion, and CNN embeddings fed to an SVM.

- `ScoreFusion` fits its base estimators on TRAIN, scores the DEVELOPMENT set with them, and
  learns the fusion from those dev scores only: z-normalisation statistics ("zmean": mean of
  z-normalised scores) or a logistic-regression stacker ("stacking"). Test data never reach
  `fit` (the harness passes train and dev only), so test labels cannot shape the fusion.
  Note: the harness also picks its decision threshold on the same dev scores, so a stacker's
  dev scores are in-sample for it; the threshold may be slightly optimistic on dev.
- `SourceEnsemble` fits one copy of a method per training dataset and fuses their scores the
  same way (dev statistics or a stacker): multi-source training without pooling the sources.
- `DeepFeatureSVM` trains a CNN on train (dev for early stopping only), then fits an RBF SVM
  on the penultimate-layer embeddings of the TRAINING images.
All scores are attack scores (higher = more likely an attack).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from classifiers.fitting import fit_method, needs_several_datasets
from features.records import dataset_names

FUSION_METHODS = ("zmean", "stacking")


def attack_scores(estimator: BaseEstimator, X: Any) -> np.ndarray:
    """1-D attack scores: decision_function, else the attack column of predict_proba."""
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X), dtype=float).ravel()
    return np.asarray(estimator.predict_proba(X), dtype=float)[:, 1]


def _check_dev(dev: Any, who: str) -> tuple[Any, np.ndarray]:
    if dev is None:
        raise ValueError(
            f"{who} needs dev=(X_dev, y_dev): it is fitted on development scores only, never test"
        )
    X_dev, y_dev = dev
    y_dev = np.asarray(y_dev)
    if len(X_dev) != len(y_dev):
        raise ValueError(f"{who}: dev has {len(X_dev)} items but {len(y_dev)} labels")
    return X_dev, y_dev


class ScoreFusion(ClassifierMixin, BaseEstimator):
    """Score-level fusion of several estimators over the same X (e.g. an SVM and a CNN).

    estimators : list of (name, estimator) pairs, e.g. registered methods' pipelines, each fitted
    with `classifiers.fitting.fit_method` (groups and dev reach them as they would alone).
    method : "zmean" (mean of per-method z-scores, statistics from dev scores) or "stacking"
    (logistic regression on the dev z-scores, with inverse-frequency class weights; `C` is its
    inverse regularisation).
    After fit: `estimators_` (fitted clones), `mean_`, `scale_` (per-method dev score mean
    and std), `stacker_` (stacking only), `weights_` (the fused score's weight per method).
    """

    def __init__(
        self, estimators: Sequence[tuple[str, BaseEstimator]], method: str = "zmean", C: float = 1.0
    ) -> None:
        self.estimators = estimators
        self.method = method
        self.C = C

    __metadata_request__fit = {"groups": True, "sample_weight": True}  # noqa: RUF012 - to members

    def _validate_params(self) -> None:
        """Raise ValueError naming a fusion parameter outside what it supports."""
        if self.method not in FUSION_METHODS:
            raise ValueError(f"unknown fusion method {self.method!r}; choose from {FUSION_METHODS}")
        if isinstance(self.C, bool) or not isinstance(self.C, int | float) or not self.C > 0:
            raise ValueError(f"C must be a positive number, got {self.C!r}")

    def fit(
        self,
        X: Any,
        y: Sequence[int],
        dev: tuple[Any, Sequence[int]] | None = None,
        groups: Sequence | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> ScoreFusion:
        """Fit every base estimator on (X, y), then the fusion on their scores of `dev`."""
        self._validate_params()
        names = [name for name, _ in self.estimators]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(
                f"ScoreFusion needs at least two uniquely named estimators, got {names}"
            )
        X_dev, y_dev = _check_dev(dev, "ScoreFusion")
        self.estimators_ = []
        for name, est in self.estimators:
            fitted = fit_method(
                clone(est), X, y, groups=groups, dev=(X_dev, y_dev), sample_weight=sample_weight
            )
            self.estimators_.append((name, fitted))
        return self._fit_fusion(X_dev, y_dev)

    def _fit_fusion(self, X_dev: Any, y_dev: np.ndarray) -> ScoreFusion:
        """Learn the fusion of the fitted `estimators_` from their scores of the dev set."""
        S = self.base_scores(X_dev)
        self.mean_ = S.mean(axis=0)
        std = S.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        if self.method == "stacking":
            if np.unique(y_dev).size < 2:
                raise ValueError(
                    f"{type(self).__name__}(stacking): the dev labels hold one class only"
                )
            self.stacker_ = LogisticRegression(C=self.C, class_weight="balanced")
            self.stacker_.fit(self._z(S), y_dev)
            self.weights_ = self.stacker_.coef_[0].copy()
        else:
            self.weights_ = np.full(S.shape[1], 1.0 / S.shape[1])
        self.classes_ = np.array([0, 1])
        return self

    def base_scores(self, X: Any) -> np.ndarray:
        """(N, n_estimators) attack scores of the fitted base estimators."""
        check_is_fitted(self, "estimators_")
        return np.column_stack([attack_scores(est, X) for _, est in self.estimators_])

    def _z(self, S: np.ndarray) -> np.ndarray:
        return (S - self.mean_) / self.scale_

    def decision_function(self, X: Any) -> np.ndarray:
        """The fused attack score."""
        Z = self._z(self.base_scores(X))
        if self.method == "stacking":
            return self.stacker_.decision_function(Z)
        return Z.mean(axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """1 (attack) where the fused score is >= 0 (the dev mean for zmean; P=0.5 for stacking)."""
        return (self.decision_function(X) >= 0).astype("int64")


class SourceEnsemble(ScoreFusion):
    """One expert per training dataset, fused like `ScoreFusion` on the dev scores of all of them.

    Training on a union of datasets can hide a negative transfer (what a CNN learns from screen
    replays hurts it on prints); a per-source ensemble, a common domain-generalisation baseline,
    keeps each source's model apart and averages their opinions instead.

    estimator : the method (e.g. a registered method's pipeline over records) cloned and fitted,
    with `classifiers.fitting.fit_method`, on the training records of each dataset (the
    records' ``extra["dataset"]``; records without one form a single source, so on one dataset
    the ensemble is the method itself, its scores z-normalised). Each expert gets its dataset's
    dev records for early stopping (all dev records if those are not of both classes), its
    groups, and its sample weights rescaled to mean 1 within the source.
    method, C : the fusion of the experts' scores, learned on the whole dev set, as in
    `ScoreFusion` ("zmean": the mean of dev-z-normalised scores; "stacking").
    After fit: `estimators_` ((dataset, fitted expert) pairs, sorted by dataset), and
    `ScoreFusion`'s `mean_`, `scale_`, `weights_` (and `stacker_`).
    """

    def __init__(self, estimator: BaseEstimator, method: str = "zmean", C: float = 1.0) -> None:
        self.estimator = estimator
        self.method = method
        self.C = C

    def _validate_params(self) -> None:
        """`ScoreFusion`'s checks, and ValueError if an expert would train domain-adversarially:
        each sees one dataset, so there is no domain to tell apart."""
        super()._validate_params()
        if needs_several_datasets(self.estimator):
            raise ValueError(
                "each expert of a per-source ensemble trains on one dataset, so it cannot train "
                "domain-adversarially: leave domain_adversarial at 0 for per-source methods"
            )

    def fit(
        self,
        X: Any,
        y: Sequence[int],
        dev: tuple[Any, Sequence[int]] | None = None,
        groups: Sequence | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> SourceEnsemble:
        """Fit one clone of `estimator` per training dataset, then the fusion on `dev`."""
        self._validate_params()
        X_dev, y_dev = _check_dev(dev, "SourceEnsemble")
        y = np.asarray(y)
        sources, dev_sources = dataset_names(X), dataset_names(X_dev)
        if sample_weight is not None:
            weights_all = np.asarray(sample_weight, dtype=float)
            if weights_all.shape != y.shape:
                raise ValueError(
                    f"SourceEnsemble: {weights_all.size} sample weights for {y.size} records"
                )
        self.estimators_ = []
        for name in sorted(set(sources)):
            rows = np.flatnonzero(sources == name)
            if np.unique(y[rows]).size < 2:
                raise ValueError(
                    f"SourceEnsemble: training dataset {name or '(unnamed)'!r} holds one class "
                    "only; each source needs bona fide and attack presentations"
                )
            own = np.flatnonzero(dev_sources == name)
            if np.unique(y_dev[own]).size < 2:  # none of its own, or of one class: all of dev
                own = np.arange(len(y_dev))
            weights = None
            if sample_weight is not None:
                weights = weights_all[rows]
                if not weights.mean() > 0:
                    raise ValueError(
                        f"SourceEnsemble: the sample weights of training dataset "
                        f"{name or '(unnamed)'!r} are all zero"
                    )
                weights = weights / weights.mean()
            fitted = fit_method(
                clone(self.estimator),
                _take(X, rows),
                y[rows],
                groups=None if groups is None else _take(groups, rows),
                dev=(_take(X_dev, own), y_dev[own]),
                sample_weight=weights,
            )
            self.estimators_.append((name, fitted))
        return self._fit_fusion(X_dev, y_dev)


def _take(items: Any, rows: np.ndarray) -> Any:
    """`items[rows]` for an array, else a list of those items."""
    if isinstance(items, np.ndarray):
        return items[rows]
    return [items[i] for i in rows]


def default_embedding_svm(C: float = 1.0) -> Pipeline:
    """StandardScaler + RBF SVC (gamma="scale", balanced class weights)."""
    svc = SVC(kernel="rbf", C=C, gamma="scale", class_weight="balanced")
    return make_pipeline(StandardScaler(), svc)


class DeepFeatureSVM(ClassifierMixin, BaseEstimator):
    """A CNN's penultimate-layer embeddings -> SVM, both trained on the training split.

    cnn : a `CNNClassifier` over face crops (default: LivenessNet with default settings); it is
    trained on train with `dev` used only for its early stopping. svm : an estimator over embeddings
    (default `default_embedding_svm()`), fitted on the TRAINING embeddings.
    """

    def __init__(self, cnn: BaseEstimator | None = None, svm: BaseEstimator | None = None) -> None:
        self.cnn = cnn
        self.svm = svm

    __metadata_request__fit = {"sample_weight": True}  # noqa: RUF012 - scikit-learn's declaration

    def fit(
        self,
        X: Any,
        y: Sequence[int],
        dev: tuple[Any, Sequence[int]] | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> DeepFeatureSVM:
        """Train the CNN (dev for early stopping), then the SVM on its training embeddings."""
        if self.cnn is None:
            from classifiers.cnn.estimator import CNNClassifier  # TensorFlow only when needed

            self.cnn_ = CNNClassifier()
        else:
            self.cnn_ = clone(self.cnn)
        self.cnn_.fit(X, y, dev=dev, sample_weight=sample_weight)
        self.svm_ = clone(self.svm) if self.svm is not None else default_embedding_svm()
        weighted = {} if sample_weight is None else {"svc__sample_weight": sample_weight}
        with config_context(enable_metadata_routing=False):  # weights go by step name
            self.svm_.fit(self.cnn_.embed(X), np.asarray(y), **weighted)
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The SVM's attack score of each item's CNN embedding."""
        check_is_fitted(self, "svm_")
        return attack_scores(self.svm_, self.cnn_.embed(X))

    def predict(self, X: Any) -> np.ndarray:
        return (self.decision_function(X) >= 0).astype("int64")
