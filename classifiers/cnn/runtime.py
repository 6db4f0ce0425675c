"""TensorFlow and Keras, imported once and quietly: every CNN module takes them from here.

TensorFlow 2.21 writes its start-up notices (oneDNN, CUDA, CPU features) from C++ before its
logging reads `TF_CPP_MIN_LOG_LEVEL`; when that variable asks for quiet, the import drops them
(`features.quiet`: any other line printed meanwhile is written back, every line if the import
fails). Keras' "triggered tf.function retracing" warning, printed when one process trains a new
model per fold, is filtered out: each fold's model is new, so its functions are traced anew by
design.
"""

from __future__ import annotations

import contextlib
import logging
import sys

from features.quiet import TENSORFLOW_NOTICES, native_notices_dropped


class _NoRetracingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


_first = "tensorflow" not in sys.modules
with native_notices_dropped(TENSORFLOW_NOTICES) if _first else contextlib.nullcontext():
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402

tf.get_logger().addFilter(_NoRetracingWarning())

__all__ = ["keras", "tf"]
