"""The benchmark configuration: the shipped default TOML, a user file merged over it, --quick.

Validated before any work starts, so a typo in a method name or parameter fails at once with
the file and key, not after an hour of training.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from benchmarks.metrics import parse_criterion
from classifiers.registry import METHODS

DEFAULT_CONFIG = "default.toml"
_TOP_KEYS = {"methods", "protocol", "crop", "params", "quick", "ablations"}
_PROTOCOL_KEYS = {"folds", "seed", "criterion", "dev_fraction", "n_boot"}
_VARIANT_KEYS = {"label", "method", "params", "train_fraction", "seed_subset"}


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


@dataclass(frozen=True)
class Config:
    methods: tuple[str, ...]
    folds: int
    seed: int
    criterion: str
    dev_fraction: float
    n_boot: int
    crop_size: int
    crop_scale: float
    params: dict[str, dict[str, Any]]
    ablations: dict[str, Ablation]
    source: tuple[str, ...]

    def method_params(self, name: str) -> dict[str, Any]:
        return dict(self.params.get(name, {}))


def _merge(base: dict, over: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read(path: Path | str) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def _check_params(method: str, params: Mapping[str, Any], where: str) -> None:
    """Build the method once with `params`: an unknown name or parameter fails here, not mid-run."""
    if method not in METHODS:
        raise ConfigError(f"{where}: unknown method {method!r}; known: {', '.join(METHODS)}")
    try:
        METHODS[method].build(**params)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: method {method!r} with {dict(params)}: {e}") from None


def _variant(raw: Mapping[str, Any], where: str) -> Variant:
    unknown = sorted(set(raw) - _VARIANT_KEYS)
    if unknown or "method" not in raw:
        raise ConfigError(f"{where}: a variant needs 'method' and may have {sorted(_VARIANT_KEYS)}")
    params = dict(raw.get("params", {}))
    _check_params(raw["method"], params, where)
    fraction = raw.get("train_fraction")
    if fraction is not None and not 0 < fraction <= 1:
        raise ConfigError(f"{where}: train_fraction must be in (0, 1], got {fraction!r}")
    return Variant(
        label=str(raw.get("label", raw["method"])),
        method=raw["method"],
        params=params,
        train_fraction=fraction,
        seed_subset=raw.get("seed_subset"),
    )


def _keys(table: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    """`table` itself, after checking it is a table whose keys are all in `allowed`."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(allowed)}")
    return table


def _value(table: Mapping[str, Any], key: str, kind: type, where: str, low: float) -> Any:
    """table[key] as `kind` (int or float), at least `low`, or a ConfigError naming the key."""
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise ConfigError(f"{where} {key} must be a number >= {low}, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"{where} {key} must be a whole number, got {value!r}")
    return kind(value)


def _check_file(raw: Mapping[str, Any], where: str) -> None:
    """Refuse misspelt keys anywhere in one file, so a typo never passes silently."""
    _keys(raw, _TOP_KEYS, where)
    _keys(raw.get("protocol", {}), _PROTOCOL_KEYS, f"{where}: [protocol]")
    _keys(raw.get("crop", {}), {"size", "scale"}, f"{where}: [crop]")
    _keys(raw.get("quick", {}), _TOP_KEYS - {"quick", "ablations"}, f"{where}: [quick]")
    _keys(raw.get("quick", {}).get("protocol", {}), _PROTOCOL_KEYS, f"{where}: [quick.protocol]")
    ablations = raw.get("ablations", {})
    if not isinstance(ablations, Mapping):
        raise ConfigError(f"{where}: [ablations] must be a table of tables")
    for name, a in ablations.items():
        _keys(a, {"title", "variable", "variants"}, f"{where}: [ablations.{name}]")


def load_config(path: Path | str | None = None, quick: bool = False) -> Config:
    """The default config, with the file at `path` merged over it and then `[quick]` if asked."""
    raw = _read(files("benchmarks") / DEFAULT_CONFIG)
    _check_file(raw, "default")
    source = ["default"]
    if path is not None:
        user = _read(path)
        _check_file(user, str(path))
        raw = _merge(raw, user)
        source.append(str(path))
    if quick:
        raw = _merge(raw, raw.get("quick", {}))
        source.append("quick")
    where = " + ".join(source)
    protocol = raw["protocol"]
    try:
        parse_criterion(protocol["criterion"])
    except ValueError as e:
        raise ConfigError(f"{where}: [protocol] criterion: {e}") from None
    params = {k: dict(v) for k, v in raw.get("params", {}).items()}
    for name, p in params.items():
        _check_params(name, p, f"{where}: [params.{name}]")
    methods = tuple(raw["methods"])
    for name in methods:
        _check_params(name, {}, f"{where}: methods")
    ablations = {}
    for name, a in raw.get("ablations", {}).items():
        variants = tuple(
            _variant(v, f"{where}: [ablations.{name}] variant {i + 1}")
            for i, v in enumerate(a.get("variants", []))
        )
        if not variants:
            raise ConfigError(f"{where}: [ablations.{name}] has no variants")
        ablations[name] = Ablation(
            name, a.get("title", name), a.get("variable", "variant"), variants
        )
    dev_fraction = _value(protocol, "dev_fraction", float, f"{where}: [protocol]", 0)
    if not 0 < dev_fraction < 1:
        raise ConfigError(f"{where}: [protocol] dev_fraction must be in (0, 1), got {dev_fraction}")
    return Config(
        methods=methods,
        folds=_value(protocol, "folds", int, f"{where}: [protocol]", 2),
        seed=_value(protocol, "seed", int, f"{where}: [protocol]", 0),
        criterion=str(protocol["criterion"]),
        dev_fraction=dev_fraction,
        n_boot=_value(protocol, "n_boot", int, f"{where}: [protocol]", 1),
        crop_size=_value(raw["crop"], "size", int, f"{where}: [crop]", 8),
        crop_scale=_value(raw["crop"], "scale", float, f"{where}: [crop]", 0.1),
        params=params,
        ablations=ablations,
        source=tuple(source),
    )
