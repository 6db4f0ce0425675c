"""`python -m benchmarks.speed`: per-image cost of each stage, measured on real seed600 images.

Measures, single-threaded and with every cache bypassed: JPEG decoding, face detection with each
`DETECTORS` setting on all 600x450 / 450x600 images (and how many of all images it finds a face
in), one 64x64 crop, and each handcrafted feature extractor per crop.
Writes `results/speed.json` (median and 90th percentile milliseconds, with machine and versions)
so the README's speed figures come from one command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from benchmarks.datasets.seed import find_seed600
from features.coalbp import CoALBP
from features.colour import ColourLBP
from features.distortion import DistortionFeatures
from features.faces import DETECTORS, FaceCropper, detect_face
from features.files import atomic_write
from features.fourier import FourierSpectrum
from features.images import read_image
from features.lbp import LBPHistogram, MultiScaleLBP
from features.lpq import LPQ


def _time(fn: Callable[[object], object], items: list) -> dict[str, float]:
    ms = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        ms.append(1000 * (time.perf_counter() - start))
    return {
        "median_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "n": len(ms),
    }


def measure(root: Path, n: int = 100) -> dict:
    """Per-image timings on up to `n` seed600 images under `root`."""
    cv2.setNumThreads(1)
    every = sorted(root.glob("*/*.jpg"))
    step = max(1, len(every) // n)
    files = every[::step][:n]
    all_images = [read_image(p) for p in every]
    images = all_images[::step][:n]  # the decoded `files`
    phone = [im for im in all_images if im.shape[:2] in ((450, 600), (600, 450))]
    cropper = FaceCropper(size=64, scale=1.5)
    crops = [cropper.crop_array(im).crop for im in images]
    extractors = {
        "lbp (8,1) u2, 3x3 grid": LBPHistogram(P=8, R=1, grid=(3, 3), cache=False),
        "multi-scale lbp": MultiScaleLBP(cache=False),
        "colour lbp HSV+YCbCr": ColourLBP(cache=False),
        "fourier": FourierSpectrum(cache=False),
        "distortion": DistortionFeatures(cache=False),
        "coalbp HSV+YCbCr (1,2)+(2,4)+(4,8)": CoALBP(cache=False),
        "lpq HSV+YCbCr 3x3 decorrelated": LPQ(cache=False),
        "lpq HSV+YCbCr 7x7 decorrelated": LPQ(window_size=7, cache=False),
    }
    return {
        "what": "milliseconds per image, single thread, caches bypassed",
        "images": f"{len(images)} seed600 images; detection on all {len(phone)} 600x450/450x600",
        "decode_jpeg": _time(read_image, files),
        "face_detection_600x450": {
            name: _time(lambda im, d=name: detect_face(im, d), phone) for name in DETECTORS
        },
        "faces_found": {
            name: f"{sum(detect_face(im, name) is not None for im in all_images)}/{len(all_images)}"
            for name in DETECTORS
        },
        "detect_and_crop_64px_600x450": _time(cropper.crop_array, phone),
        "features_per_64px_crop": {
            name: _time(lambda c, e=ext: e.transform(c[None]), crops)
            for name, ext in extractors.items()
        },
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "opencv": cv2.__version__,
            "load_average_1min": os.getloadavg()[0],
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results") / "speed.json")
    p.add_argument("-n", type=int, default=100, help="number of images")
    args = p.parse_args(argv)
    root = find_seed600()
    if root is None:
        print("error: seed600 not found (set LIVENESS_DATA_HOME)", file=sys.stderr)
        return 2
    result = measure(root, args.n)
    atomic_write(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
