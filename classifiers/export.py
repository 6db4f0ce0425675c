"""Export a fitted toolkit CNN to ONNX, with the `ONNXClassifier` spec that reproduces its scores.

`export_onnx(cnn, "m.onnx")` writes the CNN's attack-logit network (`CNNClassifier.scorer_`)
with Keras 3's own ONNX export (which converts through tf2onnx on the TensorFlow backend), and
``m.json`` beside it: exactly the `ONNXClassifier` parameters (input size, NHWC, RGB, scale
1/255 as in `classifiers.cnn.training.image_dataset`, the CNN's crop settings, logit output),
so ``ONNXClassifier(**json.load(open("m.json")))`` gives the CNN's decision_function.
Before anything is written the ONNX model is run on random images and compared with Keras.

    python -m classifiers.export --model results/run/models/livenessnet --out livenessnet.onnx

takes a CNN saved by ``python -m benchmarks.run --save-models``.
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

from classifiers.onnx_model import INSTALL_HINT, ONNXClassifier, import_onnxruntime
from classifiers.persistence import KERAS_FILE, MODEL_FILE, ModelFileError, read_header
from features.faces import DEFAULT_DETECTOR
from features.files import atomic_path, atomic_write

if TYPE_CHECKING:
    from classifiers.cnn.estimator import CNNClassifier

TOLERANCE = 1e-4  # largest |ONNX - Keras| logit difference accepted on the check images


class ExportError(ValueError):
    """A model that cannot be exported (not a fitted CNN, or a failed conversion)."""


def onnx_spec(
    cnn: CNNClassifier, model_path: Path, input_name: str, output_name: str
) -> dict[str, Any]:
    """The `ONNXClassifier` parameters that reproduce `cnn`'s scores from its ONNX export."""
    return {
        "model_path": str(model_path),
        "input_size": int(cnn.input_size),
        "layout": "NHWC",
        "channel_order": "RGB",
        "scale": 1 / 255,  # image_dataset: float32(pixel) / 255
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "crop_scale": float(cnn.crop_scale),
        "crop_mode": cnn.crop_mode,
        "detector": DEFAULT_DETECTOR,  # CNNClassifier crops with FaceCropper's default
        "output": "logits",
        "attack_index": 0,
        "bonafide_index": None,
        "input_name": input_name,
        "output_name": output_name,
    }


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
    try:
        import tf2onnx  # noqa: F401 - Keras' TensorFlow-backend ONNX export needs it
    except ImportError:
        raise ImportError(
            f"ONNX export needs the optional onnx dependencies: {INSTALL_HINT}"
        ) from None
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's numpy-2 shim probes np.object
        # An explicit signature: Keras infers one only for a model that has been called, and
        # `scorer_` (a sub-model of the trained network) may never have been.
        s = int(cnn.input_size)
        signature = [tf.TensorSpec((None, s, s, 3), tf.float32, name=cnn.scorer_.inputs[0].name)]
        cnn.scorer_.export(str(path), format="onnx", verbose=False, input_signature=signature)


def export_onnx(
    cnn: CNNClassifier, path: str | os.PathLike[str], check_images: int = 8
) -> dict[str, Any]:
    """Write `cnn` as ONNX to `path` (.onnx) and its `ONNXClassifier` spec to `path`.json.

    The export is checked first: on `check_images` random images the ONNX scores must equal
    the Keras scores within `TOLERANCE`. Both files are written atomically. Returns the spec.
    """
    _check_cnn(cnn)
    path = Path(path)
    if path.suffix != ".onnx":
        raise ExportError(f"{path}: the ONNX file name must end in .onnx")
    ort = import_onnxruntime()
    s = int(cnn.input_size)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (check_images, s, s, 3), dtype=np.uint8)
    with atomic_path(path, suffix=".onnx") as tmp:
        _keras_export(cnn, tmp)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        names = session.get_inputs()[0].name, session.get_outputs()[0].name
        spec = onnx_spec(cnn, tmp, *names)
        got = ONNXClassifier(**spec).fit().decision_function(images)
        want = cnn.decision_function(images)
        diff = float(np.max(np.abs(got - want)))
        if not diff <= TOLERANCE:
            raise ExportError(
                f"{path}: the ONNX export differs from the Keras model by {diff:.3g} "
                f"(> {TOLERANCE}) on random images; not written"
            )
    spec["model_path"] = str(path.resolve())
    atomic_write(path.with_suffix(".json"), json.dumps(spec, indent=2) + "\n")
    return spec


def load_cnn(model: Path) -> tuple[CNNClassifier, float]:
    """A CNN saved by `benchmarks.run --save-models` (its folder or model.keras) and threshold.

    A folder holding another method (model.joblib) is refused from its header, unpickled never.
    """
    from classifiers.persistence import load_fitted

    path = model
    if model.is_dir() and not (model / KERAS_FILE).is_file() and (model / MODEL_FILE).is_file():
        path = model / MODEL_FILE
    if path.suffix == ".joblib":
        params = read_header(path).get("params", {})
        raise ExportError(
            f"{path}: method {params.get('method', '?')!r} (family "
            f"{params.get('family', '?')!r}) is not a CNN; only CNNs saved as {KERAS_FILE} "
            "(livenessnet, seed-cnn) can be exported to ONNX"
        )
    saved = load_fitted(path)
    _check_cnn(saved.estimator)
    return saved.estimator, saved.threshold


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m classifiers.export", description=__doc__)
    p.add_argument(
        "--model", type=Path, required=True, help="a CNN folder (or model.keras) from --save-models"
    )
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        cnn, threshold = load_cnn(args.model)
        spec = export_onnx(cnn, args.out)
    except (ModelFileError, ExportError, ImportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {spec['model_path']} and {args.out.with_suffix('.json')}")
    print(f"dev threshold of the saved model: {threshold:.6g} (same scale as the ONNX scores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
