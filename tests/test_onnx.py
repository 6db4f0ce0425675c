"""Bring-your-own ONNX models: `ONNXClassifier` on real face crops, its spec checks, its pipeline,
`onnx:<name>` methods in `python -m benchmarks.run` (a config's `[onnx.<name>]` table; bad specs
refused before any work), and a toolkit CNN saved by `--save-models`, exported by
`python -m classifiers.export` and run back as `onnx:<name>` with the Keras scores.

The ONNX models are built here with onnx.helper (channel means -> a linear layer), so the
expected scores are a NumPy computation of the same preprocessing; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.special import logsumexp, softmax
from sklearn.base import clone

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from benchmarks.config import ConfigError, load_config  # noqa: E402
from benchmarks.datasets import load_dataset  # noqa: E402
from benchmarks.harness import evaluate_method  # noqa: E402
from benchmarks.metrics import choose_threshold  # noqa: E402
from benchmarks.run import main  # noqa: E402
from benchmarks.scores import read_scores  # noqa: E402
from benchmarks.splits import make_folds  # noqa: E402
from classifiers.export import main as export_main  # noqa: E402
from classifiers.fitting import fit_method  # noqa: E402
from classifiers.onnx_model import ONNXClassifier  # noqa: E402
from classifiers.persistence import load_fitted  # noqa: E402
from classifiers.registry import build_method, get_method  # noqa: E402
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


def crops_of(records, size, **crop):
    return np.asarray(FaceCropper(size=size, **crop).transform(records))


def reference_outputs(crops, hw, channel_order, scale, mean, std, n_out, soft):
    """The tiny model's outputs computed in NumPy from face crops."""
    h, w = hw
    if crops.shape[1:3] != (h, w):
        crops = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in crops])
    x = crops.astype(np.float64)
    if channel_order == "BGR":
        x = x[..., ::-1]
    x = (x * scale - np.asarray(mean)) / np.asarray(std)
    z = x.mean(axis=(1, 2)) @ W[:, :n_out].astype(np.float64) + B[:n_out]
    return softmax(z, axis=1) if soft else z


CASES = {
    # name: (model kwargs, classifier kwargs, crop side, expected score from the reference outputs)
    "nchw-2-logits-attack": (
        dict(layout="NCHW", hw=(48, 48), n_out=2),
        dict(layout="NCHW", attack_index=1),
        48,
        lambda z: z[:, 1] - z[:, 0],
    ),
    "nhwc-bgr-imagenet-bonafide-larger-crops": (
        dict(layout="NHWC", hw=(48, 48), n_out=2),
        dict(
            layout="NHWC",
            channel_order="BGR",
            mean=[0.406, 0.456, 0.485],
            std=[0.225, 0.224, 0.229],
            bonafide_index=0,
        ),
        64,
        lambda z: z[:, 1] - z[:, 0],
    ),
    "3-class-miniFASNet-style-fixed-batch": (
        dict(layout="NCHW", hw=(40, 56), n_out=3, batch=1),
        dict(layout="NCHW", input_size=(40, 56), scale=1.0, bonafide_index=1),
        56,
        lambda z: logsumexp(z[:, [0, 2]], axis=1) - z[:, 1],
    ),
    "1-logit-attack": (
        dict(layout="NHWC", hw=(32, 32), n_out=1),
        dict(layout="NHWC", input_size=32, attack_index=0),
        32,
        lambda z: z[:, 0],
    ),
    "softmax-probabilities": (
        dict(layout="NCHW", hw=(48, 48), n_out=3, softmax_out=True),
        dict(layout="NCHW", output="probabilities", bonafide_index=1),
        48,
        lambda p: 1.0 - p[:, 1],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_scores_match_numpy_preprocessing_on_real_crops(case, records, tmp_path):
    model_kw, clf_kw, side, expected = CASES[case]
    path = tiny_model(tmp_path / "m.onnx", **model_kw)
    clf = ONNXClassifier(model_path=path, **clf_kw).fit()
    assert clf.input_hw_ == model_kw["hw"] and clf.n_outputs_ == model_kw["n_out"]
    params = clf.get_params()
    crops = crops_of(records, side)
    ref = reference_outputs(
        crops,
        model_kw["hw"],
        params["channel_order"],
        params["scale"],
        params["mean"],
        params["std"],
        model_kw["n_out"],
        model_kw.get("softmax_out", False),
    )
    scores = clf.decision_function(crops)
    assert scores.shape == (len(records),) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, expected(ref), rtol=1e-4, atol=1e-5)
    lazy = FaceCropper(size=side).transform(records)  # the pipeline's input: read per batch
    np.testing.assert_array_equal(clf.decision_function(lazy), scores)
    assert np.ptp(scores) > 0  # real crops differ, so the check is not on a constant
    proba = clf.predict_proba(crops)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(crops), (proba[:, 1] >= 0.5).astype(int))


def test_channel_order_and_resizing_change_the_scores(records, tmp_path):
    path = tiny_model(tmp_path / "m.onnx")
    crops = crops_of(records, 48)
    rgb = ONNXClassifier(model_path=path, attack_index=1).fit()
    bgr = ONNXClassifier(model_path=path, attack_index=1, channel_order="BGR").fit()
    assert not np.allclose(rgb.decision_function(crops), bgr.decision_function(crops))
    # larger crops of the same faces are resized to 48x48 with INTER_AREA, as cv2 does it
    big = crops_of(records, 80)
    area = np.stack([cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA) for c in big])
    np.testing.assert_array_equal(rgb.decision_function(big), rgb.decision_function(area))
    nearest = np.stack([cv2.resize(c, (48, 48), interpolation=cv2.INTER_NEAREST) for c in big])
    assert not np.array_equal(rgb.decision_function(big), rgb.decision_function(nearest))


def test_input_size_is_read_from_a_static_model(tmp_path):
    path = tiny_model(tmp_path / "m.onnx", hw=(40, 56))
    assert ONNXClassifier(model_path=path, attack_index=1).fit().input_hw_ == (40, 56)


def test_the_registry_pipeline_crops_then_scores(records, tmp_path):
    path = tiny_model(tmp_path / "m.onnx")
    method = get_method("onnx:tiny")
    assert (method.name, method.family) == ("onnx:tiny", "external")
    assert "external ONNX model 'tiny'" in method.description
    params = {"clf__model_path": path, "clf__attack_index": 1, "crop__scale": 1.3}
    pipe = build_method("onnx:tiny", {"onnx:tiny": params}, {"crop__size": 48})
    assert [name for name, _ in pipe.steps] == ["crop", "clf"]
    y = np.array([r.label for r in records])
    scores = pipe.fit(records, y).decision_function(records)
    direct = ONNXClassifier(model_path=path, attack_index=1).fit()
    np.testing.assert_array_equal(
        scores, direct.decision_function(crops_of(records, 48, scale=1.3))
    )
    for bad in ("onnx:", "onnx:../x"):
        with pytest.raises(ValueError, match="onnx:<name>"):
            get_method(bad)


def test_runs_in_the_harness_with_a_dev_threshold(seed_subset_dir, tmp_path):
    recs = load_dataset(seed_subset_dir).records
    params = {"clf__model_path": tiny_model(tmp_path / "m.onnx"), "clf__attack_index": 1}
    pipe = build_method("onnx:tiny", {"onnx:tiny": params}, {"crop__size": 48})
    result = evaluate_method(
        pipe, recs, make_folds(recs, k=2), "onnx:tiny", "external", progress=False, n_boot=20
    )
    table = result.scores
    assert (table.split == "test").sum() == len(recs)  # each record in one fold's test part
    X = np.array(recs, dtype=object)
    direct = clone(pipe).fit(X, [r.label for r in recs]).decision_function(X)
    by_id = dict(zip((r.id for r in recs), direct, strict=True))
    np.testing.assert_allclose(table.score, [by_id[i] for i in table.sample_id])
    assert all(f["threshold_source"] == "dev" for f in result.metrics["folds"])


def test_pickle_drops_the_session_and_scores_the_same(records, tmp_path):
    path = tiny_model(tmp_path / "m.onnx")
    crops = crops_of(records, 48)
    clf = ONNXClassifier(model_path=path, attack_index=1).fit()
    before = clf.decision_function(crops)
    copy = pickle.loads(pickle.dumps(clf))
    assert "_ort_session" not in copy.__dict__
    np.testing.assert_array_equal(copy.decision_function(crops), before)
    assert clone(clf).get_params() == clf.get_params()
    tiny_model(path, n_out=3)  # the file is replaced after fitting
    with pytest.raises(ValueError, match="changed since fit"):
        pickle.loads(pickle.dumps(clf)).decision_function(crops)


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
    "scale": (dict(scale=0), r"scale must be a number > 0"),
    "input name": (dict(input_name="pixels"), r"input_name 'pixels' .*\['image'\].*m\.onnx"),
    "output name": (dict(output_name="prob"), r"output_name 'prob' .*\['logits'\]"),
    "input size value": (dict(input_size=(48, 48, 3)), r"input_size must be an int or"),
}
FILE_FREE = ("both indices", "no index", "output", "channel order", "mean", "std", "scale")


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_spec_is_a_clear_error_naming_the_key(case, tmp_path):
    kwargs, pattern = BAD_SPECS[case]
    path = tiny_model(tmp_path / "m.onnx")
    clf = ONNXClassifier(**{"model_path": path, "attack_index": 1, **kwargs})
    with pytest.raises(ValueError, match=pattern):
        clf.fit()
    assert not hasattr(clf, "model_sha256_")


@pytest.mark.parametrize("case", [*FILE_FREE, "input size value"])
def test_validate_params_checks_the_spec_without_the_file(case):
    kwargs, pattern = BAD_SPECS[case]
    ONNXClassifier(model_path="nowhere.onnx", attack_index=1)._validate_params()  # no file read
    clf = ONNXClassifier(**{"model_path": "nowhere.onnx", "attack_index": 1, **kwargs})
    with pytest.raises(ValueError, match=pattern):
        clf._validate_params()


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


def test_unfitted_records_and_bad_crops_are_refused(records, tmp_path):
    clf = ONNXClassifier(model_path=tiny_model(tmp_path / "m.onnx"), attack_index=1)
    with pytest.raises(Exception, match="not fitted"):
        clf.decision_function(np.zeros((1, 48, 48, 3), np.uint8))
    clf.fit()
    with pytest.raises(ValueError, match="object array .*crop them first"):
        clf.decision_function(records)
    with pytest.raises(ValueError, match="expected uint8"):
        clf.decision_function(np.zeros((1, 48, 48, 3), np.float32))
    with pytest.raises(ValueError, match="crop them first"):
        clf.fit(records)


def test_without_onnxruntime_the_error_says_how_to_install(tmp_path, monkeypatch):
    path = tiny_model(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ImportError, match=r"pip install -e '\.\[onnx\]'"):
        ONNXClassifier(model_path=path, attack_index=1).fit()


def test_importing_the_modules_loads_neither_onnxruntime_nor_tensorflow():
    code = (
        "import sys, classifiers.onnx_model, classifiers.export, classifiers.registry, "
        "benchmarks.config; from classifiers.registry import get_method; "
        "get_method('onnx:x').build(None); "
        "print(sorted(m for m in ('onnxruntime', 'tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- onnx:<name> runs
FAST = """
[protocol]
n_boot = 100

[params.lbp-lr]
clf__C = [1.0]
clf__inner_splits = 2
"""
TINY = """
[onnx.tiny]
model_path = "tiny.onnx"
layout = "NCHW"
attack_index = 1
"""


def run(module_main, *args: object) -> tuple[int, str, str]:
    """A CLI's main(argv) in-process: exit code (parser errors too), stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = module_main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tiny_model(folder / "tiny.onnx")
    path = folder / "cfg.toml"
    path.write_text(FAST + text, encoding="utf-8")
    return path


def test_external_model_runs_beside_a_toolkit_method(seed_subset_dir, tmp_path):
    cfg = config(tmp_path / "cfg", TINY)
    out = tmp_path / "out"
    args = (
        *("--data", seed_subset_dir, "--methods", "lbp-lr", "onnx:tiny", "--config", cfg),
        *("--folds", 2, "--out", out, "--no-progress"),
    )
    code, stdout, stderr = run(main, *args)
    assert code == 0, stderr
    doc = json.loads((out / "comparison.json").read_text())
    rows = {m["name"]: m for m in doc["methods"]}
    assert rows["onnx:tiny"]["family"] == "external" and rows["lbp-lr"]["family"] == "handcrafted"
    assert "| onnx:tiny | external |" in (out / "comparison.md").read_text()
    sha = hashlib.sha256((tmp_path / "cfg" / "tiny.onnx").read_bytes()).hexdigest()
    assert doc["provenance"]["external_models"] == {"onnx:tiny": sha}
    # each fold's threshold is the criterion's choice on that fold's dev scores
    table = read_scores(out / "scores" / "onnx:tiny.csv")
    folds = rows["onnx:tiny"]["folds"]
    assert len(folds) == 2
    for f in folds:
        dev = table.take((table.split == "dev") & (table.fold == f["fold"]))
        assert len(dev) and f["threshold_source"] == "dev"
        chosen = choose_threshold(
            dev.score, dev.label, dev.attack_type, rows["onnx:tiny"]["criterion"]
        )
        assert f["threshold"] == pytest.approx(chosen)
    # the scores are the tiny model's on crops of the model's input size (crop_size default)
    pipe = load_config(cfg, methods=["onnx:tiny"]).pipeline("onnx:tiny")
    assert pipe["crop"].size == 48
    recs = np.array(load_dataset(seed_subset_dir).records, dtype=object)
    scores = dict(zip((r.id for r in recs), pipe.fit(recs).decision_function(recs), strict=True))
    test = table.take(table.split == "test")
    np.testing.assert_allclose(test.score, [scores[i] for i in test.sample_id])
    # another model under the same path is evaluated again, not resumed from the old scores
    tiny_model(tmp_path / "cfg" / "tiny.onnx", n_out=3)
    code, stdout, stderr = run(main, *args)
    assert code == 0, stderr
    again = read_scores(out / "scores" / "onnx:tiny.csv")
    assert not np.allclose(again.score, table.score)
    sha = hashlib.sha256((tmp_path / "cfg" / "tiny.onnx").read_bytes()).hexdigest()
    assert json.loads((out / "comparison.json").read_text())["provenance"]["external_models"] == {
        "onnx:tiny": sha
    }


BAD = {
    # name: (--methods, config text, what stderr must name)
    "missing table": ("onnx:other", TINY, "'onnx:other' needs its model spec, an [onnx.other]"),
    "unknown key": ("onnx:tiny", TINY + "attack = 1\n", "[onnx.tiny]: unknown keys ['attack']"),
    "shape mismatch": ("onnx:tiny", TINY + "input_size = 32\n", "[onnx.tiny]: ONNXClassifier: "),
    "index out of range": ("onnx:tiny", TINY.replace("= 1", "= 7"), "attack_index=7 is out of"),
    "not an ONNX file": ("onnx:tiny", TINY.replace("tiny.onnx", "cfg.toml"), "is not a loadable"),
    "missing file": ("onnx:tiny", TINY.replace("tiny.onnx", "gone.onnx"), "gone.onnx does not"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_spec_exits_2_naming_the_key_before_any_work(case, seed_subset_dir, tmp_path):
    methods, text, named = BAD[case]
    cfg = config(tmp_path / "cfg", text)
    out = tmp_path / "out"
    code, _, stderr = run(
        main,
        *("--data", seed_subset_dir, "--methods", methods, "--config", cfg),
        *("--out", out, "--no-progress"),
    )
    assert code == 2 and named in stderr and str(cfg) in stderr
    if case == "shape mismatch":
        assert "input_size=32" in stderr and "[N, 3, 32, 32]" in stderr
    if case in ("not an ONNX file", "missing file"):
        assert "model_path" in stderr
    assert not out.exists()


ODD_VALUES = {
    # TOML lines under [onnx.tiny] -> what the ConfigError names
    'input_size = ["a", 48]': "input_size must be an int or (height, width)",
    "crop_scale = [1.5]": "crop_scale, crop_mode, detector ([crop]): ",
    "mean = {r = 1}": "mean must be one number or 3",
    "scale = [1]": "scale must be a number > 0",
    'model_path = "a\\u0000b"': "does not exist",
    "model_path = 3": "model_path (the .onnx file) is required",
    'crop_mode = "all"': "FaceCropper: mode must be one of",
}


@pytest.mark.parametrize("line", ODD_VALUES)
def test_odd_spec_values_are_config_errors(line, tmp_path):
    text = TINY.replace('model_path = "tiny.onnx"\n', "") + line + "\n"
    if not line.startswith("model_path"):
        text += 'model_path = "tiny.onnx"\n'
    cfg = config(tmp_path, text)
    with pytest.raises(ConfigError, match="onnx.tiny") as e:
        load_config(cfg, methods=["onnx:tiny"])
    assert ODD_VALUES[line] in str(e.value) and str(cfg) in str(e.value)


def test_model_path_is_relative_to_the_config_folder(tmp_path, monkeypatch):
    cfg = config(tmp_path / "cfg", TINY)
    monkeypatch.chdir(tmp_path)  # another working folder
    params = load_config(Path("cfg") / "cfg.toml", methods=["onnx:tiny"]).params["onnx:tiny"]
    assert params["clf__model_path"] == str(cfg.parent / "tiny.onnx")
    assert params["crop__size"] == 48  # from the model's static input shape


def test_cnn_saved_exported_and_run_back_as_onnx_gives_the_keras_scores(seed_subset_dir, tmp_path):
    cnn_cfg = tmp_path / "cnn.toml"
    cnn_cfg.write_text(
        FAST
        + "[crop]\nsize = 32\nscale = 1.3\n\n"
        + "[params.livenessnet]\nclf__epochs = 1\nclf__augment = false\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    code, _, stderr = run(
        main,
        *("--data", seed_subset_dir, "--methods", "livenessnet"),
        *("--config", cnn_cfg, "--folds", 2, "--out", out, "--no-progress", "--save-models"),
    )
    assert code == 0, stderr
    onnx_file = tmp_path / "exported" / "mycnn.onnx"
    code, stdout, stderr = run(
        export_main, "--model", out / "models" / "livenessnet", "--out", onnx_file
    )
    assert code == 0, stderr
    spec = json.loads(onnx_file.with_suffix(".json").read_text())
    assert (spec["crop_size"], spec["crop_scale"], spec["input_size"]) == (32, 1.3, 32)
    assert spec["model_path"] == str(onnx_file.resolve())
    table = stdout[stdout.index("[onnx.mycnn]") :]
    mine = tmp_path / "elsewhere" / "mymodels.toml"
    mine.parent.mkdir()
    mine.write_text(table, encoding="utf-8")
    pipe = load_config(mine, methods=["onnx:mycnn"]).pipeline("onnx:mycnn")
    recs = np.array(load_dataset(seed_subset_dir).records, dtype=object)
    y = np.array([r.label for r in recs])
    onnx_scores = fit_method(pipe, recs, y).decision_function(recs)
    keras_scores = load_fitted(out / "models" / "livenessnet").estimator.decision_function(recs)
    assert np.ptp(keras_scores) > 0
    np.testing.assert_allclose(onnx_scores, keras_scores, rtol=0, atol=1e-4)


@pytest.mark.parametrize("params", [{"patch": 16}, {"n_seeds": 2}])
def test_patch_based_cnns_and_seed_ensembles_export_whole(params, tmp_path):
    from classifiers.cnn.estimator import CNNClassifier
    from classifiers.export import classifier_params, export_onnx
    from tests.test_cnn import easy_set

    X, y = easy_set(24, 32)
    cnn = CNNClassifier("mobilenet-cdc", epochs=1, fit_cache=False, **params).fit(X, y)
    spec = export_onnx(cnn, tmp_path / "cnn.onnx")
    assert spec["input_size"] == 32  # the whole crop goes in; patches or networks in the graph
    onnx_scores = ONNXClassifier(**classifier_params(spec)).fit().decision_function(X)
    np.testing.assert_allclose(onnx_scores, cnn.decision_function(X), rtol=0, atol=1e-4)


def test_export_refuses_what_is_not_a_saved_cnn(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from classifiers.persistence import save_fitted

    other = LogisticRegression().fit([[0], [1]], [0, 1])
    params = {"method": "lbp-lr", "family": "handcrafted"}
    save_fitted(tmp_path / "models" / "lbp-lr", other, 0.0, params)
    save_fitted(tmp_path / "models" / "unlabelled", other, 0.0, {})
    ensemble = {"method": "per-source:livenessnet", "family": "cnn"}
    save_fitted(tmp_path / "models" / "ensemble", other, 0.0, ensemble)
    out = tmp_path / "exported" / "m.onnx"
    for folder, message in (
        ("lbp-lr", "method 'lbp-lr' (family 'handcrafted') is not a CNN"),
        ("unlabelled", "only a toolkit CNN"),
        ("ensemble", "'per-source:livenessnet' holds one CNN per training dataset"),
        ("nothing", "no such model file"),
    ):
        code, _, stderr = run(export_main, "--model", tmp_path / "models" / folder, "--out", out)
        assert code == 2 and message in stderr, stderr
    assert not out.parent.exists()


def test_the_readme_example_is_a_valid_config(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("# mymodels.toml\n")[1].split("```")[0]
    (tmp_path / "models").mkdir()
    tiny_model(tmp_path / "models" / "mymodel.onnx", hw=(80, 80), n_out=3)
    (tmp_path / "mymodels.toml").write_text(example, encoding="utf-8")
    cfg = load_config(tmp_path / "mymodels.toml", methods=["colour-lbp-svm", "onnx:mymodel"])
    pipe = cfg.pipeline("onnx:mymodel")
    assert (pipe["crop"].size, pipe["crop"].scale) == (80, 2.7)
    assert pipe["clf"].get_params()["bonafide_index"] == 1
