"""Idiap Replay-Attack in its official tree: one record per sampled video frame.

`{train,devel,test}/real/<video>` and `{train,devel,test}/attack/{fixed,hand}/<video>`,
where each video is the original `.mov` file (frames sampled with OpenCV, as for
MSU-MFSD) or a folder of its frames saved as images (`<video>/frame_NNNNN.jpg`, NNNNN the
frame's index in the video). The official split is client-disjoint; `devel` is the dev
set. Video names: `client001_session01_webcam_authenticate_adverse_1` (bona fide) and
`attack_{print,mobile,highdef}_client001_session01_{mobile,highdef}_{photo,video}_{adverse,controlled}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmarks.datasets.manifest import frame_index, inspect_files, is_image, is_video, rel_id
from benchmarks.datasets.msu import check_video
from features.images import sample_frames
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError, Presentation, Skipped

SPLIT_DIRS = {"train": "train", "devel": "dev", "test": "test"}
"""Official split folder -> the split name records carry."""
SUPPORTS = ("fixed", "hand")
CLIENT = re.compile(r"client(\d{3})", re.IGNORECASE)
REAL_NAME = re.compile(
    r"client\d{3}_session\d+_webcam_authenticate_(?P<light>adverse|controlled)_\d+", re.IGNORECASE
)
ATTACK_NAME = re.compile(
    r"attack_(?P<medium>print|mobile|highdef)_client\d{3}_session\d+_"
    r"(?P<device>mobile|highdef)_(?P<kind>photo|video)_(?P<light>adverse|controlled)",
    re.IGNORECASE,
)

EXAMPLES = {
    BONAFIDE: "client001_session01_webcam_authenticate_adverse_1",
    ATTACK: "attack_highdef_client001_session01_highdef_photo_adverse",
}


def is_replay_tree(root: Path) -> bool:
    """True when a split folder of `root` holds `real/` and `attack/` (the official tree)."""
    return any((root / s / "real").is_dir() and (root / s / "attack").is_dir() for s in SPLIT_DIRS)


@dataclass(frozen=True)
class _Video:
    """One video of the tree, named and placed by the convention."""

    path: Path  # the .mov file or the folder of frames
    split: str
    label: int
    client: str
    attack_type: str | None
    extra: dict[str, str]


def _find_videos(root: Path) -> tuple[list[tuple[Path, str, int, str | None]], list[Skipped]]:
    """(path, split, label, support) of every video in the tree, and stray entries skipped."""
    missing = [
        f"{s}/{c}/" for s in SPLIT_DIRS for c in ("real", "attack") if not (root / s / c).is_dir()
    ]
    if missing:
        raise DatasetError(
            f"{root}: not a complete Replay-Attack tree: missing {', '.join(missing)} "
            f"(expected {{train,devel,test}}/real/ and {{train,devel,test}}/attack/{{fixed,hand}}/)"
        )
    skipped = [
        Skipped(p, "not one of the official split folders train/, devel/, test/")
        for p in sorted(root.iterdir())
        if p.is_dir() and p.name not in SPLIT_DIRS
    ]
    found = []
    for split in SPLIT_DIRS:
        places = [(root / split / "real", BONAFIDE, None)]
        for p in sorted((root / split / "attack").iterdir()):
            if p.is_dir() and p.name.lower() in SUPPORTS:
                places.append((p, ATTACK, p.name.lower()))
            else:
                skipped.append(Skipped(p, "not attack/fixed/ or attack/hand/"))
        for folder, label, support in places:
            for p in sorted(folder.iterdir()):
                if p.is_dir() or is_video(p):
                    found.append((p, split, label, support))
                else:
                    skipped.append(Skipped(p, "neither a video file nor a folder of frames"))
    return found, skipped


def _parse(path: Path, split: str, label: int, support: str | None) -> _Video:
    """Client, attack type and conditions from a video's name; DatasetError if it has none."""
    name = path.stem if path.is_file() else path.name
    client = CLIENT.search(name)
    if client is None:
        raise DatasetError(f"{path}: the video name has no client id (client<NNN>)")
    rx, other = (ATTACK_NAME, REAL_NAME) if label == ATTACK else (REAL_NAME, ATTACK_NAME)
    m = rx.fullmatch(name)
    if m is None:
        where = "attack/" if label == ATTACK else "real/"
        if other.fullmatch(name):
            raise DatasetError(f"{path}: the name is that of the other class but it is in {where}")
        raise DatasetError(
            f"{path}: the video name does not follow the Replay-Attack convention for {where} "
            f"(e.g. {EXAMPLES[label]})"
        )
    attack_type, extra = None, {"light": m["light"].lower()}
    if label == ATTACK:
        medium = m["medium"].lower()
        attack_type = "print" if medium == "print" else f"{m['device']}_{m['kind']}".lower()
        extra["support"] = support
    return _Video(path, SPLIT_DIRS[split], label, f"client{client[1]}", attack_type, extra)


def _frame_files(folder: Path) -> tuple[list[Path], list[Skipped]]:
    """A frames folder's images in frame order, and its other files (skipped)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    images = [p for p in files if is_image(p) and p.parent == folder]
    stray = [Skipped(p, "not an image frame of this video") for p in files if p not in images]
    images.sort(key=lambda p: (frame_index(p) is None, frame_index(p) or 0, p.name))
    return images, stray


def load_replay_attack(
    root: Path | str, frames_per_video: int | None = 10, frame_step: int | None = None
) -> Dataset:
    """Load a Replay-Attack tree under `root` as one record per sampled frame.

    From a `.mov` video: every `frame_step`-th frame, else `frames_per_video` evenly spaced
    ones (see `sample_frames`); `frame` is the index and `sha256` the video's hash plus
    `#frame`. From a folder of frames the same sampling picks among its images (all of
    them by default); each record is an image (`frame` None, so it is decoded as one) whose
    index in the video, from `frame_NNNNN`, is in `extra["frame_index"]`. Every record of a
    video shares `video` (its path relative to `root`, without suffix) and `subject` (the
    client). `extra` holds `light` (adverse/controlled) and, for attacks, `support`
    (fixed/hand). Empty frame folders, unreadable videos and undecodable frames are
    skipped with the reason; a missing split or a video name without a client id, or not
    following the naming convention, is a DatasetError.
    """
    sample_frames(1, frames_per_video, frame_step)  # validate the options before any work
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    found, skipped = _find_videos(root)
    videos = [_parse(*v) for v in found]

    files: list[Path] = []
    frames: dict[Path, tuple[_Video, int | None]] = {}
    for v in videos:
        if v.path.is_file():
            files.append(v.path)
            continue
        images, stray = _frame_files(v.path)
        skipped += stray
        if not images:
            skipped.append(Skipped(v.path, "empty frames folder: no image files"))
        for i in sample_frames(len(images), frames_per_video, frame_step) if images else []:
            frames[images[i]] = (v, frame_index(images[i]))
    good_images, bad = inspect_files(frames)
    skipped += bad
    good_videos, bad = inspect_files(
        files, check=lambda p: check_video(p, frames_per_video, frame_step)
    )
    skipped += bad

    def record(v: _Video, rid: str, path: Path, sha256: str, **kw) -> Presentation:
        video = rel_id(v.path.with_suffix("") if v.path.is_file() else v.path, root)
        return Presentation(
            id=rid, path=path, label=v.label, sha256=sha256, attack_type=v.attack_type,
            subject=v.client, video=video, split=v.split, **kw,
        )  # fmt: skip

    records = []
    by_path = {v.path: v for v in videos}
    for p, info in good_videos.items():
        v = by_path[p]
        for f in info.value:
            records.append(
                record(v, f"{rel_id(p, root)}#{f}", p, f"{info.sha256}#{f}", frame=f, extra=v.extra)
            )
    for p, info in good_images.items():
        v, index = frames[p]
        extra = v.extra if index is None else {**v.extra, "frame_index": str(index)}
        records.append(record(v, rel_id(p, root), p, info.sha256, extra=extra))
    records.sort(key=lambda r: r.id)
    return Dataset(root.resolve().name, root, "replay-attack", records, skipped)
