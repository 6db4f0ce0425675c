"""`python -m classifiers.predict`: attack scores and decisions of a saved model for new files.

For each image (or each sampled frame of a video, then the video's mean score) it prints the
attack score, the decision at the model's stored development threshold (attack when
score >= threshold) and whether a face was found, as a table or as JSON lines (--json). A file
that cannot be read, or a folder without image or video files, gets its own error line and
the exit code is 1 at the end; the other files are still scored. Model files are `skops`
archives checked against an allow-list of types, or Keras files loaded in safe mode; pickles
are never loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from classifiers.persistence import ModelFileError, load_fitted  # noqa: E402
from features.faces import FaceCropper  # noqa: E402
from features.images import (  # noqa: E402
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    ImageError,
    check_image,
    read_frame,
    read_image,
    sample_frames,
    video_frame_count,
)
from features.records import BONAFIDE, Presentation, file_sha256  # noqa: E402

EXIT_CODES = """exit codes:
  0  every input was scored
  1  some file could not be scored, or a folder held no image or video file
  2  bad arguments, or the model was refused (bad model file)"""


def _files(inputs: Sequence[Path]) -> Iterator[tuple[Path, str | None]]:
    """(file, None) for each input file and each image or video below an input folder (sorted);
    (folder, problem) for a folder holding none."""
    for p in inputs:
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
            if not found:
                yield p, "no image or video files found in this folder"
            yield from ((f, None) for f in found)
        else:
            yield p, None


def _records(path: Path, frames: int) -> list[Presentation]:
    """Presentations for one file (label unknown: BONAFIDE is a placeholder never used)."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        indices = sample_frames(video_frame_count(path), frames_per_video=frames)
        for i in (indices[0], indices[-1]):
            read_frame(path, i)
        key = file_sha256(path)
        return [
            Presentation(f"{path}#{i}", path, BONAFIDE, f"{key}#{i}", video=str(path), frame=i)
            for i in indices
        ]
    check_image(path)
    read_image(path)  # a truncated file fails here, with its name, not inside the model
    return [Presentation(str(path), path, BONAFIDE, file_sha256(path))]


def _row(name: str, score: float, threshold: float, face: bool | None, **extra) -> dict:
    return {
        "file": name,
        **extra,
        "score": float(score),
        "decision": "attack" if score >= threshold else "bonafide",
        "face_found": face,
    }


def predict(model_path: Path, inputs: Sequence[Path], frames: int = 10) -> Iterator[dict]:
    """Yield one result row per image, video frame and video, or an error row per bad file."""
    saved = load_fitted(model_path)
    detector = FaceCropper()
    for path, problem in _files(inputs):
        if problem:
            yield {"file": str(path), "error": f"{path}: {problem}"}
            continue
        try:
            records = _records(path, frames)
            scores = np.asarray(saved.estimator.decision_function(np.array(records, dtype=object)))
            found = [detector.crop_one(r).face_found for r in records]
        except (ImageError, OSError, ValueError) as e:
            yield {"file": str(path), "error": str(e)}
            continue
        if records[0].video is None:
            yield _row(str(path), scores[0], saved.threshold, found[0])
            continue
        for r, s, f in zip(records, scores, found, strict=True):
            yield _row(str(path), s, saved.threshold, f, frame=r.frame, level="frame")
        yield _row(str(path), scores.mean(), saved.threshold, any(found), level="video")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m classifiers.predict",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, required=True, help="a model saved by --save-models")
    p.add_argument("inputs", type=Path, nargs="+", metavar="IMAGE_OR_FOLDER_OR_VIDEO")
    p.add_argument(
        "--frames",
        type=_positive_int,
        default=10,
        help="frames sampled per video (at least 1; default 10)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    args = p.parse_args(argv)
    try:
        rows = predict(args.model, args.inputs, args.frames)
        first = next(rows, None)
    except ModelFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = 0
    if not args.json:
        print(f"{'file':<50} {'score':>9}  {'decision':<9} face")
    for row in [first, *rows] if first is not None else []:
        if "error" in row:
            failed += 1
            print(f"error: {row['error']}", file=sys.stderr)
            if args.json:
                print(json.dumps(row))
            continue
        if args.json:
            print(json.dumps(row))
        else:
            name = row["file"] + (f"#{row['frame']}" if row.get("level") == "frame" else "")
            name += " (video mean)" if row.get("level") == "video" else ""
            face = {True: "yes", False: "no", None: "-"}[row["face_found"]]
            print(f"{name:<50} {row['score']:>9.4f}  {row['decision']:<9} {face}")
    if failed:
        print(f"{failed} input(s) could not be scored", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
