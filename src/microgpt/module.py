"""The module format: a trained model as a directory, written atomically and checked when loaded.

    my-router/
      microgpt.json        task, tier, labels, metrics, resolved config, data fingerprint, versions, file hashes
      nano.json, nano.safetensors               (nano tier)
      micro.json, micro.safetensors, encoder/   (micro tier; nano/ too when blended)
      train_texts.sha1                          8-byte digests of the normalised training texts (overlap checks)
      report.json, REPORT.md                    (written by `evaluate`)

Saving writes a sibling temporary directory, then swaps it in with renames, so a crash mid-save leaves either
the old module or the new one — never a half-written one — at the path.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import uuid
from pathlib import Path
from typing import Any

from microgpt.errors import ModuleFormatError

FORMAT = "microgpt-module"
FORMAT_VERSION = 1
MANIFEST = "microgpt.json"
TRAIN_TEXTS = "train_texts.sha1"
DIGEST_BYTES = 8  # 64 bits: a chance collision among a million texts is ~1e-8


def text_digests(texts: Any) -> bytes:
    """Sorted, de-duplicated 8-byte sha1 digests of texts normalised for case and whitespace (~8 bytes a text)."""
    digests = {hashlib.sha1(" ".join(t.split()).casefold().encode()).digest()[:DIGEST_BYTES] for t in texts}
    return b"".join(sorted(digests))


def write_train_texts(directory: Path, digests: bytes | None, loaded_from: Path | None = None) -> None:
    """Write the digests of a fitted model, or carry over those of the module a loaded model came from."""
    if digests is None and loaded_from is not None and (Path(loaded_from) / TRAIN_TEXTS).is_file():
        digests = (Path(loaded_from) / TRAIN_TEXTS).read_bytes()
    if digests is not None:
        (Path(directory) / TRAIN_TEXTS).write_bytes(digests)


def count_train_overlap(path: str | Path, texts: Any) -> int | None:
    """How many of `texts` were training texts of the module at `path`; None when it predates the digest file."""
    f = Path(path) / TRAIN_TEXTS
    if not f.is_file():
        return None
    raw = f.read_bytes()
    known = {raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)}
    return sum(1 for t in texts if text_digests([t]) in known)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("microgpt", "numpy", "scikit-learn", "torch", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_module(path: Path, manifest: dict[str, Any], write_files: Any) -> None:
    """Create the module at `path`: `write_files(tmp_dir)` writes the weights, then the manifest is added.

    The manifest records every file's sha256, so `read_manifest(verify=True)` detects truncation or tampering.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ModuleFormatError(f"{path} exists and is a file", hint="choose a directory path for --out")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).exists():
        raise ModuleFormatError(
            f"{path} is a non-empty directory that is not a MicroGPT module; refusing to overwrite it",
            hint="choose a new or empty directory for --out",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_files(tmp)
        files = {str(f.relative_to(tmp)): sha256_file(f) for f in sorted(tmp.rglob("*")) if f.is_file()}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        _fsync_tree(tmp)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_tree(root: Path) -> None:
    for f in root.rglob("*"):
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path`; an existing module is moved aside first and removed only after the swap."""
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)  # put the last good module back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(path: Path, verify: bool = True) -> dict[str, Any]:
    """The module's microgpt.json, after checking it is ours, of a version we read, and (optionally) intact."""
    path = Path(path)
    if not path.exists():
        raise ModuleFormatError(f"no module at {path}", hint="train one with `microgpt train DATA --out DIR`")
    if not path.is_dir():
        raise ModuleFormatError(
            f"{path} is a file, not a module directory", hint="pass the directory `train --out` wrote"
        )
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise ModuleFormatError(
            f"{path} is not a MicroGPT module (no {MANIFEST})",
            hint="pass a directory written by `microgpt train --out DIR`",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModuleFormatError(
            f"{manifest_path} is corrupt ({err})", hint="retrain the module, or restore it from a backup"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModuleFormatError(f"{manifest_path} is not a MicroGPT manifest", hint="retrain the module")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        writer = manifest.get("versions", {}).get("microgpt", "an unknown version")
        raise ModuleFormatError(
            f"{path} uses module format {version}, written by microgpt {writer}; "
            f"this microgpt reads format ≤ {FORMAT_VERSION}",
            hint="upgrade: pip install -U microgpt",
        )
    if verify:
        for name, digest in manifest.get("files", {}).items():
            f = path / name
            if not f.exists():
                raise ModuleFormatError(
                    f"{path} is missing {name}", hint="the module is incomplete: retrain or restore it"
                )
            if sha256_file(f) != digest:
                raise ModuleFormatError(
                    f"{path}/{name} does not match its recorded checksum (truncated or modified)",
                    hint="retrain the module, or restore it from a backup",
                )
    return manifest


def update_manifest(path: Path, **fields: Any) -> None:
    """Merge `fields` into an existing module's manifest (atomically: write then rename)."""
    manifest = read_manifest(path, verify=False)
    manifest.update(fields)
    tmp = path / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    os.replace(tmp, path / MANIFEST)
