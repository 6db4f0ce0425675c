"""TensorFlow is imported quietly when asked (TF_CPP_MIN_LOG_LEVEL >= 2), without losing errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers.cnn import runtime

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


def test_a_failing_block_replays_what_it_wrote_to_stderr(capfd: pytest.CaptureFixture) -> None:
    with pytest.raises(RuntimeError), runtime._stderr_to_file():
        os.write(2, b"native library: something went wrong\n")
        raise RuntimeError("import failed")
    assert "native library: something went wrong" in capfd.readouterr().err


def test_a_quiet_block_hides_what_it_wrote(capfd: pytest.CaptureFixture) -> None:
    with runtime._stderr_to_file():
        os.write(2, b"start-up notice\n")
    print("after", file=sys.stderr)
    assert capfd.readouterr().err == "after\n"


@pytest.mark.parametrize("level", ["2", "3"])
def test_quiet_is_requested_by_the_tensorflow_variable(
    level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    assert runtime.quiet_requested()
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert not runtime.quiet_requested()


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
