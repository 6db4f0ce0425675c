"""File names that are not valid UTF-8 (any byte string is a legal POSIX name) must not abort a run.

Python carries such names as str with lone surrogates (os.fsdecode, "surrogateescape"); every
writer of ids and paths (score CSV, report JSON/Markdown/CSV, the dataset hash) must accept them.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from benchmarks.run import main
from benchmarks.scores import ScoreTable, read_scores, write_scores
from features.files import escape_undecodable

BAD_NAME = b"\xff\xfe.jpg"
BROKEN_NAME = b"broken-\xe9.jpg"
CONFIG = """
[protocol]
n_boot = 50

[params.lbp-lr]
clf__C = [1.0]
clf__inner_splits = 2
"""


@pytest.fixture
def dataset_with_undecodable_name(seed600_dir: Path, tmp_path: Path) -> Path:
    """12 + 12 real seed600 images (symlinks) plus one bona fide file named b'\\xff\\xfe.jpg'."""
    root = tmp_path / "data"
    for folder in ("Live", "Spoof"):
        (root / folder).mkdir(parents=True)
        for i in range(1, 13):
            (root / folder / f"{i}.jpg").symlink_to(seed600_dir / folder / f"{i}.jpg")
    os.symlink(seed600_dir / "Live" / "13.jpg", os.fsencode(root / "Live") + b"/" + BAD_NAME)
    with open(os.fsencode(root / "Spoof") + b"/" + BROKEN_NAME, "wb") as f:
        f.write(b"not an image")  # skipped, and listed in the report by its name
    return root


def test_run_with_a_non_utf8_file_name_completes(dataset_with_undecodable_name, tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "fast.toml"
    config.write_text(CONFIG)
    argv = ["--data", str(dataset_with_undecodable_name), "--config", str(config)]
    argv += ["--methods", "lbp-lr", "metadata-audit", "--folds", "2", "--out", str(out)]
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        code = main([*argv, "--no-progress"])
    assert code == 0, err.getvalue()
    bad_id = "Live/" + os.fsdecode(BAD_NAME)
    for method in ("lbp-lr", "metadata-audit"):
        table = read_scores(out / "scores" / f"{method}.csv")
        assert escape_undecodable(bad_id) in table.sample_id.tolist()
        assert len(table) >= 25
    report = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    listed = json.dumps(escape_undecodable(os.fsdecode(BROKEN_NAME)))[1:-1]
    assert listed in json.dumps(report)  # among the skipped files
    for name in ("comparison.md", "comparison.csv", "comparison.tex"):
        (out / name).read_text(encoding="utf-8")


def test_score_file_spells_undecodable_bytes_and_reads_back(tmp_path):
    table = ScoreTable.from_columns(
        sample_id=[os.fsdecode(b"Live/\xff.jpg"), "Live/é.jpg"], label=[0, 1], score=[0.1, 0.9]
    )
    read = read_scores(write_scores(tmp_path / "s.csv", table))
    assert read.sample_id.tolist() == ["Live/\\xff.jpg", "Live/é.jpg"]
