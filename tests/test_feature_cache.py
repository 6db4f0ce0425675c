"""Feature cache: hits equal fresh values, keys follow parameters, corrupt entries are rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from features.base import FeatureExtractor, check_crops
from features.cache import crop_hash
from features.colour import ColourLBP
from features.fourier import FourierSpectrum
from features.lbp import LBPHistogram


class CountingExtractor(FeatureExtractor):
    """Mean colour per channel, counting how often it really computes."""

    calls = 0

    def __init__(self, scale: float = 1.0, n_jobs: int | None = 1, cache: bool = True) -> None:
        self.scale = scale
        self.n_jobs = n_jobs
        self.cache = cache

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        type(self).calls += 1
        return crop.reshape(-1, 3).mean(axis=0) * self.scale


@pytest.fixture()
def crops() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 24, 24, 3), dtype=np.uint8)


def cached_files(ext: FeatureExtractor) -> list[Path]:
    return sorted(p for p in ext.cache_dir().rglob("*") if p.is_file())


def test_cache_root_is_the_session_cache(crops):
    ext = LBPHistogram()
    ext.fit_transform(crops)
    root = Path(os.environ["LIVENESS_CACHE_DIR"])
    assert ext.cache_dir().is_relative_to(root / "features")
    assert len(cached_files(ext)) == len(crops)
    assert not [p for p in cached_files(ext) if p.name.startswith(".tmp")]


def test_hits_equal_fresh_values_and_skip_the_work(crops):
    CountingExtractor.calls = 0
    ext = CountingExtractor(scale=2.0)
    first = ext.fit_transform(crops)
    assert CountingExtractor.calls == len(crops)
    CountingExtractor.calls = 0
    again = ext.transform(crops)
    assert CountingExtractor.calls == 1  # only the first crop, which fixes the vector length
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, CountingExtractor(scale=2.0, cache=False).transform(crops))


def test_key_follows_feature_parameters_not_runtime_ones():
    assert LBPHistogram(P=8).cache_key() != LBPHistogram(P=16).cache_key()
    assert LBPHistogram(grid=(2, 2)).cache_key() != LBPHistogram().cache_key()
    assert LBPHistogram(n_jobs=2, cache=False).cache_key() == LBPHistogram().cache_key()
    assert LBPHistogram().cache_key() != ColourLBP(colour_spaces=("grey",)).cache_key()


def test_crop_hash_sees_shape_and_pixels(crops):
    assert crop_hash(crops[0]) != crop_hash(crops[1])
    assert crop_hash(crops[0]) != crop_hash(crops[0].reshape(12, 48, 3))
    assert crop_hash(crops[0]) == crop_hash(crops[0].copy())


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-length", "nan"])
def test_damaged_entries_are_rebuilt(crops, damage):
    ext = CountingExtractor(scale=3.0 + len(damage))  # a key of its own per case
    good = ext.fit_transform(crops)
    victim = ext.cache_dir() / crop_hash(crops[2])[:2] / f"{crop_hash(crops[2])}.npy"
    if damage == "garbage":
        victim.write_bytes(b"not a numpy file")
    elif damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:40])
    elif damage == "wrong-length":
        np.save(victim, np.zeros(7))
    else:
        np.save(victim, np.full(3, np.nan))
    np.testing.assert_array_equal(ext.transform(crops), good)
    np.testing.assert_array_equal(np.load(victim), good[2])  # repaired on disk


def test_parallel_extraction_matches_serial(crops):
    serial = FourierSpectrum(cache=False).fit_transform(crops)
    parallel = FourierSpectrum(cache=False, n_jobs=2).fit_transform(crops)
    np.testing.assert_array_equal(serial, parallel)


@pytest.mark.parametrize(
    ("bad", "word"),
    [
        (np.zeros((2, 16, 16), np.uint8), "shape"),
        (np.zeros((2, 16, 16, 3), np.float32), "uint8"),
        (np.zeros((2, 4, 4, 3), np.uint8), "too small"),
        (np.empty(2, dtype=object), "records"),
    ],
)
def test_bad_batches_are_refused(bad, word):
    with pytest.raises(ValueError, match=word):
        check_crops(bad)
    with pytest.raises(ValueError, match=word):
        LBPHistogram().fit_transform(bad)


def test_empty_batch_is_refused():
    with pytest.raises(ValueError, match="empty"):
        LBPHistogram().fit(np.zeros((1, 16, 16, 3), np.uint8)).transform(
            np.zeros((0, 16, 16, 3), np.uint8)
        )
