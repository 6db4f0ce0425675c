"""Decode images and video frames into 8-bit RGB arrays, refusing bad input clearly.

Pillow decodes still images because it reports truncated files (OpenCV silently returns
a partial image); OpenCV reads video frames. Still images are turned upright by their EXIF
Orientation tag, here and so everywhere pixels are read (crops, training, prediction).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 64_000_000
"""Images with more pixels than this are refused (decompression-bomb guard)."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv"})


class ImageError(ValueError):
    """A file that cannot be used as an image; the message names the file and the problem."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise ImageError(path, "file not found")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(path, "not an image file Pillow can identify") from None
    except Image.DecompressionBombError:
        raise ImageError(path, f"image too large (over {MAX_PIXELS:,} pixels)") from None
    except Image.DecompressionBombWarning:
        raise ImageError(path, f"image too large (over {MAX_PIXELS:,} pixels)") from None
    except OSError as e:
        raise ImageError(path, f"unreadable: {e}") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise ImageError(path, f"image too large: {w}x{h} is over {MAX_PIXELS:,} pixels")
    return im


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    with _open(Path(path)) as im:
        return im.size


def check_image(path: Path) -> None:
    """Raise ImageError unless `path` has a readable header of an acceptable size."""
    _open(Path(path)).close()


def _to_rgb8(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        g = (
            np.zeros(a.shape, np.uint8)
            if hi <= lo
            else ((a - lo) / (hi - lo) * 255).astype(np.uint8)
        )
        return np.repeat(g[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def read_image(path: Path | str) -> np.ndarray:
    """Decode an image file to an (H, W, 3) uint8 RGB array.

    An EXIF Orientation tag is applied (`ImageOps.exif_transpose`), so phone pictures stored
    sideways come out upright, as viewers show them. Grayscale, 16-bit, palette and alpha
    images are converted (alpha composited on white); zero-byte, non-image, truncated and
    over-large files raise ImageError.
    """
    path = Path(path)
    im = _open(path)
    try:
        with im:
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            rgb = _to_rgb8(im)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(path, f"cannot decode ({e})") from None
    return np.ascontiguousarray(rgb)


def read_frame(path: Path | str, index: int) -> np.ndarray:
    """Decode frame `index` of a video file to an (H, W, 3) uint8 RGB array."""
    path = Path(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ImageError(path, "not a video file OpenCV can open")
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok or bgr is None:
        raise ImageError(path, f"cannot read frame {index}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_frame_count(path: Path | str) -> int:
    """Number of frames OpenCV reports for a video; ImageError if it cannot be opened."""
    path = Path(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ImageError(path, "not a video file OpenCV can open")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if n <= 0:
        raise ImageError(path, "video has no frames")
    return n


def sample_frames(
    n: int, frames_per_video: int | None = 10, frame_step: int | None = None
) -> list[int]:
    """Frame indices to use from a video of `n` frames.

    Every `frame_step`-th frame when it is given, else `frames_per_video` evenly spaced
    frames (all frames if the video is shorter), else all frames.
    """
    for name, v in (("frames_per_video", frames_per_video), ("frame_step", frame_step)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {v!r}")
    if frame_step is not None:
        return list(range(0, n, frame_step))
    if frames_per_video is None or frames_per_video >= n:
        return list(range(n))
    return np.linspace(0, n - 1, frames_per_video).round().astype(int).tolist()
