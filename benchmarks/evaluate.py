"""Metrics from score files: `python -m benchmarks.evaluate --test TEST.csv [--dev DEV.csv] ...`.

Conventions (also printed with every result): label 1 = attack, 0 = bona fide; scores are attack
scores (higher = more likely an attack); attack when score >= threshold; APCER is the maximum over
attack types (pooled APCER beside it); ACER is not an ISO/IEC 30107-3 metric. Definitions of every
metric: `benchmarks.metrics`; score file format: `benchmarks.scores`.

Which rows are used
    The test rows are the --test file's rows whose split is "test" or empty. The threshold is
    chosen, per fold, on dev rows: the --dev file's rows with split "dev" or empty when --dev is
    given, else the --test file's own "dev" rows (a harness score file holds both). With no dev rows
    at all the threshold is chosen on the test rows themselves and the result is labelled
    "test (oracle)". --criterion fixed=X ignores dev rows. --fold N keeps only fold N of both.

Oracle results are labelled, not refused
    When a fold's dev rows share a sample_id with its test rows (at --level video: a video id),
    e.g. --dev names the --test file and it has no split column, the threshold has seen test
    scores. The result is still computed, so a leak can be inspected, but that fold and the
    whole result get threshold_source "dev shares test rows (oracle)" with a warning naming
    the fold and a shared sample: never "dev", and never a number to report.

Folds
    Dev and test rows are paired by their fold value (empty = one unnamed fold). With several
    folds, every fold gets its own dev threshold and its own metrics; the top-level rates are the
    MEAN over folds, `*_std` their sample standard deviation (ddof=1), and `pooled` holds the
    metrics of all folds' test rows together: APCER/BPCER/ACER/HTER with each row judged at its
    own fold's threshold, EER/AUC/BPCERx on the pooled scores. With one fold, the top level is
    that fold. `*_ci` are 95% percentile bootstrap intervals of the POOLED ACER/HTER/BPCER20,
    resampling groups (group, else subject, else video, else the sample) of the test rows, with the
    thresholds held fixed; seeded.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.metrics import (
    ACER_NOTE,
    CONVENTIONS,
    Criterion,
    ScoreConventionWarning,
    bpcer_at_apcer,
    compute_metrics,
    curve_metrics,
    parse_criterion,
    rates_from_decisions,
)
from benchmarks.scores import ScoreFileError, ScoreTable, aggregate_by_video, read_scores
from benchmarks.stats import (
    PairedComparison,
    Statistic,
    bootstrap_ci,
    mean_std,
    paired_bootstrap_mean,
)

LEVELS = ("frame", "video")
SCALARS = (
    "apcer_max",
    "apcer_pooled",
    "bpcer",
    "acer",
    "hter",
    "eer",
    "auc",
    "bpcer10",
    "bpcer20",
    "bpcer100",
)
CI_METRICS = ("acer", "hter", "bpcer20")
ORACLE = "test (oracle)"
LEAKED = "dev shares test rows (oracle)"


def _fold_name(fold: int) -> str:
    return str(fold) if fold >= 0 else "(none)"


def _check_classes(table: ScoreTable, fold: int, what: str) -> None:
    n_attack = int(table.label.sum())
    if n_attack in (0, len(table)):
        only = "bona fide" if n_attack == 0 else "attack"
        raise ScoreFileError(
            f"{table.source}: the {what} rows of fold {_fold_name(fold)} are all {only} "
            f"({len(table)} rows); metrics need both bona fide and attack presentations"
        )


def pooled_statistic(test: ScoreTable, decisions: np.ndarray, key: str) -> Callable:
    """statistic(indices) of pooled test rows for the bootstrap: "acer", "hter", "bpcer20", ...

    Rates use the fixed `decisions`; BPCER20 uses the scores. NaN when a class is missing.
    """

    def statistic(idx: np.ndarray) -> float:
        y = test.label[idx]
        if y.min() == y.max():
            return float("nan")
        if key == "bpcer20":
            return bpcer_at_apcer(test.score[idx], y, test.attack_type[idx], 0.05)[0]
        return rates_from_decisions(decisions[idx], y, test.attack_type[idx])[key]

    return statistic


def pooled_decisions(test: ScoreTable, folds: list[dict]) -> np.ndarray:
    """Attack decision of every test row at its own fold's threshold (`folds` of a result)."""
    by_fold = {-1 if f["fold"] is None else f["fold"]: f["threshold"] for f in folds}
    return test.score >= np.array([by_fold[int(f)] for f in test.fold], dtype=float)


def _fold_metrics(
    test: ScoreTable, dev: ScoreTable | None, crit: Criterion
) -> tuple[list[dict], str, list[str]]:
    """Each fold's metrics of its test rows at the threshold its dev rows give (on the test rows
    themselves without dev rows, or with a fixed criterion); the run's threshold source (leaked
    if any fold's is) and the warnings found, not yet raised."""
    if crit.kind == "fixed" or (dev is not None and len(dev) == 0):
        dev = None
    found: list[str] = []
    folds: list[dict] = []
    for fold in sorted(set(test.fold.tolist())):
        t = test.take(test.fold == fold)
        _check_classes(t, fold, "test")
        dev_args: dict = {}
        shared: list[str] = []
        if dev is not None:
            d = dev.take(dev.fold == fold)
            if len(d) == 0:
                raise ScoreFileError(
                    f"{dev.source}: no dev rows for fold {_fold_name(fold)} (the test rows have "
                    "it); dev and test rows must carry the same fold values (or use --fold)"
                )
            _check_classes(d, fold, "dev")
            dev_args = {"dev_scores": d.score, "dev_labels": d.label, "dev_types": d.attack_type}
            shared = sorted(set(d.sample_id.tolist()) & set(t.sample_id.tolist()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScoreConventionWarning)
            m = compute_metrics(t.score, t.label, t.attack_type, criterion=crit, **dev_args)
        if shared:
            m["threshold_source"] = LEAKED
            found.append(
                f"fold {_fold_name(fold)}: {len(shared)} of the {len(t)} test rows are dev rows "
                f"too (sample_id {shared[0]!r}{', ...' if len(shared) > 1 else ''}): the "
                "threshold was chosen on scores that include test rows (oracle); "
                "APCER/BPCER/ACER/HTER are optimistic and must not be reported as results"
            )
        found += [f"fold {_fold_name(fold)}: {w}" for w in m.pop("warnings")]
        folds.append({"fold": fold if fold >= 0 else None, **m})
    sources = [f["threshold_source"] for f in folds]
    return folds, LEAKED if LEAKED in sources else sources[0], found


def evaluate_scores(
    test: ScoreTable,
    dev: ScoreTable | None = None,
    criterion: str = "eer",
    level: str = "frame",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """All metrics of test rows, per fold, thresholds from the matching dev rows (module docstring).

    Every row of `test` is a test row and every row of `dev` a dev row (select splits before).
    Returns a JSON-ready dict (NaN as None): the keys of `compute_metrics` at the top level (mean
    over folds), `*_std`, `*_ci`, `pooled`, `folds`, plus conventions, level, n_folds, warnings.
    """
    crit = parse_criterion(criterion)
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if len(test) == 0:
        raise ScoreFileError(f"{test.source}: no test rows")
    if level == "video":
        test = aggregate_by_video(test)
        dev = None if dev is None else aggregate_by_video(dev)
    folds, source, found = _fold_metrics(test, dev, crit)
    for w in found:
        warnings.warn(w, ScoreConventionWarning, stacklevel=2)
    if source == ORACLE:
        found.insert(
            0,
            "no dev rows: thresholds were chosen on the test scores themselves (oracle); "
            "APCER/BPCER/ACER/HTER are optimistic and must not be reported as results",
        )

    decisions = pooled_decisions(test, folds)
    pooled = {
        **rates_from_decisions(decisions, test.label, test.attack_type),
        **curve_metrics(test.score, test.label, test.attack_type),
        "n_bonafide": int((test.label == 0).sum()),
        "n_attack": int(test.label.sum()),
    }
    result: dict = {
        "conventions": CONVENTIONS,
        "level": level,
        "criterion": str(crit),
        "threshold_source": source,
        "n_folds": len(folds),
        "aggregate": "mean over folds" if len(folds) > 1 else "single fold",
        "threshold": folds[0]["threshold"] if len({f["threshold"] for f in folds}) == 1 else None,
    }
    types = sorted({k for f in folds for k in f["apcer"]})
    per_type = {k: mean_std([f["apcer"][k] for f in folds if k in f["apcer"]]) for k in types}
    result["apcer"] = {k: v[0] for k, v in per_type.items()}
    summary = {key: mean_std([f[key] for f in folds]) for key in SCALARS}
    result.update({key: summary[key][0] for key in SCALARS})
    result["n_bonafide"], result["n_attack"] = pooled["n_bonafide"], pooled["n_attack"]
    result["apcer_std"] = {k: v[1] for k, v in per_type.items()}
    result.update({f"{key}_std": summary[key][1] for key in SCALARS})
    groups = test.groups()
    n_valid = []
    for key in CI_METRICS:
        ci = bootstrap_ci(pooled_statistic(test, decisions, key), groups, n_boot, seed)
        result[f"{key}_ci"] = [ci.low, ci.high]
        n_valid.append(ci.n_valid)
    result["ci"] = {
        "level": 0.95,
        "method": "percentile bootstrap of the pooled test rows, thresholds fixed",
        "resampled": "groups (group, else subject, else video, else sample)",
        "n_groups": int(np.unique(groups.astype(str)).size),
        "n_boot": n_boot,
        "n_valid": min(n_valid),
        "seed": seed,
    }
    result["pooled"] = pooled
    result["folds"] = folds
    result["notes"] = [ACER_NOTE]
    result["warnings"] = found
    return _jsonable(result)


def _jsonable(value: object) -> object:
    """Plain Python types for json; NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


PAIRED_METRICS = ("acer", "hter", "apcer_max", "apcer_pooled", "bpcer", "bpcer20")


ScoredRun = tuple[ScoreTable, list[dict]]


def _paired_statistics(
    a: ScoredRun, b: ScoredRun, metric: str
) -> tuple[Statistic, Statistic, np.ndarray]:
    """The pooled statistics of A and B over their test rows sorted alike, and A's groups."""
    if metric not in PAIRED_METRICS:
        raise ValueError(f"metric {metric!r} is not one of {PAIRED_METRICS}")
    (test_a, folds_a), (test_b, folds_b) = a, b
    ta = test_a.take(np.lexsort((test_a.sample_id, test_a.fold)))
    tb = test_b.take(np.lexsort((test_b.sample_id, test_b.fold)))
    same = (
        len(ta) == len(tb)
        and np.array_equal(ta.fold, tb.fold)
        and np.array_equal(ta.sample_id, tb.sample_id)
    )
    if not same:
        raise ScoreFileError("the two were not tested on the same presentations (fold, sample_id)")
    if not np.array_equal(ta.label, tb.label):
        raise ScoreFileError("the two disagree on the labels of the same presentations")
    stat_a = pooled_statistic(ta, pooled_decisions(ta, folds_a), metric)
    stat_b = pooled_statistic(tb, pooled_decisions(tb, folds_b), metric)
    return stat_a, stat_b, ta.groups()


def paired_difference(
    test_a: ScoreTable,
    folds_a: list[dict],
    test_b: ScoreTable,
    folds_b: list[dict],
    metric: str = "acer",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, PairedComparison]:
    """metric(A), metric(B) and the paired group bootstrap of their difference, over the pooled
    test rows of both (each row judged at its own fold's threshold, `folds_*` as
    `evaluate_scores` returns them). Both must hold the same (fold, sample_id) rows with the
    same labels (ScoreFileError otherwise); groups are taken from A."""
    return paired_mean_difference([((test_a, folds_a), (test_b, folds_b))], metric, n_boot, seed)


def paired_mean_difference(
    pairs: Sequence[tuple[ScoredRun, ScoredRun]],
    metric: str = "acer",
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, PairedComparison]:
    """As `paired_difference`, for the mean of the metric over several independent test sets
    (one (A, B) pair of (test rows, folds) per set, for instance per held-out dataset): the
    means of A and B and the bootstrap of the mean difference (`paired_bootstrap_mean`)."""
    return _mean_difference([_paired_statistics(a, b, metric) for a, b in pairs], n_boot, seed)


def _mean_difference(
    samples: Sequence[tuple[Statistic, Statistic, np.ndarray]], n_boot: int, seed: int
) -> tuple[float, float, PairedComparison]:
    """The means of A and B over `_paired_statistics` samples, and the paired bootstrap."""
    value_a = [stat_a(np.arange(len(groups))) for stat_a, _, groups in samples]
    value_b = [stat_b(np.arange(len(groups))) for _, stat_b, groups in samples]
    comparison = paired_bootstrap_mean(samples, n_boot, seed)
    return float(np.mean(value_a)), float(np.mean(value_b)), comparison


def _selected(
    test_path: str, dev_path: str | None, fold: int | None
) -> tuple[ScoreTable, ScoreTable]:
    """The test and dev rows of score files, as the module docstring says."""
    test_file = read_scores(test_path)
    dev_file = read_scores(dev_path) if dev_path else test_file
    if fold is not None:
        for table in [test_file, dev_file] if dev_path else [test_file]:
            if not np.any(table.fold == fold):
                present = sorted({_fold_name(f) for f in table.fold.tolist()})
                raise ScoreFileError(f"{table.source}: no rows of fold {fold} (folds: {present})")
        test_file = test_file.take(test_file.fold == fold)
        dev_file = dev_file.take(dev_file.fold == fold)
    test = test_file.take(test_file.split != "dev")
    if len(test) == 0:
        raise ScoreFileError(f"{test_path}: no test rows (every row has split 'dev')")
    dev_split = ("dev", "") if dev_path else ("dev",)
    dev = dev_file.take(np.isin(dev_file.split, dev_split))
    if dev_path and len(dev) == 0:
        raise ScoreFileError(f"{dev_path}: no dev rows (every row has split 'test')")
    return test, dev


def evaluate_files(
    test_path: str,
    dev_path: str | None = None,
    criterion: str = "eer",
    level: str = "frame",
    fold: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Read score files, select rows as the module docstring says, and evaluate them."""
    parse_criterion(criterion)  # fail on a bad criterion before reading files
    test, dev = _selected(test_path, dev_path, fold)
    result = evaluate_scores(test, dev, criterion, level, n_boot, seed)
    return {"test_file": str(test_path), "dev_file": dev_path, **result}


def compare_files(
    path_a: str | Sequence[str],
    path_b: str | Sequence[str],
    criterion: str = "eer",
    fold: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    metric: str = "acer",
) -> dict:
    """Paired comparison of two harness score files (each with its own dev and test rows) tested
    on the same presentations: metric(A) - metric(B) with its paired group bootstrap interval.

    With equally long lists of files (the i-th of A and of B tested on the same i-th set, e.g.
    one per held-out dataset), the mean of the metric over the sets is compared, each set's
    groups resampled on their own (`paired_mean_difference`)."""
    crit = parse_criterion(criterion)  # before any file is read
    many = not isinstance(path_a, str | Path)
    if many == isinstance(path_b, str | Path):
        raise ValueError("compare one file with one file, or a list of files with a list")
    paths_a = [str(x) for x in path_a] if many else [str(path_a)]
    paths_b = [str(x) for x in path_b] if many else [str(path_b)]
    if len(paths_a) != len(paths_b):
        raise ScoreFileError(
            f"{len(paths_a)} files to compare with {len(paths_b)}: pair them one to one"
        )
    samples, sources = [], []
    for pa, pb in zip(paths_a, paths_b, strict=True):
        runs = []
        for path in (pa, pb):
            test, dev = _selected(path, None, fold)
            folds, source, found = _fold_metrics(test, dev, crit)
            for w in found:
                warnings.warn(w, ScoreConventionWarning, stacklevel=2)
            runs.append((test, folds))
            sources.append(source)
        try:
            samples.append(_paired_statistics(runs[0], runs[1], metric))
        except ScoreFileError as e:
            raise ScoreFileError(f"{pa} vs {pb}: {e}") from None
    a, b, c = _mean_difference(samples, n_boot, seed)
    return {
        "a": paths_a if many else paths_a[0],
        "b": paths_b if many else paths_b[0],
        "mean_over": len(samples) if many else None,
        "metric": metric,
        "value_a": a,
        "value_b": b,
        "difference": c.difference,
        "difference_ci": [c.interval.low, c.interval.high],
        "level": c.interval.level,
        "n_boot": n_boot,
        "seed": seed,
        "verdict": c.verdict,
        "threshold_source": sources,
    }


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if key == "auc" else f"{100 * value:.2f}%"


def format_table(result: dict) -> str:
    """A readable table of an `evaluate_scores` result."""
    multi = result["n_folds"] > 1
    lines = [
        "Conventions: label 1 = attack, 0 = bona fide; attack score (higher = more likely attack); "
        "attack when score >= threshold",
        f"Level: {result['level']}   Criterion: {result['criterion']}   "
        f"Threshold chosen on: {result['threshold_source']}   Folds: {result['n_folds']}",
    ]
    thresholds = ", ".join(f"{f['threshold']:.6g}" for f in result["folds"])
    lines.append(f"Threshold{'s per fold' if multi else ''}: {thresholds}")
    lines.append("")
    head = (
        ["metric", "mean", "std", "pooled", "95% CI (pooled)"]
        if multi
        else ["metric", "value", "95% CI"]
    )
    rows = []
    names = [("APCER (max over types)", "apcer_max")]
    names += [(f"  APCER {k}", ("apcer", k)) for k in result["apcer"]]
    names += [
        ("APCER pooled", "apcer_pooled"),
        ("BPCER", "bpcer"),
        ("ACER (not ISO)", "acer"),
        ("HTER", "hter"),
        ("EER", "eer"),
        ("AUC", "auc"),
        ("BPCER10", "bpcer10"),
        ("BPCER20", "bpcer20"),
        ("BPCER100", "bpcer100"),
    ]
    for label, key in names:
        if isinstance(key, tuple):
            value, std = result["apcer"][key[1]], result["apcer_std"][key[1]]
            pooled = result["pooled"]["apcer"].get(key[1])
        else:
            value, std, pooled = result[key], result[f"{key}_std"], result["pooled"][key]
        ci = result.get(f"{key}_ci") if isinstance(key, str) else None
        ci_text = f"[{_fmt(key, ci[0])}, {_fmt(key, ci[1])}]" if ci else ""
        fmt_key = key if isinstance(key, str) else "apcer"
        cells = [label, _fmt(fmt_key, value)]
        if multi:
            cells += [_fmt(fmt_key, std), _fmt(fmt_key, pooled)]
        cells.append(ci_text)
        rows.append(cells)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lines.append("")
    lines.append(
        f"Test presentations: {result['n_bonafide']} bona fide, {result['n_attack']} attack"
    )
    ci = result["ci"]
    lines.append(
        f"CI: {ci['method']}; {ci['n_boot']} resamples of {ci['n_groups']} groups, "
        f"seed {ci['seed']}"
    )
    lines += [f"Note: {n}" for n in result["notes"]]
    lines += [f"WARNING: {w}" for w in result["warnings"]]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.evaluate",
        description=__doc__.split("\n", 1)[0],
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--test",
        required=True,
        nargs="+",
        metavar="TEST.csv",
        help="score file with test rows (several only with --compare)",
    )
    p.add_argument("--dev", metavar="DEV.csv", help="score file whose dev rows fix the threshold")
    p.add_argument(
        "--criterion",
        default="eer",
        help="threshold criterion: eer (default), apcer=0.05, bpcer=0.01, fixed=0.5, "
        "bpcer10/bpcer20/bpcer100 (= apcer=0.1/0.05/0.01)",
    )
    p.add_argument(
        "--level",
        choices=LEVELS,
        default="frame",
        help="frame (default) or video: mean score per video id before metrics",
    )
    p.add_argument("--fold", type=int, metavar="N", help="use only fold N of the score files")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="B.csv",
        help="a second score file tested on the same presentations: the paired comparison of "
        "the --test file (A) with it, each judged at its own dev threshold (frame level); with "
        "several --test files and as many here, the i-th paired with the i-th, the mean compared",
    )
    p.add_argument(
        "--metric",
        choices=PAIRED_METRICS,
        default="acer",
        help="what --compare compares (default acer)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for unusable input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.compare:
        if args.dev or args.level != "frame":
            parser.error(
                "--compare reads each file's own dev rows at frame level: no --dev/--level"
            )
        return _compare(args)
    if len(args.test) > 1:
        parser.error("several --test files go with --compare (as many files, paired in order)")
    args.test = args.test[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScoreConventionWarning)
            result = evaluate_files(
                args.test, args.dev, args.criterion, args.level, args.fold, args.n_boot, args.seed
            )
    except ValueError as e:  # ScoreFileError, bad criterion, bad level
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    for w in result["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScoreConventionWarning)
            single = len(args.test) == len(args.compare) == 1
            c = compare_files(
                args.test[0] if single else args.test, args.compare[0] if single else args.compare,
                args.criterion, args.fold, args.n_boot, args.seed, args.metric,
            )  # fmt: skip
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_jsonable(c), indent=2))
        return 0
    lo, hi = c["difference_ci"]
    many = c["mean_over"] is not None
    print(f"A: {', '.join(c['a']) if many else c['a']}\nB: {', '.join(c['b']) if many else c['b']}")
    what = f"mean {c['metric'].upper()} over {c['mean_over']} sets" if many else c["metric"].upper()
    print(
        f"{what} A {100 * c['value_a']:.2f}% vs B {100 * c['value_b']:.2f}%: "
        f"A - B {100 * c['difference']:+.2f} points [{100 * lo:+.2f}, {100 * hi:+.2f}] "
        f"({c['level']:.0%} paired group bootstrap, {c['n_boot']} resamples): {c['verdict']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
