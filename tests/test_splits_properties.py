"""Leak checks that need no shared data: hypothesis over synthetic records.

Records get random subjects, videos and contents (equal sha256 = a duplicate file); whatever the
mix, no subject, video or content may sit on two sides of a train/dev/test boundary. The check
reads those attributes directly rather than trusting `group_ids`, which the splitter uses.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from benchmarks.splits import _min_groups, group_ids, make_folds, transfer_fold
from features.records import DatasetError, Presentation

BOUNDED = settings(max_examples=50, deadline=None)
SPLITS = ("train", "dev", "test")

# (label, subject or None, video or None, content id): 50 contents for up to 60 records make
# duplicate files common, sometimes across classes
ROW = st.tuples(
    st.integers(0, 1),
    st.none() | st.integers(0, 29),
    st.none() | st.integers(0, 39),
    st.integers(0, 49),
)


def _records(rows: list[tuple], prefix: str = "", splits: list[str] | None = None) -> list:
    return [
        Presentation(
            id=f"{prefix}r{i}",
            path=Path(f"{prefix}r{i}.jpg"),
            label=label,
            sha256=f"{content:064x}",
            subject=None if subject is None else f"{prefix}s{subject}",
            video=None if video is None else f"{prefix}v{video}",
            split=None if splits is None else splits[i],
        )
        for i, (label, subject, video, content) in enumerate(rows)
    ]


def _links(r: Presentation) -> set[str]:
    """Everything that ties a record to others: its subject, video and content."""
    out = {f"sha256:{r.sha256}"}
    if r.subject is not None:
        out.add(f"subject:{r.subject}")
    if r.video is not None:
        out.add(f"video:{r.video}")
    return out


def _assert_no_leak(fold, records: list[Presentation]) -> None:
    parts = [np.asarray(getattr(fold, s)) for s in SPLITS]
    every = np.concatenate(parts)
    assert len(np.unique(every)) == len(every)  # a record sits on one side only
    links = [set().union(*(_links(records[i]) for i in p)) for p in parts]
    for a in range(3):
        for b in range(a + 1, 3):
            shared = links[a] & links[b]
            assert not shared, f"{SPLITS[a]}/{SPLITS[b]} share {sorted(shared)[:3]}"
    for p in parts:  # every side holds both classes
        assert {records[i].label for i in p} == {0, 1}


def _enough_groups(records: list[Presentation], k: int) -> bool:
    labels = np.array([r.label for r in records])
    groups = group_ids(records)
    counts = [len(set(groups[labels == c])) for c in (0, 1)]
    return min(counts) >= _min_groups(k)


@BOUNDED
@given(st.lists(ROW, min_size=20, max_size=60), st.integers(2, 5), st.integers(0, 2**31 - 1))
@example(  # a duplicate file in both classes: no shuffle gives every test fold both classes
    rows=[(0, None, None, 0)] * 13
    + [(0, None, None, c) for c in (1, 2, 4)]
    + [(1, None, None, c) for c in range(4)],
    k=4,
    seed=0,
)
def test_kfold_tests_every_record_once_without_leaks(rows, k, seed):
    records = _records(rows)
    try:
        folds = make_folds(records, k=k, seed=seed, protocol="kfold")
    except DatasetError as e:
        # refused when a class has too few independent groups, or (known gaps of
        # check_supports) when skewed group sizes or groups holding both classes leave a
        # fold's training part a single group of a class (no dev set can be carved from it)
        # or a test fold without one class; both refusals name the fold's problem
        if _enough_groups(records, k) and len({r.label for r in records}) == 2:
            message = str(e)
            assert "cannot carve a dev set" in message or (
                "the test set" in message and "use fewer folds or more data" in message
            ), message
            event("refused: no dev set or a one-class test set in a fold")
        else:
            event("refused: too few groups")
        return
    assert len(folds) == k
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(records)))  # each record tested once
    for f in folds:
        _assert_no_leak(f, records)
        assert len(f.train) + len(f.dev) + len(f.test) == len(records)
    assert make_folds(records, k=k, seed=seed, protocol="kfold") == folds  # deterministic


@BOUNDED
@given(
    st.lists(ROW, min_size=20, max_size=60),
    st.lists(st.sampled_from(SPLITS), min_size=60, max_size=60),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_official_split_is_kept_or_refused_never_leaked(rows, drawn, by_group, seed):
    plain = _records(rows)
    if by_group:  # one split per group: a clean official protocol (dev present or not)
        groups = group_ids(plain)
        names = sorted(set(groups))
        splits = [drawn[names.index(g) % len(drawn)] for g in groups]
    else:  # one split per record: leaks whenever a group spans two splits
        splits = drawn[: len(rows)]
    records = _records(rows, splits=splits)
    try:
        folds = make_folds(records, seed=seed, protocol="official")
    except DatasetError:
        event(f"refused ({'by group' if by_group else 'by record'})")
        return  # refused: a leaking split, a missing part or class
    (fold,) = folds
    _assert_no_leak(fold, records)
    split = np.array(splits)
    assert np.array_equal(fold.test, np.flatnonzero(split == "test"))
    assert set(fold.train) <= set(np.flatnonzero(split == "train"))
    if "dev" in splits:
        assert np.array_equal(fold.dev, np.flatnonzero(split == "dev"))
    else:  # dev carved out of the official train part
        assert np.array_equal(np.union1d(fold.train, fold.dev), np.flatnonzero(split == "train"))
    assert make_folds(records, seed=seed, protocol="official") == folds


@BOUNDED
@given(
    st.lists(ROW, min_size=10, max_size=40),
    st.lists(ROW, min_size=4, max_size=30),
    st.integers(0, 2**31 - 1),
)
def test_cross_dataset_keeps_test_contents_out_of_training(rows_a, rows_b, seed):
    a = _records(rows_a, prefix="a")
    b = _records(rows_b, prefix="b")  # same content ids = the same file in both datasets
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            folds = [transfer_fold([a], [b], seed=seed)]
    except DatasetError:
        event("refused")
        return  # a dataset with one class, or too few groups to carve dev
    (fold,) = folds
    records = a + b
    _assert_no_leak(fold, records)
    assert np.array_equal(fold.test, np.arange(len(a), len(a) + len(b)))  # all of B, only B
    in_b = {r.sha256 for r in b}
    assert all(records[i].sha256 not in in_b for i in np.concatenate([fold.train, fold.dev]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert [transfer_fold([a], [b], seed=seed)] == folds
