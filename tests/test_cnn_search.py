"""The CNN hyper-parameter search: candidates trained on train, judged on dev, never on test.

Trainings are tiny (32x32 crops, 2-3 epochs, under 100 images).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cnn import easy_set

from benchmarks.datasets import load_dataset
from benchmarks.harness import evaluate_method
from benchmarks.splits import Fold, group_ids
from classifiers.cnn.estimator import CNNClassifier
from classifiers.cnn.search import SEARCHABLE, CNNSearch, _resize, dev_score
from classifiers.persistence import load_model, save_model
from classifiers.registry import build_method


def tiny_cnn(**params) -> CNNClassifier:
    return CNNClassifier(**{"augment": False, "epochs": 3, "batch_size": 8, **params})


@pytest.fixture(scope="module")
def easy():
    X, y = easy_set(128)
    return {"train": (X[:96], y[:96]), "dev": (X[96:], y[96:])}


def test_the_dev_score_decides_and_a_broken_base_setting_is_not_kept(easy, tmp_path):
    # The base CNN cannot learn the stripes of `easy_set` (AUC far below 0.5 when tried);
    # the drawn setting can: it must win although the base comes first.
    base = tiny_cnn(learning_rate=0.9, dropout=0.9, width=0.05, fit_cache=False)
    good = {"learning_rate": [1e-3], "dropout": [0.5], "width": [1.0], "input_size": [16]}
    search = CNNSearch(base, space=good, n_candidates=2)
    search.fit(*easy["train"], dev=easy["dev"])
    own, drawn = search.search_results_
    assert own["learning_rate"] == 0.9 and own["input_size"] == 32  # the base CNN's, first
    assert drawn["dev_score"] > own["dev_score"]
    assert search.best_score_ == drawn["dev_score"]
    assert search.best_params_ == {k: drawn[k] for k in SEARCHABLE}
    assert search.variant_ == "lr=0.001 batch=8 dropout=0.5 width=1.0 input=16"
    # The kept network is the chosen one; its recorded score is its dev AUC, scoring the
    # 32x32 crops shrunk to the chosen 16x16.
    X_dev, y_dev = easy["dev"]
    assert search.cnn_.learning_rate == 1e-3 and search.cnn_.model_.input_shape[1] == 16
    assert search.best_score_ == dev_score(y_dev, search.decision_function(X_dev), "roc_auc")
    # The whole search is saved and loaded as any fitted method.
    saved = load_model(save_model(tmp_path / "m.skops", search, 0.0)).estimator
    np.testing.assert_array_equal(saved.decision_function(X_dev), search.decision_function(X_dev))
    assert saved.variant_ == search.variant_


def test_the_harness_records_the_chosen_settings_and_the_search_never_sees_test(
    seed_subset_dir, monkeypatch
):
    records = load_dataset(seed_subset_dir).records
    y = np.array([r.label for r in records])
    groups = group_ids(records)
    # Whole groups per part (the duplicate pair Spoof/193 = Spoof/200 is one group).
    order = np.argsort(groups, kind="stable")
    parts = {"test": [], "dev": [], "train": []}
    for label in (0, 1):
        idx = [i for i in order if y[i] == label]
        parts["test"] += idx[:5]
        parts["dev"] += idx[5:10]
        parts["train"] += idx[10:]
    assert not set(groups[parts["test"]]) & set(groups[parts["train"] + parts["dev"]])
    fold = Fold(0, parts["train"], parts["dev"], parts["test"])
    params = {
        "crop__size": 32,
        "clf__cnn__augment": False,
        "clf__cnn__epochs": 2,
        "clf__cnn__batch_size": 8,
        "clf__cnn__fit_cache": False,
        "clf__space": {"width": [0.5], "input_size": [16]},
        "clf__n_candidates": 2,
    }
    pipe = build_method("livenessnet-tuned", {"livenessnet-tuned": params})
    crops = pipe["crop"].transform(np.array(records, dtype=object))

    seen: list[np.ndarray] = []  # every crop the CNNs meet while the search fits
    fitting = [False]
    search_fit, cnn_fit, cnn_score = CNNSearch.fit, CNNClassifier.fit, CNNClassifier._run

    def spy_search_fit(self, X, y, dev=None, **kw):
        fitting[0] = True
        try:
            return search_fit(self, X, y, dev=dev, **kw)
        finally:
            fitting[0] = False

    def spy_fit(self, X, y, dev=None, **kw):
        if fitting[0]:
            seen.extend([X, dev[0]])
        return cnn_fit(self, X, y, dev=dev, **kw)

    def spy_run(self, net, X):
        if fitting[0]:
            seen.append(X)
        return cnn_score(self, net, X)

    monkeypatch.setattr(CNNSearch, "fit", spy_search_fit)
    monkeypatch.setattr(CNNClassifier, "fit", spy_fit)
    monkeypatch.setattr(CNNClassifier, "_run", spy_run)
    result = evaluate_method(pipe, records, [fold], "tuned", "cnn", progress=False, n_boot=50)

    (variant,) = result.variants
    assert variant in (
        "lr=0.001 batch=8 dropout=None width=1.0 input=32",
        "lr=0.001 batch=8 dropout=None width=0.5 input=16",
    )
    assert result.to_dict()["classifier_variant"] == variant
    sizes = {a.shape[1] for a in seen}
    assert sizes == {32, 16}  # both candidates trained and scored
    test_rows = {row.tobytes() for s in sizes for row in _resize(crops[fold.test], s)}
    known = {row.tobytes() for s in sizes for row in _resize(crops[fold.train], s)}
    known |= {row.tobytes() for s in sizes for row in _resize(crops[fold.dev], s)}
    seen_rows = {row.tobytes() for a in seen for row in a}
    assert seen_rows <= known and not seen_rows & test_rows


def test_candidates_are_seeded_and_start_with_the_base_settings():
    search = CNNSearch(tiny_cnn(), n_candidates=5, seed=3)
    first = search.candidates(64)
    assert first == search.candidates(64) and len(first) == 5
    assert first[0] == {
        "learning_rate": 1e-3,
        "batch_size": 8,
        "dropout": None,
        "width": 1.0,
        "input_size": 64,
    }
    assert len({tuple(c.values()) for c in first}) == 5  # no setting twice
    assert CNNSearch(tiny_cnn(), n_candidates=5, seed=4).candidates(64) != first
    # More candidates than settings: each setting once.
    small = CNNSearch(tiny_cnn(), space={"batch_size": [8, 16]}, n_candidates=9)
    assert [c["batch_size"] for c in small.candidates(32)] == [8, 16]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"space": {"momentum": [0.9]}}, "unknown setting.*momentum"),
        ({"space": {"learning_rate": 0.01}}, "space learning_rate: expected a non-empty list"),
        ({"space": {"learning_rate": [2.0]}}, "space learning_rate: learning_rate must be"),
        ({"space": {"width": [0]}}, "space width: width must be"),
        ({"space": {"input_size": [4]}}, "input_size: expected integers >= 8"),
        ({"n_candidates": 0}, "n_candidates must be"),
        ({"scoring": "accuracy"}, "scoring must be one of"),
    ],
)
def test_bad_search_settings_get_clear_errors(params, message):
    with pytest.raises(ValueError, match=message):
        CNNSearch(tiny_cnn(), **params)._validate_params()


def test_input_sizes_above_the_crop_and_a_missing_dev_set_are_refused(easy):
    with pytest.raises(ValueError, match=r"input_size \[48\] exceeds the 32x32 crops"):
        CNNSearch(tiny_cnn(), space={"input_size": [16, 48]}).candidates(32)
    # The default space keeps only its sizes that fit the crops.
    sizes = {c["input_size"] for c in CNNSearch(tiny_cnn(), n_candidates=81).candidates(48)}
    assert sizes == {32, 48}
    with pytest.raises(ValueError, match="judges its candidates on dev"):
        CNNSearch(tiny_cnn()).fit(*easy["train"])


def test_a_patch_based_base_keeps_only_input_sizes_bigger_than_its_patches():
    patched = tiny_cnn().set_params(patch=32)
    sizes = {c["input_size"] for c in CNNSearch(patched, n_candidates=81).candidates(64)}
    assert sizes == {48, 64}  # not 32, which a 32 px patch does not fit in
    with pytest.raises(ValueError, match=r"input_size \[32\] is not bigger than the CNN's 32 px"):
        CNNSearch(patched, space={"input_size": [32, 64]}).candidates(64)
    with pytest.raises(ValueError, match=r"patch \(32 px\) must be smaller than the crops"):
        CNNSearch(patched).check_crop_size(32)  # crops no bigger than the patches


def test_the_registered_search_starts_from_the_configured_livenessnet():
    pipe = build_method(
        "livenessnet-tuned",
        {"livenessnet": {"clf__epochs": 3, "crop__size": 48}, "livenessnet-tuned": {}},
    )
    assert pipe["crop"].size == 48
    assert pipe["clf"].cnn.architecture == "livenessnet" and pipe["clf"].cnn.epochs == 3
    assert pipe["clf"].candidates(48)[0]["input_size"] == 48
