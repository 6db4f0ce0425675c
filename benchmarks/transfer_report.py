"""Summary tables of the transfer protocols: the cross-dataset matrix and leave one dataset out.

Each cell's full comparison (tables, plots, score files) is written by `benchmarks.transfer`;
these are the views across cells, re-derived from the same results:

- `matrix.{md,json}` and `matrix_<method>.png`: per method, rows = trained on, columns = tested
  on (the diagonal is the training dataset's own test part), HTER at the threshold fixed on the
  training dataset's dev set, EER and AUC; and one summary ranking the methods by their mean
  off-diagonal HTER (how well they transfer), the mean in-dataset HTER beside it.
- `report.html` beside each: the same tables (and the heatmaps) as one self-contained page.
- `leave_one_out.{md,json}`: rows = methods, columns = held-out datasets (ACER at the training
  union's dev threshold, AUC), the mean in the last column, ranked by it; and paired bootstrap
  comparisons of the best method (by that mean) against every other, on each held-out set and
  on the mean over them (each set resampled on its own); with single-source fits, each held-out
  set's union paired with each of its sources alone, method by method (multi-source training's
  ablation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.config import Config  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    MethodResult,
    paired_comparison,
    paired_mean_comparison,
)
from benchmarks.plots import AUDIT_FAMILY, UNRANKED_FAMILIES  # noqa: E402
from benchmarks.report_html import REPORT_NAME, data_uri, markdown_tables, page  # noqa: E402
from features.files import atomic_write  # noqa: E402

MATRIX_METRICS = ("hter", "eer", "auc")


def _pct(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{100 * v:.2f}"


def _num(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _heatmap(path: Path, method: str, names: Sequence[str], hter: np.ndarray) -> None:
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 1.2 + 1.1 * len(names)))
    im = ax.imshow(100 * hter, cmap="viridis_r", vmin=0, vmax=50)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("tested on")
    ax.set_ylabel("trained on")
    for i in range(len(names)):
        for j in range(len(names)):
            if np.isfinite(hter[i, j]):
                ax.text(j, i, f"{100 * hter[i, j]:.1f}", ha="center", va="center", color="w")
    ax.set_title(f"{method}: HTER (%) at the training set's dev threshold")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rank(rows: list[dict], key: str) -> None:
    """Sort rows by `key`, the unranked families (audit, transductive) last, and give each
    ranked row its `rank` (1 = lowest), None for the others."""
    rows.sort(key=lambda r: (r["family"] in UNRANKED_FAMILIES, r[key]))
    for i, r in enumerate(rows):
        r["rank"] = None if r["family"] in UNRANKED_FAMILIES else i + 1


def write_matrix(
    out: Path,
    names: Sequence[str],
    cells: Mapping[tuple[str, str], Sequence[MethodResult]],
    cfg: Config,
    command: str,
) -> Path:
    """matrix.md / matrix.json / matrix_<method>.png under `out`; returns matrix.md."""
    methods = [r.name for r in cells[(names[0], names[0])]]
    families = {r.name: r.family for r in cells[(names[0], names[0])]}
    grid = {
        (m, metric): np.full((len(names), len(names)), np.nan)
        for m in methods
        for metric in MATRIX_METRICS
    }
    for (a, b), rows in cells.items():
        for r in rows:
            for metric in MATRIX_METRICS:
                grid[(r.name, metric)][names.index(a), names.index(b)] = _num(r.metrics.get(metric))
    off = ~np.eye(len(names), dtype=bool)
    summary = []
    for m in methods:
        hter = grid[(m, "hter")]
        summary.append(
            {
                "method": m,
                "family": families[m],
                "mean_off_diagonal_hter": float(np.nanmean(hter[off])),
                "mean_in_dataset_hter": float(np.nanmean(np.diag(hter))),
                "mean_off_diagonal_auc": float(np.nanmean(grid[(m, "auc")][off])),
            }
        )
    _rank(summary, "mean_off_diagonal_hter")
    lines = [
        "# Cross-dataset matrix",
        "",
        f"Command: `{command}`. Each method is fitted once per training dataset (rows) and its "
        "threshold fixed on that dataset's dev set (criterion "
        f"`{cfg.criterion}`); columns are the test sets, the diagonal is the training dataset's "
        "own test part. HTER = (pooled APCER + BPCER) / 2 at that threshold, frame level.",
        "",
        "## Summary: how well each method transfers (ranked by mean off-diagonal HTER)",
        "",
        "| Rank | Method | Family | mean off-diagonal HTER (%) | mean in-dataset HTER (%) "
        "| mean off-diagonal AUC |",
        "|---|---|---|--:|--:|--:|",
    ]
    for s in summary:
        lines.append(
            f"| {s['rank'] or s['family']} | {s['method']} | {s['family']} | "
            f"{_pct(s['mean_off_diagonal_hter'])} | {_pct(s['mean_in_dataset_hter'])} | "
            f"{s['mean_off_diagonal_auc']:.4f} |"
        )
    for m in methods:
        lines += ["", f"## {m}", ""]
        header = "| trained on \\ tested on | " + " | ".join(names) + " |"
        lines += [header, "|---|" + "--:|" * len(names)]
        for i, a in enumerate(names):
            cellstr = [
                f"{_pct(grid[(m, 'hter')][i, j])} (EER {_pct(grid[(m, 'eer')][i, j])}, "
                f"AUC {grid[(m, 'auc')][i, j]:.3f})"
                for j in range(len(names))
            ]
            lines.append(f"| {a} | " + " | ".join(cellstr) + " |")
        lines.append("")
        lines.append("HTER % (EER %, AUC) per cell.")
        _heatmap(out / f"matrix_{m}.png", m, names, grid[(m, "hter")])
    doc = {
        "datasets": list(names),
        "criterion": cfg.criterion,
        "command": command,
        "summary": summary,
        "matrices": {
            m: {metric: grid[(m, metric)].tolist() for metric in MATRIX_METRICS} for m in methods
        },
    }
    atomic_write(out / "matrix.json", json.dumps(doc, indent=2, allow_nan=True))
    text = "\n".join(lines) + "\n"
    maps = [
        f'<figure><img src="{data_uri(out / f"matrix_{m}.png")}" alt="{escape(m)}: heatmap of '
        f'HTER, trained on (rows) by tested on (columns)"><figcaption>{escape(m)}</figcaption>'
        "</figure>"
        for m in methods
    ]
    body = [markdown_tables(text), "<h2>Heatmaps</h2>", *maps]
    atomic_write(out / REPORT_NAME, page("Cross-dataset matrix", body))
    return atomic_write(out / "matrix.md", text)


def _single_source_pairs(
    held: Mapping[str, Sequence[MethodResult]],
    single: Mapping[tuple[str, str], Sequence[MethodResult]],
    cfg: Config,
) -> list[dict]:
    """Per held-out set and method (audit rows aside), the union's fit paired with each source's
    own fit: A = trained on the union, B = trained on `source` alone."""
    alone = {(source, test, r.name): r for (source, test), rows in single.items() for r in rows}
    pairs = []
    for d, rows in held.items():
        for union in rows:
            if union.family == AUDIT_FAMILY:
                continue
            for source, test in single:
                if test != d:
                    continue
                other = alone[(source, test, union.name)]
                c = paired_comparison(union, other, cfg.n_boot, cfg.seed).to_dict()
                verdict = {"A better": "union better", "B better": f"{source} alone better"}
                c["verdict"] = verdict.get(c["verdict"], c["verdict"])
                auc = {"auc_a": union.metrics.get("auc"), "auc_b": other.metrics.get("auc")}
                pairs.append({"held_out": d, "source": source, **c, **auc})
    return pairs


def write_leave_one_out(
    out: Path,
    held: Mapping[str, Sequence[MethodResult]],
    cfg: Config,
    command: str,
    single: Mapping[tuple[str, str], Sequence[MethodResult]] | None = None,
) -> Path:
    """leave_one_out.md / .json under `out`; returns the .md path.

    single: results of the fits on one dataset alone, by (source, held-out dataset): each held-out
    set's union is then paired with each of its sources, method by method.
    """
    names = list(held)
    methods = [r.name for r in held[names[0]]]
    by = {(d, r.name): r for d, rows in held.items() for r in rows}
    families = {r.name: r.family for r in held[names[0]]}
    rows = []
    for m in methods:
        acer = [_num(by[(d, m)].metrics.get("acer")) for d in names]
        auc = [_num(by[(d, m)].metrics.get("auc")) for d in names]
        rows.append(
            {
                "method": m,
                "family": families[m],
                "acer": dict(zip(names, acer, strict=True)),
                "auc": dict(zip(names, auc, strict=True)),
                "mean_acer": float(np.nanmean(acer)),
                "mean_auc": float(np.nanmean(auc)),
            }
        )
    _rank(rows, "mean_acer")
    best = rows[0]["method"]
    others = [r["method"] for r in rows[1:] if r["family"] != AUDIT_FAMILY]
    paired = []
    for d in names:
        for m in others:
            c = paired_comparison(by[(d, best)], by[(d, m)], cfg.n_boot, cfg.seed)
            paired.append({"held_out": d, **c.to_dict()})
    for m in others:
        c = paired_mean_comparison(
            [by[(d, best)] for d in names], [by[(d, m)] for d in names], cfg.n_boot, cfg.seed
        )
        paired.append({"held_out": "mean", **c.to_dict()})
    lines = [
        "# Leave one dataset out",
        "",
        f"Command: `{command}`. For each column, every method is trained on the union of the "
        "other datasets (dev carved group-disjointly from the union"
        + (", every dataset carrying the same total sample weight" if cfg.balance_datasets else "")
        + f"; threshold criterion `{cfg.criterion}` on that dev set) and tested on the held-out "
        "dataset. ACER % (AUC), frame level.",
        "",
        "| Rank | Method | Family | " + " | ".join(f"held out: {d}" for d in names) + " | mean |",
        "|---|---|---|" + "--:|" * (len(names) + 1),
    ]
    for r in rows:
        cells = [f"{_pct(r['acer'][d])} ({r['auc'][d]:.3f})" for d in names]
        lines.append(
            f"| {r['rank'] or r['family']} | {r['method']} | {r['family']} | "
            + " | ".join(cells)
            + f" | {_pct(r['mean_acer'])} ({r['mean_auc']:.3f}) |"
        )
    lines += [
        "",
        f"## Paired comparisons: {best} (best mean ACER) against each other method",
        "",
        'On each held-out set, and on the mean over them ("mean": each set\'s groups resampled on '
        "their own, the differences averaged).",
        "",
        "| held out | other method | ACER difference (points) [95% CI] | verdict |",
        "|---|---|--:|---|",
    ]
    for c in paired:
        lo, hi = c["difference_ci"]
        lines.append(
            f"| {c['held_out']} | {c['b']} | {100 * c['difference']:+.2f} "
            f"[{100 * lo:+.2f}, {100 * hi:+.2f}] | {c['verdict']} |"
        )
    doc = {"held_out": names, "command": command, "rows": rows, "comparisons": paired}
    if single:
        doc["single_source"] = _single_source_pairs(held, single, cfg)
        lines += [
            "",
            "## Multi-source training: the union against each of its sources alone",
            "",
            "Each method trained on the union of the other datasets (as above) and on each of them "
            "alone (dev carved from that dataset; its threshold fixed there), tested on the same "
            "held-out presentations. ACER % (AUC); difference = union - alone, paired.",
            "",
            "| held out | method | trained on alone | alone | union | union - alone (points) "
            "[95% CI] | verdict |",
            "|---|---|---|--:|--:|--:|---|",
        ]
        for c in doc["single_source"]:
            lo, hi = c["difference_ci"]
            lines.append(
                f"| {c['held_out']} | {c['a']} | {c['source']} | {_pct(c['value_b'])} "
                f"({_num(c['auc_b']):.3f}) | {_pct(c['value_a'])} ({_num(c['auc_a']):.3f}) | "
                f"{100 * c['difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}] | "
                f"{c['verdict']} |"
            )
    atomic_write(out / "leave_one_out.json", json.dumps(doc, indent=2, allow_nan=True))
    text = "\n".join(lines) + "\n"
    atomic_write(out / REPORT_NAME, page("Leave one dataset out", [markdown_tables(text)]))
    return atomic_write(out / "leave_one_out.md", text)
