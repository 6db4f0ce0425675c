"""Capture-robust augmentation of uint8 face crops: what a different camera does to a face.

Cross-dataset PAD fails largely because cameras, lighting and compression differ between
datasets, and a model learns those instead of liveness cues. `capture_augment` re-renders
training crops as if captured differently: gamma (exposure/tone curve), colour temperature
(white balance), Gaussian blur (focus, optics), down- and up-sampling (a lower-resolution
sensor or a resized upload), sensor noise (signal-dependent shot noise plus read noise) and
JPEG re-compression at a random quality. Each transform is a pure function of a crop and its
parameter; `capture_augment` applies each one with probability `p`, drawing its parameter from
`CAPTURE_RANGES`, in capture order (optics, sensor, tone, compression). It is meant for
TRAINING crops only, and is the same function the CNN input pipeline uses, so feature methods
can augment their training crops with it too.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from features.base import check_crops

CAPTURE_RANGES: dict[str, tuple[float, float]] = {
    "blur": (0.3, 1.5),  # Gaussian sigma in pixels
    "resample": (0.35, 0.9),  # scale of the intermediate, smaller image
    "noise": (1.0, 6.0),  # read-noise sigma in 8-bit levels (shot noise scales with it)
    "gamma": (0.67, 1.5),  # drawn log-uniformly: as often darker as brighter
    "colour_temperature": (-0.12, 0.12),  # red gain 1 + t, blue gain 1 - t
    "jpeg": (30.0, 90.0),  # JPEG quality
}
"""Parameter range of each transform, in the order `capture_augment` applies them."""


def gamma(crop: np.ndarray, g: float) -> np.ndarray:
    """Tone curve out = 255 (in / 255) ** g: g < 1 brightens, g > 1 darkens."""
    lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** g), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(crop), lut)


def colour_temperature(crop: np.ndarray, t: float) -> np.ndarray:
    """White-balance shift: red gain 1 + t, blue gain 1 - t (t > 0 warmer, t < 0 cooler)."""
    gains = np.array([1.0 + t, 1.0, 1.0 - t], dtype=np.float32)
    return np.clip(np.round(crop * gains), 0, 255).astype(np.uint8)


def blur(crop: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation `sigma` pixels (defocus, cheap optics)."""
    return cv2.GaussianBlur(np.ascontiguousarray(crop), (0, 0), sigmaX=sigma, sigmaY=sigma)


def resample(crop: np.ndarray, scale: float) -> np.ndarray:
    """Down-sample to `scale` of the side (area), then back up (bilinear): lost resolution."""
    h, w = crop.shape[:2]
    small = (max(2, round(w * scale)), max(2, round(h * scale)))
    down = cv2.resize(np.ascontiguousarray(crop), small, interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (w, h), interpolation=cv2.INTER_LINEAR)


def sensor_noise(crop: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson-Gaussian sensor noise: variance sigma^2 (1 + in / 64), read plus shot noise."""
    x = crop.astype(np.float32)
    std = sigma * np.sqrt(1.0 + x / 64.0)
    return np.clip(np.round(x + std * rng.standard_normal(x.shape, np.float32)), 0, 255).astype(
        np.uint8
    )


def jpeg(crop: np.ndarray, quality: int) -> np.ndarray:
    """Re-compress as JPEG at `quality` (1-100) with OpenCV and decode again."""
    bgr = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("OpenCV could not JPEG-encode a crop")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _apply(name: str, crop: np.ndarray, value: float, rng: np.random.Generator) -> np.ndarray:
    if name == "blur":
        return blur(crop, value)
    if name == "resample":
        return resample(crop, value)
    if name == "noise":
        return sensor_noise(crop, value, rng)
    if name == "gamma":
        return gamma(crop, value)
    if name == "colour_temperature":
        return colour_temperature(crop, value)
    return jpeg(crop, round(value))


def _draw(name: str, low: float, high: float, rng: np.random.Generator) -> float:
    if name == "gamma":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def capture_augment(
    crops: np.ndarray,
    rng: np.random.Generator | int,
    p: float = 0.5,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """A re-captured copy of (N, H, W, 3) uint8 crops; the input is not modified.

    Every transform of `CAPTURE_RANGES` (or `ranges`, a subset of its keys: only those are
    used) is applied to each crop with probability `p`, its parameter drawn uniformly from
    its range. `rng` (a NumPy Generator, or an int seed) makes the result reproducible.
    """
    crops = check_crops(crops)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    ranges = dict(CAPTURE_RANGES if ranges is None else ranges)
    unknown = set(ranges) - set(CAPTURE_RANGES)
    if unknown:
        raise ValueError(
            f"unknown capture transform(s) {sorted(unknown)}; known: {list(CAPTURE_RANGES)}"
        )
    for name, (low, high) in ranges.items():
        if not low <= high:
            raise ValueError(f"range of {name!r} must be (low, high) with low <= high")
    rng = np.random.default_rng(rng)
    out = np.array(crops)  # a copy (a lazy CropSequence is read here)
    for i in range(len(out)):
        crop = out[i]
        for name in CAPTURE_RANGES:  # fixed capture order, whatever the order of `ranges`
            if name in ranges and rng.random() < p:
                crop = _apply(name, crop, _draw(name, *ranges[name], rng), rng)
        out[i] = crop
    return out
