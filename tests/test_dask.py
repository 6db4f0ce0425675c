"""Dask execution: a LocalCluster gives the in-process run's scores, survives a killed worker,
and an unreachable scheduler is refused before any work (real Replay-Attack frames)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from benchmarks.datasets import load_dataset
from features.execution import Execution, ExecutionError
from features.faces import FaceCropper, crop_dataset
from tests.test_run import run_cli

pytest.importorskip("dask.distributed")

SPLITS = ("train", "devel", "test")
CONFIG = """
methods = ["lbp-svm", "colour-lbp-svm"]
[protocol]
n_boot = 50
[params.lbp-svm]
clf__C = [1.0, 10.0]
clf__gamma = [1.0]
clf__inner_splits = 2
[params.colour-lbp-svm]
clf__C = [1.0]
clf__gamma = [1.0]
clf__approximate_above = 20
clf__approximate_components = 10
"""


@pytest.fixture(scope="module")
def replay_videos(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per split 3 bona fide and 3 attack videos (whole videos: 5 frames each, so the subset
    keeps every video, and so every client, on one side), symlinked: 90 frames."""
    root = tmp_path_factory.mktemp("replay") / "replay-videos"
    for split in SPLITS:
        real = sorted((replay_dir / split / "real").iterdir())[::4][:3]  # 3 clients
        attacks = sorted((replay_dir / split / "attack" / "fixed").iterdir())[::40][:3]
        for src in real + attacks:
            dst = root / src.relative_to(replay_dir)
            dst.mkdir(parents=True)
            for f in src.iterdir():
                (dst / f.name).symlink_to(f)
        (root / split / "attack" / "hand").mkdir(parents=True)
    return root


def _run(data: Path, out: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, *extra: str):
    monkeypatch.setenv("LIVENESS_CACHE_DIR", str(cache))
    config = out.parent / f"{out.name}.toml"
    config.write_text(CONFIG, encoding="utf-8")
    args = ["--data", data, "--config", config, "--out", out, "--no-progress", *extra]
    return run_cli(*args)


def test_local_cluster_gives_bit_identical_scores(
    replay_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _run(replay_videos, tmp_path / "local", tmp_path / "cache-a", monkeypatch)
    assert local.code == 0, local.err
    dask = _run(
        replay_videos, tmp_path / "dask", tmp_path / "cache-b", monkeypatch, "--workers", "2"
    )
    assert dask.code == 0, dask.err
    assert "local Dask cluster of 2 worker(s)" in dask.out
    # The Dask run computed its crops and features on the workers, into its own cache.
    assert len(list((tmp_path / "cache-b" / "crops").rglob("*.npz"))) == 90
    assert len(list((tmp_path / "cache-b" / "features").rglob("*.npy"))) >= 2 * 90
    for method in ("lbp-svm", "colour-lbp-svm"):
        a = (tmp_path / "local" / "scores" / f"{method}.csv").read_bytes()
        b = (tmp_path / "dask" / "scores" / f"{method}.csv").read_bytes()
        assert a == b, method
    # The variant that ran is in the comparison and in the resumable state.
    for out in ("local", "dask"):
        doc = json.loads((tmp_path / out / "comparison.json").read_text(encoding="utf-8"))
        variant = {m["name"]: m["classifier_variant"] for m in doc["methods"]}
        assert variant == {
            "lbp-svm": "exact",
            "colour-lbp-svm": "approximate: Nystroem + LinearSVC",
        }
        state = json.loads((tmp_path / out / "state" / "colour-lbp-svm.json").read_text())
        assert set(state["variants"]) == {"approximate: Nystroem + LinearSVC"}
    # The faces-found counts (per class, several faces) come back from the workers too.
    faces = [
        json.loads((tmp_path / out / "comparison.json").read_text())["provenance"]["faces_found"]
        for out in ("local", "dask")
    ]
    assert faces[0] == faces[1] and faces[0]["n_records"] == 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_clear_error_before_any_work(
    replay_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    start = time.monotonic()
    run = _run(
        replay_videos, tmp_path / "out", tmp_path / "cache", monkeypatch, "--scheduler", address
    )
    assert time.monotonic() - start < 15
    assert run.code == 2
    assert f"cannot reach the Dask scheduler at {address!r}" in run.err
    assert "Traceback" not in run.err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_workers_and_scheduler_exclude_each_other(
    replay_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(
        replay_videos,
        tmp_path / "o",
        tmp_path / "c",
        monkeypatch,
        "--workers",
        "2",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert run.code == 2 and "--workers and --scheduler exclude each other" in run.err


def _kill_one_worker_after_crops(ex: Execution, folder: Path, n: int, seen: list) -> None:
    """Wait until `n` crops are cached, then SIGKILL one worker process (mid crop stage);
    `seen` gets the killed pid and the number of crops cached at that moment."""
    pids = ex.client.run(os.getpid)
    deadline = time.monotonic() + 60
    while len(list(folder.rglob("*.npz"))) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = next(iter(pids.values()))
    os.kill(victim, signal.SIGKILL)
    seen += [victim, len(list(folder.rglob("*.npz")))]


def test_killed_worker_loses_no_finished_crop(
    replay_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setenv("LIVENESS_CACHE_DIR", str(tmp_path / "cache"))
    dataset = load_dataset(replay_videos)
    cropper = FaceCropper()
    seen: list = []
    with Execution(workers=2, chunk=2) as ex:
        killer = threading.Thread(
            target=_kill_one_worker_after_crops, args=(ex, tmp_path / "cache" / "crops", 8, seen)
        )
        killer.start()
        kept, stats = crop_dataset(dataset, cropper, progress=False, execution=ex)
        killer.join()
        after = set(ex.client.run(os.getpid).values())
    victim, cached_at_kill = seen
    assert cached_at_kill < 90, "the crop stage ended before the kill: the test proved nothing"
    assert victim not in after  # the nanny replaced the killed worker; Dask re-ran its tasks
    assert len(kept) == len(dataset) == 90 and stats.n_skipped == 0
    # Every crop the workers made is in the cache, identical to an in-process crop.
    for r in dataset.records[::9]:
        cached = cropper.crop_one(r)
        assert (cached.crop == cropper._compute(r).crop).all()


def test_execution_refuses_bad_settings() -> None:
    with pytest.raises(ExecutionError, match="either a number of workers or a scheduler"):
        Execution(workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ExecutionError, match="at least 1"):
        Execution(workers=0)


def test_existing_cluster_by_address_crops_into_the_shared_cache(
    replay_videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dask.distributed import LocalCluster

    monkeypatch.setenv("LIVENESS_CACHE_DIR", str(tmp_path / "cache"))
    dataset = load_dataset(replay_videos)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        with Execution(scheduler=cluster.scheduler_address) as ex:
            assert ex.describe() == f"Dask scheduler {cluster.scheduler_address}"
            kept, stats = crop_dataset(dataset, FaceCropper(), progress=False, execution=ex)
        # Leaving the Execution disconnects from the cluster but never stops it.
        assert cluster.scheduler_info["workers"]
    assert len(kept) == 90 and sum(stats.by_source.values()) == 90
    assert len(list((tmp_path / "cache" / "crops").rglob("*.npz"))) == 90


def test_workers_run_opencv_single_threaded(tmp_path: Path, monkeypatch) -> None:
    """Dask's task threads are the parallelism: OpenCV's own pool would oversubscribe cores."""
    import cv2

    monkeypatch.setenv("LIVENESS_CACHE_DIR", str(tmp_path))
    with Execution(workers=2) as ex:
        threads = ex.client.run(cv2.getNumThreads)
    assert list(threads.values()) == [1, 1]
