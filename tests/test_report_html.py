"""report.html of a small real run, opened in headless Chromium: table, plots, gallery, sorting."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.report import write_ablation
from benchmarks.run import main
from benchmarks.scores import read_scores

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
CONFIG = """
[protocol]
n_boot = 50

[params.lbp-lr]
clf__C = [1.0]
clf__inner_splits = 2
"""
METHODS = ("lbp-lr", "metadata-audit")


@pytest.fixture(scope="module")
def run_dir(seed_subset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`benchmarks.run` on 50 real seed600 images, then an ablation written beside it."""
    tmp = tmp_path_factory.mktemp("html-run")
    (tmp / "fast.toml").write_text(CONFIG, encoding="utf-8")
    out = tmp / "out"
    argv = ["--data", seed_subset_dir, "--methods", *METHODS, "--folds", 2, "--out", out]
    argv += ["--no-progress", "--config", tmp / "fast.toml"]
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        assert main([str(a) for a in argv]) == 0
    doc = json.loads((out / "comparison.json").read_text("utf-8"))
    rows = [{**m, "variant": m["name"]} for m in doc["methods"]]
    write_ablation(out / "ablations", "method_choice", rows, "method")
    return out


class _Dom(HTMLParser):
    """Elements of a dumped DOM as (tag, attributes, text inside) in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[list[str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        texts: list[str] = []
        self.elements.append((tag, {k: v or "" for k, v in attrs}, texts))
        if tag not in ("img", "meta", "br", "input", "link"):
            self._open.append(texts)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for texts in self._open:
            texts.append(data)

    def find(self, tag: str, **attrs: str) -> list[tuple[dict[str, str], str]]:
        return [
            (a, "".join(t))
            for name, a, t in self.elements
            if name == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("no chromium binary found (apt-get install chromium)")
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _dom(page: Path, profile: Path) -> _Dom:
    uri = page.absolute().as_uri()
    return _Dom(_chromium(profile, "--virtual-time-budget=10000", "--dump-dom", uri).stdout)


def _rows(dom: _Dom) -> list[list[str]]:
    """The body rows of the results table, as cell texts (the row header included)."""
    start = next(i for i, (_, a, _) in enumerate(dom.elements) if a.get("id") == "results-table")
    body = next(i for i in range(start, len(dom.elements)) if dom.elements[i][0] == "tbody")
    rows: list[list[str]] = []
    for tag, _, texts in dom.elements[body + 1 :]:
        if tag == "tr":
            rows.append([])
        elif tag in ("th", "td"):
            rows[-1].append("".join(texts).strip())
        else:
            break
    return rows


def test_the_report_renders_in_chromium_with_table_plots_gallery_and_ablation(
    run_dir: Path, tmp_path: Path
) -> None:
    page = run_dir / "report.html"
    dom = _dom(page, tmp_path / "profile")
    doc = json.loads((run_dir / "comparison.json").read_text("utf-8"))

    table = _rows(dom)
    assert [r[1] for r in table] == [m["name"] for m in doc["methods"]]  # by ACER
    acer = {m["name"]: f"{100 * m['acer']:.2f}" for m in doc["methods"]}
    assert all(r[5].startswith(acer[r[1]] + " ± ") for r in table)
    # The inline script ran: every header of the sortable tables became a button.
    headers = [t for a, t in dom.find("th", scope="col")]
    assert "ACER (%) ± std [95 % CI]" in headers and dom.find("button", type="button")

    plots = dom.find("img", data_plot="roc")
    assert plots and plots[0][0]["src"].startswith("data:image/png;base64,")
    assert {a["data-plot"] for a, _ in dom.find("img") if "data-plot" in a} == set(doc["plots"])

    body = dom.find("body")[0][0]
    n_images = sum(
        len(e["false_rejects"]) + len(e["false_accepts"]) for e in doc["errors"].values()
    )
    assert n_images > 0
    assert body["data-gallery-images"] == body["data-gallery-loaded"] == str(n_images)
    gallery = [a for a, _ in dom.find("img") if "data-kind" in a]
    assert all(not Path(a["src"]).is_absolute() and a["alt"] for a in gallery)
    assert all((run_dir / a["src"]).resolve().is_file() for a in gallery)

    assert any("method_choice (method)" in t for _, t in dom.find("summary"))
    assert dom.find("table", id="results-table")

    shot = tmp_path / "shot.png"
    _chromium(
        tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()
    )
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (1280, 2000)


def test_without_the_data_the_gallery_still_names_the_files(run_dir: Path, tmp_path: Path):
    """Moved away from the dataset, the relative links break; the names stay readable."""
    elsewhere = tmp_path / "a" / "b" / "c" / "d" / "e"
    elsewhere.mkdir(parents=True)
    shutil.copy(run_dir / "report.html", elsewhere / "report.html")
    dom = _dom(elsewhere / "report.html", tmp_path / "profile")
    body = dom.find("body")[0][0]
    assert body["data-gallery-loaded"] == "0" and int(body["data-gallery-images"]) > 0
    status = dom.find("p", id="gallery-status")[0][1]
    assert status.startswith("0 of ") and "shown by file name" in status
    doc = json.loads((run_dir / "comparison.json").read_text("utf-8"))
    names = [t for _, t in dom.find("strong")]
    for case in doc["errors"]["lbp-lr"]["false_rejects"]:
        assert case["sample_id"] in names


def test_clicking_a_header_sorts_the_table(run_dir: Path, tmp_path: Path) -> None:
    """The page's own script, driven by a click on the AUC header (twice: descending)."""
    html = (run_dir / "report.html").read_text("utf-8")
    click = (
        '<script>var b = [...document.querySelectorAll("#results-table th button")]'
        '.find(x => x.textContent === "AUC"); b.click(); b.click();</script>'
    )
    page = run_dir / "sorted.html"  # beside the report, so its relative links still work
    page.write_text(html.replace("</body>", click + "</body>"), "utf-8")
    dom = _dom(page, tmp_path / "profile")
    auc = [float(r[8]) for r in _rows(dom)]
    assert auc == sorted(auc, reverse=True) and len(auc) == len(METHODS)
    assert dom.find("th", scope="col", aria_sort="descending")[0][1] == "AUC"


def test_the_page_is_self_contained(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text("utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script src" not in html and "@import" not in html
    assert "url(" not in html.split("<style>")[1].split("</style>")[0]
    doc = json.loads((run_dir / "comparison.json").read_text("utf-8"))
    assert f"<title>{doc['title']}</title>" in html


def test_error_counts_match_the_pooled_rates_and_the_worst_come_first(run_dir: Path) -> None:
    doc = json.loads((run_dir / "comparison.json").read_text("utf-8"))
    for m in doc["methods"]:
        e = doc["errors"][m["name"]]
        pooled = m["pooled"]
        assert e["n_bonafide"] == pooled["n_bonafide"] and e["n_attack"] == pooled["n_attack"]
        assert e["n_false_rejects"] == round(pooled["bpcer"] * pooled["n_bonafide"])
        assert e["n_false_accepts"] == round(pooled["apcer_pooled"] * pooled["n_attack"])
        rejects = [c["score"] - c["threshold"] for c in e["false_rejects"]]
        accepts = [c["score"] - c["threshold"] for c in e["false_accepts"]]
        assert rejects == sorted(rejects, reverse=True) and all(x >= 0 for x in rejects)
        assert accepts == sorted(accepts) and all(x < 0 for x in accepts)
        assert len(rejects) == min(5, e["n_false_rejects"])
        table = read_scores(m["score_file"])
        thresholds = {f["fold"]: f["threshold"] for f in m["folds"]}
        for case in e["false_rejects"] + e["false_accepts"]:
            (i,) = ((table.sample_id == case["sample_id"]) & (table.split == "test")).nonzero()
            assert table.score[i[0]] == case["score"]
            assert thresholds[case["fold"]] == case["threshold"]
