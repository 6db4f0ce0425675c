"""`python -m benchmarks.scaling`: wall time and peak memory of colour-LBP as the data grows.

For each size (750, 1,500, 3,000, 6,000 Replay-Attack frames: whole videos, the same share of
every split and class, each size a superset of the one before) and each worker count (a Dask
LocalCluster of 1, 2 single-threaded workers), a fresh child process with an EMPTY cache runs
the colour-LBP SVM method's work: crop every frame and extract its features on the workers
(`features.faces.crop_dataset`, `features.precompute.precompute_features`), then fit the
method's pipeline on all frames in the client (exact RBF SVM at C=1, gamma=1 x scale: one fit,
no grid) and, for the projection, the approximate variant (Nystroem + LinearSVC) too.
This process samples the resident memory of the child and all its descendants (the Dask
scheduler lives in the child, the workers are its children) every 0.1 s; peak = the largest
sum seen. Writes results/scaling.json and results/scaling.png, and projects, from the measured
per-image cost, the crop + features time of CelebA-Spoof's 625,537 images on 1, 8 and 64 workers
(assuming linear scaling, which the 1-vs-2-worker speed-up here only partly supports).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cloudpickle
import numpy as np
import psutil

from features.files import atomic_write

SIZES = (750, 1500, 3000, 6000)
WORKERS = (1, 2)
CELEBA_SPOOF_IMAGES = 625_537
PROJECT_WORKERS = (1, 8, 64)
FRAMES_PER_VIDEO = 5


def video_subsets(records: list, sizes: tuple[int, ...], seed: int = 0) -> dict[int, list]:
    """Nested subsets of whole videos: per (split, label) a seeded order of videos, of which each
    size takes the same leading share. Returns size -> records (frames of whole videos only)."""
    by_video: dict[str, list] = {}
    for r in records:
        by_video.setdefault(r.video, []).append(r)
    strata: dict[tuple, list[str]] = {}
    for video, frames in sorted(by_video.items()):
        strata.setdefault((frames[0].split, frames[0].label), []).append(video)
    rng = np.random.default_rng(seed)
    order = {k: list(rng.permutation(v)) for k, v in sorted(strata.items())}
    out = {}
    for size in sizes:
        share = size / len(records)
        chosen = [v for vids in order.values() for v in vids[: round(share * len(vids))]]
        out[size] = [r for v in sorted(chosen) for r in by_video[v]]
    return out


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a process that just ended
            total += p.memory_info().rss
    return total


def _child(records_file: Path, workers: int) -> dict:
    """In the child: crop + features on a fresh LocalCluster, then the fits; stage seconds."""
    from benchmarks.splits import group_ids
    from classifiers.fitting import fit_method
    from classifiers.registry import build_method
    from features.execution import Execution
    from features.faces import FaceCropper, crop_dataset
    from features.precompute import precompute_features
    from features.records import Dataset

    records = cloudpickle.loads(records_file.read_bytes())
    dataset = Dataset("replay-subset", records[0].path.parents[3], "replay", records, [], False)
    out: dict = {"n": len(records)}
    start = time.perf_counter()
    with Execution(workers=workers) as ex:
        ex.client.run(importlib.import_module, "features.precompute")  # imports not timed below
        out["cluster_start_s"] = time.perf_counter() - start
        pipe = build_method("colour-lbp-svm", {"colour-lbp-svm": {"clf__C": (1.0,)}})
        pipe.set_params(clf__gamma=(1.0,))
        cropper = pipe.named_steps["crop"]
        assert isinstance(cropper, FaceCropper)
        t = time.perf_counter()
        dataset, stats = crop_dataset(dataset, cropper, progress=False, execution=ex)
        out["crop_s"] = time.perf_counter() - t
        t = time.perf_counter()
        precompute_features(dataset.records, cropper, pipe.named_steps["features"], ex, False)
        out["features_s"] = time.perf_counter() - t
    X = np.empty(len(dataset.records), dtype=object)
    X[:] = dataset.records
    y = np.array(dataset.labels)
    for variant, above in (("fit_exact_s", None), ("fit_approximate_s", 1)):
        p = pipe.set_params(clf__approximate_above=above)
        t = time.perf_counter()
        fit_method(p, X, y, groups=group_ids(X))
        out[variant] = time.perf_counter() - t
    out["skipped"] = stats.n_skipped
    return out


def run_one(records: list, workers: int, tmp: Path) -> dict:
    """One measurement in a child process with an empty cache; adds wall time and peak memory."""
    cache = Path(tempfile.mkdtemp(dir=tmp, prefix="cache-"))
    records_file = cache / "records.pkl"
    records_file.write_bytes(cloudpickle.dumps(records))  # records hold mappingproxies
    env = {**os.environ, "LIVENESS_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "benchmarks.scaling", "--child", str(records_file), str(workers)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(ps))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    stdout = proc.stdout.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {stdout[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "workers": workers, "wall_s": wall, "peak_rss_mb": peak / 2**20}


_TIMES = ("cluster_start_s", "crop_s", "features_s", "fit_exact_s", "fit_approximate_s", "wall_s")


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (frames, workers): the median of each time and of the peak memory over the
    repeats, and the crop + features speed-up against 1 worker of the same size."""
    rows = []
    for n, w in sorted({(r["n"], r["workers"]) for r in runs}):
        reps = [r for r in runs if (r["n"], r["workers"]) == (n, w)]
        row = {"n": n, "workers": w, "repeats": len(reps)}
        for key in (*_TIMES, "peak_rss_mb"):
            row[key] = float(np.median([r[key] for r in reps]))
        rows.append(row)
    for row in rows:
        one = next((r for r in rows if r["n"] == row["n"] and r["workers"] == 1), None)
        stage = row["crop_s"] + row["features_s"]
        row["speedup"] = None if one is None else (one["crop_s"] + one["features_s"]) / stage
    return rows


def project(runs: list[dict]) -> dict:
    """Crop + features time of CelebA-Spoof from the measured per-image cost of the largest run
    with one worker, divided over N workers (ideal scaling: a lower bound)."""
    one = max((r for r in runs if r["workers"] == 1), key=lambda r: r["n"])
    per_image = (one["crop_s"] + one["features_s"]) / one["n"]
    approx_per_row = one["fit_approximate_s"] / one["n"]
    return {
        "basis": f"{one['n']} frames, 1 worker",
        "seconds_per_image_per_worker": per_image,
        "images": CELEBA_SPOOF_IMAGES,
        "crop_features_hours": {
            str(w): CELEBA_SPOOF_IMAGES * per_image / w / 3600 for w in PROJECT_WORKERS
        },
        "approximate_fit_hours_if_linear": CELEBA_SPOOF_IMAGES * approx_per_row / 3600,
    }


def _plot(runs: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_t, ax_m = fig.subplots(1, 2)
    for w in sorted({r["workers"] for r in runs}):
        rows = sorted((r for r in runs if r["workers"] == w), key=lambda r: r["n"])
        n = [r["n"] for r in rows]
        ax_t.plot(n, [r["crop_s"] + r["features_s"] for r in rows], "o-", label=f"{w} worker(s)")
        ax_m.plot(n, [r["peak_rss_mb"] for r in rows], "o-", label=f"{w} worker(s)")
    ax_t.set(xlabel="frames", ylabel="crop + features (s)", title="Wall time")
    ax_m.set(xlabel="frames", ylabel="peak RSS, all processes (MiB)", title="Peak memory")
    for ax in (ax_t, ax_m):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path)


def table(doc: dict) -> str:
    """The README's Markdown table of a scaling.json."""
    lines = [
        "| frames | workers | crop (s) | features (s) | fit exact / approx. (s) | wall (s) "
        "| peak memory (MiB) | crop + features speed-up |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["summary"]:
        speedup = "" if r["workers"] == 1 or r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(
            f"| {r['n']:,} | {r['workers']} | {r['crop_s']:.1f} | {r['features_s']:.1f} "
            f"| {r['fit_exact_s']:.1f} / {r['fit_approximate_s']:.1f} | {r['wall_s']:.1f} "
            f"| {r['peak_rss_mb']:.0f} | {speedup} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__)
    p.add_argument("--data", type=Path, help="Replay-Attack tree (default: $LIVENESS_DATA_HOME)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="measurements per size and worker count (interleaved; the tables show medians)",
    )
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(Path(args.child[0]), int(args.child[1]))))
        return 0
    from benchmarks.datasets import load_dataset

    data = args.data or Path(os.environ.get("LIVENESS_DATA_HOME", "")) / "replay-attack"
    if not data.is_dir():
        p.error(f"no Replay-Attack tree at {data} (give --data or set LIVENESS_DATA_HOME)")
    records = load_dataset(data).records
    if max(args.sizes) > len(records):
        p.error(f"sizes go up to {len(records)} frames here, got {max(args.sizes)}")
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    subsets = video_subsets(records, tuple(args.sizes))
    runs = []
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        for subset in subsets.values():
            for repeat in range(args.repeats):  # 1, 2, 1, 2 workers...: drift hits both alike
                for w in args.workers:
                    r = {**run_one(subset, w, Path(tmp)), "repeat": repeat}
                    print(json.dumps(r), flush=True)
                    runs.append(r)
    summary = summarise(runs)
    doc = {
        "what": "crop + colour-LBP features on a Dask LocalCluster (empty cache), then fits; "
        "summary = medians over the repeats",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "runs": runs,
        "summary": summary,
        "projection_celeba_spoof": project(summary),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "scaling.json", json.dumps(doc, indent=2) + "\n")
    _plot(summary, args.out / "scaling.png")
    print(table(doc))
    print(json.dumps(doc["projection_celeba_spoof"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
