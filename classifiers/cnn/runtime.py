"""TensorFlow and Keras, imported once and quietly: every CNN module takes them from here.

TensorFlow 2.21 writes its start-up lines (oneDNN, CUDA, CPU-feature notices) from C++ static
initialisers, before its logging reads `TF_CPP_MIN_LOG_LEVEL`, so the variable cannot hide
them. When that variable asks for quiet (2 or 3; the command-line tools set it unless
`--verbose`), the import runs with the process's stderr pointed at a temporary file, which is
replayed if the import fails, so no error is lost. Keras' "triggered tf.function retracing"
warning, printed when one process trains a new model per fold, is dropped: each fold's model
is new, so its functions are traced anew by design.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator


def quiet_requested() -> bool:
    """True when `TF_CPP_MIN_LOG_LEVEL` asks TensorFlow to hide info and warnings (>= 2)."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("2", "3")


@contextlib.contextmanager
def _stderr_to_file() -> Iterator[None]:
    """Point file descriptor 2 at a temporary file; replay its text if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _NoRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_quiet = quiet_requested() and "tensorflow" not in sys.modules
with _stderr_to_file() if _quiet else contextlib.nullcontext():
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402

tf.get_logger().addFilter(_NoRetracingWarning())

__all__ = ["keras", "quiet_requested", "tf"]
