"""Where the toolkit keeps files, and how it writes them: the cache root and atomic writes.

Atomic writes: a reader sees the old file or the new one, never half of one.

Every result, score file, cache entry and model goes through here: the data is written to a
temporary file in the same folder, which replaces the target only once it is complete; on any
error (or an interrupt) the temporary file is removed and the old target stays as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` when the block succeeds.

    `suffix` is for writers that insist on a file extension (Keras wants `.keras`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be read by others
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """`open(path, mode)` whose content replaces `path` only once the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write `data` (str as UTF-8) to `path` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_open(path, "wb") as f:
        f.write(payload)
    return Path(path)


def escape_undecodable(text: str) -> str:
    r"""`text` with the bytes of a non-UTF-8 file name spelt `\xNN`, so it can be written as UTF-8.

    Python decodes such names with lone surrogates (os.fsdecode), which a UTF-8 writer refuses.
    Valid text comes back unchanged; b"\xff\xfe.jpg" becomes the 12 characters `\xff\xfe.jpg`.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to: spell it \udXXX
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def cache_root() -> Path:
    """Root of the toolkit's caches: $LIVENESS_CACHE_DIR, else ~/.cache/liveness-toolkit."""
    env = os.environ.get("LIVENESS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "liveness-toolkit"
