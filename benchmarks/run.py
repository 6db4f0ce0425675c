"""`python -m benchmarks.run`: the comparison of handcrafted+SVM, CNN and hybrid methods.

Loads a dataset (seed600 by default, the synthetic demo set when offline), crops faces once
(cached), makes leak-free folds, evaluates every method with the shared harness (thresholds on
dev, metrics on test), and writes comparison tables, score files and plots under
`results/<dataset>/`. Each finished method is recorded under `<out>/state/`, so an interrupted
run resumes where it stopped; every file is written atomically.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from joblib import parallel_config

from benchmarks.ablations import run_ablations
from benchmarks.config import Config, ConfigError, load_config
from benchmarks.datasets import LAYOUTS, check_dataset, load_dataset
from benchmarks.datasets.demo import synthetic_demo
from benchmarks.datasets.seed import load_seed600
from benchmarks.deployment import save_models
from benchmarks.experiment import Experiment, comparisons, digest
from benchmarks.harness import MethodResult
from benchmarks.provenance import provenance
from benchmarks.report import write_comparison
from benchmarks.splits import check_supports, cross_dataset_folds, make_folds
from classifiers.registry import METHODS, build_method
from features.base import FeatureExtractor
from features.execution import Execution, ExecutionError
from features.faces import crop_dataset, face_found
from features.precompute import precompute_features
from features.records import ATTACK, BONAFIDE, LABEL_NAMES, Dataset, DatasetError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__.split("\n\n")[0],
        epilog="Conventions: label 1 = attack; scores are attack scores; thresholds are chosen "
        "on development data and applied unchanged to test data.",
    )
    p.add_argument("--data", type=Path, help="dataset folder or CSV manifest (default: seed600)")
    p.add_argument("--demo", action="store_true", help="use the built-in synthetic demo set")
    p.add_argument("--layout", choices=("auto", *LAYOUTS), default="auto")
    p.add_argument("--subject-pattern", metavar="REGEX", help="subject id from file names")
    p.add_argument("--methods", nargs="+", metavar="NAME", help="methods to run")
    p.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    p.add_argument(
        "--list-params", metavar="NAME", help="list a method's settable parameters and exit"
    )
    p.add_argument("--folds", type=int, help="number of folds (k-fold protocol)")
    p.add_argument("--seed", type=int, help="seed of splits, training and bootstrap")
    p.add_argument("--jobs", type=int, default=1, help="parallel jobs for cropping")
    p.add_argument(
        "--workers", type=int, metavar="N", help="run the per-image work on a local Dask cluster"
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:8786)"
    )
    p.add_argument("--out", type=Path, help="output folder (default: results/<dataset>)")
    p.add_argument("--quick", action="store_true", help="fewer folds, methods and epochs")
    p.add_argument("--config", type=Path, help="TOML file merged over the default config")
    p.add_argument(
        "--ablation", nargs="+", metavar="NAME", help="ablation studies to run, or 'all'"
    )
    p.add_argument("--train-data", type=Path, help="cross-dataset: train (and dev) on this dataset")
    p.add_argument("--test-data", type=Path, nargs="+", help="cross-dataset: test on these")
    p.add_argument("--save-models", action="store_true", help="store each fitted method")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="TensorFlow's own log lines too")
    return p


def _list_methods() -> str:
    width = max(map(len, METHODS))
    return "\n".join(
        f"{m.name:<{width}}  {m.family:<11}  {m.description}" for m in METHODS.values()
    )


def _list_params(name: str) -> str:
    """Every settable parameter of method `name`'s pipeline with its default."""
    params = build_method(name).get_params(deep=True)
    rows = {k: v for k, v in params.items() if "__" in k and not hasattr(v, "fit")}
    return "\n".join(f"{k} = {v!r}" for k, v in sorted(rows.items()))


def _load(path: Path | None, args: argparse.Namespace) -> Dataset:
    if args.demo:
        return synthetic_demo(seed=0)
    if path is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = load_seed600()
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        return dataset
    return load_dataset(path, layout=args.layout, subject_pattern=args.subject_pattern)


def _crop(dataset: Dataset, cfg: Config, args: argparse.Namespace) -> tuple[Dataset, dict]:
    """Crop every record up front with each method's crop step: bad files are found (and listed)
    before any method runs, and the methods then read their crops from the cache. On Dask, the
    workers also fill the feature cache of every handcrafted method."""
    croppers = cfg.crop_steps()
    for cropper in croppers:
        dataset, stats = crop_dataset(
            dataset,
            cropper,
            n_jobs=args.jobs,
            progress=not args.no_progress,
            execution=args.execution,
        )
    if args.execution.distributed:
        for name in cfg.methods:
            steps = cfg.pipeline(name).named_steps
            if "crop" in steps and isinstance(steps.get("features"), FeatureExtractor):
                precompute_features(
                    dataset.records,
                    steps["crop"],
                    steps["features"],
                    args.execution,
                    not args.no_progress,
                )
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} file(s) (listed in the report):", file=sys.stderr)
        for s in dataset.skipped[:10]:
            print(f"  {s.path}: {s.reason}", file=sys.stderr)
    if not croppers:  # no method crops faces (the metadata audit alone)
        return dataset, {}
    found = face_found(dataset.records, croppers[0])
    labels = np.array(dataset.labels)
    # Per class, because a face found more often in one class makes crop framing itself a cue.
    by_class = {
        LABEL_NAMES[c]: f"{int(found[labels == c].sum())} of {int((labels == c).sum())}"
        for c in (BONAFIDE, ATTACK)
    }
    return dataset, {**stats.as_dict(), "face_found_by_class": by_class}


def _compare(
    exp: Experiment,
    methods: Sequence[str],
    dataset: Dataset,
    crop_stats: dict,
    started: str,
    title: str,
) -> list[MethodResult]:
    results = []
    for name in methods:
        result = exp.run(name)
        print(result.summary(), flush=True)
        results.append(result)
    pairs = comparisons(results, exp.config)
    for c in pairs:
        print(
            f"{c['a']} vs {c['b']}: ACER difference {100 * c['difference']:+.2f} points "
            f"[{100 * c['difference_ci'][0]:+.2f}, {100 * c['difference_ci'][1]:+.2f}]: "
            f"{c['verdict']}"
        )
    write_comparison(
        exp.out,
        [r.to_dict() for r in results],
        {r.name: r.scores for r in results},
        pairs,
        provenance(dataset, crop_stats, exp, started),
        title=title,
    )
    print(f"wrote {exp.out / 'comparison.md'}")
    return results


def _joblib_backend(args: argparse.Namespace) -> AbstractContextManager:
    """On Dask, joblib's parallel loops (grid searches with `clf__n_jobs = -1`) run there too."""
    return parallel_config(backend="dask") if args.execution.distributed else nullcontext()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "-m", "benchmarks.run", *argv])
    if not args.verbose:  # TensorFlow's C++ log lines, unless asked for
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.list_methods:
        print(_list_methods())
        return 0
    if args.list_params:
        try:
            print(_list_params(args.list_params))
        except ValueError as e:
            parser.error(str(e))
        return 0
    if (args.train_data is None) != (args.test_data is None):
        parser.error("--train-data and --test-data go together")
    if args.train_data is not None and (args.data is not None or args.demo):
        parser.error("--data/--demo cannot be combined with --train-data/--test-data")
    if args.demo and args.data is not None:
        parser.error("--demo and --data exclude each other")
    if args.train_data is not None and args.ablation:
        parser.error("--ablation runs on one dataset (--data or --demo), not with --train-data")
    if args.workers is not None and args.scheduler is not None:
        parser.error("--workers and --scheduler exclude each other")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.jobs == 0 or args.jobs < -1:
        parser.error(f"--jobs must be a positive number or -1 (all cores), got {args.jobs}")
    try:
        cfg = load_config(
            args.config, quick=args.quick, methods=args.methods, folds=args.folds, seed=args.seed
        )
        ablations = list(cfg.ablations) if args.ablation == ["all"] else (args.ablation or [])
        for a in ablations:
            if a not in cfg.ablations:
                raise ConfigError(f"unknown ablation {a!r}; known: {', '.join(cfg.ablations)}, all")
    except ConfigError as e:
        parser.error(str(e))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    try:
        with Execution(args.workers, args.scheduler) as args.execution, _joblib_backend(args):
            if args.execution.distributed:
                print(f"running on a {args.execution.describe()}")
            if args.train_data is not None:
                _cross_dataset(args, cfg, started)
            else:
                _in_dataset(args, cfg, ablations, started)
    except (DatasetError, ConfigError, ExecutionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished methods are saved; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def _in_dataset(args: argparse.Namespace, cfg: Config, ablations: list[str], started: str) -> None:
    dataset = _load(args.data, args)
    check_dataset(dataset, min_per_class=cfg.folds)
    check_supports(dataset.records, cfg.folds)
    if dataset.synthetic:
        print("NOTE: running on SYNTHETIC DEMO DATA — the numbers are not a real result.")
    dataset, crop_stats = _crop(dataset, cfg, args)
    check_supports(dataset.records, cfg.folds)
    folds = make_folds(dataset.records, k=cfg.folds, seed=cfg.seed, dev_fraction=cfg.dev_fraction)
    out = args.out or Path("results") / dataset.name
    exp = Experiment(
        dataset.name,
        dataset.records,
        folds,
        out,
        cfg,
        not args.no_progress,
        digest([dataset.content_hash(), [(f.train, f.dev, f.test) for f in folds]]),
        args.command,
    )
    print(f"{dataset.name}: {len(dataset)} presentations, {len(folds)} fold(s) -> {out}")
    _compare(
        exp,
        cfg.methods,
        dataset,
        crop_stats,
        started,
        f"Face liveness comparison on {dataset.name}",
    )
    run_ablations(exp, ablations, dataset)
    if args.save_models:
        save_models(exp, cfg.methods)


def _cross_dataset(args: argparse.Namespace, cfg: Config, started: str) -> None:
    train = _load(args.train_data, args)
    check_dataset(train, min_per_class=2)
    train, train_stats = _crop(train, cfg, args)
    for test_path in args.test_data:
        test = _load(test_path, args)
        check_dataset(test)
        test, test_stats = _crop(test, cfg, args)
        records = train.records + test.records
        folds = cross_dataset_folds(
            train.records, test.records, seed=cfg.seed, dev_fraction=cfg.dev_fraction
        )
        out = Path("results") if args.out is None else args.out
        if args.out is None or len(args.test_data) > 1:
            out = out / f"{train.name}-to-{test.name}"
        combined = Dataset(
            f"{train.name}-to-{test.name}",
            test.root,
            "cross-dataset",
            records,
            train.skipped + test.skipped,
            train.synthetic or test.synthetic,
        )
        exp = Experiment(
            combined.name,
            records,
            folds,
            out,
            cfg,
            not args.no_progress,
            digest([combined.content_hash(), [(f.train, f.dev, f.test) for f in folds]]),
            args.command,
            cross_dataset=True,
        )
        print(f"train {train.name} ({len(train)}) -> test {test.name} ({len(test)}) -> {out}")
        stats = {"train": train_stats, "test": test_stats}
        _compare(
            exp,
            cfg.methods,
            combined,
            stats,
            started,
            f"Cross-dataset: train {train.name} -> test {test.name}",
        )
    if args.save_models:  # trained on the same train/dev part of A whatever B was
        save_models(exp, cfg.methods)


if __name__ == "__main__":
    sys.exit(main())
