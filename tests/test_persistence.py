"""Saving and loading fitted methods: identical scores, no pickle, an allow-list, refusals."""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from benchmarks.datasets import load_dataset
from benchmarks.splits import group_ids
from classifiers.fitting import fit_method
from classifiers.persistence import (
    ModelFileError,
    allowed_type,
    library_versions,
    load_fitted,
    load_model,
    read_header,
    save_fitted,
    save_model,
)
from classifiers.registry import build_method
from classifiers.svm import TunedClassifier


def records_array(records) -> np.ndarray:
    X = np.empty(len(records), dtype=object)
    X[:] = records
    return X


@pytest.fixture(scope="module")
def fitted_tuned() -> tuple[TunedClassifier, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.dirichlet(np.ones(12), 30), rng.dirichlet(np.arange(1, 13), 30)])
    y = np.repeat([0, 1], 30)
    return TunedClassifier(kernels=("rbf", "chi2"), C=(1.0, 10.0), gamma=(1.0,)).fit(X, y), X


@pytest.fixture(scope="module")
def seed_records(seed600_dir):
    records = load_dataset(seed600_dir).records
    return {
        "train": records_array(records[:10] + records[-10:]),
        "dev": records_array(records[40:45] + records[-45:-40]),
        "test": records_array(records[100:105] + records[-105:-100]),
    }


def labels(X) -> np.ndarray:
    return np.array([r.label for r in X])


def test_round_trip_gives_identical_scores_threshold_and_params(tmp_path, fitted_tuned):
    model, X = fitted_tuned
    path = save_model(tmp_path / "m.skops", model, 0.25, {"method": "toy", "C": [1.0, 10.0]})
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.estimator.decision_function(X), model.decision_function(X))
    assert loaded.threshold == 0.25
    assert loaded.params == {"method": "toy", "C": [1.0, 10.0]}
    assert loaded.versions == library_versions()
    assert {"python", "numpy", "scikit-learn", "skops", "opencv"} <= set(loaded.versions)
    assert loaded.created
    assert [p.name for p in tmp_path.iterdir()] == ["m.skops"]  # no temporary files left
    body = path.read_bytes().split(b"\n", 1)[1]
    assert zipfile.is_zipfile(io.BytesIO(body))  # a skops archive, not a pickle


@pytest.mark.parametrize("method", ["lbp-lr", "metadata-audit"])
def test_real_pipelines_round_trip_through_their_folder(tmp_path, seed_records, method):
    train, test = seed_records["train"], seed_records["test"]
    params = {"clf__C": (1.0,), "clf__inner_splits": 2} if method == "lbp-lr" else {}
    model = fit_method(build_method(method, {method: params}), train, labels(train))
    path = save_fitted(tmp_path / method, model, -0.1, {"method": method})
    assert path.name == "model.skops"
    loaded = load_fitted(tmp_path / method)
    np.testing.assert_array_equal(
        loaded.estimator.decision_function(test), model.decision_function(test)
    )
    assert loaded.threshold == -0.1


def test_a_gram_kernel_svm_round_trips(tmp_path):
    """Long vectors end in a GramRBFSVC: an allowed type, and the same scores after loading."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.dirichlet(np.ones(2048), 20), rng.dirichlet(np.arange(1, 2049), 20)])
    model = TunedClassifier(C=(1.0, 10.0), gamma=(1.0,)).fit(X, np.repeat([0, 1], 20))
    assert type(model.classifier_[-1]).__name__ == "GramRBFSVC"
    save_fitted(tmp_path / "m", model, 0.0, {"method": "coalbp-svm"})
    loaded = load_fitted(tmp_path / "m")
    np.testing.assert_array_equal(loaded.estimator.decision_function(X), model.decision_function(X))


@pytest.mark.parametrize("hybrid", ["fusion-zmean", "deep-features-svm"])
def test_hybrids_holding_a_cnn_round_trip_without_pickle(tmp_path, seed_records, hybrid):
    """ScoreFusion and DeepFeatureSVM: the fitted CNN goes beside the archive as .keras."""
    train, dev, test = seed_records["train"], seed_records["dev"], seed_records["test"]
    params = {  # the same CNN fit serves both hybrids (the fit cache)
        "colour-lbp-svm": {"clf__C": (1.0,), "clf__gamma": (1.0,), "clf__inner_splits": 2},
        "livenessnet": {"clf__epochs": 1, "clf__augment": False},
    }
    est = build_method(hybrid, params, {"crop__size": 32})
    fit_method(est, train, labels(train), groups=group_ids(train), dev=(dev, labels(dev)))
    save_fitted(tmp_path, est, 0.5, {"method": hybrid})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.cnn0.json",
        "model.cnn0.keras",
        "model.skops",
    ]
    loaded = load_fitted(tmp_path)
    np.testing.assert_allclose(
        loaded.estimator.decision_function(test), est.decision_function(test), rtol=1e-6
    )
    assert loaded.threshold == 0.5
    members = [
        dict(m["fusion"].estimators_)["livenessnet"]["clf"]
        if hybrid == "fusion-zmean"
        else m["clf"].cnn_
        for m in (loaded.estimator, est)
    ]
    assert [type(m).__name__ for m in members] == ["CNNClassifier", "CNNClassifier"]
    assert members[0].model_ is not members[1].model_  # loaded from the file, not shared


def test_a_per_source_ensemble_of_cnns_round_trips(tmp_path, seed_records):
    """Each source's fitted CNN goes beside the archive; the loaded ensemble scores the same."""
    train, dev, test = (
        records_array([replace(r, extra={"dataset": "ab"[i % 2]}) for i, r in enumerate(part)])
        for part in (seed_records["train"], seed_records["dev"], seed_records["test"])
    )
    params = {"livenessnet": {"clf__epochs": 1, "clf__augment": False}}
    est = build_method("per-source:livenessnet", params, {"crop__size": 32})
    fit_method(est, train, labels(train), groups=group_ids(train), dev=(dev, labels(dev)))
    save_fitted(tmp_path, est, 0.0, {"method": "per-source:livenessnet"})
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".keras") == [
        "model.cnn0.keras",
        "model.cnn1.keras",
    ]
    loaded = load_fitted(tmp_path)
    np.testing.assert_allclose(
        loaded.estimator.decision_function(test), est.decision_function(test), rtol=1e-6
    )
    assert [name for name, _ in loaded.estimator["sources"].estimators_] == ["a", "b"]


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
    path = save_model(tmp_path / "m.skops", fitted_tuned[0], 0.0)
    rewrite_header(path, versions={lib: fake})
    with pytest.raises(ModelFileError, match=rf"{lib} {fake} when saved"):
        load_model(path)


def test_patch_version_differences_are_accepted(tmp_path, fitted_tuned):
    path = save_model(tmp_path / "m.skops", fitted_tuned[0], 0.0)
    installed = library_versions()["scikit-learn"].split(".")
    rewrite_header(path, versions={"scikit-learn": ".".join(installed[:2] + ["999"])})
    assert load_model(path).threshold == 0.0


class _Tripwire:
    """Unpickling this object writes a file: proof that the pickle was (not) loaded."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("format_version", [1, 2])
def test_a_pickle_behind_a_real_header_is_never_loaded(tmp_path, fitted_tuned, format_version):
    path = save_model(tmp_path / "m.skops", fitted_tuned[0], 0.0)
    tripwire = tmp_path / "unpickled"
    header_line = path.read_bytes().split(b"\n", 1)[0]
    path.write_bytes(header_line + b"\n" + pickle.dumps(_Tripwire(str(tripwire))))
    rewrite_header(path, format_version=format_version)
    with pytest.raises(ModelFileError, match=rf"^bad model file: {path}: "):
        load_model(path)
    assert not tripwire.exists()


def test_an_old_pickle_model_folder_is_refused_with_how_to_recreate_it(tmp_path):
    tripwire = tmp_path / "unpickled"
    (tmp_path / "model.joblib").write_bytes(pickle.dumps(_Tripwire(str(tripwire))))
    with pytest.raises(ModelFileError, match=r"no longer read.*--save-models"):
        load_fitted(tmp_path)
    assert not tripwire.exists()


class Snoop(TransformerMixin, BaseEstimator):
    """A transformer from outside the toolkit: it must not be built from a model file."""

    built: list[str] = []

    def fit(self, X, y=None):
        self.seen_ = 1
        return self

    def transform(self, X):
        return X

    def __setstate__(self, state):
        Snoop.built.append("setstate")
        self.__dict__.update(state)


def test_types_outside_the_allow_list_are_refused_by_name(tmp_path):
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    pipe = Pipeline([("snoop", Snoop()), ("lr", LogisticRegression())]).fit(X, y)
    path = save_model(tmp_path / "m.skops", pipe, 0.0)
    name = f"{Snoop.__module__}.Snoop"
    with pytest.raises(ModelFileError, match=rf"not on the allow-list: {name}$"):
        load_model(path)
    assert Snoop.built == []


def test_an_archive_edited_to_call_os_system_is_refused_by_name(tmp_path):
    X, y = np.arange(1.0, 21.0).reshape(10, 2), np.arange(10) % 2
    pipe = Pipeline([("sqrt", FunctionTransformer(np.sqrt)), ("lr", LogisticRegression())])
    path = save_model(tmp_path / "m.skops", pipe.fit(X, y), 0.0)
    assert load_model(path).threshold == 0.0  # numpy.sqrt is a trusted function
    line, body = path.read_bytes().split(b"\n", 1)
    original = zipfile.ZipFile(io.BytesIO(body))
    schema = original.read("schema.json").decode()
    edited = re.sub(
        r'"__class__": "sqrt",(\s*)"__module__": "numpy"',
        r'"__class__": "system",\1"__module__": "os"',
        schema,
    )
    assert edited != schema
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for name in original.namelist():
            z.writestr(name, edited if name == "schema.json" else original.read(name))
    path.write_bytes(line + b"\n" + archive.getvalue())
    with pytest.raises(ModelFileError, match=r"not on the allow-list: os\.system$"):
        load_model(path)


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("classifiers.svm.TunedClassifier", True),
        ("classifiers.svm.Chi2Kernel", True),  # a plain helper class on the list
        ("features.faces.FaceCropper", True),
        ("features.lbp.LBPHistogram", True),
        ("classifiers.svm.SVC", False),  # imported into the module, not defined there
        ("classifiers.svm.group_ids", False),  # a function
        ("features.records.Presentation", False),  # a toolkit class, neither estimator nor helper
        ("classifiers.persistence.ModelFileError", False),
        ("classifiers.nowhere.Thing", False),
        ("builtins.eval", False),
        ("os.system", False),
        ("benchmarks.run.Experiment", False),
    ],
)
def test_allow_list(name, allowed):
    assert allowed_type(name) is allowed


def test_an_unfitted_or_scoreless_estimator_is_refused(tmp_path):
    path = save_model(tmp_path / "m.skops", LogisticRegression(), 0.0)
    with pytest.raises(ModelFileError, match="unfitted LogisticRegression"):
        load_model(path)
    path = save_model(tmp_path / "n.skops", build_method("lbp-lr")[:-1], 0.0)
    with pytest.raises(ModelFileError, match="gives no attack scores"):
        load_model(path)


def test_not_a_model_file(tmp_path):
    plain = tmp_path / "plain.skops"
    plain.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ModelFileError, match="not a liveness-toolkit model"):
        load_model(plain)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.skops")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}) + "\n")
    with pytest.raises(ModelFileError, match="format"):
        read_header(other)


def test_future_format_version_is_refused(tmp_path, fitted_tuned):
    path = save_model(tmp_path / "m.skops", fitted_tuned[0], 0.0)
    rewrite_header(path, format_version=99)
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(path)


def test_params_must_be_json_and_the_threshold_finite(tmp_path, fitted_tuned):
    with pytest.raises(ValueError, match="JSON"):
        save_model(tmp_path / "m.skops", fitted_tuned[0], 0.0, {"bad": object()})
    with pytest.raises(ValueError, match="finite"):
        save_model(tmp_path / "m.skops", fitted_tuned[0], float("nan"))
    assert not list(tmp_path.iterdir())
