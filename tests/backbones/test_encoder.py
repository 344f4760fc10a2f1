"""The micro backbone loads offline from the packaged weights, verifies them, and accepts local paths."""

from __future__ import annotations

import shutil

import pytest

from microgpt import BackboneError
from microgpt.backbones.encoder import (
    DEFAULT_SHA256,
    load_pretrained,
    packaged_default,
    resolve_backbone,
    verify_sha256,
)


def test_packaged_default_passes_its_integrity_check():
    root = packaged_default()
    assert (root / "model.safetensors").exists()
    for alias in ("default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        assert resolve_backbone(alias) == str(root)


def test_tampered_or_truncated_weights_fail_loudly(tmp_path):
    src = packaged_default() / "tokenizer.json"
    copy = tmp_path / "tokenizer.json"
    shutil.copy(src, copy)
    verify_sha256(copy, DEFAULT_SHA256["tokenizer.json"])
    data = bytearray(copy.read_bytes())
    data[100] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(BackboneError, match="failed its integrity check") as err:
        verify_sha256(copy, DEFAULT_SHA256["tokenizer.json"])
    assert "force-reinstall" in err.value.hint
    copy.write_bytes(bytes(data[:1000]))
    with pytest.raises(BackboneError, match="integrity"):
        verify_sha256(copy, DEFAULT_SHA256["tokenizer.json"])


def test_local_directory_backbone_loads(tmp_path):
    local = tmp_path / "my-encoder"
    shutil.copytree(packaged_default(), local)
    encoder, tokenizer = load_pretrained(str(local))
    assert encoder.config.hidden_size == 384
    assert tokenizer("hello world")["input_ids"][0] == tokenizer.cls_token_id


def test_bad_backbone_paths_name_the_fix(tmp_path):
    with pytest.raises(BackboneError, match="not found"):
        resolve_backbone(str(tmp_path / "missing-dir"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneError, match="no config.json"):
        resolve_backbone(str(tmp_path / "empty"))
