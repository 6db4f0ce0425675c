"""Uncertainty of a result: fold mean/std, seeded group bootstrap CIs, paired method comparison.

Bootstrap: the G groups (subjects, else videos, else duplicate clusters; a presentation is its
own group when nothing is known) are drawn G times with replacement, and a resample holds every
presentation of each drawn group, as often as the group was drawn. So presentations of one subject
stay together and the interval reflects subject-to-subject variation, not only image count. The
interval is the percentile interval of the resampled statistic. A statistic returns NaN when a
resample leaves it undefined (for instance no bona fide drawn); such resamples are dropped and
counted (``n_valid``). Everything is seeded: the same seed gives the same interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

Statistic = Callable[[np.ndarray], float]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) over folds; the std is NaN for one value."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("mean_std of no values")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def group_resamples(groups: Sequence[object], n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield `n_boot` index arrays, each a resample of whole groups (see module docstring)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1]
    order = np.argsort(codes, kind="stable")
    _, starts, counts = np.unique(codes[order], return_index=True, return_counts=True)
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        chosen = rng.integers(0, starts.size, starts.size)
        lens = counts[chosen]
        shift = starts[chosen] - (np.cumsum(lens) - lens)
        yield order[np.repeat(shift, lens) + np.arange(lens.sum())]


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval; `n_valid` resamples of `n_boot` had a defined statistic."""

    low: float
    high: float
    level: float
    n_boot: int
    n_valid: int


def _percentiles(values: list[float], level: float) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(v, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    statistic: Statistic,
    groups: Sequence[object],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Percentile CI of `statistic(indices)` over group resamples of the samples."""
    values = [statistic(idx) for idx in group_resamples(groups, n_boot, seed)]
    n_valid = int(np.isfinite(values).sum())
    return Interval(*_percentiles(values, level), level, n_boot, n_valid)


@dataclass(frozen=True)
class PairedComparison:
    """Statistic of A minus statistic of B on the same samples, with its bootstrap interval.

    Lower is better (error rates): "A better" when the whole interval is below 0, "B better" when
    it is above 0, else "within noise".
    """

    difference: float
    interval: Interval
    verdict: str


def paired_bootstrap(
    statistic_a: Statistic,
    statistic_b: Statistic,
    groups: Sequence[object],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedComparison:
    """Bootstrap the difference A - B of a statistic, both computed on the SAME resamples."""
    return paired_bootstrap_mean([(statistic_a, statistic_b, groups)], n_boot, seed, level)


def paired_bootstrap_mean(
    samples: Sequence[tuple[Statistic, Statistic, Sequence[object]]],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedComparison:
    """Bootstrap the mean over independent samples of A - B, each a (statistic_a, statistic_b,
    groups) triple: for instance one per held-out dataset, to compare two methods on the mean of
    their leave-one-out rates. Each sample's groups are resampled on their own (sample j with seed
    `seed + j`, so one sample is exactly `paired_bootstrap`), and the i-th resamples of all
    samples give the i-th mean difference."""
    if not samples:
        raise ValueError("paired_bootstrap_mean of no samples")
    diffs = np.zeros(n_boot)
    difference = 0.0
    for j, (statistic_a, statistic_b, groups) in enumerate(samples):
        resamples = group_resamples(groups, n_boot, seed + j)
        diffs += [statistic_a(idx) - statistic_b(idx) for idx in resamples]
        everything = np.arange(len(groups))
        difference += statistic_a(everything) - statistic_b(everything)
    diffs /= len(samples)
    valid = int(np.isfinite(diffs).sum())
    interval = Interval(*_percentiles(diffs.tolist(), level), level, n_boot, valid)
    if interval.high < 0:
        verdict = "A better"
    elif interval.low > 0:
        verdict = "B better"
    else:
        verdict = "within noise"
    return PairedComparison(difference / len(samples), interval, verdict)
