"""Fold summaries and the group bootstrap: whole groups resampled, seeded, honest about NaN."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from benchmarks.stats import (
    bootstrap_ci,
    group_resamples,
    mean_std,
    paired_bootstrap,
    paired_bootstrap_mean,
)


def test_mean_std_uses_the_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    mean, std = mean_std([0.25])
    assert mean == 0.25 and math.isnan(std)
    with pytest.raises(ValueError):
        mean_std([])


def test_resamples_hold_whole_groups():
    groups = ["a", "a", "b", "c", "c", "c", "d"]
    size = Counter(groups)
    for idx in group_resamples(groups, 50, seed=3):
        drawn = Counter(groups[i] for i in idx)
        assert sum(n // size[g] for g, n in drawn.items()) == len(size)  # 4 draws of groups
        for g, n in drawn.items():
            assert n % size[g] == 0  # every member of a drawn group, as often as it was drawn
            members = Counter(i for i in idx if groups[i] == g)
            assert len(set(members.values())) == 1


def test_resamples_are_seeded():
    groups = np.arange(30) % 7
    first = [i.tolist() for i in group_resamples(groups, 5, seed=1)]
    assert first == [i.tolist() for i in group_resamples(groups, 5, seed=1)]
    assert first != [i.tolist() for i in group_resamples(groups, 5, seed=2)]


def test_bootstrap_ci_of_a_mean():
    x = np.arange(100, dtype=float)
    ci = bootstrap_ci(lambda idx: x[idx].mean(), np.arange(100), n_boot=400, seed=0)
    assert ci.low < 49.5 < ci.high
    # standard error of the mean is about 2.9: the 95% interval spans roughly +-5.7
    assert 8 < ci.high - ci.low < 15
    assert (ci.n_boot, ci.n_valid, ci.level) == (400, 400, 0.95)


def test_clustered_data_gets_a_wider_interval_when_groups_are_known():
    rng = np.random.default_rng(0)
    subject_effect = np.repeat(rng.normal(0, 1, 10), 20)  # 10 subjects, 20 images each
    x = subject_effect + rng.normal(0, 0.1, 200)
    by_image = bootstrap_ci(lambda i: x[i].mean(), np.arange(200), n_boot=300)
    by_subject = bootstrap_ci(lambda i: x[i].mean(), np.repeat(np.arange(10), 20), n_boot=300)
    assert (by_subject.high - by_subject.low) > 2 * (by_image.high - by_image.low)


def test_undefined_resamples_are_dropped_and_counted():
    groups = np.arange(4)

    def statistic(idx):
        return float("nan") if 0 not in idx else 1.0

    ci = bootstrap_ci(statistic, groups, n_boot=200, seed=0)
    assert 0 < ci.n_valid < 200  # group 0 is missed by about (3/4)^4 of resamples
    assert ci.low == ci.high == 1.0


def test_paired_bootstrap_verdicts():
    rng = np.random.default_rng(0)
    groups = np.arange(60) // 3
    err_a = (rng.random(60) < 0.1).astype(float)
    err_b = np.maximum(err_a, (rng.random(60) < 0.4).astype(float))  # B errs wherever A does

    def rate(errors):
        return lambda idx: errors[idx].mean()

    better = paired_bootstrap(rate(err_a), rate(err_b), groups, n_boot=300, seed=0)
    assert better.difference == pytest.approx(err_a.mean() - err_b.mean())
    assert better.interval.high < 0 and better.verdict == "A better"
    assert paired_bootstrap(rate(err_b), rate(err_a), groups, 300).verdict == "B better"
    same = paired_bootstrap(rate(err_a), rate(err_a.copy()), groups, 300)
    assert same.difference == 0 and same.verdict == "within noise"


def test_paired_bootstrap_mean_averages_independent_resamples_of_each_sample():
    rng = np.random.default_rng(1)

    def rate(errors):
        return lambda idx: errors[idx].mean()

    samples = []
    for n, p_a, p_b in ((60, 0.1, 0.4), (90, 0.3, 0.3)):
        groups = np.arange(n) // 3
        err_a = (rng.random(n) < p_a).astype(float)
        samples.append((rate(err_a), rate((rng.random(n) < p_b).astype(float)), groups))
    one = paired_bootstrap(*samples[0], n_boot=200, seed=5)
    assert paired_bootstrap_mean(samples[:1], n_boot=200, seed=5) == one
    # by hand: sample j resampled with seed 5 + j, the i-th differences averaged
    diffs = np.mean(
        [
            [a(idx) - b(idx) for idx in group_resamples(groups, 200, 5 + j)]
            for j, (a, b, groups) in enumerate(samples)
        ],
        axis=0,
    )
    both = paired_bootstrap_mean(samples, n_boot=200, seed=5)
    assert (both.interval.low, both.interval.high) == pytest.approx(
        tuple(np.percentile(diffs, [2.5, 97.5]))
    )
    everything = [np.arange(len(g)) for _, _, g in samples]
    assert both.difference == pytest.approx(
        np.mean([a(e) - b(e) for (a, b, _), e in zip(samples, everything, strict=True)])
    )
    with pytest.raises(ValueError, match="no samples"):
        paired_bootstrap_mean([], n_boot=10)
