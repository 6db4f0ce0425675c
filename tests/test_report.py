"""Report writers on hand-made results and scores (no images): files, schema, text, plots."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import norm
from sklearn.base import BaseEstimator

from benchmarks import columns, plots
from benchmarks.harness import evaluate_method, paired_comparison
from benchmarks.plots import ScoreSet
from benchmarks.report import SYNTHETIC_BANNER, tex_escape, write_ablation, write_comparison
from features.files import atomic_write
from features.records import Presentation, Skipped

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(name: str, family: str, acer: float, **extra: object) -> dict:
    """A MethodResult.to_dict()-like row whose rates are consistent fractions."""
    apcer = {"print": min(1.0, acer * 1.2), "replay": acer * 0.8}
    row = {
        "name": name,
        "family": family,
        "threshold": 0.25,
        "criterion": "eer",
        "apcer": apcer,
        "apcer_max": max(apcer.values()),
        "apcer_pooled": acer,
        "bpcer": acer * 0.8,
        "acer": acer,
        "hter": acer,
        "eer": acer * 0.9,
        "auc": 1 - acer,
        "bpcer10": acer,
        "bpcer20": min(1.0, acer * 1.5),
        "bpcer100": min(1.0, acer * 3),
        "n_bonafide": 40,
        "n_attack": 60,
        "acer_std": 0.01,
        "acer_ci": [max(0.0, acer - 0.02), acer + 0.02],
        "fit_seconds": 2.5,
        "ms_per_image": 1.25,
        "n_folds": 5,
    }
    row.update(extra)
    return row


def _scores(separation: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(40, int), np.ones(60, int)]
    types = np.array([None] * 40 + ["print"] * 30 + ["replay"] * 30, dtype=object)
    return {
        "labels": labels,
        "scores": rng.normal(size=100) + separation * labels,
        "attack_types": types,
    }


RESULTS = [
    _row("cnn_small", "cnn", 0.08),
    _row("lbp_svm", "handcrafted", 0.05),
    _row("fusion", "hybrid", 0.12),
    _row("metadata_audit", "audit", 0.40),
]
SCORES = {r["name"]: _scores(3 - 5 * r["acer"], i) for i, r in enumerate(RESULTS)}
COMPARISONS = [
    {
        "a": "lbp_svm",
        "b": "cnn_small",
        "difference": -0.03,
        "difference_ci": [-0.05, -0.01],
        "verdict": "A better",
    }
]
PROVENANCE = {
    "dataset": "seed600",
    "dataset_hash": "0123abcd",
    "n_samples": 100,
    "skipped": [Skipped(Path(f"Spoof/{i}.jpg"), "truncated JPEG") for i in range(23)],
    "n_skipped": 23,
    "faces_found": {"found": 97, "total": 100},
    "protocol": "kfold",
    "seed": 0,
    "packages": {"numpy": np.__version__},
    "git_commit": "deadbeef",
    "command": ["python", "-m", "benchmarks.run"],
    "started": "2026-01-01T00:00:00",
    "finished": "2026-01-01T00:05:00",
    "synthetic": False,
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("report")
    return out, write_comparison(out, RESULTS, SCORES, COMPARISONS, PROVENANCE)


def _md_without_scores(tmp_path: Path, results: list[dict], **kwargs: object) -> str:
    files = write_comparison(tmp_path, results, provenance=PROVENANCE, **kwargs)
    return files["md"].read_text("utf-8")


def test_every_file_is_written_and_json_has_the_schema(report):
    out, files = report
    expected = {"comparison.md", "comparison.tex", "comparison.csv", "comparison.json"}
    expected |= {"roc.png", "det.png", "score_histograms.png", "acer_bar.png", "report.html"}
    assert {p.name for p in out.iterdir()} == expected
    assert {p.name for p in files.values()} == expected
    doc = json.loads(files["json"].read_text("utf-8"))
    assert {"methods", "comparisons", "provenance", "conventions", "synthetic"} <= set(doc)
    assert doc["synthetic"] is False and doc["note"] is None
    assert [m["name"] for m in doc["methods"]] == [
        "lbp_svm",
        "cnn_small",
        "fusion",
        "metadata_audit",
    ]
    lbp = doc["methods"][0]
    assert lbp["acer"] == pytest.approx(0.05) and lbp["apcer"]["print"] == pytest.approx(0.06)
    assert lbp["acer_ci"] == pytest.approx([0.03, 0.07])
    assert doc["comparisons"][0]["verdict"] == "A better"
    assert doc["provenance"]["n_skipped"] == 23 and doc["provenance"]["packages"]["numpy"]
    assert doc["provenance"]["skipped"][22] == {"path": "Spoof/22.jpg", "reason": "truncated JPEG"}
    assert doc["summary"]["best"] == "lbp_svm" and doc["summary"]["runner_up"] == "cnn_small"
    assert doc["summary"]["significant"] is True and doc["summary"]["warnings"] == []
    assert set(doc["plots"].values()) == {
        "roc.png",
        "det.png",
        "score_histograms.png",
        "acer_bar.png",
    }


def test_markdown_states_conventions_table_best_method_and_data(report):
    md = report[1]["md"].read_text("utf-8")
    for phrase in (
        "label 1 = attack",
        "attack when score >= threshold",
        "eer criterion",
        "maximum over attack types (ISO/IEC 30107-3)",
        "pooled shown separately",
        "not an ISO/IEC 30107-3 metric",
        "at the dev threshold",
    ):
        assert phrase in md
    table = [line for line in md.splitlines() if line.startswith("| ")]
    names = [line.split("|")[2].strip() for line in table[1:5]]
    assert names == [r"lbp\_svm", r"cnn\_small", "fusion", r"*metadata\_audit*"]  # by ACER
    lbp = table[1]
    assert "| 1 |" in lbp and "5.00 ± 1.00 [3.00, 7.00]" in lbp and "0.9500" in lbp
    assert table[4].startswith("| audit |")
    assert "## APCER per attack type" in md and "| print | replay |" in md.replace(r"\_", "_")
    assert "**Best liveness method: lbp\\_svm**" in md
    assert "The lead is **significant**" in md and "lbp\\_svm better" in md
    assert "WARNING" not in md
    for png in ("roc.png", "det.png", "score_histograms.png", "acer_bar.png"):
        assert f"]({png})" in md
    assert "Skipped files: 23" in md
    assert "Spoof/19.jpg: truncated JPEG" in md and "Spoof/20.jpg" not in md
    assert "… and 3 more" in md
    assert "Faces found: found: 97, total: 100" in md
    assert "deadbeef" in md and "python -m benchmarks.run" in md


@pytest.mark.parametrize(
    ("audit_acer", "margin", "warned"),
    [(0.09, 0.05, True), (0.04, 0.05, True), (0.11, 0.05, False), (0.11, 0.10, True)],
)
def test_audit_warning_only_when_the_audit_is_close(tmp_path, audit_acer, margin, warned):
    results = [_row("lbp_svm", "handcrafted", 0.05), _row("meta", "audit", audit_acer)]
    md = _md_without_scores(tmp_path, results, audit_margin=margin)
    assert ("gives away the label without looking at a face" in md) is warned
    assert ("WARNING" in md) is warned
    doc = json.loads((tmp_path / "comparison.json").read_text("utf-8"))
    assert bool(doc["summary"]["warnings"]) is warned


def test_lead_significance_comes_from_the_comparison_interval(tmp_path):
    results = [_row("a", "cnn", 0.05), _row("b", "handcrafted", 0.06), _row("c", "hybrid", 0.2)]
    noisy = {
        "a": "b",
        "b": "a",
        "difference": 0.01,
        "difference_ci": [-0.02, 0.04],
        "verdict": "within noise",
    }
    md = _md_without_scores(tmp_path, results, comparisons=[noisy])
    assert "**Best liveness method: a**" in md and "Runner-up: b" in md
    assert "The lead is **not significant**" in md and "within noise" in md
    md = _md_without_scores(tmp_path, results)
    assert "not tested" in md and "**significant**" not in md


def test_tex_is_escaped_booktabs(tmp_path):
    files = write_comparison(
        tmp_path, RESULTS, provenance=PROVENANCE, title="train seed_600 -> test nuaa (100%)"
    )
    tex = files["tex"].read_text("utf-8")
    lines = tex.splitlines()
    for command in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert lines.count(command) == 1
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert r"lbp\_svm" in tex and r"\textit{metadata\_audit}" in tex
    assert r"train seed\_600 $\rightarrow$ test nuaa (100\%)" in tex
    code = [line for line in lines if not line.startswith("%")]
    for line in code:
        assert not re.search(r"(?<!\\)[_%]", line), line  # every _ and % escaped
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    header = lines[lines.index(r"\toprule") + 1]
    n_columns = len(re.search(r"\\begin\{tabular\}\{(\w+)\}", tex).group(1))
    for row in [header, *body]:
        assert row.endswith(r"\\") and len(re.findall(r"(?<!\\)&", row)) == n_columns - 1
    assert len(body) == len(RESULTS)
    assert body[0].startswith(r"1 & lbp\_svm & handcrafted & 6.00 & 4.00 & 5.00 $\pm$ 1.00")


def test_csv_has_one_row_per_method_with_fractions(report):
    with report[1]["csv"].open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["lbp_svm", "cnn_small", "fusion", "metadata_audit"]
    lbp = rows[0]
    assert float(lbp["acer"]) == pytest.approx(0.05)
    assert float(lbp["apcer.replay"]) == pytest.approx(0.04)
    assert float(lbp["acer_ci_lo"]) == pytest.approx(0.03)
    assert float(lbp["acer_ci_hi"]) == pytest.approx(0.07)
    assert lbp["note"] == "" and lbp["family"] == "handcrafted"


def test_synthetic_banner_in_every_output(tmp_path):
    provenance = {**PROVENANCE, "synthetic": True}
    files = write_comparison(tmp_path, RESULTS, provenance=provenance)
    md = files["md"].read_text("utf-8")
    assert SYNTHETIC_BANNER in md.splitlines()[0]
    tex = files["tex"].read_text("utf-8")
    assert tex.splitlines()[0] == "% SYNTHETIC DEMO DATA --- not a real result"
    assert r"\caption{\textbf{SYNTHETIC DEMO DATA --- not a real result.}" in tex
    with files["csv"].open(newline="", encoding="utf-8") as f:
        assert {r["note"] for r in csv.DictReader(f)} == {SYNTHETIC_BANNER}
    doc = json.loads(files["json"].read_text("utf-8"))
    assert doc["synthetic"] is True and doc["note"] == SYNTHETIC_BANNER
    ablation = write_ablation(tmp_path, "kernel", RESULTS[:2], "kernel", provenance=provenance)
    assert SYNTHETIC_BANNER in ablation["md"].read_text("utf-8").splitlines()[0]
    assert json.loads(ablation["json"].read_text("utf-8"))["synthetic"] is True


def test_no_banner_for_real_data(report):
    for kind in ("md", "tex", "csv", "json"):
        text = report[1][kind].read_text("utf-8")
        assert "SYNTHETIC" not in text


def test_plots_are_real_pngs(report):
    out, files = report
    for kind in ("roc", "det", "score_histograms", "acer_bar"):
        data = files[kind].read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_only_the_bar_chart_without_scores(tmp_path):
    files = write_comparison(tmp_path, RESULTS)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["acer_bar.png"]
    assert "roc.png" not in files["md"].read_text("utf-8")


def test_curves_use_attack_as_positive_and_apcer_on_the_det_x_axis():
    perfect = ScoreSet(labels=[0, 0, 1, 1], scores=[0.1, 0.2, 0.8, 0.9])
    # Attacks all score low: at any threshold that rejects no bona fide, every attack passes.
    inverted = ScoreSet(labels=[0, 0, 1, 1, 1], scores=[0.8, 0.9, 0.1, 0.2, 0.3])
    roc = plots.roc_figure({"perfect": perfect}).axes[0]
    fpr, tpr = roc.get_lines()[-1].get_data()
    assert any(f == 0 and t == 1 for f, t in zip(fpr, tpr, strict=True))
    det = plots.det_figure({"inverted": inverted}).axes[0]
    apcer, bpcer = (norm.cdf(v) for v in det.get_lines()[0].get_data())
    # BPCER 0 is only reached with APCER 100 % (clipped to 99.9 %): x must be APCER.
    assert apcer[np.argmin(bpcer)] == pytest.approx(0.999)


def test_histograms_one_panel_per_method_with_the_dev_threshold():
    scores = {name: ScoreSet.coerce(s, name) for name, s in SCORES.items()}
    fig = plots.histogram_figure(scores, {"lbp_svm": [0.25], "fusion": [-0.5, 0.5]})
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title().split()[0] for ax in panels] == list(SCORES)
    lbp_lines = panels[list(SCORES).index("lbp_svm")].get_lines()
    assert [line.get_xdata()[0] for line in lbp_lines] == [0.25]
    fusion_lines = panels[list(SCORES).index("fusion")].get_lines()
    assert [line.get_xdata()[0] for line in fusion_lines] == [-0.5, 0.5]  # one per fold
    assert not panels[list(SCORES).index("cnn_small")].get_lines()
    assert "n = 40 / 60" in panels[0].get_title()


def test_ablation_numeric_variable_gives_sorted_line_plot(tmp_path):
    results = [
        _row(f"lbp_r{r}", "handcrafted", acer, variant=r)
        for r, acer in [(3, 0.07), (1, 0.10), (2, 0.06)]
    ]
    files = write_ablation(tmp_path, "lbp_radius", results, "LBP radius")
    assert {p.name for p in files.values()} == {
        f"ablation_lbp_radius.{ext}" for ext in ("md", "csv", "json", "png")
    }
    doc = json.loads(files["json"].read_text("utf-8"))
    assert doc["numeric"] is True and [v["variant"] for v in doc["variants"]] == [1, 2, 3]
    md = files["md"].read_text("utf-8")
    assert "Lowest ACER: lbp\\_r2 (LBP radius = 2), 6.00 %" in md
    assert "](ablation_lbp_radius.png)" in md
    assert files["png"].read_bytes()[:8] == PNG_MAGIC
    with files["csv"].open(newline="", encoding="utf-8") as f:
        assert [r["variant"] for r in csv.DictReader(f)] == ["1", "2", "3"]


def test_ablation_categorical_variable_keeps_order_and_draws_bars(tmp_path):
    results = [_row(n, "handcrafted", 0.1, variant=n) for n in ("grey", "rgb", "hsv_ycbcr")]
    files = write_ablation(tmp_path, "colour", results, "colour space")
    doc = json.loads(files["json"].read_text("utf-8"))
    assert doc["numeric"] is False
    assert [v["variant"] for v in doc["variants"]] == ["grey", "rgb", "hsv_ycbcr"]
    fig = plots.ablation_figure(doc["variants"], "colour space", "t")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["grey", "rgb", "hsv_ycbcr"]
    with pytest.raises(ValueError, match="ablation name"):
        write_ablation(tmp_path, "../escape", results, "colour space")


def test_existing_files_are_replaced_identically_and_no_temp_files_remain(tmp_path):
    (tmp_path / "comparison.md").write_text("old table")
    (tmp_path / "acer_bar.png").write_bytes(b"not a png")
    files = write_comparison(tmp_path, RESULTS[:2])
    assert (tmp_path / "comparison.md").read_text("utf-8").startswith("# ")
    assert (tmp_path / "acer_bar.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    first = {kind: path.read_bytes() for kind, path in files.items()}
    again = write_comparison(tmp_path, RESULTS[:2])
    assert {kind: path.read_bytes() for kind, path in again.items()} == first  # deterministic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "comparison.json"
    target.write_text("previous complete file")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new")
    assert target.read_text() == "previous complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["comparison.json"]


@pytest.mark.parametrize(
    ("results", "scores", "message"),
    [
        (
            [{**_row("x", "handcrafted", 0.1), "acer": 12.0}],
            None,
            r"'x'.*acer=12.0 is not a fraction",
        ),
        ([_row("x", "svm", 0.1)], None, "family must be one of"),
        ([_row("x", "cnn", 0.1), _row("x", "cnn", 0.2)], None, "'x' appears twice"),
        ([_row("x", "cnn", float("nan"))], None, "acer is missing"),
        ([_row("x", "cnn", 0.1, apcer={"print": 40})], None, r"print=40 is not a fraction"),
        ([_row("x", "cnn", 0.1)], {"y": SCORES["lbp_svm"]}, r"without a result row: \['y'\]"),
        ([_row("x", "cnn", 0.1)], {"x": {"labels": [0, 1], "scores": [0.5]}}, "2 labels but 1"),
        ([_row("x", "cnn", 0.1)], {"x": {"labels": [0, 2], "scores": [0, 1]}}, "labels must be"),
        ([], None, "no method results"),
        (RESULTS, None, "comparison of 'lbp_svm' and 'gone': not both have a result row"),
    ],
)
def test_bad_input_is_refused_naming_what_is_wrong(tmp_path, results, scores, message):
    comparisons = [{**COMPARISONS[0], "b": "gone"}]
    with pytest.raises(ValueError, match=message):
        write_comparison(tmp_path, results, scores, comparisons)
    assert not list(tmp_path.iterdir())  # refused before anything is written


class _ExtraScore(BaseEstimator):
    """Scores a record by a number stored in it: known answers without any image."""

    def __init__(self, key: str = "x") -> None:
        self.key = key

    def fit(self, X: np.ndarray, y: np.ndarray) -> _ExtraScore:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.array([float(r.extra[self.key]) for r in X])


@dataclass(frozen=True)
class _Fold:
    index: int
    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray


def test_real_harness_results_feed_the_writers(tmp_path):
    """MethodResult/MethodComparison.to_dict() and score tables go in as they come."""
    rng = np.random.default_rng(1)
    n = 90
    labels = np.arange(n) % 2
    extra = {
        "good": labels * 3.0 + rng.normal(size=n),
        "weak": labels * 0.8 + rng.normal(size=n),
        "meta": labels * 0.2 + rng.normal(size=n),
    }
    records = [
        Presentation(
            id=f"{i}.jpg",
            path=Path(f"{i}.jpg"),
            label=int(labels[i]),
            sha256=f"{i:064x}",
            attack_type=("print", "replay")[i % 4 // 2] if labels[i] else None,
            extra={k: str(v[i]) for k, v in extra.items()},
        )
        for i in range(n)
    ]
    parts = np.array_split(np.arange(n), 3)
    folds = [_Fold(k, parts[(k + 2) % 3], parts[(k + 1) % 3][::3], parts[k]) for k in range(3)]
    results = [
        evaluate_method(
            _ExtraScore(key),
            records,
            folds,
            key,
            family,
            progress=False,
            groups=[r.id for r in records],
            n_boot=100,
        )
        for key, family in (("good", "cnn"), ("weak", "handcrafted"), ("meta", "audit"))
    ]
    comparison = paired_comparison(results[0], results[1], n_boot=100)
    files = write_comparison(
        tmp_path,
        [r.to_dict() for r in results],
        {r.name: r.scores for r in results},
        [comparison.to_dict()],
        PROVENANCE,
        boxes={r.id: (1, 2, 30, 40) for r in records},
    )
    doc = json.loads(files["json"].read_text("utf-8"))
    weak = doc["errors"]["weak"]  # scores by fold-wise dev thresholds, as the metrics count them
    assert weak["n_false_rejects"] == round(results[1].metrics["pooled"]["bpcer"] * 45)
    assert weak["false_rejects"] and all(c["box"] == [1, 2, 30, 40] for c in weak["false_rejects"])
    assert "face box (x, y, w, h) 1, 2, 30, 40" in files["html"].read_text("utf-8")
    assert [m["name"] for m in doc["methods"]] == ["good", "weak", "meta"]
    assert doc["summary"]["best"] == "good"
    assert doc["summary"]["significant"] == (comparison.verdict != "within noise")
    md = files["md"].read_text("utf-8")
    fit = np.mean(results[0].fit_seconds)
    assert "| 1 | good | cnn | " in md and f"| {fit:.1f} |" in md
    with files["csv"].open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["acer"]) == pytest.approx(results[0].metrics["acer"])
    assert not [c for c in rows[0] if c.startswith(("conventions", "folds"))]
    scores = ScoreSet.coerce(results[0].scores)
    assert scores.labels.size == n  # every record is a test row in exactly one fold


def _md_rows(md: str, header_start: str) -> list[list[str]]:
    """The unescaped cells of the Markdown table whose header line starts with `header_start`."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        table.append([re.sub(r"\\(.)", r"\1", c.strip()) for c in cells])
    return [table[0], *table[2:]]  # without the alignment row


def test_every_format_shows_the_columns_of_the_one_column_list(tmp_path):
    """Markdown, LaTeX, CSV and ablation tables take headers and cells from `columns`."""
    rows = [
        _row("lbp_svm", "handcrafted", 0.05),
        _row("cnn [v2]", "cnn", 0.08, acer_ci=None, ms_per_image=None),
        _row("meta", "audit", 0.40),
    ]
    ranked = columns.with_ranks(rows, {"lbp_svm": 1, "cnn [v2]": 2})
    files = write_comparison(tmp_path, rows)
    main = columns.columns(columns.MAIN)
    header, *body = _md_rows(files["md"].read_text("utf-8"), "| Rank")
    assert header == [c.header for c in main]
    assert body[2][1] == "*meta*" and body[2][0] == "audit"  # the audit row, marked
    body[2][1] = "meta"
    assert body == [[c.cell(r) for c in main] for r in ranked]
    assert body[1][main.index(columns.COLUMNS["ms_per_image"])] == "–"

    tex = files["tex"].read_text("utf-8").splitlines()
    tex_cols = columns.columns(columns.MAIN_TEX)
    top = tex.index(r"\toprule")
    assert tex[top - 1] == r"\begin{tabular}{" + "".join(c.align for c in tex_cols) + "}"
    assert tex[top + 1] == " & ".join(tex_escape(c.latex_header()) for c in tex_cols) + r" \\"
    tex_body = [line.removesuffix(r" \\").split(" & ") for line in tex[top + 3 : top + 6]]
    assert tex_body == [
        [
            rf"\textit{{{tex_escape(r['name'])}}}"
            if c.key == "name" and r["family"] == "audit"
            else tex_escape(c.latex_cell(r))
            for c in tex_cols
        ]
        for r in ranked
    ]
    for key in ("rank", "apcer_max", "bpcer", "hter", "eer", "auc", "bpcer20"):
        md_cells = [cells[main.index(columns.COLUMNS[key])] for cells in body]
        tex_cells = [cells[tex_cols.index(columns.COLUMNS[key])] for cells in tex_body]
        assert md_cells[:2] == tex_cells[:2], key  # same numbers in both formats

    with files["csv"].open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[: 1 + len(columns.CSV)] == ["note", *columns.CSV]

    ablation = write_ablation(tmp_path, "kernel", rows[:2], "SVM kernel")
    header, *body = _md_rows(ablation["md"].read_text("utf-8"), "| SVM kernel")
    cols = columns.ablation_columns("SVM kernel", with_series=False)
    assert [c.key for c in cols] == [k for k in columns.ABLATION if k != "series"]
    assert header == [c.header for c in cols]
    assert body == [[c.cell({**r, "variant": r["name"]}) for c in cols] for r in rows[:2]]


def test_html_report_escapes_every_text_and_embeds_the_plots(tmp_path):
    hostile = "<img src=x onerror=alert(1)>&"
    results = [_row(hostile, "cnn", 0.05), _row("lbp", "handcrafted", 0.07)]
    provenance = {**PROVENANCE, "command": "run --title '<script>'"}
    files = write_comparison(
        tmp_path, results, {hostile: SCORES["lbp_svm"]}, provenance=provenance, title="a < b"
    )
    html = files["html"].read_text("utf-8")
    assert hostile not in html and "<script>'" not in html and "a < b" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;" in html and "<title>a &lt; b</title>" in html
    assert html.count("<script>") == 1  # the page's own
    for png in ("acer_bar", "roc", "det", "score_histograms"):
        assert re.search(
            rf'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" [^>]*data-plot="{png}"', html
        )
    # No score table, no gallery: ScoreSets carry no file paths.
    assert 'class="gallery"' not in html and "no gallery" in html
