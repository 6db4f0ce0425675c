"""Write a comparison or an ablation as Markdown, LaTeX (booktabs), CSV, JSON and PNG plots.

Inputs are what `benchmarks.harness` produces: `results` are `MethodResult.to_dict()` rows
(rates as fractions in [0, 1]), `scores` each method's `MethodResult.scores` table (or a
`benchmarks.plots.ScoreSet`) whose test rows are pooled for the curves, `comparisons` are
`MethodComparison.to_dict()` rows (`Comparison`) and `provenance` the run's metadata
(`Provenance`). Every file is written atomically (temporary
file in the same folder, then `os.replace`), so an interrupted run never leaves half a table.
Synthetic demo data is flagged in every output: a banner at the top of the Markdown, a
comment and the caption of the LaTeX table, the `note` column of the CSV, and
`"synthetic": true` with `"note"` in the JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
from matplotlib.figure import Figure

from benchmarks import plots
from benchmarks.evaluate import SCALARS
from benchmarks.plots import AUDIT_FAMILY, ScoreSet
from benchmarks.scores import ScoreTable
from features.files import atomic_write, escape_undecodable

SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA — not a real result"
FAMILIES = ("handcrafted", "cnn", "hybrid", AUDIT_FAMILY)
AUDIT_MARGIN = 0.05  # 5 percentage points
MAX_SKIPPED_LISTED = 20
RATE_KEYS = tuple(k for k in SCALARS if k != "auc")  # the error rates (AUC is not one)
_CSV_FIRST = ("note", "name", "family", "threshold", "criterion", *RATE_KEYS, "auc")
_CSV_SKIP = ("conventions", "ci", "folds", "notes", "warnings")  # kept in the JSON only
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class Comparison(TypedDict):
    """A paired comparison as `benchmarks.harness.MethodComparison.to_dict()` gives it.

    `difference` = metric(a) - metric(b) as a fraction, `difference_ci` its bootstrap interval
    at `level`; the lead is significant when that interval excludes 0. Other keys are kept.
    """

    a: str
    b: str
    difference: float
    difference_ci: Sequence[float]
    verdict: str
    metric: NotRequired[str]
    level: NotRequired[float]


class Provenance(TypedDict, total=False):
    """Run metadata; every key is optional and unknown keys are shown too."""

    dataset: str
    dataset_hash: str
    n_samples: int
    n_bonafide: int
    n_attack: int
    skipped: Sequence[Any]  # Skipped records, {"path", "reason"} dicts or strings
    n_skipped: int
    faces_found: Any
    protocol: str
    seed: int
    packages: Mapping[str, str]
    git_commit: str
    command: str | Sequence[str]
    started: str
    finished: str
    synthetic: bool


def _save_figure(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return atomic_write(path, buffer.getvalue())


# ---------------------------------------------------------------- validation


def _number(value: Any) -> float | None:
    """A finite float, or None for missing/NaN values (shown as a dash)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _check_rows(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
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
        if _number(row.get("acer")) is None:
            raise ValueError(
                f"method {name!r}: acer is missing or not a finite number: {row.get('acer')!r}"
            )
        rates = [(k, row.get(k)) for k in RATE_KEYS] + list((row.get("apcer") or {}).items())
        for key, value in rates:
            x = _number(value)
            if x is not None and not 0.0 <= x <= 1.0:
                raise ValueError(f"method {name!r}: {key}={value!r} is not a fraction in [0, 1]")
    return rows


def _by_acer(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (float(r["acer"]), r["name"]))


def _is_significant(comparison: Mapping[str, Any]) -> bool:
    lo, hi = (_number(x) for x in comparison["difference_ci"])
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def _fit_seconds(row: Mapping[str, Any]) -> float | None:
    """Mean fit time per fold: `fit_seconds_mean`, else `fit_seconds` (number or per-fold list)."""
    value = row.get("fit_seconds_mean", row.get("fit_seconds"))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return float(np.mean(value)) if len(value) else None
    return _number(value)


def _thresholds(row: Mapping[str, Any]) -> list[float]:
    """The dev threshold, or each fold's when they differ (the harness then leaves it None)."""
    if _number(row.get("threshold")) is not None:
        return [float(row["threshold"])]
    per_fold = (_number(f.get("threshold")) for f in row.get("folds") or ())
    return sorted({t for t in per_fold if t is not None})


def _jsonable(value: Any) -> Any:
    """Plain JSON types: paths/dates as strings, numpy as Python, NaN/inf as null.

    Text from non-UTF-8 file names is spelt `\\xNN` (`escape_undecodable`) so it can be written.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return escape_undecodable(os.fspath(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return escape_undecodable(value)
    if value is None or isinstance(value, int | bool):
        return value
    return escape_undecodable(str(value))


# ---------------------------------------------------------------- text pieces


def conventions(criterion: str) -> dict[str, str]:
    """The conventions every table follows, as stated in each report."""
    return {
        "labels": "label 1 = attack (presentation attack), 0 = bona fide",
        "scores": "attack scores: higher = more likely an attack; attack when score >= threshold",
        "threshold": f"threshold chosen on development data by the {criterion} criterion",
        "apcer": "APCER = maximum over attack types (ISO/IEC 30107-3); pooled shown separately",
        "bpcer": "BPCER = bona fide presentations classified as attacks (ISO/IEC 30107-3)",
        "acer": "ACER = (APCER + BPCER) / 2; not an ISO/IEC 30107-3 metric",
        "hter": "HTER = (pooled APCER + BPCER) / 2, on test at the dev threshold",
        "eer": "EER and AUC: threshold-free, on the test scores",
        "bpcer20": "BPCER20 = BPCER where APCER (max over types) <= 5 %, threshold-free on test",
        "folds": "rates are means over folds ± their standard deviation; the 95 % CI is a "
        "bootstrap of the pooled test presentations",
        "rates": "fractions in [0, 1] in CSV/JSON, percentages in Markdown/LaTeX",
        "audit": "family 'audit' = metadata audit: sees only file metadata, never a face",
    }


def _criterion(rows: Sequence[Mapping[str, Any]]) -> str:
    found = sorted({str(r["criterion"]) for r in rows if r.get("criterion")})
    return ", ".join(found) or "unspecified"


def _pct(value: Any) -> str:
    x = _number(value)
    return "–" if x is None else f"{100 * x:.2f}"


def _fixed(value: Any, digits: int) -> str:
    x = _number(value)
    return "–" if x is None else f"{x:.{digits}f}"


def _ci_pair(row: Mapping[str, Any], key: str) -> tuple[float, float] | None:
    ci = row.get(f"{key}_ci")
    if ci is None or len(ci) != 2:
        return None
    lo, hi = _number(ci[0]), _number(ci[1])
    return None if lo is None or hi is None else (lo, hi)


def _rate_with_spread(row: Mapping[str, Any], key: str, pm: str) -> str:
    """'12.34 ± 1.20 [8.00, 16.00]' (percent), leaving out what is missing."""
    text = _pct(row.get(key))
    if _number(row.get(f"{key}_std")) is not None:
        text += f" {pm} {_pct(row[f'{key}_std'])}"
    ci = _ci_pair(row, key)
    if ci is not None:
        text += f" [{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]"
    return text


def _md(text: Any) -> str:
    return re.sub(r"([\\|*_`<\[\]])", r"\\\1", str(text))


def _md_table(header: Sequence[str], body: Iterable[Sequence[str]], align: str) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":--" if a == "l" else "--:" for a in align) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


_TEX_MAP = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "—": "---",
    "–": "--",
    "±": r"$\pm$",
    "→": r"$\rightarrow$",
    "->": r"$\rightarrow$",
}
_TEX_RE = re.compile("->|" + "|".join(re.escape(c) for c in _TEX_MAP if len(c) == 1))


def tex_escape(text: Any) -> str:
    """Escape LaTeX specials (and a few Unicode signs) so names and titles compile verbatim."""
    return _TEX_RE.sub(lambda m: _TEX_MAP[m.group(0)], str(text))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "comparison"


def _liveness_ranks(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    live = [r["name"] for r in rows if r["family"] != AUDIT_FAMILY]
    return {name: i + 1 for i, name in enumerate(live)}


def _attack_types(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({str(t) for r in rows for t in (r.get("apcer") or {})})


# ---------------------------------------------------------------- summary


def summarise(
    rows: Sequence[Mapping[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    audit_margin: float = AUDIT_MARGIN,
) -> dict[str, Any]:
    """Best liveness method, runner-up, whether the lead is significant, audit warnings.

    `rows` must be sorted by ACER. An audit row whose ACER is at most best + `audit_margin`
    means the dataset's metadata alone predicts the label about as well as the best method.
    """
    live = [r for r in rows if r["family"] != AUDIT_FAMILY]
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
                    f"the metadata audit {audit['name']!r} reaches ACER {_pct(audit['acer'])} %, "
                    f"within {100 * audit_margin:g} points of the best liveness method "
                    f"{best['name']!r} ({_pct(best['acer'])} %): the dataset gives away the label "
                    "without looking at a face"
                )
    return {
        "best": best["name"] if best else None,
        "runner_up": runner_up["name"] if runner_up else None,
        "comparison": dict(paired) if paired else None,
        "significant": _is_significant(paired) if paired else None,
        "audit_margin": audit_margin,
        "warnings": warnings,
    }


def _summary_md(summary: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]) -> list[str]:
    best, runner = summary["best"], summary["runner_up"]
    if best is None:
        return ["No liveness method was evaluated (audit rows only)."]
    lines = [f"**Best liveness method: {_md(best)}** (ACER {_pct(by_name[best]['acer'])} %)."]
    if runner is None:
        return lines + ["It is the only liveness method, so there is no runner-up to compare with."]
    c = summary["comparison"]
    lines[0] += f" Runner-up: {_md(runner)} (ACER {_pct(by_name[runner]['acer'])} %)."
    if c is None:
        return lines + [
            "",
            "No paired comparison of these two was supplied, so the lead is not tested.",
        ]
    word = "**significant**" if summary["significant"] else "**not significant**"
    lines += [
        "",
        f"The lead is {word}: ACER({_md(c['a'])}) − ACER({_md(c['b'])}) = "
        f"{_points(c['difference'])} points, {_level(c)} CI {_points_ci(c['difference_ci'])} "
        f"(verdict: {_md(_verdict(c))}).",
    ]
    return lines


def _points(value: Any) -> str:
    """A signed difference of fractions in percentage points."""
    x = _number(value)
    return "–" if x is None else f"{100 * x:+.2f}"


def _points_ci(ci: Sequence[Any]) -> str:
    return f"[{_points(ci[0])}, {_points(ci[1])}]"


def _level(c: Mapping[str, Any]) -> str:
    return f"{100 * float(c.get('level', 0.95)):g} %"


def _verdict(c: Mapping[str, Any]) -> str:
    """The verdict with `benchmarks.stats`' "A better"/"B better" spelled with method names."""
    names = {"A better": f"{c['a']} better", "B better": f"{c['b']} better"}
    return names.get(c["verdict"], str(c["verdict"]))


# ---------------------------------------------------------------- Markdown


def _main_table_md(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    ranks = _liveness_ranks(rows)
    header = [
        "Rank",
        "Method",
        "Family",
        "APCER (%)",
        "BPCER (%)",
        "ACER (%) ± std [95 % CI]",
        "HTER (%)",
        "EER (%)",
        "AUC",
        "BPCER20 (%)",
        "fit s",
        "ms/img",
    ]
    body = []
    for r in rows:
        audit = r["family"] == AUDIT_FAMILY
        body.append(
            [
                "audit" if audit else str(ranks[r["name"]]),
                f"*{_md(r['name'])}*" if audit else _md(r["name"]),
                _md(r["family"]),
                _pct(r.get("apcer_max")),
                _pct(r.get("bpcer")),
                _rate_with_spread(r, "acer", "±"),
                _pct(r.get("hter")),
                _pct(r.get("eer")),
                _fixed(r.get("auc"), 4),
                _pct(r.get("bpcer20")),
                _fixed(_fit_seconds(r), 1),
                _fixed(r.get("ms_per_image"), 2),
            ]
        )
    return _md_table(header, body, "rllrrrrrrrrr")


def _apcer_table_md(rows: Sequence[Mapping[str, Any]], types: Sequence[str]) -> list[str]:
    header = ["Method", *(_md(t) for t in types), "max", "pooled"]
    body = [
        [
            _md(r["name"]),
            *(_pct((r.get("apcer") or {}).get(t)) for t in types),
            _pct(r.get("apcer_max")),
            _pct(r.get("apcer_pooled")),
        ]
        for r in rows
    ]
    return _md_table(header, body, "l" + "r" * (len(types) + 2))


def _skipped_entry(item: Any) -> str:
    item = _jsonable(item)
    if isinstance(item, Mapping):
        return f"{item.get('path', '?')}: {item.get('reason', '?')}"
    return str(item)


def _provenance_md(provenance: Mapping[str, Any]) -> list[str]:
    skipped = list(provenance.get("skipped") or [])
    n_skipped = provenance.get("n_skipped", len(skipped))
    lines = ["## Data", "", f"- Skipped files: {n_skipped}"]
    lines += [f"  - `{_skipped_entry(s)}`" for s in skipped[:MAX_SKIPPED_LISTED]]
    if len(skipped) > MAX_SKIPPED_LISTED:
        lines.append(f"  - … and {len(skipped) - MAX_SKIPPED_LISTED} more (all in comparison.json)")
    if "faces_found" in provenance:
        lines.append(f"- Faces found: {_md(_inline(provenance['faces_found']))}")
    lines += ["", "## Provenance", ""]
    rest = {k: v for k, v in provenance.items() if k not in ("skipped", "n_skipped", "faces_found")}
    body = [[_md(k), _md(_inline(v))] for k, v in rest.items()]
    return lines + (_md_table(["Key", "Value"], body, "ll") if body else ["(none given)"])


def _inline(value: Any) -> str:
    value = _jsonable(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_inline(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "–" if value is None else str(value)


def _banner_md(synthetic: bool) -> list[str]:
    return [f"> **⚠ {SYNTHETIC_BANNER} ⚠**", ""] if synthetic else []


def _conventions_md(criterion: str) -> list[str]:
    return ["## Conventions", "", *(f"- {text}" for text in conventions(criterion).values())]


def _comparison_md(
    title: str,
    rows: Sequence[dict[str, Any]],
    comparisons: Sequence[Mapping[str, Any]],
    provenance: Mapping[str, Any],
    summary: Mapping[str, Any],
    plot_files: Mapping[str, str],
    synthetic: bool,
) -> str:
    by_name = {r["name"]: r for r in rows}
    lines = [*_banner_md(synthetic), f"# {_md(title)}", ""]
    for warning in summary["warnings"]:
        lines += [f"> **WARNING:** {_md(warning)}.", ""]
    lines += _conventions_md(_criterion(rows)) + ["", "## Results", ""]
    lines += _main_table_md(rows)
    lines += [
        "",
        "Sorted by ACER. Rows marked *audit* (italic) are the metadata audit, not a liveness "
        "method: they show how far the file metadata alone predicts the label.",
        "",
        *_summary_md(summary, by_name),
    ]
    evaluation = [(r["name"], w) for r in rows for w in r.get("warnings") or ()]
    if evaluation:
        lines += ["", "## Warnings from the evaluation", ""]
        lines += [f"- **{_md(name)}**: {_md(w)}" for name, w in evaluation]
    types = _attack_types(rows)
    if len(types) > 1:
        lines += ["", "## APCER per attack type (%)", "", *_apcer_table_md(rows, types)]
    if comparisons:
        lines += ["", "## Paired comparisons", ""]
        body = [
            [
                _md(c["a"]),
                _md(c["b"]),
                _md(c.get("metric", "acer")).upper(),
                _points(c["difference"]),
                _points_ci(c["difference_ci"]),
                "yes" if _is_significant(c) else "no",
                _md(_verdict(c)),
            ]
            for c in comparisons
        ]
        lines += _md_table(
            ["A", "B", "metric", "A − B (points)", "CI", "significant", "verdict"], body, "lllrrll"
        )
    if plot_files:
        lines += ["", "## Plots", ""]
        lines += [f"- [{caption}]({name})" for caption, name in plot_files.items()]
    lines += ["", *_provenance_md(provenance)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- LaTeX


def _comparison_tex(title: str, rows: Sequence[Mapping[str, Any]], synthetic: bool) -> str:
    ranks = _liveness_ranks(rows)
    criterion = _criterion(rows)
    banner = f"\\textbf{{{tex_escape(SYNTHETIC_BANNER)}.}} " if synthetic else ""
    caption = (
        f"{banner}{tex_escape(title)}. Rates in \\%, threshold fixed on development data "
        f"({tex_escape(criterion)} criterion). APCER is the maximum over attack types "
        "(ISO/IEC 30107-3); ACER (not an ISO/IEC 30107-3 metric) $\\pm$ standard deviation "
        "over folds, with its 95\\% confidence interval. "
        "Italic: metadata audit (not a liveness method)."
    )
    header = (
        "\\# & Method & Family & APCER & BPCER & ACER & 95\\% CI & HTER & EER & AUC & BPCER20 \\\\"
    )
    body = []
    for r in rows:
        audit = r["family"] == AUDIT_FAMILY
        ci = _ci_pair(r, "acer")
        cells = [
            "--" if audit else str(ranks[r["name"]]),
            f"\\textit{{{tex_escape(r['name'])}}}" if audit else tex_escape(r["name"]),
            tex_escape(r["family"]),
            _pct(r.get("apcer_max")),
            _pct(r.get("bpcer")),
            _rate_with_spread({k: r.get(k) for k in ("acer", "acer_std")}, "acer", "$\\pm$"),
            f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" if ci else "--",
            _pct(r.get("hter")),
            _pct(r.get("eer")),
            _fixed(r.get("auc"), 4),
            _pct(r.get("bpcer20")),
        ]
        body.append(" & ".join(c.replace("–", "--") for c in cells) + " \\\\")
    lines = [
        *([f"% {tex_escape(SYNTHETIC_BANNER)}"] if synthetic else []),
        "% Generated by benchmarks.report; needs \\usepackage{booktabs}.",
        "\\begin{table}[tbp]",
        "\\centering",
        "\\small",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{_slug(title)}}}",
        "\\begin{tabular}{rllrrrcrrrr}",
        "\\toprule",
        header,
        "\\midrule",
        *body,
        "\\bottomrule",
        "\\end{tabular}",
        "\\end{table}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- CSV / JSON


def _flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row: nested dicts as `key.sub`, CIs as `key_lo`/`key_hi`, other lists as JSON."""
    flat: dict[str, Any] = {}
    for key, value in _jsonable(row).items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{sub}": v for sub, v in _flatten(value).items()})
        elif key.endswith("_ci") and isinstance(value, list) and len(value) == 2:
            flat[f"{key}_lo"], flat[f"{key}_hi"] = value
        elif isinstance(value, list):
            flat[key] = json.dumps(value)
        else:
            flat[key] = value
    return flat


def _csv_text(
    rows: Sequence[Mapping[str, Any]], synthetic: bool, first: Sequence[str] = _CSV_FIRST
) -> str:
    note = SYNTHETIC_BANNER if synthetic else ""
    flat = [
        {"note": note, **_flatten({k: v for k, v in r.items() if k not in _CSV_SKIP})} for r in rows
    ]
    present = {k for f in flat for k in f}
    columns = [k for k in first if k in present] + sorted(present - set(first))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in f.items()} for f in flat)
    return buffer.getvalue()


def _json_text(document: Mapping[str, Any]) -> str:
    return json.dumps(_jsonable(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# ---------------------------------------------------------------- public writers


def write_comparison(
    out_dir: str | os.PathLike[str],
    results: Sequence[Mapping[str, Any]],
    scores: Mapping[str, ScoreSet | ScoreTable | Mapping[str, Any]] | None = None,
    comparisons: Sequence[Comparison | Mapping[str, Any]] = (),
    provenance: Provenance | Mapping[str, Any] | None = None,
    *,
    title: str = "Face liveness comparison",
    audit_margin: float = AUDIT_MARGIN,
) -> dict[str, Path]:
    """Write comparison.{md,tex,csv,json} and the plots into `out_dir`; return them by kind.

    Also the cross-dataset writer: pass a title such as "train seed600 -> test nuaa".
    ROC, DET and histograms are drawn only for methods present in `scores`; the ACER bar
    chart always. Raises ValueError naming the method and key on malformed input.
    """
    out = Path(out_dir)
    rows = _by_acer(_check_rows(results))
    provenance = dict(provenance or {})
    synthetic = bool(provenance.get("synthetic"))
    known = {r["name"]: r for r in rows}
    unknown = sorted(set(scores or {}) - set(known))
    if unknown:
        raise ValueError(f"scores given for methods without a result row: {unknown}")
    score_sets = {
        r["name"]: ScoreSet.coerce(scores[r["name"]], r["name"])
        for r in rows
        if r["name"] in (scores or {})
    }
    comparisons = [dict(c) for c in comparisons]
    for c in comparisons:
        missing = {"a", "b", "difference", "difference_ci", "verdict"} - set(c)
        if missing or len(c["difference_ci"]) != 2:
            raise ValueError(
                f"comparison {c!r:.200}: needs a, b, difference, "
                f"difference_ci=[lo, hi] and verdict; "
                f"missing {sorted(missing)}"
            )
        if not {c["a"], c["b"]} <= set(known):
            raise ValueError(f"comparison of {c['a']!r} and {c['b']!r}: not both have a result row")
    summary = summarise(rows, comparisons, audit_margin)
    out.mkdir(parents=True, exist_ok=True)

    files: dict[str, Path] = {}
    plot_files = {"ACER with 95 % CI": "acer_bar.png"}
    files["acer_bar"] = _save_figure(plots.acer_bar_figure(rows), out / "acer_bar.png")
    if score_sets:
        families = {name: known[name]["family"] for name in score_sets}
        thresholds = {name: _thresholds(known[name]) for name in score_sets}
        figures = {
            "roc": ("ROC curves", plots.roc_figure(score_sets, families)),
            "det": ("DET curves", plots.det_figure(score_sets, families)),
            "score_histograms": (
                "Score histograms",
                plots.histogram_figure(score_sets, thresholds),
            ),
        }
        for kind, (caption, fig) in figures.items():
            files[kind] = _save_figure(fig, out / f"{kind}.png")
            plot_files[caption] = f"{kind}.png"

    criterion = _criterion(rows)
    files["md"] = atomic_write(
        out / "comparison.md",
        _comparison_md(title, rows, comparisons, provenance, summary, plot_files, synthetic),
    )
    files["tex"] = atomic_write(out / "comparison.tex", _comparison_tex(title, rows, synthetic))
    files["csv"] = atomic_write(out / "comparison.csv", _csv_text(rows, synthetic))
    document = {
        "title": title,
        "synthetic": synthetic,
        "note": SYNTHETIC_BANNER if synthetic else None,
        "methods": rows,
        "comparisons": comparisons,
        "summary": summary,
        "plots": dict(sorted((k, p.name) for k, p in files.items() if p.suffix == ".png")),
        "conventions": conventions(criterion),
        "provenance": provenance,
    }
    files["json"] = atomic_write(out / "comparison.json", _json_text(document))
    return files


def write_ablation(
    out_dir: str | os.PathLike[str],
    ablation_name: str,
    results: Sequence[Mapping[str, Any]],
    variable_label: str,
    *,
    provenance: Provenance | Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ablation_<name>.{md,csv,json,png}: ACER with CI per variant of one variable.

    Each result row may carry `variant` (the variable's value; default: its name) and
    `series` (one line per series, e.g. per method of a learning curve). A numeric variable
    gives a line plot sorted by value, anything else a bar chart in the given order.
    """
    if not _NAME_RE.fullmatch(ablation_name):
        raise ValueError(
            f"ablation name {ablation_name!r}: use letters, digits, '_', '-', '.' only"
        )
    rows = _check_rows(results)
    for r in rows:
        r.setdefault("variant", r["name"])
    numeric = all(plots.is_number(r["variant"]) for r in rows)
    if numeric:
        rows.sort(key=lambda r: (str(r.get("series") or ""), float(r["variant"])))
    provenance = dict(provenance or {})
    synthetic = bool(provenance.get("synthetic"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"ablation_{ablation_name}"
    title = f"Ablation: {ablation_name} ({variable_label})"

    files = {
        "png": _save_figure(plots.ablation_figure(rows, variable_label, title), out / f"{stem}.png")
    }
    best = min(rows, key=lambda r: (float(r["acer"]), r["name"]))
    with_series = any(r.get("series") for r in rows)
    header = [
        _md(variable_label),
        *(["Series"] * with_series),
        "Method",
        "ACER (%) ± std [95 % CI]",
    ]
    header += ["APCER (%)", "BPCER (%)", "HTER (%)", "EER (%)", "AUC", "fit s", "ms/img"]
    body = [
        [
            _md(r["variant"]),
            *([_md(r.get("series") or "")] * with_series),
            _md(r["name"]),
            _rate_with_spread(r, "acer", "±"),
            _pct(r.get("apcer_max")),
            _pct(r.get("bpcer")),
            _pct(r.get("hter")),
            _pct(r.get("eer")),
            _fixed(r.get("auc"), 4),
            _fixed(_fit_seconds(r), 1),
            _fixed(r.get("ms_per_image"), 2),
        ]
        for r in rows
    ]
    lines = [
        *_banner_md(synthetic),
        f"# {_md(title)}",
        "",
        *_md_table(header, body, "l" * (2 + with_series) + "r" * 8),
        "",
    ]
    lines += [
        f"Lowest ACER: {_md(best['name'])} ({_md(variable_label)} = {_md(best['variant'])}), "
        f"{_pct(best['acer'])} %.",
        "",
    ]
    lines += [
        f"![ACER per {_md(variable_label)}]({stem}.png)",
        "",
        *_conventions_md(_criterion(rows)),
    ]
    if provenance:
        lines += ["", *_provenance_md(provenance)]
    files["md"] = atomic_write(out / f"{stem}.md", "\n".join(lines) + "\n")
    first = ("note", "variant", "series", *_CSV_FIRST[1:])
    files["csv"] = atomic_write(out / f"{stem}.csv", _csv_text(rows, synthetic, first))
    document = {
        "ablation": ablation_name,
        "variable": variable_label,
        "numeric": numeric,
        "synthetic": synthetic,
        "note": SYNTHETIC_BANNER if synthetic else None,
        "variants": rows,
        "plot": files["png"].name,
        "conventions": conventions(_criterion(rows)),
        "provenance": provenance,
    }
    files["json"] = atomic_write(out / f"{stem}.json", _json_text(document))
    return files
