"""Score files: exact round trips, readable labels, and errors that name the file and row."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.scores import (
    COLUMNS,
    ScoreFileError,
    ScoreTable,
    aggregate_by_video,
    read_scores,
    write_scores,
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _table() -> ScoreTable:
    return ScoreTable.from_columns(
        sample_id=["a", "b", "c", "a"],
        path=["x/a.png", "x/b.png", "x/c, with comma.png", "x/a.png"],
        label=[0, 1, 1, 0],
        attack_type=["", "print", None, ""],
        subject=["s1", "s1", "", "s1"],
        video=["", "", "", ""],
        fold=[0, 0, -1, 1],
        split=["dev", "test", "", "test"],
        score=[0.1 + 0.2, -1e-300, 123456789.123456789, 1 / 3],
    )


def test_round_trip_is_exact(tmp_path):
    table = _table()
    path = write_scores(tmp_path / "sub" / "m.csv", table)
    back = read_scores(path)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    for col in ("sample_id", "path", "label", "attack_type", "subject", "video", "fold", "split"):
        assert np.array_equal(getattr(back, col), getattr(table, col)), col
    assert back.score.tolist() == table.score.tolist()  # bit for bit
    assert back.row.tolist() == [1, 2, 3, 4]
    assert back.source == str(path)
    assert [p.name for p in path.parent.iterdir()] == ["m.csv"]  # no temp file left


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_scores(tmp_path / "m.csv", _table())
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_scores(path, _table().take(np.array([0, 1])))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_minimal_file_and_label_words(tmp_path):
    path = _write(
        tmp_path / "s.csv",
        "score,label,sample_id\n0.5,attack,a\n0.25, BonaFide ,b\n1e-3,1,c\n-2,0,d\n",
    )
    t = read_scores(path)
    assert t.label.tolist() == [1, 0, 1, 0]
    assert t.score.tolist() == [0.5, 0.25, 0.001, -2.0]
    assert t.fold.tolist() == [-1] * 4 and t.split.tolist() == [""] * 4


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("sample_id,label,score\na,0,1\n".encode("utf-8-sig"))
    assert read_scores(path).sample_id.tolist() == ["a"]


HEADER = "sample_id,label,score,fold,split\n"


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        (HEADER + "a,0,0.1,0,dev\nb,maybe,0.2,0,dev\n", r"data row 2: label 'maybe' is not 0, 1"),
        (HEADER + "a,0,0.1,0,dev\nb,1,nan,0,dev\n", r"data row 2: score 'nan' is not finite"),
        (HEADER + "a,0,inf,0,dev\n", r"data row 1: score 'inf' is not finite"),
        (HEADER + "a,0,0.1,0,dev\nb,1,,0,dev\nc,1,high,0,dev\n", r"data row 2: score '' is not"),
        (HEADER + "a,0,0.1,x,dev\n", r"data row 1: fold 'x' is not a non-negative integer"),
        (HEADER + "a,0,0.1,-1,dev\n", r"data row 1: fold '-1' is not a non-negative"),
        (HEADER + "a,0,0.1,0,train\n", r"data row 1: split 'train' is not dev, test or empty"),
        (HEADER + "a,0,0.1,0,dev\nb,1,0.2,0\n", r"data row 2: 4 fields, the header has 5"),
        (HEADER + ",0,0.1,0,dev\n", r"data row 1: sample_id is empty"),
        (HEADER + "a,0,0.1,0,dev\nb,1,0.2,0,dev\na,1,0.3,0,dev\n", r"data rows 1 and 3: .*twice"),
        ("sample_id,score\na,0.1\n", r"missing required column\(s\) \['label'\]"),
        ("sample_id,label,score,atack_type\na,0,0.1,x\n", r"unknown column\(s\) \['atack_type'\]"),
        ("sample_id,label,score,score\na,0,0.1,0.2\n", r"\['score'\] appear more than once"),
        ("", "empty file"),
        (HEADER, "no data rows"),
    ],
)
def test_bad_files_name_file_and_row(tmp_path, text, msg):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(ScoreFileError, match=msg) as info:
        read_scores(path)
    assert "bad.csv" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ScoreFileError, match="cannot open score file"):
        read_scores(tmp_path / "absent.csv")


def test_same_sample_in_dev_and_test_is_fine(tmp_path):
    path = _write(tmp_path / "s.csv", HEADER + "a,0,0.1,0,dev\na,0,0.2,0,test\na,0,0.3,1,test\n")
    assert len(read_scores(path)) == 3


def test_in_memory_table_is_validated():
    with pytest.raises(ScoreFileError, match="data row 2: score nan is not finite"):
        ScoreTable.from_columns(sample_id=["a", "b"], label=[0, 1], score=[0.0, np.nan])
    with pytest.raises(ScoreFileError, match="data row 1: label 3 is not 0 or 1"):
        ScoreTable.from_columns(sample_id=["a"], label=[3], score=[0.0])


def test_groups_fall_back_from_group_to_subject_to_video_to_sample():
    t = ScoreTable.from_columns(
        sample_id=["a", "b", "c", "d"],
        label=[0, 1, 0, 1],
        score=[0, 0, 0, 0],
        group=["g", "", "", ""],
        subject=["s", "s", "", ""],
        video=["v", "v", "v", ""],
    )
    assert t.groups().tolist() == ["g", "s", "v", "d"]


def test_aggregate_by_video_takes_the_mean_per_fold_and_split():
    t = ScoreTable.from_columns(
        sample_id=["v1#0", "v1#1", "v2#0", "v2#1", "v2#2", "v1#0"],
        label=[0, 0, 1, 1, 1, 0],
        attack_type=["", "", "print", "print", "print", ""],
        video=["v1", "v1", "v2", "v2", "v2", "v1"],
        fold=[0, 0, 0, 0, 0, 0],
        split=["test", "test", "test", "test", "test", "dev"],
        score=[0.0, 1.0, 3.0, 4.0, 8.0, 7.0],
    )
    v = aggregate_by_video(t)
    assert v.sample_id.tolist() == ["v1", "v2", "v1"]
    assert v.split.tolist() == ["test", "test", "dev"]
    assert v.score.tolist() == [0.5, 5.0, 7.0]
    assert v.label.tolist() == [0, 1, 0]
    assert v.row.tolist() == [1, 3, 6]


def test_aggregate_by_video_refuses_what_it_would_have_to_guess():
    no_video = ScoreTable.from_columns(
        sample_id=["a", "b"], label=[0, 1], score=[0, 1], video=["v1", ""], source="f.csv"
    )
    with pytest.raises(ScoreFileError, match="f.csv, data row 2: no video id"):
        aggregate_by_video(no_video)
    mixed = ScoreTable.from_columns(
        sample_id=["a", "b"], label=[0, 1], score=[0, 1], video=["v1", "v1"], source="f.csv"
    )
    with pytest.raises(ScoreFileError, match="data rows 1 and 2: video 'v1' has different label"):
        aggregate_by_video(mixed)
