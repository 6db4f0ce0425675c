"""Score files: the per-presentation CSV every method writes and every metric is computed from.

Columns (header row, any order): sample_id, path, label, attack_type, subject, video, fold, split,
score, group. Only sample_id, label and score are required; a missing optional column means
"unknown" on every row, and an empty cell means unknown on that row. An unknown column name is an
error (it is most likely a typo).

- label: 1 = attack, 0 = bona fide; "attack" / "bonafide" (any case) are accepted too.
- score: an ATTACK score (higher = more likely an attack; attack when score >= threshold); finite.
- fold: a non-negative integer (-1 in memory = unknown); split: "dev", "test" (any case) or empty.
- group: the bootstrap resampling unit; when empty, subject, else video, else the sample itself.
- (fold, split, sample_id) must be unique.

Reading never guesses: a bad cell raises `ScoreFileError` naming the file and the 1-based data row
(the header is not counted); so do a file that is not UTF-8 (naming the line), a header split by
';', tab or '|' instead of ',', and a field longer than the csv module's limit (128 KB).
Writes are atomic (a temp file in the same folder, then os.replace).

Score files are UTF-8. A text cell taken from a file name that is not valid UTF-8 (Python holds
it with lone surrogates) is written with those bytes spelt `\\xNN`
(`features.files.escape_undecodable`): b"Live/\\xff.jpg" is stored as the text `Live/\\xff.jpg`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from features.files import atomic_open, escape_undecodable

COLUMNS = (
    "sample_id",
    "path",
    "label",
    "attack_type",
    "subject",
    "video",
    "fold",
    "split",
    "score",
    "group",
)
REQUIRED = ("sample_id", "label", "score")
SPLITS = ("dev", "test")
_LABELS = {"0": 0, "1": 1, "bonafide": 0, "attack": 1}
_TEXT = ("sample_id", "path", "attack_type", "subject", "video", "split", "group")


class ScoreFileError(ValueError):
    """A score file (or table) that cannot be read or used as asked."""


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Columns of a score file as numpy arrays; `row` is each row's 1-based data row in `source`."""

    sample_id: np.ndarray
    path: np.ndarray
    label: np.ndarray
    attack_type: np.ndarray
    subject: np.ndarray
    video: np.ndarray
    fold: np.ndarray
    split: np.ndarray
    score: np.ndarray
    group: np.ndarray
    row: np.ndarray
    source: str = "<memory>"

    @classmethod
    def from_columns(cls, source: str = "<memory>", **columns: object) -> ScoreTable:
        """Build a table; missing text columns are empty, a missing fold is -1 (unknown)."""
        n = len(columns["score"])
        unknown = set(columns) - {f.name for f in fields(cls)}
        if unknown:
            raise ScoreFileError(f"{source}: unknown columns {sorted(unknown)}")
        cols: dict[str, np.ndarray] = {}
        for name in _TEXT:
            values = columns.get(name, [""] * n)
            cols[name] = np.array(["" if v is None else str(v) for v in values], dtype=str)
        cols["label"] = np.asarray(columns["label"], dtype=int)
        cols["score"] = np.asarray(columns["score"], dtype=float)
        cols["fold"] = np.asarray(columns.get("fold", np.full(n, -1)), dtype=int)
        cols["row"] = np.asarray(columns.get("row", np.arange(1, n + 1)), dtype=int)
        for name, arr in cols.items():
            if arr.shape != (n,):
                raise ScoreFileError(
                    f"{source}: column {name} has shape {arr.shape}, expected ({n},)"
                )
        table = cls(source=source, **cols)
        table._validate()
        return table

    def _validate(self) -> None:
        checks = (
            (~np.isin(self.label, (0, 1)), "label", "is not 0 or 1"),
            (~np.isfinite(self.score), "score", "is not finite"),
            (~np.isin(self.split, ("", *SPLITS)), "split", "is not dev, test or empty"),
            (self.fold < -1, "fold", "is negative"),
        )
        for bad, col, problem in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                value = getattr(self, col)[i].item()
                raise ScoreFileError(
                    f"{self.source}, data row {self.row[i]}: {col} {value!r} {problem}"
                )
        seen: dict[tuple, int] = {}
        keys = zip(self.fold.tolist(), self.split.tolist(), self.sample_id.tolist(), strict=True)
        for i, key in enumerate(keys):
            if key in seen:
                raise ScoreFileError(
                    f"{self.source}, data rows {self.row[seen[key]]} and {self.row[i]}: sample_id "
                    f"{key[2]!r} appears twice in fold {key[0]}, split {key[1]!r}"
                )
            seen[key] = i

    def __len__(self) -> int:
        return len(self.score)

    def take(self, index: np.ndarray) -> ScoreTable:
        """The rows selected by a boolean mask or an index array."""
        cols = {f.name: getattr(self, f.name)[index] for f in fields(self) if f.name != "source"}
        return ScoreTable(source=self.source, **cols)

    def groups(self) -> np.ndarray:
        """Bootstrap resampling unit per row: group, else subject, else video, else sample_id."""
        out = self.sample_id.copy()
        for col in (self.video, self.subject, self.group):
            out = np.where(col != "", col, out)
        return out


def write_scores(path: str | Path, table: ScoreTable) -> Path:
    """Write a score file atomically; floats are written exactly (repr round-trips)."""
    path = Path(path)
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(len(table)):
            fold = int(table.fold[i])
            w.writerow(
                [
                    escape_undecodable(table.sample_id[i]),
                    escape_undecodable(table.path[i]),
                    int(table.label[i]),
                    escape_undecodable(table.attack_type[i]),
                    escape_undecodable(table.subject[i]),
                    escape_undecodable(table.video[i]),
                    "" if fold < 0 else fold,
                    table.split[i],
                    repr(float(table.score[i])),
                    escape_undecodable(table.group[i]),
                ]
            )
    return path


def _parse_row(values: dict[str, str], where: str) -> dict[str, object]:
    label = values["label"].strip().lower()
    if label not in _LABELS:
        raise ScoreFileError(
            f"{where}: label {values['label']!r} is not 0, 1, 'attack' or 'bonafide'"
        )
    try:
        score = float(values["score"])
    except ValueError:
        raise ScoreFileError(f"{where}: score {values['score']!r} is not a number") from None
    if not math.isfinite(score):
        raise ScoreFileError(f"{where}: score {values['score']!r} is not finite")
    fold_text = values.get("fold", "").strip()
    if fold_text and not fold_text.isdigit():
        raise ScoreFileError(f"{where}: fold {fold_text!r} is not a non-negative integer")
    split = values.get("split", "").strip().lower()
    if split not in ("", *SPLITS):
        raise ScoreFileError(f"{where}: split {values['split']!r} is not dev, test or empty")
    if not values["sample_id"]:
        raise ScoreFileError(f"{where}: sample_id is empty")
    return {
        "label": _LABELS[label],
        "score": score,
        "fold": int(fold_text) if fold_text else -1,
        "split": split,
    }


_DELIMITERS = (";", "\t", "|")


def _decode(path: Path, raw: bytes) -> str:
    """The text of a score file, or ScoreFileError saying it is not UTF-8 (and where)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise ScoreFileError(
            f"{path}: not UTF-8 text (it holds NUL bytes or a UTF-16 byte-order mark, so it is "
            "probably UTF-16); save the score file as UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ScoreFileError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
            f"{e.start}; Latin-1 or another legacy encoding?); save the score file as UTF-8"
        ) from None


def _csv_rows(path: Path, text: str) -> Iterator[list[str]]:
    """The rows of CSV text; a malformed row is a ScoreFileError naming its data row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    n = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            where = "header" if n == 0 else f"data row {n}"
            if "field larger than field limit" in str(e):
                problem = (
                    f"a field is longer than {csv.field_size_limit():,} characters "
                    "(the CSV reader's limit); is it a score file?"
                )
            else:
                problem = f"not readable as CSV ({e})"
            raise ScoreFileError(f"{path}, {where}: {problem}") from None
        n += 1
        yield row


def _check_header(path: Path, header: list[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS]
    for d in _DELIMITERS:
        if any(d in h for h in unknown):
            raise ScoreFileError(
                f"{path}: the delimiter may be wrong: the header holds {d!r} ({header}), but "
                "score files are comma-separated (',')"
            )
    if unknown:
        raise ScoreFileError(
            f"{path}: unknown column(s) {unknown}; score file columns are {list(COLUMNS)}"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ScoreFileError(f"{path}: column(s) {dupes} appear more than once in the header")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ScoreFileError(f"{path}: missing required column(s) {missing}")


def read_scores(path: str | Path) -> ScoreTable:
    """Read and validate a score file (see the module docstring); errors name file and row.

    Not UTF-8, another delimiter than ',' and CSV syntax errors are ScoreFileErrors too.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ScoreFileError(f"{path}: cannot open score file ({e.strerror})") from None
    rows = _csv_rows(path, _decode(path, raw))
    header = next(rows, None)
    if header is None:
        raise ScoreFileError(f"{path}: empty file (no header row)")
    header = [h.strip() for h in header]
    _check_header(path, header)
    cols: dict[str, list] = {c: [] for c in (*header, "row")}
    for n, raw_row in enumerate(rows, start=1):
        where = f"{path}, data row {n}"
        if len(raw_row) != len(header):
            raise ScoreFileError(f"{where}: {len(raw_row)} fields, the header has {len(header)}")
        values = {h: v.strip() for h, v in zip(header, raw_row, strict=True)}
        values.update(_parse_row(values, where))
        for h in header:
            cols[h].append(values[h])
        cols["row"].append(n)
    if not cols["row"]:
        raise ScoreFileError(f"{path}: no data rows")
    return ScoreTable.from_columns(source=str(path), **cols)


def aggregate_by_video(table: ScoreTable) -> ScoreTable:
    """One row per (fold, split, video) with the mean score; errors on rows without a video id.

    Label, attack type, subject and group must agree within a video; the row keeps the video id
    as sample_id and the first frame's data row as `row`.
    """
    missing = np.flatnonzero(table.video == "")
    if missing.size:
        raise ScoreFileError(
            f"{table.source}, data row {table.row[missing[0]]}: no video id, but video-level "
            "evaluation needs one on every row"
        )
    keys = list(zip(table.fold.tolist(), table.split.tolist(), table.video.tolist(), strict=True))
    first: dict[tuple, int] = {}
    members: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
        members.setdefault(key, []).append(i)
    for key, idx in members.items():
        for col in ("label", "attack_type", "subject", "group"):
            values = getattr(table, col)[idx]
            odd = np.flatnonzero(values != values[0])
            if odd.size:
                raise ScoreFileError(
                    f"{table.source}, data rows {table.row[idx[0]]} and {table.row[idx[odd[0]]]}: "
                    f"video {key[2]!r} has different {col} values"
                )
    agg = table.take(np.array(list(first.values())))
    return replace(
        agg,
        sample_id=agg.video.copy(),
        path=np.full(len(agg), ""),
        score=np.array([table.score[idx].mean() for idx in members.values()]),
    )
