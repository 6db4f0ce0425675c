"""Write a comparison or an ablation as Markdown, LaTeX (booktabs), CSV, JSON and PNG plots.

Inputs are what `benchmarks.harness` produces: `results` are `MethodResult.to_dict()` rows
(rates as fractions in [0, 1]), `scores` each method's `MethodResult.scores` table (or a
`benchmarks.plots.ScoreSet`) whose test rows are pooled for the curves, `comparisons` are
`MethodComparison.to_dict()` rows (`Comparison`) and `provenance` the run's metadata
(`Provenance`). What the report says comes from `benchmarks.analysis`; its table columns from
`benchmarks.columns`; this module only renders. Every file is written atomically (temporary
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

from benchmarks import analysis, columns, plots
from benchmarks.analysis import AUDIT_MARGIN
from benchmarks.columns import COMPARISON_COLUMNS, Column, pct, points, points_ci
from benchmarks.plots import UNRANKED_FAMILIES, ScoreSet
from benchmarks.report_html import write_report_html
from benchmarks.scores import ScoreTable
from features.files import atomic_write, escape_undecodable

SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA — not a real result"
MAX_SKIPPED_LISTED = 20
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
    git_modified: Sequence[str]
    command: str | Sequence[str]
    started: str
    finished: str
    synthetic: bool


def _save_figure(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return atomic_write(path, buffer.getvalue())


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
        "transductive": "family 'transductive' = features standardised with the statistics of "
        "the unlabelled set being scored (the test data itself): shown, never ranked",
    }


def _md(text: Any) -> str:
    return re.sub(r"([\\|*_`<\[\]])", r"\\\1", str(text))


_MD_ALIGN = {"l": ":--", "r": "--:", "c": ":-:"}


def _md_table(
    cols: Sequence[Column], rows: Iterable[Mapping[str, Any]], mark_audit: bool = False
) -> list[str]:
    """A Markdown table; `mark_audit` sets unranked (audit, transductive) rows' name in italics."""

    def cell(c: Column, row: Mapping[str, Any]) -> str:
        text = _md(c.cell(row)) if c.text else c.cell(row)
        if mark_audit and c.key == "name" and row.get("family") in UNRANKED_FAMILIES:
            text = f"*{text}*"
        return text

    header = [_md(c.header) if c.header_from_data else c.header for c in cols]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(_MD_ALIGN[c.align] for c in cols) + "|",
    ]
    lines += ["| " + " | ".join(cell(c, row) for c in cols) + " |" for row in rows]
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


def _level(c: Mapping[str, Any]) -> str:
    return f"{100 * float(c.get('level', 0.95)):g} %"


# ---------------------------------------------------------------- Markdown


def _summary_md(summary: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]) -> list[str]:
    best, runner = summary["best"], summary["runner_up"]
    if best is None:
        return ["No liveness method was evaluated (audit rows only)."]
    lines = [f"**Best liveness method: {_md(best)}** (ACER {pct(by_name[best]['acer'])} %)."]
    if runner is None:
        return lines + ["It is the only liveness method, so there is no runner-up to compare with."]
    c = summary["comparison"]
    lines[0] += f" Runner-up: {_md(runner)} (ACER {pct(by_name[runner]['acer'])} %)."
    if c is None:
        return lines + [
            "",
            "No paired comparison of these two was supplied, so the lead is not tested.",
        ]
    word = "**significant**" if summary["significant"] else "**not significant**"
    lines += [
        "",
        f"The lead is {word}: ACER({_md(c['a'])}) − ACER({_md(c['b'])}) = "
        f"{points(c['difference'])} points, {_level(c)} CI {points_ci(c['difference_ci'])} "
        f"(verdict: {_md(analysis.verdict(c))}).",
    ]
    return lines


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
    if not rest:
        return lines + ["(none given)"]
    return lines + [
        "| Key | Value |",
        "|:--|:--|",
        *(f"| {_md(k)} | {_md(_inline(v))} |" for k, v in rest.items()),
    ]


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
    facts: analysis.Analysis,
    provenance: Mapping[str, Any],
    plot_files: Mapping[str, str],
    synthetic: bool,
) -> str:
    rows, summary = facts["rows"], facts["summary"]
    by_name = {r["name"]: r for r in rows}
    lines = [*_banner_md(synthetic), f"# {_md(title)}", ""]
    for warning in summary["warnings"]:
        lines += [f"> **WARNING:** {_md(warning)}.", ""]
    lines += _conventions_md(facts["criterion"]) + ["", "## Results", ""]
    lines += _md_table(
        columns.columns(columns.MAIN), columns.with_ranks(rows, facts["ranks"]), mark_audit=True
    )
    lines += [
        "",
        "Sorted by ACER. Rows marked *audit* (italic) are the metadata audit, not a liveness "
        "method: they show how far the file metadata alone predicts the label. Rows marked "
        "*transductive* (italic) standardise their features with the unlabelled test data "
        "itself: they are not ranked among the other methods.",
        "",
        *_summary_md(summary, by_name),
    ]
    evaluation = [(r["name"], w) for r in rows for w in r.get("warnings") or ()]
    if evaluation:
        lines += ["", "## Warnings from the evaluation", ""]
        lines += [f"- **{_md(name)}**: {_md(w)}" for name, w in evaluation]
    types = facts["attack_types"]
    if len(types) > 1:
        lines += ["", "## APCER per attack type (%)", ""]
        lines += _md_table(columns.apcer_columns(types), rows)
    if facts["comparisons"]:
        lines += ["", "## Paired comparisons", ""]
        lines += _md_table(COMPARISON_COLUMNS, facts["comparisons"])
    if plot_files:
        lines += ["", "## Plots", ""]
        lines += [f"- [{caption}]({name})" for caption, name in plot_files.items()]
    lines += ["", *_provenance_md(provenance)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- LaTeX


def _comparison_tex(title: str, facts: analysis.Analysis, synthetic: bool) -> str:
    banner = f"\\textbf{{{tex_escape(SYNTHETIC_BANNER)}.}} " if synthetic else ""
    caption = (
        f"{banner}{tex_escape(title)}. Rates in \\%, threshold fixed on development data "
        f"({tex_escape(facts['criterion'])} criterion). APCER is the maximum over attack types "
        "(ISO/IEC 30107-3); ACER (not an ISO/IEC 30107-3 metric) $\\pm$ standard deviation "
        "over folds, with its 95\\% confidence interval. "
        "Italic: metadata audit (not a liveness method) and transductive methods (use the "
        "unlabelled test data), both unranked."
    )
    cols = columns.columns(columns.MAIN_TEX)

    def cell(c: Column, row: Mapping[str, Any]) -> str:
        text = tex_escape(c.latex_cell(row))
        if c.key == "name" and row["family"] in UNRANKED_FAMILIES:
            text = f"\\textit{{{text}}}"
        return text

    body = [
        " & ".join(cell(c, r) for c in cols) + " \\\\"
        for r in columns.with_ranks(facts["rows"], facts["ranks"])
    ]
    lines = [
        *([f"% {tex_escape(SYNTHETIC_BANNER)}"] if synthetic else []),
        "% Generated by benchmarks.report; needs \\usepackage{booktabs}.",
        "\\begin{table}[tbp]",
        "\\centering",
        "\\small",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{_slug(title)}}}",
        f"\\begin{{tabular}}{{{''.join(c.align for c in cols)}}}",
        "\\toprule",
        " & ".join(tex_escape(c.latex_header()) for c in cols) + " \\\\",
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


def _csv_text(rows: Sequence[Mapping[str, Any]], synthetic: bool, first: Sequence[str]) -> str:
    """Every key of the rows as fractions: `note`, then the `first` columns, then the rest."""
    first = ("note", *(c.key for c in columns.columns(first)))
    note = SYNTHETIC_BANNER if synthetic else ""
    flat = [
        {"note": note, **_flatten({k: v for k, v in r.items() if k not in _CSV_SKIP})} for r in rows
    ]
    present = {k for f in flat for k in f}
    names = [k for k in first if k in present] + sorted(present - set(first))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, restval="", lineterminator="\n")
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
    boxes: Mapping[str, Sequence[int]] | None = None,
    n_errors: int = 5,
) -> dict[str, Path]:
    """Write comparison.{md,tex,csv,json}, the plots and report.html into `out_dir`.

    Returns the files by kind. Also the cross-dataset writer: pass a title such as
    "train seed600 -> test nuaa". ROC, DET and histograms are drawn only for methods present
    in `scores`; the ACER bar chart always. Methods whose scores are a `ScoreTable` get their
    `n_errors` worst false rejects and false accepts at the dev thresholds listed under
    "errors" in the JSON and shown in report.html; `boxes` (sample id -> face box x, y, w, h)
    adds the box to each. Raises ValueError naming the method and key on malformed input.
    """
    out = Path(out_dir)
    rows = analysis.by_acer(analysis.check_rows(results))
    known = {r["name"]: r for r in rows}
    unknown = sorted(set(scores or {}) - set(known))
    if unknown:
        raise ValueError(f"scores given for methods without a result row: {unknown}")
    score_sets = {
        r["name"]: ScoreSet.coerce(scores[r["name"]], r["name"])
        for r in rows
        if r["name"] in (scores or {})
    }
    facts = analysis.analyse(rows, comparisons, audit_margin)
    rows = facts["rows"]
    provenance = dict(provenance or {})
    synthetic = bool(provenance.get("synthetic"))
    out.mkdir(parents=True, exist_ok=True)

    files: dict[str, Path] = {}
    plot_files = {"ACER with 95 % CI": "acer_bar.png"}
    files["acer_bar"] = _save_figure(plots.acer_bar_figure(rows), out / "acer_bar.png")
    if score_sets:
        families = {name: known[name]["family"] for name in score_sets}
        thresholds = {name: analysis.thresholds(known[name]) for name in score_sets}
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

    files["md"] = atomic_write(
        out / "comparison.md", _comparison_md(title, facts, provenance, plot_files, synthetic)
    )
    files["tex"] = atomic_write(out / "comparison.tex", _comparison_tex(title, facts, synthetic))
    files["csv"] = atomic_write(out / "comparison.csv", _csv_text(rows, synthetic, columns.CSV))
    tables = {n: t for n, t in (scores or {}).items() if isinstance(t, ScoreTable)}
    errors = {
        r["name"]: analysis.error_cases(r, tables[r["name"]], n_errors, boxes)
        for r in rows
        if r["name"] in tables and (tables[r["name"]].split == "test").any()
    }
    document = {
        "title": title,
        "synthetic": synthetic,
        "note": SYNTHETIC_BANNER if synthetic else None,
        "methods": rows,
        "comparisons": facts["comparisons"],
        "summary": facts["summary"],
        "plots": dict(sorted((k, p.name) for k, p in files.items() if p.suffix == ".png")),
        "conventions": conventions(facts["criterion"]),
        "provenance": provenance,
        **({"errors": errors} if errors else {}),
    }
    files["json"] = atomic_write(out / "comparison.json", _json_text(document))
    files["html"] = write_report_html(out)
    return files


def write_ablation(
    out_dir: str | os.PathLike[str],
    ablation_name: str,
    results: Sequence[Mapping[str, Any]],
    variable_label: str,
    *,
    comparisons: Sequence[Mapping[str, Any]] = (),
    provenance: Provenance | Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ablation_<name>.{md,csv,json,png}: ACER with CI per variant of one variable, and
    the paired `comparisons` (`MethodComparison.to_dict()` dicts, A and B named by variant).

    When `out_dir` is the `ablations` folder of a comparison, its report.html is rendered
    again to show the ablation.

    Each result row may carry `variant` (the variable's value; default: its name) and
    `series` (one line per series, e.g. per method of a learning curve). A numeric variable
    gives a line plot sorted by value, anything else a bar chart in the given order.
    """
    if not _NAME_RE.fullmatch(ablation_name):
        raise ValueError(
            f"ablation name {ablation_name!r}: use letters, digits, '_', '-', '.' only"
        )
    rows = analysis.check_rows(results)
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
    best = analysis.by_acer(rows)[0]
    with_series = any(r.get("series") for r in rows)
    lines = [
        *_banner_md(synthetic),
        f"# {_md(title)}",
        "",
        *_md_table(columns.ablation_columns(variable_label, with_series), rows),
        "",
    ]
    lines += [
        f"Lowest ACER: {_md(best['name'])} ({_md(variable_label)} = {_md(best['variant'])}), "
        f"{pct(best['acer'])} %.",
        "",
    ]
    if comparisons:
        lines += ["## Paired comparisons", "", *_md_table(COMPARISON_COLUMNS, comparisons), ""]
    lines += [
        f"![ACER per {_md(variable_label)}]({stem}.png)",
        "",
        *_conventions_md(analysis.criterion(rows)),
    ]
    if provenance:
        lines += ["", *_provenance_md(provenance)]
    files["md"] = atomic_write(out / f"{stem}.md", "\n".join(lines) + "\n")
    files["csv"] = atomic_write(
        out / f"{stem}.csv", _csv_text(rows, synthetic, columns.ABLATION_CSV)
    )
    document = {
        "ablation": ablation_name,
        "variable": variable_label,
        "numeric": numeric,
        "synthetic": synthetic,
        "note": SYNTHETIC_BANNER if synthetic else None,
        "variants": rows,
        "comparisons": [dict(c) for c in comparisons],
        "plot": files["png"].name,
        "conventions": conventions(analysis.criterion(rows)),
        "provenance": provenance,
    }
    files["json"] = atomic_write(out / f"{stem}.json", _json_text(document))
    if out.name == "ablations" and (out.parent / "comparison.json").is_file():
        files["html"] = write_report_html(out.parent)  # the comparison's page lists ablations
    return files
