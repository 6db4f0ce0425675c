"""What a comparison says, apart from how it is shown: pure functions over result rows.

Rows are `MethodResult.to_dict()` dicts (rates as fractions), comparisons
`MethodComparison.to_dict()` dicts. `analyse` validates them and returns the facts every
report format renders: the rows sorted by ACER, liveness ranks, attack types, the threshold
criterion, the significance of each paired comparison and the summary (best method, runner-up,
whether its lead is significant, the metadata-audit warning) that comparison.json stores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from benchmarks.evaluate import SCALARS
from benchmarks.plots import AUDIT_FAMILY, TRANSDUCTIVE_FAMILY, UNRANKED_FAMILIES
from benchmarks.scores import ScoreTable

FAMILIES = ("handcrafted", "cnn", "hybrid", "external", TRANSDUCTIVE_FAMILY, AUDIT_FAMILY)
AUDIT_MARGIN = 0.05  # 5 percentage points
RATE_KEYS = tuple(k for k in SCALARS if k != "auc")  # the error rates (AUC is not one)
COMPARISON_KEYS = ("a", "b", "difference", "difference_ci", "verdict")


class Analysis(TypedDict):
    """The facts of a comparison; `summary` is what comparison.json stores under that key."""

    rows: list[dict[str, Any]]
    ranks: dict[str, int]
    attack_types: list[str]
    criterion: str
    comparisons: list[dict[str, Any]]
    significant: list[bool]
    summary: dict[str, Any]


def number(value: Any) -> float | None:
    """A finite float, or None for missing/NaN values (shown as a dash)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def check_rows(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copy and validate result rows: unique names, a known family, rates that are fractions."""
    rows = [dict(r) for r in results]
    if not rows:
        raise ValueError("results: no method results to report")
    seen: set[str] = set()
    for row in rows:
        name = row.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"results: a row has no method name: {row!r:.200}")
        if name in seen:
            raise ValueError(f"results: method {name!r} appears twice")
        seen.add(name)
        if row.get("family") not in FAMILIES:
            raise ValueError(
                f"method {name!r}: family must be one of {FAMILIES}, got {row.get('family')!r}"
            )
        if number(row.get("acer")) is None:
            raise ValueError(
                f"method {name!r}: acer is missing or not a finite number: {row.get('acer')!r}"
            )
        rates = [(k, row.get(k)) for k in RATE_KEYS] + list((row.get("apcer") or {}).items())
        for key, value in rates:
            x = number(value)
            if x is not None and not 0.0 <= x <= 1.0:
                raise ValueError(f"method {name!r}: {key}={value!r} is not a fraction in [0, 1]")
    return rows


def check_comparisons(
    comparisons: Iterable[Mapping[str, Any]], names: Iterable[str]
) -> list[dict[str, Any]]:
    """Copy and validate paired comparisons: the keys they need, both methods known."""
    known = set(names)
    out = [dict(c) for c in comparisons]
    for c in out:
        missing = set(COMPARISON_KEYS) - set(c)
        if missing or len(c["difference_ci"]) != 2:
            raise ValueError(
                f"comparison {c!r:.200}: needs a, b, difference, "
                f"difference_ci=[lo, hi] and verdict; "
                f"missing {sorted(missing)}"
            )
        if not {c["a"], c["b"]} <= known:
            raise ValueError(f"comparison of {c['a']!r} and {c['b']!r}: not both have a result row")
    return out


def by_acer(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows by ACER, ties by name."""
    return sorted(rows, key=lambda r: (float(r["acer"]), r["name"]))


def is_significant(comparison: Mapping[str, Any]) -> bool:
    """A paired difference is significant when its interval excludes 0."""
    lo, hi = (number(x) for x in comparison["difference_ci"])
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def verdict(c: Mapping[str, Any]) -> str:
    """The verdict with `benchmarks.stats`' "A better"/"B better" spelled with method names."""
    names = {"A better": f"{c['a']} better", "B better": f"{c['b']} better"}
    return names.get(c["verdict"], str(c["verdict"]))


def fit_seconds(row: Mapping[str, Any]) -> float | None:
    """Mean fit time per fold: `fit_seconds_mean`, else `fit_seconds` (number or per-fold list)."""
    value = row.get("fit_seconds_mean", row.get("fit_seconds"))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return float(np.mean(value)) if len(value) else None
    return number(value)


def thresholds(row: Mapping[str, Any]) -> list[float]:
    """The dev threshold, or each fold's when they differ (the harness then leaves it None)."""
    if number(row.get("threshold")) is not None:
        return [float(row["threshold"])]
    per_fold = (number(f.get("threshold")) for f in row.get("folds") or ())
    return sorted({t for t in per_fold if t is not None})


def fold_thresholds(row: Mapping[str, Any]) -> dict[int, float]:
    """Each fold's dev threshold by fold index, from the row's per-fold metrics."""
    out = {}
    for f in row.get("folds") or ():
        t = number(f.get("threshold"))
        if t is not None and isinstance(f.get("fold"), int):
            out[f["fold"]] = t
    return out


def error_cases(
    row: Mapping[str, Any],
    table: ScoreTable,
    n: int = 5,
    boxes: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, Any]:
    """The test presentations a method got most wrong at each fold's dev threshold.

    `false_rejects`: bona fide presentations with score >= threshold, highest margin
    (score - threshold) first; `false_accepts`: attacks with score < threshold, lowest margin
    first; at most `n` of each, with the counts of all. A fold without a threshold in the row
    (`folds`, else the single `threshold`) is left out. `boxes` maps sample ids to face boxes.
    """
    per_fold = fold_thresholds(row)
    single = number(row.get("threshold"))
    test = table.take(table.split == "test")
    limits = np.array([per_fold.get(int(f), single) for f in test.fold], dtype=object)
    known = np.array([t is not None for t in limits], dtype=bool)
    test, limits = test.take(known), limits[known].astype(float)
    margin = test.score - limits
    rejected = (test.label == 0) & (margin >= 0)
    accepted = (test.label == 1) & (margin < 0)

    def cases(mask: np.ndarray, order: np.ndarray) -> list[dict[str, Any]]:
        chosen = [i for i in order if mask[i]][:n]
        return [
            {
                "sample_id": str(test.sample_id[i]),
                "path": str(test.path[i]),
                "attack_type": str(test.attack_type[i]) or None,
                "fold": int(test.fold[i]),
                "score": float(test.score[i]),
                "threshold": float(limits[i]),
                "box": list(boxes[test.sample_id[i]])
                if boxes and test.sample_id[i] in boxes
                else None,
            }
            for i in chosen
        ]

    by_margin = np.lexsort((test.sample_id, margin))  # ascending, ties by sample id
    by_margin_desc = np.lexsort((test.sample_id, -margin))
    return {
        "n_bonafide": int((test.label == 0).sum()),
        "n_attack": int((test.label == 1).sum()),
        "n_false_rejects": int(rejected.sum()),
        "n_false_accepts": int(accepted.sum()),
        "false_rejects": cases(rejected, by_margin_desc),
        "false_accepts": cases(accepted, by_margin),
    }


def criterion(rows: Sequence[Mapping[str, Any]]) -> str:
    """The threshold criteria the rows name, joined, or 'unspecified'."""
    found = sorted({str(r["criterion"]) for r in rows if r.get("criterion")})
    return ", ".join(found) or "unspecified"


def liveness_ranks(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """1-based rank of each liveness method in the given order; audit and transductive rows
    (`UNRANKED_FAMILIES`) get none."""
    live = [r["name"] for r in rows if r["family"] not in UNRANKED_FAMILIES]
    return {name: i + 1 for i, name in enumerate(live)}


def attack_types(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every attack type any row reports an APCER for, sorted."""
    return sorted({str(t) for r in rows for t in (r.get("apcer") or {})})


def summarise(
    rows: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    audit_margin: float = AUDIT_MARGIN,
) -> dict[str, Any]:
    """Best liveness method, runner-up, whether the lead is significant, audit warnings.

    `rows` must be sorted by ACER. An audit row whose ACER is at most best + `audit_margin`
    means the dataset's metadata alone predicts the label about as well as the best method.
    """
    live = [r for r in rows if r["family"] not in UNRANKED_FAMILIES]
    best = live[0] if live else None
    runner_up = live[1] if len(live) > 1 else None
    paired = None
    if best and runner_up:
        pair = {best["name"], runner_up["name"]}
        paired = next(
            (
                c
                for c in comparisons
                if {c["a"], c["b"]} == pair and c.get("metric", "acer") == "acer"
            ),
            None,
        )
    warnings = []
    if best is not None:
        for audit in (r for r in rows if r["family"] == AUDIT_FAMILY):
            gap = float(audit["acer"]) - float(best["acer"])
            if gap <= audit_margin:
                warnings.append(
                    f"the metadata audit {audit['name']!r} reaches ACER "
                    f"{100 * float(audit['acer']):.2f} %, within {100 * audit_margin:g} points "
                    f"of the best liveness method {best['name']!r} "
                    f"({100 * float(best['acer']):.2f} %): the dataset gives away the label "
                    "without looking at a face"
                )
    return {
        "best": best["name"] if best else None,
        "runner_up": runner_up["name"] if runner_up else None,
        "comparison": dict(paired) if paired else None,
        "significant": is_significant(paired) if paired else None,
        "audit_margin": audit_margin,
        "warnings": warnings,
    }


def analyse(
    results: Iterable[Mapping[str, Any]],
    comparisons: Iterable[Mapping[str, Any]] = (),
    audit_margin: float = AUDIT_MARGIN,
) -> Analysis:
    """Validate rows and comparisons and derive everything the report states about them.

    Raises ValueError naming the method and key on malformed input.
    """
    rows = by_acer(check_rows(results))
    checked = check_comparisons(comparisons, (r["name"] for r in rows))
    return {
        "rows": rows,
        "ranks": liveness_ranks(rows),
        "attack_types": attack_types(rows),
        "criterion": criterion(rows),
        "comparisons": checked,
        "significant": [is_significant(c) for c in checked],
        "summary": summarise(rows, checked, audit_margin),
    }
