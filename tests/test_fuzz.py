"""A bounded fuzz pass over every reader of user files (hypothesis, a few seconds each).

Whatever the bytes, each reader returns a result or raises its module's documented error type:
DatasetError (CSV manifests), ScoreFileError (score files), ConfigError (TOML configs) and
ImageError (image decoding); any other exception is a bug.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from benchmarks.config import ConfigError, load_config
from benchmarks.datasets.manifest import load_manifest
from benchmarks.scores import COLUMNS, ScoreFileError, ScoreTable, read_scores
from features.images import ImageError, read_image
from features.records import Dataset, DatasetError

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["0", "1", "attack", "bonafide", "live", "spoof", "dev", "test", "train"]),
    st.sampled_from(["", " ", "nan", "inf", "-1", "1e308", "0x10", "é", '"', "\x00", "\r\n"]),
    st.floats(allow_nan=True).map(repr),
    st.integers().map(str),
)


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


def csv_files(columns: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Random bytes, or CSV text with a header of (mostly) known columns and random cells."""
    header = st.lists(st.sampled_from(columns) | st.text(max_size=8), min_size=1, max_size=8)
    structured = header.flatmap(
        lambda h: st.lists(
            st.lists(CELLS, min_size=len(h) - 1, max_size=len(h) + 1), max_size=8
        ).map(lambda rows: _csv(h, rows))
    )
    return st.binary(max_size=300) | structured


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=csv_files(COLUMNS))
def test_score_reader_returns_a_table_or_score_file_error(scratch, data):
    path = scratch / "scores.csv"
    path.write_bytes(data)
    try:
        table = read_scores(path)
    except ScoreFileError:
        return
    assert isinstance(table, ScoreTable) and len(table) > 0
    assert np.isfinite(table.score).all() and set(table.label.tolist()) <= {0, 1}


@FUZZ
@given(data=csv_files(("path", "label", "subject", "attack_type", "split", "sha256")))
def test_manifest_reader_returns_a_dataset_or_dataset_error(scratch, data):
    folder = scratch / "manifest"
    folder.mkdir(exist_ok=True)
    (folder / "manifest.csv").write_bytes(data)
    try:
        dataset = load_manifest(folder / "manifest.csv")
    except DatasetError:
        return
    assert isinstance(dataset, Dataset)  # every listed file is absent: all skipped
    assert dataset.records == []


TOML_KEYS = st.sampled_from(
    ["methods", "protocol", "crop", "params", "quick", "ablations", "folds", "seed", "criterion",
     "dev_fraction", "n_boot", "size", "scale", "lbp-svm", "lbp-lr", "C", "variants", "method",
     "label", "train_fraction", "title", "x"]
)  # fmt: skip
TOML_SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=10),
    st.sampled_from(["eer", "apcer=0.05", "fixed=nan", "lbp-svm", "metadata-audit"]),
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TOML_KEYS, inner, max_size=3),
    max_leaves=8,
)


def _toml(value: object) -> str:
    """A TOML inline value (strings as JSON strings, which TOML basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if value != value
            else ("inf" if value > 0 else "-inf")
            if abs(value) == float("inf")
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


toml_files = st.binary(max_size=200) | st.dictionaries(TOML_KEYS, TOML_VALUES, max_size=4).map(
    lambda d: "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in d.items()).encode()
)


# Findings in benchmarks/config.py, reported to its owner rather than fixed here (the file is being
# redesigned): each is pinned by a strict xfail below, which starts failing once it is fixed;
# then delete it from this list and its case from CONFIG_FINDINGS.
CONFIG_FINDINGS = [  # each once escaped load_config as another exception type
    pytest.param(b"\xa4", id="not-utf8"),  # tomllib's UnicodeDecodeError escapes _read
    pytest.param(b"methods = 0", id="methods-not-a-list"),  # TypeError: tuple(0)
    pytest.param(b"methods = [{a = 1}]", id="method-not-a-string"),  # unhashable dict
    pytest.param(b"params = 0", id="params-not-a-table"),  # AttributeError: .items()
    pytest.param(b"params = {x = true}", id="params-entry-not-a-table"),  # TypeError: dict(True)
    pytest.param(b"ablations = {x = {variants = [1]}}", id="variant-not-a-table"),
    pytest.param(b"ablations = {x = {variants = 3}}", id="variants-not-a-list"),
    pytest.param(
        b'ablations = {x = {variants = [{method = "lbp-lr", train_fraction = "a"}]}}',
        id="train-fraction-not-a-number",
    ),
    pytest.param(b"protocol = {seed = inf}", id="infinite-seed"),  # OverflowError: int(inf)
    pytest.param(b"crop = {size = 1e300}", id="huge-crop-size"),  # accepted silently
    pytest.param(b"protocol = {folds = 1e300}", id="huge-folds"),  # accepted silently
    pytest.param(b'[params.lbp-lr]\nclf__C = "x"', id="C-not-a-number"),  # failed only at fit
]


@FUZZ
@given(data=toml_files)
def test_config_loader_returns_a_config_or_config_error(scratch, data):
    path = scratch / "user.toml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_config(path)


@pytest.mark.parametrize("data", CONFIG_FINDINGS)
def test_config_finding(tmp_path, data):
    path = tmp_path / "user.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match="user.toml"):
        load_config(path)


MAGIC = [b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"RIFF"]


def _check_decoded(path: Path) -> None:
    try:
        rgb = read_image(path)
    except ImageError as e:
        assert str(path) in str(e)
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


@FUZZ
@given(magic=st.sampled_from(MAGIC), body=st.binary(max_size=400))
def test_image_decoder_on_random_bytes(scratch, magic, body):
    path = scratch / "random.img"
    path.write_bytes(magic + body)
    _check_decoded(path)


@pytest.fixture(scope="module")
def jpegs(seed600_dir: Path, scratch: Path) -> dict[str, bytes]:
    """A real seed600 JPEG (350x223, 13 kB) as stored, and re-saved with an EXIF orientation."""
    source = seed600_dir / "Live" / "1.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate on display
    exif[0x010F] = "fuzz"  # Make: a second entry in the EXIF block
    with Image.open(source) as im:
        im.save(scratch / "tagged.jpg", quality=90, exif=exif)
    return {"plain": source.read_bytes(), "exif": (scratch / "tagged.jpg").read_bytes()}


@FUZZ
@given(
    base=st.sampled_from(["plain", "exif"]),
    edits=st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=8),
    keep=st.none() | st.integers(0, 4000),
)
def test_image_decoder_on_mutated_jpeg_headers(scratch, jpegs, base, edits, keep):
    data = bytearray(jpegs[base])
    for pos, value in edits:  # the first kB: markers, EXIF, quantisation and Huffman tables
        data[pos] = value
    path = scratch / "mutated.jpg"
    path.write_bytes(bytes(data if keep is None else data[:keep]))
    _check_decoded(path)
