"""report.html: one self-contained page that shows a comparison to a person.

Rendered from what the other writers left in the folder: comparison.json, the PNG plots
(embedded as data URIs) and `ablations/ablation_*.json` with their plots. No server, network,
external script, font or stylesheet; a few lines of inline JavaScript make the tables sortable
(they read fine without it). The error gallery shows each method's worst false rejects and
false accepts by RELATIVE link to the dataset files, so no face pixel is copied into results/:
the pictures appear where the data is on the machine, their file names everywhere.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from benchmarks import analysis, columns
from benchmarks.columns import COMPARISON_COLUMNS, Column, pct, points, points_ci
from benchmarks.plots import UNRANKED_FAMILIES
from features.files import atomic_write

REPORT_NAME = "report.html"
PLOT_CAPTIONS = {
    "acer_bar": "ACER with 95 % CI",
    "roc": "ROC curves",
    "det": "DET curves",
    "score_histograms": "Score histograms (dev thresholds marked)",
}

_CSS = """
:root{color-scheme:light;--fg:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--head:#eef1f5;
--accent:#0b57a4;--warn-bg:#fff4e5;--warn:#7a3e00;--audit:#5a5a5a}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:#fff}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.3rem;margin-top:2rem;
border-bottom:1px solid var(--line)}h3{font-size:1.1rem}
a{color:var(--accent)}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0 1rem}
table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.25rem 0;caption-side:top}
th,td{border:1px solid var(--line);padding:.3rem .5rem;white-space:nowrap}
thead th{background:var(--head);vertical-align:bottom}
td.r{text-align:right}td.c{text-align:center}th[scope=row]{text-align:left;font-weight:600}
tr.audit th,tr.audit td,tr.transductive th,tr.transductive td{color:var(--audit);font-style:italic}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;
cursor:pointer;text-align:inherit}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
.warning{background:var(--warn-bg);color:var(--warn);border-left:4px solid var(--warn);
padding:.5rem .75rem;margin:.75rem 0}
figure{margin:1rem 0}figure.plot img{max-width:100%;height:auto;border:1px solid var(--line)}
figcaption{color:var(--muted);font-size:.9rem}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.75rem;
list-style:none;padding:0}
.gallery figure{margin:0}
.gallery img{width:100%;aspect-ratio:1;object-fit:cover;background:var(--head);
border:1px solid var(--line);display:block}
.gallery figcaption{overflow-wrap:anywhere}
dl.kv{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem 1rem}
dl.kv dt{font-weight:600}dl.kv dd{margin:0;word-break:break-word}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
@media (max-width:40rem){body{font-size:15px}main{padding:.5rem}h1{font-size:1.3rem}}
"""

# Sortable tables (click a header; empty cells last) and a count of the gallery images that
# loaded, so a reader sees whether the dataset is on this machine.
_JS = """
document.querySelectorAll("table.sortable").forEach(function (t) {
  var heads = t.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, i) {
    var b = document.createElement("button");
    b.type = "button"; b.textContent = th.textContent; th.textContent = ""; th.appendChild(b);
    b.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var key = function (r) { var c = r.cells[i]; return c.dataset.sort !== undefined ?
        c.dataset.sort : c.textContent; };
      var rows = Array.prototype.slice.call(t.tBodies[0].rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var nx = Number(x), ny = Number(y);
        var c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
    });
  });
});
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll(".gallery img");
  var ok = Array.prototype.filter.call(imgs, function (im) { return im.naturalWidth > 0; });
  document.body.dataset.galleryImages = imgs.length;
  document.body.dataset.galleryLoaded = ok.length;
  var note = document.getElementById("gallery-status");
  if (note && imgs.length) {
    note.textContent = ok.length === imgs.length ? "All " + imgs.length + " images found." :
      ok.length + " of " + imgs.length + " images found on this machine; the others are " +
      "shown by file name (the dataset is not where the report expects it).";
  }
});
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def data_uri(path: Path) -> str | None:
    """A PNG file as a data URI (None when absent), so pages need no other file."""
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _sort_attr(value: Any) -> str:
    if value is None:
        return ' data-sort=""'
    if isinstance(value, float):
        return f' data-sort="{value!r}"'
    return f' data-sort="{_e(value)}"'


def _table(
    cols: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    caption: str,
    row_header: str | None = None,
    table_id: str | None = None,
) -> str:
    """An accessible table: caption, <th scope>, the row header column as <th scope=row>."""
    head = "".join(f'<th scope="col">{_e(c.header)}</th>' for c in cols)
    body = []
    for row in rows:
        unranked = row.get("family") in UNRANKED_FAMILIES
        cells = []
        for c in cols:
            attrs = _sort_attr(c.value(row))
            if c.key == row_header:
                cells.append(f'<th scope="row"{attrs}>{_e(c.cell(row))}</th>')
            else:
                cls = "" if c.align == "l" else f' class="{c.align}"'
                cells.append(f"<td{cls}{attrs}>{_e(c.cell(row))}</td>")
        tr = f'<tr class="{_e(row["family"])}">' if unranked else "<tr>"
        body.append(f"{tr}{''.join(cells)}</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f'<div class="scroll"><table class="sortable"{ident}><caption>{_e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _kv(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(_inline(v))}</dd>" for k, v in items)
    return f'<dl class="kv">{rows}</dl>'


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_inline(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_inline(v) for v in value)
    return "–" if value is None else str(value)


def _summary(facts: analysis.Analysis) -> str:
    s = facts["summary"]
    by_name = {r["name"]: r for r in facts["rows"]}
    if s["best"] is None:
        return "<p>No liveness method was evaluated (audit rows only).</p>"
    text = (
        f"<p><strong>Best liveness method: {_e(s['best'])}</strong> "
        f"(ACER {pct(by_name[s['best']]['acer'])} %)."
    )
    if s["runner_up"] is None:
        return text + " It is the only liveness method.</p>"
    text += f" Runner-up: {_e(s['runner_up'])} (ACER {pct(by_name[s['runner_up']]['acer'])} %).</p>"
    c = s["comparison"]
    if c is None:
        return (
            text + "<p>No paired comparison of these two was made, so the lead is not tested.</p>"
        )
    word = "significant" if s["significant"] else "not significant"
    return text + (
        f"<p>The lead is <strong>{word}</strong>: ACER({_e(c['a'])}) − ACER({_e(c['b'])}) = "
        f"{points(c['difference'])} points, CI {points_ci(c['difference_ci'])} "
        f"(verdict: {_e(analysis.verdict(c))}).</p>"
    )


def _plots(out: Path, plots: Mapping[str, str]) -> str:
    parts = []
    for kind, name in plots.items():
        uri = data_uri(out / name)
        if uri is None:
            continue
        caption = PLOT_CAPTIONS.get(kind, kind)
        parts.append(
            f'<figure class="plot"><img src="{uri}" alt="{_e(caption)}" data-plot="{_e(kind)}">'
            f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>"
        )
    return "".join(parts) or "<p>No plots were written.</p>"


def _case(case: Mapping[str, Any], out: Path, kind: str) -> str:
    path = case.get("path") or ""
    extra = [
        f"score {case['score']:.4g}",
        f"threshold {case['threshold']:.4g} (fold {case['fold']})",
    ]
    if case.get("attack_type"):
        extra.append(f"attack type {case['attack_type']}")
    if case.get("box"):
        extra.append("face box (x, y, w, h) " + ", ".join(str(v) for v in case["box"]))
    if path:
        src = Path(os.path.relpath(Path(path).absolute(), out.absolute())).as_posix()
        img = (
            f'<a href="{_e(src)}"><img src="{_e(src)}" alt="{_e(case["sample_id"])}" '
            f'data-kind="{kind}"></a>'
        )
    else:
        img = ""
    caption = f"<strong>{_e(case['sample_id'])}</strong><br>{'<br>'.join(_e(x) for x in extra)}"
    return f"<li><figure>{img}<figcaption>{caption}</figcaption></figure></li>"


def _gallery(out: Path, facts: analysis.Analysis, errors: Mapping[str, Any]) -> str:
    if not errors:
        return "<p>No score files with test rows were given, so there is no gallery.</p>"
    parts = ['<p id="gallery-status" role="status"></p>']
    for row in facts["rows"]:
        e = errors.get(row["name"])
        if e is None:
            continue
        parts.append(f"<h3>{_e(row['name'])}</h3>")
        for kind, label, n, total in (
            (
                "false_rejects",
                "Bona fide scored most like attacks (false rejects)",
                "n_false_rejects",
                "n_bonafide",
            ),
            (
                "false_accepts",
                "Attacks scored most like bona fide (false accepts)",
                "n_false_accepts",
                "n_attack",
            ),
        ):
            head = f"{label}: {e[n]} of {e[total]}"
            if e[kind]:
                shown = f", the worst {len(e[kind])} shown" if e[n] > len(e[kind]) else ""
                items = "".join(_case(c, out, kind) for c in e[kind])
                parts.append(f'<p>{_e(head + shown)}</p><ul class="gallery">{items}</ul>')
            else:
                parts.append(f"<p>{_e(head)}.</p>")
    return "".join(parts)


def _ablations(out: Path) -> str:
    found = sorted((out / "ablations").glob("ablation_*.json"))
    if not found:
        return ""
    parts = ['<h2 id="ablations">Ablations</h2>']
    for path in found:
        doc = json.loads(path.read_text("utf-8"))
        rows = doc["variants"]
        with_series = any(r.get("series") for r in rows)
        cols = columns.ablation_columns(doc["variable"], with_series)
        title = f"{doc['ablation']} ({doc['variable']})"
        rel = f"ablations/{path.stem}"
        parts.append(f"<details><summary>{_e(title)}</summary>")
        parts.append(_table(cols, rows, f"Ablation {title}: rates per variant", "variant"))
        if doc.get("comparisons"):
            caption = f"Ablation {title}: paired comparisons, significant when the CI excludes 0"
            parts.append(_table(COMPARISON_COLUMNS, doc["comparisons"], caption))
        uri = data_uri(out / "ablations" / doc.get("plot", f"{path.stem}.png"))
        if uri:
            parts.append(
                f'<figure class="plot"><img src="{uri}" alt="{_e("ACER per " + doc["variable"])}">'
                f"<figcaption>ACER per {_e(doc['variable'])}</figcaption></figure>"
            )
        parts.append(
            f'<p>Files: <a href="{_e(rel)}.md">{_e(path.stem)}.md</a>, '
            f'<a href="{_e(rel)}.csv">.csv</a>, <a href="{_e(rel)}.json">.json</a></p></details>'
        )
    return "".join(parts)


def _notes(facts: analysis.Analysis, provenance: Mapping[str, Any]) -> str:
    parts = []
    notes = sorted({n for r in facts["rows"] for n in r.get("notes") or ()})
    warnings = [(r["name"], w) for r in facts["rows"] for w in r.get("warnings") or ()]
    faces = provenance.get("faces_found")
    if isinstance(faces, Mapping) and {"train", "test"} <= set(faces):
        parts.append(
            "<p>Cross-dataset run: each method is trained, and its threshold fixed, on the "
            "training dataset only; every test presentation comes from the other dataset.</p>"
        )
        parts.append(_kv((f"faces found ({side})", faces[side]) for side in ("train", "test")))
    if warnings:
        items = "".join(f"<li><strong>{_e(n)}</strong>: {_e(w)}</li>" for n, w in warnings)
        parts.append(f"<p>Warnings from the evaluation:</p><ul>{items}</ul>")
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return f'<h2 id="notes">Notes</h2>{"".join(parts)}' if parts else ""


def _provenance(provenance: Mapping[str, Any]) -> str:
    skipped = list(provenance.get("skipped") or [])
    items = [(k, v) for k, v in provenance.items() if k != "skipped"]
    html = _kv(items) if items else "<p>(none given)</p>"
    if skipped:
        entries = "".join(
            f"<li>{_e(s.get('path', '?'))}: {_e(s.get('reason', '?'))}</li>"
            if isinstance(s, Mapping)
            else f"<li>{_e(s)}</li>"
            for s in skipped
        )
        summary = f"<summary>Skipped files ({len(skipped)})</summary>"
        html += f"<details>{summary}<ul>{entries}</ul></details>"
    return html


def render(out: Path, doc: Mapping[str, Any]) -> str:
    """The page for the comparison.json document `doc` written in folder `out`."""
    margin = (doc.get("summary") or {}).get("audit_margin", analysis.AUDIT_MARGIN)
    facts = analysis.analyse(doc["methods"], doc.get("comparisons") or (), margin)
    provenance = doc.get("provenance") or {}
    title = doc.get("title") or "Face liveness comparison"
    body = []
    if doc.get("synthetic"):
        body.append(f'<p class="warning" role="alert"><strong>{_e(doc.get("note"))}</strong></p>')
    body.append(f"<h1>{_e(title)}</h1>")
    body += [
        f'<p class="warning" role="alert"><strong>Warning:</strong> {_e(w)}.</p>'
        for w in facts["summary"]["warnings"]
    ]
    ablations, notes = _ablations(out), _notes(facts, provenance)
    sections = {"results": "Results", "plots": "Plots", "comparisons": "Paired comparisons"}
    sections["errors"] = "Errors"
    sections |= {"ablations": "Ablations"} if ablations else {}
    sections |= {"notes": "Notes"} if notes else {}
    sections |= {"conventions": "Conventions", "provenance": "Provenance"}
    links = " · ".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in sections.items())
    body.append(f'<nav aria-label="Sections">{links}</nav>')
    body.append('<h2 id="results">Results</h2>')
    body.append(
        _table(
            columns.columns(columns.MAIN),
            columns.with_ranks(facts["rows"], facts["ranks"]),
            "Methods sorted by ACER (click a column header to sort); italic rows are unranked: "
            "the metadata audit (not a liveness method) and transductive methods (they use the "
            "unlabelled test data)",
            "name",
            "results-table",
        )
    )
    body.append(_summary(facts))
    if len(facts["attack_types"]) > 1:
        body.append(
            _table(
                columns.apcer_columns(facts["attack_types"]),
                facts["rows"],
                "APCER per attack type (%)",
                "name",
            )
        )
    body.append(f'<h2 id="plots">Plots</h2>{_plots(out, doc.get("plots") or {})}')
    body.append('<h2 id="comparisons">Paired comparisons</h2>')
    if facts["comparisons"]:
        body.append(
            _table(
                COMPARISON_COLUMNS,
                facts["comparisons"],
                "Paired bootstrap comparisons: significant when the CI of A − B excludes 0",
            )
        )
    else:
        body.append("<p>None were made.</p>")
    body.append(
        '<h2 id="errors">Errors at the dev threshold</h2><p>Test presentations each method got '
        "most wrong, shown from the dataset files by relative link (no picture is copied "
        "into the results).</p>"
    )
    body.append(_gallery(out, facts, doc.get("errors") or {}))
    body += [ablations, notes]
    conventions = doc.get("conventions") or {}
    body.append(
        '<h2 id="conventions">Conventions</h2><ul>'
        + "".join(f"<li>{_e(text)}</li>" for text in conventions.values())
        + "</ul>"
    )
    body.append(f'<h2 id="provenance">Provenance</h2>{_provenance(provenance)}')
    return page(title, body)


def page(title: str, body: Sequence[str]) -> str:
    """A self-contained page: the house style and the sortable-table script inline."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main><script>{_JS}</script></body></html>\n"
    )


def markdown_tables(markdown: str) -> str:
    """A Markdown document of headings, paragraphs and pipe tables as escaped HTML."""
    out, rows = [], []

    def flush() -> None:
        if rows:
            head, *body = rows
            out.append(
                '<div class="table-wrap"><table><thead><tr>'
                + "".join(f'<th scope="col">{_e(c)}</th>' for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in body)
                + "</tbody></table></div>"
            )
            rows.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-:") for c in cells):
                rows.append(cells)
            continue
        flush()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 3)
            out.append(f"<h{level}>{_e(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_e(line)}</p>")
    flush()
    return "".join(out)


def write_report_html(out_dir: str | os.PathLike[str]) -> Path:
    """Render `<out_dir>/report.html` from the comparison.json, plots and ablations there."""
    out = Path(out_dir)
    doc = json.loads((out / "comparison.json").read_text("utf-8"))
    return atomic_write(out / REPORT_NAME, render(out, doc))
