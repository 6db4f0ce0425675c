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

from joblib import parallel_config

from benchmarks.ablations import run_ablations
from benchmarks.config import Config, ConfigError, load_config
from benchmarks.datasets import LAYOUTS, check_dataset, load_dataset
from benchmarks.datasets.demo import synthetic_demo
from benchmarks.datasets.seed import load_seed600
from benchmarks.deployment import save_models
from benchmarks.experiment import Experiment, digest
from benchmarks.harness import HarnessError, MethodResult
from benchmarks.splits import check_supports, make_folds
from benchmarks.transfer import Transfer, tag, write_results
from benchmarks.transfer_report import write_leave_one_out, write_matrix
from classifiers.registry import EXTERNAL_PREFIX, METHODS, PER_SOURCE_PREFIX, build_method
from features.execution import Execution, ExecutionError
from features.faces import crop_dataset
from features.precompute import precompute_features
from features.records import Dataset, DatasetError


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
    p.add_argument(
        "--train-data", type=Path, nargs="+", help="train (and dev) on this dataset, or these"
    )
    p.add_argument("--test-data", type=Path, nargs="+", help="cross-dataset: test on these")
    p.add_argument(
        "--cross", nargs="+", metavar="DATASET", help="the cross-dataset matrix over these datasets"
    )
    p.add_argument(
        "--leave-one-out",
        nargs="+",
        metavar="DATASET",
        help="train on all but one of these datasets, test on that one, for each",
    )
    p.add_argument(
        "--single-sources",
        action="store_true",
        help="with --leave-one-out: also train on each dataset alone and pair each held-out set's "
        "union with each of its sources (the multi-source ablation)",
    )
    p.add_argument("--save-models", action="store_true", help="store each fitted method")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="TensorFlow's own log lines too")
    return p


def _list_methods() -> str:
    width = max(map(len, METHODS))
    rows = [f"{m.name:<{width}}  {m.family:<11}  {m.description}" for m in METHODS.values()]
    external = f"{EXTERNAL_PREFIX}<name>"
    rows.append(f"{external:<{width}}  {'external':<11}  a pre-trained ONNX model ([onnx.<name>])")
    sources = f"{PER_SOURCE_PREFIX}<method>"
    family = "(method's)"
    rows.append(
        f"{sources:<{width}}  {family:<11}  one <method> per training dataset, scores fused"
    )
    return "\n".join(rows)


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
    stats = []
    for cropper in croppers:
        dataset, s = crop_dataset(
            dataset,
            cropper,
            n_jobs=args.jobs,
            progress=not args.no_progress,
            execution=args.execution,
        )
        stats.append(s)
    if args.execution.distributed:  # the workers fill the feature caches of handcrafted steps
        for cropper, extractor in cfg.feature_stages():
            precompute_features(
                dataset.records, cropper, extractor, args.execution, not args.no_progress
            )
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} file(s) (listed in the report):", file=sys.stderr)
        for s in dataset.skipped[:10]:
            print(f"  {s.path}: {s.reason}", file=sys.stderr)
    # the first crop step's counts (the default configuration has one crop step)
    return dataset, stats[0].as_dict() if stats else {}


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
    if args.demo and args.data is not None:
        parser.error("--demo and --data exclude each other")
    protocols = [
        flag
        for flag, used in (
            ("--train-data", args.train_data is not None),
            ("--cross", bool(args.cross)),
            ("--leave-one-out", bool(args.leave_one_out)),
            ("--data/--demo", args.data is not None or args.demo),
        )
        if used
    ]
    if len(protocols) > 1:
        parser.error(f"{' and '.join(protocols)} exclude each other")
    if args.cross and len(args.cross) < 2:
        parser.error("--cross needs at least two datasets")
    if args.leave_one_out and len(args.leave_one_out) < 2:
        parser.error("--leave-one-out needs at least two datasets (one to train on, one held out)")
    if args.single_sources and len(args.leave_one_out or []) < 3:
        parser.error(
            "--single-sources goes with --leave-one-out over at least three datasets "
            "(with two, each union is a single source)"
        )
    for flag, names in (("--cross", args.cross), ("--leave-one-out", args.leave_one_out)):
        if names and len(set(map(str, names))) != len(names):
            parser.error(f"{flag} lists a dataset twice: {' '.join(map(str, names))}")
    one_test = args.train_data is not None and len(args.test_data or []) == 1
    if protocols and protocols[0] != "--data/--demo" and args.ablation and not one_test:
        parser.error(
            f"--ablation runs on one dataset (--data or --demo) or one --train-data/--test-data "
            f"pair, not with {protocols[0]}"
        )
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
        cfg.check_ablations(ablations)
    except ConfigError as e:
        parser.error(str(e))
    union = len(args.train_data or []) > 1 or (
        len(args.leave_one_out or []) > 2 and not args.single_sources
    )
    needs_union = cfg.union_only(ablations)
    if needs_union and not union:
        parser.error(
            f"{', '.join(needs_union)}: domain-adversarial training (clf__domain_adversarial) "
            "needs training data from several datasets: --train-data A B ... or "
            "--leave-one-out over three or more datasets, without --single-sources"
        )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    try:
        with Execution(args.workers, args.scheduler) as args.execution, _joblib_backend(args):
            if args.execution.distributed:
                print(f"running on a {args.execution.describe()}")
            if args.cross:
                _cross(args, cfg, started)
            elif args.leave_one_out:
                _leave_one_out(args, cfg, started)
            elif args.train_data is not None:
                _train_test(args, cfg, ablations, started)
            else:
                _in_dataset(args, cfg, ablations, started)
    except (DatasetError, ConfigError, ExecutionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except HarnessError as e:  # a method failed to fit or score: the finished ones are saved
        print(
            f"error: {e}\nfinished methods are saved; fix the cause and run again", file=sys.stderr
        )
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
    results = []
    for name in cfg.methods:
        results.append(exp.run(name))
        print(results[-1].summary(), flush=True)
    title = f"Face liveness comparison on {dataset.name}"
    write_results(out, results, cfg, dataset, crop_stats, exp, started, title, scores_written=True)
    run_ablations(exp, ablations, dataset)
    if args.save_models:
        save_models(exp, cfg.methods)


def _prepared(arg: Path | str, args: argparse.Namespace, cfg: Config) -> tuple[Dataset, dict]:
    """A dataset named or given by path, checked, cropped and tagged with its name."""
    dataset = _load(_dataset_path(arg), args)
    check_dataset(dataset, min_per_class=2)
    dataset, stats = _crop(dataset, cfg, args)
    return tag(dataset), stats


def _dataset_path(arg: Path | str) -> Path | None:
    """A path as given, or a name under $LIVENESS_DATA_HOME (None: seed600, found as usual)."""
    path = Path(arg)
    if path.exists():
        return path
    if str(arg) == "seed600":
        return None
    home = os.environ.get("LIVENESS_DATA_HOME")
    if home and (Path(home) / str(arg)).exists():
        return Path(home) / str(arg)
    raise DatasetError(f"{arg}: no such dataset folder (nor under $LIVENESS_DATA_HOME)")


def _write_cells(
    transfer: Transfer,
    exp: Experiment,
    judged: dict[str, list[MethodResult]],
    cfg: Config,
    stats: dict[str, dict],
    base: Path,
    started: str,
    command: str,
    folder: Path | None = None,
) -> dict[str, Path]:
    """One comparison folder `<base>/<train>-to-<test>` per tested dataset (or `folder`)."""
    folders = {}
    for test in ([transfer.train[0]] if transfer.own_test else []) + transfer.tests:
        cell = Dataset(
            f"{transfer.name}-to-{test.name}",
            test.root,
            "cross-dataset",
            [r for d in transfer.train for r in d.records] + test.records,
            [s for d in transfer.train + [test] for s in d.skipped],
            any(d.synthetic for d in transfer.train + [test]),
        )
        crop = {"train": {d.name: stats[d.name] for d in transfer.train}, "test": stats[test.name]}
        title = f"Cross-dataset: train {transfer.name} -> test {test.name}"
        if test is transfer.train[0]:
            title = f"In-dataset test part of {test.name} (the matrix's diagonal)"
        folders[test.name] = folder or base / cell.name
        # the rows are the experiment's own score files' (test rows of this dataset): not copied
        write_results(
            folders[test.name], judged[test.name], cfg, cell, crop, exp, started, title, True
        )
    return folders


def _train_test(args: argparse.Namespace, cfg: Config, ablations: list[str], started: str) -> None:
    train = [_prepared(p, args, cfg) for p in args.train_data]
    tests = [_prepared(p, args, cfg) for p in args.test_data]
    names = [d.name for d, _ in train + tests]
    if len(set(names)) != len(names):
        raise ConfigError(f"a dataset is listed twice: {names}")
    stats = {d.name: s for d, s in train + tests}
    cell = "+".join(d.name for d, _ in train) + "-to-" + "+".join(d.name for d, _ in tests)
    base = Path("results") if args.out is None else args.out
    single = len(tests) == 1  # its comparison sits in the experiment's own folder
    out = (args.out or base / cell) if single else base / cell
    transfer = Transfer(
        [d for d, _ in train], [d for d, _ in tests], out, balance=cfg.balance_datasets
    )
    exp, judged = transfer.run(cfg, not args.no_progress, args.command)
    _write_cells(transfer, exp, judged, cfg, stats, base, started, args.command,
                 folder=out if single else None)  # fmt: skip
    if args.save_models:  # trained on the train/dev part of the training data, whatever was tested
        save_models(exp, cfg.methods)
    if ablations:  # one test set (checked up front): the experiment's test part is that set
        run_ablations(exp, ablations, train[0][0])


def _cross(args: argparse.Namespace, cfg: Config, started: str) -> None:
    prepared = [_prepared(p, args, cfg) for p in args.cross]
    datasets = [d for d, _ in prepared]
    stats = {d.name: s for d, s in prepared}
    base = args.out or Path("results") / "cross-dataset"
    cells: dict[tuple[str, str], list[MethodResult]] = {}
    for train in datasets:
        others = [d for d in datasets if d is not train]
        transfer = Transfer([train], others, base / f"train-{train.name}", own_test=True)
        exp, judged = transfer.run(cfg, not args.no_progress, args.command)
        _write_cells(transfer, exp, judged, cfg, stats, base, started, args.command)
        cells.update({(train.name, test): rows for test, rows in judged.items()})
    write_matrix(base, [d.name for d in datasets], cells, cfg, args.command)


def _leave_one_out(args: argparse.Namespace, cfg: Config, started: str) -> None:
    prepared = [_prepared(p, args, cfg) for p in args.leave_one_out]
    datasets = [d for d, _ in prepared]
    stats = {d.name: s for d, s in prepared}
    base = args.out or Path("results") / "cross-dataset" / "leave-one-out"
    held: dict[str, list[MethodResult]] = {}
    for test in datasets:
        train = [d for d in datasets if d is not test]
        out = base / f"without-{test.name}"
        transfer = Transfer(train, [test], out, balance=cfg.balance_datasets)
        exp, judged = transfer.run(cfg, not args.no_progress, args.command)
        _write_cells(transfer, exp, judged, cfg, stats, base, started, args.command)
        held[test.name] = judged[test.name]
    # written before the single sources too, so that it is kept if they fail
    write_leave_one_out(base, held, cfg, args.command)
    single: dict[tuple[str, str], list[MethodResult]] = {}
    for source in datasets if args.single_sources else ():
        others = [d for d in datasets if d is not source]
        transfer = Transfer([source], others, base / f"only-{source.name}")
        exp, judged = transfer.run(cfg, not args.no_progress, args.command)
        _write_cells(transfer, exp, judged, cfg, stats, base, started, args.command)
        single.update({(source.name, test): rows for test, rows in judged.items()})
    if single:
        write_leave_one_out(base, held, cfg, args.command, single)


if __name__ == "__main__":
    sys.exit(main())
