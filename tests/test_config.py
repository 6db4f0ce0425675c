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
features__P = 16
features__R = 2
[ablations.crop_size]
variants = [{ label = "32", method = "lbp-lr", params = { crop__size = 32 } }]
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
    assert cfg.method_params("lbp-svm") == {"features__P": 16, "features__R": 2}
    assert cfg.pipeline("lbp-svm")["features"].P == 16
    assert cfg.method_params("lbp-lr") == {}
    # one ablation's variants replaced, its title and the other ablations kept
    assert [v.label for v in cfg.ablations["crop_size"].variants] == ["32"]
    assert cfg.ablations["crop_size"].title == default.ablations["crop_size"].title
    assert set(cfg.ablations) == set(default.ablations)
    assert cfg.source == ("default", str(path))


def test_method_params_is_a_copy():
    cfg = load_config()
    cfg.method_params("lbp-svm")["features__P"] = 99
    assert "features__P" not in cfg.method_params("lbp-svm")


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
        epochs = quick.pipeline(name)["clf"].epochs
        assert epochs < default_epochs, f"--quick trains {name} for all {epochs} epochs"
    # a fusion's CNN member is the configured livenessnet, so it trains as briefly
    fusion = quick.pipeline("fusion-zmean")["fusion"]
    assert dict(fusion.estimators)["livenessnet"]["clf"].epochs < default_epochs


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
        ("[params.lbp-svm]\nfeatures__PP = 3\n", ["[params.lbp-svm]", "features__PP"]),
        ("[params.lbp-svm]\nP = 3\n", ["[params.lbp-svm]", "P", "features__P"]),
        ("[params.livenessnet]\nclf__epoch = 1\n", ["[params.livenessnet]", "clf__epoch"]),
        ("[params.lbp-svm]\ncrop__detector = 'yunet'\n", ["[params.lbp-svm]", "detector", "yunet"]),
        ("[params.nosuch]\nfeatures__P = 3\n", ["[params.nosuch]", "nosuch"]),
        ("[params.lbp-svm]\nfeatures__P = -8\n", ["[params.lbp-svm]", "P", "-8"]),
        ("[params.lbp-svm]\nfeatures__P = 'eight'\n", ["[params.lbp-svm]", "P", "eight"]),
        ("[params.livenessnet]\nclf__epochs = -1\n", ["[params.livenessnet]", "epochs"]),
        ("[params.seed-cnn]\nclf__patch = 32\n", ["[params.seed-cnn]", "at least 46"]),
        ("[params.livenessnet]\nclf__patch = '32'\n", ["[params.livenessnet]", "integer >= 8"]),
        (
            "[params.livenessnet-tuned]\nclf__n_candidates = 0\n",
            ["[params.livenessnet-tuned]", "n_candidates must be"],
        ),
        (
            "[params.livenessnet]\nclf__patch = 64\n",
            ["[params.livenessnet]", "patch (64 px) must be smaller than the crops (64 px)"],
        ),
        ("[params.fusion-zmean]\nfusion__method = 'max'\n", ["[params.fusion-zmean]", "max"]),
        (
            "[params.'per-source:lbp-svm']\nsources__method = 'max'\n",
            ["[params.per-source:lbp-svm]", "max"],
        ),
        ("[params.'per-source:nosuch']\nsources__C = 1.0\n", ["per-source:nosuch", "<method>"]),
        ("[crop]\nscale = 100\n", ["scale", "100"]),
        ("[protocol]\ndev_fraction = 0.99\n", ["dev_fraction", "0.99"]),
        ("[protocol]\nseed = -1\n", ["seed", "-1"]),
        ("[protocol]\nseed = 4294967296\n", ["seed", "4294967296"]),
        ("methods = []\n", ["methods"]),
        ("methods = 5\n", ["methods", "5"]),
        ("params = 3\n", ["params"]),
        ("methods = ['lbp-svm', 'lbp-lr', 'lbp-svm']\n", ["methods", "lbp-svm", "more than once"]),
        ("[protocol]\ncriterion = 'median'\n", ["criterion", "median"]),
        (
            "[ablations.x]\nvariants = [{ method = 'lbp-svm', parms = { features__P = 8 } }]\n",
            ["[ablations.x] variant 1", "method"],
        ),
        ("[ablations.x]\nvariants = [{ label = 'a' }]\n", ["[ablations.x] variant 1", "method"]),
        (
            "[ablations.x]\nvariants = [{ method = 'lbp-svm', train_fraction = 0 }]\n",
            ["[ablations.x] variant 1", "train_fraction"],
        ),
        (
            "[ablations.x]\n"
            "variants = [{ method = 'lbp-svm', params = { features__radius = 2 } }]\n",
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


def test_a_file_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("# caf\xe9\n[protocol]\nfolds = 2\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8") as e:
        load_config(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"seed": -1}, "seed"),
        ({"folds": 1}, "folds"),
        ({"methods": ["lbp-svm", "lbp-svm"]}, "more than once"),
        ({"methods": ["nope"]}, "nope"),
    ],  # fmt: skip
)
def test_command_line_values_are_checked_like_the_files(overrides, key):
    with pytest.raises(ConfigError, match=key):
        load_config(**overrides)


def test_every_method_an_ablation_uses_is_built_and_validated_up_front(tmp_path):
    """A bad value deep in a variant fails when the config is read, not mid-run."""
    text = "[ablations.x]\nvariants = [{ method = 'livenessnet', params = { crop__size = 2 } }]\n"
    with pytest.raises(ConfigError, match="variant 1.*size"):
        load_config(_toml(tmp_path, text))


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="not found") as e:
        load_config(path)
    assert str(path) in str(e.value)


def test_feature_stages_reach_fusion_members_and_per_source_experts_once_each(tmp_path):
    methods = ["fusion-stacking", "per-source:lbp-svm", "lbp-svm", "livenessnet", "lpq-svm"]
    cfg = load_config(methods=[*methods, "colour-texture-svm"])
    stages = [(type(c).__name__, c.size, type(f).__name__) for c, f in cfg.feature_stages()]
    # colour-LBP inside the fusion; LBP of the per-source experts and of lbp-svm, one stage;
    # LPQ once; the parts of colour-texture's concatenation (its colour LBP and LPQ seen before)
    assert stages == [
        ("FaceCropper", 64, "ColourLBP"),
        ("FaceCropper", 64, "LBPHistogram"),
        ("FaceCropper", 64, "LPQ"),
        ("FaceCropper", 64, "CoALBP"),
    ]
    user = tmp_path / "p16.toml"
    user.write_text("[params.lbp-svm]\nfeatures__P = 16\n", encoding="utf-8")
    both = load_config(user, methods=["lbp-svm", "per-source:lbp-svm"]).feature_stages()
    assert [f.P for _, f in both] == [16]  # the configured parameters, in the expert too


def test_small_crops_leave_the_default_ablations_valid(tmp_path):
    # the patch ablation pins its crop sizes: 32 px crops elsewhere do not make its patches too big
    cfg = load_config(_toml(tmp_path, "[crop]\nsize = 32\n"))
    patches = cfg.ablations["cnn_patches"].variants
    assert [v.params["crop__size"] for v in patches] == [64, 64, 96, 96]
    assert cfg.pipeline("livenessnet")["crop"].size == 32


def test_a_patch_is_checked_against_the_crops_of_the_ablations_that_run_only(tmp_path):
    cfg = load_config(_toml(tmp_path, "[params.livenessnet]\nclf__patch = 32\n"))
    assert cfg.pipeline("livenessnet")["clf"].patch == 32  # the README's example loads
    cfg.check_ablations(["cnn_patches", "cnn_colour"])  # 64 px crops there
    with pytest.raises(ConfigError, match=r"\[ablations.cnn_input\] variant 2: .*patch \(32 px\)"):
        cfg.check_ablations(["cnn_input"])  # its 32 px variant inherits the patch
