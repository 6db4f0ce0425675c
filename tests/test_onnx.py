"""Bring-your-own ONNX models: `ONNXClassifier` on real crops, its spec checks, and the CNN export.

The ONNX models are built here with onnx.helper (channel means -> a linear layer), so the
expected scores are a NumPy computation of the same preprocessing; nothing is downloaded.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from sklearn.base import clone

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from benchmarks.datasets import load_dataset  # noqa: E402
from benchmarks.harness import evaluate_method  # noqa: E402
from benchmarks.splits import make_folds  # noqa: E402
from classifiers.onnx_model import ONNXClassifier  # noqa: E402
from features.faces import FaceCropper  # noqa: E402

# Per-channel weights that differ across channels, so channel order and mean/std matter.
W = np.array([[0.9, -1.3, 0.4], [-0.7, 1.1, 0.2], [0.3, 0.5, -1.6]], dtype=np.float32)
B = np.array([0.05, -0.1, 0.2], dtype=np.float32)


def tiny_model(path, layout="NCHW", hw=(48, 48), n_out=2, batch="N", softmax_out=False):
    """An ONNX model: mean of each channel over the image, then a (3 -> n_out) linear layer."""
    h, w = hw
    shape = [batch, 3, h, w] if layout == "NCHW" else [batch, h, w, 3]
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=axes, keepdims=0),
        helper.make_node("MatMul", ["means", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits" if not softmax_out else "z"]),
    ]
    if softmax_out:
        nodes.append(helper.make_node("Softmax", ["z"], ["logits"], axis=1))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, n_out])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [3, n_out], W[:, :n_out].ravel()),
            helper.make_tensor("B", TensorProto.FLOAT, [n_out], B[:n_out]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def records(seed_subset_dir):
    recs = load_dataset(seed_subset_dir).records
    return np.array(recs[:4] + recs[-4:], dtype=object)  # 4 bona fide, 4 attacks


def reference_outputs(records, hw, channel_order, scale, mean, std, crop_scale, n_out, soft):
    """The tiny model's outputs computed in NumPy from the toolkit's face crops."""
    h, w = hw
    crops = FaceCropper(size=max(hw), scale=crop_scale).transform(records)
    if h != w:
        import cv2

        crops = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in crops])
    x = crops.astype(np.float64)
    if channel_order == "BGR":
        x = x[..., ::-1]
    x = (x * scale - np.asarray(mean)) / np.asarray(std)
    z = x.mean(axis=(1, 2)) @ W[:, :n_out].astype(np.float64) + B[:n_out]
    return softmax(z, axis=1) if soft else z


CASES = {
    # name: (model kwargs, classifier kwargs, expected score from the reference outputs)
    "nchw-2-logits-attack": (
        dict(layout="NCHW", hw=(48, 48), n_out=2),
        dict(layout="NCHW", attack_index=1),
        lambda z: z[:, 1] - z[:, 0],
    ),
    "nhwc-bgr-imagenet-bonafide": (
        dict(layout="NHWC", hw=(48, 48), n_out=2),
        dict(
            layout="NHWC",
            channel_order="BGR",
            mean=[0.406, 0.456, 0.485],
            std=[0.225, 0.224, 0.229],
            bonafide_index=0,
        ),
        lambda z: z[:, 1] - z[:, 0],
    ),
    "3-class-miniFASNet-style-fixed-batch": (
        dict(layout="NCHW", hw=(40, 56), n_out=3, batch=1),
        dict(layout="NCHW", input_size=(40, 56), scale=1.0, crop_scale=2.7, bonafide_index=1),
        lambda z: logsumexp(z[:, [0, 2]], axis=1) - z[:, 1],
    ),
    "1-logit-attack": (
        dict(layout="NHWC", hw=(32, 32), n_out=1),
        dict(layout="NHWC", input_size=32, attack_index=0),
        lambda z: z[:, 0],
    ),
    "softmax-probabilities": (
        dict(layout="NCHW", hw=(48, 48), n_out=3, softmax_out=True),
        dict(layout="NCHW", output="probabilities", bonafide_index=1),
        lambda p: 1.0 - p[:, 1],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_scores_match_numpy_preprocessing_on_real_crops(case, records, tmp_path):
    model_kw, clf_kw, expected = CASES[case]
    path = tiny_model(tmp_path / "m.onnx", **model_kw)
    clf = ONNXClassifier(model_path=path, **clf_kw).fit()
    assert clf.input_hw_ == model_kw["hw"] and clf.n_outputs_ == model_kw["n_out"]
    params = clf.get_params()
    ref = reference_outputs(
        records,
        model_kw["hw"],
        params["channel_order"],
        params["scale"],
        params["mean"],
        params["std"],
        params["crop_scale"],
        model_kw["n_out"],
        model_kw.get("softmax_out", False),
    )
    scores = clf.decision_function(records)
    assert scores.shape == (len(records),) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, expected(ref), rtol=1e-4, atol=1e-5)
    assert np.ptp(scores) > 0  # real crops differ, so the check is not on a constant
    proba = clf.predict_proba(records)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(records), (proba[:, 1] >= 0.5).astype(int))


def test_channel_order_and_layout_change_the_scores(records, tmp_path):
    path = tiny_model(tmp_path / "m.onnx")
    rgb = ONNXClassifier(model_path=path, attack_index=1).fit().decision_function(records)
    bgr = ONNXClassifier(model_path=path, attack_index=1, channel_order="BGR").fit()
    assert not np.allclose(rgb, bgr.decision_function(records))


def test_input_size_is_read_from_a_static_model(tmp_path):
    path = tiny_model(tmp_path / "m.onnx", hw=(40, 56))
    assert ONNXClassifier(model_path=path, attack_index=1).fit().input_hw_ == (40, 56)


def test_runs_in_the_harness_with_a_dev_threshold(seed_subset_dir, tmp_path):
    recs = load_dataset(seed_subset_dir).records
    clf = ONNXClassifier(model_path=tiny_model(tmp_path / "m.onnx"), attack_index=1)
    result = evaluate_method(
        clf, recs, make_folds(recs, k=2), "onnx-tiny", "onnx", progress=False, n_boot=20
    )
    table = result.scores
    assert (table.split == "test").sum() == len(recs)  # each record in one fold's test part
    direct = clone(clf).fit().decision_function(np.array(recs, dtype=object))
    by_id = dict(zip((r.id for r in recs), direct, strict=True))
    np.testing.assert_allclose(table.score, [by_id[i] for i in table.sample_id])
    assert all(np.isfinite(f["threshold"]) for f in result.metrics["folds"])


def test_pickle_drops_the_session_and_scores_the_same(records, tmp_path):
    path = tiny_model(tmp_path / "m.onnx")
    clf = ONNXClassifier(model_path=path, attack_index=1).fit()
    before = clf.decision_function(records)
    copy = pickle.loads(pickle.dumps(clf))
    assert "_ort_session" not in copy.__dict__
    np.testing.assert_array_equal(copy.decision_function(records), before)
    assert clone(clf).get_params() == clf.get_params()
    tiny_model(path, n_out=3)  # the file is replaced after fitting
    with pytest.raises(ValueError, match="changed since fit"):
        pickle.loads(pickle.dumps(clf)).decision_function(records)


BAD_SPECS = {
    # name: (classifier kwargs, message pattern naming the key)
    "missing file": (dict(model_path="nowhere/model.onnx"), r"model_path .*nowhere/model\.onnx"),
    "input size": (
        dict(input_size=32),
        r"input_size=32 .*\[N, 3, 32, 32\].*m\.onnx has shape \['N', 3, 48, 48\]",
    ),
    "layout": (dict(layout="NHWC"), r"layout='NHWC'.*m\.onnx"),
    "attack index": (dict(attack_index=2), r"attack_index=2 is out of range .*m\.onnx.*2 value"),
    "bonafide index": (
        dict(attack_index=None, bonafide_index=-1),
        r"bonafide_index=-1 is out of range",
    ),
    "both indices": (dict(bonafide_index=0), r"exactly one of attack_index"),
    "no index": (dict(attack_index=None), r"exactly one of attack_index"),
    "output": (dict(output="softmax"), r"output must be one of"),
    "channel order": (dict(channel_order="GBR"), r"channel_order must be one of"),
    "mean": (dict(mean=[0.5, 0.5]), r"mean must be one number or 3"),
    "std": (dict(std=[1, 0, 1]), r"std must not be 0"),
    "scale": (dict(scale=0), r"scale must be > 0"),
    "input name": (dict(input_name="pixels"), r"input_name 'pixels' .*\['image'\].*m\.onnx"),
    "output name": (dict(output_name="prob"), r"output_name 'prob' .*\['logits'\]"),
    "crop scale": (dict(crop_scale=9), r"crop_scale=9"),
    "detector": (dict(detector="mtcnn"), r"detector='mtcnn'"),
    "input size value": (dict(input_size=(48, 48, 3)), r"input_size must be an int or"),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_spec_is_a_clear_error_naming_the_key(case, tmp_path):
    kwargs, pattern = BAD_SPECS[case]
    path = tiny_model(tmp_path / "m.onnx")
    clf = ONNXClassifier(**{"model_path": path, "attack_index": 1, **kwargs})
    with pytest.raises(ValueError, match=pattern):
        clf.fit()
    assert not hasattr(clf, "model_sha256_")


def test_a_file_that_is_not_onnx_and_a_free_size_are_clear_errors(tmp_path):
    bad = tmp_path / "weights.onnx"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match=r"model_path .*weights\.onnx is not a loadable ONNX"):
        ONNXClassifier(model_path=str(bad), attack_index=0).fit()
    free = tiny_model(tmp_path / "free.onnx", hw=("H", "W"))
    with pytest.raises(ValueError, match=r"free height/width.*set input_size"):
        ONNXClassifier(model_path=free, attack_index=1).fit()
    assert ONNXClassifier(model_path=free, attack_index=1, input_size=24).fit().input_hw_ == (
        24,
        24,
    )


def test_unfitted_and_wrong_images_are_refused(tmp_path):
    clf = ONNXClassifier(model_path=tiny_model(tmp_path / "m.onnx"), attack_index=1)
    with pytest.raises(Exception, match="not fitted"):
        clf.decision_function(np.zeros((1, 48, 48, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 48, 48, 3\)"):
        clf.fit().decision_function(np.zeros((1, 32, 32, 3), np.uint8))


def test_without_onnxruntime_the_error_says_how_to_install(tmp_path, monkeypatch):
    path = tiny_model(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ImportError, match=r"pip install -e '\.\[onnx\]'"):
        ONNXClassifier(model_path=path, attack_index=1).fit()


def test_importing_the_module_loads_neither_onnxruntime_nor_tensorflow():
    code = (
        "import sys, classifiers.onnx_model, classifiers.export; "
        "print(sorted(m for m in ('onnxruntime', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- CNN export
@pytest.fixture(scope="module")
def small_cnn(seed_subset_dir):
    """A LivenessNet trained for one epoch on the 50 real subset images at 32x32."""
    from classifiers.cnn.estimator import CNNClassifier

    recs = np.array(load_dataset(seed_subset_dir).records, dtype=object)
    y = np.array([r.label for r in recs])
    cnn = CNNClassifier(input_size=32, augment=False, epochs=1, batch_size=16, reuse_fits=False)
    return cnn.fit(recs, y), recs


def test_exported_cnn_gives_the_keras_scores_on_real_crops(small_cnn, tmp_path):
    from classifiers.export import export_onnx

    cnn, recs = small_cnn
    spec = export_onnx(cnn, tmp_path / "out" / "cnn.onnx")
    on_disk = json.loads((tmp_path / "out" / "cnn.json").read_text())
    assert on_disk == spec and set(spec) == set(ONNXClassifier().get_params())
    assert spec["model_path"] == str((tmp_path / "out" / "cnn.onnx").resolve())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cnn.json", "cnn.onnx"]
    onnx_scores = ONNXClassifier(**on_disk).fit().decision_function(recs)
    keras_scores = cnn.decision_function(recs)
    assert np.ptp(keras_scores) > 0
    np.testing.assert_allclose(onnx_scores, keras_scores, rtol=0, atol=1e-4)


def test_export_refuses_what_is_not_a_fitted_cnn(tmp_path):
    from classifiers.cnn.estimator import CNNClassifier
    from classifiers.export import ExportError, export_onnx

    with pytest.raises(ExportError, match="only a toolkit CNN"):
        export_onnx(ONNXClassifier(), tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="not fitted"):
        export_onnx(CNNClassifier(), tmp_path / "m.onnx")


def test_export_cli_on_saved_models(small_cnn, tmp_path, capsys):
    from sklearn.dummy import DummyClassifier

    from classifiers.export import main
    from classifiers.persistence import save_fitted

    cnn, recs = small_cnn
    save_fitted(tmp_path / "models" / "livenessnet", cnn, 0.25, {"method": "livenessnet"})
    out = tmp_path / "livenessnet.onnx"
    assert main(["--model", str(tmp_path / "models" / "livenessnet"), "--out", str(out)]) == 0
    assert "threshold of the saved model: 0.25" in capsys.readouterr().out
    spec = json.loads(out.with_suffix(".json").read_text())
    np.testing.assert_allclose(
        ONNXClassifier(**spec).fit().decision_function(recs[:6]),
        cnn.decision_function(recs[:6]),
        atol=1e-4,
    )
    other = DummyClassifier().fit([[0], [1]], [0, 1])
    save_fitted(tmp_path / "models" / "lbp-svm", other, 0.0, {"method": "lbp-svm", "family": "svm"})
    bad = tmp_path / "other.onnx"
    assert main(["--model", str(tmp_path / "models" / "lbp-svm"), "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "model.joblib: method 'lbp-svm' (family 'svm') is not a CNN" in err
    assert not bad.exists()
    assert main(["--model", str(tmp_path / "nothing"), "--out", str(bad)]) == 2
    assert "no such model file" in capsys.readouterr().err


def test_export_without_tf2onnx_says_how_to_install(small_cnn, tmp_path, monkeypatch):
    from classifiers.export import export_onnx

    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[onnx\]'"):
        export_onnx(small_cnn[0], tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
