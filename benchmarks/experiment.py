"""A resumable comparison: records, folds and an output folder shared by every method run on them.

Each finished method leaves `<out>/scores/<label>.csv` and `<out>/state/<label>.json`. The state
holds a key naming everything that shapes the result (the data and folds, every parameter of
the built pipeline, nested ones included, the criterion, bootstrap size and seed, and the
SHA-256 of any external model file it runs) and the SHA-256 of the score file. A re-run
reloads a method whose key and score-file hash match, and evaluates it again otherwise: a
changed default, an edited score file or a damaged state file (warned about, naming it) never
passes for a finished result.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.config import Config
from benchmarks.evaluate import evaluate_scores
from benchmarks.harness import MethodResult, evaluate_method, paired_comparison
from benchmarks.plots import UNRANKED_FAMILIES
from benchmarks.scores import read_scores
from benchmarks.splits import Fold
from classifiers.fitting import estimators
from classifiers.registry import get_method
from features.files import atomic_write
from features.records import file_sha256

STATE_VERSION = 2
_STATE_KEYS = {"key": str, "name": str, "family": str, "fit_seconds": list, "scores_sha256": str}


def digest(obj: Any) -> str:
    """A short stable hash of a JSON-able object (non-JSON values by their repr)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def settings(obj: Any) -> Any:
    """All parameters of an estimator, recursively (inside lists of estimators too)."""
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        params = obj.get_params(deep=False)
        return [type(obj).__name__, {k: settings(v) for k, v in sorted(params.items())}]
    if isinstance(obj, list | tuple):
        return [settings(v) for v in obj]
    return repr(obj)


def _external(estimator: Any) -> bool:
    return type(estimator).__name__ == "ONNXClassifier" and estimator.model_path is not None


def _read_state(path: Path) -> dict | None:
    """The state file's content, or None (with a warning naming it) when it is damaged."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not all(
            isinstance(state.get(k), t) for k, t in _STATE_KEYS.items()
        ):
            raise ValueError("missing or mistyped fields")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(f"warning: {path}: damaged state file ({e}); evaluating again", file=sys.stderr)
        return None
    return state


@dataclass
class Experiment:
    """Records, folds and output folder shared by every method of one comparison."""

    name: str
    records: list
    folds: list[Fold]
    out: Path
    config: Config
    progress: bool
    key: str  # names the data and folds: a state file made for other data is never reused
    command: str = "python -m benchmarks.run"
    cross_dataset: bool = False  # the test part is another dataset (never trained on)
    sample_weight: np.ndarray | None = None  # per record (one total per dataset, say)

    def run(
        self, method: str, params: dict[str, Any] | None = None, label: str | None = None
    ) -> MethodResult:
        """Evaluate one configured method (plus `params`), or reload it when already finished."""
        label = label or method
        family = get_method(method).family
        cfg = self.config
        pipeline = cfg.pipeline(method, params)
        # an external model's file can change under the same model_path
        models = [file_sha256(Path(e.model_path)) for e in estimators(pipeline) if _external(e)]
        key = digest(
            [
                STATE_VERSION,
                self.key,
                method,
                settings(pipeline),
                cfg.criterion,
                cfg.n_boot,
                cfg.seed,
                *([models] if models else []),
            ]
        )
        state_file = self.out / "state" / f"{label}.json"
        score_file = self.out / "scores" / f"{label}.csv"
        if state_file.is_file() and score_file.is_file():
            saved = _read_state(state_file)
            if saved and saved["key"] == key and saved["scores_sha256"] == file_sha256(score_file):
                return self._reload(saved, score_file)
        result = evaluate_method(
            pipeline,
            self.records,
            self.folds,
            label,
            family,
            criterion=cfg.criterion,
            out_dir=self.out,
            progress=self.progress,
            n_boot=cfg.n_boot,
            seed=cfg.seed,
            sample_weight=self.sample_weight,
        )
        state = {
            "key": key,
            "name": label,
            "method": method,
            "family": family,
            "params": params or {},
            "fit_seconds": result.fit_seconds,
            "ms_per_image": result.ms_per_image,
            "variants": result.variants,
            "scores_sha256": file_sha256(score_file),
        }
        atomic_write(state_file, json.dumps(state, indent=2, default=str))
        return result

    def _reload(self, saved: dict, score_file: Path) -> MethodResult:
        cfg = self.config
        table = read_scores(score_file)
        metrics = evaluate_scores(
            table.take(table.split == "test"),
            table.take(table.split == "dev"),
            cfg.criterion,
            "frame",
            cfg.n_boot,
            cfg.seed,
        )
        return MethodResult(
            name=saved["name"],
            family=saved["family"],
            criterion=cfg.criterion,
            metrics=metrics,
            fit_seconds=saved["fit_seconds"],
            ms_per_image=saved.get("ms_per_image", float("nan")),
            scores=table,
            score_file=score_file,
            variants=saved.get("variants", []),
        )


def comparisons(results: Sequence[MethodResult], cfg: Config) -> list[dict]:
    """Paired comparisons: best vs runner-up, and the best handcrafted method vs each CNN, hybrid
    and external model."""

    def acer(r: MethodResult) -> float:
        return np.inf if r.metrics.get("acer") is None else r.metrics["acer"]

    ranked = sorted((r for r in results if r.family not in UNRANKED_FAMILIES), key=acer)
    pairs = []
    if len(ranked) >= 2:
        pairs.append((ranked[0], ranked[1]))
    handcrafted = [r for r in ranked if r.family == "handcrafted"]
    if handcrafted:
        best = handcrafted[0]
        pairs += [(r, best) for r in ranked if r.family in ("cnn", "hybrid", "external")]
    out, seen = [], set()
    for a, b in pairs:
        if frozenset((a.name, b.name)) in seen or a is b:  # A vs B once, in either order
            continue
        seen.add(frozenset((a.name, b.name)))
        out.append(paired_comparison(a, b, n_boot=cfg.n_boot, seed=cfg.seed).to_dict())
    return out
