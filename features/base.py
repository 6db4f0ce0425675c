"""The base class of every crop feature extractor: input checks, caching and parallelism.

Every extractor in `features/` is a scikit-learn transformer over a batch of face crops
(N, H, W, 3) uint8 RGB -> (N, D) float64. Subclasses implement `_extract(crop)` for ONE crop;
this base class validates the batch, looks each crop up in the feature cache
(`features.cache`), computes the missing ones with `joblib.Parallel(n_jobs)`, and stores them,
one chunk of crops at a time: the batch may be a lazy `features.crops.CropSequence`.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin

from features.cache import crop_hash, load_vector, save_vector
from features.crops import CropSequence, iter_chunks
from features.files import cache_root

_RUNTIME_PARAMS = frozenset({"n_jobs", "cache"})


def check_crops(X: object, name: str = "crops") -> np.ndarray | CropSequence:
    """Return X as an (N, H, W, 3) uint8 array, or raise ValueError saying what is wrong.

    A `CropSequence` is checked by its shape and returned as it is, unread.
    """
    if isinstance(X, np.ndarray) and X.dtype == object:
        raise ValueError(
            f"{name}: got an object array (records?); crop them first, e.g. with FaceCropper"
        )
    if not isinstance(X, CropSequence):
        X = np.asarray(X)
    if X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (N, H, W, 3), got {X.shape}")
    if X.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 RGB crops, got dtype {X.dtype}")
    if X.shape[1] < 8 or X.shape[2] < 8:
        raise ValueError(f"{name}: crops of {X.shape[1]}x{X.shape[2]} are too small (min 8x8)")
    return X


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Stateless crop -> vector transformer with a disk cache and parallel extraction.

    Subclasses define `__init__` with their literature-named parameters plus `n_jobs=1` and
    `cache=True`, and implement `_extract(crop) -> 1-D float array`. Bump `_version` whenever
    the output of `_extract` changes for the same parameters, so old cache entries are ignored.
    """

    _version = 1
    n_jobs: int | None = 1
    cache: bool = True

    def __sklearn_tags__(self):  # stateless: usable without fit (e.g. inside a fitted Pipeline)
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def _extract(self, crop: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate_params(self) -> None:  # noqa: B027 - optional hook
        """Raise ValueError for bad parameters (called by fit and transform)."""

    def fit(self, X: np.ndarray, y: object = None) -> FeatureExtractor:
        """Check the parameters and the input; the extractor learns nothing from data."""
        self._validate_params()
        check_crops(X)
        return self

    def cache_key(self) -> str:
        """Hash of the class, its `_version` and its feature-defining parameters."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in _RUNTIME_PARAMS}
        text = f"{type(self).__module__}.{type(self).__qualname__}/v{self._version}/"
        text += repr(sorted(params.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def cache_dir(self, root: Path | None = None) -> Path:
        """Folder holding this extractor's cached vectors, under `root` (default `cache_root()`)."""
        root = cache_root() if root is None else Path(root)
        return root / "features" / f"{type(self).__name__}-{self.cache_key()}"

    def _compute(self, crop: np.ndarray) -> np.ndarray:
        v = np.asarray(self._extract(crop), dtype=np.float64).ravel()
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{type(self).__name__}: non-finite feature values for a crop")
        return v

    def transform(self, X: np.ndarray | CropSequence) -> np.ndarray:
        """(N, H, W, 3) uint8 crops -> (N, D) float64 features."""
        return self.extract(X)

    def extract(self, X: np.ndarray | CropSequence, root: Path | None = None) -> np.ndarray:
        """`transform` with the feature cache under `root` (default `cache_root()`): a Dask
        worker is told the client's cache root rather than trusting its own environment.

        The crops are read and their features looked up, computed and stored chunk by chunk
        (`features.crops.iter_chunks`), so a `CropSequence` is never read whole.
        """
        self._validate_params()
        X = check_crops(X)
        n = X.shape[0]
        if n == 0:
            raise ValueError(f"{type(self).__name__}: got an empty batch of crops")
        first = self._compute(X[0])  # fixes the length D that valid cache entries must have
        out = np.empty((n, first.shape[0]), np.float64)
        folder = self.cache_dir(root) if self.cache else None
        serial = self.n_jobs in (None, 1)  # no Parallel set up: its cost matters per crop
        with nullcontext() if serial else Parallel(n_jobs=self.n_jobs) as parallel:
            for start, crops in iter_chunks(X):
                self._extract_chunk(crops, start, first, folder, parallel, out)
        return out

    def _extract_chunk(
        self,
        crops: np.ndarray,
        start: int,
        first: np.ndarray,
        folder: Path | None,
        parallel: Parallel | None,
        out: np.ndarray,
    ) -> None:
        """Rows start.. of `out`: the features of `crops`, from the cache in `folder` (None:
        no cache) where valid, else computed (in `parallel` unless None) and stored."""
        n = len(crops)
        vectors: list[np.ndarray | None] = [None] * n
        paths: list[Path | None] = [None] * n
        if start == 0:
            vectors[0] = first
        if folder is not None:
            for j in range(n):
                h = crop_hash(crops[j])
                paths[j] = folder / h[:2] / f"{h}.npy"
                if vectors[j] is None:
                    vectors[j] = load_vector(paths[j], first.shape[0])
            if start == 0 and load_vector(paths[0], first.shape[0]) is None:
                save_vector(paths[0], first)
        todo = [j for j in range(n) if vectors[j] is None]
        if parallel is None or len(todo) < 2:
            computed = [self._compute(crops[j]) for j in todo]
        else:
            computed = parallel(delayed(self._compute)(crops[j]) for j in todo)
        for j, v in zip(todo, computed, strict=True):
            vectors[j] = v
            if folder is not None:
                save_vector(paths[j], v)
        out[start : start + n] = vectors
