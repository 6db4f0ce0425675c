"""MSU-MFSD in its native layout: videos, sampled into one record per frame.

`scene01/real/real_client<NNN>_<device>_SD_scene01.<mp4|mov>` and
`scene01/attack/attack_client<NNN>_<device>_SD_<printed_photo|ipad_video|iphone_video>_scene01.<ext>`,
with `train_sub_list.txt` / `test_sub_list.txt` (client numbers, one a line) in the root
giving the official subject-disjoint split.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.datasets.manifest import inspect_files, is_video, rel_id
from features.images import ImageError, read_frame, sample_frames, video_frame_count
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError, Presentation, Skipped

NAME = re.compile(
    r"(?P<kind>real|attack)_client(?P<client>\d+)_(?P<device>[a-z0-9]+)_(?:SD|HR)_"
    r"(?:(?P<attack>printed_photo|ipad_video|iphone_video)_)?scene\d+",
    re.IGNORECASE,
)
CLASS_DIRS = {"real": BONAFIDE, "attack": ATTACK}
SPLIT_LISTS = {"train": "train_sub_list.txt", "test": "test_sub_list.txt"}


def check_video(
    path: Path, frames_per_video: int | None = 10, frame_step: int | None = None
) -> list[int]:
    """The frames to sample from a video (see `sample_frames`); ImageError if it is unusable.

    Refuses an empty file, a video OpenCV cannot open, and one whose last sampled frame
    cannot be read (a truncated file often reports more frames than it holds).
    """
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    n = video_frame_count(path)
    frames = sample_frames(n, frames_per_video, frame_step)
    try:
        read_frame(path, frames[-1])
    except ImageError:
        raise ImageError(
            path, f"reports {n} frames but frame {frames[-1]} cannot be read"
        ) from None
    return frames


def read_client_list(path: Path) -> set[int]:
    """Client numbers listed one per line (blank lines ignored)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the client list ({e})") from None
    clients = set()
    for i, line in enumerate(lines, 1):
        if line.strip():
            try:
                clients.add(int(line.strip().removeprefix("client")))
            except ValueError:
                raise DatasetError(
                    f"{path} line {i}: {line.strip()!r} is not a client number"
                ) from None
    return clients


def official_splits(root: Path) -> dict[int, str]:
    """Client number -> "train"/"test" from the sub lists; a client in both is an error."""
    split_of: dict[int, str] = {}
    for split, name in SPLIT_LISTS.items():
        if (root / name).is_file():
            for c in read_client_list(root / name):
                if c in split_of:
                    raise DatasetError(
                        f"{root}: client {c:03d} is listed in both "
                        f"{SPLIT_LISTS[split_of[c]]} and {name}"
                    )
                split_of[c] = split
    return split_of


def load_msu(
    root: Path | str, frames_per_video: int | None = 10, frame_step: int | None = None
) -> Dataset:
    """Load MSU-MFSD videos under `root` as one record per sampled frame.

    Frames: every `frame_step`-th, else `frames_per_video` evenly spaced (see
    `sample_frames`). A video OpenCV cannot open, or whose last sampled frame cannot be
    read, is skipped with the reason, as is a video whose name or place does not follow
    the MSU-MFSD convention.
    """
    sample_frames(1, frames_per_video, frame_step)  # validate the options before any work
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    split_of = official_splits(root)

    skipped: list[Skipped] = []
    candidates = {}
    for p in sorted(f for f in root.rglob("*") if f.is_file() and is_video(f)):
        parts = [*p.relative_to(root).parent.parts, p.name]
        parts[:-1] = [d.lower() for d in parts[:-1]]
        m = NAME.fullmatch(p.stem)
        if len(parts) != 3 or not parts[0].startswith("scene") or parts[1] not in CLASS_DIRS:
            skipped.append(Skipped(p, "not at scene<NN>/{real,attack}/<video>"))
        elif m is None or (m["kind"].lower() == "attack") != (m["attack"] is not None):
            skipped.append(Skipped(p, "file name does not follow the MSU-MFSD naming convention"))
        elif CLASS_DIRS[m["kind"].lower()] != CLASS_DIRS[parts[1]]:
            raise DatasetError(
                f"{p}: the file name says {m['kind']} but it is in the {parts[1]}/ folder"
            )
        else:
            candidates[p] = m
    good, bad = inspect_files(
        candidates, check=lambda p: check_video(p, frames_per_video, frame_step)
    )
    skipped += bad

    records = []
    for p, info in good.items():
        m, vid = candidates[p], rel_id(p, root)
        client = int(m["client"])
        for frame in info.value:
            records.append(
                Presentation(
                    id=f"{vid}#{frame}",
                    path=p,
                    label=CLASS_DIRS[m["kind"].lower()],
                    sha256=f"{info.sha256}#{frame}",
                    attack_type=m["attack"].lower() if m["attack"] else None,
                    subject=f"client{client:03d}",
                    video=vid,
                    frame=frame,
                    split=split_of.get(client),
                    extra={"device": m["device"].lower()},
                )  # fmt: skip
            )
    return Dataset(root.resolve().name, root, "msu", records, skipped)
