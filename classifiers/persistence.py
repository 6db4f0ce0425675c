"""Save and load a fitted pipeline with its decision threshold, parameters and library versions.

WARNING: a model file is a pickle, and loading a pickle can run arbitrary code. Only load model
files you created yourself or received from a source you trust; never load one from the internet
or from another user's folder. The version check below protects against silent breakage when
libraries change, NOT against malicious files.

File format: one JSON header line (format name and version, threshold, parameters, library
versions, creation time), then the joblib pickle of the estimator. `load_model` reads and checks
the header BEFORE unpickling anything, and refuses a file whose recorded scikit-learn or NumPy
major.minor version differs from the installed one (pickled estimators are not portable across
those). Writes are atomic (temporary file in the same folder, then `os.replace`).
"""

from __future__ import annotations

import json
import platform
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

from features.files import atomic_open

FORMAT = "liveness-toolkit-model"
FORMAT_VERSION = 1
CHECKED_LIBRARIES = ("scikit-learn", "numpy")


class ModelFileError(ValueError):
    """A model file that is missing, malformed, or was saved with incompatible libraries."""


@dataclass(frozen=True)
class SavedModel:
    """A loaded model: the fitted estimator, its attack-score threshold and its provenance."""

    estimator: Any
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""


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
    }
    if "tensorflow" in sys.modules:  # recorded only when a pipeline may hold a Keras model
        versions["tensorflow"] = sys.modules["tensorflow"].__version__
    return versions


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def save_model(
    path: Path | str, estimator: Any, threshold: float, params: dict[str, Any] | None = None
) -> Path:
    """Write a fitted estimator, its threshold and `params` (JSON-serialisable) to `path`."""
    path = Path(path)
    threshold = float(threshold)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "threshold": threshold,
        "params": params or {},
        "versions": library_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        line = json.dumps(header, sort_keys=True)
    except TypeError as e:
        raise ValueError(f"model params must be JSON-serialisable: {e}") from None
    with atomic_open(path) as f:
        f.write(line.encode() + b"\n")
        joblib.dump(estimator, f)
    return path


def read_header(path: Path | str) -> dict[str, Any]:
    """The JSON header of a model file, without unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    with open(path, "rb") as f:
        line = f.readline(1 << 20)
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(
            f"{path}: not a liveness-toolkit model file (no JSON header)"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not a liveness-toolkit model file (format is not {FORMAT!r})"
        )
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format version {header.get('format_version')!r} is not "
            f"supported (this toolkit reads version {FORMAT_VERSION})"
        )
    return header


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
            f"{path}: refusing to load a model saved with incompatible libraries ("
            + "; ".join(problems)
            + "); retrain it, or install the recorded versions"
        )


def load_model(path: Path | str) -> SavedModel:
    """Load a model saved by `save_model`. Only load files you trust: a pickle can run code."""
    path = Path(path)
    header = read_header(path)
    check_versions(path, header.get("versions", {}))
    with open(path, "rb") as f:
        f.readline(1 << 20)
        estimator = joblib.load(f)
    return SavedModel(
        estimator=estimator,
        threshold=float(header["threshold"]),
        params=header.get("params", {}),
        versions=header.get("versions", {}),
        created=header.get("created", ""),
    )


MODEL_FILE = "model.joblib"
KERAS_FILE = "model.keras"


def save_fitted(
    folder: Path | str, estimator: Any, threshold: float, params: dict[str, Any]
) -> Path:
    """Save any fitted method into `folder`; return the file to pass to `load_fitted`.

    A CNN (an estimator with its own `save`/`load`) is stored in Keras' native format with its
    threshold; everything else, hybrids holding a CNN included, as a `save_model` file.
    """
    folder = Path(folder)
    if hasattr(estimator, "save") and hasattr(type(estimator), "load"):
        estimator.threshold_ = float(threshold)
        estimator.save(folder / KERAS_FILE)
        return folder / KERAS_FILE
    return save_model(folder / MODEL_FILE, estimator, threshold, params)


def load_fitted(path: Path | str) -> SavedModel:
    """Load what `save_fitted` wrote: the folder, its `model.keras` or its `model.joblib`."""
    path = Path(path)
    if path.is_dir():
        path = path / KERAS_FILE if (path / KERAS_FILE).is_file() else path / MODEL_FILE
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.suffix == ".keras":
        from classifiers.cnn.estimator import CNNClassifier

        try:
            est = CNNClassifier.load(path)
        except Exception as e:  # Keras raises many types for a damaged or foreign file
            raise ModelFileError(f"{path}: cannot load the Keras model: {e}") from None
        return SavedModel(est, float(est.threshold_), est.get_params())
    return load_model(path)
