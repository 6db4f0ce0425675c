"""`python -m benchmarks.face_detectors`: cost and hit rate of each face detector on real data.

Speed: on every 600x450 / 450x600 seed600 image, single-threaded, the JPEG decode (Pillow, as
`features.images.read_image`) and each detector are timed on the same file in the same loop;
the medians and the detection/decode ratio are reported.
Hit rate: per dataset and class, the number of images in which each registered detector finds
a face, on all of seed600, NUAA and Replay-Attack (every frame). Each BlazeFace model is also
counted at single score thresholds t, letterboxing the whole image only ("short@t") or also
trying square tiles ("short+tiles@t"): an image has a face if its best score is >= t.
Writes `results/face_detectors.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from features import blazeface
from features.faces import DETECTORS, detect_faces
from features.files import atomic_write
from features.images import read_image

COUNTED = ("fast", "blazeface", "blazeface-full")  # the registered settings (not slow "thorough")
BLAZE = {"short": "short", "full": "full"}
THRESHOLDS = (0.5, 0.4, 0.3, 0.2)


def _files(home: Path) -> dict[str, dict[str, list[Path]]]:
    """dataset -> class -> image files."""
    ra = home / "replay-attack"
    return {
        "seed600": {c: sorted((home / "seed600" / c).glob("*.jpg")) for c in ("Live", "Spoof")},
        "nuaa": {c: sorted((home / "nuaa" / c).glob("*.jpg")) for c in ("live", "spoof")},
        "replay-attack": {
            "real": sorted(ra.glob("*/real/*/*.jpg")),
            "attack": sorted(ra.glob("*/attack/*/*/*.jpg")),
        },
    }


def _ms(fn, x) -> tuple[float, object]:  # noqa: ANN001
    start = time.perf_counter()
    out = fn(x)
    return 1000 * (time.perf_counter() - start), out


def speed(seed_files: list[Path]) -> dict:
    """Median ms of decode and of each detector on the 600x450 / 450x600 seed600 images."""
    for model in blazeface.MODELS:  # load the interpreters outside the timing
        blazeface.detect(np.zeros((64, 64, 3), np.uint8), model)
    times: dict[str, list[float]] = defaultdict(list)
    for path in seed_files:
        ms, rgb = _ms(read_image, path)
        if rgb.shape[:2] not in ((450, 600), (600, 450)):
            continue
        times["decode_jpeg"].append(ms)
        for name in DETECTORS:
            times[name].append(_ms(lambda im, d=name: detect_faces(im, d), rgb)[0])
    decode = float(np.median(times["decode_jpeg"]))
    return {
        "n_images": len(times["decode_jpeg"]),
        "median_ms": {k: round(float(np.median(v)), 3) for k, v in times.items()},
        "p90_ms": {k: round(float(np.percentile(v, 90)), 3) for k, v in times.items()},
        "detect_over_decode": {
            k: round(float(np.median(v)) / decode, 2) for k, v in times.items() if k in DETECTORS
        },
    }


def hit_rates(files: dict[str, dict[str, list[Path]]]) -> dict:
    """dataset -> class -> detector (or "blazeface@t") -> images with a face."""
    out: dict = {}
    for dataset, classes in files.items():
        out[dataset] = {}
        for cls, paths in classes.items():
            found: dict[str, int] = defaultdict(int)
            for path in paths:
                rgb = read_image(path)
                for name in COUNTED:
                    faces = detect_faces(rgb, name)
                    found[name] += bool(faces)
                    if name != "fast":  # the crop takes the largest: is it the best-scored?
                        best = max((f.score for f in faces), default=0.0)
                        found[f"{name} largest not best"] += bool(faces) and faces[0].score < best
                for name, model in BLAZE.items():
                    whole = blazeface.detect(rgb, model, min(THRESHOLDS))
                    best = max((f.score for f in whole), default=0.0)
                    tiled = best  # detect(tiles=True) tiles only when the whole image has no face
                    h, w = rgb.shape[:2]
                    if max(h, w) >= blazeface.TILE_ASPECT * min(h, w):
                        for tile, _, _ in blazeface.square_tiles(rgb):
                            faces = blazeface.detect(tile, model, min(THRESHOLDS))
                            tiled = max([tiled] + [f.score for f in faces])
                    for t in THRESHOLDS:
                        found[f"{name}@{t}"] += best >= t
                        found[f"{name}+tiles@{t}"] += tiled >= t
                        found[f"{name}@{t} several faces"] += sum(f.score >= t for f in whole) > 1
            out[dataset][cls] = {"n": len(paths), **found}
            print(dataset, cls, out[dataset][cls], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.face_detectors", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results") / "face_detectors.json")
    args = p.parse_args(argv)
    home = os.environ.get("LIVENESS_DATA_HOME")
    if not home or not (Path(home) / "seed600").is_dir():
        print("error: set LIVENESS_DATA_HOME to the folder holding seed600/", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    files = _files(Path(home))
    result = {
        "what": "single thread; speed on 600x450/450x600 seed600 images; hits = images with a face",
        "weights": {m: blazeface.model_id(m) for m in blazeface.MODELS},
        "speed": speed([p for c in files["seed600"].values() for p in c]),
    }
    print(json.dumps(result["speed"], indent=1), flush=True)
    result["hits"] = hit_rates(files)
    result["load_average_1min"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
