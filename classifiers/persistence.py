"""Save and load a fitted method with its decision threshold, parameters and library versions.

No pickle is ever loaded. A model folder (what `save_fitted` writes) holds `model.skops`: one
JSON header line (format name and version, threshold, parameters, library versions, creation
time), then a `skops.io` archive of the method's fitted pipeline. Each fitted CNN inside it (a
CNN method's last step, a hybrid's member) is saved beside it in Keras' native format as
`model.cnn<i>.keras` (+ .json), loaded in Keras safe mode, and replaced in the archive by a
`CNNReference` to that file.

`load_model` checks the header (a finite threshold, field types, scikit-learn and NumPy
major.minor versions) and then the archive's types BEFORE building anything: every type that
skops does not trust by default must be a class defined in the toolkit's `features.` or
`classifiers.` packages that is a scikit-learn estimator or one of `HELPER_TYPES`; any other
type is refused by name. Model files of format version 1 (joblib pickles) are refused with a
message saying how to re-create them. Every problem raises `ModelFileError`
("bad model file: <path>: <what>"). Writes are atomic (temporary file, then `os.replace`).
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import platform
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import joblib
import numpy as np
import scipy
import skimage
import sklearn
import skops
import skops.io
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from features.files import atomic_open

FORMAT = "liveness-toolkit-model"
FORMAT_VERSION = 2  # 1 was a joblib pickle: refused, never loaded
CHECKED_LIBRARIES = ("scikit-learn", "numpy")
MODEL_FILE = "model.skops"
LEGACY_FILE = "model.joblib"
TOOLKIT_PACKAGES = ("features.", "classifiers.")
# Plain (non-estimator) toolkit classes a saved pipeline may hold.
HELPER_TYPES = ("classifiers.svm.Chi2Kernel", "classifiers.persistence.CNNReference")
CNN_MODULE = "classifiers.cnn.estimator"
_CNN_FILE = re.compile(r"[A-Za-z0-9_-]+\.cnn[0-9]+\.keras")
_RECREATE = "re-create it with `python -m benchmarks.run --save-models`"


class ModelFileError(ValueError):
    """A model file that is missing, damaged, refused, or saved with incompatible libraries."""

    def __init__(self, path: Path | str, what: str) -> None:
        super().__init__(f"bad model file: {path}: {what}")
        self.path = Path(path)


@dataclass(frozen=True)
class SavedModel:
    """A loaded model: the fitted estimator, its attack-score threshold and its provenance."""

    estimator: Any
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""


@dataclass
class CNNReference:
    """Stands for a fitted CNN of a hybrid in its skops archive: the CNN's `.keras` file name."""

    file: str


def library_versions() -> dict[str, str]:
    """Installed versions of python and the libraries a fitted pipeline depends on."""
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-image": skimage.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
        "joblib": joblib.__version__,
        "skops": skops.__version__,
    }
    if "tensorflow" in sys.modules:  # recorded only when a pipeline may hold a Keras model
        versions["tensorflow"] = sys.modules["tensorflow"].__version__
    return versions


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def finite_threshold(path: Path | str, value: Any) -> float:
    """`value` as a float; ModelFileError unless it is a finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelFileError(path, f"threshold must be a finite number, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- allow-list
def allowed_type(name: str) -> bool:
    """Is `name` ("module.Class") a toolkit estimator or helper class, defined in that module?

    The module must be under `features.` or `classifiers.`; importing it is how the class is
    found, so nothing outside the toolkit is imported to answer.
    """
    module, _, qualname = name.rpartition(".")
    if not module.startswith(TOOLKIT_PACKAGES) or not qualname.isidentifier():
        return False
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        return False
    if not isinstance(cls, type) or f"{cls.__module__}.{cls.__qualname__}" != name:
        return False  # not a class, or one imported into that module from elsewhere
    return issubclass(cls, BaseEstimator) or name in HELPER_TYPES


def _trusted_types(path: Path, data: bytes) -> list[str]:
    """The archive's types that skops does not trust by default, all of them allowed."""
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as e:  # zipfile, json and schema errors: the archive is damaged
        raise ModelFileError(
            path, f"not a readable skops archive (damaged or truncated?): {e}"
        ) from None
    refused = [t for t in untrusted if not allowed_type(t)]
    if refused:
        raise ModelFileError(
            path, "refusing to load type(s) not on the allow-list: " + ", ".join(refused)
        )
    return untrusted


# --------------------------------------------------------------------------- CNN members
def _replace(obj: Any, match: type, fn: Any) -> Any:
    """`obj` with every `match` instance inside it replaced by `fn(instance)`.

    Walks estimators' attributes, lists, tuples and dicts; copies (shallowly) only what
    holds a replacement, so the object given is never changed.
    """
    if isinstance(obj, match):
        return fn(obj)
    if isinstance(obj, list | tuple):
        new = [_replace(o, match, fn) for o in obj]
        changed = any(a is not b for a, b in zip(new, obj, strict=True))
        return type(obj)(new) if changed else obj
    if isinstance(obj, dict):
        new_d = {k: _replace(v, match, fn) for k, v in obj.items()}
        return new_d if any(new_d[k] is not obj[k] for k in obj) else obj
    if isinstance(obj, BaseEstimator):
        changed = {k: new for k, v in vars(obj).items() if (new := _replace(v, match, fn)) is not v}
        if changed:
            obj = copy.copy(obj)
            vars(obj).update(changed)
    return obj


def _cnn_class() -> type | None:
    """CNNClassifier if its module (hence TensorFlow) is already imported: else no CNN exists."""
    module = sys.modules.get(CNN_MODULE)
    return None if module is None else module.CNNClassifier


def _load_cnn(path: Path) -> Any:
    from classifiers.cnn.estimator import CNNClassifier

    try:
        return CNNClassifier.load(path)
    except Exception as e:  # Keras raises many types for a damaged or foreign file
        raise ModelFileError(path, f"cannot load the Keras model: {e}") from None


# --------------------------------------------------------------------------- skops files
def save_model(
    path: Path | str, estimator: Any, threshold: float, params: dict[str, Any] | None = None
) -> Path:
    """Write a fitted estimator, its threshold and `params` (JSON-serialisable) to `path`.

    Fitted CNNs inside it go to `<stem>.cnn<i>.keras` (+ .json) beside `path`.
    """
    path = Path(path)
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"{path}: the threshold must be finite, got {threshold}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "threshold": threshold,
        "params": params or {},
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        line = json.dumps(header, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model params must be JSON-serialisable: {e}") from None
    cnn_class = _cnn_class()
    if cnn_class is not None:
        cnns: list[Any] = []

        def reference(cnn: Any) -> Any:
            if not hasattr(cnn, "model_"):
                return cnn  # an unfitted template (a hybrid's parameter) is plain parameters
            ref = CNNReference(f"{path.stem}.cnn{len(cnns)}.keras")
            cnn.save(path.parent / ref.file)
            cnns.append(cnn)
            return ref

        estimator = _replace(estimator, cnn_class, reference)
    data = skops.io.dumps(estimator)
    with atomic_open(path) as f:
        f.write(line.encode() + b"\n" + data)
    return path


def _check_header(path: Path, header: Any) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(path, f"not a liveness-toolkit model file (format is not {FORMAT!r})")
    version = header.get("format_version")
    if version == 1:
        raise ModelFileError(
            path,
            "a model file of format version 1 is a pickle, which can run code when loaded and "
            f"is no longer read; {_RECREATE}",
        )
    if version != FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"format version {version!r} is not supported (this toolkit reads version "
            f"{FORMAT_VERSION})",
        )
    if "threshold" not in header:
        raise ModelFileError(path, "the header has no threshold")
    finite_threshold(path, header["threshold"])
    for key, kind in (("params", dict), ("versions", dict), ("created", str)):
        if not isinstance(header.get(key), kind):
            raise ModelFileError(
                path, f"header field {key!r} must be a {kind.__name__}, got {header.get(key)!r}"
            )
    if not all(isinstance(v, str) for v in header["versions"].values()):
        raise ModelFileError(path, "header field 'versions' must map names to version strings")
    return header


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    """The checked header and the archive bytes of a model file."""
    if not path.is_file():
        raise ModelFileError(path, "model file not found")
    raw = path.read_bytes()
    line, newline, body = raw.partition(b"\n")
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(path, "not a liveness-toolkit model file (no JSON header)") from None
    header = _check_header(path, header)
    if not newline or not body:
        raise ModelFileError(path, "header only: the model itself is missing (truncated?)")
    return header, body


def read_header(path: Path | str) -> dict[str, Any]:
    """The checked JSON header of a model file, without loading the model."""
    return _split(Path(path))[0]


def check_versions(path: Path | str, recorded: dict[str, str]) -> None:
    """Raise ModelFileError if a checked library's major.minor differs from the installed one."""
    installed = library_versions()
    problems = []
    for lib in CHECKED_LIBRARIES:
        saved, now = recorded.get(lib), installed.get(lib)
        if saved is None or now is None or _major_minor(saved) != _major_minor(now):
            problems.append(
                f"{lib} {saved or 'unrecorded'} when saved, {now or 'absent'} installed"
            )
    if problems:
        raise ModelFileError(
            path,
            "refusing to load a model saved with incompatible libraries ("
            + "; ".join(problems)
            + "); retrain it, or install the recorded versions",
        )


def load_model(path: Path | str) -> SavedModel:
    """Load a model saved by `save_model`: header and allow-list are checked before loading."""
    path = Path(path)
    header, data = _split(path)
    check_versions(path, header["versions"])
    trusted = _trusted_types(path, data)
    try:
        estimator = skops.io.loads(data, trusted=trusted)
    except Exception as e:  # a damaged member of a well-formed archive: many types
        raise ModelFileError(path, f"cannot load the skops archive: {e}") from None

    def load_reference(ref: CNNReference) -> Any:
        if not isinstance(ref.file, str) or not _CNN_FILE.fullmatch(ref.file):
            raise ModelFileError(path, f"bad CNN reference {ref.file!r}")
        return _load_cnn(path.parent / ref.file)

    estimator = _replace(estimator, CNNReference, load_reference)
    if not callable(getattr(estimator, "decision_function", None)):
        raise ModelFileError(
            path, f"holds a {type(estimator).__name__}, which gives no attack scores"
        )
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ModelFileError(path, f"holds an unfitted {type(estimator).__name__}") from None
    return SavedModel(
        estimator=estimator,
        threshold=float(header["threshold"]),
        params=header["params"],
        versions=header["versions"],
        created=header["created"],
    )


# --------------------------------------------------------------------------- model folders
def save_fitted(
    folder: Path | str, estimator: Any, threshold: float, params: dict[str, Any]
) -> Path:
    """Save a fitted method into `folder` (see the module docstring); return its `model.skops`."""
    return save_model(Path(folder) / MODEL_FILE, estimator, threshold, params)


def load_fitted(path: Path | str) -> SavedModel:
    """Load what `save_fitted` wrote: the folder or its `model.skops`."""
    path = Path(path)
    if path.is_dir():
        found = [path / f for f in (MODEL_FILE, LEGACY_FILE) if (path / f).is_file()]
        path = found[0] if found else path / MODEL_FILE
    if path.name == LEGACY_FILE or path.suffix == ".joblib":
        raise ModelFileError(
            path, f"joblib pickles can run code when loaded and are no longer read; {_RECREATE}"
        )
    if not path.is_file():
        raise ModelFileError(path, "no such model file")
    return load_model(path)
