"""The benchmark configuration: shipped default, a user TOML merged over it, --quick, and refusals.

Every refusal must be a `ConfigError` whose message names the file and the offending key, so a
typo fails before any work starts instead of after an hour of training.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from benchmarks.config import ConfigError, load_config
from classifiers.registry import METHODS


def _toml(tmp_path: Path, text: str, name: str = "user.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_config_names_only_registered_methods_and_a_usable_protocol():
    cfg = load_config()
    assert cfg.source == ("default",)
    assert cfg.methods and set(cfg.methods) <= set(METHODS)
    assert "metadata-audit" in cfg.methods  # the audit row is in every default table
    assert cfg.folds >= 2 and 0 < cfg.dev_fraction < 1 and cfg.n_boot > 0
    assert cfg.criterion == "eer"
    for ab in cfg.ablations.values():
        assert ab.variants and all(v.method in METHODS for v in ab.variants)


def test_user_file_is_merged_key_by_key_over_the_default(tmp_path):
    default = load_config()
    path = _toml(
        tmp_path,
        """
methods = ["metadata-audit", "lbp-lr"]
[protocol]
folds = 2
[params.lbp-svm]
P = 16
R = 2
[ablations.crop_size]
variants = [{ label = "32", method = "lbp-lr", params = { size = 32 } }]
""",
    )
    cfg = load_config(path)
    assert cfg.methods == ("metadata-audit", "lbp-lr")  # a list replaces the default list
    assert cfg.folds == 2
    # the other [protocol] keys keep their default values
    assert (cfg.seed, cfg.criterion, cfg.n_boot, cfg.dev_fraction) == (
        default.seed,
        default.criterion,
        default.n_boot,
        default.dev_fraction,
    )
    assert cfg.method_params("lbp-svm") == {"P": 16, "R": 2}
    assert cfg.method_params("lbp-lr") == {}
    # one ablation's variants replaced, its title and the other ablations kept
    assert [v.label for v in cfg.ablations["crop_size"].variants] == ["32"]
    assert cfg.ablations["crop_size"].title == default.ablations["crop_size"].title
    assert set(cfg.ablations) == set(default.ablations)
    assert cfg.source == ("default", str(path))


def test_method_params_is_a_copy():
    cfg = load_config()
    cfg.method_params("lbp-svm")["P"] = 99
    assert "P" not in cfg.method_params("lbp-svm")


def test_quick_means_fewer_folds_methods_and_bootstrap_resamples():
    full, quick = load_config(), load_config(quick=True)
    assert quick.source == ("default", "quick")
    assert 2 <= quick.folds < full.folds
    assert quick.n_boot < full.n_boot
    assert set(quick.methods) < set(full.methods)
    assert "metadata-audit" in quick.methods


def test_quick_trains_cnns_for_fewer_epochs():
    """`--quick` is documented as "fewer folds, methods and epochs" (run.py --help, issue 6)."""
    from classifiers.cnn.estimator import CNNClassifier

    default_epochs = inspect.signature(CNNClassifier).parameters["epochs"].default
    quick = load_config(quick=True)
    cnns = [m for m in quick.methods if METHODS[m].family == "cnn"]
    assert cnns, "the quick comparison should still hold a CNN"
    for name in cnns:
        epochs = quick.method_params(name).get("epochs", default_epochs)
        assert epochs < default_epochs, f"--quick trains {name} for all {epochs} epochs"


def test_quick_is_merged_after_the_user_file(tmp_path):
    path = _toml(tmp_path, "[protocol]\nfolds = 4\n[quick.protocol]\nfolds = 2\n")
    assert load_config(path).folds == 4
    assert load_config(path, quick=True).folds == 2
    assert load_config(path, quick=True).source == ("default", str(path), "quick")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("metods = ['lbp-svm']\n", ["metods"]),
        ("[protocol]\nfold = 2\n", ["[protocol]", "fold"]),
        ("methods = ['lbp-svm', 'nosuch-method']\n", ["methods", "nosuch-method"]),
        ("[params.lbp-svm]\nPP = 3\n", ["[params.lbp-svm]", "PP"]),
        ("[params.livenessnet]\nepoch = 1\n", ["[params.livenessnet]", "epoch"]),
        ("[params.lbp-svm]\ndetector = 'yunet'\n", ["[params.lbp-svm]", "detector", "yunet"]),
        ("[params.nosuch]\nP = 3\n", ["[params.nosuch]", "nosuch"]),
        ("[protocol]\ncriterion = 'median'\n", ["criterion", "median"]),
        (
            "[ablations.x]\nvariants = [{ method = 'lbp-svm', parms = { P = 8 } }]\n",
            ["[ablations.x] variant 1", "method"],
        ),
        ("[ablations.x]\nvariants = [{ label = 'a' }]\n", ["[ablations.x] variant 1", "method"]),
        (
            "[ablations.x]\nvariants = [{ method = 'lbp-svm', train_fraction = 0 }]\n",
            ["[ablations.x] variant 1", "train_fraction"],
        ),
        (
            "[ablations.x]\nvariants = [{ method = 'lbp-svm', params = { radius = 2 } }]\n",
            ["[ablations.x] variant 1", "radius"],
        ),
        ("[ablations.x]\ntitle = 'empty'\n", ["[ablations.x]", "no variants"]),
    ],
)
def test_bad_keys_and_values_are_refused_naming_file_and_key(tmp_path, text, names):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert str(path) in message
    for name in names:
        assert name in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[crop]\nsise = 32\n", "sise"),
        ("[ablations.crop_size]\ntitel = 'Crop size'\n", "titel"),
        ("[quick]\nmethod = ['lbp-svm']\n", "method"),
    ],
)
def test_unknown_keys_in_other_tables_are_refused_too(tmp_path, text, key):
    """A misspelt key anywhere must fail, not be silently ignored (the module's promise)."""
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError, match=key):
        load_config(path)


@pytest.mark.parametrize(
    "text",
    [
        "[protocol]\nfolds = 'two'\n",
        "[crop]\nsize = 'big'\n",
        "[protocol]\nn_boot = [1000]\n",
    ],
)
def test_values_of_the_wrong_type_are_a_config_error(tmp_path, text):
    """A wrong type is a typo like any other: ConfigError (exit 2 in the CLI), not a traceback."""
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


def test_bad_toml_names_the_file(tmp_path):
    path = _toml(tmp_path, "[protocol\nfolds = 2\n")
    with pytest.raises(ConfigError, match="not valid TOML") as e:
        load_config(path)
    assert str(path) in str(e.value)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="not found") as e:
        load_config(path)
    assert str(path) in str(e.value)
