"""`CaptureAugmenter`: capture-robust augmentation of training crops as a pipeline step.

The handcrafted methods' pipelines run ``crop`` -> ``augment`` -> ``features`` -> ``clf``.
scikit-learn's `Pipeline.fit` calls `fit_transform` on every step before the last, while
`predict`, `decision_function`, `score` and `transform` call `transform`; so this step
re-renders the training crops with `features.augment.capture_augment` in `fit_transform`
and is the identity in `transform`: dev and test crops are never touched. A pipeline cannot
add rows (the labels are not passed on), so each training crop is *replaced*, with
probability `p`, by a re-captured version of itself; ``p = 0`` (the default) is the identity.

Each crop's draws come from a generator seeded by (`random_state`, the SHA-256 of the crop),
so a crop is augmented the same way whichever batch, fold or order it arrives in: runs
repeat exactly, the feature cache is reused across folds, and the crops augmented at a
smaller `p` are a subset, augmented identically, of those augmented at a larger one.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from features.augment import CAPTURE_RANGES, capture_augment
from features.base import check_crops
from features.cache import crop_hash


class CaptureAugmenter(TransformerMixin, BaseEstimator):
    """Replace each training crop, with probability `p`, by a seeded capture-augmented copy.

    p: share of training crops re-rendered (0 = off). transform_p: probability of each
    capture transform for a re-rendered crop, `capture_augment`'s ``p``. transforms: which
    of `CAPTURE_RANGES` (blur, resample, noise, gamma, colour_temperature, jpeg) may apply,
    over their full ranges (None: all). random_state: the seed (a non-negative int).
    """

    def __init__(
        self,
        p: float = 0.0,
        transform_p: float = 0.5,
        transforms: tuple[str, ...] | None = None,
        random_state: int = 0,
    ) -> None:
        self.p = p
        self.transform_p = transform_p
        self.transforms = transforms
        self.random_state = random_state

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags type
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # learns nothing; transform is the identity
        return tags

    def _validate_params(self) -> None:
        for name in ("p", "transform_p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        names = self.transforms
        if names is not None and (
            isinstance(names, str)
            or not names
            or not all(isinstance(n, str) and n in CAPTURE_RANGES for n in names)
        ):
            raise ValueError(
                f"transforms must be None or a non-empty tuple of names from "
                f"{list(CAPTURE_RANGES)}, got {names!r}"
            )
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"random_state must be a non-negative int, got {seed!r}")

    def fit(self, X: np.ndarray, y: object = None) -> CaptureAugmenter:
        """Check the parameters and the crops; nothing is learned."""
        self._validate_params()
        check_crops(X)
        return self

    def fit_transform(self, X: np.ndarray, y: object = None) -> np.ndarray:
        """The training crops, each replaced by its augmented copy with probability `p`.

        With p > 0 the result is an array in memory (a lazy `CropSequence` is read whole);
        with p = 0 the input is returned as it is."""
        X = check_crops(X)
        self.fit(X)
        if self.p == 0:
            return X
        names = CAPTURE_RANGES if self.transforms is None else self.transforms
        ranges = {name: CAPTURE_RANGES[name] for name in names}
        out = np.array(X)  # a copy: the input (or the cropper's cached crops) stays as it is
        for i, crop in enumerate(out):  # each row is read before it is replaced
            rng = np.random.default_rng([int(self.random_state), int(crop_hash(crop)[:16], 16)])
            if rng.random() < self.p:
                out[i] = capture_augment(crop[None], rng, self.transform_p, ranges)[0]
        return out

    def transform(self, X: np.ndarray) -> np.ndarray:
        """X unchanged: crops scored (dev, test, deployment) are never augmented."""
        self._validate_params()
        check_crops(X)
        return X
