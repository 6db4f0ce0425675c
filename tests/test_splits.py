"""Leak-free splits on real seed600 (duplicates) and NUAA (subjects), plus small synthetic cases."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from benchmarks.datasets import load_dataset
from benchmarks.splits import (
    Fold,
    check_supports,
    duplicate_clusters,
    group_ids,
    make_folds,
    transfer_fold,
)
from features.records import ATTACK, BONAFIDE, DatasetError, Presentation


def fake(i: int, label: int, sha: str | None = None, **kw) -> Presentation:
    return Presentation(f"r{i}", Path(f"r{i}.jpg"), label, sha or f"{i:064x}", **kw)


def sides(fold: Fold, groups: np.ndarray) -> list[set]:
    return [set(groups[getattr(fold, part)]) for part in ("train", "dev", "test")]


def assert_leak_free(folds: list[Fold], records: list[Presentation]) -> None:
    groups = group_ids(records)
    n = len(records)
    for f in folds:
        parts = np.concatenate([f.train, f.dev, f.test])
        assert len(np.unique(parts)) == len(parts)  # disjoint
        assert parts.min() >= 0 and parts.max() < n
        for a in ("train", "dev", "test"):
            idx = getattr(f, a)
            assert np.all(np.diff(idx) > 0) and idx.dtype == np.int64
        tr, dv, te = sides(f, groups)
        assert not (tr & dv) and not (tr & te) and not (dv & te)


@pytest.fixture(scope="module")
def seed600(seed600_dir) -> list[Presentation]:
    return load_dataset(seed600_dir).records


@pytest.fixture(scope="module")
def seed600_folds(seed600) -> list[Fold]:
    return make_folds(seed600, k=5, seed=0)


@pytest.fixture(scope="module")
def nuaa(nuaa_dir) -> list[Presentation]:
    return load_dataset(nuaa_dir).records


def test_seed600_duplicates_are_grouped(seed600):
    clusters = duplicate_clusters(seed600)
    named = sorted(sorted(seed600[i].id for i in c) for c in clusters)
    assert named == [
        ["Spoof/193.jpg", "Spoof/200.jpg"],
        ["Spoof/275.jpg", "Spoof/277.jpg"],
        ["Spoof/287.jpg", "Spoof/300.jpg"],
    ]
    groups = group_ids(seed600)
    assert len(set(groups)) == 597
    for a, b in clusters:
        assert groups[a] == groups[b] == f"sha256:{seed600[a].sha256}"


def test_seed600_kfold_is_leak_free_complete_and_stratified(seed600, seed600_folds):
    folds = seed600_folds
    assert [f.index for f in folds] == list(range(5))
    assert_leak_free(folds, seed600)
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(600))  # every record in exactly one test fold
    labels = np.array([r.label for r in seed600])
    for f in folds:
        assert len(f.train) + len(f.dev) + len(f.test) == 600
        assert abs(labels[f.test].mean() - labels.mean()) < 0.05
        assert abs(labels[f.dev].mean() - labels.mean()) < 0.1
        assert 0.15 <= len(f.dev) / (len(f.train) + len(f.dev)) <= 0.25
        for cluster in duplicate_clusters(seed600):
            where = {p for p in ("train", "dev", "test") for i in cluster if i in getattr(f, p)}
            assert len(where) == 1


def test_nuaa_kfold_keeps_subjects_on_one_side(nuaa):
    folds = make_folds(nuaa, k=4, seed=0, protocol="kfold")
    assert_leak_free(folds, nuaa)
    subjects = np.array([r.subject for r in nuaa])
    assert len(set(subjects)) == 16
    for f in folds:
        parts = [set(subjects[p]) for p in (f.train, f.dev, f.test)]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(parts[1]) >= 1
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(nuaa)))


def test_folds_are_deterministic_per_seed(nuaa):
    a = make_folds(nuaa, k=5, seed=3, protocol="kfold")
    b = make_folds(list(nuaa), k=5, seed=3, protocol="kfold")
    c = make_folds(nuaa, k=5, seed=4, protocol="kfold")
    assert a == b
    assert a != c
    with pytest.raises(ValueError, match="read-only"):
        a[0].test[0] = 1


def test_nuaa_official_split_leaks_subjects_so_auto_falls_back(nuaa):
    assert {r.split for r in nuaa} == {"train", "test"}
    with pytest.raises(DatasetError, match="not group-disjoint"):
        make_folds(nuaa, protocol="official")
    with pytest.warns(UserWarning, match="ignoring the official split"):
        folds = make_folds(nuaa, k=5, protocol="auto")
    assert len(folds) == 5
    assert_leak_free(folds, nuaa)


def resplit(records, test_subjects, dev_subjects=()):
    def split(r):
        if r.subject in test_subjects:
            return "test"
        return "dev" if r.subject in dev_subjects else "train"

    return [dataclasses.replace(r, split=split(r)) for r in records]


def test_official_protocol_keeps_test_and_carves_dev(nuaa):
    test_subjects = {f"nuaa_00{i}" for i in range(10, 17)}
    recs = resplit(nuaa, test_subjects)
    (fold,) = make_folds(recs, seed=0)  # auto picks the (now subject-disjoint) official split
    is_test = np.array([r.subject in test_subjects for r in recs])
    np.testing.assert_array_equal(fold.test, np.flatnonzero(is_test))
    assert_leak_free([fold], recs)
    labels = np.array([r.label for r in recs])
    assert set(labels[fold.dev]) == {BONAFIDE, ATTACK}
    assert 0.1 <= len(fold.dev) / (len(fold.train) + len(fold.dev)) <= 0.35
    assert make_folds(recs, seed=0, protocol="official") == [fold]
    # A dataset's own dev split is used as it is.
    recs = resplit(nuaa, test_subjects, dev_subjects={"nuaa_0009", "nuaa_0001"})
    (fold,) = make_folds(recs, protocol="official")
    dev = {recs[i].subject for i in fold.dev}
    assert dev == {"nuaa_0009", "nuaa_0001"} and len(fold.dev) == 100


def test_group_ids_prefer_subject_then_video_then_content_and_close_links():
    recs = [
        fake(0, BONAFIDE, subject="s1"),
        fake(1, BONAFIDE, sha="a" * 64),  # duplicate of record 2, which has a subject
        fake(2, ATTACK, sha="a" * 64, subject="s2"),
        fake(3, ATTACK, video="v1", frame=0),
        fake(4, ATTACK, video="v1", frame=1),
        fake(5, BONAFIDE),
        fake(6, ATTACK, sha="b" * 64, subject="s3"),  # s3 and s4 share a file, so a subject
        fake(7, ATTACK, sha="b" * 64, subject="s4"),  # of s4 (record 8) joins s3's group
        fake(8, BONAFIDE, subject="s4"),
    ]
    g = group_ids(np.array(recs, dtype=object))
    assert g[0] == "subject:s1"
    assert g[1] == g[2] == "subject:s2"  # the copy may not leave its subject's side
    assert g[3] == g[4] == "video:v1"
    assert g[5] == f"sha256:{recs[5].sha256}"
    assert g[6] == g[7] == g[8] == "subject:s3"
    assert duplicate_clusters(recs) == [[1, 2], [6, 7]]


def test_check_supports_refuses_with_counts():
    one_class = [fake(i, BONAFIDE) for i in range(20)]
    with pytest.raises(DatasetError, match="one class"):
        check_supports(one_class, 5)
    with pytest.raises(DatasetError, match="one class"):
        make_folds(one_class)
    few = [fake(i, BONAFIDE) for i in range(20)] + [fake(20 + i, ATTACK) for i in range(3)]
    with pytest.raises(DatasetError, match=r"bonafide: 20, attack: 3"):
        check_supports(few, 5)
    # Many files but one subject per class is one group per class.
    subj = [fake(i, i % 2, subject=f"s{i % 2}") for i in range(40)]
    with pytest.raises(DatasetError, match=r"bonafide: 1, attack: 1"):
        make_folds(subj, k=2)
    with pytest.raises(DatasetError, match="k must be"):
        check_supports(few, 1)
    enough = few + [fake(30 + i, ATTACK) for i in range(2)]
    check_supports(enough, 5)
    assert_leak_free(make_folds(enough, k=5), enough)
    with pytest.raises(ValueError, match="dev_fraction"):
        make_folds(enough, dev_fraction=0.9)
    with pytest.raises(DatasetError, match="official"):
        make_folds(enough, protocol="official")


def test_cross_dataset_fold_trains_on_a_and_tests_on_all_of_b(seed600, nuaa):
    a = seed600[:40] + seed600[300:340]
    fold = transfer_fold([a], [nuaa], seed=0)
    np.testing.assert_array_equal(fold.test, np.arange(80, 80 + len(nuaa)))
    assert np.all(np.concatenate([fold.train, fold.dev]) < 80)
    assert len(fold.train) + len(fold.dev) == 80
    assert 0.15 <= len(fold.dev) / 80 <= 0.25
    assert_leak_free([fold], a + nuaa)
    # A training file that also occurs in the test set is left out of train and dev.
    b = nuaa[:10] + [a[0]] + nuaa[-10:]
    with pytest.warns(UserWarning, match="1 training record"):
        fold = transfer_fold([a], [b])
    assert 0 not in fold.train and 0 not in fold.dev
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert transfer_fold([a], [nuaa], seed=0) == transfer_fold([a], [nuaa], seed=0)
    with pytest.raises(DatasetError, match="test dataset must hold both classes"):
        transfer_fold([a], [nuaa[:5]])


def test_transfer_fold_over_several_datasets_and_with_the_trainings_own_split(seed600, nuaa):
    a, b = seed600[:40] + seed600[300:340], nuaa[:30] + nuaa[-30:]
    c = nuaa[100:120] + nuaa[-120:-100]
    fold = transfer_fold([a, b], [c], seed=0)  # leave-one-out shape: train on A and B
    np.testing.assert_array_equal(fold.test, np.arange(140, 180))
    trained = np.concatenate([fold.train, fold.dev])
    assert (trained < 80).any() and (trained >= 80).any() and (trained < 140).all()
    assert_leak_free([fold], a + b + c)
    own = transfer_fold([a], [b], seed=0, own_test_k=5)  # the matrix's shape: A's own test part
    (first,) = make_folds(a, k=5, seed=0)[:1]
    np.testing.assert_array_equal(own.train, first.train)
    np.testing.assert_array_equal(own.test, np.concatenate([first.test, np.arange(80, 140)]))
