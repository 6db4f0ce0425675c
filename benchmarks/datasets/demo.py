"""A small synthetic demo set, made offline from the face photos scikit-image ships.

For when no real data are at hand (no network, CI without data): every method can run end
to end, but NOTHING MEASURED ON IT IS A REAL RESULT. Sources: the colour face of
`skimage.data.astronaut()` and the 100 grey 25x25 faces of `skimage.data.lfw_subset()`
(its first 100 images; the other 100 are non-faces), upscaled to 128x128 and, for the grey
ones, toned with a skin colour. Each face yields one bona fide image (a simulated camera
capture) and one attack: a simulated print re-captured by the camera (halftone dots, reduced
gamut, paper texture, blur) or a screen replay (pixel-grid moire, gamma shift, glare). Both
share the face's `subject` id, so subject-disjoint splits keep them together. All images
have the same size, so size cannot give the class away.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata

from benchmarks.datasets.folders import load_folders
from benchmarks.datasets.manifest import MANIFEST_NAME
from features.files import cache_root
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError

SYNTHETIC_BANNER = "SYNTHETIC DEMO DATA — not a real result"
DEMO_VERSION = "v1"
IMAGE_SIZE = 128
MAX_FACES = 101
"""The astronaut's face plus the 100 faces of lfw_subset."""

_SKIN_TONES = (
    np.array(
        [
            (255, 224, 196),
            (241, 194, 167),
            (224, 172, 138),
            (198, 134, 99),
            (161, 102, 72),
            (110, 70, 50),
        ]
    )
    / 255.0
)
_COLUMNS = ["path", "label", "subject", "attack_type", "sha256", "synthetic", "generator", "source"]


def _source_faces() -> tuple[list[np.ndarray], list[str]]:
    """The source faces as float images in [0, 1] (grey 2-D or RGB), and where each comes from."""
    astronaut = skdata.astronaut()[65:195, 157:287].astype(np.float64) / 255.0
    lfw = skdata.lfw_subset()[:100]
    faces = [astronaut] + list(lfw)
    sources = ["skimage.data.astronaut()[65:195, 157:287]"] + [
        f"skimage.data.lfw_subset()[{i}]" for i in range(100)
    ]
    return faces, sources


def _face_rgb(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 128x128 RGB float face; grey faces get a random skin tone, so colour features see skin."""
    face = cv2.resize(
        face.astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_CUBIC
    )
    if face.ndim == 2:
        tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.95, 1.05, 3)
        face = face[..., None] * (tone / tone.max() * 1.1).astype(np.float32)
    return np.clip(face, 0.0, 1.0)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)


def _gains(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """Per-channel gains, as float32 so the images stay float32 (fast)."""
    return rng.uniform(low, high, 3).astype(np.float32)


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A camera capture: white-balance jitter, mild optical blur, shot and read noise."""
    img = _blur(img * _gains(rng, 0.94, 1.06), rng.uniform(0.4, 0.8))
    noise = _noise(rng, img.shape) * np.sqrt(0.0002 + 0.0006 * np.clip(img, 0, 1))
    return np.clip(img + noise, 0.0, 1.0)


def _grid(shape: tuple[int, int], period: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Phases (radians) along two orthogonal axes rotated by `angle`, for periodic patterns."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    c, s, k = (np.float32(t) for t in (np.cos(angle), np.sin(angle), 2 * np.pi / period))
    return k * (x * c + y * s), k * (y * c - x * s)


def _print_attack(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A printed photo: reduced gamut, halftone dots, paper texture, re-captured out of focus."""
    grey = img.mean(axis=2, keepdims=True)
    img = grey + np.float32(rng.uniform(0.6, 0.8)) * (img - grey)  # desaturated inks
    img = np.float32(0.1) + np.float32(0.75) * img  # paper is not white, ink is not black
    pu, pv = _grid(img.shape[:2], rng.uniform(3.0, 4.5), rng.uniform(0, np.pi / 2))
    screen = np.float32(0.5) + np.float32(0.25) * (np.cos(pu) + np.cos(pv))  # dots in [0, 1]
    dots = (img > screen[..., None]).astype(np.float32)
    a = np.float32(rng.uniform(0.2, 0.35))
    img = (1 - a) * img + a * dots
    paper = _blur(_noise(rng, img.shape[:2], 0.15), 3.0) + _noise(rng, img.shape[:2], 0.02)
    img = img * (1 + paper[..., None])
    return _camera(_blur(img, rng.uniform(0.5, 0.8)), rng)


def _replay_attack(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A face shown on a screen: gamma shift, bluish white point, pixel-grid moire, glare."""
    img = img ** np.float32(rng.uniform(0.7, 0.85)) * np.float32([0.94, 1.0, 1.08])
    pu, pv = _grid(img.shape[:2], rng.uniform(2.1, 2.8), rng.uniform(-0.15, 0.15))
    depth = np.float32(rng.uniform(0.2, 0.3))
    grid = 1 - depth * (np.float32(0.5) - np.float32(0.25) * (np.cos(pu) + np.cos(pv)))
    img = img * grid[..., None]
    cy, cx = rng.uniform(0, IMAGE_SIZE, 2)
    y, x = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE].astype(np.float32)
    glare = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * rng.uniform(15, 35) ** 2))
    img = img + np.float32(rng.uniform(0.15, 0.35)) * glare.astype(np.float32)[..., None]
    return _camera(img, rng)


def _jpeg(img: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)).save(
        buf, "JPEG", quality=quality
    )
    return buf.getvalue()


def _subject(i: int) -> str:
    return f"demo_{i:03d}"


def _subjects(n_faces: int) -> list[str]:
    return [_subject(i) for i in range(n_faces)]


def _generator(seed: int) -> str:
    return f"benchmarks.datasets.demo {DEMO_VERSION} seed={seed}"


def _write(folder: Path, seed: int, n_faces: int) -> None:
    """Generate the first `n_faces` pairs into `folder`, with a manifest.csv and a README.txt.

    Each face has its own random stream, so face i comes out the same whatever `n_faces`.
    """
    faces, sources = _source_faces()
    rows = []
    for cls in ("Live", "Spoof"):
        (folder / cls).mkdir()
    for i, face, source in zip(range(n_faces), faces, sources, strict=False):
        rng = np.random.default_rng([seed, i])
        subject = _subject(i)
        img = _face_rgb(face, rng)
        attack_type = "print" if rng.random() < 0.5 else "replay"
        attack = _print_attack if attack_type == "print" else _replay_attack
        for cls, label, kind, out in (
            ("Live", BONAFIDE, "", _camera(img, rng)),
            ("Spoof", ATTACK, attack_type, attack(img, rng)),
        ):
            data = _jpeg(out, int(rng.integers(85, 96)))
            rel = f"{cls}/{subject}.jpg"
            (folder / rel).write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            rows.append([rel, label, subject, kind, digest, "true", _generator(seed), source])
    with open(folder / MANIFEST_NAME, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(_COLUMNS)
        writer.writerows(rows)
    (folder / "README.txt").write_text(
        f"{SYNTHETIC_BANNER}\nGenerated by benchmarks.datasets.demo, version {DEMO_VERSION}, "
        f"seed {seed}, from face photos shipped with scikit-image.\n",
        encoding="utf-8",
    )


def _load(folder: Path, seed: int, n_faces: int) -> Dataset | None:
    """The demo set of `seed` in `folder` if it is intact and has at least `n_faces`, else None."""
    if not (folder / MANIFEST_NAME).is_file():
        return None
    try:
        dataset = load_folders(folder)
    except DatasetError:
        return None
    if dataset.skipped or any(
        r.extra.get("generator") != _generator(seed) for r in dataset.records
    ):
        return None
    have = len(dataset) // 2
    if have < n_faces or sorted(r.subject for r in dataset.records) != sorted(_subjects(have) * 2):
        return None
    return dataset


def demo_dir(seed: int = 0) -> Path:
    """The cache folder of the demo set for `seed`."""
    return cache_root() / "datasets" / f"synthetic-demo-{DEMO_VERSION}-{seed}"


def synthetic_demo(n_faces: int = 100, seed: int = 0, root: Path | str | None = None) -> Dataset:
    """The synthetic demo set: `n_faces` faces, each as one bona fide and one attack image.

    Deterministic for a given `seed`: face i is the same for any `n_faces`. Images are
    written once, as JPEG files, to `root` (default: the cache folder `demo_dir(seed)`),
    built in a temporary folder and renamed into place; a folder holding at least
    `n_faces` intact faces is reused, a smaller one is rebuilt. The Dataset has
    `synthetic=True` and every record `extra["synthetic"] == "true"`: SYNTHETIC DEMO DATA,
    never a real result.
    """
    if not 1 <= n_faces <= MAX_FACES:
        raise ValueError(f"n_faces must be between 1 and {MAX_FACES}, got {n_faces}")
    folder = Path(root) if root is not None else demo_dir(seed)
    dataset = _load(folder, seed, n_faces)
    if dataset is None:
        if folder.exists() and not (folder / MANIFEST_NAME).is_file() and any(folder.iterdir()):
            raise DatasetError(
                f"{folder}: exists and is not a synthetic demo folder; not overwriting it"
            )
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
        try:
            _write(tmp, seed, n_faces)
            if folder.exists():
                shutil.rmtree(folder)  # empty, or a smaller, older or broken demo set of ours
            os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        dataset = _load(folder, seed, n_faces)
        if dataset is None:
            raise DatasetError(f"{folder}: the synthetic demo set just written does not load")
    keep = set(_subjects(n_faces))
    records = [r for r in dataset.records if r.subject in keep]
    return Dataset("synthetic-demo", folder, "folders", records, [], synthetic=True)
