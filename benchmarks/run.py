"""`python -m benchmarks.run`: the comparison of handcrafted+SVM, CNN and hybrid methods.

Loads a dataset (seed600 by default, the synthetic demo set when offline), crops faces once
(cached), makes leak-free folds, evaluates every method with the shared harness (thresholds on
dev, metrics on test), and writes comparison tables, score files and plots under
`results/<dataset>/`. Each finished method is recorded under `<out>/state/`, so an interrupted
run resumes where it stopped; every file is written atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import contextlib

from benchmarks.config import Config, ConfigError, Variant, load_config
from benchmarks.datasets import LAYOUTS, check_dataset, load_dataset
from benchmarks.datasets.demo import synthetic_demo
from benchmarks.datasets.seed import SEED_SUBSETS, load_seed600, seed_subset
from benchmarks.evaluate import evaluate_scores
from benchmarks.harness import MethodResult, evaluate_method, fit_estimator, paired_comparison
from benchmarks.metrics import choose_threshold
from benchmarks.report import write_ablation, write_comparison
from benchmarks.scores import read_scores
from benchmarks.splits import Fold, check_supports, cross_dataset_folds, group_ids, make_folds
from classifiers.persistence import save_fitted
from classifiers.registry import METHODS
from features.faces import FaceCropper, crop_dataset, face_found
from features.files import atomic_write
from features.records import ATTACK, BONAFIDE, LABEL_NAMES, Dataset, DatasetError, file_sha256

STATE_VERSION = 1
PACKAGES = (
    "liveness-toolkit",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "opencv-python-headless",
    "tensorflow",
    "keras",
    "joblib",
    "pillow",
)


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
    p.add_argument("--folds", type=int, help="number of folds (k-fold protocol)")
    p.add_argument("--seed", type=int, help="seed of splits, training and bootstrap")
    p.add_argument("--jobs", type=int, default=1, help="parallel jobs for cropping")
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
    return p


def _list_methods() -> str:
    width = max(map(len, METHODS))
    return "\n".join(
        f"{m.name:<{width}}  {m.family:<11}  {m.description}" for m in METHODS.values()
    )


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


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return res.stdout.strip() or None


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Experiment:
    """Records, folds and output folder shared by every method of one comparison."""

    name: str
    records: list
    folds: list[Fold]
    out: Path
    config: Config
    progress: bool
    key: str  # names the data and folds: a state file made for other data is never reused
    command: str = "python -m benchmarks.run"
    cross_dataset: bool = False  # the test part is another dataset (never trained on)

    def run(self, method: str, params: dict[str, Any], label: str | None = None) -> MethodResult:
        """Evaluate one method, or reload it when a finished run with the same key exists."""
        label = label or method
        spec = METHODS[method]
        cfg = self.config
        estimator = spec.build(**params)
        # Every parameter of the built estimator, nested ones included, goes into the key, so
        # a changed default (say a CNN's epoch cap) re-evaluates instead of reloading.
        settings = _settings(estimator)
        key = _digest(
            [STATE_VERSION, self.key, method, settings, cfg.criterion, cfg.n_boot, cfg.seed]
        )
        state = self.out / "state" / f"{label}.json"
        score_file = self.out / "scores" / f"{label}.csv"
        if state.is_file() and score_file.is_file():
            saved = json.loads(state.read_text())
            if saved.get("key") == key and saved.get("scores_sha256") == file_sha256(score_file):
                return _reload(saved, score_file, cfg)
        result = evaluate_method(
            estimator,
            self.records,
            self.folds,
            label,
            spec.family,
            criterion=cfg.criterion,
            out_dir=self.out,
            progress=self.progress,
            n_boot=cfg.n_boot,
            seed=cfg.seed,
        )
        atomic_write(
            state,
            json.dumps(
                {
                    "key": key,
                    "name": label,
                    "method": method,
                    "family": spec.family,
                    "params": params,
                    "fit_seconds": result.fit_seconds,
                    "ms_per_image": result.ms_per_image,
                    "scores_sha256": file_sha256(score_file),
                },
                indent=2,
                default=str,
            ),
        )
        return result


def _settings(obj: Any) -> Any:
    """All parameters of an estimator, recursively (inside lists of estimators too)."""
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        params = obj.get_params(deep=False)
        return [type(obj).__name__, {k: _settings(v) for k, v in sorted(params.items())}]
    if isinstance(obj, list | tuple):
        return [_settings(v) for v in obj]
    return repr(obj)


def _reload(saved: dict, score_file: Path, cfg: Config) -> MethodResult:
    table = read_scores(score_file)
    metrics = evaluate_scores(
        table.take(table.split == "test"),
        table.take(table.split == "dev"),
        cfg.criterion,
        "frame",
        cfg.n_boot,
        cfg.seed,
    )
    return MethodResult(
        name=saved["name"],
        family=saved["family"],
        criterion=cfg.criterion,
        metrics=metrics,
        fit_seconds=saved["fit_seconds"],
        ms_per_image=saved["ms_per_image"],
        scores=table,
        score_file=score_file,
    )


def _summary_line(r: MethodResult) -> str:
    m = r.metrics

    def pct(k: str) -> str:
        return "  n/a" if m.get(k) is None else f"{100 * m[k]:5.2f}%"

    return (
        f"{r.name:<22} {r.family:<11} ACER {pct('acer')}  APCER {pct('apcer_max')}  "
        f"BPCER {pct('bpcer')}  EER {pct('eer')}  fit {np.mean(r.fit_seconds):6.1f} s/fold"
    )


def _comparisons(results: Sequence[MethodResult], cfg: Config) -> list[dict]:
    """Best vs runner-up, and the best handcrafted method vs every CNN and hybrid."""

    def acer(r: MethodResult) -> float:
        return np.inf if r.metrics.get("acer") is None else r.metrics["acer"]

    ranked = sorted((r for r in results if r.family != "audit"), key=acer)
    pairs = []
    if len(ranked) >= 2:
        pairs.append((ranked[0], ranked[1]))
    handcrafted = [r for r in ranked if r.family == "handcrafted"]
    if handcrafted:
        best = handcrafted[0]
        pairs += [(r, best) for r in ranked if r.family in ("cnn", "hybrid")]
    out, seen = [], set()
    for a, b in pairs:
        if frozenset((a.name, b.name)) in seen or a is b:  # A vs B once, in either order
            continue
        seen.add(frozenset((a.name, b.name)))
        out.append(paired_comparison(a, b, n_boot=cfg.n_boot, seed=cfg.seed).to_dict())
    return out


def _provenance(dataset: Dataset, crop_stats: dict, exp: Experiment, started: str) -> dict:
    cfg = exp.config
    return {
        "dataset": dataset.name,
        "dataset_root": str(dataset.root),
        "dataset_hash": dataset.content_hash(),
        "n_samples": len(dataset),
        "n_bonafide": sum(1 for r in dataset.records if r.label == 0),
        "n_attack": sum(1 for r in dataset.records if r.label == 1),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in dataset.skipped],
        "n_skipped": len(dataset.skipped),
        "faces_found": crop_stats,
        "protocol": (
            f"{len(exp.folds)} fold(s), dev = {cfg.dev_fraction:.0%} of train (group-disjoint), "
            f"threshold criterion {cfg.criterion}"
        ),
        "seed": cfg.seed,
        "config": list(cfg.source),
        "packages": _versions(),
        "git_commit": _git_commit(),
        "command": exp.command,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "synthetic": dataset.synthetic,
    }


def _crop(dataset: Dataset, cfg: Config, args: argparse.Namespace) -> tuple[Dataset, dict]:
    cropper = FaceCropper(size=cfg.crop_size, scale=cfg.crop_scale)
    dataset, stats = crop_dataset(dataset, cropper, n_jobs=args.jobs, progress=not args.no_progress)
    if dataset.skipped:
        print(f"skipped {len(dataset.skipped)} file(s) (listed in the report):", file=sys.stderr)
        for s in dataset.skipped[:10]:
            print(f"  {s.path}: {s.reason}", file=sys.stderr)
    found = face_found(dataset.records, cropper)
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
        result = exp.run(name, exp.config.method_params(name))
        print(_summary_line(result), flush=True)
        results.append(result)
    comparisons = _comparisons(results, exp.config)
    for c in comparisons:
        print(
            f"{c['a']} vs {c['b']}: ACER difference {100 * c['difference']:+.2f} points "
            f"[{100 * c['difference_ci'][0]:+.2f}, {100 * c['difference_ci'][1]:+.2f}]: "
            f"{c['verdict']}"
        )
    write_comparison(
        exp.out,
        [r.to_dict() for r in results],
        {r.name: r.scores for r in results},
        comparisons,
        _provenance(dataset, crop_stats, exp, started),
        title=title,
    )
    print(f"wrote {exp.out / 'comparison.md'}")
    return results


def _restricted(exp: Experiment, variant: Variant, dataset: Dataset) -> Experiment:
    """The experiment with each fold's training part shrunk as the variant asks."""
    if variant.train_fraction is None and variant.seed_subset is None:
        return exp
    keep = np.ones(len(exp.records), dtype=bool)
    if variant.seed_subset is not None:
        if dataset.name != "seed600" or variant.seed_subset not in SEED_SUBSETS:
            raise ConfigError(
                f"variant {variant.label!r}: seed_subset needs seed600 and one of "
                f"{sorted(SEED_SUBSETS)}"
            )
        ids = {r.id for r in seed_subset(dataset, variant.seed_subset).records}
        keep = np.array([r.id in ids for r in exp.records])
    folds = []
    rng = np.random.default_rng(exp.config.seed)
    groups = group_ids(exp.records)
    for f in exp.folds:
        train = f.train[keep[f.train]]
        if variant.train_fraction is not None and variant.train_fraction < 1:
            uniq = np.unique(groups[train])
            chosen = rng.choice(
                uniq, max(2, round(variant.train_fraction * len(uniq))), replace=False
            )
            train = train[np.isin(groups[train], chosen)]
        folds.append(replace(f, train=train))
    return replace(
        exp, folds=folds, key=_digest([exp.key, variant.train_fraction, variant.seed_subset])
    )


def _ablations(exp: Experiment, names: Sequence[str], dataset: Dataset) -> None:
    cfg = exp.config
    for name in names:
        ab = cfg.ablations[name]
        if name == "seed_subsets" and dataset.name != "seed600":
            print(f"ablation {name}: skipped (the seed subsets exist only in seed600)")
            continue
        sub = replace(exp, out=exp.out / "ablations" / name)
        rows = []
        for v in ab.variants:
            params = {**cfg.method_params(v.method), **v.params}
            result = _restricted(sub, v, dataset).run(v.method, params, label=_slug(v.label))
            print(f"[{name}] {v.label:<20} " + _summary_line(result))
            rows.append({**result.to_dict(), "name": v.label, "variant": v.label})
        write_ablation(exp.out / "ablations", name, rows, ab.variable)


def _save_models(exp: Experiment, methods: Sequence[str]) -> None:
    """Fit each method once more for deployment and save it with its dev threshold.

    It trains on fold 0's train and test parts (in a cross-dataset run, on the training
    dataset's train part only) and fixes the threshold on fold 0's dev part, which is
    group-disjoint from both. The fitted estimator holds its own crop settings.
    """
    fold = exp.folds[0]
    X = np.array(exp.records, dtype=object)
    y = np.array([r.label for r in exp.records])
    train = fold.train if exp.cross_dataset else np.concatenate([fold.train, fold.test])
    dev = (X[fold.dev], y[fold.dev])
    for name in methods:
        spec = METHODS[name]
        params = exp.config.method_params(name)
        estimator = fit_estimator(spec.build(**params), X[train], y[train], dev)
        dev_scores = np.asarray(estimator.decision_function(dev[0]), dtype=float)
        types = [r.attack_type for r in dev[0]]
        threshold = choose_threshold(dev_scores, dev[1], types, exp.config.criterion)
        path = save_fitted(
            exp.out / "models" / name,
            estimator,
            threshold,
            {
                "method": name,
                "family": spec.family,
                "params": params,
                "criterion": exp.config.criterion,
                "dataset": exp.name,
                "seed": exp.config.seed,
            },
        )
        print(f"saved {name} (threshold {threshold:.4g}) -> {path}")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "variant"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command = shlex.join(["python", "-m", "benchmarks.run", *argv])
    if args.list_methods:
        print(_list_methods())
        return 0
    if (args.train_data is None) != (args.test_data is None):
        parser.error("--train-data and --test-data go together")
    if args.train_data is not None and (args.data is not None or args.demo):
        parser.error("--data/--demo cannot be combined with --train-data/--test-data")
    if args.demo and args.data is not None:
        parser.error("--demo and --data exclude each other")
    if args.train_data is not None and args.ablation:
        parser.error("--ablation runs on one dataset (--data or --demo), not with --train-data")
    if args.jobs == 0 or args.jobs < -1:
        parser.error(f"--jobs must be a positive number or -1 (all cores), got {args.jobs}")
    try:
        cfg = load_config(args.config, quick=args.quick)
        overrides = {k: v for k, v in (("folds", args.folds), ("seed", args.seed)) if v is not None}
        if args.methods:
            unknown = [m for m in args.methods if m not in METHODS]
            if unknown:
                raise ConfigError(f"unknown method(s) {unknown}; see --list-methods")
            twice = sorted({m for m in args.methods if args.methods.count(m) > 1})
            if twice:
                raise ConfigError(f"method(s) listed twice in --methods: {twice}")
            overrides["methods"] = tuple(args.methods)
        cfg = replace(cfg, **overrides)
        if cfg.folds < 2:
            raise ConfigError(f"--folds must be at least 2, got {cfg.folds}")
        ablations = list(cfg.ablations) if args.ablation == ["all"] else (args.ablation or [])
        for a in ablations:
            if a not in cfg.ablations:
                raise ConfigError(f"unknown ablation {a!r}; known: {', '.join(cfg.ablations)}, all")
    except ConfigError as e:
        parser.error(str(e))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    try:
        if args.train_data is not None:
            _cross_dataset(args, cfg, started)
        else:
            _in_dataset(args, cfg, ablations, started)
    except (DatasetError, ConfigError) as e:
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
        _digest([dataset.content_hash(), [(f.train, f.dev, f.test) for f in folds]]),
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
    _ablations(exp, ablations, dataset)
    if args.save_models:
        _save_models(exp, cfg.methods)


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
            _digest([combined.content_hash(), [(f.train, f.dev, f.test) for f in folds]]),
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
        _save_models(exp, cfg.methods)


if __name__ == "__main__":
    sys.exit(main())
