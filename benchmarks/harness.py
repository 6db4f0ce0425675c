"""Evaluate an estimator over records, fold by fold, with thresholds fixed on development data.

Conventions: label 1 = attack, 0 = bona fide; scores are attack scores (higher = more likely an
attack); attack when score >= threshold. An estimator sees X = a numpy object array of
`Presentation` records and y = int labels.

Per fold the estimator is cloned, fitted on the train records by `classifiers.fitting.fit_method`
(the training records' groups routed to the steps that request them, the dev records to a final
step that takes them), and scores the dev and test records with `decision_function` (or,
lacking it, the attack column of `predict_proba`). The threshold is chosen on that fold's dev
scores and applied to its test scores. The summary is `benchmarks.evaluate.evaluate_scores` of
the fold's dev/test scores, so a score file written here and re-read by `python -m
benchmarks.evaluate` gives the same numbers: per-fold metrics, mean and std over folds, pooled
metrics (each test row judged at its own fold's threshold for APCER/BPCER/ACER/HTER;
EER/AUC/BPCERx on the pooled scores) and group bootstrap CIs.
Fit time is wall-clock seconds per fold; scoring time is milliseconds per presentation scored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, clone
from tqdm.auto import tqdm

from benchmarks.evaluate import evaluate_scores, paired_mean_difference
from benchmarks.metrics import parse_criterion
from benchmarks.scores import ScoreFileError, ScoreTable, write_scores
from benchmarks.splits import group_ids
from benchmarks.stats import PairedComparison
from classifiers.fitting import fit_method
from features.records import Presentation, dataset_names


class HarnessError(RuntimeError):
    """A method that failed on a fold, or results that cannot be compared."""


@dataclass
class MethodResult:
    """The outcome of `evaluate_method` for one method.

    `metrics` is the `evaluate_scores` dict (top-level rates = mean over folds, `*_std`, `*_ci`,
    `pooled`, `folds` with each fold's threshold and metrics, `warnings`). `fit_seconds` holds one
    entry per fold; `ms_per_image` is scoring time per presentation over all dev and test scoring.
    `scores` holds every fold's dev and test rows; `score_file` is where they were written.
    """

    name: str
    family: str
    criterion: str
    metrics: dict
    fit_seconds: list[float]
    ms_per_image: float
    scores: ScoreTable = field(repr=False)
    score_file: Path | None = None
    variants: list[str] = field(default_factory=list)  # per fold: the fitted `variant_`, if any

    def to_dict(self) -> dict:
        """JSON-ready: name, family, the `benchmarks.evaluate` keys, timings, score file."""
        return {
            "name": self.name,
            "family": self.family,
            **self.metrics,
            "fit_seconds": list(self.fit_seconds),
            "fit_seconds_mean": float(np.mean(self.fit_seconds)),
            "ms_per_image": self.ms_per_image,
            "score_file": None if self.score_file is None else str(self.score_file),
            "classifier_variant": ", ".join(dict.fromkeys(self.variants)) or None,
        }

    def summary(self) -> str:
        """One console line: name, family, ACER, APCER, BPCER, EER and fit time."""
        m = self.metrics

        def pct(k: str) -> str:
            return "  n/a" if m.get(k) is None else f"{100 * m[k]:5.2f}%"

        return (
            f"{self.name:<22} {self.family:<11} ACER {pct('acer')}  APCER {pct('apcer_max')}  "
            f"BPCER {pct('bpcer')}  EER {pct('eer')}  fit {np.mean(self.fit_seconds):6.1f} s/fold"
        )


def _records_array(records: Sequence[Presentation]) -> np.ndarray:
    X = np.empty(len(records), dtype=object)
    X[:] = list(records)
    return X


def fit_on(
    estimator: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    dev: tuple[np.ndarray, np.ndarray],
    sample_weight: np.ndarray | None = None,
) -> BaseEstimator:
    """Fit a method on the records X with the dev records, its groups from `group_ids(X)`."""
    return fit_method(estimator, X, y, groups=group_ids(X), dev=dev, sample_weight=sample_weight)


def _attack_scores(estimator: BaseEstimator, X: np.ndarray, where: str) -> np.ndarray:
    """1-D finite attack scores of X: decision_function, else predict_proba's attack column."""
    classes = getattr(estimator, "classes_", None)
    if classes is not None and np.asarray(classes).tolist() != [0, 1]:
        raise HarnessError(f"{where}: estimator classes_ are {list(classes)}, expected [0, 1]")
    if hasattr(estimator, "decision_function"):
        score = estimator.decision_function
    elif hasattr(estimator, "predict_proba") and classes is not None:

        def score(X: np.ndarray) -> np.ndarray:
            return np.asarray(estimator.predict_proba(X))[:, 1]

    else:
        raise HarnessError(
            f"{where}: estimator has no decision_function (or predict_proba with classes_)"
        )
    try:
        scores = score(X)
    except Exception as e:
        raise HarnessError(f"{where}: scoring failed: {type(e).__name__}: {e}") from e
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(X),):
        raise HarnessError(f"{where}: scores have shape {scores.shape}, expected ({len(X)},)")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise HarnessError(f"{where}: score of {X[bad[0]].id} is {scores[bad[0]]}")
    return scores


def _variant(estimator: BaseEstimator) -> str | None:
    """The `variant_` of a fitted method's last step (exact or approximate SVM), if it has one."""
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return getattr(last, "variant_", None)


def _by_dataset(X: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    """`idx` split by the records' dataset (`DATASET_KEY`), in order of first appearance: each
    dataset of a scored part is scored in a call of its own, so a step that uses the statistics
    of the batch it scores (the transductive standardiser) sees one dataset at a time."""
    names = dataset_names(X[idx])
    return [idx[names == name] for name in dict.fromkeys(names.tolist())] if idx.size else [idx]


def _check_fold(fold: object, y: np.ndarray, where: str, need_dev: bool) -> None:
    for part in ("train", "dev", "test"):
        idx = np.asarray(getattr(fold, part))
        if part == "dev" and not need_dev and idx.size == 0:
            continue
        if idx.size == 0 or np.unique(y[idx]).size < 2:
            raise HarnessError(f"{where}: the {part} part needs bona fide and attack records")


def evaluate_method(
    estimator: BaseEstimator,
    records: Sequence[Presentation],
    folds: Sequence[object],
    name: str,
    family: str,
    criterion: str = "eer",
    out_dir: str | Path | None = None,
    progress: bool = True,
    groups: Sequence[object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
) -> MethodResult:
    """Fit on train, score dev and test, threshold on dev, metrics on test, for every fold.

    `folds` are `benchmarks.splits.Fold`s (index, train, dev, test index arrays). `groups` are the
    bootstrap units per record (default `benchmarks.splits.group_ids(records)`). `sample_weight`
    (one per record) weights the training records of every fold. With `out_dir`,
    all folds' dev and test scores go to `<out_dir>/scores/<name>.csv`. A fold that fails raises
    `HarnessError` naming the method and the fold.
    """
    crit = parse_criterion(criterion)
    if not name or Path(name).name != name or name.startswith("."):
        raise ValueError(
            f"method name {name!r} must be a plain file name (it names the score file)"
        )
    if not folds:
        raise ValueError(f"method {name!r}: no folds")
    groups = np.asarray(group_ids(records) if groups is None else groups, dtype=object).astype(str)
    if groups.shape != (len(records),):
        raise ValueError(f"method {name!r}: {groups.size} groups for {len(records)} records")
    X = _records_array(records)
    y = np.array([r.label for r in records], dtype=int)
    rows: dict[str, list] = {k: [] for k in ("index", "fold", "split", "score")}
    fit_seconds: list[float] = []
    variants: list[str] = []
    score_seconds = 0.0
    for fold in tqdm(folds, desc=name, disable=not progress):
        where = f"method {name!r}, fold {fold.index}"
        _check_fold(fold, y, where, need_dev=crit.kind != "fixed")
        est = clone(estimator)
        train, dev = np.asarray(fold.train), np.asarray(fold.dev)
        start = time.perf_counter()
        try:
            weights = None if sample_weight is None else sample_weight[train]
            fit_on(est, X[train], y[train], (X[dev], y[dev]), weights)
        except Exception as e:
            raise HarnessError(f"{where}: fit failed: {type(e).__name__}: {e}") from e
        fit_seconds.append(time.perf_counter() - start)
        if _variant(est) is not None:
            variants.append(_variant(est))
        for split in ("dev", "test"):
            for idx in _by_dataset(X, np.asarray(getattr(fold, split))):
                start = time.perf_counter()
                scores = _attack_scores(est, X[idx], f"{where}, {split}")
                score_seconds += time.perf_counter() - start
                rows["index"] += idx.tolist()
                rows["fold"] += [fold.index] * idx.size
                rows["split"] += [split] * idx.size
                rows["score"] += scores.tolist()
    idx = np.array(rows.pop("index"), dtype=int)
    out_path = None if out_dir is None else Path(out_dir) / "scores" / f"{name}.csv"
    table = ScoreTable.from_columns(
        source=str(out_path) if out_path else f"<scores of {name}>",
        sample_id=[X[i].id for i in idx],
        path=[str(X[i].path) for i in idx],
        label=y[idx],
        attack_type=[X[i].attack_type for i in idx],
        subject=[X[i].subject for i in idx],
        video=[X[i].video for i in idx],
        group=groups[idx],
        **rows,
    )
    if out_path is not None:
        write_scores(out_path, table)
    metrics = evaluate_scores(
        table.take(table.split == "test"),
        table.take(table.split == "dev"),
        crit,
        "frame",
        n_boot,
        seed,
    )
    return MethodResult(
        name=name,
        family=family,
        criterion=str(crit),
        metrics=metrics,
        fit_seconds=fit_seconds,
        ms_per_image=1000 * score_seconds / max(len(idx), 1),
        scores=table,
        score_file=out_path,
        variants=variants,
    )


@dataclass(frozen=True)
class MethodComparison:
    """A vs B on the same test presentations: `difference` = metric(A) - metric(B), pooled.

    Verdict "A better" / "B better" when the bootstrap interval of the difference excludes 0
    (lower error is better), else "within noise".
    """

    a: str
    b: str
    metric: str
    value_a: float
    value_b: float
    comparison: PairedComparison
    seed: int

    @property
    def verdict(self) -> str:
        return self.comparison.verdict

    def to_dict(self) -> dict:
        ci = self.comparison.interval
        return {
            "a": self.a,
            "b": self.b,
            "metric": self.metric,
            "value_a": self.value_a,
            "value_b": self.value_b,
            "difference": self.comparison.difference,
            "difference_ci": [ci.low, ci.high],
            "level": ci.level,
            "n_boot": ci.n_boot,
            "n_valid": ci.n_valid,
            "seed": self.seed,
            "verdict": self.verdict,
        }

    def __str__(self) -> str:
        ci = self.comparison.interval
        return (
            f"{self.a} vs {self.b}: {self.metric.upper()} {100 * self.value_a:.2f}% vs "
            f"{100 * self.value_b:.2f}%, difference {100 * self.comparison.difference:+.2f}% "
            f"[{100 * ci.low:+.2f}%, {100 * ci.high:+.2f}%] ({ci.level:.0%} CI): {self.verdict}"
        )


def _test(result: MethodResult) -> ScoreTable:
    return result.scores.take(result.scores.split == "test")


def paired_comparison(
    result_a: MethodResult,
    result_b: MethodResult,
    n_boot: int = 1000,
    seed: int = 0,
    metric: str = "acer",
) -> MethodComparison:
    """Paired group bootstrap of metric(A) - metric(B) over the pooled test rows of both.

    Both results must hold the same (fold, sample_id) test rows with the same labels; each row is
    judged at its own method's own fold threshold. Groups are taken from result A.
    """
    return paired_mean_comparison([result_a], [result_b], n_boot, seed, metric)


def paired_mean_comparison(
    results_a: Sequence[MethodResult],
    results_b: Sequence[MethodResult],
    n_boot: int = 1000,
    seed: int = 0,
    metric: str = "acer",
) -> MethodComparison:
    """As `paired_comparison`, for the mean of the metric over independent test sets: the i-th
    results of A and B were tested on the i-th set (leave-one-out: one per held-out dataset)."""
    a, b = results_a[0].name, results_b[0].name
    pairs = [
        ((_test(ra), ra.metrics["folds"]), (_test(rb), rb.metrics["folds"]))
        for ra, rb in zip(results_a, results_b, strict=True)
    ]
    try:
        value_a, value_b, comparison = paired_mean_difference(pairs, metric, n_boot, seed)
    except ScoreFileError as e:
        raise HarnessError(f"{a!r} and {b!r}: {e}") from None
    return MethodComparison(a, b, metric, value_a, value_b, comparison, seed)
