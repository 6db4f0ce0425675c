"""Class-folder datasets: `Live/` + `Spoof/` (the seed layout), NUAA's `live/` + `spoof/`, ...

Folder names are matched case-insensitively against common aliases. A subfolder of the
attack folder names the attack type (`Spoof/print/x.jpg` -> "print"); subfolders of the
bona fide folder just hold more bona fide images. A subfolder whose images are all named
as frames (`Live/clip01/frame_0001.jpg`, see `FRAME_NAME`) holds the frames of one video:
its records share that video (the folder's relative path), so splits keep them together.
An optional `manifest.csv` in the root adds subjects, official splits, attack types,
videos and other columns (see `manifest.py`).
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.datasets.manifest import (
    MANIFEST_NAME,
    frame_index,
    inspect_files,
    is_image,
    parse_rows,
    rel_id,
    subject_matcher,
    verify_sha256,
)
from features.records import (
    ATTACK,
    BONAFIDE,
    LABEL_NAMES,
    Dataset,
    DatasetError,
    Presentation,
    Skipped,
)

BONAFIDE_DIRS = frozenset({"live", "real", "genuine", "bonafide", "bona_fide"})
ATTACK_DIRS = frozenset({"spoof", "fake", "attack", "imposter", "impostor"})


def class_of(folder_name: str) -> int | None:
    """BONAFIDE/ATTACK for a class-folder name (case-insensitive alias), else None."""
    name = folder_name.lower()
    if name in BONAFIDE_DIRS:
        return BONAFIDE
    if name in ATTACK_DIRS:
        return ATTACK
    return None


def class_folders(root: Path) -> dict[str, int]:
    """The top-level folders of `root` that name a class, with their label."""
    out = {}
    for p in sorted(Path(root).iterdir()):
        if p.is_dir() and class_of(p.name) is not None:
            out[p.name] = class_of(p.name)
    return out


def _image_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        files.extend(Path(dirpath) / f for f in sorted(filenames) if is_image(Path(f)))
    return files


def video_folders(root: Path, images: list[Path]) -> set[Path]:
    """The subfolders (below a class folder) whose images are all frame-named: one video each."""
    by_dir: dict[Path, list[Path]] = {}
    for p in images:
        if len(p.relative_to(root).parts) > 2:
            by_dir.setdefault(p.parent, []).append(p)
    return {d for d, files in by_dir.items() if all(frame_index(f) is not None for f in files)}


def load_folders(root: Path | str, subject_pattern: str | None = None) -> Dataset:
    """Load a dataset of class folders under `root`.

    `subject_pattern` is a regex on the file name whose first group (or whole match) is
    the subject id; it takes precedence over a manifest's `subject` column. Images
    outside the class folders, and images failing the header check, are skipped with
    the reason; manifest rows naming missing files are reported as skipped too.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    if not class_folders(root):
        raise DatasetError(
            f"{root}: no class folders found (expected a bona fide folder named one of "
            f"{sorted(BONAFIDE_DIRS)} and an attack folder named one of {sorted(ATTACK_DIRS)})"
        )
    manifest = root / MANIFEST_NAME
    rows = parse_rows(manifest) if manifest.is_file() else {}
    subject_of = subject_matcher(subject_pattern)

    skipped: list[Skipped] = []
    candidates = []
    for p in _image_files(root):
        if class_of(p.relative_to(root).parts[0]) is None:
            skipped.append(Skipped(p, "not inside a bona fide or attack class folder"))
        else:
            candidates.append(p)
    videos = video_folders(root, candidates)
    good, bad = inspect_files(candidates)
    skipped += bad
    found = {rel_id(p, root) for p in candidates}
    skipped += [
        Skipped(root / key, f"listed in {MANIFEST_NAME} row {row.line} but missing")
        for key, row in rows.items()
        if key not in found
    ]

    records = []
    for p, info in good.items():
        rid = rel_id(p, root)
        parts = rid.split("/")
        label = class_of(parts[0])
        video = rel_id(p.parent, root) if p.parent in videos else None
        # Spoof/<type>/..., unless Spoof/<video>/<frame>: that folder is a video, not a type
        typed = len(parts) > 3 or (len(parts) == 3 and video is None)
        attack_type = parts[1] if label == ATTACK and typed else None
        row = rows.get(rid)
        subject = split = None
        extra: dict[str, str] = {}
        if row is not None:
            if row.label != label:
                raise DatasetError(
                    f"{p}: {MANIFEST_NAME} row {row.line} says {LABEL_NAMES[row.label]} "
                    f"but the file is in the {LABEL_NAMES[label]} folder {parts[0]}/"
                )
            verify_sha256(p, row, info.sha256, manifest)
            if row.attack_type and attack_type and row.attack_type != attack_type:
                raise DatasetError(
                    f"{p}: {MANIFEST_NAME} row {row.line} says attack_type "
                    f"{row.attack_type!r} but the file is in the folder {parts[1]}/"
                )
            attack_type = row.attack_type or attack_type
            subject, split, extra = row.subject, row.split, row.extra
            video = row.video or video
        if subject_of is not None:
            subject = subject_of(p)
        records.append(
            Presentation(
                id=rid,
                path=p,
                label=label,
                sha256=info.sha256,
                attack_type=attack_type,
                subject=subject,
                video=video,
                split=split,
                extra=extra,
            )  # fmt: skip
        )
    return Dataset(root.resolve().name, root, "folders", records, skipped)
