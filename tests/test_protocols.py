"""The transfer protocols on small real subsets: each method fitted once per training set, every
test set judged at the training set's dev threshold, the matrix, leave-one-out, video level."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import benchmarks.harness
from benchmarks.evaluate import main as evaluate_main
from benchmarks.run import main
from benchmarks.scores import read_scores
from benchmarks.transfer import dataset_weights, tag
from classifiers.fusion import SourceEnsemble
from features.records import Dataset, Presentation

FAST = """
[protocol]
n_boot = 50
folds = 3
[params.lbp-lr]
clf__C = [1.0]
clf__inner_splits = 2
"""
METHODS = ("metadata-audit", "lbp-lr")


@pytest.fixture(scope="module")
def replay_subset(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replay-Attack's official tree with a few of its real video folders (symlinks)."""
    source = replay_dir
    root = tmp_path_factory.mktemp("replay") / "replay-mini"
    for split in ("train", "devel", "test"):
        real = sorted((source / split / "real").iterdir())[:4]
        (root / split / "real").mkdir(parents=True)
        for v in real:
            (root / split / "real" / v.name).symlink_to(v)
        for support in ("fixed", "hand"):
            folder = root / split / "attack" / support
            folder.mkdir(parents=True)
            for v in sorted((source / split / "attack" / support).iterdir())[::40][:3]:
                (folder / v.name).symlink_to(v)
    return root


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "fast.toml"
    path.write_text(FAST)
    return path


def run(*argv: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse refusals
            code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the fits of every method (one per call of the harness's fit_on)."""
    calls: list[int] = []
    real = benchmarks.harness.fit_on

    def counting(estimator, X, *args, **kwargs):
        calls.append(len(X))
        return real(estimator, X, *args, **kwargs)

    monkeypatch.setattr(benchmarks.harness, "fit_on", counting)
    return calls


def test_train_once_scores_every_test_set(tmp_path, seed_subset_dir, nuaa_subset_dir,
                                          replay_subset, config, fits):  # fmt: skip
    out = tmp_path / "out"
    code, _, err = run("--train-data", seed_subset_dir, "--test-data", nuaa_subset_dir,
                       replay_subset, "--methods", *METHODS, "--config", config, "--out", out,
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert len(fits) == len(METHODS)  # one fit per method, not one per test set
    for name in ("nuaa-subset", "replay-mini"):
        doc = json.loads((out / f"seed600-subset-to-{name}" / "comparison.json").read_text())
        assert [m["name"] for m in doc["methods"]] == ["lbp-lr", "metadata-audit"]
    # both test sets were judged at the one dev threshold of the one fit
    thresholds = {
        json.loads((out / f"seed600-subset-to-{n}" / "comparison.json").read_text())["methods"][0][
            "threshold"
        ]
        for n in ("nuaa-subset", "replay-mini")
    }
    assert len(thresholds) == 1


def test_cross_matrix(tmp_path, seed_subset_dir, nuaa_subset_dir, config, fits):
    out = tmp_path / "cross"
    code, stdout, err = run("--cross", seed_subset_dir, nuaa_subset_dir, "--methods", *METHODS,
                            "--config", config, "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    assert len(fits) == 2 * len(METHODS)  # once per method and training dataset
    names = ["seed600-subset", "nuaa-subset"]
    matrix = json.loads((out / "matrix.json").read_text())
    assert matrix["datasets"] == names
    for m in METHODS:
        assert np.isfinite(np.array(matrix["matrices"][m]["hter"])).all()
        assert (out / f"matrix_{m}.png").stat().st_size > 1000
    # one score file per method and training set: the training set's dev rows and every tested
    # row; a cell is judged on the test rows of its dataset (`python -m benchmarks.evaluate`
    # can re-read the file)
    fitted = read_scores(out / "train-seed600-subset" / "scores" / "lbp-lr.csv")
    test_ids = fitted.sample_id[fitted.split == "test"].astype(str)
    assert all(i.startswith("seed600-subset/") for i in fitted.sample_id[fitted.split == "dev"])
    n_nuaa = sum(i.startswith("nuaa-subset/") for i in test_ids)
    n_own = sum(i.startswith("seed600-subset/") for i in test_ids)  # the diagonal: own test part
    assert n_nuaa == 20 and n_own + n_nuaa == len(test_ids) and 0 < n_own < 50

    def tested(cell: str) -> int:
        doc = json.loads((out / cell / "comparison.json").read_text())
        row = next(m for m in doc["methods"] if m["name"] == "lbp-lr")
        assert row["score_file"] == str(out / "train-seed600-subset" / "scores" / "lbp-lr.csv")
        return row["n_bonafide"] + row["n_attack"]

    assert tested("seed600-subset-to-nuaa-subset") == n_nuaa
    assert tested("seed600-subset-to-seed600-subset") == n_own
    assert "Summary: how well each method transfers" in (out / "matrix.md").read_text()
    page = (out / "report.html").read_text()  # the matrix as one self-contained page
    assert '<th scope="col">mean off-diagonal HTER (%)</th>' in page
    assert page.count('src="data:image/png;base64,') == len(METHODS)
    assert "http" not in page.replace("http-equiv", "")


def test_leave_one_out_trains_on_the_others_with_balanced_weights(
    tmp_path, seed_subset_dir, nuaa_subset_dir, replay_subset, config, fits
):
    out = tmp_path / "loo"
    code, _, err = run("--leave-one-out", seed_subset_dir, nuaa_subset_dir, replay_subset,
                       "--methods", *METHODS, "--config", config, "--out", out,
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert len(fits) == 3 * len(METHODS)
    doc = json.loads((out / "leave_one_out.json").read_text())
    assert doc["held_out"] == ["seed600-subset", "nuaa-subset", "replay-mini"]
    assert "held out: replay-mini" in (out / "report.html").read_text()
    assert {r["method"] for r in doc["rows"]} == set(METHODS)
    # trained on seed600 + nuaa, tested on all of replay-mini and nothing else
    cell = read_scores(out / "without-replay-mini" / "scores" / "lbp-lr.csv")
    assert {i.split("/")[0] for i in cell.sample_id[cell.split == "test"]} == {"replay-mini"}
    assert {i.split("/")[0] for i in cell.sample_id[cell.split == "dev"]} <= {
        "seed600-subset",
        "nuaa-subset",
    }


def test_single_sources_pair_each_union_with_each_of_its_sources_alone(
    tmp_path, seed_subset_dir, nuaa_subset_dir, replay_subset, config, fits
):
    out = tmp_path / "loo"
    code, _, err = run("--leave-one-out", seed_subset_dir, nuaa_subset_dir, replay_subset,
                       "--single-sources", "--methods", *METHODS, "--config", config,
                       "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    assert len(fits) == 2 * 3 * len(METHODS)  # three unions and three single sources
    # trained and thresholded on NUAA alone, tested on the other two
    alone = read_scores(out / "only-nuaa-subset" / "scores" / "lbp-lr.csv")
    assert {i.split("/")[0] for i in alone.sample_id[alone.split == "dev"]} == {"nuaa-subset"}
    tested = {i.split("/")[0] for i in alone.sample_id[alone.split == "test"]}
    assert tested == {"seed600-subset", "replay-mini"}
    doc = json.loads((out / "leave_one_out.json").read_text())
    pairs = doc["single_source"]
    assert {p["a"] for p in pairs} == {"lbp-lr"}  # the audit row is not paired
    assert sorted((p["held_out"], p["source"]) for p in pairs) == sorted(
        (d, s) for d in doc["held_out"] for s in doc["held_out"] if s != d
    )
    union = {r["method"]: r for r in doc["rows"]}["lbp-lr"]["acer"]
    for p in pairs:
        cell = out / f"{p['source']}-to-{p['held_out']}" / "comparison.json"
        single = {m["name"]: m for m in json.loads(cell.read_text())["methods"]}["lbp-lr"]
        assert p["value_b"] == pytest.approx(single["acer"])
        assert p["value_a"] == pytest.approx(union[p["held_out"]])
        assert p["difference"] == pytest.approx(p["value_a"] - p["value_b"])
        assert p["verdict"] in ("union better", f"{p['source']} alone better", "within noise")
    text = (out / "leave_one_out.md").read_text()
    assert "## Multi-source training: the union against each of its sources alone" in text
    assert "| replay-mini | lbp-lr | seed600-subset |" in text


TRANSDUCTIVE = FAST + (
    "[params.colour-lbp-svm-transductive]\nclf__C = [1.0]\nclf__gamma = [1.0]\n"
    "clf__inner_splits = 2\nstandardise__min_batch = 2\n"  # the subsets' dev sets are tiny
)


def test_each_test_dataset_is_scored_on_its_own(tmp_path, seed_subset_dir, nuaa_subset_dir,
                                                replay_subset):  # fmt: skip
    """A transductive method standardises a test dataset by its own statistics, whichever other
    datasets the same fit also scores: NUAA's scores do not depend on Replay-Attack's presence."""
    cfg = tmp_path / "fast.toml"
    cfg.write_text(TRANSDUCTIVE)
    method = "colour-lbp-svm-transductive"
    scores = {}
    for tests in ([nuaa_subset_dir], [nuaa_subset_dir, replay_subset]):
        out = tmp_path / f"out{len(tests)}"
        code, _, err = run("--train-data", seed_subset_dir, "--test-data", *tests, "--methods",
                           method, "--config", cfg, "--out", out, "--no-progress")  # fmt: skip
        assert code == 0, err
        table = (
            read_scores(out / "scores" / f"{method}.csv")
            if len(tests) == 1
            else read_scores(
                out / "seed600-subset-to-nuaa-subset+replay-mini" / "scores" / f"{method}.csv"
            )
        )
        nuaa = np.char.startswith(table.sample_id.astype(str), "nuaa-subset/")
        scores[len(tests)] = dict(zip(table.sample_id[nuaa], table.score[nuaa], strict=True))
    assert scores[1].keys() == scores[2].keys() and len(scores[1]) == 20  # all of nuaa-subset
    np.testing.assert_allclose([scores[2][k] for k in scores[1]], list(scores[1].values()))


def test_training_weights_balance_the_training_datasets_alone(
    tmp_path, seed_subset_dir, nuaa_subset_dir, replay_subset, config, monkeypatch
):
    """Each training dataset of a union carries the same total weight and the union's records
    have mean weight 1, however large the held-out dataset (its records are never weighted)."""
    seen = []
    real = benchmarks.harness.fit_on

    def recording(estimator, X, y, dev, weights):
        union = np.array([r.extra["dataset"] for r in [*X, *dev[0]]])  # train + dev
        seen.append((union[: len(X)], union, weights))
        return real(estimator, X, y, dev, weights)

    monkeypatch.setattr(benchmarks.harness, "fit_on", recording)
    code, _, err = run("--leave-one-out", seed_subset_dir, nuaa_subset_dir, replay_subset,
                       "--methods", "lbp-lr", "--config", config, "--out", tmp_path / "loo",
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert len(seen) == 3
    for names, union, weights in seen:
        assert len(set(union)) == 2
        for name in set(union):  # N / (2 n_d): the union's records weigh 1 on average
            expected = len(union) / (2 * np.sum(union == name))
            assert weights[names == name] == pytest.approx(expected)


def test_dataset_weights_give_every_dataset_the_same_total():
    def records(name: str, n: int) -> Dataset:
        recs = [Presentation(f"{i}", Path(f"/x/{i}"), i % 2, f"{name}{i}") for i in range(n)]
        return tag(Dataset(name, Path("/x"), "folders", recs))

    recs = records("a", 30).records + records("b", 90).records
    w = dataset_weights(recs)
    assert w[:30].sum() == pytest.approx(w[30:].sum()) and w.mean() == pytest.approx(1.0)
    assert recs[0].id == "a/0" and recs[30].id == "b/0"  # tagged: no shared sample ids


def test_replay_attack_gets_frame_and_video_level_tables(tmp_path, replay_subset, config):
    out = tmp_path / "replay"
    code, _, err = run("--data", replay_subset, "--methods", *METHODS, "--config", config,
                       "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    frames = json.loads((out / "comparison.json").read_text())
    videos = json.loads((out / "video" / "comparison.json").read_text())
    assert "video level" in videos["provenance"]["level"]
    n_frames = frames["methods"][0]["n_bonafide"] + frames["methods"][0]["n_attack"]
    n_videos = videos["methods"][0]["n_bonafide"] + videos["methods"][0]["n_attack"]
    assert n_frames == 5 * n_videos == 5 * 10  # the official test part: 4 real + 6 attack videos
    video_scores = read_scores(out / "video" / "scores" / "lbp-lr.csv")
    assert len(set(video_scores.sample_id[video_scores.split == "test"])) == 10


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cross", "{a}"], "at least two"),
        (["--leave-one-out", "{a}"], "at least two"),
        (["--cross", "{a}", "{a}"], "twice"),
        (["--cross", "{a}", "{b}", "--data", "{a}"], "exclude each other"),
        (["--cross", "{a}", "/nonexistent/data"], "no such dataset"),
        (["--leave-one-out", "{a}", "{b}", "--single-sources"], "at least three datasets"),
        (["--cross", "{a}", "{b}", "--single-sources"], "goes with --leave-one-out"),
    ],
)
def test_bad_protocol_requests_fail_before_any_work(
    tmp_path, seed_subset_dir, nuaa_subset_dir, config, argv, message
):
    out = tmp_path / "out"
    args = [a.format(a=seed_subset_dir, b=nuaa_subset_dir) for a in argv]
    code, _, err = run(*args, "--methods", *METHODS, "--config", config, "--out", out)
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_training_on_several_datasets_at_once(tmp_path, seed_subset_dir, nuaa_subset_dir,
                                              replay_subset, config, fits):  # fmt: skip
    out = tmp_path / "multi"
    code, _, err = run("--train-data", seed_subset_dir, nuaa_subset_dir, "--test-data",
                       replay_subset, "--methods", "lbp-lr", "--config", config, "--out", out,
                       "--no-progress")  # fmt: skip
    assert code == 0, err
    assert len(fits) == 1
    scores = read_scores(out / "scores" / "lbp-lr.csv")
    dev_sets = {i.split("/")[0] for i in scores.sample_id[scores.split == "dev"]}
    assert dev_sets == {"seed600-subset", "nuaa-subset"}  # dev carved from every source
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["methods"][0]["n_bonafide"] + doc["methods"][0]["n_attack"] == 150  # all of it


def test_a_per_source_ensemble_fits_one_expert_per_training_dataset(
    tmp_path, seed_subset_dir, nuaa_subset_dir, replay_subset, config, monkeypatch
):
    """`per-source:lbp-lr` through leave-one-out: each union's two datasets get an expert each."""
    experts = []
    real = SourceEnsemble.fit

    def recording(self, X, y, dev=None, groups=None, sample_weight=None):
        fitted = real(self, X, y, dev=dev, groups=groups, sample_weight=sample_weight)
        experts.append(sorted(name for name, _ in fitted.estimators_))
        return fitted

    monkeypatch.setattr(SourceEnsemble, "fit", recording)
    out = tmp_path / "loo"
    code, _, err = run("--leave-one-out", seed_subset_dir, nuaa_subset_dir, replay_subset,
                       "--methods", "lbp-lr", "per-source:lbp-lr", "--config", config,
                       "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    held_out = ["seed600-subset", "nuaa-subset", "replay-mini"]
    assert sorted(experts) == sorted(sorted(set(held_out) - {d}) for d in held_out)
    doc = json.loads((out / "leave_one_out.json").read_text())
    assert {r["method"] for r in doc["rows"]} == {"lbp-lr", "per-source:lbp-lr"}
    cell = read_scores(out / "without-nuaa-subset" / "scores" / "per-source:lbp-lr.csv")
    assert {i.split("/")[0] for i in cell.sample_id[cell.split == "test"]} == {"nuaa-subset"}
    assert np.isfinite(cell.score).all()


ABLATION = """
[ablations.lbp_scale]
variants = [
  { label = "(8,1)", method = "lbp-lr", params = { features__P = 8, features__R = 1 } },
  { label = "(8,2)", method = "lbp-lr", params = { features__P = 8, features__R = 2 } },
]
"""


def test_an_ablation_runs_on_a_train_test_pair(tmp_path, seed_subset_dir, nuaa_subset_dir):
    """Does a technique transfer? Its variants are judged on the other dataset, paired."""
    cfg = tmp_path / "ablation.toml"
    cfg.write_text(FAST + ABLATION)
    out = tmp_path / "out"
    code, stdout, err = run("--train-data", seed_subset_dir, "--test-data", nuaa_subset_dir,
                            "--methods", "lbp-lr", "--ablation", "lbp_scale", "--config", cfg,
                            "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    doc = json.loads((out / "ablations" / "ablation_lbp_scale.json").read_text())
    main_row = json.loads((out / "comparison.json").read_text())["methods"][0]
    default = next(r for r in doc["variants"] if r["name"] == "(8,1)")  # lbp-lr's own P, R
    assert default["acer"] == pytest.approx(main_row["acer"])  # tested on NUAA, as the main row
    assert doc["comparisons"][0]["a"] == "(8,2)"
    # every test row of the variants' score files is a NUAA presentation
    scores = read_scores(out / "ablations" / "lbp_scale" / "scores" / "8_2.csv")
    assert all(i.startswith("nuaa-subset/") for i in scores.sample_id[scores.split == "test"])


def test_an_ablation_is_refused_with_several_test_sets(tmp_path, seed_subset_dir, nuaa_subset_dir,
                                                       replay_subset):  # fmt: skip
    code, _, err = run("--train-data", seed_subset_dir, "--test-data", nuaa_subset_dir,
                       replay_subset, "--ablation", "lbp_scale", "--out", tmp_path)  # fmt: skip
    assert code == 2 and "--ablation runs on one dataset" in err


def test_leave_one_out_never_ranks_audit_or_transductive_rows(
    tmp_path, seed_subset_dir, nuaa_subset_dir, capsys
):
    cfg = tmp_path / "fast.toml"
    cfg.write_text(
        FAST + "[params.colour-lbp-svm-transductive]\nclf__C = [1.0]\nclf__gamma = [1.0]\n"
        "clf__inner_splits = 2\nstandardise__min_batch = 2\n"  # the subsets' dev sets are tiny
    )
    out = tmp_path / "loo"
    methods = ("metadata-audit", "lbp-lr", "colour-lbp-svm-transductive")
    code, _, err = run("--leave-one-out", seed_subset_dir, nuaa_subset_dir, "--methods",
                       *methods, "--config", cfg, "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    doc = json.loads((out / "leave_one_out.json").read_text())
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["lbp-lr"]["rank"] == 1
    assert rows["metadata-audit"]["rank"] is None
    assert rows["colour-lbp-svm-transductive"]["rank"] is None
    text = (out / "leave_one_out.md").read_text()
    assert "| transductive | colour-lbp-svm-transductive | transductive |" in text
    assert "## Paired comparisons: lbp-lr (best mean ACER)" in text
    # the best against each other method on each held-out set, and on the mean over them
    other = "colour-lbp-svm-transductive"
    pairs = {c["held_out"]: c for c in doc["comparisons"] if c["b"] == other}
    assert set(pairs) == {*doc["held_out"], "mean"}
    mean = pairs.pop("mean")
    assert mean["value_a"] == pytest.approx(rows["lbp-lr"]["mean_acer"])
    assert mean["difference"] == pytest.approx(np.mean([c["difference"] for c in pairs.values()]))
    assert f"| mean | {other} | {100 * mean['difference']:+.2f} [" in text
    # the command line pairs the same score files on the mean, with the same result
    files = {m: [out / f"without-{d}" / "scores" / f"{m}.csv" for d in doc["held_out"]]
             for m in ("lbp-lr", other)}  # fmt: skip
    code = evaluate_main(["--test", *map(str, files["lbp-lr"]), "--compare",
                          *map(str, files[other]), "--n-boot", "50", "--json"])  # fmt: skip
    cli = json.loads(capsys.readouterr().out)
    assert code == 0 and cli["mean_over"] == 2
    for key in ("value_a", "value_b", "difference", "difference_ci"):
        assert cli[key] == pytest.approx(mean[key]), key
