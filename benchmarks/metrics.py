"""ISO/IEC 30107-3 presentation attack detection metrics: every metric of the toolkit is here.

Conventions
    label 1 = attack (presentation attack), 0 = bona fide. A score is an ATTACK score: higher means
    more likely an attack. A presentation is classified as an attack when ``score >= threshold``, so
    a score tied with the threshold is an attack. All rates are fractions in [0, 1].

Error rates at a threshold
    APCER of one attack type = share of that type's attacks classified bona fide. ``apcer_max`` (the
    ISO APCER) is the maximum over attack types; ``apcer_pooled`` treats all attacks as one type.
    Attacks whose type is unknown (None or "") form one type named "unknown".
    BPCER = share of bona fide presentations classified as attacks.
    ACER = (apcer_max + BPCER) / 2 -- widely reported, but NOT an ISO/IEC 30107-3 metric.
    HTER = (apcer_pooled + BPCER) / 2.

Operating points
    Under the ">=" rule a score set has the distinct operating points t_0 < ... < t_m (its unique
    scores) plus t_(m+1) = the next float above the largest score (nothing is an attack). At t_0
    every presentation is an attack (APCER 0, BPCER 1). Raising t only raises APCER, lowers BPCER.

Threshold-free summaries of one score set
    EER: sweep the operating points in increasing order and find the first one where pooled APCER
    >= BPCER (compared exactly, in integer counts). If they are equal there, EER is that rate.
    Otherwise APCER - BPCER changes sign between that point and the previous one, and EER is where
    the straight line between the two (APCER, BPCER) points crosses APCER = BPCER. Tied scores
    are one operating point, so ties never split.
    AUC: area under the ROC with attack as the positive class = P(attack score > bona fide score)
    + 1/2 P(equal), from the Mann-Whitney rank sum (average ranks for ties).
    BPCER10 / BPCER20 / BPCER100: BPCER at the highest operating threshold whose apcer_max is at
    most 10% / 5% / 1%. As APCER only grows with the threshold, this is the smallest BPCER
    attainable with apcer_max <= 1/x (the usual "BPCER @ APCER = 1/x"). Always defined: t_0 has
    APCER 0 (there, BPCER is 1).

Thresholds chosen on development scores (``criterion``)
    "eer": the operating point whose pooled APCER and BPCER are closest (|APCER - BPCER| smallest):
        one of the two points the EER interpolates between (APCER - BPCER strictly grows with the
        threshold). When both are equally close, the one with the lower (APCER + BPCER) / 2 (the
        HTER) wins, then the lower threshold: labels [0, 1, 1] with scores [1, 0, 2] have (APCER,
        BPCER) = (1/2, 1) at t = 1 and (1/2, 0) at t = 2, and the criterion picks t = 2.
    "apcer=0.05": the highest threshold with apcer_max <= 0.05, i.e. the lowest BPCER under that
        constraint. Aliases: "bpcer10", "bpcer20", "bpcer100" mean apcer=0.1 / 0.05 / 0.01.
    "bpcer=0.01": the lowest threshold with BPCER <= 0.01, i.e. the lowest apcer_max under it.
    "fixed=0.5": that threshold, whatever the scores.
    The threshold is always one of the dev scores (or the float just above the largest), so on dev
    it reproduces the chosen operating point exactly; applied unchanged to the test scores.
    Without dev scores, `compute_metrics` chooses on the test scores and labels the result
    ``threshold_source = "test (oracle)"``: an optimistic number, never a headline.

Inverted scores
    If the scores the threshold is chosen on (dev, else test) rank bona fide above attacks
    significantly (AUC < 0.5 and one-sided Mann-Whitney p < 0.05), `compute_metrics` issues a
    `ScoreConventionWarning` and lists it under ``warnings``: the labels are probably swapped or
    the score is a bona fide score. A chance-level method on a small set does not trigger it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu, rankdata

UNKNOWN_TYPE = "unknown"
BPCER_AT = {"bpcer10": 0.10, "bpcer20": 0.05, "bpcer100": 0.01}
ACER_NOTE = "ACER is widely reported but is not an ISO/IEC 30107-3 metric"
CONVENTIONS = {
    "label": "1 = attack, 0 = bona fide",
    "score": "attack score: higher = more likely an attack",
    "decision": "attack when score >= threshold",
    "apcer": "max over attack types (ISO/IEC 30107-3); apcer_pooled pools all attacks",
    "hter": "(apcer_pooled + bpcer) / 2",
    "acer": "(apcer_max + bpcer) / 2; " + ACER_NOTE,
}
INVERSION_P = 0.05


class ScoreConventionWarning(UserWarning):
    """Scores rank bona fide above attacks: swapped labels or a bona fide score."""


@dataclass(frozen=True)
class Criterion:
    """How a threshold is chosen: kind is "eer", "apcer", "bpcer" or "fixed"."""

    kind: str
    value: float | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}={self.value:g}"


def parse_criterion(text: str | Criterion) -> Criterion:
    """Parse "eer", "apcer=0.05", "bpcer=0.01", "fixed=0.5" or "bpcer10/20/100"."""
    if isinstance(text, Criterion):
        return text
    t = str(text).strip().lower()
    if t == "eer":
        return Criterion("eer")
    if t in BPCER_AT:
        return Criterion("apcer", BPCER_AT[t])
    m = re.fullmatch(r"(apcer|bpcer|fixed)\s*=\s*(\S+)", t)
    if m is None:
        raise ValueError(
            f"criterion {text!r} is not one of: eer, apcer=X, bpcer=X, fixed=X, bpcer10/20/100"
        )
    try:
        value = float(m.group(2))
    except ValueError:
        raise ValueError(f"criterion {text!r}: {m.group(2)!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"criterion {text!r}: the value must be finite")
    if m.group(1) != "fixed" and not 0.0 <= value < 1.0:
        raise ValueError(f"criterion {text!r}: a target rate must be in [0, 1)")
    return Criterion(m.group(1), value)


def _as_arrays(
    scores: Sequence[float], labels: Sequence[int], types: Sequence[str | None] | None, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate one score set; return (scores, labels, attack types with "unknown" filled in)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"{what}: scores {s.shape} and labels {y.shape} must be 1-D, same length")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        raise ValueError(f"{what}: score at index {bad[0]} is {s[bad[0]]} (scores must be finite)")
    bad = np.flatnonzero((y != 0) & (y != 1))
    if bad.size:
        raise ValueError(f"{what}: label at index {bad[0]} is {y[bad[0]].item()!r}, not 0 or 1")
    y = y.astype(int)
    n_attack = int(y.sum())
    if n_attack == 0 or n_attack == y.size:
        only = "bona fide (0)" if n_attack == 0 else "attack (1)"
        raise ValueError(f"{what}: only {only} presentations; metrics need both classes")
    if types is None:
        return s, y, np.full(y.size, UNKNOWN_TYPE)
    t = np.asarray(types)
    if t.shape != s.shape:
        raise ValueError(f"{what}: {t.size} attack types for {s.size} scores")
    if t.dtype.kind != "U":  # None marks an unknown type too
        t = np.where(np.equal(t.astype(object), None), "", t).astype(str)
    return s, y, np.where(t == "", UNKNOWN_TYPE, t)


def rates_from_decisions(
    predicted_attack: Sequence[bool], labels: Sequence[int], types: Sequence[str | None] | None
) -> dict:
    """APCER per type, apcer_max, apcer_pooled, BPCER, ACER and HTER from attack decisions."""
    p = np.asarray(predicted_attack, dtype=bool)
    _, y, t = _as_arrays(np.zeros(p.size), labels, types, "decisions")
    attack = y == 1
    apcer = {str(k): float(np.mean(~p[attack & (t == k)])) for k in np.unique(t[attack])}
    apcer_max = max(apcer.values())
    apcer_pooled = float(np.mean(~p[attack]))
    bpcer = float(np.mean(p[~attack]))
    return {
        "apcer": apcer,
        "apcer_max": apcer_max,
        "apcer_pooled": apcer_pooled,
        "bpcer": bpcer,
        "acer": (apcer_max + bpcer) / 2,
        "hter": (apcer_pooled + bpcer) / 2,
    }


def error_rates(
    scores: Sequence[float],
    labels: Sequence[int],
    types: Sequence[str | None] | None,
    threshold: float,
) -> dict:
    """Error rates (see module docstring) when attack means score >= threshold."""
    s = np.asarray(scores, dtype=float)
    return rates_from_decisions(s >= threshold, labels, types)


@dataclass(frozen=True)
class _Curve:
    """All operating points of a score set, as error counts (exact) and their denominators."""

    thresholds: np.ndarray
    missed_by_type: dict[str, np.ndarray]  # attacks of the type with score < t
    n_by_type: dict[str, int]
    missed: np.ndarray  # all attacks with score < t
    n_attack: int
    false_alarms: np.ndarray  # bona fide with score >= t
    n_bonafide: int

    @property
    def apcer_max(self) -> np.ndarray:
        rates = [self.missed_by_type[k] / self.n_by_type[k] for k in self.n_by_type]
        return np.max(rates, axis=0)

    @property
    def bpcer(self) -> np.ndarray:
        return self.false_alarms / self.n_bonafide


def _curve(s: np.ndarray, y: np.ndarray, t: np.ndarray) -> _Curve:
    thresholds = np.unique(s)
    thresholds = np.append(thresholds, np.nextafter(thresholds[-1], np.inf))

    def below(values: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.sort(values), thresholds, side="left")

    attack = y == 1
    types = [str(k) for k in np.unique(t[attack])]
    bona = s[~attack]
    return _Curve(
        thresholds=thresholds,
        missed_by_type={k: below(s[attack & (t == k)]) for k in types},
        n_by_type={k: int(np.sum(attack & (t == k))) for k in types},
        missed=below(s[attack]),
        n_attack=int(attack.sum()),
        false_alarms=bona.size - below(bona),
        n_bonafide=int(bona.size),
    )


def _eer_index(c: _Curve) -> tuple[float, int]:
    """(EER, index of the operating point closest to it): see the module docstring."""
    # sign of pooled APCER - BPCER, exactly: missed/n_a - fa/n_b compared as missed*n_b - fa*n_a
    diff = c.missed * c.n_bonafide - c.false_alarms * c.n_attack
    k = int(np.argmax(diff >= 0))  # exists: at the last point APCER = 1 and BPCER = 0
    a1, b1 = c.missed[k] / c.n_attack, c.bpcer[k]
    if diff[k] == 0:
        return float(a1), k
    a0, b0 = c.missed[k - 1] / c.n_attack, c.bpcer[k - 1]  # k >= 1: at t_0 APCER 0 < BPCER 1
    lam = (b0 - a0) / ((a1 - a0) - (b1 - b0))
    eer = a0 + lam * (a1 - a0)
    # |APCER - BPCER| first, then (APCER + BPCER) / 2, then the lower threshold; exact in counts
    total = c.missed * c.n_bonafide + c.false_alarms * c.n_attack
    closest = min((k - 1, k), key=lambda i: (abs(diff[i]), total[i], i))
    return float(eer), closest


def eer(
    scores: Sequence[float], labels: Sequence[int], types: Sequence[str | None] | None = None
) -> tuple[float, float]:
    """(EER, threshold the "eer" criterion picks on these scores); see the module docstring."""
    c = _curve(*_as_arrays(scores, labels, types, "eer"))
    value, k = _eer_index(c)
    return value, float(c.thresholds[k])


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """ROC AUC with attack as positive class (Mann-Whitney rank sum, ties count 1/2)."""
    s, y, _ = _as_arrays(scores, labels, None, "auc")
    n_a, n_b = int(y.sum()), int((y == 0).sum())
    rank_sum = rankdata(s)[y == 1].sum()
    return float((rank_sum - n_a * (n_a + 1) / 2) / (n_a * n_b))


def bpcer_at_apcer(
    scores: Sequence[float],
    labels: Sequence[int],
    types: Sequence[str | None] | None,
    max_apcer: float,
) -> tuple[float, float]:
    """(BPCER, threshold) at the highest threshold whose apcer_max <= max_apcer."""
    c = _curve(*_as_arrays(scores, labels, types, "bpcer_at_apcer"))
    k = int(np.flatnonzero(c.apcer_max <= max_apcer)[-1])  # t_0 always qualifies (APCER 0)
    return float(c.bpcer[k]), float(c.thresholds[k])


def apcer_at_bpcer(
    scores: Sequence[float],
    labels: Sequence[int],
    types: Sequence[str | None] | None,
    max_bpcer: float,
) -> tuple[float, float]:
    """(apcer_max, threshold) at the lowest threshold whose BPCER <= max_bpcer."""
    c = _curve(*_as_arrays(scores, labels, types, "apcer_at_bpcer"))
    k = int(np.flatnonzero(c.bpcer <= max_bpcer)[0])  # the last point always qualifies (BPCER 0)
    return float(c.apcer_max[k]), float(c.thresholds[k])


def choose_threshold(
    scores: Sequence[float],
    labels: Sequence[int],
    types: Sequence[str | None] | None,
    criterion: str | Criterion = "eer",
) -> float:
    """The decision threshold the criterion picks on these (development) scores."""
    crit = parse_criterion(criterion)
    if crit.kind == "fixed":
        return float(crit.value)
    if crit.kind == "eer":
        return eer(scores, labels, types)[1]
    if crit.kind == "apcer":
        return bpcer_at_apcer(scores, labels, types, crit.value)[1]
    return apcer_at_bpcer(scores, labels, types, crit.value)[1]


def curve_metrics(
    scores: Sequence[float], labels: Sequence[int], types: Sequence[str | None] | None = None
) -> dict:
    """Threshold-free summaries of one score set: eer, auc, bpcer10, bpcer20, bpcer100."""
    s, y, t = _as_arrays(scores, labels, types, "curve_metrics")
    c = _curve(s, y, t)
    out = {"eer": _eer_index(c)[0], "auc": auc(s, y)}
    apcer_max = c.apcer_max
    for key, target in BPCER_AT.items():
        out[key] = float(c.bpcer[np.flatnonzero(apcer_max <= target)[-1]])
    return out


def inverted_scores(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """The p-value if these scores rank bona fide above attacks significantly, else None.

    Significant: one-sided Mann-Whitney test (attack scores lower) with p < INVERSION_P.
    """
    s, y, _ = _as_arrays(scores, labels, None, "inverted_scores")
    p = float(mannwhitneyu(s[y == 1], s[y == 0], alternative="less").pvalue)
    return p if p < INVERSION_P else None


def compute_metrics(
    test_scores: Sequence[float],
    test_labels: Sequence[int],
    test_types: Sequence[str | None] | None = None,
    dev_scores: Sequence[float] | None = None,
    dev_labels: Sequence[int] | None = None,
    dev_types: Sequence[str | None] | None = None,
    criterion: str | Criterion = "eer",
) -> dict:
    """All metrics of a test set at a threshold chosen on dev by `criterion` (see module docstring).

    Keys: threshold, criterion, threshold_source ("dev", "fixed" or "test (oracle)" when no dev
    scores are given), apcer (per type), apcer_max, apcer_pooled, bpcer, acer, hter (at the
    threshold), eer, auc, bpcer10, bpcer20, bpcer100 (threshold-free, on the test scores),
    n_bonafide, n_attack (test), dev_auc (None without dev), warnings (list of str).
    """
    crit = parse_criterion(criterion)
    s, y, t = _as_arrays(test_scores, test_labels, test_types, "test")
    if dev_scores is None:
        if dev_labels is not None:
            raise ValueError("dev_labels given without dev_scores")
        ds, dy, dt, source = s, y, t, "test (oracle)"
    else:
        if dev_labels is None:
            raise ValueError("dev_scores given without dev_labels")
        ds, dy, dt = _as_arrays(dev_scores, dev_labels, dev_types, "dev")
        source = "dev"
    if crit.kind == "fixed":
        source = "fixed"
    threshold = choose_threshold(ds, dy, dt, crit)
    found: list[str] = []
    checked = "dev" if dev_scores is not None else "test"
    p = inverted_scores(ds, dy)
    if p is not None:
        found.append(
            f"scores on {checked} rank bona fide above attacks (AUC {auc(ds, dy):.3f}, "
            f"Mann-Whitney p = {p:.2g}): labels swapped or a bona fide score? Expected label "
            "1 = attack and higher score = more likely attack"
        )
        warnings.warn(found[-1], ScoreConventionWarning, stacklevel=2)
    return {
        "threshold": threshold,
        "criterion": str(crit),
        "threshold_source": source,
        **error_rates(s, y, t, threshold),
        **curve_metrics(s, y, t),
        "n_bonafide": int((y == 0).sum()),
        "n_attack": int(y.sum()),
        "dev_auc": None if dev_scores is None else auc(ds, dy),
        "warnings": found,
    }
