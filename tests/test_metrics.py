"""Metrics against values computed by hand (label 1 = attack, attack when score >= threshold)."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve

from benchmarks.metrics import (
    Criterion,
    ScoreConventionWarning,
    apcer_at_bpcer,
    auc,
    bpcer_at_apcer,
    choose_threshold,
    compute_metrics,
    curve_metrics,
    eer,
    error_rates,
    parse_criterion,
    rates_from_decisions,
)

# bona fide 0.1 0.2 0.3 0.6; print attacks 0.4 0.7 0.8; replay attacks 0.3 0.45 0.9
SCORES = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.3, 0.45, 0.9]
LABELS = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
TYPES = [None, None, None, None, "print", "print", "print", "replay", "replay", "replay"]

# 20 attacks scored 1..20, 5 bona fide: for BPCER at APCER targets
BPCER_SCORES = list(range(1, 21)) + [0.5, 1.5, 2.5, 3.5, 10.5]
BPCER_LABELS = [1] * 20 + [0] * 5


def test_error_rates_with_two_attack_types():
    r = error_rates(SCORES, LABELS, TYPES, 0.5)
    # print: 0.4 missed -> 1/3; replay: 0.3 and 0.45 missed -> 2/3; bona fide: 0.6 -> 1/4
    assert r["apcer"] == pytest.approx({"print": 1 / 3, "replay": 2 / 3})
    assert r["apcer_max"] == pytest.approx(2 / 3)
    assert r["apcer_pooled"] == pytest.approx(3 / 6)
    assert r["bpcer"] == pytest.approx(1 / 4)
    assert r["acer"] == pytest.approx((2 / 3 + 1 / 4) / 2)
    assert r["hter"] == pytest.approx((1 / 2 + 1 / 4) / 2)


def test_ties_at_the_threshold_are_attacks():
    at = error_rates(SCORES, LABELS, TYPES, 0.3)  # bona fide 0.3 and replay 0.3 sit on it
    assert at["bpcer"] == pytest.approx(2 / 4)  # 0.3 and 0.6
    assert at["apcer"]["replay"] == 0.0
    above = error_rates(SCORES, LABELS, TYPES, np.nextafter(0.3, 1))
    assert above["bpcer"] == pytest.approx(1 / 4)
    assert above["apcer"]["replay"] == pytest.approx(1 / 3)


def test_unknown_attack_types_are_one_type():
    r = error_rates([0.0, 1.0, 0.0, 1.0], [0, 1, 1, 1], [None, "", None, "mask"], 0.5)
    assert r["apcer"] == {"mask": 0.0, "unknown": 0.5}
    assert error_rates([0.0, 1.0], [0, 1], None, 0.5)["apcer"] == {"unknown": 0.0}


def test_rates_from_decisions_matches_error_rates():
    s = np.asarray(SCORES)
    assert rates_from_decisions(s >= 0.5, LABELS, TYPES) == error_rates(SCORES, LABELS, TYPES, 0.5)


@pytest.mark.parametrize(
    ("bona", "attack", "value", "threshold"),
    [
        # t=3: APCER 1/4 (attack 2) = BPCER 1/4 (bona 3): exact crossing
        ([0, 1, 2, 3], [2, 4, 5, 6], 0.25, 3.0),
        # t=1: (A 0, B 1/2) -> t=2: (A 1/2, B 0); crossing halfway; |A-B| and mean tie -> lower t
        ([0, 1], [1, 2], 0.25, 1.0),
        # t=2.5: (0, 0.4) -> t=3: (0.5, 0.4); BPCER flat, so EER 0.4; t=3 is closer
        ([0, 1, 2, 3, 4], [2.5, 5], 0.4, 3.0),
    ],
)
def test_eer_by_hand(bona, attack, value, threshold):
    scores = bona + attack
    labels = [0] * len(bona) + [1] * len(attack)
    assert eer(scores, labels) == (pytest.approx(value), threshold)
    assert choose_threshold(scores, labels, None, "eer") == threshold


def test_eer_pools_attack_types():
    # EER is defined on pooled APCER: the attack types must not change it
    assert eer(SCORES, LABELS, TYPES) == eer(SCORES, LABELS)
    assert curve_metrics(SCORES, LABELS, TYPES)["eer"] == eer(SCORES, LABELS)[0]


def test_auc_by_hand_and_against_sklearn():
    # pairs (attack, bona fide): (1,0) > , (1,1) tie, (2,0) >, (2,1) > -> 3.5 / 4
    assert auc([0, 1, 1, 2], [0, 0, 1, 1]) == pytest.approx(0.875)
    rng = np.random.default_rng(1)
    for _ in range(5):
        y = rng.integers(0, 2, 300)
        y[:2] = [0, 1]
        s = np.round(rng.normal(y * 0.7, 1.0), 1)  # rounded: many ties
        assert auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_perfect_separation():
    s, y = [0, 1, 2, 3], [0, 0, 1, 1]
    assert curve_metrics(s, y) == {
        "eer": 0.0,
        "auc": 1.0,
        "bpcer10": 0.0,
        "bpcer20": 0.0,
        "bpcer100": 0.0,
    }
    m = compute_metrics(s, y, dev_scores=s, dev_labels=y)
    assert m["threshold"] == 2.0
    assert (m["apcer_max"], m["bpcer"], m["acer"], m["hter"]) == (0.0, 0.0, 0.0, 0.0)


def test_all_wrong():
    s, y = [2, 3, 0, 1], [0, 0, 1, 1]
    c = curve_metrics(s, y)
    assert (c["eer"], c["auc"]) == (1.0, 0.0)
    assert c["bpcer10"] == c["bpcer20"] == c["bpcer100"] == 1.0
    m = compute_metrics(s, y, dev_scores=s, dev_labels=y)
    assert m["threshold"] == 2.0  # t=2: APCER 1 = BPCER 1
    assert (m["apcer_max"], m["bpcer"], m["acer"]) == (1.0, 1.0, 1.0)


def test_bpcer_at_apcer_targets_by_hand():
    c = curve_metrics(BPCER_SCORES, BPCER_LABELS)
    # APCER <= 1%: nothing missed, t=1 -> bona fide >= 1: 1.5 2.5 3.5 10.5 -> 4/5
    # APCER <= 5%: one missed, highest t=2 -> 2.5 3.5 10.5 -> 3/5
    # APCER <= 10%: two missed, highest t=3 -> 3.5 10.5 -> 2/5
    assert (c["bpcer100"], c["bpcer20"], c["bpcer10"]) == (0.8, 0.6, 0.4)
    assert bpcer_at_apcer(BPCER_SCORES, BPCER_LABELS, None, 0.05) == (0.6, 2.0)


def test_bpcer20_uses_the_worst_attack_type():
    # a second type scored far above everything: pooled over 40 attacks, 5% would allow two
    # misses (BPCER 2/5); the worst type allows only one (BPCER 3/5)
    scores = BPCER_SCORES + [100 + i for i in range(20)]
    labels = BPCER_LABELS + [1] * 20
    types = ["a"] * 20 + [None] * 5 + ["b"] * 20
    assert curve_metrics(scores, labels, types)["bpcer20"] == 0.6
    assert curve_metrics(scores, labels, None)["bpcer20"] == 0.4


def test_threshold_criteria():
    s, y = BPCER_SCORES, BPCER_LABELS
    assert choose_threshold(s, y, None, "apcer=0.05") == 2.0
    assert choose_threshold(s, y, None, "bpcer20") == 2.0
    assert choose_threshold(s, y, None, "fixed=0.5") == 0.5
    # BPCER <= 0.4 first at t=3 (bona fide 3.5, 10.5); two attacks (1, 2) missed there
    assert choose_threshold(s, y, None, "bpcer=0.4") == 3.0
    assert apcer_at_bpcer(s, y, None, 0.4) == (0.1, 3.0)
    # BPCER 0 needs t above 10.5: the first such point is the attack at 11
    assert apcer_at_bpcer(s, y, None, 0.0) == (0.5, 11.0)


def test_parse_criterion():
    assert parse_criterion("EER") == Criterion("eer")
    assert parse_criterion("apcer = 0.05") == Criterion("apcer", 0.05)
    assert parse_criterion("bpcer100") == Criterion("apcer", 0.01)
    assert str(parse_criterion("fixed=-1.5")) == "fixed=-1.5"
    for bad, msg in [
        ("median", "not one of"),
        ("apcer=abc", "not a number"),
        ("apcer=1.5", r"\[0, 1\)"),
        ("fixed=nan", "finite"),
    ]:
        with pytest.raises(ValueError, match=msg):
            parse_criterion(bad)


def test_threshold_comes_from_dev_and_is_labelled():
    dev_s, dev_y = [0, 1, 2, 3, 2, 4, 5, 6], [0, 0, 0, 0, 1, 1, 1, 1]  # EER threshold 3
    test_s, test_y = [0.0, 2.5, 3.0, 2.0, 3.5, 9.0], [0, 0, 0, 1, 1, 1]
    m = compute_metrics(test_s, test_y, None, dev_s, dev_y)
    assert (m["threshold"], m["threshold_source"], m["criterion"]) == (3.0, "dev", "eer")
    assert m["bpcer"] == pytest.approx(1 / 3)  # 3.0 >= 3
    assert m["apcer_max"] == pytest.approx(1 / 3)  # 2.0 < 3
    assert (m["n_bonafide"], m["n_attack"]) == (3, 3)
    assert m["dev_auc"] == pytest.approx(auc(dev_s, dev_y))
    oracle = compute_metrics(test_s, test_y)
    assert oracle["threshold_source"] == "test (oracle)"
    assert oracle["threshold"] == eer(test_s, test_y)[1]
    assert compute_metrics(test_s, test_y, criterion="fixed=9")["threshold_source"] == "fixed"


@pytest.mark.parametrize(
    ("scores", "labels", "msg"),
    [
        ([0.1, float("nan")], [0, 1], "index 1 is nan"),
        ([0.1, float("inf")], [0, 1], "finite"),
        ([0.1, 0.2], [0, 2], "index 1 is 2"),
        ([0.1, 0.2], [1, 1], "only attack"),
        ([0.1, 0.2], [0, 0], "only bona fide"),
        ([0.1, 0.2], [0, 1, 1], "same length"),
    ],
)
def test_bad_input_is_refused(scores, labels, msg):
    with pytest.raises(ValueError, match=msg):
        compute_metrics(scores, labels)


def test_dev_scores_without_labels_is_refused():
    with pytest.raises(ValueError, match="without dev_labels"):
        compute_metrics([0, 1], [0, 1], dev_scores=[0, 1])


score_sets = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-50, 50), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
    )
)
INCREASING = [
    lambda x: 3 * x + 7,
    lambda x: np.exp(x / 10),
    lambda x: x**3 + x,
    lambda x: np.arctan(x / 20),
]


@settings(max_examples=60, deadline=None)
@given(score_sets, st.sampled_from(range(len(INCREASING))))
def test_eer_and_auc_unchanged_by_increasing_transforms(data, which):
    scores, labels = np.asarray(data[0], dtype=float), data[1]
    f = INCREASING[which]
    value, threshold = eer(scores, labels)
    value_f, threshold_f = eer(f(scores), labels)
    assert value_f == pytest.approx(value, abs=1e-12)
    assert auc(f(scores), labels) == pytest.approx(auc(scores, labels), abs=1e-12)
    if threshold <= scores.max():  # the threshold is a score, so it maps with the scores
        assert threshold_f == pytest.approx(f(threshold))


@settings(max_examples=60, deadline=None)
@given(score_sets)
def test_swapping_labels_mirrors_auc(data):
    scores, labels = data
    swapped = [1 - v for v in labels]
    assert auc(scores, swapped) == pytest.approx(1 - auc(scores, labels), abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0, 10), min_size=5, max_size=30),
    st.lists(st.floats(11, 20), min_size=5, max_size=30),
)
def test_swapped_labels_are_detected(bona, attack):
    scores = bona + attack
    labels = [0] * len(bona) + [1] * len(attack)
    with pytest.warns(ScoreConventionWarning, match="swapped"):
        m = compute_metrics(scores, [1 - v for v in labels])
    assert "labels swapped" in m["warnings"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScoreConventionWarning)
        assert compute_metrics(scores, labels)["warnings"] == []


def test_chance_level_scores_are_not_flagged():
    # AUC 1/4 < 0.5, but on 2 + 2 presentations that is chance (exact one-sided p = 1/3)
    m = compute_metrics([1, 3, 0, 2], [0, 0, 1, 1])
    assert m["auc"] == 0.25
    assert m["warnings"] == []


def _brute_force_eer(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(EER, threshold) from sklearn's ROC points, independently of benchmarks.metrics.

    Threshold: the operating point with the smallest |APCER - BPCER|, then the smallest
    (APCER + BPCER) / 2, then the lowest threshold. EER: where the straight line between the
    last point with APCER < BPCER and the next one crosses APCER = BPCER.
    """
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    n_a, n_b = int(labels.sum()), int((labels == 0).sum())
    # exact rates (from the counts) so that ties are ties; sklearn lists thresholds from high
    # to low, starting above the top score (nothing is an attack)
    apcer = [Fraction(round((1 - x) * n_a), n_a) for x in tpr]
    bpcer = [Fraction(round(x * n_b), n_b) for x in fpr]
    points = sorted(zip(thr, apcer, bpcer, strict=True))  # t increasing
    t = [p[0] for p in points]
    a, b = [p[1] for p in points], [p[2] for p in points]
    best = min(range(len(t)), key=lambda i: (abs(a[i] - b[i]), a[i] + b[i], t[i]))
    k = next(i for i in range(len(t)) if a[i] >= b[i])
    if a[k] == b[k]:
        value = a[k]
    else:
        lam = (b[k - 1] - a[k - 1]) / ((a[k] - a[k - 1]) - (b[k] - b[k - 1]))
        value = a[k - 1] + lam * (a[k] - a[k - 1])
    return float(value), float(t[best])


def test_eer_threshold_tie_goes_to_the_lower_mean_error():
    # t=1: APCER 1/2, BPCER 1 (mean 3/4); t=2: APCER 1/2, BPCER 0 (mean 1/4): equally far from
    # APCER = BPCER, but t=2 is strictly better
    scores, labels = [1, 0, 2], [0, 1, 1]
    assert choose_threshold(scores, labels, None, "eer") == 2.0
    assert eer(scores, labels) == (pytest.approx(0.5), 2.0)


@settings(max_examples=100, deadline=None)
@given(score_sets)
def test_eer_and_its_threshold_match_a_brute_force_search(data):
    scores, labels = np.asarray(data[0], dtype=float), np.asarray(data[1])
    value, threshold = _brute_force_eer(scores, labels)
    got_value, got_threshold = eer(scores, labels)
    assert got_value == pytest.approx(value, abs=1e-12)
    if threshold <= scores.max():  # sklearn's "nothing is an attack" point is +inf
        assert got_threshold == threshold
    else:
        assert got_threshold > scores.max()
