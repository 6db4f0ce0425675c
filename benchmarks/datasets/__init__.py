"""Dataset loaders: every layout becomes a `Dataset` of `Presentation` records.

`load_dataset` detects the layout of a folder (or CSV file) and loads it; bad files are
listed in `dataset.skipped` with the reason, never dropped silently. `check_dataset`
refuses datasets an experiment cannot use (empty, one class, too few per class).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.datasets.celeba import load_celeba
from benchmarks.datasets.folders import ATTACK_DIRS, BONAFIDE_DIRS, class_folders, load_folders
from benchmarks.datasets.manifest import MANIFEST_NAME, load_manifest, parse_label
from benchmarks.datasets.msu import SPLIT_LISTS, load_msu
from benchmarks.datasets.replay import is_replay_tree, load_replay_attack
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError, Skipped

__all__ = [
    "LAYOUTS",
    "check_dataset",
    "detect_layout",
    "load_celeba",
    "load_dataset",
    "load_folders",
    "load_manifest",
    "load_msu",
    "load_replay_attack",
    "parse_label",
]

LAYOUTS = ("folders", "celeba", "msu", "replay-attack", "manifest")


def detect_layout(path: Path | str) -> str:
    """The layout of a dataset path, or DatasetError saying what was expected."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "manifest"
        raise DatasetError(f"{path}: a file, but not a .csv manifest (path,label,...)")
    if (path / "Data").is_dir() and (path / "metas").is_dir():
        return "celeba"
    if (path / "scene01").is_dir() or any((path / name).is_file() for name in SPLIT_LISTS.values()):
        return "msu"
    if is_replay_tree(path):
        return "replay-attack"
    if class_folders(path):
        return "folders"
    if (path / MANIFEST_NAME).is_file():
        return "manifest"
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    shown = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "") if found else "nothing"
    raise DatasetError(
        f"{path}: cannot tell the dataset layout (found: {shown}). Expected one of: class folders "
        f"(a bona fide folder named one of {sorted(BONAFIDE_DIRS)} and an attack folder named one "
        f"of {sorted(ATTACK_DIRS)}); CelebA-Spoof (Data/ and metas/); MSU-MFSD (scene01/ or "
        f"{'/'.join(SPLIT_LISTS.values())}); Replay-Attack ({{train,devel,test}}/ each with "
        f"real/ and attack/); or a CSV manifest (path,label,...)"
    )


def load_dataset(
    path: Path | str, layout: str = "auto", subject_pattern: str | None = None, **kw
) -> Dataset:
    """Load the dataset at `path` (a folder, or a CSV manifest) in `layout` (or auto-detected).

    `subject_pattern` (a regex on file names; the first group is the subject id) applies
    to the folders and manifest layouts; `kw` go to the layout's loader (e.g.
    `frames_per_video` or `frame_step` for MSU-MFSD and Replay-Attack).
    """
    path = Path(path)
    if layout == "auto":
        layout = detect_layout(path)
    elif layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r} (use one of {', '.join(LAYOUTS)} or auto)")
    elif not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if subject_pattern is not None and layout in ("celeba", "msu", "replay-attack"):
        raise DatasetError(
            f"subject_pattern is not used by the {layout} layout (it names subjects)"
        )
    if layout == "manifest":
        csv_path = path / MANIFEST_NAME if path.is_dir() else path
        dataset = load_manifest(csv_path, subject_pattern=subject_pattern, **kw)
    elif layout == "folders":
        dataset = load_folders(path, subject_pattern=subject_pattern, **kw)
    else:
        loaders = {"celeba": load_celeba, "msu": load_msu, "replay-attack": load_replay_attack}
        dataset = loaders[layout](path, **kw)
    # A copy of the demo set loaded as a plain folder must still be labelled synthetic.
    if any(r.extra.get("synthetic") == "true" for r in dataset.records):
        dataset.synthetic = True
    return drop_contradictions(dataset)


def drop_contradictions(dataset: Dataset) -> Dataset:
    """The dataset without files whose same bytes are labelled both bona fide and attack.

    Such a file cannot be right under both labels, and keeping either copy would train or test
    on a label that is wrong, so every copy is left out and listed in `skipped` with the path of
    a copy under the other label.
    """
    labels: dict[str, dict[int, Path]] = {}
    for r in dataset.records:
        labels.setdefault(r.sha256, {}).setdefault(r.label, r.path)
    bad = {h: by for h, by in labels.items() if len(by) > 1}
    if not bad:
        return dataset
    kept = [r for r in dataset.records if r.sha256 not in bad]
    dropped = [
        Skipped(
            r.path,
            f"the same bytes are labelled both bona fide and attack (also "
            f"{bad[r.sha256][1 - r.label]}); every copy is left out",
        )
        for r in dataset.records
        if r.sha256 in bad
    ]
    return dataset.with_records(kept, dropped)


def check_dataset(dataset: Dataset, min_per_class: int = 1) -> None:
    """Raise DatasetError unless `dataset` has at least `min_per_class` images of each class."""
    n_bona = sum(r.label == BONAFIDE for r in dataset.records)
    n_attack = sum(r.label == ATTACK for r in dataset.records)
    skipped = f" ({len(dataset.skipped)} file(s) skipped, e.g. {dataset.skipped[0].path}: " \
        f"{dataset.skipped[0].reason})" if dataset.skipped else ""  # fmt: skip
    if n_bona + n_attack == 0:
        raise DatasetError(f"{dataset.root}: no images were found{skipped}")
    if n_bona == 0 or n_attack == 0:
        have, lack = ("attack", "bona fide") if n_bona == 0 else ("bona fide", "attack")
        raise DatasetError(
            f"{dataset.root}: only {have} images ({n_bona + n_attack}) were found, no {lack} "
            f"images; detection needs both classes{skipped}"
        )
    if min(n_bona, n_attack) < min_per_class:
        raise DatasetError(
            f"{dataset.root}: {n_bona} bona fide and {n_attack} attack images, fewer than the "
            f"{min_per_class} per class this experiment needs"
        )
