"""Base class for crop feature extractors: input checks, per-sample disk cache, joblib parallelism.

Every extractor in `features/` is a scikit-learn transformer over a batch of face crops
(N, H, W, 3) uint8 RGB -> (N, D) float64. Subclasses implement `_extract(crop)` for ONE crop;
this base class validates the batch, looks each crop up in the feature cache, computes the
missing ones with `joblib.Parallel(n_jobs)`, and stores them.

Cache layout: `<cache root>/features/<extractor key>/<crop hash[:2]>/<crop hash>.npy`, where the
crop hash is the SHA-256 of the crop's shape and bytes and the extractor key hashes the class
name, its `_version` and every parameter except `n_jobs` and `cache`. Entries are written
atomically (temporary file in the same folder, then `os.replace`); an entry that cannot be read,
or has the wrong length or non-finite values, is recomputed and overwritten.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin

from benchmarks.files import atomic_open
from features.faces import cache_root

_RUNTIME_PARAMS = frozenset({"n_jobs", "cache"})


def check_crops(X: object, name: str = "crops") -> np.ndarray:
    """Return X as an (N, H, W, 3) uint8 array, or raise ValueError saying what is wrong."""
    if isinstance(X, np.ndarray) and X.dtype == object:
        raise ValueError(
            f"{name}: got an object array (records?); crop them first, e.g. with FaceCropper"
        )
    X = np.asarray(X)
    if X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (N, H, W, 3), got {X.shape}")
    if X.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 RGB crops, got dtype {X.dtype}")
    if X.shape[1] < 8 or X.shape[2] < 8:
        raise ValueError(f"{name}: crops of {X.shape[1]}x{X.shape[2]} are too small (min 8x8)")
    return X


def crop_hash(crop: np.ndarray) -> str:
    """SHA-256 of one crop's shape and pixel bytes."""
    h = hashlib.sha256(repr(crop.shape).encode())
    h.update(np.ascontiguousarray(crop).tobytes())
    return h.hexdigest()


def _save_atomic(path: Path, vector: np.ndarray) -> None:
    with atomic_open(path) as f:
        np.save(f, vector, allow_pickle=False)


def _load(path: Path, n_features: int) -> np.ndarray | None:
    """The cached vector, or None when absent or unusable (corrupt, wrong length, non-finite)."""
    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if v.ndim != 1 or v.dtype != np.float64 or not np.all(np.isfinite(v)):
        return None
    return v if v.shape[0] == n_features else None


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

    def cache_dir(self) -> Path:
        """Folder holding this extractor's cached vectors."""
        return cache_root() / "features" / f"{type(self).__name__}-{self.cache_key()}"

    def _compute(self, crop: np.ndarray) -> np.ndarray:
        v = np.asarray(self._extract(crop), dtype=np.float64).ravel()
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{type(self).__name__}: non-finite feature values for a crop")
        return v

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 crops -> (N, D) float64 features."""
        self._validate_params()
        X = check_crops(X)
        n = X.shape[0]
        if n == 0:
            raise ValueError(f"{type(self).__name__}: got an empty batch of crops")
        first = self._compute(X[0])  # fixes the length D that valid cache entries must have
        out: list[np.ndarray | None] = [first] + [None] * (n - 1)
        paths: list[Path | None] = [None] * n
        if self.cache:
            folder = self.cache_dir()
            for i in range(n):
                h = crop_hash(X[i])
                paths[i] = folder / h[:2] / f"{h}.npy"
                if i > 0:
                    out[i] = _load(paths[i], first.shape[0])
            if _load(paths[0], first.shape[0]) is None:
                _save_atomic(paths[0], first)
        todo = [i for i in range(n) if out[i] is None]
        if self.n_jobs in (None, 1) or len(todo) < 2:
            computed = [self._compute(X[i]) for i in todo]
        else:
            computed = Parallel(n_jobs=self.n_jobs)(delayed(self._compute)(X[i]) for i in todo)
        for i, v in zip(todo, computed, strict=True):
            out[i] = v
            if self.cache:
                _save_atomic(paths[i], v)
        return np.stack(out)
