"""Seeded, stratified train/dev/test splits."""

from __future__ import annotations

import random
from collections import defaultdict

from microgpt.data.records import Dataset, Example
from microgpt.errors import DataError


def train_test_split(data: Dataset, test_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split so every label keeps its share on both sides (stratified on the first label for multi-label rows).

    A label with at least 2 examples always keeps one on the training side and, where it has more than one,
    gets at least one on the test side; rare labels are never dropped from training.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}", hint="use e.g. 0.2")
    if len(data) < 2:
        raise DataError(f"cannot split {len(data)} example(s)", hint="provide at least 2 examples")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(data):
        key = e.label if e.label is not None else (sorted(e.labels)[0] if e.labels else "")
        groups[key].append(i)
    rng = random.Random(seed)
    train_idx: list[int] = []
    test_idx: list[int] = []
    for key in sorted(groups):
        idx = groups[key]
        rng.shuffle(idx)
        n_test = round(len(idx) * test_fraction)
        n_test = min(max(n_test, 1 if len(idx) > 1 else 0), len(idx) - 1)
        test_idx.extend(idx[:n_test])
        train_idx.extend(idx[n_test:])
    rng.shuffle(train_idx)
    rng.shuffle(test_idx)
    pick: list[Example] = list(data)
    return (
        Dataset([pick[i] for i in train_idx], name=f"{data.name}[train]"),
        Dataset([pick[i] for i in test_idx], name=f"{data.name}[test]"),
    )
