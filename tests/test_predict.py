"""`--save-models` then `python -m classifiers.predict` on real seed600 files, folders, a video
written here, and bad files; a CNN saved natively by a cross-dataset run.

Every row's decision must be the stored development threshold applied to its score
(attack when score >= threshold); a bad file gets its own error line, the others are still
scored, and the exit code is 1 at the end; a file that is not a model is refused with exit 2.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.run import main as run_main
from classifiers.persistence import load_fitted, read_header
from classifiers.predict import main as predict_main
from features.images import read_image, sample_frames

REPO = Path(__file__).resolve().parents[1]
FAST_CONFIG = """
[protocol]
n_boot = 100

[params.lbp-lr]
clf__C = [1.0]
clf__inner_splits = 2
"""
UNSEEN = ("Live/30.jpg", "Spoof/30.jpg")  # not in the training subset below


def capture(fn, argv: list[object]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = fn([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def predict_json(model: Path, *inputs: object) -> tuple[int, list[dict], str]:
    code, out, err = capture(predict_main, ["--model", model, *inputs, "--json"])
    return code, [json.loads(line) for line in out.splitlines()], err


def assert_decisions_follow_threshold(rows: list[dict], threshold: float) -> None:
    assert rows
    for row in rows:
        assert math.isfinite(row["score"])
        expected = "attack" if row["score"] >= threshold else "bonafide"
        assert row["decision"] == expected, row
        assert row["face_found"] in (True, False)


@pytest.fixture(scope="module")
def saved(seed_subset_dir, tmp_path_factory) -> tuple[Path, str]:
    """Models saved by a run on 50 real images; returns the models folder and the run's stdout."""
    tmp = tmp_path_factory.mktemp("predict-run")
    (tmp / "fast.toml").write_text(FAST_CONFIG, encoding="utf-8")
    code, out, err = capture(
        run_main,
        [
            "--data",
            seed_subset_dir,
            "--methods",
            "metadata-audit",
            "lbp-lr",
            "per-source:lbp-lr",
            "--folds",
            2,
            "--save-models",
            "--out",
            tmp / "out",
            "--no-progress",
            "--config",
            tmp / "fast.toml",
        ],
    )
    assert code == 0, err
    return tmp / "out" / "models", out


@pytest.fixture(scope="module")
def lbp_model(saved) -> Path:
    return saved[0] / "lbp-lr" / "model.skops"


@pytest.fixture(scope="module")
def video(seed600_dir, tmp_path_factory) -> Path:
    """A 6-frame MJPEG video of a real bona fide face, slightly shifted from frame to frame."""
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    face = cv2.cvtColor(read_image(seed600_dir / "Live" / "30.jpg"), cv2.COLOR_RGB2BGR)
    face = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 160))
    assert writer.isOpened()
    for k in range(6):
        writer.write(np.roll(face, 2 * k, axis=1))
    writer.release()
    return path


def test_save_models_stores_each_method_with_its_dev_threshold(saved, seed600_dir):
    models, stdout = saved
    for method in ("metadata-audit", "lbp-lr"):
        path = models / method / "model.skops"
        header = read_header(path)
        assert header["params"]["method"] == method
        assert header["params"]["dataset"] == "seed600-subset"
        assert math.isfinite(header["threshold"])
        assert f"saved {method} (threshold {header['threshold']:.4g})" in stdout
        model = load_fitted(models / method)  # the folder is enough
        assert model.threshold == header["threshold"]
        assert header["params"]["member_params"] == {}
    # an ensemble's header records the [params] its base method was built with, too
    header = read_header(models / "per-source:lbp-lr" / "model.skops")
    assert header["params"]["params"] == {}
    assert header["params"]["member_params"] == {
        "lbp-lr": {"clf__C": [1.0], "clf__inner_splits": 2}
    }


def test_the_saved_threshold_is_chosen_on_dev_data_only(saved, seed_subset_dir):
    """The saved model's threshold is the EER threshold of its own scores on fold 0's dev part:
    records it was not trained on (its training part is fold 0's train and test parts)."""
    from benchmarks.datasets import load_dataset
    from benchmarks.metrics import choose_threshold
    from benchmarks.splits import make_folds

    records = load_dataset(seed_subset_dir).records
    fold = make_folds(records, k=2, seed=0, dev_fraction=0.2)[0]
    dev = np.empty(len(fold.dev), dtype=object)
    dev[:] = [records[i] for i in fold.dev]
    labels = [r.label for r in dev]
    model = load_fitted(saved[0] / "lbp-lr")
    scores = model.estimator.decision_function(dev)
    assert model.threshold == choose_threshold(scores, labels, [r.attack_type for r in dev], "eer")
    train = {records[i].sha256 for i in np.concatenate([fold.train, fold.test])}
    assert not train & {r.sha256 for r in dev}  # and the dev records were never trained on


def test_predict_real_images_as_json_lines(lbp_model, seed600_dir):
    threshold = read_header(lbp_model)["threshold"]
    files = [seed600_dir / f for f in UNSEEN]
    code, rows, err = predict_json(lbp_model, *files)
    assert code == 0, err
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert_decisions_follow_threshold(rows, threshold)
    assert all(set(r) == {"file", "score", "decision", "face_found"} for r in rows)


def test_predict_table_output(lbp_model, seed600_dir):
    code, out, err = capture(predict_main, ["--model", lbp_model, seed600_dir / UNSEEN[0]])
    assert code == 0, err
    header, line = out.splitlines()
    assert header.split() == ["file", "score", "decision", "face"]
    name, score, decision, face = line.split()
    assert name == str(seed600_dir / UNSEEN[0])
    threshold = read_header(lbp_model)["threshold"]
    assert decision == ("attack" if float(score) >= threshold else "bonafide")
    assert face in ("yes", "no")


def test_predict_a_folder_scores_every_image_below_it(lbp_model, seed600_dir, tmp_path):
    folder = tmp_path / "inbox"
    (folder / "more").mkdir(parents=True)
    (folder / "a.jpg").symlink_to(seed600_dir / "Live" / "31.jpg")
    (folder / "b.jpg").symlink_to(seed600_dir / "Spoof" / "31.jpg")
    (folder / "more" / "c.jpg").symlink_to(seed600_dir / "Spoof" / "32.jpg")
    (folder / "notes.txt").write_text("not an image, not scored\n")
    code, rows, err = predict_json(lbp_model, folder)
    assert code == 0, err
    assert [r["file"] for r in rows] == [
        str(folder / "a.jpg"),
        str(folder / "b.jpg"),
        str(folder / "more" / "c.jpg"),
    ]
    assert_decisions_follow_threshold(rows, read_header(lbp_model)["threshold"])


def test_predict_a_video_gives_frame_rows_and_a_video_row(lbp_model, video):
    threshold = read_header(lbp_model)["threshold"]
    code, rows, err = predict_json(lbp_model, video, "--frames", 3)
    assert code == 0, err
    frames = [r for r in rows if r.get("level") == "frame"]
    videos = [r for r in rows if r.get("level") == "video"]
    assert len(rows) == 4 and len(videos) == 1
    assert [r["frame"] for r in frames] == sample_frames(6, frames_per_video=3)
    assert all(r["file"] == str(video) for r in rows)
    assert_decisions_follow_threshold(rows, threshold)
    (summary,) = videos
    assert math.isclose(summary["score"], np.mean([r["score"] for r in frames]), rel_tol=1e-12)
    assert summary["face_found"] == any(r["face_found"] for r in frames)


def test_bad_files_get_an_error_line_and_the_others_are_still_scored(
    lbp_model, seed600_dir, tmp_path
):
    zero = tmp_path / "zero.jpg"
    zero.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("this is not a JPEG")
    missing = tmp_path / "missing.jpg"
    broken_video = tmp_path / "broken.mp4"
    broken_video.write_bytes(b"\x00" * 64)
    good = seed600_dir / UNSEEN[1]
    bad = [zero, text, missing, broken_video]
    code, out, err = capture(
        predict_main, ["--model", lbp_model, zero, text, good, missing, broken_video]
    )
    assert code == 1
    assert str(good) in out  # scored although bad files came before and after it
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad)
    for path, line in zip(bad, errors, strict=True):
        assert str(path) in line
    assert "4 input(s) could not be scored" in err
    assert "Traceback" not in err

    code, rows, _ = predict_json(lbp_model, zero, good)
    assert code == 1
    assert rows[0]["file"] == str(zero) and rows[0]["error"]
    assert "score" not in rows[0]
    assert_decisions_follow_threshold(rows[1:], read_header(lbp_model)["threshold"])


@pytest.mark.parametrize("kind", ["image", "text", "folder", "keras-file"])
def test_a_file_that_is_not_a_model_is_refused_with_exit_2(kind, seed600_dir, tmp_path):
    if kind == "image":
        model = seed600_dir / UNSEEN[0]
    elif kind == "text":
        model = tmp_path / "model.skops"
        model.write_text('{"format": "something else"}\n')
    elif kind == "folder":
        model = tmp_path  # no model.skops inside
    else:  # a Keras file on its own is not a model file of the toolkit
        model = tmp_path / "model.keras"
        model.write_bytes(b"PK not really a zip")
    code, out, err = capture(predict_main, ["--model", model, seed600_dir / UNSEEN[0]])
    assert code == 2
    assert err.startswith("error: bad model file: ") and str(model) in err
    assert out == ""  # refused before any row (or table header) is printed


class Tripwire:
    """Unpickling this object creates a file: proof that a pickle was (not) loaded."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def model_copy(lbp_model: Path, folder: Path) -> Path:
    """A copy of the real saved lbp-lr model file, in `folder`."""
    folder.mkdir()
    (folder / lbp_model.name).write_bytes(lbp_model.read_bytes())
    return folder / lbp_model.name


def assert_refused(model: Path, image: Path, what: str) -> str:
    code, out, err = capture(predict_main, ["--model", model, image])
    assert code == 2, err
    assert err.startswith(f"error: bad model file: {model}: "), err
    assert what in err and "Traceback" not in err
    assert out == ""
    return err


@pytest.mark.parametrize("name", ["model.skops", "model.joblib"])
@pytest.mark.parametrize("format_version", [1, 2])
def test_a_malicious_pickle_behind_a_real_header_never_runs(
    lbp_model, seed600_dir, tmp_path, name, format_version
):
    tripwire = tmp_path / "pwned"
    header = json.loads(lbp_model.read_bytes().split(b"\n", 1)[0])
    header["format_version"] = format_version
    model = tmp_path / "m" / name
    model.parent.mkdir()
    model.write_bytes(json.dumps(header).encode() + b"\n" + pickle.dumps(Tripwire(str(tripwire))))
    err = assert_refused(model, seed600_dir / UNSEEN[0], "")
    assert "pickle" in err or "skops archive" in err
    # the folder is refused the same way
    assert capture(predict_main, ["--model", model.parent, seed600_dir / UNSEEN[0]]) == (2, "", err)
    assert not tripwire.exists()


def _truncated(raw: bytes) -> bytes:
    return raw[: len(raw) * 2 // 3]


def _header_only(raw: bytes) -> bytes:
    return raw.split(b"\n", 1)[0] + b"\n"


def _random_body(raw: bytes) -> bytes:
    return _header_only(raw) + np.random.default_rng(0).bytes(4096)


def _with_header(**changes):
    def rewrite(raw: bytes) -> bytes:
        line, body = raw.split(b"\n", 1)
        header = json.loads(line)
        for key, value in changes.items():
            if value is KeyError:
                del header[key]
            else:
                header[key] = value
        return json.dumps(header).encode() + b"\n" + body

    return rewrite


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (_truncated, "damaged or truncated"),
        (_header_only, "header only"),
        (lambda raw: np.random.default_rng(1).bytes(len(raw)), "no JSON header"),
        (_random_body, "damaged or truncated"),
        (_with_header(threshold=float("nan")), "threshold must be a finite number, got nan"),
        (_with_header(threshold=float("inf")), "threshold must be a finite number, got inf"),
        (_with_header(threshold=KeyError), "no threshold"),
        (_with_header(threshold="0.5"), "threshold must be a finite number, got '0.5'"),
        (_with_header(threshold=None), "threshold must be a finite number, got None"),
        (_with_header(threshold=True), "threshold must be a finite number, got True"),
        (_with_header(params=[1, 2]), "'params' must be a dict"),
        (_with_header(versions="1.0"), "'versions' must be a dict"),
        (_with_header(versions={"numpy": 2}), "'versions' must map names to version strings"),
        (_with_header(created=7), "'created' must be a str"),
        (_with_header(format_version="2"), "format version '2' is not supported"),
    ],
)
def test_damaged_model_files_are_refused_with_exit_2(
    lbp_model, seed600_dir, tmp_path, damage, what
):
    model = model_copy(lbp_model, tmp_path / "m")
    model.write_bytes(damage(model.read_bytes()))
    assert_refused(model, seed600_dir / UNSEEN[0], what)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"threshold": float("nan")}, "threshold must be a finite number, got nan"),
        ({"threshold": "high"}, "threshold must be a finite number, got 'high'"),
        ({"threshold": None}, "threshold must be a finite number, got None"),
        ({"n_epochs": "3"}, "'n_epochs' must be an integer"),
        ({"params": {"no_such_param": 1}}, "bad params"),
    ],
)
def test_damaged_cnn_metadata_is_refused_with_exit_2(
    cnn_model, seed600_dir, tmp_path, change, what
):
    folder = tmp_path / "cnn"
    folder.mkdir()
    for f in cnn_model.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    meta = json.loads((folder / "model.cnn0.json").read_text())
    meta.update(change)
    (folder / "model.cnn0.json").write_text(json.dumps(meta))
    code, out, err = capture(predict_main, ["--model", folder, seed600_dir / UNSEEN[0]])
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"error: bad model file: {folder / 'model.cnn0'}") and what in err, err


def test_an_empty_folder_is_an_error_and_the_others_are_still_scored(
    lbp_model, seed600_dir, tmp_path
):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no image here\n")
    code, out, err = capture(predict_main, ["--model", lbp_model, empty])
    assert code == 1
    assert f"error: {empty}: no image or video files found" in err
    assert len(out.splitlines()) == 1  # the table header only
    code, rows, err = predict_json(lbp_model, empty, seed600_dir / UNSEEN[0])
    assert code == 1
    assert rows[0] == {
        "file": str(empty),
        "error": f"{empty}: no image or video files found in this folder",
    }
    assert_decisions_follow_threshold(rows[1:], read_header(lbp_model)["threshold"])


@pytest.mark.parametrize("frames", ["0", "-3", "two"])
def test_frames_must_be_a_positive_whole_number(lbp_model, video, frames):
    code, out, err = capture(predict_main, ["--model", lbp_model, video, "--frames", frames])
    assert code == 2
    assert "--frames" in err and out == ""


def test_help_lists_the_exit_codes():
    code, out, _ = capture(predict_main, ["--help"])
    assert code == 0
    assert "exit codes:" in out and "no image or video file" in out and "bad model file" in out


def test_an_svm_model_predicts_without_importing_tensorflow(lbp_model, seed600_dir):
    script = (
        "import sys; from classifiers.predict import main; "
        f"code = main(['--model', {str(lbp_model)!r}, {str(seed600_dir / UNSEEN[0])!r}]); "
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules, file=sys.stderr)"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert res.stderr.splitlines()[-1] == "0 False False", res.stderr
    assert str(seed600_dir / UNSEEN[0]) in res.stdout


def test_predict_module_entry_point(lbp_model, seed600_dir):
    res = subprocess.run(
        [sys.executable, "-m", "classifiers.predict", "--model", str(lbp_model), "--json"]
        + [str(seed600_dir / f) for f in UNSEEN],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["file"] for r in rows] == [str(seed600_dir / f) for f in UNSEEN]
    assert_decisions_follow_threshold(rows, read_header(lbp_model)["threshold"])


@pytest.fixture(scope="module")
def cnn_run(seed_subset_dir, nuaa_subset_dir, tmp_path_factory) -> tuple[Path, int, str, str]:
    """The one CNN training: LivenessNet (1 epoch, 32 px), trained on seed600, saved natively."""
    tmp_path = tmp_path_factory.mktemp("cnn-run")
    config = tmp_path / "cnn.toml"
    config.write_text(FAST_CONFIG + "\n[params.livenessnet]\nclf__epochs = 1\ncrop__size = 32\n")
    out = tmp_path / "out"
    code, stdout, err = capture(
        run_main,
        [
            "--train-data",
            seed_subset_dir,
            "--test-data",
            nuaa_subset_dir,
            "--methods",
            "livenessnet",
            "--save-models",
            "--out",
            out,
            "--no-progress",
            "--config",
            config,
        ],
    )
    return out, code, stdout, err


@pytest.fixture(scope="module")
def cnn_model(cnn_run) -> Path:
    return cnn_run[0] / "models" / "livenessnet"


def test_cnn_saved_by_a_cross_dataset_run_predicts(cnn_run, seed600_dir):
    out, code, _, err = cnn_run
    assert code == 0, err
    doc = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    assert [m["family"] for m in doc["methods"]] == ["cnn"]
    model_dir = out / "models" / "livenessnet"
    threshold = read_header(model_dir / "model.skops")["threshold"]
    code, rows, err = predict_json(model_dir, *(seed600_dir / f for f in UNSEEN))
    assert code == 0, err
    assert len(rows) == 2
    assert_decisions_follow_threshold(rows, threshold)
