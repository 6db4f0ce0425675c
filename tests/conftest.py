"""Shared fixtures: the real data under $LIVENESS_DATA_HOME and a private cache per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
