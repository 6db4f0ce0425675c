"""The scaling benchmark's subsets: whole videos, nested, every split and class kept."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from benchmarks.datasets import load_dataset
from benchmarks.scaling import table, video_subsets
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


def test_table_lists_every_run() -> None:
    run = {
        "n": 750,
        "workers": 2,
        "crop_s": 3.0,
        "features_s": 1.5,
        "fit_exact_s": 0.4,
        "fit_approximate_s": 0.2,
        "wall_s": 9.0,
        "peak_rss_mb": 512.0,
    }
    text = table({"runs": [run, {**run, "workers": 1}]})
    assert "| 750 | 1 | 3.0 | 1.5 | 0.4 / 0.2 | 9.0 | 512 |" in text.splitlines()
    assert len(text.splitlines()) == 4
