"""`python -m benchmarks.run` end to end: demo set, a real seed600 subset, resumption, refusals,
ablations and cross-dataset runs.

Runs call `main(argv)` in-process (TensorFlow is imported once) with small folds, the fast
handcrafted methods and a config that shrinks the SVM grids and the bootstrap, so the whole
module stays within a few tens of seconds. One subprocess proves the module entry point works.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import sklearn

import benchmarks.experiment
import benchmarks.harness
import benchmarks.run
from benchmarks.datasets import load_dataset
from benchmarks.datasets.demo import SYNTHETIC_BANNER, synthetic_demo
from benchmarks.evaluate import main as evaluate_main
from benchmarks.provenance import git_commit, git_modified
from benchmarks.run import main
from benchmarks.scores import read_scores
from classifiers.registry import METHODS

REPO = Path(__file__).resolve().parents[1]
FAST_CONFIG = """
[protocol]
n_boot = 100

[params.lbp-svm]
clf__C = [1.0, 10.0]
clf__gamma = [1.0]
clf__inner_splits = 2

[params.lbp-lr]
clf__C = [1.0]
clf__inner_splits = 2
"""
DEMO_METHODS = ("metadata-audit", "lbp-svm", "lbp-lr")
PLOTS = ("roc.png", "det.png", "score_histograms.png", "acer_bar.png")
TABLES = ("comparison.md", "comparison.tex", "comparison.csv", "comparison.json")
METRICS = ("apcer_max", "bpcer", "acer", "hter", "eer", "auc", "bpcer20")
PROVENANCE = (
    "dataset",
    "dataset_hash",
    "n_samples",
    "skipped",
    "faces_found",
    "protocol",
    "seed",
    "packages",
    "git_commit",
    "git_modified",
    "command",
    "started",
    "finished",
)
DUPLICATES = ("Spoof/193.jpg", "Spoof/200.jpg")  # byte-identical files in seed600


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: object) -> Run:
    """main(argv) in-process with stdout/stderr captured; a parser error's SystemExit too."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return Run(code, out.getvalue(), err.getvalue())


def fast_config(folder: Path, extra: str = "") -> Path:
    path = folder / "fast.toml"
    path.write_text(FAST_CONFIG + extra, encoding="utf-8")
    return path


def comparison(out: Path) -> dict:
    return json.loads((out / "comparison.json").read_text(encoding="utf-8"))


def by_name(doc: dict) -> dict[str, dict]:
    return {m["name"]: m for m in doc["methods"]}


@pytest.fixture(scope="session")
def list_methods_process() -> Iterator[subprocess.Popen]:
    """`python -m benchmarks.run --list-methods` in a child process, started early so that its
    TensorFlow import overlaps the in-process runs (the test collects it later)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.run", "--list-methods"],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, list_methods_process) -> tuple[Run, Path]:
    """One comparison on the synthetic demo set, shared by the assertions below."""
    tmp = tmp_path_factory.mktemp("demo-run")
    out = tmp / "out"
    run = run_cli(
        "--demo",
        "--methods",
        *DEMO_METHODS,
        "--folds",
        2,
        "--out",
        out,
        "--no-progress",
        "--config",
        fast_config(tmp),
    )
    return run, out


@pytest.fixture(scope="session")
def real_run(seed_subset_dir, tmp_path_factory) -> tuple[Run, Path]:
    tmp = tmp_path_factory.mktemp("real-run")
    out = tmp / "out"
    run = run_cli(
        "--data",
        seed_subset_dir,
        "--methods",
        "metadata-audit",
        "lbp-svm",
        "--folds",
        3,
        "--out",
        out,
        "--no-progress",
        "--config",
        fast_config(tmp),
    )
    return run, out


# ------------------------------------------------------------------ the demo set, end to end


def test_demo_run_writes_tables_plots_and_one_score_file_per_method(demo_run):
    run, out = demo_run
    assert run.code == 0, run.err
    for name in TABLES:
        assert (out / name).stat().st_size > 0, name
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    for method in DEMO_METHODS:
        assert (out / "scores" / f"{method}.csv").is_file(), method
        assert re.search(rf"^{re.escape(method)}\s.*ACER", run.out, re.M), "no summary line"
    assert "SYNTHETIC" in run.out
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_demo_comparison_json_schema(demo_run):
    _, out = demo_run
    doc = comparison(out)
    rows = by_name(doc)
    assert set(rows) == set(DEMO_METHODS)
    for name, row in rows.items():
        assert row["family"] == METHODS[name].family
        for key in METRICS:
            assert 0 <= row[key] <= 1, (name, key)
        for key in ("apcer_max", "bpcer", "acer", "hter", "eer", "bpcer20"):
            assert row[f"{key}_std"] >= 0, (name, key)
        for key in ("acer", "hter", "bpcer20"):
            lo, hi = row[f"{key}_ci"]
            assert 0 <= lo <= hi <= 1, (name, key)
        assert len(row["fit_seconds"]) == 2 and all(s > 0 for s in row["fit_seconds"])
        assert row["ms_per_image"] > 0
    assert rows["metadata-audit"]["family"] == "audit"
    assert {rows[m]["family"] for m in ("lbp-svm", "lbp-lr")} == {"handcrafted"}


def test_demo_provenance_and_synthetic_label(demo_run):
    _, out = demo_run
    doc = comparison(out)
    prov = doc["provenance"]
    assert set(PROVENANCE) <= set(prov)
    demo = synthetic_demo()
    assert prov["dataset"] == demo.name
    assert prov["dataset_hash"] == demo.content_hash()
    assert prov["n_samples"] == len(demo) == 200
    assert prov["skipped"] == []
    assert prov["faces_found"]["n_records"] == 200
    by_class = prov["faces_found"]["face_found_by_class"]
    found = [int(by_class[c].split(" of ")[0]) for c in ("bonafide", "attack")]
    assert [by_class[c].split(" of ")[1] for c in ("bonafide", "attack")] == ["100", "100"]
    assert sum(found) == prov["faces_found"]["n_face_found"]
    assert "2 fold" in prov["protocol"] and prov["seed"] == 0
    assert prov["packages"]["numpy"] == np.__version__
    assert prov["packages"]["scikit-learn"] == sklearn.__version__
    assert prov["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
    assert (prov["git_commit"] is None) == (prov["git_modified"] is None)
    started = datetime.fromisoformat(prov["started"])
    assert started <= datetime.fromisoformat(prov["finished"])
    assert prov["synthetic"] is True and doc["synthetic"] is True
    assert SYNTHETIC_BANNER in (out / "comparison.md").read_text(encoding="utf-8")


def test_provenance_names_the_uncommitted_changes_of_the_code_not_of_results(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    assert git_commit(tmp_path) is None and git_modified(tmp_path) is None  # no checkout
    git("init", "-q")
    (tmp_path / "results").mkdir()
    for name in ("code.py", "results/table.md"):
        (tmp_path / name).write_text("1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    assert re.fullmatch(r"[0-9a-f]{40}", git_commit(tmp_path))
    assert git_modified(tmp_path) == []
    (tmp_path / "results" / "table.md").write_text("2\n")  # a run rewrote its results
    (tmp_path / "new.py").write_text("untracked\n")
    assert git_modified(tmp_path) == []
    (tmp_path / "code.py").write_text("2\n")
    assert git_modified(tmp_path) == ["code.py"]


def test_demo_provenance_records_the_command_that_was_run(demo_run):
    """The command line must be the arguments main() ran with, not the host process's argv."""
    _, out = demo_run
    command = comparison(out)["provenance"]["command"]
    assert command.startswith("python -m benchmarks.run ")
    assert "--demo" in command and str(out) in command and "--folds 2" in command


def test_demo_score_files_are_the_interface(demo_run, capsys):
    """Each score file re-read by `python -m benchmarks.evaluate` gives the table's numbers."""
    _, out = demo_run
    rows = by_name(comparison(out))
    demo = {r.id: r for r in synthetic_demo().records}
    for method in DEMO_METHODS:
        path = out / "scores" / f"{method}.csv"
        table = read_scores(path)
        test = table.take(table.split == "test")
        # every presentation is tested exactly once, with its own label
        assert sorted(test.sample_id.tolist()) == sorted(demo)
        assert all(demo[s].label == lab for s, lab in zip(test.sample_id, test.label, strict=True))
        assert set(table.split.tolist()) == {"dev", "test"} and set(table.fold.tolist()) == {0, 1}
        # both images of a demo subject sit on the same side in every fold (leak-free)
        for fold in (0, 1):
            part = table.take(table.fold == fold)
            splits: dict[str, set] = {}
            for subject, split in zip(part.subject, part.split, strict=True):
                splits.setdefault(subject, set()).add(split)
            counts = {s: int((part.subject == s).sum()) for s in splits}
            assert all(len(v) == 1 for v in splits.values())
            assert set(counts.values()) == {2}  # never one image in train, the other scored
        capsys.readouterr()
        assert evaluate_main(["--test", str(path), "--json", "--n-boot", "100"]) == 0
        result = json.loads(capsys.readouterr().out)
        for key in ("acer", "apcer_max", "bpcer", "eer", "auc"):
            assert math.isclose(result[key], rows[method][key], abs_tol=1e-12), (method, key)
        assert result["acer_ci"] == pytest.approx(rows[method]["acer_ci"])


def test_list_methods_subprocess_entry_point(list_methods_process):
    stdout, stderr = list_methods_process.communicate(timeout=300)
    assert list_methods_process.returncode == 0, stderr
    listed = {line.split()[0]: line.split()[1] for line in stdout.splitlines() if line.strip()}
    forms = {"onnx:<name>": "external", "per-source:<method>": "(method's)"}
    assert listed == {**{name: m.family for name, m in METHODS.items()}, **forms}


# ------------------------------------------------------------------ a real seed600 subset


def test_real_subset_run_is_not_labelled_synthetic(real_run, seed_subset_dir):
    run, out = real_run
    assert run.code == 0, run.err
    doc = comparison(out)
    assert doc["synthetic"] is False and doc["provenance"]["synthetic"] is False
    assert doc["provenance"]["dataset"] == seed_subset_dir.name
    assert doc["provenance"]["n_samples"] == 50
    assert SYNTHETIC_BANNER not in (out / "comparison.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in run.out
    assert set(by_name(doc)) == {"metadata-audit", "lbp-svm"}


def test_real_subset_duplicates_never_straddle_a_split(real_run):
    """Spoof/193 and Spoof/200 are the same bytes: in every fold they share their side."""
    _, out = real_run
    for method in ("metadata-audit", "lbp-svm"):
        table = read_scores(out / "scores" / f"{method}.csv")
        test = table.take(table.split == "test")
        ids, counts = np.unique(test.sample_id, return_counts=True)
        assert len(ids) == 50 and set(counts.tolist()) == {1}  # tested exactly once each
        for fold in np.unique(table.fold):
            part = table.take(table.fold == fold)
            where = {d: part.split[part.sample_id == d].tolist() for d in DUPLICATES}
            # [] = in train (train rows are not scored); otherwise the same split for both
            assert where[DUPLICATES[0]] == where[DUPLICATES[1]], (method, fold, where)


# ------------------------------------------------------------------ resumption


class Recorder:
    """Wraps the experiment's evaluate_method: records the methods evaluated, can interrupt one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.interrupt: str | None = None
        self._real_evaluate = benchmarks.experiment.evaluate_method
        self._real_fit = benchmarks.harness.fit_on
        self._current: str | None = None
        self._fits = 0
        monkeypatch.setattr(benchmarks.experiment, "evaluate_method", self._evaluate)
        monkeypatch.setattr(benchmarks.harness, "fit_on", self._fit)

    def _evaluate(self, estimator, records, folds, name, *args, **kwargs):
        self.calls.append(name)
        self._current, self._fits = name, 0
        return self._real_evaluate(estimator, records, folds, name, *args, **kwargs)

    def _fit(self, *args, **kwargs):
        self._fits += 1
        if self._current == self.interrupt and self._fits == 2:  # mid-run: fold 0 is done
            raise KeyboardInterrupt
        return self._real_fit(*args, **kwargs)


def test_interrupted_run_resumes_without_redoing_finished_methods(tmp_path, monkeypatch):
    out = tmp_path / "out"
    cfg = fast_config(tmp_path)
    argv = ["--demo", "--methods", "metadata-audit", "lbp-lr", "--folds", 2]
    argv += ["--out", out, "--no-progress", "--config", cfg]
    rec = Recorder(monkeypatch)

    rec.interrupt = "lbp-lr"
    run = run_cli(*argv)
    assert run.code == 130
    assert "interrupted" in run.err
    assert rec.calls == ["metadata-audit", "lbp-lr"]
    assert (out / "state" / "metadata-audit.json").is_file()
    assert (out / "scores" / "metadata-audit.csv").is_file()
    assert not (out / "state" / "lbp-lr.json").exists()
    assert not (out / "scores" / "lbp-lr.csv").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith("comparison")] == []
    assert [p for p in out.rglob("*") if p.name.startswith(".")] == []  # no temp files left

    rec.interrupt, rec.calls = None, []
    run = run_cli(*argv)
    assert run.code == 0, run.err
    assert rec.calls == ["lbp-lr"]  # the finished method is reloaded, not re-evaluated
    first = by_name(comparison(out))
    assert set(first) == {"metadata-audit", "lbp-lr"}

    rec.calls = []
    assert run_cli(*argv).code == 0
    assert rec.calls == []  # the same command again evaluates nothing
    again = by_name(comparison(out))
    for name in first:
        for key in (*METRICS, "acer_ci", "fit_seconds", "ms_per_image"):
            assert again[name][key] == first[name][key], (name, key)

    rec.calls = []
    assert run_cli(*argv, "--seed", 1).code == 0
    assert rec.calls == ["metadata-audit", "lbp-lr"]  # other folds: everything is redone
    assert comparison(out)["provenance"]["seed"] == 1


def test_state_of_another_run_is_not_reused_with_its_overwritten_scores(tmp_path, monkeypatch):
    """Interrupted after its score file was written but before its state file: the old
    state must not vouch for the new score file on the next run of the old command."""
    out = tmp_path / "out"
    argv = ["--demo", "--methods", "metadata-audit", "--folds", 2, "--out", out]
    argv += ["--no-progress", "--config", fast_config(tmp_path)]
    assert run_cli(*argv).code == 0
    scores = out / "scores" / "metadata-audit.csv"
    seed0_scores = scores.read_bytes()
    seed0_acer = by_name(comparison(out))["metadata-audit"]["acer"]

    real_summary = benchmarks.harness.evaluate_scores

    def interrupt_after_scores_are_written(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmarks.harness, "evaluate_scores", interrupt_after_scores_are_written)
    assert run_cli(*argv, "--seed", 1).code == 130
    assert scores.read_bytes() != seed0_scores  # the seed-1 folds were written
    monkeypatch.setattr(benchmarks.harness, "evaluate_scores", real_summary)

    assert run_cli(*argv).code == 0
    assert scores.read_bytes() == seed0_scores
    assert by_name(comparison(out))["metadata-audit"]["acer"] == seed0_acer


@pytest.mark.parametrize(
    ("protocol", "allowed"),
    [
        (["--train-data", "a", "b", "--test-data", "c"], True),
        (["--leave-one-out", "a", "b", "c"], True),
        (["--train-data", "a", "--test-data", "c"], False),
        (["--leave-one-out", "a", "b"], False),
        (["--leave-one-out", "a", "b", "c", "--single-sources"], False),
        (["--cross", "a", "b"], False),
        (["--demo"], False),
        (["--demo", "--methods", "lbp-svm", "--ablation", "cnn_colour"], False),
    ],
)
def test_domain_adversarial_methods_run_only_where_every_fit_sees_several_datasets(
    tmp_path, monkeypatch, protocol, allowed
):
    ran = []
    for runner in ("_cross", "_leave_one_out", "_train_test", "_in_dataset"):
        monkeypatch.setattr(benchmarks.run, runner, lambda *a, runner=runner: ran.append(runner))
    config = tmp_path / "dann.toml"
    config.write_text("[params.livenessnet]\nclf__domain_adversarial = 1.0\n")
    methods = [] if "--methods" in protocol else ["--methods", "livenessnet"]
    run = run_cli(*protocol, *methods, "--config", config, "--out", tmp_path / "out")
    if allowed:
        assert (run.code, len(ran)) == (0, 1), run.err
    else:
        assert run.code == 2 and ran == []
        assert "several datasets" in run.err
        assert ("cnn_colour" in run.err) == ("--ablation" in protocol)


def test_a_method_that_fails_is_reported_without_a_traceback_and_finished_ones_kept(
    tmp_path, monkeypatch
):
    out = tmp_path / "out"
    argv = ["--demo", "--methods", "metadata-audit", "lbp-lr", "--folds", 2]
    argv += ["--out", out, "--no-progress", "--config", fast_config(tmp_path)]
    real_fit = benchmarks.harness.fit_on

    def fail_lbp_lr(est, *args, **kwargs):
        if "crop" in est.named_steps:  # lbp-lr; the audit reads no face
            raise ValueError("broken on purpose")
        return real_fit(est, *args, **kwargs)

    monkeypatch.setattr(benchmarks.harness, "fit_on", fail_lbp_lr)
    run = run_cli(*argv)
    assert run.code == 2
    assert "method 'lbp-lr', fold 0: fit failed: ValueError: broken on purpose" in run.err
    assert "Traceback" not in run.err
    assert (out / "state" / "metadata-audit.json").is_file()
    monkeypatch.setattr(benchmarks.harness, "fit_on", real_fit)
    assert run_cli(*argv).code == 0


# ------------------------------------------------------------------ refusals before any work


def _images(folder: Path, n: int) -> None:
    import cv2

    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(folder.name))  # other pixels in each class folder
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown-method", "nosuch-method"),
        ("unknown-ablation", "nosuch-ablation"),
        ("one-fold", "--folds"),
        ("zero-jobs", "--jobs"),
        ("duplicate-method", "metadata-audit"),
        ("train-without-test", "--test-data"),
        ("demo-and-data", "--data"),
        ("missing-folder", "no such"),
        ("empty-folder", "layout"),
        ("one-class", "attack"),
        ("too-few-per-class", "per class"),
        ("config-unknown-key", "colour"),
        ("config-unknown-param", "radius"),
        ("config-bad-toml", "TOML"),
        ("domain-adversarial-one-dataset", "several datasets"),
        ("domain-adversarial-per-source", "each expert"),
    ],
)
def test_bad_options_and_datasets_fail_before_work_with_exit_2(tmp_path, case, expected):
    out = tmp_path / "out"
    data = tmp_path / "data"
    config = tmp_path / "bad.toml"
    args: list[object] = ["--demo", "--folds", 2]
    if case == "unknown-method":
        args += ["--methods", "lbp-svm", "nosuch-method"]
    elif case == "unknown-ablation":
        args += ["--ablation", "nosuch-ablation"]
    elif case == "one-fold":
        args = ["--demo", "--folds", 1]
    elif case == "zero-jobs":
        args += ["--jobs", 0]
    elif case == "duplicate-method":  # two rows of one name: the report refuses them at the end
        args += ["--methods", "metadata-audit", "metadata-audit"]
    elif case == "train-without-test":
        args = ["--train-data", tmp_path]
    elif case == "demo-and-data":
        args += ["--data", tmp_path]
    elif case == "missing-folder":
        args = ["--data", tmp_path / "absent"]
    elif case == "empty-folder":
        data.mkdir()
        args = ["--data", data]
    elif case == "one-class":
        _images(data / "Live", 4)
        args = ["--data", data, "--folds", 2]
    elif case == "too-few-per-class":
        _images(data / "Live", 4)
        _images(data / "Spoof", 1)
        args = ["--data", data, "--folds", 2]
    elif case == "config-unknown-key":
        config.write_text("colour = 'HSV'\n")
        args += ["--config", config]
    elif case == "config-unknown-param":
        config.write_text("[params.lbp-svm]\nfeatures__radius = 2\n")
        args += ["--config", config]
    elif case == "config-bad-toml":
        config.write_text("[params.lbp-svm\n")
        args += ["--config", config]
    elif case.startswith("domain-adversarial"):
        config.write_text("[params.livenessnet]\nclf__domain_adversarial = 1.0\n")
        method = "per-source:livenessnet" if case.endswith("per-source") else "livenessnet"
        args += ["--methods", method, "--config", config]
    run = run_cli(*args, "--out", out, "--no-progress")
    assert run.code == 2
    assert expected in run.err
    assert "Traceback" not in run.err
    assert not out.exists()  # nothing was evaluated or written


# ------------------------------------------------------------------ ablations


def test_ablation_writes_its_table_and_skips_seed_subsets_off_seed600(tmp_path):
    out = tmp_path / "out"
    cfg = fast_config(  # the shipped lbp_scale variables, trimmed to two fast variants
        tmp_path,
        """
[ablations.lbp_scale]
variants = [
  { label = "(8,1)", method = "lbp-lr", params = { features__P = 8, features__R = 1 } },
  { label = "(8,2)", method = "lbp-lr", params = { features__P = 8, features__R = 2 } },
]
""",
    )
    run = run_cli(
        "--demo",
        "--methods",
        "metadata-audit",
        "--folds",
        2,
        "--ablation",
        "lbp_scale",
        "seed_subsets",
        "--out",
        out,
        "--no-progress",
        "--config",
        cfg,
    )
    assert run.code == 0, run.err
    folder = out / "ablations"
    for suffix in ("md", "csv", "json", "png"):
        assert (folder / f"ablation_lbp_scale.{suffix}").stat().st_size > 0, suffix
    assert (folder / "ablation_lbp_scale.png").read_bytes()[:4] == b"\x89PNG"
    text = (folder / "ablation_lbp_scale.json").read_text(encoding="utf-8")
    assert '"(8,1)"' in text and '"(8,2)"' in text
    assert "(8,1)" in (folder / "ablation_lbp_scale.md").read_text(encoding="utf-8")
    # the second variant is compared with the first, paired on the same test presentations
    doc = json.loads(text)
    (pair,) = doc["comparisons"]
    assert (pair["a"], pair["b"], pair["metric"]) == ("(8,2)", "(8,1)", "acer")
    pooled = {r["name"]: r["pooled"]["acer"] for r in doc["variants"]}
    assert (pair["value_a"], pair["value_b"]) == (pooled["(8,2)"], pooled["(8,1)"])
    assert pair["difference"] == pytest.approx(pair["value_a"] - pair["value_b"])
    assert pair["difference_ci"][0] <= pair["difference"] <= pair["difference_ci"][1]
    assert "## Paired comparisons" in (folder / "ablation_lbp_scale.md").read_text("utf-8")
    assert re.search(r"seed_subsets.*skipped", run.out)
    assert not list(out.rglob("ablation_seed_subsets.*"))
    # the two variants were separate evaluations, each with its own score file
    scores = folder / "lbp_scale" / "scores"
    assert sorted(p.name for p in scores.glob("*.csv")) == ["8_1.csv", "8_2.csv"]
    one, two = (read_scores(scores / f"{n}.csv") for n in ("8_1", "8_2"))
    assert one.sample_id.tolist() == two.sample_id.tolist()
    assert one.score.tolist() != two.score.tolist()  # R reached the method


# ------------------------------------------------------------------ cross-dataset


def test_cross_dataset_reports_each_test_set_under_the_out_dir(
    tmp_path, seed_subset_dir, nuaa_subset_dir
):
    out = tmp_path / "out"
    demo_root = synthetic_demo().root
    run = run_cli(
        "--train-data",
        seed_subset_dir,
        "--test-data",
        nuaa_subset_dir,
        demo_root,
        "--methods",
        "metadata-audit",
        "lbp-lr",
        "--out",
        out,
        "--no-progress",
        "--config",
        fast_config(tmp_path),
    )
    assert run.code == 0, run.err
    docs = {}
    for path in out.rglob("comparison.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        docs[doc["title"]] = (path.parent, doc)
    for folder, doc in docs.values():
        assert "Cross-dataset" in doc["title"] and seed_subset_dir.name in doc["title"]
        # the rows are the test rows of this cell's dataset in the one fit's score file
        (row,) = [m for m in doc["methods"] if m["name"] == "lbp-lr"]
        table = read_scores(row["score_file"])
        tested = folder.name.split("-to-")[1]
        dev = table.take(table.split == "dev")
        test = table.take(
            (table.split == "test") & np.char.startswith(table.sample_id.astype(str), tested)
        )
        # threshold fixed on the training dataset's dev part; metrics on the other dataset only
        assert len(dev) and all(p.startswith(str(seed_subset_dir)) for p in dev.path)
        assert len(test) == row["n_bonafide"] + row["n_attack"]
        assert not any(p.startswith(str(seed_subset_dir)) for p in test.path)
    for folder, doc in docs.values():
        if load_dataset(demo_root).name in doc["title"]:  # tested on the synthetic demo folder
            assert doc["synthetic"] is True
            assert SYNTHETIC_BANNER in (folder / "comparison.md").read_text(encoding="utf-8")
    names = {load_dataset(p).name for p in (nuaa_subset_dir, demo_root)}
    titles = {t for t in docs if any(n in t for n in names)}
    assert len(titles) == 2, f"a second --test-data overwrote the first: {sorted(docs)}"


def test_a_cached_rerun_decodes_and_detects_nothing(tmp_path, seed_subset_dir, monkeypatch):
    """With the caches warm, a re-run reads crops and features from disk only."""
    out, cfg = tmp_path / "out", fast_config(tmp_path)
    argv = ["--data", seed_subset_dir, "--methods", "lbp-lr", "--folds", 2, "--out", out,
            "--no-progress", "--config", cfg]  # fmt: skip
    first = run_cli(*argv)
    assert first.code == 0, first.err
    import features.faces

    features.faces.clear_memo()

    def refuse(*args, **kwargs):
        raise AssertionError("decoded or detected again")

    monkeypatch.setattr(features.faces, "_decode", refuse)
    monkeypatch.setattr(features.faces, "detect_faces", refuse)
    second = run_cli(*argv)
    assert second.code == 0, second.err


@pytest.mark.parametrize("parallel", [["--jobs", "2"], ["--workers", "2"]])
def test_no_worker_outlives_a_killed_run(tmp_path, seed_subset_dir, parallel):
    """SIGKILL the run mid-crop: within seconds, nothing it started is still running."""
    import signal
    import time

    cache = tmp_path / "cache"
    env = {**os.environ, "LIVENESS_CACHE_DIR": str(cache)}
    argv = [sys.executable, "-m", "benchmarks.run", "--data", str(seed_subset_dir),
            "--methods", "lbp-lr", "--folds", "2", "--out", str(tmp_path / "out"),
            "--no-progress", *parallel]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(cache.rglob("*.npz")):
        time.sleep(0.2)  # until the crop stage has written its first crop
    assert list(cache.rglob("*.npz")), "the run never reached the crop stage"
    os.killpg(proc.pid, 0)  # the group exists
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    def group_alive() -> bool:
        listing = subprocess.run(["ps", "-eo", "pgid="], capture_output=True, text=True).stdout
        return str(proc.pid) in listing.split()

    deadline = time.monotonic() + 10
    while group_alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not group_alive(), "processes of the killed run are still running"


@pytest.mark.parametrize("damage", [b"", b'{"key": "abc"', b"[1, 2, 3]", b'{"key": 5}'])
def test_a_damaged_state_file_is_reported_and_the_method_evaluated_again(
    tmp_path, seed_subset_dir, damage
):
    out, cfg = tmp_path / "out", fast_config(tmp_path)
    argv = ["--data", seed_subset_dir, "--methods", "lbp-lr", "--folds", 2, "--out", out,
            "--no-progress", "--config", cfg]  # fmt: skip
    assert run_cli(*argv).code == 0
    state = out / "state" / "lbp-lr.json"
    state.write_bytes(damage)
    again = run_cli(*argv)
    assert again.code == 0, again.err
    assert f"{state}: damaged state file" in again.err and "Traceback" not in again.err
    assert json.loads(state.read_text())["name"] == "lbp-lr"  # written anew


def test_nothing_heavy_at_start_up():
    """--help, --list-methods and evaluate never import TensorFlow (it takes seconds)."""
    code = (
        "import sys, contextlib, io\n"
        "from benchmarks.run import main\n"
        "from benchmarks.evaluate import main as evaluate\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--list-methods'])\n"
        "    main(['--list-params', 'livenessnet'])\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    try:\n"
        "        evaluate(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'onnxruntime') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"
