"""seed600: verified download from a local HTTP server; finding and loading the real copy."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from benchmarks.datasets import seed
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError

FILES = ["Live/1.jpg", "Live/2.jpg", "Spoof/1.jpg"]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 serving `root`, counting GET requests."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Dataset/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path: Path, seed600_dir: Path):
    """A few real seed600 files (copied only into tmp_path) behind a local HTTP server."""
    root = tmp_path / "www"
    for rel in FILES:
        (root / "Dataset" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed600_dir / rel, root / "Dataset" / rel)
    server = _Server(root)
    yield server, root / "Dataset"
    server.close()


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_download_verifies_and_moves_into_place(served, tmp_path: Path) -> None:
    server, _ = served
    dest = tmp_path / "out" / "seed600"
    got = seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES)
    assert got == dest
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.jpg")) == sorted(FILES)
    assert seed.verify_seed600(dest, FILES) == []
    assert _leftovers(dest.parent) == []
    assert len(server.requests) == len(FILES)

    # A second call finds every file present and correct, and fetches nothing.
    seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES)
    assert len(server.requests) == len(FILES)

    # Asking for a subset of what is already there fetches nothing either.
    seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES[:1])
    assert len(server.requests) == len(FILES)


def test_download_adds_missing_files_to_an_existing_copy(served, tmp_path: Path) -> None:
    server, _ = served
    dest = tmp_path / "seed600"
    seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES[:1])
    seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES)
    assert len(server.requests) == len(FILES)
    assert seed.verify_seed600(dest, FILES) == []
    assert _leftovers(tmp_path) == []


def test_corrupted_file_is_refused_and_nothing_is_left(served, tmp_path: Path) -> None:
    server, www = served
    data = bytearray((www / "Live/2.jpg").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (www / "Live/2.jpg").write_bytes(bytes(data))
    dest = tmp_path / "out" / "seed600"
    with pytest.raises(seed.SeedDownloadError, match=r"Live/2\.jpg.*SHA-256") as err:
        seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES)
    assert server.url + "Live/2.jpg" in str(err.value)
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_missing_file_on_server_is_a_clear_error(served, tmp_path: Path) -> None:
    server, www = served
    (www / "Spoof/1.jpg").unlink()
    dest = tmp_path / "seed600"
    with pytest.raises(seed.SeedDownloadError, match=r"Spoof/1\.jpg: HTTP 404") as err:
        seed.download_seed600(dest, base_url=server.url, progress=False, files=FILES)
    assert not isinstance(err.value, seed.NetworkUnavailableError)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_unreachable_server_is_a_network_error(tmp_path: Path) -> None:
    # Port 9 (discard) on 127.0.0.1 refuses the connection on any test machine.
    with pytest.raises(seed.NetworkUnavailableError, match=r"Live/1\.jpg"):
        seed.download_seed600(
            tmp_path / "seed600", base_url="http://127.0.0.1:9/", progress=False, files=FILES[:1]
        )
    assert list(tmp_path.iterdir()) == []


def test_unknown_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Live/301.jpg"):
        seed.download_seed600(
            tmp_path / "s", base_url="http://127.0.0.1:9/", files=["Live/301.jpg"]
        )


def test_default_url_points_at_the_pinned_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(seed.SEED_URL_ENV, raising=False)
    assert seed.seed_file_url("Spoof/17.jpg") == (
        "https://raw.githubusercontent.com/ReynaraEzra/Liveness-Detection/"
        "ff79a15779ca7c7a0e98f6e4d70fbb1cb6d5a7c4/Dataset/Spoof/17.jpg"
    )
    monkeypatch.setenv(seed.SEED_URL_ENV, "http://mirror.example/seed")
    assert seed.seed_file_url("Live/1.jpg") == "http://mirror.example/seed/Live/1.jpg"
    assert seed.seed_file_url("Live/1.jpg", "http://other/x/") == "http://other/x/Live/1.jpg"


def test_manifest_lists_all_600_files() -> None:
    manifest = seed.seed_manifest()
    assert len(manifest) == 600
    for cls in ("Live", "Spoof"):
        assert {f"{cls}/{n}.jpg" for n in range(1, 301)} <= manifest.keys()


@pytest.fixture(scope="module")
def seed600(seed600_dir: Path) -> Dataset:
    return seed.load_seed600(allow_download=False, allow_synthetic=False)


def test_real_copy_is_found_verified_and_loaded(seed600_dir: Path, seed600: Dataset) -> None:
    assert seed.find_seed600() == seed600_dir
    assert seed.verify_seed600(seed600_dir) == []
    ds = seed600
    assert (ds.name, ds.layout, ds.synthetic, len(ds)) == ("seed600", "folders", False, 600)
    assert ds.labels.count(BONAFIDE) == 300 and ds.labels.count(ATTACK) == 300
    by_id = {r.id: r for r in ds.records}
    assert by_id["Spoof/193.jpg"].sha256 == by_id["Spoof/200.jpg"].sha256  # known duplicate

    sizes = {n: seed.seed_subset(ds, n) for n in seed.SEED_SUBSETS}
    assert {n: len(s) for n, s in sizes.items()} == {59: 59, 400: 400, 600: 600}
    assert sizes[59].labels.count(BONAFIDE) == 29 and sizes[59].labels.count(ATTACK) == 30
    ids59, ids400 = {r.id for r in sizes[59].records}, {r.id for r in sizes[400].records}
    assert ids59 < ids400 and "Live/29.jpg" in ids59 and "Live/30.jpg" not in ids59
    assert "Spoof/200.jpg" in ids400 and "Spoof/201.jpg" not in ids400
    assert sizes[59].name == "seed59"


def test_subset_of_incomplete_data_is_refused(seed600: Dataset) -> None:
    ds = seed600
    partial = ds.with_records([r for r in ds.records if r.id != "Spoof/30.jpg"])
    with pytest.raises(DatasetError, match=r"seed59.*Spoof/30\.jpg"):
        seed.seed_subset(partial, 59)
    with pytest.raises(ValueError, match="no seed subset of 100"):
        seed.seed_subset(ds, 100)


def test_without_copy_or_network_falls_back_to_marked_synthetic_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session's private cache holds no seed600 copy; the demo set it gets is shared.
    monkeypatch.delenv("LIVENESS_DATA_HOME", raising=False)
    monkeypatch.setenv(seed.SEED_URL_ENV, "http://127.0.0.1:9/")
    assert seed.find_seed600() is None
    with pytest.raises(seed.NetworkUnavailableError):
        seed.load_seed600(allow_synthetic=False)
    assert not seed.default_seed_dir().exists()
    with pytest.raises(DatasetError, match="no copy of seed600"):
        seed.load_seed600(allow_download=False, allow_synthetic=False)
    with pytest.warns(seed.SyntheticDataWarning, match="SYNTHETIC DEMO DATA"):
        ds = seed.load_seed600()
    assert ds.synthetic and ds.name == "synthetic-demo"


def test_copy_with_a_changed_file_is_refused(
    seed600_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "seed600"
    for rel in seed.seed_manifest():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).symlink_to(seed600_dir / rel)
    (copy / "Spoof/7.jpg").unlink()
    shutil.copyfile(seed600_dir / "Spoof/8.jpg", copy / "Spoof/7.jpg")
    monkeypatch.setenv("LIVENESS_DATA_HOME", str(tmp_path))
    assert seed.find_seed600() == copy
    assert seed.verify_seed600(copy) == ["Spoof/7.jpg"]
    with pytest.raises(DatasetError, match=r"Spoof/7\.jpg"):
        seed.load_seed600(allow_download=False, allow_synthetic=False)
