"""What a result was computed from: the data, protocol, code and library versions, command."""

from __future__ import annotations

import contextlib
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from benchmarks.config import Config
from benchmarks.experiment import Experiment
from classifiers.registry import get_method
from features.records import Dataset, file_sha256

PACKAGES = (
    "liveness-toolkit",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "opencv-python-headless",
    "tensorflow",
    "keras",
    "joblib",
    "pillow",
)


def versions() -> dict[str, str]:
    """Python's version and each installed package of `PACKAGES`."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


REPO_ROOT = Path(__file__).resolve().parents[1]


def _git(root: Path, *args: str) -> str | None:
    """`git <args>`'s output in `root`, or None where git or a checkout is missing."""
    try:
        res = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def git_commit(root: Path = REPO_ROOT) -> str | None:
    """The commit of the checkout the code runs from, or None (a wheel install, no git)."""
    return (_git(root, "rev-parse", "HEAD") or "").strip() or None


def git_modified(root: Path = REPO_ROOT) -> list[str] | None:
    """The tracked files that differ from that commit, `results/` left out (runs write there),
    so a result computed by uncommitted code says so; None without a checkout."""
    if git_commit(root) is None:
        return None
    out = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!results")
    return None if out is None else sorted(line[3:] for line in out.splitlines() if line)


def external_models(cfg: Config) -> dict[str, str]:
    """SHA-256 of each external (ONNX) model file the run's methods use, by method name."""
    return {
        name: file_sha256(Path(cfg.params[name]["clf__model_path"]))
        for name in cfg.methods
        if get_method(name).family == "external"
    }


def provenance(dataset: Dataset, crop_stats: dict, exp: Experiment, started: str) -> dict:
    """The provenance block of `comparison.json`."""
    cfg = exp.config
    return {
        "dataset": dataset.name,
        "dataset_root": str(dataset.root),
        "dataset_hash": dataset.content_hash(),
        "n_samples": len(dataset),
        "n_bonafide": sum(1 for r in dataset.records if r.label == 0),
        "n_attack": sum(1 for r in dataset.records if r.label == 1),
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in dataset.skipped],
        "n_skipped": len(dataset.skipped),
        "faces_found": crop_stats,
        "protocol": (
            f"{len(exp.folds)} fold(s), dev = {cfg.dev_fraction:.0%} of train (group-disjoint), "
            f"threshold criterion {cfg.criterion}"
        ),
        "seed": cfg.seed,
        "config": list(cfg.source),
        "packages": versions(),
        "external_models": external_models(cfg),
        "git_commit": git_commit(),
        "git_modified": git_modified(),
        "command": exp.command,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "synthetic": dataset.synthetic,
    }
