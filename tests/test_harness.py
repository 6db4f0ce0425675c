"""The harness on synthetic records whose attack score sits in `record.extra` (no images needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from benchmarks.harness import HarnessError, evaluate_method, paired_comparison
from benchmarks.metrics import ScoreConventionWarning, choose_threshold, compute_metrics
from benchmarks.scores import read_scores
from benchmarks.splits import make_folds as make_folds_by_splits
from features.records import Presentation


@dataclass(frozen=True)
class Fold:  # the shape of benchmarks.splits.Fold
    index: int
    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray


class ExtraScore(ClassifierMixin, BaseEstimator):
    """Scores a record by the number in extra["x"] (times `sign`); learns nothing."""

    def __init__(self, sign: float = 1.0, fail_if_trained_on: str | None = None):
        self.sign = sign
        self.fail_if_trained_on = fail_if_trained_on

    def fit(self, X, y):
        if any(r.id == self.fail_if_trained_on for r in X):
            raise RuntimeError("out of memory")
        self.classes_ = np.array([0, 1])
        self.n_fit_ = len(X)
        return self

    def decision_function(self, X):
        return self.sign * np.array([float(r.extra["x"]) for r in X])


class ExtraFeature(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.array([[float(r.extra["x"])] for r in X])


class DevAware(ExtraScore):
    """Records what it was given as dev data."""

    seen: list = []

    def fit(self, X, y, dev=None):
        DevAware.seen.append((sorted(r.id for r in X), sorted(r.id for r in dev[0]), dev[1]))
        return super().fit(X, y)


class ProbaOnly(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-np.array([float(r.extra["x"]) for r in X])))
        return np.column_stack([1 - p, p])


N_SUBJECTS = 12


def make_records(n: int = 144, seed: int = 0, noise: float = 1.0) -> list[Presentation]:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):  # every subject has bona fide, print and replay presentations
        round_ = i // N_SUBJECTS
        label = int(round_ % 3 != 0)
        kind = ("print", "replay")[round_ % 2] if label else None
        records.append(
            Presentation(
                id=f"img{i:03d}",
                path=Path(f"/nowhere/img{i:03d}.png"),
                label=label,
                sha256=f"{i:064x}",
                attack_type=kind,
                subject=f"s{i % N_SUBJECTS}",
                extra={"x": repr(float(rng.normal(1.5 * label, noise)))},
            )
        )
    return records


def make_folds(records: list[Presentation], k: int = 3) -> list[Fold]:
    """Subject-disjoint folds: test = subjects % k == i, dev = the next residue, train the rest."""
    part = np.array([int(r.subject[1:]) % k for r in records])
    return [
        Fold(
            i,
            np.flatnonzero((part != i) & (part != (i + 1) % k)),
            np.flatnonzero(part == (i + 1) % k),
            np.flatnonzero(part == i),
        )
        for i in range(k)
    ]


RECORDS = make_records()
FOLDS = make_folds(RECORDS)
GROUPS = [r.subject for r in RECORDS]
X_VALUE = np.array([float(r.extra["x"]) for r in RECORDS])
LABELS = np.array([r.label for r in RECORDS])
TYPES = np.array([r.attack_type for r in RECORDS], dtype=object)


def run(estimator, name="m", **kw):
    kw.setdefault("groups", GROUPS)
    kw.setdefault("n_boot", 100)
    kw.setdefault("progress", False)
    return evaluate_method(estimator, RECORDS, FOLDS, name, "test-family", **kw)


def test_thresholds_on_dev_metrics_on_test_per_fold(tmp_path):
    result = run(ExtraScore(), out_dir=tmp_path)
    folds = result.metrics["folds"]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    for fold, got in zip(FOLDS, folds, strict=True):
        dev, test = fold.dev, fold.test
        expected = compute_metrics(
            X_VALUE[test], LABELS[test], TYPES[test], X_VALUE[dev], LABELS[dev], TYPES[dev]
        )
        assert got["threshold"] == choose_threshold(X_VALUE[dev], LABELS[dev], TYPES[dev])
        for key in ("threshold", "apcer", "apcer_max", "bpcer", "acer", "hter", "eer", "auc"):
            assert got[key] == expected[key], key
        assert got["threshold_source"] == "dev"
    acers = [f["acer"] for f in folds]
    d = result.to_dict()
    assert d["acer"] == pytest.approx(np.mean(acers))
    assert d["acer_std"] == pytest.approx(np.std(acers, ddof=1))
    assert d["n_folds"] == 3 and d["name"] == "m" and d["family"] == "test-family"
    assert set(d["apcer"]) == {"print", "replay"}
    assert d["acer_ci"][0] <= d["pooled"]["acer"] <= d["acer_ci"][1]
    assert len(d["fit_seconds"]) == 3 and min(d["fit_seconds"]) >= 0 and d["ms_per_image"] >= 0


def test_pooled_rates_judge_each_row_at_its_own_fold_threshold():
    result = run(ExtraScore())
    decisions, test_rows = [], []
    for fold, f in zip(FOLDS, result.metrics["folds"], strict=True):
        decisions += (X_VALUE[fold.test] >= f["threshold"]).tolist()
        test_rows += fold.test.tolist()
    y = LABELS[test_rows]
    pooled = result.metrics["pooled"]
    assert pooled["bpcer"] == pytest.approx(np.mean(np.array(decisions)[y == 0]))
    assert pooled["apcer_pooled"] == pytest.approx(1 - np.mean(np.array(decisions)[y == 1]))
    assert pooled["n_attack"] + pooled["n_bonafide"] == len(RECORDS)  # each record tested once


def test_score_file_holds_every_fold_and_split(tmp_path):
    result = run(ExtraScore(), name="extra", out_dir=tmp_path)
    assert result.score_file == tmp_path / "scores" / "extra.csv"
    table = read_scores(result.score_file)
    for fold in FOLDS:
        for split in ("dev", "test"):
            rows = table.take((table.fold == fold.index) & (table.split == split))
            idx = getattr(fold, split)
            assert rows.sample_id.tolist() == [RECORDS[i].id for i in idx]
            assert rows.score.tolist() == X_VALUE[idx].tolist()
            assert rows.group.tolist() == [GROUPS[i] for i in idx]
    assert run(ExtraScore()).score_file is None


def test_estimator_is_cloned_per_fold():
    estimator = ExtraScore()
    run(estimator)
    assert not hasattr(estimator, "n_fit_")


def test_logistic_regression_pipeline_matches_the_raw_score():
    # a fitted monotone map of x: same ranking, same operating points, same rates
    raw = run(ExtraScore())
    logreg = run(make_pipeline(ExtraFeature(), LogisticRegression()), name="logreg")
    for key in ("acer", "hter", "eer", "auc", "bpcer20"):
        assert logreg.metrics[key] == pytest.approx(raw.metrics[key]), key
    comparison = paired_comparison(raw, logreg, n_boot=100)
    assert comparison.comparison.difference == 0 and comparison.verdict == "within noise"


def test_dev_data_is_passed_when_fit_accepts_it():
    DevAware.seen = []
    run(DevAware())
    for fold, (train_ids, dev_ids, dev_y) in zip(FOLDS, DevAware.seen, strict=True):
        assert train_ids == sorted(RECORDS[i].id for i in fold.train)
        assert dev_ids == sorted(RECORDS[i].id for i in fold.dev)
        assert dev_y.tolist() == LABELS[fold.dev].tolist()


def test_predict_proba_fallback():
    proba, raw = run(ProbaOnly()), run(ExtraScore())
    assert proba.metrics["auc"] == pytest.approx(raw.metrics["auc"])
    assert proba.metrics["acer"] == pytest.approx(raw.metrics["acer"])


def test_failures_name_method_and_fold():
    with pytest.raises(HarnessError, match=r"method 'm', fold 1: fit failed: RuntimeError: out of"):
        run(ExtraScore(fail_if_trained_on="img000"))  # subject s0: trained on in fold 1 only
    bad = RECORDS[:]
    bad[FOLDS[0].test[0]] = Presentation(
        id="broken", path=Path("/nowhere"), label=0, sha256="0", extra={"x": "nan"}
    )
    with pytest.raises(HarnessError, match=r"method 'm', fold 0, test: score of broken is nan"):
        evaluate_method(ExtraScore(), bad, FOLDS, "m", "f", groups=GROUPS, progress=False)
    bad[FOLDS[0].test[0]] = Presentation(id="no-x", path=Path("/nowhere"), label=0, sha256="0")
    with pytest.raises(HarnessError, match=r"fold 0, test: scoring failed: KeyError: 'x'"):
        evaluate_method(ExtraScore(), bad, FOLDS, "m", "f", groups=GROUPS, progress=False)
    one_class = [Fold(0, FOLDS[0].train, FOLDS[0].dev[LABELS[FOLDS[0].dev] == 1], FOLDS[0].test)]
    with pytest.raises(HarnessError, match=r"fold 0: the dev part needs bona fide and attack"):
        evaluate_method(ExtraScore(), RECORDS, one_class, "m", "f", groups=GROUPS, progress=False)


def test_inverted_scores_are_flagged():
    with pytest.warns(ScoreConventionWarning, match="rank bona fide above attacks"):
        result = run(ExtraScore(sign=-1.0))
    assert len(result.metrics["warnings"]) == 3  # one per fold's dev set
    assert result.metrics["auc"] < 0.5


def test_paired_comparison_sees_a_real_difference():
    good = run(ExtraScore(), name="good")
    noisy_records = make_records(noise=4.0)
    noisy = evaluate_method(
        ExtraScore(), noisy_records, FOLDS, "noisy", "f", groups=GROUPS, n_boot=100, progress=False
    )
    c = paired_comparison(good, noisy, n_boot=200, seed=1)
    assert c.value_a == pytest.approx(good.metrics["pooled"]["acer"])
    assert c.comparison.difference == pytest.approx(c.value_a - c.value_b)
    assert c.verdict == "A better"
    assert "A better" in str(c) and c.to_dict()["verdict"] == "A better"
    other = evaluate_method(
        ExtraScore(), RECORDS, FOLDS[:2], "two-folds", "f", groups=GROUPS, progress=False
    )
    with pytest.raises(HarnessError, match="not tested on the same presentations"):
        paired_comparison(good, other)


def test_bad_arguments():
    with pytest.raises(ValueError, match="plain file name"):
        run(ExtraScore(), name="../escape")
    with pytest.raises(ValueError, match="criterion"):
        run(ExtraScore(), criterion="median")
    with pytest.raises(ValueError, match="groups for"):
        run(ExtraScore(), groups=GROUPS[:-1])


def test_with_the_real_splits_and_default_groups():
    folds = make_folds_by_splits(RECORDS, k=3, seed=0)
    result = evaluate_method(ExtraScore(), RECORDS, folds, "m", "f", n_boot=50, progress=False)
    assert result.metrics["n_folds"] == 3
    assert result.metrics["ci"]["n_groups"] == N_SUBJECTS  # group_ids: one group per subject
    assert set(result.scores.group) == {f"subject:s{i}" for i in range(N_SUBJECTS)}
