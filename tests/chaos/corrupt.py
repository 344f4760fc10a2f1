"""Ways a module directory goes bad, for the chaos tests: each makes a damaged copy of a good module.

"Rehashed" damage also updates the manifest's checksums and its own digest, as someone editing the module by hand
(or a buggy tool) would, so it gets past the checksum check and reaches the loader itself.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from microgpt.module import MANIFEST, manifest_digest, sha256_file


def _manifest(d: Path) -> dict:
    return json.loads((d / MANIFEST).read_text())


def _save_manifest(d: Path, m: dict, rehash: bool = True) -> None:
    if rehash:
        m["manifest_sha256"] = manifest_digest(m)
    (d / MANIFEST).write_text(json.dumps(m))


def _rehash(d: Path, *names: str) -> None:
    m = _manifest(d)
    for name in names:
        m["files"][name] = sha256_file(d / name)
    _save_manifest(d, m)


def truncated(d: Path) -> None:
    w = d / "nano.safetensors"
    w.write_bytes(w.read_bytes()[:100])


def truncated_rehashed(d: Path) -> None:
    truncated(d)
    _rehash(d, "nano.safetensors")


def swapped_rehashed(d: Path) -> None:
    a, b = d / "nano.json", d / "nano.safetensors"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    _rehash(d, "nano.json", "nano.safetensors")


def keys_removed_rehashed(d: Path) -> None:
    arrays = load_file(str(d / "nano.safetensors"))
    arrays.pop("coef")
    save_file(arrays, str(d / "nano.safetensors"))
    _rehash(d, "nano.safetensors")


def config_garbled_rehashed(d: Path) -> None:
    meta = json.loads((d / "nano.json").read_text())
    meta["config"] = {"no_such_setting": 1}
    (d / "nano.json").write_text(json.dumps(meta))
    _rehash(d, "nano.json")


def shape_mismatch_rehashed(d: Path) -> None:
    """Loads fine; fails only when it predicts (the weights no longer fit the vocabulary)."""
    arrays = load_file(str(d / "nano.safetensors"))
    arrays["coef"] = np.ascontiguousarray(arrays["coef"][: arrays["coef"].shape[0] // 2])  # (features, labels)
    save_file(arrays, str(d / "nano.safetensors"))
    _rehash(d, "nano.safetensors")


def nan_weights_rehashed(d: Path) -> None:
    arrays = load_file(str(d / "nano.safetensors"))
    arrays["coef"] = np.full_like(arrays["coef"], np.nan)
    save_file(arrays, str(d / "nano.safetensors"))
    _rehash(d, "nano.safetensors")


def listed_symlink(d: Path) -> None:
    real = d / "nano.json"
    shutil.move(real, d / "elsewhere.json")
    os.symlink(d / "elsewhere.json", real)


def listed_symlink_to_dev_zero(d: Path) -> None:
    (d / "nano.safetensors").unlink()
    os.symlink("/dev/zero", d / "nano.safetensors")


def absolute_path(d: Path) -> None:
    m = _manifest(d)
    m["files"]["/dev/zero"] = "0" * 64
    _save_manifest(d, m)


def dotdot_path(d: Path) -> None:
    m = _manifest(d)
    m["files"]["../../etc/passwd"] = "0" * 64
    _save_manifest(d, m)


def listed_fifo(d: Path) -> None:
    os.mkfifo(d / "pipe")
    m = _manifest(d)
    m["files"]["pipe"] = "0" * 64
    _save_manifest(d, m)


def files_emptied(d: Path) -> None:
    m = _manifest(d)
    m["files"] = {}
    _save_manifest(d, m, rehash=False)


def files_emptied_rehashed(d: Path) -> None:
    m = _manifest(d)
    m["files"] = {}
    _save_manifest(d, m)


def manifest_garbage(d: Path) -> None:
    (d / MANIFEST).write_bytes(b"\x00\xff{{{")


# Damage that makes the module unusable: load, add and serve must each refuse it with our error.
BROKEN: dict[str, Callable[[Path], None]] = {f.__name__: f for f in (
    truncated, truncated_rehashed, swapped_rehashed, keys_removed_rehashed, config_garbled_rehashed,
    nan_weights_rehashed, listed_symlink, listed_symlink_to_dev_zero, absolute_path, dotdot_path, listed_fifo,
    files_emptied, files_emptied_rehashed, manifest_garbage,
)}  # fmt: skip


# Damage that only shows when the module predicts: `load` succeeds, `add` and the server's start-up check refuse it.
FAILS_TO_PREDICT: dict[str, Callable[[Path], None]] = {f.__name__: f for f in (shape_mismatch_rehashed,)}


def unlisted_link_to_passwd(d: Path) -> None:
    os.symlink("/etc/passwd", d / "passwd")


def unlisted_link_to_dev_zero(d: Path) -> None:
    os.symlink("/dev/zero", d / "zeros")


def unlisted_fifo(d: Path) -> None:
    os.mkfifo(d / "pipe")


# Extras that the module's own files do not use: it still loads, but `modules add` refuses to copy them in.
UNLISTED: dict[str, Callable[[Path], None]] = {
    f.__name__: f for f in (unlisted_link_to_passwd, unlisted_link_to_dev_zero, unlisted_fifo)
}


def damaged_copy(good: Path, dst: Path, damage: Callable[[Path], None]) -> Path:
    shutil.copytree(good, dst)
    damage(dst)
    return dst
