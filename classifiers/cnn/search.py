"""`CNNSearch`: a small seeded hyper-parameter search for a `CNNClassifier`, judged on dev.

The seed project tuned its models ("tuning parameters to select the best model"); the
toolkit's SVMs are tuned by `TunedClassifier`'s inner cross-validation. A CNN costs minutes per
training on 2 CPU cores, too much for inner cross-validation, so each candidate is trained once
on the training part (early stopping on dev, as every CNN here) and scored on the development
part; the best dev score wins and its fitted CNN is kept. Test data never reaches the search:
the harness gives a method only its training and dev records. Dev thus serves early
stopping, the choice of candidate and (in the harness) the threshold, so dev numbers are
optimistic; the test numbers are not.

Candidates: the base CNN's own settings first (ties go to it, so the search departs from the
default only for a better dev score), then `n_candidates - 1` distinct settings drawn without
replacement, seeded, from the grid `space` over learning_rate, batch_size, dropout, width and
input_size. The input size of a CNN is its crop step's size; here `input_size` is the side the
crops are shrunk to (OpenCV INTER_AREA) before the network, at fit and at scoring alike, so it
can only be at most the crop step's size (raise ``crop__size`` to search larger inputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import ParameterGrid
from sklearn.utils.validation import check_is_fitted

from classifiers.cnn.estimator import CNNClassifier
from features.crops import Cropper, CropSequence

SEARCHABLE = ("learning_rate", "batch_size", "dropout", "width", "input_size")
"""The settings `space` may span: four `CNNClassifier` parameters and the input side."""
DEFAULT_SPACE: dict[str, tuple] = {
    "learning_rate": (3e-4, 1e-3, 3e-3),
    "batch_size": (16, 32, 64),
    "dropout": (0.2, 0.5, 0.7),
    "width": (0.5, 1.0, 2.0),
    "input_size": (32, 48, 64),
}
"""The default grid (81 settings at the default 64x64 crops; input sizes above the crops are
left out), of which `n_candidates` are tried."""
SCORINGS = ("roc_auc", "eer")
_SHORT = {
    "learning_rate": "lr",
    "batch_size": "batch",
    "dropout": "dropout",
    "width": "width",
    "input_size": "input",
}


def dev_score(y: np.ndarray, scores: np.ndarray, scoring: str) -> float:
    """Higher is better: the dev AUC, or minus the dev EER; -inf for non-finite scores."""
    if not np.all(np.isfinite(scores)):
        return -np.inf  # a diverged network (NaN weights) is never chosen
    if scoring == "roc_auc":
        return float(roc_auc_score(y, scores))
    fpr, tpr, _ = roc_curve(y, scores)
    return -float(np.min(np.maximum(fpr, 1 - tpr)))


def _shrink(crop: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class _Shrunk:
    """A cropper whose crops are another's shrunk to `size`: a `CropSequence` of it reads them
    lazily and keeps its records (their datasets, for domain-adversarial candidates)."""

    cropper: Cropper
    size: int

    def crop_one(self, record: Any) -> SimpleNamespace:
        return SimpleNamespace(crop=_shrink(self.cropper.crop_one(record).crop, self.size))


def _resize(X: np.ndarray | CropSequence, size: int) -> np.ndarray | CropSequence:
    if X.shape[1] == size:
        return X
    if isinstance(X, CropSequence):
        return CropSequence(X.records, _Shrunk(X.cropper, size))
    return np.stack([_shrink(x, size) for x in X])


class CNNSearch(ClassifierMixin, BaseEstimator):
    """A `CNNClassifier` whose learning rate, batch size, dropout, width and input size are chosen
    on dev.

    Parameters
    ----------
    cnn : the base `CNNClassifier` (default: LivenessNet with default settings); every candidate
        is a clone of it with the candidate's settings.
    space : setting name (one of `SEARCHABLE`) -> the values to try; None = `DEFAULT_SPACE`.
        Settings left out keep the base CNN's value. An input_size above the crop size is an
        error (the default space leaves such sizes out).
    n_candidates : how many settings are trained: the base one and n_candidates - 1 drawn.
    scoring : "roc_auc" (dev AUC) or "eer" (dev EER, lower better).
    seed : seeds the draw of candidates (the CNNs use the base CNN's own `seed`).

    After `fit`: `cnn_` (the chosen CNN, fitted), `input_size_`, `best_params_` (the chosen
    value of every setting of `SEARCHABLE`), `best_score_` (its dev score), `search_results_`
    (per candidate: its settings, dev score, best and last epoch) and `variant_` (the chosen
    settings as text, which the harness records per fold).
    """

    __metadata_request__fit = {"sample_weight": True}  # noqa: RUF012 - scikit-learn's declaration

    def __init__(
        self,
        cnn: CNNClassifier | None = None,
        space: Mapping[str, Sequence] | None = None,
        n_candidates: int = 4,
        scoring: str = "roc_auc",
        seed: int = 0,
    ) -> None:
        self.cnn = cnn
        self.space = space
        self.n_candidates = n_candidates
        self.scoring = scoring
        self.seed = seed

    def _space(self) -> dict[str, list]:
        space = DEFAULT_SPACE if self.space is None else self.space
        if not isinstance(space, Mapping) or not space:
            raise ValueError(f"space must be a non-empty table of setting -> values, got {space!r}")
        unknown = sorted(set(space) - set(SEARCHABLE))
        if unknown:
            raise ValueError(
                f"space has unknown setting(s) {', '.join(map(str, unknown))}; "
                f"searchable: {', '.join(SEARCHABLE)}"
            )
        out = {}
        for name, values in space.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise ValueError(f"space {name}: expected a non-empty list, got {values!r}")
            if name == "input_size" and not all(
                isinstance(v, Integral) and not isinstance(v, bool) and v >= 8 for v in values
            ):
                raise ValueError(f"space input_size: expected integers >= 8, got {values!r}")
            out[name] = list(values)
        return out

    def _base(self) -> CNNClassifier:
        return CNNClassifier() if self.cnn is None else self.cnn

    def _validate_params(self) -> None:
        """Raise ValueError naming the first parameter (or candidate setting) that is invalid."""
        base = self._base()
        if not isinstance(base, CNNClassifier):
            raise ValueError(f"cnn must be a CNNClassifier, got {type(base).__name__}")
        base._validate_params()
        for name, values in self._space().items():
            if name == "input_size":
                continue
            for v in values:
                try:
                    clone(base).set_params(**{name: v})._validate_params()
                except ValueError as e:
                    raise ValueError(f"space {name}: {e}") from None
        n = self.n_candidates
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise ValueError(f"n_candidates must be an integer >= 1, got {n!r}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {list(SCORINGS)}, got {self.scoring!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, Integral) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def check_crop_size(self, size: int) -> None:
        """ValueError unless the candidates fit crops of side `size` (see `candidates`)."""
        self.candidates(size)

    def candidates(self, crop_size: int) -> list[dict[str, Any]]:
        """The settings tried on crops of side `crop_size`: the base CNN's, then the drawn ones."""
        base = self._base()
        base.check_crop_size(crop_size)
        space = self._space()
        patch = base.patch or 0  # a patch-based base needs inputs bigger than its patches
        if self.space is None:  # the default sizes that fit the crops, else the crops' own
            space["input_size"] = [v for v in space["input_size"] if patch < v <= crop_size] or [
                crop_size
            ]
        too_big = [v for v in space.get("input_size", ()) if v > crop_size]
        if too_big:
            raise ValueError(
                f"space input_size {too_big} exceeds the {crop_size}x{crop_size} crops: raise "
                "crop__size or leave those sizes out"
            )
        too_small = [v for v in space.get("input_size", ()) if v <= patch]
        if too_small:
            raise ValueError(
                f"space input_size {too_small} is not bigger than the CNN's {patch} px patches: "
                "leave those sizes out or lower the base CNN's patch"
            )
        own = {k: getattr(base, k) for k in SEARCHABLE if k != "input_size"}
        own["input_size"] = crop_size
        grid = [{**own, **g} for g in ParameterGrid(space)]
        others = [g for g in grid if g != own]
        rng = np.random.default_rng(self.seed)
        picks = rng.choice(len(others), min(self.n_candidates - 1, len(others)), replace=False)
        return [own, *(others[i] for i in sorted(picks))]

    def fit(
        self,
        X: Any,
        y: Sequence[int],
        dev: tuple[Any, Sequence[int]] | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> CNNSearch:
        """Train every candidate on (X, y), keep the one with the best score on `dev`."""
        self._validate_params()
        if dev is None:
            raise ValueError(
                "CNNSearch judges its candidates on dev: fit(X, y, dev=(X_dev, y_dev))"
            )
        images = CNNClassifier._images(X)
        dev_images = CNNClassifier._images(dev[0], images.shape[1])
        dev_y = CNNClassifier._labels(dev[1], len(dev_images), "development labels")
        if np.unique(dev_y).size < 2:
            raise ValueError("CNNSearch needs bona fide and attack development records")
        best, results = None, []
        for cand in self.candidates(images.shape[1]):
            size = cand["input_size"]
            cnn = clone(self._base()).set_params(
                **{k: v for k, v in cand.items() if k != "input_size"}
            )
            small_dev = _resize(dev_images, size)
            cnn.fit(_resize(images, size), y, dev=(small_dev, dev_y), sample_weight=sample_weight)
            score = dev_score(dev_y, cnn.decision_function(small_dev), self.scoring)
            results.append(
                {
                    **cand,
                    "dev_score": score,
                    "best_epoch": cnn.best_epoch_,
                    "n_epochs": cnn.n_epochs_,
                }
            )
            if best is None or score > best[0]:
                best = (score, cand, cnn)
        self.best_score_, self.best_params_, self.cnn_ = best
        self.input_size_ = int(self.best_params_["input_size"])
        self.search_results_ = results
        self.variant_ = " ".join(f"{_SHORT[k]}={self.best_params_[k]}" for k in SEARCHABLE)
        self.classes_ = np.array([0, 1])
        self.threshold_ = 0.0
        return self

    # ------------------------------------------------------------------ scoring
    def _crops(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "cnn_")
        return _resize(CNNClassifier._images(X), self.input_size_)

    def decision_function(self, X: Any) -> np.ndarray:
        """The chosen CNN's attack scores (logit of P(attack)), shape (N,)."""
        return self.cnn_.decision_function(self._crops(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns [P(bona fide), P(attack)] of the chosen CNN."""
        return self.cnn_.predict_proba(self._crops(X))

    def predict(self, X: Any) -> np.ndarray:
        """1 (attack) where the attack score reaches `threshold_`, else 0."""
        return (self.decision_function(X) >= self.threshold_).astype("int64")

    def embed(self, X: Any) -> np.ndarray:
        """The chosen CNN's penultimate-layer activations."""
        return self.cnn_.embed(self._crops(X))
