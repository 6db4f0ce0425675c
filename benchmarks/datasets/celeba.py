"""CelebA-Spoof in its native layout.

`Data/{train,test}/<subject>/{live,spoof}/<image>.{jpg,png}`, each image with an
`<image>_BB.txt` face box (`x y w h score` in 224x224 coordinates), and label vectors in
`metas/intra_test/{train,test}_label.json` (index 40 spoof type, 41 illumination, 42
environment, 43 live/spoof). The JSON may list a subset: the folder decides the label of
an unlisted image, and a JSON label contradicting the folder is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.datasets.manifest import inspect_files, is_image, rel_id
from features.images import image_size
from features.records import (
    ATTACK,
    BONAFIDE,
    LABEL_NAMES,
    Dataset,
    DatasetError,
    Presentation,
    Skipped,
)

SPLITS = ("train", "test")
CLASS_DIRS = {"live": BONAFIDE, "spoof": ATTACK}
SPOOF_TYPES = {
    1: "photo", 2: "poster", 3: "A4", 4: "face_mask", 5: "upper_body_mask", 6: "region_mask",
    7: "PC", 8: "pad", 9: "phone", 10: "3D_mask",
}  # fmt: skip
BOX_SCALE = 224
LABEL_JSON = "metas/intra_test/{split}_label.json"


def read_box(
    path: Path, size: tuple[int, int]
) -> tuple[tuple[int, int, int, int] | None, str | None]:
    """(box, score): the face box as integer pixels (x, y, w, h) clipped to the image.

    The box file gives `x y w h score` in 224x224 coordinates; x and w scale by
    width/224, y and h by height/224. Both are None when the file is missing, malformed
    or the box lies outside the image (the crop stage then detects the face itself).
    """
    try:
        fields = path.read_text().split()
        x, y, w, h = (float(v) for v in fields[:4])
    except (OSError, UnicodeDecodeError, ValueError):
        return None, None
    score = fields[4] if len(fields) > 4 else None
    width, height = size
    sx, sy = width / BOX_SCALE, height / BOX_SCALE
    x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))
    x1, y1 = min(width, round((x + w) * sx)), min(height, round((y + h) * sy))
    if x1 <= x0 or y1 <= y0:
        return None, None
    return (x0, y0, x1 - x0, y1 - y0), score


def read_labels(path: Path) -> dict[str, list[int]]:
    """A CelebA-Spoof label JSON: relative image path -> 44-value label vector."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: cannot read the label JSON ({e})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object mapping image paths to label vectors")
    for key, vec in data.items():
        if not (isinstance(vec, list) and len(vec) == 44 and all(isinstance(v, int) for v in vec)):
            raise DatasetError(f"{path}: the label of {key} is not a list of 44 integers")
        if vec[43] not in (BONAFIDE, ATTACK) or not 0 <= vec[40] <= 10:
            raise DatasetError(
                f"{path}: the label of {key} has live/spoof {vec[43]} (expected 0 or 1) and spoof "
                f"type {vec[40]} (expected 0..10)"
            )
        if (vec[40] == 0) != (vec[43] == BONAFIDE):
            raise DatasetError(
                f"{path}: the label of {key} has spoof type {vec[40]} but live/spoof {vec[43]}"
            )
    return data


def load_celeba(root: Path | str) -> Dataset:
    """Load CelebA-Spoof (or a sample of it) from its native layout under `root`.

    Subject = the `<subject>` folder; split = train/test from the folder (the official
    split); attack_type = the spoof type's name for images the label JSON lists;
    illumination, environment and the box score go to `extra`.
    """
    root = Path(root)
    data = root / "Data"
    if not data.is_dir():
        raise DatasetError(f"{root}: no Data/ folder (not the CelebA-Spoof layout)")
    labels: dict[str, tuple[list[int], str]] = {}
    for split in SPLITS:
        json_path = root / LABEL_JSON.format(split=split)
        if json_path.is_file():
            name = rel_id(json_path, root)
            labels |= {k: (v, name) for k, v in read_labels(json_path).items()}

    skipped: list[Skipped] = []
    candidates = []
    for p in sorted(f for f in data.rglob("*") if f.is_file() and is_image(f)):
        parts = p.relative_to(data).parts
        if len(parts) == 4 and parts[0] in SPLITS and parts[2] in CLASS_DIRS:
            candidates.append(p)
        else:
            skipped.append(Skipped(p, "not at Data/{train,test}/<subject>/{live,spoof}/<image>"))
    good, bad = inspect_files(candidates, check=image_size)
    skipped += bad
    found = {rel_id(p, root) for p in candidates}
    skipped += [
        Skipped(root / key, f"listed in {json_name} but missing")
        for key, (_, json_name) in sorted(labels.items())
        if key not in found
    ]

    records = []
    for p, info in good.items():
        rid = rel_id(p, root)
        split, subject, folder = p.relative_to(data).parts[:3]
        label = CLASS_DIRS[folder]
        attack_type = None
        extra: dict[str, str] = {}
        if rid in labels:
            vec, json_name = labels[rid]
            if vec[43] != label:
                raise DatasetError(
                    f"{p}: {json_name} labels it {LABEL_NAMES[vec[43]]} "
                    f"but it is in a {folder}/ folder"
                )
            attack_type = SPOOF_TYPES.get(vec[40])
            extra = {"illumination": str(vec[41]), "environment": str(vec[42])}
        box, score = read_box(p.with_name(p.stem + "_BB.txt"), info.value)
        if score is not None:
            extra["box_score"] = score
        records.append(
            Presentation(
                id=rid,
                path=p,
                label=label,
                sha256=info.sha256,
                attack_type=attack_type,
                subject=subject,
                box=box,
                split=split,
                extra=extra,
            )  # fmt: skip
        )
    return Dataset(root.resolve().name, root, "celeba", records, skipped)
