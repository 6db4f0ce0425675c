"""`python -m benchmarks.speed`: the cost of every per-image stage, as a ratio to JPEG decoding.

On every 600x450 / 450x600 seed600 image, single-threaded, with every cache bypassed, one loop
times on the same file: the JPEG decode (Pillow, as `features.images.read_image`), face
detection with each `DETECTORS` setting, detect + crop with the default detector, the five
default extractors on that one 64-px crop alone (just after detection: cold CPU caches), and
the whole path decode + detect + crop + colour LBP (the best handcrafted method's features).
Then each extractor (the five default ones, and CoALBP and LPQ) per crop as pipelines run
them: over the batch of all those crops, five times. Each stage is reported in milliseconds
(median, 90th percentile) and as its median over the decode's median of the same run, so the
ratios hold on any machine. Then, per dataset and class, how many images each
detector finds a face in, on all of seed600, NUAA and Replay-Attack (every frame) when present.
Writes `results/speed.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from features.coalbp import CoALBP
from features.colour import ColourLBP
from features.distortion import DistortionFeatures
from features.faces import DETECTORS, FaceCropper, detect_faces
from features.files import atomic_write
from features.fourier import FourierSpectrum
from features.images import read_image
from features.lbp import LBPHistogram, MultiScaleLBP
from features.lpq import LPQ

EXTRACTORS = {
    "lbp": LBPHistogram(grid=(3, 3), cache=False),
    "multiscale_lbp": MultiScaleLBP(cache=False),
    "colour_lbp": ColourLBP(cache=False),
    "fourier": FourierSpectrum(cache=False),
    "distortion": DistortionFeatures(cache=False),
}
OTHER_EXTRACTORS = {  # the richer colour-texture descriptors, not in the default comparison
    "coalbp": CoALBP(cache=False),
    "lpq_3x3": LPQ(cache=False),
    "lpq_7x7": LPQ(window_size=7, cache=False),
}


def dataset_files(home: Path) -> dict[str, dict[str, list[Path]]]:
    """dataset -> class -> image files, for the datasets present under `home`."""
    ra = home / "replay-attack"
    found = {
        "seed600": {c: sorted((home / "seed600" / c).glob("*.jpg")) for c in ("Live", "Spoof")},
        "nuaa": {c: sorted((home / "nuaa" / c).glob("*.jpg")) for c in ("live", "spoof")},
        "replay-attack": {
            "real": sorted(ra.glob("*/real/*/*.jpg")),
            "attack": sorted(ra.glob("*/attack/*/*/*.jpg")),
        },
    }
    return {d: c for d, c in found.items() if all(c.values())}


def _timed(fn, x) -> tuple[float, object]:  # noqa: ANN001 - any stage
    start = time.perf_counter()
    out = fn(x)
    return 1000 * (time.perf_counter() - start), out


def stages(paths: list[Path]) -> dict:
    """Per-stage ms and ratio to decode on the 600x450 / 450x600 images among `paths`."""
    cropper = FaceCropper()  # the default: 64 px, the default detector
    for name in DETECTORS:  # load models and cascades outside the timing
        detect_faces(np.zeros((64, 64, 3), np.uint8), name)
    ms: dict[str, list[float]] = defaultdict(list)
    crops = []
    for path in paths:
        t, rgb = _timed(read_image, path)
        if rgb.shape[:2] not in ((450, 600), (600, 450)):
            continue
        ms["decode"].append(t)
        for name in DETECTORS:
            ms[f"detect[{name}]"].append(_timed(lambda im, d=name: detect_faces(im, d), rgb)[0])
        t, res = _timed(cropper.crop_array, rgb)
        ms["detect+crop"].append(t)
        crops.append(res.crop)
        alone = [_timed(ext.transform, res.crop[None])[0] for ext in EXTRACTORS.values()]
        ms["features[all five, one crop alone]"].append(sum(alone))
        start = time.perf_counter()
        EXTRACTORS["colour_lbp"].transform(cropper.crop_array(read_image(path)).crop[None])
        ms["decode+detect+crop+colour_lbp"].append(1000 * (time.perf_counter() - start))
    batch = np.stack(crops)
    for name, ext in {**EXTRACTORS, **OTHER_EXTRACTORS}.items():  # per crop, over the batch
        ms[f"features[{name}]"] = [_timed(ext.transform, batch)[0] / len(batch) for _ in range(5)]
    ms["features[all five]"] = list(np.sum([ms[f"features[{n}]"] for n in EXTRACTORS], axis=0))
    decode = float(np.median(ms["decode"]))
    return {
        "n_images": len(ms["decode"]),
        "default_detector": cropper.detector,
        "stages": {
            k: {
                "median_ms": round(float(np.median(v)), 3),
                "p90_ms": round(float(np.percentile(v, 90)), 3),
                "ratio_to_decode": round(float(np.median(v)) / decode, 2),
            }
            for k, v in ms.items()
        },
    }


def faces_found(files: dict[str, dict[str, list[Path]]]) -> dict:
    """dataset -> class -> detector -> images with a face (and the class size)."""
    out: dict = {}
    for dataset, classes in files.items():
        out[dataset] = {}
        for cls, paths in classes.items():
            found = dict.fromkeys(DETECTORS, 0)
            for path in paths:
                rgb = read_image(path)
                for name in DETECTORS:
                    found[name] += bool(detect_faces(rgb, name))
            out[dataset][cls] = {"n": len(paths), **found}
            print(dataset, cls, out[dataset][cls], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results") / "speed.json")
    p.add_argument("--no-counts", action="store_true", help="skip the faces-found counts")
    args = p.parse_args(argv)
    home = os.environ.get("LIVENESS_DATA_HOME")
    if not home or not (Path(home) / "seed600").is_dir():
        print("error: set LIVENESS_DATA_HOME to the folder holding seed600/", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    files = dataset_files(Path(home))
    result = {
        "what": "milliseconds per image, single thread, caches bypassed; ratios to the median "
        "JPEG decode of the same run",
        "speed": stages([p for c in files["seed600"].values() for p in c]),
    }
    print(json.dumps(result["speed"], indent=1), flush=True)
    if not args.no_counts:
        result["faces_found"] = faces_found(files)
    result["machine"] = {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "opencv": cv2.__version__,
        "load_average_1min": os.getloadavg()[0],
    }
    atomic_write(args.out, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
