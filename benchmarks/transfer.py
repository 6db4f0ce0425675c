"""The transfer protocols: train on some datasets, test on others, fitting each method once.

- **Train once, score many** (`--train-data A --test-data B C`): train and dev are carved from A
  (group-disjoint); one fit per method scores every test dataset.
- **Cross-dataset matrix** (`--cross A B C`): per training dataset, its own split (official
  train/dev/test where it has one, else fold 0 of the k-fold protocol) trains and thresholds each
  method once; that fit scores its own test part (the diagonal) and every other dataset.
- **Leave one dataset out** (`--leave-one-out A B C`): per held-out dataset, train on the union
  of the others (dev carved group-disjointly from the union; every dataset carries the same total
  sample weight unless `[protocol] balance_datasets = false`) and test on the held-out one; with
  `--single-sources` each dataset is also trained on alone and tested on the others, so every
  union can be paired with each of its sources.

Each protocol is one fold (`benchmarks.splits.transfer_fold`) over the records of all its
datasets, run through the ordinary resumable `Experiment`, so there is one score file per method
and training set. Each test dataset's rows are then judged at that fold's dev threshold
(`slice_result`) and written as a comparison of its own, whose rows are the test rows of that
dataset (sample ids `<dataset>/...`) in the experiment's score file. Records are
tagged with their dataset first (`tag`): ids, subjects and videos gain a ``<dataset>/`` prefix,
so two datasets never share a sample id or a group. Where the rows carry video ids,
`video_level` judges mean frame scores per video as well (written under ``video/``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from benchmarks.config import Config
from benchmarks.evaluate import evaluate_scores
from benchmarks.experiment import Experiment, comparisons, digest
from benchmarks.harness import MethodResult
from benchmarks.provenance import provenance
from benchmarks.report import write_comparison
from benchmarks.scores import aggregate_by_video, write_scores
from benchmarks.splits import transfer_fold
from features.records import DATASET_KEY, Dataset, DatasetError, Presentation, dataset_names


def tag(dataset: Dataset) -> Dataset:
    """The dataset with ids, subjects and videos prefixed by its name (and the name in `extra`)."""
    name = dataset.name

    def one(r: Presentation) -> Presentation:
        return replace(
            r,
            id=f"{name}/{r.id}",
            subject=None if r.subject is None else f"{name}/{r.subject}",
            video=None if r.video is None else f"{name}/{r.video}",
            extra={**r.extra, DATASET_KEY: name},
        )

    return dataset.with_records([one(r) for r in dataset.records])


def dataset_weights(records: Sequence[Presentation]) -> np.ndarray:
    """Sample weights giving every dataset the same total weight, with mean weight 1."""
    names = dataset_names(records)
    uniq, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    return (len(names) / (len(uniq) * counts))[inverse]


def slice_result(result: MethodResult, dataset: str, cfg: Config) -> MethodResult:
    """The result judged on one test dataset's rows only, at the same dev threshold."""
    table = result.scores
    ids = table.sample_id.astype(str)
    rows = (table.split == "test") & np.char.startswith(ids, f"{dataset}/")
    test = table.take(rows)
    if set(test.label.tolist()) != {0, 1}:
        raise DatasetError(f"{dataset}: its test part needs bona fide and attack presentations")
    dev = table.take(table.split == "dev")
    metrics = evaluate_scores(test, dev, cfg.criterion, "frame", cfg.n_boot, cfg.seed)
    return replace(result, metrics=metrics, scores=table.take((table.split == "dev") | rows))


def video_level(result: MethodResult, cfg: Config) -> MethodResult | None:
    """The result on mean frame scores per video, or None unless every row has a video id."""
    table = result.scores
    if len(table) == 0 or np.any(table.video == ""):
        return None
    videos = aggregate_by_video(table)
    metrics = evaluate_scores(
        videos.take(videos.split == "test"),
        videos.take(videos.split == "dev"),
        cfg.criterion,
        "frame",  # already one row per video
        cfg.n_boot,
        cfg.seed,
    )
    return replace(result, metrics={**metrics, "level": "video"}, scores=videos)


def write_results(
    out: Path,
    results: Sequence[MethodResult],
    cfg: Config,
    dataset: Dataset,
    crop_stats: dict,
    exp: Experiment,
    started: str,
    title: str,
    scores_written: bool = False,
) -> None:
    """Comparison tables, plots and score files of `results` (and at video level where possible).

    scores_written: the frame-level score files are already in `out/scores` (the harness wrote
    them), so only the video-level ones are written.
    """
    levels = [("", list(results), "frame level")]
    videos = [video_level(r, cfg) for r in results]
    if all(v is not None for v in videos):
        levels.append(("video", videos, "video level: mean frame score per video"))
    for sub, rows, level in levels:
        folder = out / sub
        for r in rows if sub or not scores_written else ():
            write_scores(folder / "scores" / f"{r.name}.csv", r.scores)
        pairs = comparisons(rows, cfg)
        write_comparison(
            folder,
            [r.to_dict() for r in rows],
            {r.name: r.scores for r in rows},
            pairs,
            {**provenance(dataset, crop_stats, exp, started), "level": level},
            title=f"{title} ({level})",
        )
        print(f"wrote {folder / 'comparison.md'}")


@dataclass
class Transfer:
    """One training set of a transfer protocol and the test datasets its fit scores."""

    train: list[Dataset]
    tests: list[Dataset]
    out: Path  # the experiment's state and combined score files
    own_test: bool = False  # the single training dataset's own test part is tested too
    balance: bool = False  # every training dataset carries the same total sample weight

    @property
    def name(self) -> str:
        return "+".join(d.name for d in self.train)

    def experiment(self, cfg: Config, progress: bool, command: str) -> Experiment:
        fold = transfer_fold(
            [d.records for d in self.train],
            [d.records for d in self.tests],
            seed=cfg.seed,
            dev_fraction=cfg.dev_fraction,
            own_test_k=cfg.folds if self.own_test else None,
        )
        records = [r for d in self.train + self.tests for r in d.records]
        weights = None
        if self.balance:  # over the training datasets only: mean weight 1, whatever is tested
            n_train = sum(len(d.records) for d in self.train)
            weights = np.ones(len(records))
            weights[:n_train] = dataset_weights(records[:n_train])
        key = digest(
            [[d.content_hash() for d in self.train + self.tests], fold.train, fold.dev, fold.test]
            # unweighted: False, as in keys made before the weights were part of them
            + [False if weights is None else hashlib.sha256(weights.tobytes()).hexdigest()]
        )
        return Experiment(
            self.name,
            records,
            [fold],
            self.out,
            cfg,
            progress,
            key,
            command,
            cross_dataset=True,
            sample_weight=weights,
        )

    def run(
        self, cfg: Config, progress: bool, command: str
    ) -> tuple[Experiment, dict[str, list[MethodResult]]]:
        """Fit every method once: the experiment, and its results judged on each tested dataset
        (by dataset name)."""
        exp = self.experiment(cfg, progress, command)
        print(f"train {self.name} -> test {', '.join(d.name for d in self.tests)} ({self.out})")
        fitted = []
        for method in cfg.methods:
            result = exp.run(method)
            print(f"{result.name:<22} fitted once on {self.name}", flush=True)
            fitted.append(result)
        tested = ([self.train[0]] if self.own_test else []) + self.tests
        return exp, {d.name: [slice_result(r, d.name, cfg) for r in fitted] for d in tested}
