"""`python -m benchmarks.evaluate`: round trip of a harness score file, row selection, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from benchmarks.evaluate import main
from benchmarks.harness import evaluate_method
from benchmarks.metrics import eer
from features.records import Presentation

REQUIRED_KEYS = {
    "threshold",
    "criterion",
    "apcer",
    "apcer_max",
    "apcer_pooled",
    "bpcer",
    "acer",
    "hter",
    "eer",
    "auc",
    "bpcer10",
    "bpcer20",
    "bpcer100",
    "n_bonafide",
    "n_attack",
}
HEADER = "sample_id,label,attack_type,video,split,score\n"


@dataclass(frozen=True)
class Fold:
    index: int
    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray


class ExtraScore(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        return np.array([float(r.extra["x"]) for r in X])


def _records_and_folds() -> tuple[list[Presentation], list[Fold]]:
    rng = np.random.default_rng(0)
    records = [
        Presentation(
            id=f"v{i // 4}#{i % 4}",
            path=Path(f"/nowhere/v{i // 4}.avi"),
            label=(i // 4) % 2,
            sha256=f"{i:064x}",
            attack_type=("print", "replay")[(i // 8) % 2] if (i // 4) % 2 else None,
            subject=f"s{i // 16}",
            video=f"v{i // 4}",
            frame=i % 4,
            extra={"x": repr(float(rng.normal((i // 4) % 2, 1.0)))},
        )
        for i in range(192)  # 12 subjects x 4 videos x 4 frames
    ]
    part = np.array([int(r.subject[1:]) % 3 for r in records])
    folds = [
        Fold(
            k,
            np.flatnonzero(part == (k + 2) % 3),
            np.flatnonzero(part == (k + 1) % 3),
            np.flatnonzero(part == k),
        )
        for k in range(3)
    ]
    return records, folds


def _evaluate(method: BaseEstimator, name: str, out: Path):  # noqa: ANN202 - MethodResult
    records, folds = _records_and_folds()
    return evaluate_method(
        method,
        records,
        folds,
        name,
        "test",
        out_dir=out,
        n_boot=100,
        progress=False,
        groups=[r.subject for r in records],
    )


@pytest.fixture(scope="module")
def harness_result(tmp_path_factory):
    return _evaluate(ExtraScore(), "extra", tmp_path_factory.mktemp("run"))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run_cli(capsys, *args, "--json", "--n-boot", "100")
    assert code == 0, err
    return json.loads(out)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_harness_score_file_round_trips_through_the_command(harness_result):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.evaluate",
            "--test",
            str(harness_result.score_file),
            "--json",
            "--n-boot",
            "100",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got.pop("test_file") == str(harness_result.score_file)
    assert got.pop("dev_file") is None
    assert got == harness_result.metrics  # same rows, same thresholds, same bootstrap
    assert set(got) >= REQUIRED_KEYS
    assert got["threshold_source"] == "dev" and got["n_folds"] == 3
    assert got["conventions"]["decision"] == "attack when score >= threshold"


def test_fold_and_video_level(capsys, harness_result):
    path = str(harness_result.score_file)
    fold1 = run_json(capsys, "--test", path, "--fold", "1")
    expected = harness_result.metrics["folds"][1]
    assert fold1["n_folds"] == 1 and fold1["threshold"] == expected["threshold"]
    assert fold1["acer"] == expected["acer"] and fold1["acer_std"] is None
    video = run_json(capsys, "--test", path, "--level", "video")
    assert video["level"] == "video"
    assert video["n_bonafide"] + video["n_attack"] == 48  # 192 frames, 4 per video
    code, out, _ = run_cli(capsys, "--test", path, "--level", "video", "--n-boot", "50")
    assert code == 0 and "Level: video" in out


def test_table_states_conventions_and_threshold_source(capsys, harness_result):
    code, out, err = run_cli(capsys, "--test", str(harness_result.score_file), "--n-boot", "50")
    assert code == 0 and err == ""
    assert "Conventions: label 1 = attack, 0 = bona fide" in out
    assert "attack when score >= threshold" in out
    assert "Threshold chosen on: dev" in out and "Folds: 3" in out
    assert "ACER (not ISO)" in out and "APCER print" in out and "95% CI (pooled)" in out


TEST_ROWS = "".join(
    f"t{i},{i % 2},{'print' if i % 2 else ''},,test,{s}\n"
    for i, s in enumerate([0.1, 0.9, 0.4, 0.35, 0.2, 0.8, 0.6, 0.7])
)
DEV_ROWS = "".join(
    f"d{i},{i % 2},,,dev,{s}\n" for i, s in enumerate([0.0, 0.5, 0.3, 0.6, 0.45, 0.2])
)


def test_threshold_from_a_separate_dev_file(capsys, tmp_path):
    test = write(tmp_path / "test.csv", HEADER + TEST_ROWS)
    dev = write(tmp_path / "dev.csv", HEADER + DEV_ROWS)
    r = run_json(capsys, "--test", test, "--dev", dev)
    dev_scores, dev_labels = [0.0, 0.5, 0.3, 0.6, 0.45, 0.2], [0, 1, 0, 1, 0, 1]
    assert r["threshold"] == eer(dev_scores, dev_labels)[1]
    assert r["threshold_source"] == "dev" and r["dev_file"] == dev
    assert r["warnings"] == []
    assert all(
        0 <= r[k] <= 1
        for k in REQUIRED_KEYS - {"threshold", "criterion", "apcer"}
        if not k.startswith("n_")
    )
    # the same file holding both splits gives the same result
    both = write(tmp_path / "both.csv", HEADER + TEST_ROWS + DEV_ROWS)
    r2 = run_json(capsys, "--test", both)
    assert r2["threshold"] == r["threshold"] and r2["acer"] == r["acer"]


def test_without_dev_rows_the_result_is_labelled_oracle(capsys, tmp_path):
    test = write(tmp_path / "test.csv", HEADER + TEST_ROWS)
    r = run_json(capsys, "--test", test)
    assert r["threshold_source"] == "test (oracle)"
    assert "oracle" in r["warnings"][0]
    code, out, err = run_cli(capsys, "--test", test, "--n-boot", "20")
    assert "Threshold chosen on: test (oracle)" in out and "oracle" in err
    assert re.search(r"ACER \(not ISO\) +\d+\.\d\d% +\[\d+\.\d\d%, \d+\.\d\d%\]", out)
    fixed = run_json(capsys, "--test", test, "--criterion", "fixed=0.5")
    assert (fixed["threshold"], fixed["threshold_source"]) == (0.5, "fixed")
    assert fixed["bpcer"] == 0.25  # bona fide 0.1 0.4 0.2 0.6: one >= 0.5


def test_swapped_labels_are_reported(capsys, tmp_path):
    rows = "".join(f"s{i},{int(i >= 10)},,,dev,{20 - i}\n" for i in range(20))
    path = write(tmp_path / "swapped.csv", HEADER + rows + TEST_ROWS)
    code, _, err = run_cli(capsys, "--test", path, "--n-boot", "20")
    assert code == 0
    assert "rank bona fide above attacks" in err and "labels swapped" in err


@pytest.mark.parametrize(
    ("files", "args", "msg"),
    [
        ({}, ["--test", "{d}/absent.csv"], "absent.csv: cannot open score file"),
        ({"t.csv": "sample_id,score\na,1\n"}, ["--test", "{d}/t.csv"], r"missing required column"),
        (
            {"t.csv": HEADER + TEST_ROWS + "x,1,,,test,NaN\n"},
            ["--test", "{d}/t.csv"],
            r"t.csv, data row 9: score 'NaN' is not finite",
        ),
        (
            {"t.csv": HEADER + "a,spoof,,,test,0.3\n"},
            ["--test", "{d}/t.csv"],
            r"t.csv, data row 1: label 'spoof' is not 0, 1, 'attack' or 'bonafide'",
        ),
        (
            {"t.csv": HEADER + "a,1,,,test,0.3\nb,1,,,test,0.4\n"},
            ["--test", "{d}/t.csv"],
            r"t.csv: the test rows of fold \(none\) are all attack",
        ),
        (
            {"t.csv": HEADER + TEST_ROWS, "d.csv": HEADER + DEV_ROWS.replace(",1,", ",0,")},
            ["--test", "{d}/t.csv", "--dev", "{d}/d.csv"],
            r"d.csv: the dev rows of fold \(none\) are all bona fide",
        ),
        (
            {
                "t.csv": HEADER + TEST_ROWS,
                "d.csv": "sample_id,label,fold,score\na,0,3,1\nb,1,3,2\n",
            },
            ["--test", "{d}/t.csv", "--dev", "{d}/d.csv"],
            r"d.csv: no dev rows for fold \(none\)",
        ),
        (
            {"t.csv": HEADER + TEST_ROWS},
            ["--test", "{d}/t.csv", "--criterion", "median"],
            "criterion 'median'",
        ),
        (
            {"t.csv": HEADER + TEST_ROWS},
            ["--test", "{d}/t.csv", "--level", "video"],
            r"t.csv, data row 1: no video id",
        ),
        (
            {"t.csv": HEADER + TEST_ROWS},
            ["--test", "{d}/t.csv", "--fold", "2"],
            r"t.csv: no rows of fold 2",
        ),
        ({"t.csv": HEADER + DEV_ROWS}, ["--test", "{d}/t.csv"], r"no test rows"),
    ],
)
def test_errors_name_the_problem(capsys, tmp_path, files, args, msg):
    for name, text in files.items():
        write(tmp_path / name, text)
    code, out, err = run_cli(capsys, *[a.format(d=tmp_path) for a in args])
    assert code == 2 and out == ""
    assert err.startswith("error: ")
    assert re.search(msg, err), err


def test_help_explains_row_selection(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert "oracle" in out and "--fold" in out and "apcer=0.05" in out


PLAIN = "sample_id,label,score\n" + "".join(
    f"p{i},{i % 2},{s}\n" for i, s in enumerate([0.1, 0.9, 0.4, 0.35, 0.2, 0.8, 0.6, 0.7])
)


def test_dev_equal_to_test_is_labelled_oracle_never_dev(capsys, tmp_path):
    # no split column: every row is a dev row and a test row
    path = write(tmp_path / "plain.csv", PLAIN)
    r = run_json(capsys, "--test", path, "--dev", path)
    assert r["threshold_source"] == "dev shares test rows (oracle)"
    assert "oracle" in r["warnings"][0] and "8 of the 8 test rows" in r["warnings"][0]
    code, out, err = run_cli(capsys, "--test", path, "--dev", path, "--n-boot", "20")
    assert code == 0 and "Threshold chosen on: dev shares test rows (oracle)" in out
    assert "oracle" in err


def test_a_sample_in_both_dev_and_test_of_a_fold_is_labelled_oracle(capsys, tmp_path):
    # fold 0 is clean; fold 1 lists sample t1 as a dev and as a test row
    header = "sample_id,label,fold,split,score\n"
    rows = "".join(
        f"{k}{i},{i % 2},{f},{k.replace('t', 'test').replace('d', 'dev')},{s}\n"
        for f in (0, 1)
        for k in ("t", "d")
        for i, s in enumerate([0.1, 0.9, 0.4, 0.35, 0.2, 0.8])
    )
    rows += "t1,1,1,dev,0.9\n"
    path = write(tmp_path / "leak.csv", header + rows)
    r = run_json(capsys, "--test", path)
    assert r["threshold_source"] == "dev shares test rows (oracle)"
    assert [f["threshold_source"] for f in r["folds"]] == ["dev", "dev shares test rows (oracle)"]
    assert "fold 1" in r["warnings"][0] and "'t1'" in r["warnings"][0]
    clean = run_json(capsys, "--test", path, "--fold", "0")
    assert clean["threshold_source"] == "dev" and clean["warnings"] == []


BAD_CSV = [
    pytest.param(
        "sample_id,label,score\na,0,0.1\nb,1," + "9" * 200_000 + "\n",
        r"big.csv, data row 2: a field is longer than",
        id="field-over-128kB",
    ),
    pytest.param(
        "sample_id;label;score\na;0;0.1\nb;1;0.9\n",
        r"big.csv: .*delimiter.*';'",
        id="semicolons",
    ),
    pytest.param(
        "sample_id\tlabel\tscore\na\t0\t0.1\nb\t1\t0.9\n",
        r"big.csv: .*delimiter.*'\\t'",
        id="tabs",
    ),
]


@pytest.mark.parametrize(("text", "msg"), BAD_CSV)
def test_malformed_csv_is_a_clear_error(capsys, tmp_path, text, msg):
    write(tmp_path / "big.csv", text)
    code, out, err = run_cli(capsys, "--test", str(tmp_path / "big.csv"))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(msg, err), err


@pytest.mark.parametrize(
    ("encoding", "where"),
    [("utf-16", ""), ("utf-16-le", ""), ("latin-1", ", line 3")],
)
def test_a_file_in_another_encoding_is_named_as_not_utf8(capsys, tmp_path, encoding, where):
    path = tmp_path / "enc.csv"
    path.write_bytes(PLAIN.replace("p1,", "pé1,").encode(encoding))
    code, out, err = run_cli(capsys, "--test", str(path))
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"{path}{where}: not UTF-8 text" in err, err


class NoisyScore(ExtraScore):
    """A worse method on the same presentations: scores that are noise only."""

    def decision_function(self, X):
        return np.random.default_rng(len(X)).normal(0.0, 1.0, len(X))


def test_compare_two_score_files_as_the_harness_pairs_two_methods(capsys, tmp_path, harness_result):
    from benchmarks.harness import paired_comparison

    noisy = _evaluate(NoisyScore(), "noisy", tmp_path)
    expected = paired_comparison(noisy, harness_result, n_boot=100, seed=3).to_dict()
    got = run_json(capsys, "--test", str(noisy.score_file), "--compare",
                   str(harness_result.score_file), "--seed", "3")  # fmt: skip
    for key in ("value_a", "value_b", "difference", "difference_ci"):
        assert got[key] == pytest.approx(expected[key]), key
    assert got["verdict"] == expected["verdict"] == "B better"  # the noisy method is worse
    code, out, _ = run_cli(capsys, "--test", str(harness_result.score_file), "--compare",
                           str(harness_result.score_file))  # fmt: skip
    assert code == 0 and "A - B +0.00 points" in out and "within noise" in out


def test_compare_refuses_files_of_other_presentations(capsys, tmp_path, harness_result):
    other = write(
        tmp_path / "other.csv",
        HEADER + "".join(f"x{i},{i % 2},,,{s},{i / 10}\n" for i in range(8) for s in ["test"]),
    )
    code, _, err = run_cli(capsys, "--test", str(harness_result.score_file), "--compare", other)
    assert code == 2 and "not tested on the same presentations" in err and "other.csv" in err
    with pytest.raises(SystemExit):
        main(["--test", other, "--compare", other, "--dev", other])
    assert "--compare reads each file's own dev rows" in capsys.readouterr().err
    mine = str(harness_result.score_file)
    code, _, err = run_cli(capsys, "--test", mine, mine, "--compare", mine, other)
    assert code == 2 and f"{mine} vs {other}: the two were not tested on the same" in err
    code, _, err = run_cli(capsys, "--test", mine, mine, "--compare", mine)
    assert code == 2 and "2 files to compare with 1" in err
    with pytest.raises(SystemExit):
        main(["--test", mine, mine])
    assert "several --test files go with --compare" in capsys.readouterr().err
