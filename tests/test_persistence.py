"""Saving and loading fitted pipelines: identical scores, recorded versions, refusals."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from benchmarks.datasets import load_dataset
from classifiers.methods import build_method
from classifiers.persistence import (
    ModelFileError,
    library_versions,
    load_model,
    read_header,
    save_model,
)
from classifiers.svm import TunedSVM


def records_array(records) -> np.ndarray:
    X = np.empty(len(records), dtype=object)
    X[:] = records
    return X


@pytest.fixture(scope="module")
def fitted_tuned() -> tuple[TunedSVM, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.dirichlet(np.ones(12), 30), rng.dirichlet(np.arange(1, 13), 30)])
    y = np.repeat([0, 1], 30)
    return TunedSVM(None, kernels=("rbf", "chi2"), C=(1.0, 10.0), gamma=(1.0,)).fit(X, y), X


def test_round_trip_gives_identical_scores_threshold_and_params(tmp_path, fitted_tuned):
    model, X = fitted_tuned
    path = save_model(tmp_path / "m.joblib", model, 0.25, {"method": "toy", "C": [1.0, 10.0]})
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.estimator.decision_function(X), model.decision_function(X))
    assert loaded.threshold == 0.25
    assert loaded.params == {"method": "toy", "C": [1.0, 10.0]}
    assert loaded.versions == library_versions()
    assert {"python", "numpy", "scikit-learn", "scikit-image", "opencv"} <= set(loaded.versions)
    assert loaded.created
    assert [p.name for p in tmp_path.iterdir()] == ["m.joblib"]  # no temporary files left


def test_real_pipeline_round_trip(tmp_path, seed600_dir):
    records = load_dataset(seed600_dir).records
    train = records_array(records[:20] + records[-20:])
    test = records_array(records[100:105] + records[-105:-100])
    model = build_method("lbp-svm", C=(1.0,), gamma=(1.0,)).fit(train, [r.label for r in train])
    loaded = load_model(save_model(tmp_path / "lbp.joblib", model, -0.1, {"method": "lbp-svm"}))
    np.testing.assert_array_equal(
        loaded.estimator.decision_function(test), model.decision_function(test)
    )


def rewrite_header(path, **changes) -> None:
    header_line, body = path.read_bytes().split(b"\n", 1)
    header = json.loads(header_line)
    for key, value in changes.items():
        if key == "versions":
            header["versions"].update(value)
        else:
            header[key] = value
    path.write_bytes(json.dumps(header).encode() + b"\n" + body)


@pytest.mark.parametrize(("lib", "fake"), [("scikit-learn", "0.24.2"), ("numpy", "1.1.0")])
def test_incompatible_versions_are_refused_by_name(tmp_path, fitted_tuned, lib, fake):
    path = save_model(tmp_path / "m.joblib", fitted_tuned[0], 0.0)
    rewrite_header(path, versions={lib: fake})
    with pytest.raises(ModelFileError, match=rf"{lib} {fake} when saved"):
        load_model(path)


def test_patch_version_differences_are_accepted(tmp_path, fitted_tuned):
    path = save_model(tmp_path / "m.joblib", fitted_tuned[0], 0.0)
    installed = library_versions()["scikit-learn"].split(".")
    rewrite_header(path, versions={"scikit-learn": ".".join(installed[:2] + ["999"])})
    assert load_model(path).threshold == 0.0


class _Tripwire:
    """Unpickling this object writes a file: proof that the pickle was (not) loaded."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_version_check_happens_before_unpickling(tmp_path, fitted_tuned):
    path = save_model(tmp_path / "m.joblib", fitted_tuned[0], 0.0)
    tripwire = tmp_path / "unpickled"
    header_line = path.read_bytes().split(b"\n", 1)[0]
    path.write_bytes(header_line + b"\n" + pickle.dumps(_Tripwire(str(tripwire))))
    rewrite_header(path, versions={"numpy": "0.1.0"})
    with pytest.raises(ModelFileError, match="numpy"):
        load_model(path)
    assert not tripwire.exists()


def test_not_a_model_file(tmp_path):
    plain = tmp_path / "plain.joblib"
    plain.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ModelFileError, match="not a liveness-toolkit model"):
        load_model(plain)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.joblib")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}) + "\n")
    with pytest.raises(ModelFileError, match="format"):
        read_header(other)


def test_future_format_version_is_refused(tmp_path, fitted_tuned):
    path = save_model(tmp_path / "m.joblib", fitted_tuned[0], 0.0)
    rewrite_header(path, format_version=99)
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(path)


def test_params_must_be_json(tmp_path, fitted_tuned):
    with pytest.raises(ValueError, match="JSON"):
        save_model(tmp_path / "m.joblib", fitted_tuned[0], 0.0, {"bad": object()})
    assert not list(tmp_path.iterdir())
