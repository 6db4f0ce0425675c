"""Registry of the named handcrafted methods and the metadata audit the benchmark runs.

Every method is a factory returning an estimator over RECORDS (the harness's X): crop the face
(`features.faces.FaceCropper`), extract features, then a `classifiers.svm.TunedSVM` that
grid-searches its classifier with group-aware inner CV. The metadata audit instead reads the
original file's metadata and fits a logistic regression: it is not a liveness method, it
measures what a dataset gives away without a face (family "audit").

Factories take keyword parameters for ablations: crop (`size`, `scale`, `mode`, `detector`),
features (`P`, `R`, `method`, `grid`, `scales`, `colour_spaces`, `n_bands`, `window`, ...) and
classifier (`kernels`, `C`, `gamma`, `norm`, `inner_splits`), plus `n_jobs` for extraction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from classifiers.svm import TunedSVM
from features.base import FeatureExtractor
from features.colour import ColourLBP
from features.distortion import DistortionFeatures
from features.faces import DEFAULT_DETECTOR, FaceCropper
from features.fourier import FourierSpectrum
from features.lbp import LBPHistogram, MultiScaleLBP
from features.metadata import MetadataFeatures

FAMILIES = ("handcrafted", "audit")

DEFAULT_C = (0.1, 1.0, 10.0, 100.0)
DEFAULT_GAMMA = (0.1, 1.0, 10.0)


@dataclass(frozen=True)
class Method:
    """A named method: `build(**params)` returns a fresh, unfitted estimator over records."""

    name: str
    family: str
    description: str
    factory: Callable[..., BaseEstimator]

    def build(self, **params: Any) -> BaseEstimator:
        return self.factory(**params)


def _tuned(
    extractor: FeatureExtractor,
    *,
    size: int,
    scale: float,
    mode: str,
    detector: str,
    kernels: Sequence[str],
    C: Sequence[float],
    gamma: Sequence[float],
    norm: str | None,
    inner_splits: int,
) -> TunedSVM:
    # fit() only checks size/scale/mode/detector: a bad value fails when the config is read
    cropper = FaceCropper(size=size, scale=scale, mode=mode, detector=detector).fit(None)
    features = Pipeline([("crop", cropper), ("features", extractor)])
    return TunedSVM(
        features,
        kernels=tuple(kernels),
        C=tuple(C),
        gamma=tuple(gamma),
        norm=norm,
        inner_splits=inner_splits,
    )


def lbp_svm(
    P: int = 8,
    R: float = 1.0,
    method: str = "nri_uniform",
    grid: tuple[int, int] = (3, 3),
    size: int = 64,
    scale: float = 1.5,
    mode: str = "face",
    detector: str = DEFAULT_DETECTOR,
    kernels: Sequence[str] = ("rbf",),
    C: Sequence[float] = DEFAULT_C,
    gamma: Sequence[float] = DEFAULT_GAMMA,
    norm: str | None = "hellinger",
    inner_splits: int = 3,
    n_jobs: int | None = 1,
) -> TunedSVM:
    """Grey LBP_{P,R} histograms over a grid of blocks -> tuned SVM."""
    ext = LBPHistogram(P=P, R=R, method=method, grid=grid, n_jobs=n_jobs)
    return _tuned(
        ext,
        size=size,
        scale=scale,
        mode=mode,
        detector=detector,
        kernels=kernels,
        C=C,
        gamma=gamma,
        norm=norm,
        inner_splits=inner_splits,
    )


def lbp_multiscale_svm(
    scales: tuple[tuple[int, float], ...] = ((8, 1), (8, 2), (16, 2)),
    method: str = "nri_uniform",
    grid: tuple[int, int] = (1, 1),
    size: int = 64,
    scale: float = 1.5,
    mode: str = "face",
    detector: str = DEFAULT_DETECTOR,
    kernels: Sequence[str] = ("rbf",),
    C: Sequence[float] = DEFAULT_C,
    gamma: Sequence[float] = DEFAULT_GAMMA,
    norm: str | None = "hellinger",
    inner_splits: int = 3,
    n_jobs: int | None = 1,
) -> TunedSVM:
    """Multi-scale grey LBP, e.g. (8,1)+(8,2)+(16,2) -> tuned SVM."""
    ext = MultiScaleLBP(scales=scales, method=method, grid=grid, n_jobs=n_jobs)
    return _tuned(
        ext,
        size=size,
        scale=scale,
        mode=mode,
        detector=detector,
        kernels=kernels,
        C=C,
        gamma=gamma,
        norm=norm,
        inner_splits=inner_splits,
    )


def colour_lbp_svm(
    colour_spaces: tuple[str, ...] = ("HSV", "YCbCr"),
    P: int = 8,
    R: float = 1.0,
    method: str = "nri_uniform",
    grid: tuple[int, int] = (1, 1),
    size: int = 64,
    scale: float = 1.5,
    mode: str = "face",
    detector: str = DEFAULT_DETECTOR,
    kernels: Sequence[str] = ("rbf",),
    C: Sequence[float] = DEFAULT_C,
    gamma: Sequence[float] = DEFAULT_GAMMA,
    norm: str | None = "hellinger",
    inner_splits: int = 3,
    n_jobs: int | None = 1,
) -> TunedSVM:
    """LBP of every HSV and YCbCr channel -> tuned SVM."""
    ext = ColourLBP(colour_spaces=colour_spaces, P=P, R=R, method=method, grid=grid, n_jobs=n_jobs)
    return _tuned(
        ext,
        size=size,
        scale=scale,
        mode=mode,
        detector=detector,
        kernels=kernels,
        C=C,
        gamma=gamma,
        norm=norm,
        inner_splits=inner_splits,
    )


def fourier_svm(
    n_bands: int = 16,
    window: str | None = "hann",
    hf_cutoffs: tuple[float, ...] = (0.25, 0.5, 0.75),
    dog_sigmas: tuple[tuple[float, float], ...] = ((0.5, 1.0), (1.0, 2.0), (2.0, 4.0)),
    size: int = 64,
    scale: float = 1.5,
    mode: str = "face",
    detector: str = DEFAULT_DETECTOR,
    kernels: Sequence[str] = ("rbf",),
    C: Sequence[float] = DEFAULT_C,
    gamma: Sequence[float] = DEFAULT_GAMMA,
    inner_splits: int = 3,
    n_jobs: int | None = 1,
) -> TunedSVM:
    """Radial log-power spectrum, high-frequency ratios and DoG energies -> tuned SVM."""
    ext = FourierSpectrum(
        n_bands=n_bands, window=window, hf_cutoffs=hf_cutoffs, dog_sigmas=dog_sigmas, n_jobs=n_jobs
    )
    return _tuned(
        ext,
        size=size,
        scale=scale,
        mode=mode,
        detector=detector,
        kernels=kernels,
        C=C,
        gamma=gamma,
        norm=None,
        inner_splits=inner_splits,
    )


def distortion_svm(
    specular_range: tuple[float, float] = (1.5, 4.0),
    size: int = 64,
    scale: float = 1.5,
    mode: str = "face",
    detector: str = DEFAULT_DETECTOR,
    kernels: Sequence[str] = ("rbf",),
    C: Sequence[float] = DEFAULT_C,
    gamma: Sequence[float] = DEFAULT_GAMMA,
    inner_splits: int = 3,
    n_jobs: int | None = 1,
) -> TunedSVM:
    """Specular, blur, chromatic-moment and colour-diversity features -> tuned SVM."""
    ext = DistortionFeatures(specular_range=specular_range, n_jobs=n_jobs)
    return _tuned(
        ext,
        size=size,
        scale=scale,
        mode=mode,
        detector=detector,
        kernels=kernels,
        C=C,
        gamma=gamma,
        norm=None,
        inner_splits=inner_splits,
    )


def lbp_lr(
    P: int = 8,
    R: float = 1.0,
    method: str = "nri_uniform",
    grid: tuple[int, int] = (3, 3),
    size: int = 64,
    scale: float = 1.5,
    mode: str = "face",
    detector: str = DEFAULT_DETECTOR,
    C: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    inner_splits: int = 3,
    n_jobs: int | None = 1,
) -> TunedSVM:
    """The lbp-svm features with a logistic regression: the simple linear reference."""
    ext = LBPHistogram(P=P, R=R, method=method, grid=grid, n_jobs=n_jobs)
    return _tuned(
        ext,
        size=size,
        scale=scale,
        mode=mode,
        detector=detector,
        kernels=("logistic",),
        C=C,
        gamma=(1.0,),
        norm="hellinger",
        inner_splits=inner_splits,
    )


def metadata_audit(C: float = 1.0) -> Pipeline:
    """File metadata (size, aspect, bytes per pixel, JPEG quality) -> logistic regression."""
    return Pipeline(
        [
            ("metadata", MetadataFeatures()),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(C=C, class_weight="balanced", max_iter=5000)),
        ]
    )


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "lbp-svm",
            "handcrafted",
            "grey LBP^u2_{8,1} over 3x3 blocks + RBF SVM "
            "(Määttä et al. 2011; Chingovska et al. 2012)",
            lbp_svm,
        ),
        Method(
            "lbp-multiscale-svm",
            "handcrafted",
            "grey LBP^u2 (8,1)+(8,2)+(16,2) + RBF SVM (Määttä et al. 2011)",
            lbp_multiscale_svm,
        ),
        Method(
            "colour-lbp-svm",
            "handcrafted",
            "LBP^u2_{8,1} of each HSV and YCbCr channel + RBF SVM (Boulkenafet et al. 2015/2016)",
            colour_lbp_svm,
        ),
        Method(
            "fourier-svm",
            "handcrafted",
            "radial log-power spectrum, high-frequency ratios, DoG energies + RBF SVM "
            "(Li et al. 2004; Tan et al. 2010)",
            fourier_svm,
        ),
        Method(
            "distortion-svm",
            "handcrafted",
            "specular, blur, chromatic moments, colour diversity + RBF SVM (Wen, Han, Jain 2015)",
            distortion_svm,
        ),
        Method(
            "lbp-lr",
            "handcrafted",
            "lbp-svm's LBP features + logistic regression, the linear reference",
            lbp_lr,
        ),
        Method(
            "metadata-audit",
            "audit",
            "AUDIT, not liveness: file width, height, aspect, bytes/pixel, JPEG quality + "
            "logistic regression (how much the files alone give away)",
            metadata_audit,
        ),
    ]
}


def get_method(name: str) -> Method:
    """The registered method called `name`; ValueError listing the known names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}") from None


def build_method(name: str, **params: Any) -> BaseEstimator:
    """A fresh estimator for method `name`, with factory keyword `params` (for ablations)."""
    return get_method(name).build(**params)
