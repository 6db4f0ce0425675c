"""The default dataset, seed600: find it, download and verify it, load it, and select its subsets.

seed600 holds the 600 images of the original Liveness-Detection project (`Live/N.jpg` bona
fide, `Spoof/N.jpg` attacks, N = 1..300, sampled from CelebA-Spoof). The shipped manifest
`benchmarks/seed600.sha256` pins every file's SHA-256, so a copy found on disk or fetched from
GitHub is exactly the data the project's numbers are measured on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from tqdm.auto import tqdm

from benchmarks.datasets.folders import load_folders
from features.files import cache_root
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError, Presentation, file_sha256

SEED_REPO = "ReynaraEzra/Liveness-Detection"
SEED_COMMIT = "ff79a15779ca7c7a0e98f6e4d70fbb1cb6d5a7c4"
DEFAULT_SEED_URL = f"https://raw.githubusercontent.com/{SEED_REPO}/{SEED_COMMIT}/Dataset/"
SEED_URL_ENV = "LIVENESS_SEED_URL"

SEED_CLASSES = {"Live": BONAFIDE, "Spoof": ATTACK}

SEED_SUBSETS: dict[int, dict[str, range]] = {
    59: {"Live": range(1, 30), "Spoof": range(1, 31)},
    400: {"Live": range(1, 201), "Spoof": range(1, 201)},
    600: {"Live": range(1, 301), "Spoof": range(1, 301)},
}
"""The seed project's nested training sets, as file numbers per class folder."""

_DOWNLOAD_THREADS = 4


class SeedDownloadError(DatasetError):
    """A seed600 file could not be downloaded, or its bytes differ from the manifest."""


class NetworkUnavailableError(SeedDownloadError):
    """The server could not be reached at all (no network, DNS failure, timeout)."""


class SyntheticDataWarning(UserWarning):
    """Real data were asked for, but synthetic demo data are returned instead."""


@cache
def seed_manifest() -> Mapping[str, str]:
    """{relative path: sha256} of all 600 seed600 files, from the shipped manifest."""
    text = resources.files("benchmarks").joinpath("seed600.sha256").read_text("utf-8")
    manifest: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        if len(digest) != 64 or not rel or rel.split("/")[0] not in SEED_CLASSES:
            raise DatasetError(
                f"seed600.sha256 line {lineno}: expected '<sha256>  Live|Spoof/N.jpg'"
            )
        manifest[rel] = digest
    return MappingProxyType(manifest)


def seed_base_url(base_url: str | None = None) -> str:
    """Base URL of the seed files: `base_url`, else $LIVENESS_SEED_URL, else GitHub@SEED_COMMIT."""
    url = base_url or os.environ.get(SEED_URL_ENV) or DEFAULT_SEED_URL
    return url if url.endswith("/") else url + "/"


def seed_file_url(rel: str, base_url: str | None = None) -> str:
    """The URL of one seed file, e.g. `Live/1.jpg`."""
    return seed_base_url(base_url) + urllib.parse.quote(rel)


def default_seed_dir() -> Path:
    """Where `download_seed600` puts the data by default: <cache root>/datasets/seed600."""
    return cache_root() / "datasets" / "seed600"


def _has_all_files(path: Path) -> bool:
    return path.is_dir() and all((path / rel).is_file() for rel in seed_manifest())


def find_seed600() -> Path | None:
    """The folder of a complete seed600 copy: $LIVENESS_DATA_HOME/seed600, else the user cache."""
    candidates = []
    if home := os.environ.get("LIVENESS_DATA_HOME"):
        candidates.append(Path(home).resolve() / "seed600")
    candidates.append(default_seed_dir())
    return next((p for p in candidates if _has_all_files(p)), None)


def _wanted(files: list[str] | None) -> list[str]:
    manifest = seed_manifest()
    if files is None:
        return list(manifest)
    unknown = [f for f in files if f not in manifest]
    if unknown:
        raise ValueError(f"not seed600 files (expected e.g. 'Live/1.jpg'): {unknown[:5]}")
    return list(dict.fromkeys(files))


def verify_seed600(path: Path | str, files: list[str] | None = None) -> list[str]:
    """The seed600 files (all, or `files`) missing under `path` or whose SHA-256 differs."""
    path, manifest = Path(path), seed_manifest()
    return [
        rel
        for rel in _wanted(files)
        if not (path / rel).is_file() or file_sha256(path / rel) != manifest[rel]
    ]


def _fetch(rel: str, url: str, timeout: float) -> bytes:
    """The verified bytes of one seed file, or a SeedDownloadError naming the file and URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as e:
        raise SeedDownloadError(f"seed600 {rel}: HTTP {e.code} {e.reason} from {url}") from None
    except urllib.error.URLError as e:
        raise NetworkUnavailableError(f"seed600 {rel}: cannot reach {url}: {e.reason}") from None
    except (TimeoutError, ConnectionError) as e:
        raise NetworkUnavailableError(f"seed600 {rel}: cannot reach {url}: {e}") from None
    digest, want = hashlib.sha256(data).hexdigest(), seed_manifest()[rel]
    if digest != want:
        raise SeedDownloadError(
            f"seed600 {rel}: the {len(data)} bytes from {url} have SHA-256 {digest}, "
            f"but the manifest says {want}; refusing a file that differs from the seed commit"
        )
    return data


def _carry_over(src: Path, tmp: Path, skip: set[str]) -> None:
    """Hard-link (or copy) every file of an existing `src` folder into `tmp`, except `skip`."""
    for f in src.rglob("*"):
        rel = f.relative_to(src).as_posix()
        if f.is_file() and rel not in skip:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, tmp / rel)
            except OSError:
                shutil.copy2(f, tmp / rel)


def _swap_in(tmp: Path, dest: Path) -> None:
    """Rename the finished `tmp` folder to `dest`, replacing an older `dest` folder."""
    if not dest.exists():
        os.rename(tmp, dest)
        return
    old = tmp.with_name(tmp.name + ".old")
    os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old)


def download_seed600(
    dest: Path | str | None = None,
    base_url: str | None = None,
    progress: bool = True,
    timeout: float = 30,
    files: list[str] | None = None,
) -> Path:
    """Download seed600 (or only `files`, e.g. ['Live/1.jpg']) into `dest`, verifying every file.

    Files are fetched into a temporary folder beside `dest`, each checked against the shipped
    SHA-256 manifest, and only when all are good is the folder renamed into place, so a failed
    or interrupted download leaves `dest` as it was. Files already present and correct are
    kept and not fetched again; if all are, nothing is downloaded. Raises SeedDownloadError
    (NetworkUnavailableError when the server cannot be reached) naming the file and URL.
    """
    dest = Path(dest) if dest is not None else default_seed_dir()
    if dest.exists() and not dest.is_dir():
        raise DatasetError(f"{dest}: exists and is not a folder; cannot download seed600 there")
    wanted = _wanted(files)
    bad = verify_seed600(dest, wanted) if dest.is_dir() else wanted
    if not bad:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
    try:
        if dest.is_dir():
            _carry_over(dest, tmp, skip=set(bad))
        for cls in SEED_CLASSES:
            (tmp / cls).mkdir(exist_ok=True)
        with (
            ThreadPoolExecutor(_DOWNLOAD_THREADS) as pool,
            tqdm(total=len(bad), desc="seed600", unit="file", disable=not progress) as bar,
        ):
            jobs = {
                pool.submit(_fetch, rel, seed_file_url(rel, base_url), timeout): rel for rel in bad
            }
            try:
                for job in as_completed(jobs):
                    (tmp / jobs[job]).write_bytes(job.result())
                    bar.update()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        _swap_in(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def load_seed600(allow_download: bool = True, allow_synthetic: bool = True) -> Dataset:
    """The real seed600 (found on disk, else downloaded), or the synthetic demo set without network.

    Synthetic data are returned only when no copy exists and it cannot be fetched (no network,
    or `allow_download=False`), with a SyntheticDataWarning; `allow_synthetic=False` raises instead.
    """
    path = find_seed600()
    why = "no copy of seed600 was found (set LIVENESS_DATA_HOME, or allow the download)"
    if path is None and allow_download:
        try:
            path = download_seed600()
        except NetworkUnavailableError as e:
            if not allow_synthetic:
                raise
            why = f"seed600 could not be downloaded ({e})"
    if path is None:
        if not allow_synthetic:
            raise DatasetError(why)
        from benchmarks.datasets.demo import SYNTHETIC_BANNER, synthetic_demo

        warnings.warn(
            f"{why}; using the SYNTHETIC DEMO DATA instead ({SYNTHETIC_BANNER})",
            SyntheticDataWarning,
            stacklevel=2,
        )
        return synthetic_demo()
    dataset = load_folders(path)
    manifest, found = seed_manifest(), {r.id: r.sha256 for r in dataset.records}
    wrong = sorted(set(manifest).symmetric_difference(found))
    wrong += [rel for rel, digest in found.items() if rel in manifest and manifest[rel] != digest]
    if wrong:
        raise DatasetError(
            f"{path}: {len(wrong)} files are missing, unreadable, extra or differ from the seed600 "
            f"manifest, e.g. {wrong[:5]}; re-download with download_seed600()"
        )
    return dataclasses.replace(dataset, name="seed600")


def _seed_key(record: Presentation) -> tuple[str, int] | None:
    p = PurePosixPath(record.id)
    if (
        len(p.parts) != 2
        or p.parts[0] not in SEED_CLASSES
        or p.suffix != ".jpg"
        or not p.stem.isdigit()
    ):
        return None
    return p.parts[0], int(p.stem)


def seed_subset(dataset: Dataset, n: int) -> Dataset:
    """The seed project's n-image training set (n in SEED_SUBSETS), selected by file id."""
    if n not in SEED_SUBSETS:
        raise ValueError(f"no seed subset of {n} images; choose one of {sorted(SEED_SUBSETS)}")
    wanted = {(cls, i) for cls, ids in SEED_SUBSETS[n].items() for i in ids}
    chosen = [r for r in dataset.records if _seed_key(r) in wanted]
    missing = wanted - {_seed_key(r) for r in chosen}
    if missing:
        examples = [f"{c}/{i}.jpg" for c, i in sorted(missing)[:5]]
        raise DatasetError(
            f"{dataset.name}: lacks {len(missing)} files of the seed{n} subset, e.g. {examples}"
        )
    return dataclasses.replace(dataset.with_records(chosen), name=f"seed{n}")
