"""Metadata shortcut audit: what a dataset gives away without looking at a face.

Computed from the ORIGINAL file of each record (never the crop): width, height, aspect ratio
(width / height), bytes per pixel (file size / (width * height)) and a JPEG quality estimate.
A classifier on these is not a liveness method; it measures how far a dataset can be solved
by capture device and encoding alone (on seed600 every attack has one of 7 sizes), and every
comparison table shows it as a separate "audit" row.

The JPEG quality is the IJG quality (1..100) whose scaled standard quantisation tables are
closest to the file's own tables (Pillow's `im.quantization`, natural order); files without
quantisation tables (PNG, BMP, ...) are lossless and get 100.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin

from features.images import ImageError, check_image

FEATURE_NAMES = ("width", "height", "aspect", "bytes_per_pixel", "jpeg_quality")

# IJG (libjpeg) standard tables, natural (row-major) order: ITU-T T.81 Annex K.
_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
).ravel()
_CHROMA = np.full((8, 8), 99)
_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]
_CHROMA = _CHROMA.ravel()


def ijg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The (luma, chroma) quantisation tables libjpeg writes at this quality (baseline)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip((base * scale + 50) // 100, 1, 255) for base in (_LUMA, _CHROMA))


_ALL_TABLES = [ijg_tables(q) for q in range(1, 101)]


def estimate_jpeg_quality(tables: dict[int, Iterable[int]]) -> float:
    """IJG quality (1..100) whose tables best match `tables` (Pillow's `im.quantization`)."""
    if not tables:
        raise ValueError("no quantisation tables to estimate a JPEG quality from")
    ids = sorted(tables)
    luma = np.asarray(list(tables[ids[0]]), dtype=np.float64)
    chroma = np.asarray(list(tables[ids[1]]), dtype=np.float64) if len(ids) > 1 else None
    if luma.size != 64 or (chroma is not None and chroma.size != 64):
        raise ValueError("JPEG quantisation tables must hold 64 values each")
    errors = []
    for ref_luma, ref_chroma in _ALL_TABLES:
        err = np.abs(np.log(luma) - np.log(ref_luma)).sum()
        if chroma is not None:
            err += np.abs(np.log(chroma) - np.log(ref_chroma)).sum()
        errors.append(err)
    return float(np.argmin(errors) + 1)


def file_metadata(path: Path | str) -> np.ndarray:
    """(width, height, aspect, bytes per pixel, JPEG quality) of one image file."""
    path = Path(path)
    check_image(path)
    with Image.open(path) as im:
        width, height = im.size
        tables = getattr(im, "quantization", None)
        quality = estimate_jpeg_quality(tables) if tables else 100.0
    size = path.stat().st_size
    return np.array([width, height, width / height, size / (width * height), quality], float)


class MetadataFeatures(TransformerMixin, BaseEstimator):
    """Records -> (N, 5) file metadata (see FEATURE_NAMES); an audit, not a liveness method."""

    def __sklearn_tags__(self):  # stateless: usable without fit
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def fit(self, X: Iterable, y: object = None) -> MetadataFeatures:
        """Nothing to learn; checks that X holds records."""
        _paths(X)
        return self

    def transform(self, X: Iterable) -> np.ndarray:
        """Read each record's original file header and return its metadata row."""
        return np.stack([file_metadata(p) for p in _paths(X)])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_NAMES, dtype=object)


def _paths(X: Iterable) -> list[Path]:
    paths = []
    for i, record in enumerate(np.asarray(X, dtype=object).ravel()):
        path = getattr(record, "path", None)
        if path is None:
            raise ValueError(
                f"metadata audit: item {i} is not a record with a path: {record!r:.80}"
            )
        if getattr(record, "frame", None) is not None:
            raise ImageError(path, "metadata audit reads still image files, not video frames")
        paths.append(Path(path))
    if not paths:
        raise ValueError("metadata audit: got no records")
    return paths
