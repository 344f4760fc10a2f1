"""Shared fixtures: small labelled data written by the tests, and tiny tier settings so training takes seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import microgpt
from microgpt.data import datasets
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from tests.pgserver import PostgresServer, pg_bin

ROOT = Path(__file__).resolve().parents[1]
HELPDESK = ROOT / "examples" / "helpdesk.csv"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A few micro training steps are enough to test the contract; real numbers live in bench/.
TINY_MICRO = {"max_steps": 4, "batch_size": 16, "ensemble_nano": False, "max_length": 32}


def require_data() -> Path:
    """The benchmark data folder, or a skip naming MICROGPT_DATA_DIR — a failure when `CI` is set, since CI has the
    data and a silently skipped test there would hide a broken loader."""
    try:
        return datasets.data_dir()
    except DataError as err:
        reason = f"needs the benchmark data: set MICROGPT_DATA_DIR=/path/to/shared/data ({err.message})"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the data must be there: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def needs_data() -> Path:
    """Use in a test that reads the shared benchmark sets (a fresh clone has none: the test skips)."""
    return require_data()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (Debian's binaries), on a free loopback port; stopped at the end.

    Skips where the binaries are absent (`apt-get install postgresql` brings them) — a failure when `CI` is set,
    since .ci/run installs them."""
    if pg_bin() is None:
        reason = "needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/pg_ctl): apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so PostgreSQL must be installed: {reason}", pytrace=False)
        pytest.skip(reason)
    pytest.importorskip("psycopg", reason="needs psycopg: pip install 'microgpt[postgres]'")
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request, tmp_path) -> str:
    """Where a fresh store lives, once per backend: a SQLite file, then a new database on the test PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture(scope="session")
def helpdesk() -> Dataset:
    return microgpt.read_examples(HELPDESK)


@pytest.fixture(scope="session")
def helpdesk_split(helpdesk: Dataset) -> tuple[Dataset, Dataset]:
    return microgpt.train_test_split(helpdesk, test_fraction=0.25, seed=0)


@pytest.fixture(scope="session")
def small_tags() -> Dataset:
    """Multi-label support messages: each text names one or two topics."""
    topics = {
        "billing": ["charged twice", "invoice is wrong", "card payment failed"],
        "shipping": ["parcel is late", "tracking not updating", "delivered to wrong address"],
        "refund": ["want my money back", "refund still not received", "please refund me"],
        "login": ["cannot sign in", "password reset link broken", "locked out of account"],
    }
    texts, labels = [], []
    names = sorted(topics)
    for i, a in enumerate(names):
        for j, phrase in enumerate(topics[a]):
            texts.append(f"hello, {phrase}")
            labels.append([a])
            b = names[(i + 1 + j) % len(names)]
            texts.append(f"{phrase} and also {topics[b][j]}")
            labels.append(sorted({a, b}))
    return Dataset.from_lists(texts, labels, name="small-tags")
