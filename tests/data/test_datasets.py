"""Loaders for the shared public sets read them in place (never copied), with the documented counts.

Tests that read the sets take the `needs_data` fixture: they skip on a fresh clone (naming MICROGPT_DATA_DIR) and
fail under CI, where the data must be present."""

from __future__ import annotations

import pytest

from microgpt import DataError
from microgpt.data import datasets


def test_banking77_counts(needs_data):
    train, test = datasets.banking77("train"), datasets.banking77("test")
    assert len(train) == 10_003 and len(test) == 3_080
    assert len(train.label_counts()) == 77


def test_cfpb_and_nlupp(needs_data):
    assert len(datasets.cfpb("train")) == 700 and len(datasets.cfpb("test")) == 300
    nlupp = datasets.nlupp("banking", range(10))
    assert nlupp.is_multilabel and len(nlupp.label_counts()) == 48
    assert any(e.labels == () for e in nlupp)  # texts with no intent stay in, as empty label sets


def test_data_dir_override_and_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("MICROGPT_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="MICROGPT_DATA_DIR"):
        datasets.banking77()
    monkeypatch.setenv("MICROGPT_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="missing"):
        datasets.banking77()
    with pytest.raises(DataError, match="no split 'dev'"):
        datasets.cfpb("dev")


def test_issue_12_missing_data_skips_naming_the_variable_and_fails_under_ci(monkeypatch, tmp_path):
    from tests.conftest import require_data

    monkeypatch.setenv("MICROGPT_DATA_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="MICROGPT_DATA_DIR"):
        require_data()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_data()
    monkeypatch.setenv("MICROGPT_DATA_DIR", str(tmp_path))
    assert require_data() == tmp_path
