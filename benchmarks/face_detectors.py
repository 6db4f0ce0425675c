"""`python -m benchmarks.face_detectors`: the study behind the BlazeFace settings.

Per dataset and class, on all of seed600, NUAA and Replay-Attack (every frame): how many images
each BlazeFace model finds a face in at single score thresholds t, letterboxing the whole image
only ("short@t") or also trying square tiles ("short+tiles@t"), how often several faces pass t,
and how often the largest face (the one cropped) is not the best-scored one. The registered
detectors' speed and faces found are `python -m benchmarks.speed`'s. Writes
`results/face_detectors.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import cv2

from benchmarks.speed import dataset_files
from features import blazeface
from features.faces import detect_faces
from features.files import atomic_write
from features.images import read_image

COUNTED = ("blazeface", "blazeface-full")  # the registered BlazeFace settings
BLAZE = {"short": "short", "full": "full"}
THRESHOLDS = (0.5, 0.4, 0.3, 0.2)


def hit_rates(files: dict[str, dict[str, list[Path]]]) -> dict:
    """dataset -> class -> detector (or "blazeface@t") -> images with a face."""
    out: dict = {}
    for dataset, classes in files.items():
        out[dataset] = {}
        for cls, paths in classes.items():
            found: dict[str, int] = defaultdict(int)
            for path in paths:
                rgb = read_image(path)
                for name in COUNTED:  # the crop takes the largest face: is it the best-scored?
                    faces = detect_faces(rgb, name)
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
    files = dataset_files(Path(home))
    result = {
        "what": "hits = images with a face, per dataset and class",
        "weights": {m: blazeface.model_id(m) for m in blazeface.MODELS},
    }
    result["hits"] = hit_rates(files)
    result["load_average_1min"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
