"""Native start-up notices (TensorFlow, LiteRT) are dropped when quiet is asked
(TF_CPP_MIN_LOG_LEVEL >= 2); nothing else printed meanwhile is lost."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers.cnn import runtime
from features import quiet

ROOT = Path(__file__).resolve().parent.parent


def _stderr_of_import(level: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    code = "import classifiers.cnn.runtime as r; print(r.tf.__version__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == runtime.tf.__version__
    return done.stderr


def test_the_import_prints_nothing_when_quiet_is_asked() -> None:
    # TensorFlow 2.21 prints its oneDNN/CUDA notices from C++ before it reads the variable
    assert _stderr_of_import("3") == ""
    assert _stderr_of_import("2") == ""


def test_the_import_keeps_tensorflows_lines_otherwise() -> None:
    loud = _stderr_of_import(None)
    if not loud:
        pytest.skip("this TensorFlow build prints nothing at import: nothing to hide")
    assert "oneDNN" in loud or "absl" in loud or "cuda" in loud.lower()


NOTICE = "Created TensorFlow Lite XNNPACK delegate for CPU."


def test_only_the_notices_are_dropped(capfd, monkeypatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet.native_notices_dropped(quiet.LITERT_NOTICES):
        os.write(2, f"INFO: {NOTICE}\n".encode())
        os.write(2, b"another thread: disk full\n")
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "another thread: disk full\nafter\n"


def test_a_failing_block_writes_back_every_line(capfd, monkeypatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with pytest.raises(RuntimeError), quiet.native_notices_dropped(quiet.LITERT_NOTICES):
        os.write(2, f"INFO: {NOTICE}\nnative library: something went wrong\n".encode())
        raise RuntimeError("load failed")
    assert capfd.readouterr().err == f"INFO: {NOTICE}\nnative library: something went wrong\n"


def test_nothing_is_captured_unless_quiet_is_asked(capfd, monkeypatch) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with quiet.native_notices_dropped(quiet.LITERT_NOTICES):
        os.write(2, f"INFO: {NOTICE}\n".encode())
    assert capfd.readouterr().err == f"INFO: {NOTICE}\n"


@pytest.mark.parametrize("level", ["2", "3"])
def test_quiet_is_requested_by_the_tensorflow_variable(
    level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    assert quiet.quiet_requested()
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert not quiet.quiet_requested()


def test_the_face_detector_loads_without_its_notice_when_quiet() -> None:
    code = (
        "import numpy as np; from features.faces import detect_faces; "
        "detect_faces(np.zeros((64, 64, 3), np.uint8), 'blazeface'); print('ok')"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert "XNNPACK" not in done.stderr and done.stderr == ""


def test_training_a_new_model_per_fold_logs_no_retracing_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    keras = runtime.keras
    x, y = np.zeros((8, 4), np.float32), np.zeros(8, np.float32)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for _ in range(7):  # as a benchmark does: one new model per fold, in one process
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile("sgd", "mse")
            model.fit(x, y, epochs=1, verbose=0)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
