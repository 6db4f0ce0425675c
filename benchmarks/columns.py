"""The table columns of every report, each defined once: key, header and cell text.

A `Column` turns a result row into display text (rates in percent, a dash when missing). The
Markdown, LaTeX, HTML and CSV renderers of `benchmarks.report` pick their columns by key from
`COLUMNS` through the table tuples below (`MAIN`, `MAIN_TEX`, `ABLATION`, `CSV`,
`ABLATION_CSV`) and add only their own escaping and markup, so a column reads the same in every
format. Rows given to these columns may carry `rank` (from `analysis.liveness_ranks`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from benchmarks.analysis import RATE_KEYS, fit_seconds, is_significant, number, verdict
from benchmarks.plots import UNRANKED_FAMILIES

DASH = "–"
Row = Mapping[str, Any]


def pct(value: Any) -> str:
    """A fraction as a percentage with two decimals, or a dash."""
    x = number(value)
    return DASH if x is None else f"{100 * x:.2f}"


def fixed(value: Any, digits: int) -> str:
    x = number(value)
    return DASH if x is None else f"{x:.{digits}f}"


def points(value: Any) -> str:
    """A signed difference of fractions in percentage points."""
    x = number(value)
    return DASH if x is None else f"{100 * x:+.2f}"


def points_ci(ci: Sequence[Any]) -> str:
    return f"[{points(ci[0])}, {points(ci[1])}]"


def ci_pair(row: Row, key: str) -> tuple[float, float] | None:
    """The row's `<key>_ci` as two finite floats, or None."""
    ci = row.get(f"{key}_ci")
    if ci is None or len(ci) != 2:
        return None
    lo, hi = number(ci[0]), number(ci[1])
    return None if lo is None or hi is None else (lo, hi)


def rate_with_spread(row: Row, key: str, ci: bool = True) -> str:
    """'12.34 ± 1.20 [8.00, 16.00]' (percent), leaving out what is missing."""
    text = pct(row.get(key))
    if number(row.get(f"{key}_std")) is not None:
        text += f" ± {pct(row[f'{key}_std'])}"
    pair = ci_pair(row, key) if ci else None
    if pair is not None:
        text += f" [{100 * pair[0]:.2f}, {100 * pair[1]:.2f}]"
    return text


@dataclass(frozen=True)
class Column:
    """One table column.

    `cell` gives the display text; `value` the number (or text) the HTML table sorts by.
    `text` marks free text taken from the data (escaped by Markdown; every other format
    escapes every cell). `tex_header`/`tex_cell` replace header/cell in LaTeX, whose caption
    states the units. `header_from_data` marks a header taken from the data (escaped by
    Markdown too). `align` is "l", "r" or "c".
    """

    key: str
    header: str
    cell: Callable[[Row], str]
    value: Callable[[Row], Any]
    align: str = "r"
    text: bool = False
    tex_header: str | None = None
    tex_cell: Callable[[Row], str] | None = None
    header_from_data: bool = False

    def latex_header(self) -> str:
        return self.header if self.tex_header is None else self.tex_header

    def latex_cell(self, row: Row) -> str:
        return (self.cell if self.tex_cell is None else self.tex_cell)(row)


def _rate(key: str, label: str) -> Column:
    return Column(
        key,
        f"{label} (%)",
        lambda r: pct(r.get(key)),
        lambda r: number(r.get(key)),
        tex_header=label,
    )


def _text(key: str, header: str) -> Column:
    def cell(row: Row) -> str:
        value = row.get(key)
        return "" if value is None else str(value)

    return Column(
        key,
        header,
        cell,
        cell,
        align="l",
        text=True,
    )


def _acer_ci(row: Row) -> str:
    pair = ci_pair(row, "acer")
    return DASH if pair is None else f"[{100 * pair[0]:.2f}, {100 * pair[1]:.2f}]"


def _unranked(row: Row) -> bool:
    return row.get("family") in UNRANKED_FAMILIES


_RATE_LABELS = {
    "apcer_max": "APCER",
    "apcer_pooled": "APCER pooled",
    "bpcer": "BPCER",
    "acer": "ACER",
    "hter": "HTER",
    "eer": "EER",
    "bpcer10": "BPCER10",
    "bpcer20": "BPCER20",
    "bpcer100": "BPCER100",
}

_ALL = (
    Column(
        "rank",
        "Rank",
        lambda r: str(r["family"]) if _unranked(r) else str(r["rank"]),
        lambda r: None if _unranked(r) else r["rank"],
        tex_header="#",
        tex_cell=lambda r: DASH if _unranked(r) else str(r["rank"]),
    ),
    _text("name", "Method"),
    _text("family", "Family"),
    _text("variant", "Variant"),
    _text("series", "Series"),
    _text("classifier_variant", "Fitted variant"),
    _text("criterion", "Criterion"),
    Column(
        "threshold",
        "Threshold",
        lambda r: fixed(r.get("threshold"), 4),
        lambda r: number(r.get("threshold")),
    ),
    *(_rate(key, _RATE_LABELS[key]) for key in RATE_KEYS if key != "acer"),
    Column(
        "acer",
        "ACER (%) ± std [95 % CI]",
        lambda r: rate_with_spread(r, "acer"),
        lambda r: number(r.get("acer")),
        tex_header="ACER",
        tex_cell=lambda r: rate_with_spread(r, "acer", ci=False),
    ),
    Column(
        "acer_ci",
        "95 % CI",
        _acer_ci,
        lambda r: (ci_pair(r, "acer") or (None,))[0],
        align="c",
        tex_header="95% CI",
    ),
    Column("auc", "AUC", lambda r: fixed(r.get("auc"), 4), lambda r: number(r.get("auc"))),
    Column("fit_seconds", "fit s", lambda r: fixed(fit_seconds(r), 1), fit_seconds),
    Column(
        "ms_per_image",
        "ms/img",
        lambda r: fixed(r.get("ms_per_image"), 2),
        lambda r: number(r.get("ms_per_image")),
    ),
)
COLUMNS: dict[str, Column] = {c.key: c for c in _ALL}

# The tables, as column keys in display order.
MAIN = (
    "rank",
    "name",
    "family",
    "apcer_max",
    "bpcer",
    "acer",
    "hter",
    "eer",
    "auc",
    "bpcer20",
    "fit_seconds",
    "ms_per_image",
)
# LaTeX: the interval in a column of its own, no timings (a paper table).
MAIN_TEX = (
    "rank",
    "name",
    "family",
    "apcer_max",
    "bpcer",
    "acer",
    "acer_ci",
    "hter",
    "eer",
    "auc",
    "bpcer20",
)
ABLATION = (
    "variant",
    "series",
    "name",
    "classifier_variant",
    "acer",
    "apcer_max",
    "bpcer",
    "hter",
    "eer",
    "auc",
    "fit_seconds",
    "ms_per_image",
)
# CSV: these raw values (fractions) first, then every other key of the rows, sorted.
CSV = ("name", "family", "threshold", "criterion", *RATE_KEYS, "auc")
ABLATION_CSV = ("variant", "series", *CSV)


def with_ranks(rows: Sequence[Row], ranks: Mapping[str, int]) -> list[dict[str, Any]]:
    """Rows with their liveness `rank` (None for unranked rows), for the tables, not the JSON."""
    return [{**r, "rank": ranks.get(r["name"])} for r in rows]


def columns(keys: Sequence[str]) -> tuple[Column, ...]:
    """The columns of a table, by key."""
    return tuple(COLUMNS[k] for k in keys)


def ablation_columns(variable_label: str, with_series: bool) -> tuple[Column, ...]:
    """The ablation table, its first column headed by the variable's label."""
    keys = [k for k in ABLATION if with_series or k != "series"]
    cols = list(columns(keys))
    cols[0] = replace(cols[0], header=variable_label, header_from_data=True)
    return tuple(cols)


def apcer_columns(types: Sequence[str]) -> tuple[Column, ...]:
    """Method, the APCER of each attack type, then the maximum and pooled APCER."""
    per_type = (
        Column(
            f"apcer.{t}",
            t,
            lambda r, t=t: pct((r.get("apcer") or {}).get(t)),
            lambda r, t=t: number((r.get("apcer") or {}).get(t)),
            header_from_data=True,
        )
        for t in types
    )
    return (
        COLUMNS["name"],
        *per_type,
        replace(COLUMNS["apcer_max"], header="max"),
        replace(COLUMNS["apcer_pooled"], header="pooled"),
    )


# Paired comparisons (rows are `MethodComparison.to_dict()` dicts).
COMPARISON_COLUMNS = (
    _text("a", "A"),
    _text("b", "B"),
    Column(
        "metric",
        "metric",
        lambda c: str(c.get("metric", "acer")).upper(),
        lambda c: str(c.get("metric", "acer")),
        align="l",
        text=True,
    ),
    Column(
        "difference",
        "A − B (points)",
        lambda c: points(c["difference"]),
        lambda c: number(c["difference"]),
    ),
    Column(
        "difference_ci",
        "CI",
        lambda c: points_ci(c["difference_ci"]),
        lambda c: number(c["difference_ci"][0]),
    ),
    Column(
        "significant",
        "significant",
        lambda c: "yes" if is_significant(c) else "no",
        lambda c: "yes" if is_significant(c) else "no",
        align="l",
    ),
    Column("verdict", "verdict", verdict, verdict, align="l", text=True),
)
