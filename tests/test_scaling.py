"""The scaling benchmark's subsets: whole videos, nested, every split and class kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.datasets import load_dataset
from benchmarks.scaling import summarise, table, video_subsets
from tests.test_dask import replay_videos  # noqa: F401 - the fixture


def test_subsets_are_nested_whole_videos_of_every_split_and_class(
    replay_videos: Path,  # noqa: F811
) -> None:
    records = load_dataset(replay_videos).records
    subsets = video_subsets(records, (30, 60, 90))
    frames = Counter(r.video for r in records)
    previous: set[str] = set()
    for size, subset in subsets.items():
        ids = {r.id for r in subset}
        assert len(subset) == size == len(ids)
        videos = Counter(r.video for r in subset)
        assert all(videos[v] == frames[v] for v in videos)  # no video cut in two
        assert {(r.split, r.label) for r in subset} == {(r.split, r.label) for r in records}
        assert previous <= ids
        previous = ids
    assert video_subsets(records, (60,))[60] == subsets[60]  # seeded: the same every time


def _run(n: int, workers: int, crop: float, repeat: int = 0) -> dict:
    return {
        "n": n,
        "workers": workers,
        "repeat": repeat,
        "cluster_start_s": 1.0,
        "crop_s": crop,
        "features_s": 1.0,
        "fit_exact_s": 0.4,
        "fit_approximate_s": 0.2,
        "wall_s": 9.0,
        "peak_rss_mb": 512.0,
    }


def test_summary_takes_medians_over_repeats_and_the_speedup_against_one_worker() -> None:
    runs = [
        _run(750, 1, 5.0, 0), _run(750, 2, 2.0, 0),
        _run(750, 1, 9.0, 1), _run(750, 2, 3.0, 1),  # a slow repeat of each
        _run(750, 1, 7.0, 2), _run(750, 2, 60.0, 2),  # an outlier the median ignores
    ]  # fmt: skip
    one, two = summarise(runs)
    assert (one["workers"], one["repeats"], one["crop_s"]) == (1, 3, 7.0)
    assert (two["workers"], two["crop_s"]) == (2, 3.0)
    assert two["speedup"] == pytest.approx((7.0 + 1.0) / (3.0 + 1.0))
    text = table({"summary": [one, two]})
    assert "| 750 | 2 | 3.0 | 1.0 | 0.4 / 0.2 | 9.0 | 512 | 2.00x |" in text.splitlines()
    assert "| 750 | 1 | 7.0 | 1.0 | 0.4 / 0.2 | 9.0 | 512 |  |" in text.splitlines()
