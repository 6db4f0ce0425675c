"""Where the per-image work runs: in this process (the default), or on a Dask cluster.

`Execution()` runs nothing anywhere else and starts nothing: small runs pay no cost.
`Execution(workers=N)` starts a `dask.distributed.LocalCluster` of N single-threaded worker
processes; `Execution(scheduler="tcp://host:8786")` joins a cluster started by hand
(`dask scheduler` and `dask worker tcp://host:8786` on each machine). Dask schedules, retries
the tasks of a worker that dies, and reports failures; this module only cuts the work into
chunks and hands them over.

Workers exchange nothing but small summaries with the client: each chunk's results (crops,
features) go to the caches under the cache root (`features.files.cache_root`, i.e.
$LIVENESS_CACHE_DIR), content-addressed and written atomically, so a chunk that a dead worker
had finished is not lost and a re-run resumes from the caches. On entry every worker must see
the client's cache root, so a cluster on several machines needs it on a shared file system.
Each worker present on entry also turns OpenCV's internal threads off (`cv2.setNumThreads(1)`):
Dask's task threads are the parallelism, and OpenCV's pool on top of them would oversubscribe
the cores (results do not depend on it).
"""

from __future__ import annotations

import os
import secrets
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from features.files import atomic_write, cache_root

DEFAULT_CHUNK = 32
CONNECT_TIMEOUT = 5.0


class ExecutionError(RuntimeError):
    """The cluster cannot be started or reached, or cannot see the cache directory."""


def _single_threaded_opencv() -> None:
    """On a worker: OpenCV's own thread pool off (Dask already runs one task per thread), so
    N workers on N cores do not oversubscribe them."""
    import cv2

    cv2.setNumThreads(1)


def _can_read(path: str, token: str) -> bool:
    try:
        return Path(path).read_text(encoding="utf-8") == token
    except OSError:
        return False


class Execution:
    """A context manager that owns (or joins) the Dask cluster for one run, if any.

    workers: start a LocalCluster of this many single-threaded worker processes.
    scheduler: address of an existing scheduler (exclusive with `workers`).
    chunk: records per Dask task (each task crops or extracts one chunk).
    """

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        chunk: int = DEFAULT_CHUNK,
        timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        if workers is not None and scheduler is not None:
            raise ExecutionError("give either a number of workers or a scheduler address")
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise ExecutionError(f"the number of workers must be at least 1, got {workers!r}")
        if chunk < 1:
            raise ExecutionError(f"chunk must be at least 1, got {chunk!r}")
        self.workers = workers
        self.scheduler = scheduler
        self.chunk = chunk
        self.timeout = timeout
        self.client: Any = None
        self._cluster: Any = None

    @property
    def distributed(self) -> bool:
        """True when the work goes to Dask workers."""
        return self.workers is not None or self.scheduler is not None

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"Dask scheduler {self.scheduler}"
        if self.workers is not None:
            return f"local Dask cluster of {self.workers} worker(s)"
        return "in-process"

    def __enter__(self) -> Execution:
        if not self.distributed:
            return self
        from dask.distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self.client = Client(self.scheduler, timeout=f"{self.timeout}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise ExecutionError(
                    f"cannot reach the Dask scheduler at {self.scheduler!r} within "
                    f"{self.timeout:g} s ({type(e).__name__}: {e}); start one with "
                    "`dask scheduler` and workers with `dask worker ADDRESS`"
                ) from None
        else:
            self._cluster = LocalCluster(
                n_workers=int(self.workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self._cluster)
        try:
            self._check_cache()
            self.client.run(_single_threaded_opencv)
        except BaseException:
            self.close()
            raise
        return self

    def _check_cache(self) -> None:
        """Every worker must read what this process writes under the cache root."""
        token = secrets.token_hex(8)
        marker = cache_root() / ".workers" / f"{os.getpid()}-{token}"
        atomic_write(marker, token)
        try:
            seen = self.client.run(_can_read, str(marker), token)
        finally:
            marker.unlink(missing_ok=True)
        blind = sorted(w for w, ok in seen.items() if not ok)
        if not seen:
            raise ExecutionError(f"the {self.describe()} has no workers")
        if blind:
            raise ExecutionError(
                f"worker(s) {', '.join(blind)} cannot read the cache directory {cache_root()}: "
                "set LIVENESS_CACHE_DIR to a folder every worker can reach"
            )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map_chunks(
        self, fn: Callable[..., list], items: Sequence, *args: Any, name: str = "chunk"
    ) -> Iterator[Any]:
        """`fn(chunk, *args)` on consecutive chunks of `items` on the workers; yields the
        concatenated per-item results in order. At most a few tasks per worker thread are in
        flight, so neither the client nor the scheduler holds the whole dataset's tasks.
        Needs an entered distributed Execution."""
        if self.client is None:
            raise ExecutionError("map_chunks needs a running Dask cluster (use `with Execution`)")
        starts = iter(range(0, len(items), self.chunk))
        run = secrets.token_hex(4)
        window = max(8, 4 * sum(self.client.nthreads().values()))  # tasks in flight at once
        pending: deque = deque()

        def submit() -> None:
            i = next(starts, None)
            if i is not None:
                chunk = items[i : i + self.chunk]
                pending.append(self.client.submit(fn, chunk, *args, key=f"{name}-{run}-{i}"))

        try:
            for _ in range(window):
                submit()
            while pending:
                fut = pending.popleft()
                yield from fut.result()
                fut.release()
                submit()
        finally:
            for fut in pending:
                fut.cancel()
