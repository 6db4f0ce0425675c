"""The one record type for a presentation, and the dataset that holds them.

Conventions used everywhere in the toolkit: label 1 = attack (presentation attack),
0 = bona fide; scores are attack scores (higher = more likely an attack).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

BONAFIDE = 0
ATTACK = 1
LABEL_NAMES = {BONAFIDE: "bonafide", ATTACK: "attack"}
DATASET_KEY = "dataset"
"""The `extra` key naming a record's dataset, set when several datasets are used at once."""


def dataset_names(records: Iterable[Presentation]) -> np.ndarray:
    """Each record's dataset (its `extra[DATASET_KEY]`, "" where it has none), as an array."""
    return np.array([r.extra.get(DATASET_KEY, "") for r in records], dtype=object)


@dataclass(frozen=True)
class Presentation:
    """One presentation to the sensor: an image, or one frame of a video.

    `id` is unique within a dataset (the path relative to the dataset root, plus
    `#frame` for a video frame). `sha256` is the content hash of the image file (for a
    video frame: of the video file, suffixed with `#frame`); equal hashes mean an exact
    duplicate. `box` is the face box (x, y, w, h) in pixels of the full image, when the
    dataset provides one. `split` is the dataset's official split ("train"/"dev"/"test"),
    when it defines one.
    """

    id: str
    path: Path
    label: int
    sha256: str
    attack_type: str | None = None
    subject: str | None = None
    box: tuple[int, int, int, int] | None = None
    video: str | None = None
    frame: int | None = None
    split: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.label not in (BONAFIDE, ATTACK):
            raise ValueError(
                f"{self.path}: label must be 0 (bona fide) or 1 (attack), got {self.label!r}"
            )
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


@dataclass(frozen=True)
class Skipped:
    """A file a loader or the crop stage could not use, and why."""

    path: Path
    reason: str


@dataclass
class Dataset:
    """The presentations of one dataset, plus every file that was skipped on the way."""

    name: str
    root: Path
    layout: str
    records: list[Presentation]
    skipped: list[Skipped] = field(default_factory=list)
    synthetic: bool = False

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def content_hash(self) -> str:
        """A hash of all record ids, labels and content hashes: names the exact data used.

        Ids from file names that are not UTF-8 (lone surrogates) hash as their original bytes.
        """
        h = hashlib.sha256()
        for r in sorted(self.records, key=lambda r: r.id):
            h.update(f"{r.id}\t{r.label}\t{r.sha256}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    def with_records(self, records: list[Presentation], skipped: list[Skipped] = ()) -> Dataset:
        """A copy holding `records`, with `skipped` appended to the skip list."""
        return Dataset(
            self.name,
            self.root,
            self.layout,
            list(records),
            self.skipped + list(skipped),
            self.synthetic,
        )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class DatasetError(ValueError):
    """A dataset that cannot be loaded, or cannot support the requested experiment."""
