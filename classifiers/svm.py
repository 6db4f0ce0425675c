"""SVM pipelines for handcrafted features, and the group-aware tuned classifier they end in.

`make_classifier` builds `normalise -> scale -> classifier` for one kernel:

- ``norm``: ``"hellinger"`` (L1 then square root, Arandjelović & Zisserman 2012: turns the
  Euclidean geometry of RBF/linear kernels into the Hellinger one suited to histograms),
  ``"l1"``, or ``None`` for features that are not histograms (Fourier, distortion).
- ``kernel``: ``"rbf"``, ``"linear"``, ``"chi2"`` (exponential chi-squared kernel, `SVC` with
  `Chi2Kernel`), ``"additive_chi2"`` (`AdditiveChi2Sampler` + `LinearSVC`, the scalable form for
  large datasets) or ``"logistic"`` (logistic regression, the simple reference).

Above `approximate_above` training rows (default 20,000: an exact kernel SVM costs time
quadratic in the rows, memory too), `TunedClassifier` fits kernel approximations with a linear SVM
instead (`APPROXIMATIONS`): RBF -> `Nystroem` features + `LinearSVC`; exponential chi2 ->
`AdditiveChi2Sampler` + `LinearSVC` (the additive chi2 kernel, Vedaldi & Zisserman 2012); a
linear kernel -> `LinearSVC`. `variant_` says which ran.

In `TunedClassifier`, an exact RBF SVM on vectors of at least `GRAM_FROM` features (and at most
`GRAM_ROWS` training rows) is a `GramRBFSVC`: the same model as
`SVC(kernel="rbf")`, its kernel matrices computed by BLAS instead of libsvm's loop over entries
(on CoALBP's 18,432-long vectors, that loop is most of a fit's time).

`TunedClassifier` is the last step of every handcrafted method's pipeline: over a feature matrix,
it grid-searches C, gamma and kernel with `StratifiedGroupKFold`. It requests `groups` through
scikit-learn's metadata routing (the harness passes each record's group: subject, else video,
else duplicate cluster), so tuning never puts a subject or a duplicate on both sides of an inner
split. Gamma values are multipliers of
data-derived scales (RBF: sklearn's "scale", 1 / (n_features * var); chi2: 1 / mean chi2
distance, Zhang et al. 2007), so one grid fits features of any length.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.kernel_approximation import AdditiveChi2Sampler, Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.pairwise import additive_chi2_kernel, chi2_kernel, euclidean_distances
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

KERNELS = ("rbf", "linear", "chi2", "additive_chi2", "logistic")
NORMS = ("hellinger", "l1", None)
_HISTOGRAM_KERNELS = ("chi2", "additive_chi2")
APPROXIMATIONS = {
    "rbf": "Nystroem + LinearSVC",
    "chi2": "AdditiveChi2Sampler + LinearSVC",
    "linear": "LinearSVC",
}
"""What each exact kernel becomes above `TunedClassifier.approximate_above` training rows."""
DEFAULT_APPROXIMATE_ABOVE = 20_000
GRAM_FROM = 2_000
"""In `TunedClassifier`, exact RBF SVMs on at least this many features (and at most `GRAM_ROWS`
training rows: the kernel matrix is held in memory) compute their kernels with BLAS."""
GRAM_ROWS = 10_000


class HistogramNormaliser(TransformerMixin, BaseEstimator):
    """Row-wise L1 normalisation, optionally followed by a square root (Hellinger map)."""

    def __init__(self, norm: str | None = "hellinger") -> None:
        self.norm = norm

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags type
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.norm is not None
        return tags

    def fit(self, X: np.ndarray, y: object = None) -> HistogramNormaliser:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        X = validate_data(self, X, dtype=np.float64)
        if self.norm is not None and np.any(X < 0):
            raise ValueError(
                f"Negative values in data passed to HistogramNormaliser(norm={self.norm!r}): "
                "histogram features are non-negative; use norm=None"
            )
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.norm is None:
            return X
        if np.any(X < 0):
            raise ValueError(
                f"Negative values in data passed to HistogramNormaliser(norm={self.norm!r}): "
                "histogram features are non-negative; use norm=None"
            )
        totals = X.sum(axis=1, keepdims=True)
        X = X / np.where(totals > 0, totals, 1.0)
        return np.sqrt(X) if self.norm == "hellinger" else X


class Chi2Kernel:
    """Picklable callable k(x, y) = exp(-gamma * sum((x - y)^2 / (x + y))) for `SVC(kernel=...)`."""

    def __init__(self, gamma: float = 1.0) -> None:
        self.gamma = gamma

    def __call__(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return chi2_kernel(X, Y, gamma=self.gamma)

    def __repr__(self) -> str:
        return f"Chi2Kernel(gamma={self.gamma:.4g})"


def _check_binary(y: np.ndarray) -> np.ndarray:
    """The two classes of `y`, or ValueError saying why it does not hold exactly two."""
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {kind}; y must hold class labels 0 and 1")
    classes = np.unique(y)
    if classes.size > 2:
        raise ValueError(f"Only binary classification is supported. Got {classes}")
    if classes.size < 2:
        raise ValueError(f"y holds one class only ({classes}); it needs both classes")
    return classes


class GramRBFSVC(ClassifierMixin, BaseEstimator):
    """`SVC(kernel="rbf", C, gamma)` fitted on its Gram matrix computed by BLAS.

    libsvm evaluates each kernel entry with its own loop over the features, which dominates on
    long vectors; `euclidean_distances` computes them all as one matrix product, and
    `SVC(kernel="precomputed")` solves the same problem (decision values equal to `SVC`'s within
    rounding). Only the support vectors are kept for scoring. gamma: a number or "scale"
    (sklearn's 1 / (n_features * X.var())).
    """

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags type
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def __init__(
        self, C: float = 1.0, gamma: float | str = "scale", class_weight: str | None = "balanced"
    ) -> None:
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight

    def fit(
        self, X: np.ndarray, y: Sequence[int], sample_weight: Sequence[float] | None = None
    ) -> GramRBFSVC:
        gamma = self.gamma
        if gamma != "scale" and (
            isinstance(gamma, bool) or not isinstance(gamma, Real) or gamma <= 0
        ):
            raise ValueError(f"gamma must be a positive number or 'scale', got {gamma!r}")
        X, y = validate_data(self, X, y, dtype=np.float64)
        _check_binary(y)
        if gamma == "scale":
            variance = X.var()
            gamma = 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
        self.gamma_ = float(gamma)
        gram = euclidean_distances(X, squared=True)
        np.exp(gram * -self.gamma_, out=gram)
        svc = SVC(kernel="precomputed", C=self.C, class_weight=self.class_weight)
        svc.fit(gram, y, sample_weight=sample_weight)
        self.classes_ = svc.classes_
        # libsvm leaves out samples of weight <= 0 before solving: support_ indexes the rest
        kept = np.arange(len(X))
        if sample_weight is not None:
            kept = np.flatnonzero(_check_sample_weight(sample_weight, X) > 0)
        self.support_vectors_ = X[kept[svc.support_]]
        self.dual_coef_ = svc.dual_coef_
        self.intercept_ = svc.intercept_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Signed distance to the margin: positive for `classes_[1]` (attack), as `SVC`'s."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        dist = euclidean_distances(X, self.support_vectors_, squared=True)
        return np.exp(-self.gamma_ * dist) @ self.dual_coef_[0] + self.intercept_[0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def _final_step(
    kernel: str,
    C: float,
    gamma: float | str,
    random_state: int,
    approximate: bool = False,
    n_components: int = 500,
    gram: bool = False,
) -> BaseEstimator:
    """The classifier ending a kernel's pipeline; gram: an exact RBF SVM as `GramRBFSVC`."""
    if approximate and kernel == "rbf":
        # n_jobs=1: how the kernel is chunked (and so its rounding) never depends on the joblib
        # backend in force, so a run on Dask scores bit-identically to an in-process run.
        nystroem = Nystroem(
            kernel="rbf",
            gamma=gamma,
            n_components=n_components,
            random_state=random_state,
            n_jobs=1,
        )
        svm = LinearSVC(C=C, class_weight="balanced", random_state=random_state)
        return Pipeline([("map", nystroem), ("svm", svm)])
    if approximate and kernel == "linear":
        return LinearSVC(C=C, class_weight="balanced", random_state=random_state)
    if approximate and kernel == "chi2":  # its approximation is the additive chi2 pipeline
        kernel = "additive_chi2"
    if kernel == "rbf" and gram:
        return GramRBFSVC(C=C, gamma=gamma, class_weight="balanced")
    if kernel in ("rbf", "linear"):
        return SVC(kernel=kernel, C=C, gamma=gamma, class_weight="balanced")
    if kernel == "chi2":
        g = 1.0 if gamma == "scale" else gamma
        return SVC(kernel=Chi2Kernel(g), C=C, class_weight="balanced")
    if kernel == "additive_chi2":
        return LinearSVC(C=C, class_weight="balanced", random_state=random_state)
    if kernel == "logistic":
        return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def make_classifier(
    kernel: str = "rbf",
    C: float = 1.0,
    gamma: float | str = "scale",
    norm: str | None = "hellinger",
    scale: bool = True,
    random_state: int = 0,
    approximate: bool = False,
) -> Pipeline:
    """Features -> attack scores: `norm` -> [chi2 map] -> [StandardScaler] -> SVC / LinearSVC / LR.

    Chi-squared kernels need non-negative histograms, so they take `norm` "l1"/"hellinger" and
    skip the scaler (for "additive_chi2" the scaler follows the explicit feature map).
    `approximate`: the kernel's `APPROXIMATIONS` entry instead of the exact SVM.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if kernel in _HISTOGRAM_KERNELS and norm is None:
        raise ValueError(
            f"kernel {kernel!r} needs histogram features: set norm='l1' or 'hellinger'"
        )
    if approximate and kernel == "chi2":
        kernel = "additive_chi2"
    steps = [("norm", HistogramNormaliser(norm))]
    if kernel == "additive_chi2":
        steps.append(("map", AdditiveChi2Sampler(sample_steps=2)))
    use_scaler = scale and kernel != "chi2"
    steps.append(("scale", StandardScaler() if use_scaler else "passthrough"))
    steps.append(("clf", _final_step(kernel, C, gamma, random_state, approximate)))
    return Pipeline(steps)


def _rbf_scale(pipe: Pipeline, F: np.ndarray) -> float:
    """sklearn's gamma="scale" for the data as the SVC will see it."""
    Z = pipe[:-1].fit_transform(F)
    var = Z.var()
    return 1.0 / (Z.shape[1] * var) if var > 0 else 1.0


def _chi2_scale(pipe: Pipeline, F: np.ndarray, max_rows: int = 300) -> float:
    """1 / mean chi2 distance between (up to `max_rows`) normalised training rows."""
    Z = pipe[:-1].fit_transform(F)[:max_rows]
    d = -additive_chi2_kernel(Z)
    n = d.shape[0]
    mean = d.sum() / max(n * (n - 1), 1)
    return 1.0 / mean if mean > 0 else 1.0


_GAMMA_SCALES = {"rbf": _rbf_scale, "chi2": _chi2_scale}


class TunedClassifier(ClassifierMixin, BaseEstimator):
    """Features -> a classifier grid-searched over kernels, C and gamma with group-aware inner CV.

    `kernels` (any of `KERNELS`: SVMs, or "logistic" for a logistic regression), `C` and
    `gamma` span the grid (gamma as multipliers of the data-derived scale; ignored by linear
    kernels). With a single candidate no search is run. `fit(X, y, groups=None)`: `groups`
    (requested through metadata routing) keep each group on one side of every inner split;
    without them each sample is its own group. After `fit`: `best_params_`, `best_score_`
    (mean inner-CV `scoring`), `cv_results_` (one GridSearchCV `cv_results_` per kernel; None
    without search), `classifier_`, and `variant_`: "exact", or "approximate: " and the
    `APPROXIMATIONS` entry of the chosen kernel when the training set had more than
    `approximate_above` rows (None: never approximate). `approximate_components` is the
    number of Nystroem components.
    """

    __metadata_request__fit = {"groups": True, "sample_weight": True}  # noqa: RUF012

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags type
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # PAD is binary: 0 bona fide, 1 attack
        tags.input_tags.positive_only = self.norm is not None
        return tags

    def __init__(
        self,
        kernels: Sequence[str] = ("rbf",),
        C: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
        gamma: Sequence[float] = (0.1, 1.0, 10.0),
        norm: str | None = "hellinger",
        scale: bool = True,
        inner_splits: int = 3,
        scoring: str = "roc_auc",
        n_jobs: int | None = 1,
        random_state: int = 0,
        approximate_above: int | None = DEFAULT_APPROXIMATE_ABOVE,
        approximate_components: int = 500,
    ) -> None:
        self.kernels = kernels
        self.C = C
        self.gamma = gamma
        self.norm = norm
        self.scale = scale
        self.inner_splits = inner_splits
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.approximate_above = approximate_above
        self.approximate_components = approximate_components

    def _validate_params(self) -> None:
        """Raise ValueError naming the first parameter outside what the classifier supports."""

        def positive_numbers(name: str, values: object) -> None:
            ok = isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0
            if not ok or not all(
                isinstance(v, Real) and not isinstance(v, bool) and v > 0 for v in values
            ):
                raise ValueError(
                    f"{name} must be a non-empty list of positive numbers, got {values!r}"
                )

        kernels = self.kernels
        if isinstance(kernels, str) or not kernels or any(k not in KERNELS for k in kernels):
            raise ValueError(f"kernels must be a non-empty list from {KERNELS}, got {kernels!r}")
        positive_numbers("C", self.C)
        positive_numbers("gamma", self.gamma)
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if any(k in _HISTOGRAM_KERNELS for k in kernels) and self.norm is None:
            raise ValueError("chi-squared kernels need histogram features: set norm")
        splits = self.inner_splits
        if isinstance(splits, bool) or not isinstance(splits, int) or not 2 <= splits <= 20:
            raise ValueError(f"inner_splits must be an integer in 2..20, got {splits!r}")
        above = self.approximate_above
        if above is not None and (
            isinstance(above, bool) or not isinstance(above, int | np.integer) or above < 1
        ):
            raise ValueError(f"approximate_above must be a positive integer or None, got {above!r}")
        comps = self.approximate_components
        if isinstance(comps, bool) or not isinstance(comps, int | np.integer) or comps < 10:
            raise ValueError(f"approximate_components must be an integer >= 10, got {comps!r}")

    def _candidates(self, F: np.ndarray, approximate: bool) -> list[dict]:
        """Per kernel: its pipeline and the classifiers to try in its last step."""
        grid = []
        for kernel in self.kernels:
            pipe = make_classifier(kernel, norm=self.norm, scale=self.scale)
            if approximate and kernel == "chi2":  # no gamma: the additive kernel has none
                pipe = make_classifier(kernel, norm=self.norm, scale=self.scale, approximate=True)
                settings = [(c, "scale") for c in self.C]
            elif kernel in _GAMMA_SCALES:
                base = _GAMMA_SCALES[kernel](pipe, F)
                settings = [(c, g * base) for c in self.C for g in self.gamma]
            else:
                settings = [(c, "scale") for c in self.C]
            comps = int(self.approximate_components)
            gram = F.shape[1] >= GRAM_FROM and len(F) <= GRAM_ROWS
            clfs = [
                _final_step(kernel, c, g, self.random_state, approximate, comps, gram)
                for c, g in settings
            ]
            grid.append({"kernel": kernel, "pipe": pipe, "clf": clfs})
        return grid

    def fit(
        self,
        X: np.ndarray,
        y: Sequence[int],
        groups: Sequence | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> TunedClassifier:
        """Tune on (X, y) with inner CV that keeps each of `groups` on one side, then refit.

        `sample_weight` weights the training samples of every candidate fit (inner-CV scoring
        stays unweighted).
        """
        with config_context(enable_metadata_routing=False):  # weights go by step name below
            return self._fit(X, y, groups, sample_weight)

    def _fit(
        self, X: np.ndarray, y: Sequence[int], groups: Sequence | None, weights: Sequence | None
    ) -> TunedClassifier:
        self._validate_params()
        F, y = validate_data(self, X, y, dtype=np.float64)
        self.classes_ = _check_binary(y)
        if self.norm is not None and np.any(F < 0):
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__} with norm="
                f"{self.norm!r}: histogram features are non-negative; use norm=None"
            )
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        weighted = {}
        if weights is not None:
            weights = _check_sample_weight(weights, F)
            if not np.any(weights > 0):
                raise ValueError("Sample weights must contain at least one non-zero number.")
            weighted = {"clf__sample_weight": weights}
        approximate = self.approximate_above is not None and len(y) > self.approximate_above
        candidates = self._candidates(F, approximate)
        n_candidates = sum(len(c["clf"]) for c in candidates)
        if n_candidates == 1:
            self.classifier_ = candidates[0]["pipe"].set_params(clf=candidates[0]["clf"][0])
            self.classifier_.fit(F, y, **weighted)
            self.best_params_ = {"clf": self.classifier_[-1]}
            self.best_score_ = None
            self.cv_results_ = None
            self.variant_ = self._variant(candidates[0]["kernel"], approximate)
            return self
        # One grid per kernel (each has its own pipeline shape); keep the best inner-CV score.
        cv = StratifiedGroupKFold(self.inner_splits, shuffle=True, random_state=self.random_state)
        best = None
        results = []
        for cand in candidates:
            search = GridSearchCV(
                cand["pipe"],
                {"clf": cand["clf"]},
                scoring=self.scoring,
                cv=cv,
                n_jobs=self.n_jobs,
                refit=False,
                error_score="raise",
            )
            search.fit(F, y, groups=groups, **weighted)
            results.append(search.cv_results_)
            if best is None or search.best_score_ > best[0]:
                best = (search.best_score_, cand["pipe"], search.best_params_, cand["kernel"])
        self.best_score_, pipe, self.best_params_, kernel = best
        self.classifier_ = clone(pipe).set_params(**self.best_params_).fit(F, y, **weighted)
        self.cv_results_ = results
        self.variant_ = self._variant(kernel, approximate)
        return self

    @staticmethod
    def _variant(kernel: str, approximate: bool) -> str:
        if approximate and kernel in APPROXIMATIONS:
            return f"approximate: {APPROXIMATIONS[kernel]}"
        return "exact"

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Attack scores (higher = more likely an attack), one per row of X."""
        check_is_fitted(self, "classifier_")
        F = validate_data(self, X, reset=False)
        return np.asarray(self.classifier_.decision_function(F), dtype=np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 (attack) or 0 (bona fide) by the tuned classifier's own decision rule."""
        check_is_fitted(self, "classifier_")
        return self.classifier_.predict(validate_data(self, X, reset=False))
