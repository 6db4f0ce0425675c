"""Leak-free train/dev/test folds over a list of records.

A "group" is everything that must stay on one side of every boundary: the subject when the
dataset names one, else the video a frame comes from, else the file content (exact
duplicates share a group). Groups are closed transitively: two subjects sharing a
duplicate file, or a frame's video whose subject is known, end up in one group.

Protocols: "official" keeps the dataset's own train/test (and dev, if given) split and
carves dev out of train; "kfold" uses `StratifiedGroupKFold` for the test folds and again,
inside each fold's remaining data, for dev. Every split is seeded through numpy/sklearn
only, so the same seed gives the same folds on every machine.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import StratifiedGroupKFold

from features.records import LABEL_NAMES, DatasetError, Presentation

PROTOCOLS = ("auto", "official", "kfold")
_DEV_NAMES = frozenset({"dev", "devel", "val", "validation"})


@dataclass(frozen=True, eq=False)
class Fold:
    """Indices (sorted, int64, read-only) into the record list of one train/dev/test split."""

    index: int
    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray

    def __post_init__(self) -> None:
        for name in ("train", "dev", "test"):
            a = np.unique(np.asarray(getattr(self, name), dtype=np.int64))
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        parts = np.concatenate([self.train, self.dev, self.test])
        if len(np.unique(parts)) != len(parts):
            raise ValueError(f"fold {self.index}: train, dev and test share indices")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fold):
            return NotImplemented
        return self.index == other.index and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in ("train", "dev", "test")
        )

    __hash__ = None  # mutable-looking arrays inside: not hashable

    def __repr__(self) -> str:
        return (
            f"Fold({self.index}, train={len(self.train)}, dev={len(self.dev)}, "
            f"test={len(self.test)})"
        )


def _records(records: Sequence[Presentation]) -> list[Presentation]:
    return list(records.ravel() if isinstance(records, np.ndarray) else records)


def duplicate_clusters(records: Sequence[Presentation]) -> list[list[int]]:
    """Index lists of records with identical content (sha256), only clusters of 2 or more."""
    by_hash: dict[str, list[int]] = {}
    for i, r in enumerate(_records(records)):
        by_hash.setdefault(r.sha256, []).append(i)
    return sorted(c for c in by_hash.values() if len(c) > 1)


def _primary_key(r: Presentation) -> tuple[int, str]:
    """(rank, id): the id naming a record's group, subject before video before content."""
    if r.subject is not None:
        return 0, f"subject:{r.subject}"
    if r.video is not None:
        return 1, f"video:{r.video}"
    return 2, f"sha256:{r.sha256}"


def group_ids(records: Sequence[Presentation]) -> np.ndarray:
    """One group id (str) per record: "subject:<id>", else "video:<id>", else "sha256:<hash>".

    Records linked by a shared subject, video or content hash are merged into one group
    (connected components) so no link can straddle a split; a merged group is named by its
    first subject (else video, else content hash) in sort order.
    """
    recs = _records(records)
    n = len(recs)
    keys: dict[str, int] = {}
    rows, cols = [], []
    for i, r in enumerate(recs):
        links = [f"sha256:{r.sha256}"]
        if r.subject is not None:
            links.append(f"subject:{r.subject}")
        if r.video is not None:
            links.append(f"video:{r.video}")
        for k in links:
            rows.append(i)
            cols.append(n + keys.setdefault(k, len(keys)))
    size = n + len(keys)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, comp = connected_components(graph, directed=False)
    name: dict[int, tuple[int, str]] = {}
    for i, r in enumerate(recs):
        k = _primary_key(r)
        name[comp[i]] = min(name.get(comp[i], k), k)
    return np.array([name[comp[i]][1] for i in range(n)], dtype=object)


def _class_groups(labels: np.ndarray, groups: np.ndarray) -> dict[int, int]:
    return {int(c): len(set(groups[labels == c])) for c in np.unique(labels)}


def _describe(counts: dict[int, int]) -> str:
    return ", ".join(f"{LABEL_NAMES[c]}: {n}" for c, n in sorted(counts.items()))


def _min_groups(k: int) -> int:
    """Groups per class so that each of k test folds gets one and train and dev keep one each."""
    n = k
    while n - math.ceil(n / k) < 2:
        n += 1
    return n


def check_supports(records: Sequence[Presentation], k: int) -> None:
    """Raise DatasetError unless the records allow k stratified group folds, each with a dev set."""
    recs = _records(records)
    if not isinstance(k, int | np.integer) or k < 2:
        raise DatasetError(f"k must be an integer >= 2 folds, got {k!r}")
    labels = np.array([r.label for r in recs])
    groups = group_ids(recs)
    counts = _class_groups(labels, groups)
    if len(counts) < 2:
        only = _describe(counts) or "no records"
        raise DatasetError(f"cannot split for detection: one class only ({only} groups)")
    need = _min_groups(k)
    if min(counts.values()) < need:
        raise DatasetError(
            f"{k}-fold cross-validation with a dev set needs at least {need} independent groups "
            f"(subjects, videos or distinct files) per class; got {_describe(counts)}. "
            f"Use fewer folds or more data."
        )


def _carve_dev(
    idx: np.ndarray, labels: np.ndarray, groups: np.ndarray, dev_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split `idx` into (train, dev), group-disjoint and stratified, dev ~ dev_fraction.

    Fewer inner folds (a larger dev set) are used when a class has fewer groups than
    1 / dev_fraction, so that dev can hold every class.
    """
    counts = _class_groups(labels[idx], groups[idx])
    if len(counts) < 2 or min(counts.values()) < 2:
        raise DatasetError(
            f"cannot carve a dev set: it needs 2 groups (subjects, videos or distinct files) "
            f"per class in the training data, got {_describe(counts)}"
        )
    n_splits = min(max(2, round(1 / dev_fraction)), min(counts.values()))
    cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" is per sample
        for tr, dv in cv.split(idx, labels[idx], groups[idx]):
            # the first inner fold whose dev and train both hold every class
            if len(set(labels[idx[dv]])) == len(set(labels[idx[tr]])) == len(counts):
                return idx[tr], idx[dv]
    raise DatasetError(
        f"cannot carve a dev set holding both classes from {_describe(counts)} groups per class"
    )


def _check_fold(fold: Fold, labels: np.ndarray, groups: np.ndarray) -> Fold:
    for name in ("train", "dev", "test"):
        part = getattr(fold, name)
        missing = {0, 1} - set(labels[part].tolist())
        if missing:
            lack = " and ".join(LABEL_NAMES[c] for c in sorted(missing))
            raise DatasetError(
                f"fold {fold.index}: the {name} set ({len(part)} records) has no {lack} "
                f"records; use fewer folds or more data"
            )
    sides = [set(groups[getattr(fold, n)]) for n in ("train", "dev", "test")]
    shared = (sides[0] & sides[1]) | (sides[0] & sides[2]) | (sides[1] & sides[2])
    if shared:  # cannot happen by construction; guards the invariant
        raise AssertionError(f"fold {fold.index}: groups on two sides: {sorted(shared)[:5]}")
    return fold


def _official_split(recs: list[Presentation]) -> np.ndarray | None:
    """Normalised split per record ("train"/"dev"/"test") if all records have a usable one."""
    names = []
    for r in recs:
        s = (r.split or "").lower()
        s = "dev" if s in _DEV_NAMES else s
        if s not in ("train", "dev", "test"):
            return None
        names.append(s)
    names = np.array(names)
    if not ({"train", "test"} <= set(names.tolist())):
        return None
    return names


def _official_folds(
    recs: list[Presentation],
    split: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int,
    dev_fraction: float,
) -> list[Fold]:
    sides = {s: set(groups[split == s]) for s in ("train", "dev", "test")}
    shared = (
        (sides["train"] & sides["test"])
        | (sides["train"] & sides["dev"])
        | (sides["dev"] & sides["test"])
    )
    if shared:
        raise DatasetError(
            f"the official split is not group-disjoint: {len(shared)} group(s) (subjects, videos "
            f"or duplicate files) appear in more than one of train/dev/test, e.g. "
            f"{', '.join(sorted(shared)[:3])}"
        )
    idx = np.arange(len(recs))
    train, test = idx[split == "train"], idx[split == "test"]
    if np.any(split == "dev"):
        dev = idx[split == "dev"]
    else:
        train, dev = _carve_dev(train, labels, groups, dev_fraction, seed)
    return [_check_fold(Fold(0, train, dev, test), labels, groups)]


def _kfold(
    labels: np.ndarray, groups: np.ndarray, k: int, seed: int, dev_fraction: float
) -> list[Fold]:
    idx = np.arange(len(labels))
    outer = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    folds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        splits = list(outer.split(idx, labels, groups))
    for i, (rest, test) in enumerate(splits):
        train, dev = _carve_dev(rest, labels, groups, dev_fraction, seed + 1 + i)
        folds.append(_check_fold(Fold(i, train, dev, test), labels, groups))
    return folds


def _check_fraction(dev_fraction: float) -> None:
    if not 0 < dev_fraction <= 0.5:
        raise ValueError(f"dev_fraction must be in (0, 0.5], got {dev_fraction!r}")


def make_folds(
    records: Sequence[Presentation],
    k: int = 5,
    seed: int = 0,
    dev_fraction: float = 0.2,
    protocol: str = "auto",
) -> list[Fold]:
    """Group-disjoint, stratified folds with a dev set each (see module doc).

    protocol "auto" uses the official split when every record has one ("train"/"test",
    optionally "dev") and it is group-disjoint, else k-fold (with a warning if an
    official split was ignored because it leaks groups). "official" and "kfold" force one.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    _check_fraction(dev_fraction)
    recs = _records(records)
    labels = np.array([r.label for r in recs], dtype=np.int64)
    groups = group_ids(recs)
    if protocol in ("auto", "official"):
        split = _official_split(recs)
        if split is None and protocol == "official":
            raise DatasetError(
                "protocol='official' needs every record to have split train/test (or dev), "
                "with both train and test present"
            )
        if split is not None:
            try:
                return _official_folds(recs, split, labels, groups, seed, dev_fraction)
            except DatasetError as e:
                if protocol == "official":
                    raise
                warnings.warn(f"ignoring the official split ({e}); using {k}-fold", stacklevel=2)
    check_supports(recs, k)
    return _kfold(labels, groups, k, seed, dev_fraction)


def transfer_fold(
    train_sets: Sequence[Sequence[Presentation]],
    test_sets: Sequence[Sequence[Presentation]],
    seed: int = 0,
    dev_fraction: float = 0.2,
    own_test_k: int | None = None,
) -> Fold:
    """The one fold of a transfer protocol: train on some datasets, test on others.

    Indices refer to the concatenation of `train_sets` then `test_sets`. Each dataset's group
    ids are prefixed with its position, so two datasets never share a group. Train and dev are
    carved group-disjointly (~dev_fraction) from all training datasets together; with
    `own_test_k` the single training dataset keeps its own split instead (official, else fold 0
    of `make_folds(k=own_test_k)`), whose test part is tested too. Training records whose
    content (sha256) occurs in a test dataset are left out of train and dev (with a warning).
    """
    _check_fraction(dev_fraction)
    train = [_records(r) for r in train_sets]
    tests = [_records(r) for r in test_sets]
    if not train or not tests:
        raise DatasetError("a transfer protocol needs at least one training and one test dataset")
    for name, sets in (("training", train), ("test", tests)):
        for part in sets:
            if {r.label for r in part} != {0, 1}:
                raise DatasetError(f"every {name} dataset must hold both classes")
    a = [r for part in train for r in part]
    everything = a + [r for part in tests for r in part]
    labels = np.array([r.label for r in everything], dtype=np.int64)
    groups = np.concatenate(
        [f"{i}:" + group_ids(part).astype(str) for i, part in enumerate(train + tests)]
    ).astype(object)
    if own_test_k is not None:
        if len(train) != 1:
            raise DatasetError("a dataset's own split needs exactly one training dataset")
        own = make_folds(a, k=own_test_k, seed=seed, dev_fraction=dev_fraction)[0]
        tr, dv, own_test = own.train, own.dev, own.test
    else:
        tr, dv = _carve_dev(np.arange(len(a)), labels, groups, dev_fraction, seed)
        own_test = np.array([], dtype=np.int64)
    in_tests = {r.sha256 for part in tests for r in part}
    keep = np.array([r.sha256 not in in_tests for r in a], dtype=bool)
    if not keep.all():
        warnings.warn(
            f"{int((~keep).sum())} training record(s) also occur in a test dataset; "
            f"left out of train and dev",
            stacklevel=2,
        )
    test = np.concatenate([own_test, np.arange(len(a), len(everything))])
    return _check_fold(Fold(0, tr[keep[tr]], dv[keep[dv]], test), labels, groups)
