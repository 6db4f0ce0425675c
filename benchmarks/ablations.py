"""Ablation studies: one method over variants of its parameters, on the comparison's own folds.

Each variant runs through the same resumable `Experiment` (its own state and score files under
`<out>/ablations/<name>/`), so an ablation row is measured exactly like a comparison row.
`train_fraction` keeps a seeded share of each fold's training groups (a learning curve);
`seed_subset` keeps the seed project's 59/400/600-image training sets (seed600 only). Every
variant after the first is compared with the first (the baseline) by a paired bootstrap of the
ACER on the same test presentations, as the comparison's own pairs are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from benchmarks.config import ConfigError, Variant
from benchmarks.datasets.seed import SEED_SUBSETS, seed_subset
from benchmarks.experiment import Experiment, digest
from benchmarks.harness import paired_comparison
from benchmarks.report import write_ablation
from benchmarks.splits import group_ids
from features.records import Dataset


def restricted(exp: Experiment, variant: Variant, dataset: Dataset) -> Experiment:
    """The experiment with each fold's training part shrunk as the variant asks."""
    if variant.train_fraction is None and variant.seed_subset is None:
        return exp
    keep = np.ones(len(exp.records), dtype=bool)
    if variant.seed_subset is not None:
        if dataset.name != "seed600" or variant.seed_subset not in SEED_SUBSETS:
            raise ConfigError(
                f"variant {variant.label!r}: seed_subset needs seed600 and one of "
                f"{sorted(SEED_SUBSETS)}"
            )
        ids = {r.id for r in seed_subset(dataset, variant.seed_subset).records}
        keep = np.array([r.id in ids for r in exp.records])
    folds = []
    rng = np.random.default_rng(exp.config.seed)
    groups = group_ids(exp.records)
    for f in exp.folds:
        train = f.train[keep[f.train]]
        if variant.train_fraction is not None and variant.train_fraction < 1:
            uniq = np.unique(groups[train])
            chosen = rng.choice(
                uniq, max(2, round(variant.train_fraction * len(uniq))), replace=False
            )
            train = train[np.isin(groups[train], chosen)]
        folds.append(replace(f, train=train))
    return replace(
        exp, folds=folds, key=digest([exp.key, variant.train_fraction, variant.seed_subset])
    )


def slug(text: str) -> str:
    """A file-name-safe form of a variant label."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_") or "variant"


def run_ablations(exp: Experiment, names: Sequence[str], dataset: Dataset) -> None:
    """Run each named ablation of the config and write its table and plot."""
    cfg = exp.config
    for name in names:
        ab = cfg.ablations[name]
        if name == "seed_subsets" and dataset.name != "seed600":
            print(f"ablation {name}: skipped (the seed subsets exist only in seed600)")
            continue
        sub = replace(exp, out=exp.out / "ablations" / name)
        rows, pairs = [], []
        for i, v in enumerate(ab.variants):
            result = restricted(sub, v, dataset).run(v.method, v.params, label=slug(v.label))
            print(f"[{name}] {v.label:<20} " + result.summary())
            rows.append({**result.to_dict(), "name": v.label, "variant": v.label})
            if i == 0:
                baseline = result
                continue
            pair = paired_comparison(result, baseline, n_boot=cfg.n_boot, seed=cfg.seed)
            pair = replace(pair, a=v.label, b=ab.variants[0].label)
            pairs.append(pair.to_dict())
            print(f"[{name}] {pair}")
        write_ablation(exp.out / "ablations", name, rows, ab.variable, comparisons=pairs)
