"""Figures of a comparison: ROC, DET, score histograms, ACER bars, ablation curves.

Every function builds and returns a `matplotlib.figure.Figure` on the Agg canvas without
touching pyplot, so nothing opens a window, no global figure state leaks between calls,
and the caller (`benchmarks.report`) decides where and how (atomically) to save it.
Conventions: label 1 = attack is the positive class; scores are attack scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import norm
from sklearn.metrics import det_curve, roc_curve

from benchmarks.scores import ScoreTable

AUDIT_FAMILY = "audit"
TRANSDUCTIVE_FAMILY = "transductive"
UNRANKED_FAMILIES = (AUDIT_FAMILY, TRANSDUCTIVE_FAMILY)
"""Rows of these families are shown but never ranked: the audit sees no face, a transductive
method uses the unlabelled test data."""
_DET_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 0.999)
_DET_CLIP = (_DET_TICKS[0], _DET_TICKS[-1])


@dataclass(frozen=True)
class ScoreSet:
    """Pooled test scores of one method: labels (1 = attack), attack scores, attack types."""

    labels: np.ndarray
    scores: np.ndarray
    attack_types: np.ndarray | None = None

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels).astype(int, copy=False).ravel()
        scores = np.asarray(self.scores, dtype=float).ravel()
        if labels.shape != scores.shape:
            raise ValueError(f"ScoreSet: {labels.size} labels but {scores.size} scores")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError(
                f"ScoreSet: labels must be 0 (bona fide) or 1 (attack), got {set(labels.tolist())}"
            )
        if not np.isfinite(scores).all():
            raise ValueError("ScoreSet: scores must be finite (found NaN or inf)")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "scores", scores)
        if self.attack_types is not None:
            types = np.asarray(self.attack_types, dtype=object).ravel()
            if types.shape != labels.shape:
                raise ValueError(f"ScoreSet: {types.size} attack types but {labels.size} labels")
            object.__setattr__(self, "attack_types", types)

    @property
    def has_both_classes(self) -> bool:
        return bool(np.any(self.labels == 1) and np.any(self.labels == 0))

    @classmethod
    def from_table(cls, table: ScoreTable) -> ScoreSet:
        """The test rows of a harness score table (`MethodResult.scores`), all folds pooled."""
        test = table.take(table.split == "test")
        if len(test) == 0:
            raise ValueError(f"{table.source}: no test rows")
        types = np.array([t or None for t in test.attack_type], dtype=object)
        return cls(labels=test.label, scores=test.score, attack_types=types)

    @classmethod
    def coerce(cls, value: ScoreSet | ScoreTable | Mapping[str, Any], name: str = "?") -> ScoreSet:
        """Accept a ScoreSet, a ScoreTable, or a mapping with labels, scores[, attack_types]."""
        if isinstance(value, ScoreSet):
            return value
        try:
            if isinstance(value, ScoreTable):
                return cls.from_table(value)
            return cls(value["labels"], value["scores"], value.get("attack_types"))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"scores of method {name!r}: {err}") from err


def _new_figure(width: float, height: float, constrained: bool = True) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def _style(index: int, family: str | None) -> dict[str, Any]:
    """Stable colour/line per position; audit rows grey and dashed, never mistaken for a method."""
    if family == AUDIT_FAMILY:
        return {"color": "0.45", "linestyle": "--"}
    colors = [f"C{i}" for i in range(10)]
    linestyles = ["-", "-.", ":"]
    return {"color": colors[index % 10], "linestyle": linestyles[(index // 10) % 3]}


def _no_data(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="0.4")


def roc_figure(scores: Mapping[str, ScoreSet], families: Mapping[str, str] | None = None) -> Figure:
    """All methods' ROC curves in one axes, attack as the positive class (TPR = 1 - APCER)."""
    families = families or {}
    fig = _new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.8", linewidth=0.8)
    for i, (name, s) in enumerate(scores.items()):
        if not s.has_both_classes:
            continue
        fpr, tpr, _ = roc_curve(s.labels, s.scores, pos_label=1)
        ax.plot(fpr, tpr, label=name, linewidth=1.4, **_style(i, families.get(name)))
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="BPCER (bona fide classified as attack)",
        ylabel="1 − APCER (attacks detected)",
        title="ROC (attack = positive class)",
    )
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    else:
        _no_data(ax, "no method has both classes in its test scores")
    return fig


def det_figure(scores: Mapping[str, ScoreSet], families: Mapping[str, str] | None = None) -> Figure:
    """DET curves (APCER vs BPCER) on normal-deviate axes, rates clipped to [0.1 %, 99.9 %]."""
    families = families or {}
    fig = _new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    for i, (name, s) in enumerate(scores.items()):
        if not s.has_both_classes:
            continue
        bpcer, apcer, _ = det_curve(s.labels, s.scores, pos_label=1)
        x = norm.ppf(np.clip(apcer, *_DET_CLIP))
        y = norm.ppf(np.clip(bpcer, *_DET_CLIP))
        ax.plot(
            x, y, label=name, linewidth=1.4, drawstyle="steps-post", **_style(i, families.get(name))
        )
    ticks = norm.ppf(_DET_TICKS)
    labels = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.plot(ticks[[0, -1]], ticks[[0, -1]], color="0.8", linewidth=0.8)  # EER line
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set(
        xlim=ticks[[0, -1]],
        ylim=ticks[[0, -1]],
        xlabel="APCER (%)",
        ylabel="BPCER (%)",
        title="DET (normal-deviate scale)",
    )
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper right")
    else:
        _no_data(ax, "no method has both classes in its test scores")
    return fig


def histogram_figure(
    scores: Mapping[str, ScoreSet],
    thresholds: Mapping[str, Sequence[float]],
    bins: int = 30,
) -> Figure:
    """One panel per method: bona fide vs attack score histograms, dev threshold(s) as lines.

    `thresholds` holds per method its dev threshold, or one per fold when they differ (the
    pooled test scores of each fold were judged at that fold's threshold).
    """
    n = max(len(scores), 1)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    height = 1.0 + 2.3 * nrows  # margins in inches: legend on top, shared x label below
    fig = _new_figure(3.2 * ncols, height, constrained=False)
    fig.subplots_adjust(
        left=0.06,
        right=0.98,
        bottom=0.5 / height,
        top=1 - 0.6 / height,
        hspace=0.45,
        wspace=0.25,
    )
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, s) in zip(axes, scores.items(), strict=False):
        edges = np.histogram_bin_edges(s.scores, bins=bins)
        counts = []
        for label, color, text in ((0, "C2", "bona fide"), (1, "C3", "attack")):
            values = s.scores[s.labels == label]
            counts.append(values.size)
            if values.size:
                ax.hist(
                    values, bins=edges, histtype="stepfilled", color=color, alpha=0.55, label=text
                )
        lines = thresholds.get(name, ())
        label = "dev threshold" if len(lines) == 1 else "dev threshold of each fold"
        for t in lines:
            ax.axvline(t, color="k", linestyle="--", linewidth=1, label=label)
        ax.set_title(f"{name}  (n = {counts[0]} / {counts[1]})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(scores) :]:
        ax.set_axis_off()
    if scores:
        handles = {h.get_label(): h for ax in axes for h in ax.get_legend_handles_labels()[0]}
        fig.legend(handles.values(), handles.keys(), loc="upper center", ncols=3, fontsize=8)
        fig.supxlabel("attack score (n = bona fide / attack)", fontsize=8)
    else:
        _no_data(axes[0], "no scores")
    return fig


def _ci_errors(rows: Sequence[Mapping[str, Any]], key: str = "acer") -> np.ndarray:
    """Asymmetric error bars (2, N) from `<key>_ci`; zero where a row has no CI."""
    err = np.zeros((2, len(rows)))
    for j, row in enumerate(rows):
        ci = row.get(f"{key}_ci")
        value = row.get(key)
        if ci is not None and value is not None and len(ci) == 2 and np.all(np.isfinite(ci)):
            err[0, j] = max(value - ci[0], 0.0)
            err[1, j] = max(ci[1] - value, 0.0)
    return err


def acer_bar_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Horizontal ACER bars (in %, best on top) with 95 % CI whiskers; unranked rows hatched."""
    fig = _new_figure(6.4, 1.2 + 0.35 * max(len(rows), 1))
    ax = fig.add_subplot()
    acer = np.array([float(r["acer"]) for r in rows])
    y = np.arange(len(rows))
    colors = [
        "0.7" if r.get("family") in UNRANKED_FAMILIES else f"C{i % 10}" for i, r in enumerate(rows)
    ]
    hatches = ["//" if r.get("family") in UNRANKED_FAMILIES else "" for r in rows]
    bars = ax.barh(y, 100 * acer, xerr=100 * _ci_errors(rows), color=colors, capsize=3)
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    ax.set_yticks(y, [str(r["name"]) for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ACER (%) with 95 % CI")
    ax.set_title("ACER per method (hatched: unranked audit / transductive rows)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def ablation_figure(
    rows: Sequence[Mapping[str, Any]],
    variable_label: str,
    title: str,
) -> Figure:
    """ACER with 95 % CI per variant: a line per series when the variable is numeric, else bars.

    Each row carries `variant` (the variable's value) and optionally `series` (one line each,
    e.g. one method per line of a learning curve).
    """
    numeric = bool(rows) and all(is_number(r["variant"]) for r in rows)
    fig = _new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    if numeric:
        series: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            series.setdefault(str(r.get("series") or ""), []).append(r)
        for i, (label, members) in enumerate(series.items()):
            members = sorted(members, key=lambda r: float(r["variant"]))
            x = [float(r["variant"]) for r in members]
            acer = np.array([float(r["acer"]) for r in members])
            ax.errorbar(
                x,
                100 * acer,
                yerr=100 * _ci_errors(members),
                marker="o",
                capsize=3,
                label=label or None,
                **_style(i, None),
            )
        if len(series) > 1 or next(iter(series)):
            ax.legend(fontsize=7)
    else:
        labels = [
            f"{r['series']}: {r['variant']}" if r.get("series") else str(r["variant"]) for r in rows
        ]
        x = np.arange(len(rows))
        acer = np.array([float(r["acer"]) for r in rows])
        ax.bar(x, 100 * acer, yerr=100 * _ci_errors(rows), capsize=3, color="C0")
        ax.set_xticks(
            x,
            labels,
            rotation=30 if len(rows) > 4 else 0,
            ha="right" if len(rows) > 4 else "center",
        )
    ax.set_xlabel(variable_label)
    ax.set_ylabel("ACER (%) with 95 % CI")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def is_number(value: Any) -> bool:
    """A real number (bools and strings excluded): decides line plot vs bar chart."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
