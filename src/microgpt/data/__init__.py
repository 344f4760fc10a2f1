"""Data in: records, file readers, seeded splits and loaders for the public benchmark sets."""

from __future__ import annotations

from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset, Example
from microgpt.data.splits import train_test_split

__all__ = ["Dataset", "Example", "read_examples", "train_test_split"]
