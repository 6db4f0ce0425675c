"""The benchmark configuration: the shipped default TOML, a user file merged over it, --quick.

Everything is checked before any work starts: every key is known, every protocol value lies in
the range the code supports, and every method the run will use (the listed methods, every
`[params.<method>]` table and every ablation variant) is built with its final parameters and
each of its steps validates them. A typo or an out-of-range value fails at once, naming the
file and the key, not after an hour of training.

Method parameters use the pipeline's own step names (`python -m benchmarks.run --list-params
NAME` lists them): ``[params.lbp-svm]`` ``features__P = 16``, ``clf__C = [1.0, 10.0]``,
``crop__detector = "thorough"``. ``[crop]`` sets the crop step of every method
(``size = 128`` means ``crop__size = 128`` wherever a pipeline has a crop step), under its
own ``[params]``. TOML arrays become tuples.

An external ONNX model is the method ``onnx:<name>``, specified by an ``[onnx.<name>]`` table:
`ONNXClassifier`'s parameters (``model_path``, relative to the config file's folder,
``input_size``, ``layout``, ...) and its crop (``crop_size``, default the model's input size,
``crop_scale``, ``crop_mode``, ``detector``). Every such table is built, validated and fitted
(which opens the model file and checks the spec against it) before any work.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from benchmarks.metrics import parse_criterion
from classifiers.fitting import estimators, needs_several_datasets
from classifiers.registry import EXTERNAL_PREFIX, build_method, get_method, known_names
from features.base import FeatureExtractor
from features.faces import FaceCropper

DEFAULT_CONFIG = "default.toml"
_TOP_KEYS = {"methods", "protocol", "crop", "params", "quick", "ablations", "onnx"}
_PROTOCOL_KEYS = {"folds", "seed", "criterion", "dev_fraction", "n_boot", "balance_datasets"}
_CROP_KEYS = {"size", "scale", "mode", "detector"}
_VARIANT_KEYS = {"label", "method", "params", "train_fraction", "seed_subset"}
_ONNX_KEYS = {
    "model_path",
    "input_size",
    "layout",
    "channel_order",
    "scale",
    "mean",
    "std",
    "output",
    "attack_index",
    "bonafide_index",
    "input_name",
    "output_name",
}
_ONNX_CROP_KEYS = {
    "crop_size": "size",
    "crop_scale": "scale",
    "crop_mode": "mode",
    "detector": "detector",
}
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit
DEV_FRACTION_RANGE = (0.05, 0.5)  # dev must leave most of each training part for training


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class Variant:
    """One point of an ablation: a method with parameters, optionally on a reduced training set."""

    label: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    train_fraction: float | None = None
    seed_subset: int | None = None


@dataclass(frozen=True)
class Ablation:
    name: str
    title: str
    variable: str
    variants: tuple[Variant, ...]

    def labelled(self) -> list[tuple[str, Variant]]:
        """Each variant with the name errors give it: "[ablations.<name>] variant <n>"."""
        return [(f"[ablations.{self.name}] variant {i}", v) for i, v in enumerate(self.variants, 1)]


@dataclass(frozen=True)
class Config:
    methods: tuple[str, ...]
    folds: int
    seed: int
    criterion: str
    dev_fraction: float
    n_boot: int
    balance_datasets: bool
    crop: dict[str, Any]
    params: dict[str, dict[str, Any]]
    ablations: dict[str, Ablation]
    source: tuple[str, ...]

    def method_params(self, name: str) -> dict[str, Any]:
        """The `[params.<name>]` entries (a copy)."""
        return dict(self.params.get(name, {}))

    def pipeline(self, name: str, extra: Mapping[str, Any] | None = None) -> Pipeline:
        """Method `name` built with `[crop]`, its `[params]` and then `extra` (a variant's)."""
        params = {**self.params, name: {**self.method_params(name), **(extra or {})}}
        return build_method(name, params, {f"crop__{k}": v for k, v in self.crop.items()})

    def check_ablations(self, names: list[str]) -> None:
        """ConfigError unless every variant of the ablations `names` can take its crops (the
        check left out when the config loaded); run before any work."""
        for name in names:
            for where, v in self.ablations[name].labelled():
                _build(self, v.method, v.params, f"{' + '.join(self.source)}: {where}")

    def union_only(self, ablations: Sequence[str] = ()) -> list[str]:
        """The listed methods, and the variants of the ablations `ablations`, that train a CNN
        domain-adversarially (`clf__domain_adversarial`), which needs every fit to see several
        datasets."""
        pipelines = {name: self.pipeline(name) for name in self.methods}
        for name in ablations:
            for where, v in self.ablations[name].labelled():
                pipelines[where] = self.pipeline(v.method, v.params)
        return [name for name, pipe in pipelines.items() if needs_several_datasets(pipe)]

    def _nested(self) -> list[BaseEstimator]:
        """Every estimator of the listed methods' pipelines, nested ones included."""
        return [est for name in self.methods for est in estimators(self.pipeline(name))]

    def crop_steps(self) -> list[BaseEstimator]:
        """The distinct crop steps of the listed methods (and their members), for the crop stage."""
        out: list[BaseEstimator] = []
        for est in self._nested():
            if isinstance(est, FaceCropper) and est.get_params() not in [
                o.get_params() for o in out
            ]:
                out.append(est)
        return out

    def feature_stages(self) -> list[tuple[FaceCropper, FeatureExtractor]]:
        """The distinct (crop, feature extractor) pairs of every pipeline in the listed methods,
        fusion members, per-source experts and the parts of a concatenation (a `FeatureUnion`)
        included: what the Dask feature stage fills."""
        out: list[tuple[FaceCropper, FeatureExtractor]] = []
        seen: list[tuple[dict, dict]] = []
        for est in self._nested():
            steps = est.named_steps if isinstance(est, Pipeline) else {}
            crop = steps.get("crop")
            if not isinstance(crop, FaceCropper):
                continue
            for extractor in estimators(steps.get("features")):
                key = (crop.get_params(), extractor.get_params())
                if isinstance(extractor, FeatureExtractor) and key not in seen:
                    seen.append(key)
                    out.append((crop, extractor))
        return out


def check_pipeline(pipe: BaseEstimator, crops: bool = True) -> None:
    """Validate the parameters of every step of `pipe`, nested ones included, then (`crops`)
    that what follows a crop step can take its crops (`check_crop_size`, the CNNs'); ValueError."""
    for est in estimators(pipe):
        validate = getattr(est, "_validate_params", None)
        own = any(  # the toolkit's own checks, inherited ones too; scikit-learn's need constraints
            "_validate_params" in vars(cls) for cls in type(est).__mro__ if cls is not BaseEstimator
        )
        if validate is not None and (hasattr(est, "_parameter_constraints") or own):
            validate()
    for est in estimators(pipe) if crops else ():
        crop = est.named_steps.get("crop") if isinstance(est, Pipeline) else None
        if isinstance(crop, FaceCropper):
            for step in estimators([s for name, s in est.steps if name != "crop"]):
                if hasattr(step, "check_crop_size"):
                    step.check_crop_size(crop.size)


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples, recursively (so settings hash and compare like code defaults)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read(path: Path | str | Traversable) -> dict:
    """A TOML file (a path, or the package's own file, which may sit inside a wheel)."""
    try:
        with (path if isinstance(path, Traversable) else Path(path)).open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a TOML config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (TOML files must be UTF-8)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None


def _keys(table: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    """`table` itself, after checking it is a table whose keys are all in `allowed`."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(allowed)}")
    return table


def _method_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
        raise ConfigError(
            f"{where}: methods must be a non-empty list of method names, got {value!r}"
        )
    twice = sorted({m for m in value if value.count(m) > 1})
    if twice:
        raise ConfigError(f"{where}: methods lists {twice} more than once")
    unknown = [m for m in value if not _known(m)]
    if unknown:
        raise ConfigError(f"{where}: unknown method(s) {unknown}; known: {known_names()}")
    return tuple(value)


def _known(name: str) -> bool:
    """A registered method, or a well-formed ``onnx:<name>`` or ``per-source:<method>``."""
    try:
        get_method(name)
    except ValueError:
        return False
    return True


def _onnx_tables(raw: Mapping[str, Any], folder: Path, where: str) -> dict[str, dict[str, Any]]:
    """One file's ``[onnx.<name>]`` tables as ``{"onnx:<name>": {clf__..., crop__...}}``."""
    tables = raw.get("onnx", {})
    if not isinstance(tables, Mapping) or not all(isinstance(t, Mapping) for t in tables.values()):
        raise ConfigError(f"{where}: [onnx] must hold tables [onnx.<name>] (one per model)")
    out = {}
    for name, table in tables.items():
        at = f"{where}: [onnx.{name}]"
        try:
            method = get_method(EXTERNAL_PREFIX + name).name
        except ValueError as e:
            raise ConfigError(f"{at}: {e}") from None
        _keys(table, _ONNX_KEYS | set(_ONNX_CROP_KEYS), at)
        if not isinstance(table.get("model_path"), str):
            raise ConfigError(f"{at}: model_path (the .onnx file) is required, as a string")
        params = {f"clf__{k}": v for k, v in table.items() if k in _ONNX_KEYS}
        params["clf__model_path"] = str((folder / table["model_path"]).absolute())
        params.update(
            {f"crop__{_ONNX_CROP_KEYS[k]}": v for k, v in table.items() if k in _ONNX_CROP_KEYS}
        )
        sizes = table.get("input_size")
        sizes = sizes if isinstance(sizes, list) else [sizes]
        if "crop_size" not in table and sizes and all(type(v) is int for v in sizes):
            params["crop__size"] = max(sizes)
        out[method] = _tuples(params)
    return out


def _check_onnx(
    method: str, params: dict[str, Any], crop: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """Build, validate and fit (check against its file) an external model's pipeline.

    Returns `params`, with ``crop__size`` set to the model's input size when the table gave none.
    """
    at = f"{where}: [onnx.{method[len(EXTERNAL_PREFIX) :]}]"
    pipe = build_method(method, {method: params}, {f"crop__{k}": v for k, v in crop.items()})
    try:
        pipe["crop"]._validate_params()
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"{at}: crop_size, crop_scale, crop_mode, detector ([crop]): {e}"
        ) from None
    try:
        clf = pipe["clf"].fit()
    except (TypeError, ValueError, ImportError) as e:
        raise ConfigError(f"{at}: {e}") from None
    return params if "crop__size" in params else {**params, "crop__size": max(clf.input_hw_)}


def _check_file(raw: Mapping[str, Any], where: str) -> None:
    """Refuse misspelt keys and wrong shapes anywhere in one file, so a typo never passes."""
    _keys(raw, _TOP_KEYS, where)
    _keys(raw.get("protocol", {}), _PROTOCOL_KEYS, f"{where}: [protocol]")
    _keys(raw.get("crop", {}), _CROP_KEYS, f"{where}: [crop]")
    quick = _keys(
        raw.get("quick", {}), _TOP_KEYS - {"quick", "ablations", "onnx"}, f"{where}: [quick]"
    )
    _keys(quick.get("protocol", {}), _PROTOCOL_KEYS, f"{where}: [quick.protocol]")
    _keys(quick.get("crop", {}), _CROP_KEYS, f"{where}: [quick.crop]")
    for scope, table in (("", raw), ("quick.", quick)):
        if "methods" in table:
            _method_list(table["methods"], f"{where}: {scope}methods")
        params = table.get("params", {})
        if not isinstance(params, Mapping) or not all(
            isinstance(v, Mapping) for v in params.values()
        ):
            raise ConfigError(f"{where}: [{scope}params] must hold tables [params.<method>]")
    ablations = raw.get("ablations", {})
    if not isinstance(ablations, Mapping):
        raise ConfigError(f"{where}: [ablations] must be a table of tables")
    for name, a in ablations.items():
        _keys(a, {"title", "variable", "variants"}, f"{where}: [ablations.{name}]")
        if not isinstance(a.get("variants", []), list):
            raise ConfigError(f"{where}: [ablations.{name}] variants must be a list of tables")


def _number(value: Any, kind: type, where: str, low: float, high: float) -> Any:
    """`value` as `kind` (int or float) within [low, high], or a ConfigError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{where} must be in [{low:g}, {high:g}], got {value!r}")
    return kind(value)


def _flag(table: Mapping[str, Any], key: str, where: str) -> bool:
    if not isinstance(table.get(key), bool):
        raise ConfigError(f"{where} {key} must be true or false, got {table.get(key)!r}")
    return table[key]


def _build(
    cfg: Config, method: str, extra: Mapping[str, Any], where: str, crops: bool = True
) -> None:
    """Build and validate `method` with its final parameters (and, with `crops`, check that it
    can take its crops), or raise ConfigError at `where`."""
    try:
        check_pipeline(cfg.pipeline(method, extra), crops)
    except (TypeError, ValueError) as e:
        named = str(e).startswith(f"method {method!r}")
        raise ConfigError(
            f"{where}: {e}" if named else f"{where}: method {method!r}: {e}"
        ) from None


def _external_spec(method: str, onnx: Mapping[str, Any], where: str) -> None:
    """ConfigError unless an ``onnx:<name>`` method has its ``[onnx.<name>]`` table."""
    if method.startswith(EXTERNAL_PREFIX) and method not in onnx:
        name = method[len(EXTERNAL_PREFIX) :]
        raise ConfigError(
            f"{where}: {method!r} needs its model spec, an [onnx.{name}] table "
            f"(model_path, input_size, layout, ...); there is none"
        )


def _variant(raw: Any, where: str) -> Variant:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: a variant must be a table, got {raw!r}")
    _keys(raw, _VARIANT_KEYS, where)
    if not isinstance(raw.get("method"), str) or not _known(raw["method"]):
        raise ConfigError(
            f"{where}: method must be one of {known_names()}, got {raw.get('method')!r}"
        )
    params = raw.get("params", {})
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: params must be a table, got {params!r}")
    fraction = raw.get("train_fraction")
    if fraction is not None:
        fraction = _number(fraction, float, f"{where}: train_fraction", 0.01, 1)
    return Variant(
        label=str(raw.get("label", raw["method"])),
        method=raw["method"],
        params=_tuples(dict(params)),
        train_fraction=fraction,
        seed_subset=raw.get("seed_subset"),
    )


def load_config(path: Path | str | None = None, quick: bool = False, **overrides: Any) -> Config:
    """The default config, the file at `path` merged over it, `[quick]` if asked, then `overrides`.

    `overrides` are command-line values (`methods`, `folds`, `seed`), checked like the file's.
    """
    raw = _read(files("benchmarks") / DEFAULT_CONFIG)
    _check_file(raw, "default")
    onnx = _onnx_tables(raw, Path(str(files("benchmarks"))), "default")
    source = ["default"]
    if path is not None:
        user = _read(path)
        _check_file(user, str(path))
        onnx.update(_onnx_tables(user, Path(path).parent, str(path)))
        raw = _merge(raw, user)
        source.append(str(path))
    if quick:
        raw = _merge(raw, raw.get("quick", {}))
        source.append("quick")
    where = " + ".join(source)
    protocol = raw["protocol"]
    for key in ("folds", "seed"):
        if overrides.get(key) is not None:
            protocol[key] = overrides[key]
    try:
        parse_criterion(protocol["criterion"])
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: [protocol] criterion: {e}") from None
    methods = raw["methods"] if overrides.get("methods") is None else list(overrides["methods"])
    params = {k: _tuples(dict(v)) for k, v in raw.get("params", {}).items()}
    for name, spec in onnx.items():
        params[name] = _check_onnx(
            name, {**params.get(name, {}), **spec}, raw.get("crop", {}), where
        )
    cfg = Config(
        methods=_method_list(methods, f"{where}: methods"),
        folds=_number(protocol["folds"], int, f"{where}: [protocol] folds", 2, 100),
        seed=_number(protocol["seed"], int, f"{where}: [protocol] seed", 0, MAX_SEED),
        criterion=str(protocol["criterion"]),
        dev_fraction=_number(
            protocol["dev_fraction"],
            float,
            f"{where}: [protocol] dev_fraction",
            *DEV_FRACTION_RANGE,
        ),
        n_boot=_number(protocol["n_boot"], int, f"{where}: [protocol] n_boot", 1, 100_000),
        balance_datasets=_flag(protocol, "balance_datasets", f"{where}: [protocol]"),
        crop=_tuples(dict(raw.get("crop", {}))),
        params=params,
        ablations={},
        source=tuple(source),
    )
    for name in cfg.params:
        if not _known(name):
            raise ConfigError(f"{where}: [params.{name}]: unknown method; known: {known_names()}")
        _external_spec(name, onnx, f"{where}: [params.{name}]")
        _build(cfg, name, {}, f"{where}: [params.{name}]")
    for name in cfg.methods:
        _external_spec(name, onnx, f"{where}: methods")
        _build(cfg, name, {}, f"{where}: methods")
    ablations = {}
    for name, a in raw.get("ablations", {}).items():
        variants = tuple(
            _variant(v, f"{where}: [ablations.{name}] variant {i + 1}")
            for i, v in enumerate(a.get("variants", []))
        )
        if not variants:
            raise ConfigError(f"{where}: [ablations.{name}] has no variants")
        labels = [v.label for v in variants]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{where}: [ablations.{name}] has two variants with one label")
        ablation = Ablation(name, a.get("title", name), a.get("variable", "variant"), variants)
        for label, v in ablation.labelled():  # crop sizes only when the ablation runs: a user's
            # [params] (a CNN's patch, say) flow into every variant, those of other ablations too
            _external_spec(v.method, onnx, f"{where}: {label}")
            _build(cfg, v.method, v.params, f"{where}: {label}", False)
        ablations[name] = ablation
    return replace(cfg, ablations=ablations)
