"""Export a fitted toolkit CNN to ONNX, with the spec that runs it as the `onnx:<name>` method.

`export_onnx(model, "m.onnx")` writes the CNN's attack-logit network (`CNNClassifier.scorer_`)
with Keras 3's own ONNX export (which converts through tf2onnx on the TensorFlow backend), and
``m.json`` beside it: the `ONNXClassifier` parameters (input size, NHWC, RGB, scale 1/255 as in
`classifiers.cnn.training.image_dataset`, logit output) plus the crop settings (``crop_size`` =
the CNN's input size; ``crop_scale``, ``crop_mode``, ``detector`` from the pipeline's crop step,
or `FaceCropper`'s defaults for a bare CNN), under the keys of a config's ``[onnx.<name>]`` table,
so the same crops and scores come out of ``python -m benchmarks.run --methods onnx:<name>``
anywhere. Before anything is written the ONNX model is run on random crops and compared with
Keras.

    python -m classifiers.export --model results/run/models/livenessnet --out livenessnet.onnx

takes a CNN method saved by ``python -m benchmarks.run --save-models`` (its folder) and prints
the ``[onnx.<name>]`` table to paste into a config.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.pipeline import Pipeline

from classifiers.onnx_model import INSTALL_HINT, ONNXClassifier, import_onnxruntime
from classifiers.persistence import MODEL_FILE, ModelFileError, load_fitted, read_header
from classifiers.registry import PER_SOURCE_PREFIX
from features.faces import FaceCropper
from features.files import atomic_path, atomic_write

if TYPE_CHECKING:
    from classifiers.cnn.estimator import CNNClassifier

TOLERANCE = 1e-4  # largest |ONNX - Keras| logit difference accepted on the check images
CROP_KEYS = {"crop_scale": "scale", "crop_mode": "mode", "detector": "detector"}
"""Spec keys (as in a config's [onnx.<name>] table) -> `FaceCropper` parameters."""


class ExportError(ValueError):
    """A model that cannot be exported (not a fitted CNN, or a failed conversion)."""


def onnx_spec(
    cnn: CNNClassifier,
    model_path: Path,
    input_name: str,
    output_name: str,
    cropper: FaceCropper | None = None,
) -> dict[str, Any]:
    """The `[onnx.<name>]` settings that reproduce `cnn`'s scores (after `cropper`'s crops)
    from its ONNX export: `ONNXClassifier` parameters and the crop keys."""
    cropper = cropper or FaceCropper()
    size = input_size(cnn)
    return {
        "model_path": str(model_path),
        "input_size": size,
        "layout": "NHWC",
        "channel_order": "RGB",
        "scale": 1 / 255,  # image_dataset: float32(pixel) / 255
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "output": "logits",
        "attack_index": 0,
        "input_name": input_name,
        "output_name": output_name,
        "crop_size": size,
        **{key: _plain(cropper.get_params()[param]) for key, param in CROP_KEYS.items()},
    }


def classifier_params(spec: dict[str, Any]) -> dict[str, Any]:
    """The `ONNXClassifier` parameters of a spec (its other keys are the crop's)."""
    return {k: v for k, v in spec.items() if k in ONNXClassifier().get_params()}


def input_size(cnn: CNNClassifier) -> int:
    """The side of the CNN's square input (= its crop size)."""
    return int(cnn.model_.input_shape[1])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_cnn(cnn: Any) -> None:
    from classifiers.cnn.estimator import CNNClassifier

    if not isinstance(cnn, CNNClassifier):
        raise ExportError(
            f"only a toolkit CNN (CNNClassifier: livenessnet, seed-cnn) can be exported to "
            f"ONNX, got {type(cnn).__name__}"
        )
    if not hasattr(cnn, "scorer_"):
        raise ExportError("the CNNClassifier is not fitted: fit or load it before exporting")


def _keras_export(cnn: CNNClassifier, path: Path) -> None:
    from classifiers.cnn.runtime import tf

    try:
        import tf2onnx  # noqa: F401 - Keras' TensorFlow-backend ONNX export needs it
    except ImportError:
        raise ImportError(
            f"ONNX export needs the optional onnx dependencies: {INSTALL_HINT}"
        ) from None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's numpy-2 shim probes np.object
        # An explicit signature: Keras infers one only for a model that has been called, and
        # `scorer_` (a sub-model of the trained network) may never have been.
        s = input_size(cnn)
        signature = [tf.TensorSpec((None, s, s, 3), tf.float32, name=cnn.scorer_.inputs[0].name)]
        cnn.scorer_.export(str(path), format="onnx", verbose=False, input_signature=signature)


def split_model(model: Any) -> tuple[CNNClassifier, FaceCropper | None]:
    """The fitted CNN of a CNN method's pipeline (``crop`` -> ``clf``) or a bare CNN, and the
    pipeline's crop step (None for a bare CNN); ExportError for anything else."""
    cropper = None
    if isinstance(model, Pipeline):
        steps = [est for _, est in model.steps]
        if len(steps) != 2 or not isinstance(steps[0], FaceCropper):
            names = " -> ".join(name for name, _ in model.steps)
            raise ExportError(
                f"only a CNN method's pipeline (crop -> clf) can be exported, got {names}"
            )
        cropper, model = steps
    _check_cnn(model)
    return model, cropper


def export_onnx(
    model: Pipeline | CNNClassifier, path: str | os.PathLike[str], check_images: int = 8
) -> dict[str, Any]:
    """Write a fitted CNN method (or bare CNN) as ONNX to `path` (.onnx) and its spec (see the
    module docstring) to `path`.json.

    The export is checked first: on `check_images` random crops the ONNX scores must equal
    the Keras scores within `TOLERANCE`. Both files are written atomically. Returns the spec.
    """
    cnn, cropper = split_model(model)
    path = Path(path)
    if path.suffix != ".onnx":
        raise ExportError(f"{path}: the ONNX file name must end in .onnx")
    ort = import_onnxruntime()
    s = input_size(cnn)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (check_images, s, s, 3), dtype=np.uint8)
    with atomic_path(path, suffix=".onnx") as tmp:
        _keras_export(cnn, tmp)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        names = session.get_inputs()[0].name, session.get_outputs()[0].name
        spec = onnx_spec(cnn, tmp, *names, cropper=cropper)
        got = ONNXClassifier(**classifier_params(spec)).fit().decision_function(crops)
        want = cnn.decision_function(crops)
        diff = float(np.max(np.abs(got - want)))
        if not diff <= TOLERANCE:
            raise ExportError(
                f"{path}: the ONNX export differs from the Keras model by {diff:.3g} "
                f"(> {TOLERANCE}) on random crops; not written"
            )
    spec["model_path"] = str(path.resolve())
    atomic_write(path.with_suffix(".json"), json.dumps(spec, indent=2) + "\n")
    return spec


def load_cnn(model: Path) -> tuple[Pipeline | CNNClassifier, float]:
    """A CNN method saved by `benchmarks.run --save-models` (its folder or model.skops), or a
    bare CNN's .keras file, and its threshold.

    A saved method of another family is refused from its header, before it is loaded.
    """
    path = model / MODEL_FILE if model.is_dir() else model
    if path.suffix == ".keras":
        from classifiers.cnn.estimator import CNNClassifier

        try:
            cnn = CNNClassifier.load(path)
        except Exception as e:  # Keras raises many types for a damaged or foreign file
            raise ExportError(f"{path}: cannot load the CNN: {e}") from None
        return cnn, float(cnn.threshold_)
    if path.is_file():
        params = read_header(path)["params"]
        family = params.get("family")
        if str(params.get("method", "")).startswith(PER_SOURCE_PREFIX):
            raise ExportError(
                f"{path}: method {params['method']!r} holds one CNN per training dataset; only "
                "a single CNN method (livenessnet, seed-cnn) can be exported to ONNX"
            )
        if family not in (None, "cnn"):
            raise ExportError(
                f"{path}: method {params.get('method', '?')!r} (family {family!r}) is not a "
                "CNN; only a CNN method (livenessnet, seed-cnn) can be exported to ONNX"
            )
    saved = load_fitted(model)
    split_model(saved.estimator)
    return saved.estimator, saved.threshold


def toml_table(name: str, spec: dict[str, Any]) -> str:
    """`spec` as the config's ``[onnx.<name>]`` table (JSON strings and arrays are TOML too)."""
    lines = [f"[onnx.{name}]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in spec.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m classifiers.export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", type=Path, required=True, help="a CNN method's folder from --save-models"
    )
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        model, threshold = load_cnn(args.model)
        spec = export_onnx(model, args.out)
    except (ModelFileError, ExportError, ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in args.out.stem)
    print(f"wrote {spec['model_path']} and {args.out.with_suffix('.json')}")
    print(f"dev threshold of the saved model: {threshold:.6g} (same scale as the ONNX scores)")
    print(f"\nto run it as the method onnx:{name}, put this table in a config:\n")
    print(toml_table(name, spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
