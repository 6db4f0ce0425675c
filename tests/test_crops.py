"""Lazy face crops (`features.crops.CropSequence`): the same crops as stacking them, read a chunk
at a time by the feature extractors and the CNN, and the same scores as an eager array."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from benchmarks.datasets import load_dataset
from classifiers.fitting import fit_method
from classifiers.registry import build_method
from features import crops as crops_module
from features import faces
from features.colour import ColourLBP
from features.crops import CropSequence, chunk_rows, iter_chunks
from features.faces import FaceCropper, clear_memo


class Watched(CropSequence):
    """A CropSequence that records how many crops each read asks for and refuses to be read
    whole (`np.asarray`)."""

    reads: list[int] = []  # noqa: RUF012 - shared by every instance a test makes

    def _read(self, indices: np.ndarray) -> np.ndarray:
        Watched.reads.append(indices.size)
        return super()._read(indices)

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("a consumer read every crop at once")


@pytest.fixture
def watched(monkeypatch):
    """FaceCropper.transform gives `Watched` sequences; chunks of 4 crops of 32 px or fewer."""
    monkeypatch.setattr(faces, "CropSequence", Watched)
    monkeypatch.setattr(crops_module, "CHUNK_BYTES", 4 * 32 * 32 * 3)
    monkeypatch.setattr(Watched, "reads", [])
    return Watched.reads


@pytest.fixture(scope="module")
def data(seed_subset_dir):
    """Records and labels of the 50-image seed600 subset, shuffled so both classes mix."""
    ds = load_dataset(seed_subset_dir)
    order = np.random.default_rng(0).permutation(len(ds.records))
    X = np.empty(len(order), dtype=object)
    X[:] = [ds.records[i] for i in order]
    return X, np.asarray(ds.labels)[order]


def stacked(cropper: FaceCropper, records) -> np.ndarray:
    """The eager crops: every record's crop stacked, as `FaceCropper.transform` used to."""
    return np.stack([cropper.crop_one(r).crop for r in records])


def test_sequence_reads_exactly_the_stacked_crops(data, tmp_path):
    X, _ = data
    records = X[:10]
    cropper = FaceCropper(size=32, cache_dir=tmp_path)
    seq = cropper.transform(records)
    assert isinstance(seq, CropSequence)
    assert (len(seq), seq.shape, seq.dtype, seq.ndim) == (10, (10, 32, 32, 3), np.uint8, 4)
    clear_memo()  # reads now come from the disk cache written by transform
    eager = stacked(cropper, records)
    np.testing.assert_array_equal(np.asarray(seq), eager)
    np.testing.assert_array_equal(seq[3], eager[3])
    np.testing.assert_array_equal(seq[-1], eager[-1])
    np.testing.assert_array_equal(seq[np.int64(2)], eager[2])
    for key in (slice(2, 7), slice(None, None, -3), [4, 0, 4], np.array([[1, 2], [9, 0]])):
        np.testing.assert_array_equal(seq[key], eager[key])
    mask = np.arange(10) % 3 == 0
    np.testing.assert_array_equal(seq[mask], eager[mask])
    np.testing.assert_array_equal(seq[1:4, :5, ::2], eager[1:4, :5, ::2])
    np.testing.assert_array_equal(seq[5, 0], eager[5, 0])
    np.testing.assert_array_equal(seq[..., 0], eager[..., 0])
    np.testing.assert_array_equal(np.stack(list(seq)), eager)
    starts = [start for start, _ in seq.chunks(4)]
    assert starts == [0, 4, 8]
    np.testing.assert_array_equal(np.concatenate([c for _, c in seq.chunks(4)]), eager)
    np.testing.assert_array_equal(np.asarray(seq, dtype=np.float32), eager.astype(np.float32))
    seq[0][:] = 0  # a read is a new, writable array: the cached crop is untouched
    np.testing.assert_array_equal(seq[0], eager[0])
    with pytest.raises(IndexError):
        seq[10]
    with pytest.raises(IndexError):
        seq[[0, -11]]
    with pytest.raises(IndexError):
        seq[np.ones(9, bool)]
    with pytest.raises(ValueError, match="without reading"):
        np.asarray(seq, copy=False)


def test_chunks_of_an_array_are_views_of_about_the_byte_budget():
    X = np.arange(10 * 8 * 8 * 3, dtype=np.uint8).reshape(10, 8, 8, 3)
    assert chunk_rows(X, budget=3 * 8 * 8 * 3 + 5) == 3
    assert chunk_rows(X, budget=1) == 1
    parts = list(iter_chunks(X, 3))
    assert [s for s, _ in parts] == [0, 3, 6, 9]
    assert all(np.shares_memory(c, X) for _, c in parts)
    np.testing.assert_array_equal(np.concatenate([c for _, c in parts]), X)
    with pytest.raises(ValueError, match="at least 1"):
        list(iter_chunks(X, 0))


def test_feature_extraction_reads_one_chunk_at_a_time(data, watched, tmp_path):
    X, _ = data
    cropper = FaceCropper(size=32, cache_dir=tmp_path / "crops")
    seq = cropper.transform(X[:11])
    assert isinstance(seq, Watched) and watched == []  # transform reads nothing back
    eager = stacked(cropper, X[:11])
    want = ColourLBP(cache=False).transform(eager)
    for ext in (ColourLBP(cache=False), ColourLBP(), ColourLBP(), ColourLBP(cache=False, n_jobs=2)):
        # no cache; a cache being filled; the cache read back; two processes
        got = ext.extract(seq, root=tmp_path / "features")
        np.testing.assert_array_equal(got, want)
    assert max(watched) == 4  # one crop (fixing the feature length) or one chunk per read
    assert sum(watched) == 4 * (1 + 11)


def test_colour_lbp_svm_gives_the_same_scores_lazily_as_on_an_array(data, watched):
    X, y = data
    params = {"colour-lbp-svm": {"crop__size": 32, "features__cache": False, "clf__C": (1.0,)}}
    lazy = build_method("colour-lbp-svm", params)
    fit_method(lazy, X[:36], y[:36])
    scores = lazy.decision_function(X[36:])
    assert watched and max(watched) <= 4
    eager = clone(lazy)[1:]  # features -> clf, on stacked crops
    fit_method(eager, stacked(lazy["crop"], X[:36]), y[:36])
    np.testing.assert_array_equal(scores, eager.decision_function(stacked(lazy["crop"], X[36:])))
    assert np.ptp(scores) > 0


def test_livenessnet_trains_on_batches_read_lazily_to_the_same_scores(data, watched, monkeypatch):
    from classifiers.cnn import estimator

    monkeypatch.setattr(estimator, "SCORING_BATCH", 8)  # dev and scoring batches too
    X, y = data
    clf = {"clf__epochs": 2, "clf__batch_size": 8, "clf__fit_cache": False}
    lazy = build_method("livenessnet", {"livenessnet": {"crop__size": 32, **clf}})
    fit_method(lazy, X[:30], y[:30], dev=(X[30:40], y[30:40]))
    scores = lazy.decision_function(X[40:])
    assert watched and max(watched) <= 8  # training, dev and scoring batches of 8
    cropper, cnn = lazy["crop"], clone(lazy["clf"])
    dev = (stacked(cropper, X[30:40]), y[30:40])
    cnn.fit(stacked(cropper, X[:30]), y[:30], dev=dev)
    # The same crops in the same shuffled, augmented batches: the same weights, bit for bit.
    assert cnn.history_ == lazy["clf"].history_
    np.testing.assert_array_equal(scores, cnn.decision_function(stacked(cropper, X[40:])))


def test_tf_data_batches_and_fit_cache_key_match_the_array(data, tmp_path):
    import tensorflow as tf

    from classifiers.cnn.estimator import CNNClassifier
    from classifiers.cnn.training import image_dataset

    X, y = data
    cropper = FaceCropper(size=16, cache_dir=tmp_path)
    seq, eager = cropper.transform(X[:21]), stacked(cropper, X[:21])
    w = np.linspace(0.5, 2.0, 21)
    # the previous input pipeline: all crops in the dataset, shuffled with a full buffer
    tf.random.set_seed(0)
    whole = tf.data.Dataset.from_tensor_slices((eager, y[:21].astype("float32")[:, None], w))
    want = whole.shuffle(21, seed=5, reshuffle_each_iteration=True).batch(8)
    want = [[t.numpy() for t in b] for _ in range(2) for b in want]
    tf.random.set_seed(0)
    got = image_dataset(seq, y[:21], w, batch_size=8, shuffle_seed=5)
    got = [[t.numpy() for t in b] for _ in range(2) for b in got]
    assert len(got) == len(want) == 6
    assert not np.array_equal(got[0][0], got[3][0])  # reshuffled in the second epoch
    for (gx, gy, gw), (wx, wy, ww) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gx, wx.astype(np.float32) / 255.0)
        np.testing.assert_array_equal(gy, wy)
        np.testing.assert_array_equal(gw, ww.astype(np.float32))
    cnn = CNNClassifier()
    assert cnn._fit_path(seq, y[:21], w, None, None) == cnn._fit_path(eager, y[:21], w, None, None)
    assert cnn._fit_path(seq, y[:21], w, None, None) != cnn._fit_path(
        eager, y[:21], None, None, None
    )
