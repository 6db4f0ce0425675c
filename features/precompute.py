"""The feature stage of a distributed run: every record's features computed once, on the workers.

With a Dask `Execution`, `precompute_features` has the workers read each chunk's crops from the
crop cache, extract their features and store them in the feature cache; the methods' pipelines
then find every vector there (`FeatureExtractor.transform` reads the cache first), so the
results are those of an in-process run. In-process runs skip this stage: the pipelines compute
and cache the features themselves, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sklearn.base import clone
from tqdm.auto import tqdm

from features.base import FeatureExtractor
from features.execution import Execution
from features.faces import FaceCropper
from features.files import cache_root
from features.records import Presentation


def _features_chunk(
    records: list[Presentation], cropper: FaceCropper, extractor: FeatureExtractor, root: str
) -> list[int]:
    """On a worker: crops (from the cache) -> features (into the cache); returns their lengths."""
    crops = cropper.transform(records)
    return [v.shape[0] for v in extractor.extract(crops, Path(root))]


def precompute_features(
    records: Sequence[Presentation],
    cropper: FaceCropper,
    extractor: FeatureExtractor,
    execution: Execution,
    progress: bool = True,
) -> int:
    """Fill the feature cache for `records` on the execution's workers; returns the count done."""
    root = Path(cropper.cache_dir) if cropper.cache_dir is not None else cache_root()
    remote_cropper = clone(cropper).set_params(cache_dir=str(root))
    remote = clone(extractor).set_params(n_jobs=1)
    done = execution.map_chunks(
        _features_chunk, list(records), remote_cropper, remote, str(cache_root()), name="features"
    )
    desc = f"features {type(extractor).__name__}"
    return sum(1 for _ in tqdm(done, total=len(records), desc=desc, disable=not progress))
