"""`ONNXClassifier`: a pre-trained ONNX model (run by ONNX Runtime) as a toolkit method.

Bring-your-own-model comparisons (e.g. a public MiniFASNet, or a toolkit CNN exported by
`classifiers.export`) go through the same harness as the toolkit's own methods: the threshold
is chosen on the dev scores and applied to test. The model is not trained: `fit` only checks
the preprocessing spec against the model file and records its hash.

It is the last step of a pipeline (``crop`` -> ``clf``, see `classifiers.registry`): the crop
step's `features.faces.FaceCropper` makes the face crops, so the crop settings live in one place,
as for every other method. Preprocessing, per crop (RGB uint8 (s, s, 3)): resized to the model's
(h, w) with `cv2.INTER_AREA` when the sizes differ, reordered to `channel_order`, then
``(pixel * scale - mean) / std`` per channel (mean and std in the model's channel order), laid
out as `layout`.

Attack scores (`decision_function`), higher = more likely an attack:
- output="logits": the log-odds of attack, log P(attack) - log(1 - P(attack)), computed from
  the logits without rounding (softmax over the outputs when there are 2 or more; a single
  output is taken as the sigmoid logit). With 2 outputs this is logit_attack - logit_bonafide;
  with `bonafide_index` and several attack classes, P(attack) = 1 - P(bona fide).
- output="probabilities": P(attack) itself (`output[attack_index]`, or
  1 - `output[bonafide_index]`). Converting to log-odds would turn saturated float32
  probabilities (exactly 0 or 1) into infinities; the threshold choice is unaffected by the
  monotone difference.

onnxruntime is an optional dependency (``pip install -e '.[onnx]'``), imported only when a
model is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from features.base import check_crops
from features.crops import CropSequence
from features.records import file_sha256

LAYOUTS = ("NCHW", "NHWC")
CHANNEL_ORDERS = ("RGB", "BGR")
OUTPUTS = ("logits", "probabilities")
BATCH = 64  # images per ONNX Runtime call when the model's batch dimension is free
_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}
INSTALL_HINT = "pip install -e '.[onnx]'"


def import_onnxruntime() -> Any:
    """The onnxruntime module, or an ImportError saying how to install the optional extra."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            f"ONNX models need the optional onnx dependencies: {INSTALL_HINT}"
        ) from None
    return onnxruntime


class ONNXClassifier(ClassifierMixin, BaseEstimator):
    """Attack scores of a pre-trained ONNX model over face crops (label 1 = attack).

    Parameters
    ----------
    model_path : the .onnx file.
    input_size : side of the square input, or (height, width); None takes it from the model's
        input shape (which must then be static).
    layout : "NCHW" or "NHWC", the model input's dimension order.
    channel_order : "RGB" or "BGR", the model input's channel order.
    scale, mean, std : the input is ``(pixel * scale - mean) / std`` with pixels in 0..255;
        mean and std are one number or one per channel (in `channel_order`).
    output : "logits" or "probabilities": what the output tensor holds.
    attack_index, bonafide_index : exactly one: the output index meaning attack, or the one
        meaning bona fide (then P(attack) = 1 - P(bona fide)).
    input_name, output_name : the model input and output to use; None takes the only input
        and the first output.

    X is (N, s, s, 3) uint8 RGB face crops (any side s >= 8; resized to the model's input).
    """

    def __init__(
        self,
        model_path: str | None = None,
        input_size: int | Sequence[int] | None = None,
        layout: str = "NCHW",
        channel_order: str = "RGB",
        scale: float = 1 / 255,
        mean: float | Sequence[float] = 0.0,
        std: float | Sequence[float] = 1.0,
        output: str = "logits",
        attack_index: int | None = None,
        bonafide_index: int | None = None,
        input_name: str | None = None,
        output_name: str | None = None,
    ) -> None:
        self.model_path = model_path
        self.input_size = input_size
        self.layout = layout
        self.channel_order = channel_order
        self.scale = scale
        self.mean = mean
        self.std = std
        self.output = output
        self.attack_index = attack_index
        self.bonafide_index = bonafide_index
        self.input_name = input_name
        self.output_name = output_name

    # ------------------------------------------------------------------ the model file
    def _path(self) -> Path:
        if self.model_path is None:
            raise ValueError("ONNXClassifier: model_path is required (the .onnx file)")
        path = Path(self.model_path)
        if not path.is_file():
            raise ValueError(f"ONNXClassifier: model_path {path} does not exist (as a file)")
        return path

    def _open(self, path: Path) -> Any:
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # InvalidProtobuf, Fail, ...: the file is not a usable model
            raise ValueError(
                f"ONNXClassifier: model_path {path} is not a loadable ONNX model: {e}"
            ) from None

    def _session(self) -> Any:
        """The ONNX Runtime session, created on first use (and after unpickling)."""
        session = self.__dict__.get("_ort_session")
        if session is None:
            path = self._path()
            sha = file_sha256(path)
            if sha != self.model_sha256_:
                raise ValueError(
                    f"ONNXClassifier: model_path {path} changed since fit (sha256 {sha[:12]}..., "
                    f"fitted on {self.model_sha256_[:12]}...); fit again"
                )
            session = self._ort_session = self._open(path)
        return session

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_ort_session", None)  # native object: recreated from model_path on use
        return state

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        """Raise ValueError naming the first bad parameter (no file access: see `fit`)."""
        for key, value, choices in (
            ("layout", self.layout, LAYOUTS),
            ("channel_order", self.channel_order, CHANNEL_ORDERS),
            ("output", self.output, OUTPUTS),
        ):
            if value not in choices:
                raise ValueError(f"ONNXClassifier: {key} must be one of {choices}, got {value!r}")
        if (self.attack_index is None) == (self.bonafide_index is None):
            raise ValueError(
                "ONNXClassifier: give exactly one of attack_index (the output index meaning "
                "attack) and bonafide_index (the index meaning bona fide), "
                f"got attack_index={self.attack_index!r}, bonafide_index={self.bonafide_index!r}"
            )
        scale = self.scale
        if isinstance(scale, bool) or not isinstance(scale, Real) or not 0 < scale < np.inf:
            raise ValueError(f"ONNXClassifier: scale must be a number > 0, got {scale!r}")
        for key in ("mean", "std"):
            try:
                v = np.asarray(getattr(self, key), dtype=float)
            except (TypeError, ValueError):
                v = np.full(2, np.nan)  # not numbers: refused below
            if v.shape not in ((), (1,), (3,)) or not np.isfinite(v).all():
                raise ValueError(
                    f"ONNXClassifier: {key} must be one number or 3 (one per channel), "
                    f"got {getattr(self, key)!r}"
                )
        if not np.all(np.asarray(self.std, dtype=float) != 0):
            raise ValueError(f"ONNXClassifier: std must not be 0, got {self.std!r}")
        if self.input_size is not None:
            self._size()

    def _size(self) -> tuple[int, int]:
        size = self.input_size
        hw = (size, size) if isinstance(size, int | np.integer) else tuple(size or ())
        if len(hw) != 2 or not all(isinstance(v, int | np.integer) and 8 <= v <= 1024 for v in hw):
            raise ValueError(
                f"ONNXClassifier: input_size must be an int or (height, width) of ints in "
                f"[8, 1024], got {size!r}"
            )
        return int(hw[0]), int(hw[1])

    def _io(self, session: Any, path: Path) -> tuple[Any, Any]:
        """The model input and output used, checked against input_name and output_name."""
        picked = []
        for key, nodes in (
            ("input_name", session.get_inputs()),
            ("output_name", session.get_outputs()),
        ):
            names = [n.name for n in nodes]
            name = getattr(self, key)
            if name is None:
                if key == "input_name" and len(names) != 1:
                    raise ValueError(
                        f"ONNXClassifier: {path} has {len(names)} inputs {names}; "
                        "set input_name to the image input"
                    )
                picked.append(nodes[0])
            elif name in names:
                picked.append(nodes[names.index(name)])
            else:
                raise ValueError(
                    f"ONNXClassifier: {key} {name!r} is not among the model's names {names} "
                    f"in {path}"
                )
        return picked[0], picked[1]

    def _check_input(self, node: Any, path: Path) -> tuple[int, int]:
        """Check the input's type and shape against the spec; return (height, width)."""
        if node.type not in _DTYPES:
            raise ValueError(
                f"ONNXClassifier: input {node.name!r} of {path} has type {node.type}; "
                f"an image input must be one of {sorted(_DTYPES)}"
            )
        shape = list(node.shape)
        if len(shape) != 4:
            raise ValueError(
                f"ONNXClassifier: input {node.name!r} of {path} has shape {shape}; "
                f"an image input must have 4 dimensions ({self.layout})"
            )
        c, h, w = shape[1:] if self.layout == "NCHW" else (shape[3], *shape[1:3])
        if isinstance(c, int) and c != 3:
            raise ValueError(
                f"ONNXClassifier: layout={self.layout!r} puts the channels where input "
                f"{node.name!r} of {path} (shape {shape}) has {c}; an RGB input has 3 "
                "(check layout)"
            )
        if self.input_size is None:
            if not (isinstance(h, int) and isinstance(w, int)):
                raise ValueError(
                    f"ONNXClassifier: input {node.name!r} of {path} has free height/width "
                    f"(shape {shape}); set input_size"
                )
            hw = (h, w)
        else:
            hw = self._size()
        expected = [3, *hw] if self.layout == "NCHW" else [*hw, 3]
        actual = shape[1:]
        if any(isinstance(a, int) and a != e for a, e in zip(actual, expected, strict=True)):
            raise ValueError(
                f"ONNXClassifier: input_size={self.input_size!r} with layout={self.layout!r} "
                f"expects input shape [N, {', '.join(map(str, expected))}], but input "
                f"{node.name!r} of {path} has shape {shape} (check input_size and layout)"
            )
        return hw

    def fit(self, X: Any = None, y: Any = None) -> ONNXClassifier:
        """Check the spec against the model file (nothing is learned); X, if given, must be
        face crops; y is ignored."""
        for stale in ("_ort_session", "model_sha256_"):  # a failed refit leaves it unfitted
            self.__dict__.pop(stale, None)
        self._validate_params()
        if X is not None:
            check_crops(X, "ONNXClassifier")
        path = self._path()
        session = self._open(path)
        node_in, node_out = self._io(session, path)
        self.input_hw_ = self._check_input(node_in, path)
        self.input_name_, self.output_name_ = node_in.name, node_out.name
        self._ort_session = session
        width = self._run(np.zeros((1, *self.input_hw_, 3), np.uint8)).shape[1]
        for key in ("attack_index", "bonafide_index"):
            index = getattr(self, key)
            if index is not None and not (
                isinstance(index, int | np.integer) and 0 <= index < width
            ):
                raise ValueError(
                    f"ONNXClassifier: {key}={index!r} is out of range for output "
                    f"{self.output_name_!r} of {path}, which has {width} value(s) per image"
                )
        self.n_outputs_ = width
        self.model_sha256_ = file_sha256(path)
        self.classes_ = np.array([0, 1])
        self.threshold_ = 0.0 if self.output == "logits" else 0.5
        return self

    # ------------------------------------------------------------------ scoring
    def _images(self, X: Any) -> np.ndarray:
        """Face crops (N, s, s, 3) uint8 as (N, h, w, 3): resized (INTER_AREA) when they differ."""
        X = check_crops(X, "ONNXClassifier")
        h, w = self.input_hw_
        if X.shape[1:3] == (h, w) or len(X) == 0:
            return X
        return np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in X])

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB images (N, h, w, 3) -> the model's input tensor."""
        x = images.astype(np.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        x = (x * np.float32(self.scale) - mean) / std
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def _run(self, images: np.ndarray | CropSequence) -> np.ndarray:
        """Raw model outputs (N, K) float64, in batches the model's batch dimension allows;
        each batch is read (from a lazy `CropSequence`), resized and preprocessed on its own."""
        session = self._session()
        node = next(n for n in session.get_inputs() if n.name == self.input_name_)
        fixed = node.shape[0] if isinstance(node.shape[0], int) else None
        step = fixed or BATCH
        out = []
        for i in range(0, len(images), step):
            batch = self.preprocess(self._images(images[i : i + step])).astype(_DTYPES[node.type])
            n = len(batch)
            if fixed and n < fixed:  # a fixed batch size: pad the last batch, drop the padding
                batch = np.concatenate(
                    [batch, np.zeros((fixed - n, *batch.shape[1:]), batch.dtype)]
                )
            y = session.run([self.output_name_], {self.input_name_: batch})[0]
            out.append(np.asarray(y, np.float64).reshape(len(batch), -1)[:n])
        return np.concatenate(out) if out else np.empty((0, getattr(self, "n_outputs_", 1)))

    def decision_function(self, X: Any) -> np.ndarray:
        """Attack scores, shape (N,) float64: log-odds for logits, P(attack) for probabilities."""
        check_is_fitted(self, "model_sha256_")
        out = self._run(check_crops(X, "ONNXClassifier"))
        a, b = self.attack_index, self.bonafide_index
        if self.output == "probabilities":
            return out[:, a] if a is not None else 1.0 - out[:, b]
        if out.shape[1] == 1:
            return out[:, 0] if a is not None else -out[:, 0]
        k = a if a is not None else b
        others = logsumexp(np.delete(out, k, axis=1), axis=1)
        return out[:, k] - others if a is not None else others - out[:, k]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Columns [P(bona fide), P(attack)]."""
        s = self.decision_function(X)
        p = s if self.output == "probabilities" else 1.0 / (1.0 + np.exp(-s))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 (attack) where the attack score reaches `threshold_`, else 0."""
        return (self.decision_function(X) >= self.threshold_).astype("int64")
