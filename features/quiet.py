"""Native libraries' start-up notices, hidden when the user asked TensorFlow to be quiet.

TensorFlow 2.21 (oneDNN, CUDA and CPU-feature notices) and LiteRT (its XNNPACK delegate) print
from C++, straight to file descriptor 2, before or regardless of `TF_CPP_MIN_LOG_LEVEL`. When
that variable asks for quiet (2 or 3; the command-line tools set it unless `--verbose`),
`native_notices_dropped` runs the loading code with descriptor 2 pointed at a temporary file and
then writes back every captured line except the known notices, all of them if the block raises:
nothing else printed meanwhile (by another thread too) is lost, only delayed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

TENSORFLOW_NOTICES = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)
LITERT_NOTICES = ("Created TensorFlow Lite XNNPACK delegate for CPU",)


def quiet_requested() -> bool:
    """True when `TF_CPP_MIN_LOG_LEVEL` asks TensorFlow to hide info and warnings (>= 2)."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("2", "3")


@contextlib.contextmanager
def native_notices_dropped(notices: tuple[str, ...]) -> Iterator[None]:
    """Capture descriptor 2 during the block (when quiet is requested); write back the captured
    lines except those containing one of `notices` (every line if the block raises)."""
    if not quiet_requested():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = [ln for ln in lines if failed or not any(n in ln for n in notices)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
