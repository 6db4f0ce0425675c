"""Shared fixtures: the real data under $LIVENESS_DATA_HOME and a private cache per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so CI cannot fail on a draw nobody saw
# locally; `pytest --hypothesis-profile=explore` searches new examples (add any it finds as
# an @example).
settings.register_profile("default", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("default")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep crop/feature caches of the test session out of the user's cache."""
    os.environ["LIVENESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("liveness-cache"))


def _data_dir(name: str) -> Path:
    home = os.environ.get("LIVENESS_DATA_HOME")
    if not home:
        pytest.skip("LIVENESS_DATA_HOME is not set (it points at the real data, see README)")
    path = Path(home).resolve() / name  # absolute: tests make symlinks to these files
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent")
    return path


@pytest.fixture(scope="session")
def seed600_dir() -> Path:
    return _data_dir("seed600")


@pytest.fixture(scope="session")
def nuaa_dir() -> Path:
    return _data_dir("nuaa")


@pytest.fixture(scope="session")
def celeba_dir() -> Path:
    return _data_dir("celeba-spoof-sample")


@pytest.fixture(scope="session")
def replay_dir() -> Path:
    return _data_dir("replay-attack")


def _link_subset(root: Path, source: Path, picks: dict[str, list[str]]) -> Path:
    """A class-folder dataset of symlinks to real files (nothing is copied)."""
    for folder, names in picks.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            (root / folder / name).symlink_to(source / folder / name)
    return root


@pytest.fixture(scope="session")
def seed_subset_dir(seed600_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """25 + 25 seed600 images, including the byte-identical pair Spoof/193.jpg = Spoof/200.jpg."""
    root = tmp_path_factory.mktemp("real") / "seed600-subset"
    live = [f"{i}.jpg" for i in range(1, 26)]
    spoof = [f"{i}.jpg" for i in range(186, 211)]
    return _link_subset(root, seed600_dir, {"Live": live, "Spoof": spoof})


@pytest.fixture(scope="session")
def nuaa_subset_dir(nuaa_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 + 10 NUAA images, every 40th file of each class."""
    root = tmp_path_factory.mktemp("nuaa") / "nuaa-subset"
    picks = {
        c: sorted(p.name for p in (nuaa_dir / c).glob("*.jpg"))[::40][:10]
        for c in ("live", "spoof")
    }
    return _link_subset(root, nuaa_dir, picks)
