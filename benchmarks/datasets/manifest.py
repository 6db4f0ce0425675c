"""CSV manifests (`path,label[,subject,attack_type,split,video,sha256,...]`), and the label,
split and per-file checks every loader shares.

A manifest describes any dataset the other layouts do not know. Paths are relative to
the CSV's folder; rows are numbered as lines of the file (the header is row 1).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from features.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageError, check_image
from features.records import (
    ATTACK,
    BONAFIDE,
    Dataset,
    DatasetError,
    Presentation,
    Skipped,
    file_sha256,
)

MANIFEST_NAME = "manifest.csv"
"""The manifest file name: loaded by itself, or read beside class folders."""
BONAFIDE_NAMES = frozenset({"0", "bonafide", "bona_fide", "bona-fide", "live", "real", "genuine"})
ATTACK_NAMES = frozenset({"1", "attack", "spoof", "fake", "imposter", "impostor"})
SPLIT_NAMES = {
    "train": "train", "training": "train",
    "dev": "dev", "devel": "dev", "development": "dev",
    "val": "dev", "valid": "dev", "validation": "dev",
    "test": "test", "testing": "test",
}  # fmt: skip
RESERVED_COLUMNS = frozenset(
    {"path", "label", "subject", "attack_type", "split", "official_split", "video"}
)
FRAME_NAME = re.compile(r"(?:.*[_-])?frame[_-]?(?P<index>\d+)", re.IGNORECASE)
"""The stem of a video frame saved as an image (`frame_00079`, `clip1-frame12`)."""


def parse_label(value: str) -> int:
    """0/1 or a class name (case-insensitive) -> BONAFIDE/ATTACK; ValueError otherwise."""
    v = value.strip().lower()
    if v in BONAFIDE_NAMES:
        return BONAFIDE
    if v in ATTACK_NAMES:
        return ATTACK
    raise ValueError(
        f"unknown label {value!r} "
        "(use 0/1, bonafide/live/real/genuine or attack/spoof/fake/imposter)"
    )


def parse_split(value: str) -> str | None:
    """Normalise an official split name to train/dev/test ('' -> None); ValueError otherwise."""
    v = value.strip().lower()
    if not v:
        return None
    if v not in SPLIT_NAMES:
        raise ValueError(f"unknown split {value!r} (use train, dev/val or test)")
    return SPLIT_NAMES[v]


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def frame_index(path: Path) -> int | None:
    """The frame number in a frame image's name (`frame_00079.jpg` -> 79), else None."""
    m = FRAME_NAME.fullmatch(path.stem)
    return int(m["index"]) if m else None


def rel_id(path: Path, root: Path) -> str:
    """The record id of a file: its path relative to the dataset root, in POSIX form."""
    return path.relative_to(root).as_posix()


def subject_matcher(pattern: str | None) -> Callable[[Path], str] | None:
    """A function file -> subject id from `pattern` (first group, else whole match), or None.

    A file name the pattern does not match is an error: a record without a subject would
    silently escape subject-disjoint splitting.
    """
    if pattern is None:
        return None
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise DatasetError(f"subject_pattern {pattern!r} is not a valid regex: {e}") from None

    def subject(path: Path) -> str:
        m = rx.search(path.name)
        if m is None:
            raise DatasetError(f"{path}: subject_pattern {pattern!r} does not match the file name")
        return m.group(1) if rx.groups else m.group(0)

    return subject


@dataclass(frozen=True)
class FileInfo:
    """What a loader learns about one usable file: its content hash and the check's result."""

    sha256: str
    value: Any = None


def inspect_files(
    paths: Iterable[Path],
    check: Callable[[Path], Any] = check_image,
    reason_suffix: Callable[[Path], str] = lambda p: "",
) -> tuple[dict[Path, FileInfo], list[Skipped]]:
    """Check (header only) and hash each file; bad files become Skipped with the reason.

    Serial on purpose: hashing seed600 (600 files, 30 MB) takes about 0.2 s and threads
    measured no faster.
    """
    good: dict[Path, FileInfo] = {}
    skipped: list[Skipped] = []
    for p in paths:
        try:
            value = check(p)
            good[p] = FileInfo(file_sha256(p), value)
        except ImageError as e:
            skipped.append(Skipped(p, e.reason + reason_suffix(p)))
        except OSError as e:
            skipped.append(Skipped(p, f"unreadable: {e.strerror or e}" + reason_suffix(p)))
    return good, skipped


def read_csv(path: Path, required: Iterable[str] = ("path", "label")) -> list[tuple[int, dict]]:
    """Rows of a CSV file as (row number, {column: stripped value}); DatasetError if malformed."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in fields]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(fields)})"
                )
            reader.fieldnames = fields
            rows = []
            for row in reader:
                if None in row:
                    raise DatasetError(
                        f"{path}: row {reader.line_num} has more fields than the header"
                    )
                rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read CSV ({e})") from None
    return rows


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row, parsed: everything but the path and the file's own facts."""

    line: int
    label: int
    subject: str | None
    attack_type: str | None
    split: str | None
    sha256: str | None
    video: str | None
    extra: dict[str, str]


def parse_rows(csv_path: Path) -> dict[str, ManifestRow]:
    """A manifest's rows keyed by their path (POSIX, relative to the CSV's folder).

    Labels and splits are validated (DatasetError naming the row and value); a path
    listed twice is an error.
    """
    out: dict[str, ManifestRow] = {}
    for line, row in read_csv(csv_path):
        where = f"{csv_path} row {line}"
        if not row["path"]:
            raise DatasetError(f"{where}: empty path")
        key = PurePosixPath(row["path"].replace("\\", "/")).as_posix()
        if key in out:
            raise DatasetError(f"{where}: {key} is listed twice (first at row {out[key].line})")
        try:
            label = parse_label(row["label"])
            split = parse_split(row.get("split") or row.get("official_split") or "")
        except ValueError as e:
            raise DatasetError(f"{where}: {e}") from None
        attack_type = row.get("attack_type") or None
        if label == BONAFIDE and attack_type is not None:
            raise DatasetError(f"{where}: a bona fide row has attack_type {attack_type!r}")
        extra = {k: v for k, v in row.items() if k not in RESERVED_COLUMNS | {"sha256"}}
        out[key] = ManifestRow(
            line, label, row.get("subject") or None, attack_type, split,
            row.get("sha256", "").lower() or None, row.get("video") or None, extra,
        )  # fmt: skip
    return out


def verify_sha256(path: Path, row: ManifestRow, actual: str, csv_path: Path) -> None:
    """DatasetError when the manifest's sha256 for `path` differs from the file's."""
    if row.sha256 is not None and row.sha256 != actual:
        raise DatasetError(
            f"{path}: sha256 {actual} does not match {row.sha256} given in {csv_path} "
            f"row {row.line} (the file changed or the manifest is wrong)"
        )


def load_manifest(csv_path: Path | str, subject_pattern: str | None = None) -> Dataset:
    """Load the images a CSV manifest lists (paths relative to the CSV's folder).

    Columns: `path,label` required; `subject`, `attack_type`, `split` (or
    `official_split`), `video` (frames of one video form one group when splitting),
    `sha256` (verified) optional; any other column goes to `extra`.
    `subject_pattern`, when given, takes the subject from the file name instead.
    Missing or bad images are skipped with a reason naming the row. The dataset is
    named after the CSV's folder (plus the CSV's stem unless it is `manifest.csv`).
    """
    csv_path = Path(csv_path)
    root = csv_path.parent
    rows = parse_rows(csv_path)
    subject_of = subject_matcher(subject_pattern)
    paths = {key: root / key for key in rows}
    skipped: list[Skipped] = []
    images = []
    for key, p in paths.items():
        where = f" (listed in {csv_path.name} row {rows[key].line})"
        if is_image(p):
            images.append(p)
        elif is_video(p):
            skipped.append(Skipped(p, "video files are not supported in a CSV manifest" + where))
        else:
            skipped.append(Skipped(p, f"not an image file name (suffix {p.suffix!r})" + where))
    by_path = {p: key for key, p in paths.items()}
    good, bad = inspect_files(
        images, reason_suffix=lambda p: f" (listed in {csv_path.name} row {rows[by_path[p]].line})"
    )
    records = []
    for key, p in paths.items():
        if p not in good:
            continue
        row, sha = rows[key], good[p].sha256
        verify_sha256(p, row, sha, csv_path)
        records.append(
            Presentation(
                id=key,
                path=p,
                label=row.label,
                sha256=sha,
                attack_type=row.attack_type,
                subject=subject_of(p) if subject_of else row.subject,
                video=row.video,
                split=row.split,
                extra=row.extra,
            )  # fmt: skip
        )
    name = (
        root.resolve().name
        if csv_path.name == MANIFEST_NAME
        else f"{root.resolve().name}-{csv_path.stem}"
    )
    records.sort(key=lambda r: r.id)
    return Dataset(name, root, "manifest", records, skipped + bad)
