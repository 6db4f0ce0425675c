"""Transductive per-batch standardisation: statistics come from the scored batch; its rows are
labelled and never ranked in any report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from benchmarks import analysis
from benchmarks.report import write_comparison
from classifiers.registry import build_method, get_method
from classifiers.svm import TunedClassifier
from classifiers.transductive import BatchStandardiser


def test_transform_uses_the_statistics_of_the_batch_it_is_given():
    rng = np.random.default_rng(0)
    train = rng.normal(0.0, 1.0, (40, 3))
    test = rng.normal([5.0, -2.0, 0.0], [3.0, 0.5, 1.0], (30, 3))
    z = BatchStandardiser().fit(train).transform(test)
    np.testing.assert_allclose(z, (test - test.mean(0)) / test.std(0))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1.0)


def test_a_constant_feature_is_only_centred_and_tiny_batches_are_refused():
    X = np.column_stack([np.arange(12.0), np.full(12, 7.0)])
    z = BatchStandardiser().fit(X).transform(X)
    assert np.all(z[:, 1] == 0.0)
    with pytest.raises(ValueError, match="batch of 3 samples is too small"):
        BatchStandardiser().fit(X).transform(X[:3])
    with pytest.raises(ValueError, match="min_batch"):
        BatchStandardiser(min_batch=1).fit(X)


def test_scores_are_invariant_to_a_shift_and_scale_of_the_whole_scored_set():
    """A domain shift applied to every scored sample (a new camera's brightness, say) leaves the
    transductive pipeline's scores unchanged; the inductive one's change."""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    X = rng.normal(0.0, 1.0, (60, 5)) + y[:, None]
    test = rng.normal(0.0, 1.0, (40, 5)) + np.repeat([0, 1], 20)[:, None]
    shifted = 3.0 * test + 10.0
    clf = {"C": (1.0,), "gamma": (1.0,), "norm": None}
    adapted = Pipeline([("standardise", BatchStandardiser()), ("clf", TunedClassifier(**clf))])
    adapted.fit(X, y)
    np.testing.assert_allclose(
        adapted.decision_function(shifted), adapted.decision_function(test), atol=1e-9
    )
    inductive = TunedClassifier(**clf).fit(X, y)
    assert not np.allclose(inductive.decision_function(shifted), inductive.decision_function(test))


def test_the_registered_method_is_transductive_and_standardises_after_the_hellinger_map():
    assert get_method("colour-lbp-svm-transductive").family == "transductive"
    pipe = build_method("colour-lbp-svm-transductive")
    assert [name for name, _ in pipe.steps] == ["crop", "features", "norm", "standardise", "clf"]
    assert pipe["norm"].norm == "hellinger" and pipe["clf"].norm is None


def _row(name: str, family: str, acer: float) -> dict:
    return {
        "name": name,
        "family": family,
        "criterion": "eer",
        "threshold": 0.0,
        "apcer": {"print": acer},
        "apcer_max": acer,
        "bpcer": acer,
        "acer": acer,
        "eer": acer,
        "auc": 1 - acer,
    }


ROWS = [
    _row("colour-lbp-svm-transductive", "transductive", 0.02),
    _row("colour-lbp-svm", "handcrafted", 0.05),
    _row("livenessnet", "cnn", 0.08),
    _row("metadata-audit", "audit", 0.30),
]


def test_transductive_rows_are_shown_but_never_ranked_or_best():
    facts = analysis.analyse(ROWS)
    assert [r["name"] for r in facts["rows"]][0] == "colour-lbp-svm-transductive"  # by ACER
    assert facts["ranks"] == {"colour-lbp-svm": 1, "livenessnet": 2}
    assert facts["summary"]["best"] == "colour-lbp-svm"
    assert facts["summary"]["runner_up"] == "livenessnet"


def test_every_report_format_labels_the_transductive_row(tmp_path):
    files = write_comparison(tmp_path, ROWS)
    md = files["md"].read_text("utf-8")
    line = next(x for x in md.splitlines() if "colour-lbp-svm-transductive" in x)
    assert line.startswith("| transductive |") and "*colour-lbp-svm-transductive*" in line
    assert "**Best liveness method: colour-lbp-svm**" in md
    assert "family 'transductive'" in md
    tex = files["tex"].read_text("utf-8")
    assert r"\textit{colour-lbp-svm-transductive}" in tex
    doc = json.loads(files["json"].read_text("utf-8"))
    assert doc["summary"]["best"] == "colour-lbp-svm"
    html = (tmp_path / "report.html").read_text("utf-8")
    row = html[html.index('<tr class="transductive">') :].split("</tr>")[0]
    assert ">transductive</td>" in row and ">colour-lbp-svm-transductive</th>" in row
    assert html.count('<tr class="transductive">') == 1
