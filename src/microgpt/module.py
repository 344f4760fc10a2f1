"""The module format: a trained model as a directory, written atomically and checked when loaded.

    my-router/
      microgpt.json        task, tier, labels, metrics, resolved config, data fingerprint, versions, file hashes
      nano.json, nano.safetensors               (nano tier)
      micro.json, micro.safetensors, encoder/   (micro tier; nano/ too when blended)
      train_texts.sha1                          8-byte digests of the normalised training texts (overlap checks)
      report.json, REPORT.md                    (written by `evaluate`)

Saving writes a sibling temporary directory, then swaps it in with one atomic exchange (`renameat2`
RENAME_EXCHANGE on Linux; elsewhere two renames, and the next access restores an old module left aside by a crash
between them), so a crash mid-save leaves either the old module or the new one — never a half-written one, never
nothing — at the path. Files a user put into an existing module directory are kept across a re-save.

What a load trusts: the manifest names each file by a relative path inside the directory (no absolute paths, no
`..`, no symlinks, regular files only) with its sha256; the manifest carries a digest of itself, so an edited or
emptied `files` list fails the check; weights are checked for NaN/inf; and whatever a corrupt file makes the
loader raise comes out as `ModuleFormatError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from microgpt.errors import MicroGPTError, ModuleFormatError

FORMAT = "microgpt-module"
FORMAT_VERSION = 1
MANIFEST = "microgpt.json"
# Written into a module by `evaluate` after the save; replaced, not kept, when the module is saved again.
REPORT_FILES = frozenset({"report.json", "REPORT.md", "report.html"})
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")

log = logging.getLogger(__name__)


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
    check_out(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_files(tmp)
        files = {f.relative_to(tmp).as_posix(): sha256_file(f) for f in sorted(tmp.rglob("*")) if f.is_file()}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
        _write_manifest(tmp, manifest)
        _keep_user_files(path, tmp)
        _fsync_tree(tmp)
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_out(path: str | Path) -> None:
    """Refuse an output path we cannot or must not write, before minutes of training are spent on it."""
    path = Path(path)
    recover(path)
    if path.exists() and not path.is_dir():
        raise ModuleFormatError(f"{path} exists and is a file", hint="choose a directory path for --out")
    if path.is_dir() and any(path.iterdir()) and not (path / MANIFEST).exists():
        raise ModuleFormatError(
            f"{path} is a non-empty directory that is not a MicroGPT module; refusing to overwrite it",
            hint="choose a new or empty directory for --out",
        )
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ModuleFormatError(
            f"cannot write the module to {path}: {parent} is not writable", hint="choose a writable --out directory"
        )


def recover(path: Path) -> bool:
    """Put back a module a crash left aside (`.NAME.old-*`) while nothing is at `path`; True if one was restored."""
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return False
    aside = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in aside:
        if (old / MANIFEST).is_file():
            try:
                os.rename(old, path)
            except OSError:
                return False  # someone else restored it (or saved anew) meanwhile
            log.warning("restored %s from %s, left aside by an interrupted save", path, old.name)
            return True
    return False


def clean_stale(path: Path) -> list[Path]:
    """Delete temporary directories that saves of `path` killed mid-way left behind; returns them."""
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-")[0]
        alive = pid.isdigit() and _pid_alive(int(pid))
        old_format = not pid.isdigit() or len(tmp.name.rsplit("-", 1)[-1]) != 8
        if alive or (old_format and time.time() - tmp.stat().st_mtime < 3600):
            continue  # a save in progress
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    if path.exists():
        for old in path.parent.glob(f".{path.name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)  # an older module the swap already replaced
            removed.append(old)
    if removed:
        log.warning("removed %d stale temporary module director%s next to %s", len(removed),
                    "y" if len(removed) == 1 else "ies", path)  # fmt: skip
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _keep_user_files(path: Path, tmp: Path) -> None:
    """Carry over what a user added to an existing module directory (notes, data): a re-save must not delete it."""
    if not (path / MANIFEST).is_file():
        return
    try:
        ours = set(json.loads((path / MANIFEST).read_text()).get("files", {}))
    except (ValueError, AttributeError, OSError):
        ours = set()
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path).as_posix()
        if (f.is_dir() and not f.is_symlink()) or rel in ours or rel in (MANIFEST, *REPORT_FILES):
            continue
        if any(rel.startswith(o.split("/")[0] + "/") for o in ours if "/" in o):
            continue  # inside one of the module's own folders (encoder/)
        target = tmp / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.is_symlink():
            os.symlink(os.readlink(f), target)
        else:
            shutil.copy2(f, target)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content (keys sorted, its own digest left out)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _write_manifest(directory: Path, manifest: dict[str, Any], name: str = MANIFEST) -> None:
    manifest = {**manifest, "manifest_sha256": manifest_digest(manifest)}
    (directory / name).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))


def _fsync_tree(root: Path) -> None:
    for f in root.rglob("*"):
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())


def _swap_in(tmp: Path, path: Path) -> None:
    """Put `tmp` at `path`: one atomic exchange where the OS has it, else the old module is moved aside first
    (and `recover` puts it back if we die before the second rename); the old one is removed after the swap."""
    if path.exists() and _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old module
        return
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


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the OS or file system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def read_manifest(path: Path, verify: bool = True) -> dict[str, Any]:
    """The module's microgpt.json, after checking it is ours, of a version we read, and (optionally) intact."""
    path = Path(path)
    recover(path)
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
        verify_files(path, manifest)
    return manifest


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check the manifest's own digest, then every listed file: inside `path`, regular, matching its sha256, and
    (weights) free of NaN/inf."""
    recorded = manifest.get("manifest_sha256")
    if recorded is not None and recorded != manifest_digest(manifest):
        raise ModuleFormatError(
            f"{path}/{MANIFEST} does not match its recorded digest (edited by hand or corrupt)",
            hint="retrain the module, or restore it from a backup",
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ModuleFormatError(
            f"{path}/{MANIFEST} lists no files to verify", hint="retrain the module, or restore it from a backup"
        )
    for name, digest in files.items():
        f = _listed_file(path, name)
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise ModuleFormatError(f"{path}/{MANIFEST} has a bad checksum for {name!r}", hint="retrain the module")
        if sha256_file(f) != digest:
            raise ModuleFormatError(
                f"{path}/{name} does not match its recorded checksum (truncated or modified)",
                hint="retrain the module, or restore it from a backup",
            )
        if name.endswith(".safetensors"):
            check_finite(f)


def _listed_file(root: Path, name: Any) -> Path:
    """The file a manifest entry names, refusing anything that could leave the module or never end (a FIFO,
    /dev/zero): absolute paths, `..`, symlinks anywhere on the way, and anything but a regular file."""
    bad = ModuleFormatError(
        f"{root}/{MANIFEST} lists {name!r}, which is not a plain file inside the module",
        hint="module files must be relative paths to regular files in the module directory; retrain the module",
    )
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise bad
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or any(p in ("..", ".", "") for p in parts):
        raise bad
    current = root
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            raise ModuleFormatError(
                f"{root} is missing {name}", hint="the module is incomplete: retrain or restore it"
            ) from None
        if stat.S_ISLNK(mode):
            raise bad
    if not stat.S_ISREG(mode):
        raise bad
    return current


def check_finite(path: Path) -> None:
    """Refuse weights with NaN or inf: such a model answers with a null confidence instead of failing."""
    import numpy as np
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            for key in f.keys():
                if f.get_slice(key).get_dtype() not in ("F16", "F32", "F64"):
                    continue
                if not np.isfinite(f.get_tensor(key)).all():
                    raise ModuleFormatError(
                        f"{path} has NaN or infinite values in {key!r}",
                        hint="the training diverged or the file was damaged: retrain the module",
                    )
    except ModuleFormatError:
        raise
    except Exception as err:
        raise ModuleFormatError(
            f"{path} is not a readable safetensors file ({type(err).__name__}: {err})",
            hint="retrain the module, or restore it from a backup",
        ) from None


@contextlib.contextmanager
def load_errors(path: Path) -> Iterator[None]:
    """Turn whatever a corrupt module makes a loader raise (KeyError, IndexError, SafetensorError...) into a
    `ModuleFormatError` naming the module."""
    try:
        yield
    except MicroGPTError:
        raise
    except Exception as err:
        raise ModuleFormatError(
            f"{path} does not load ({type(err).__name__}: {err})",
            hint="the module is corrupt or was edited: retrain it, or restore it from a backup",
        ) from None


def update_manifest(path: Path, **fields: Any) -> None:
    """Merge `fields` into an existing module's manifest (atomically: write then rename)."""
    manifest = read_manifest(path, verify=False)
    manifest.update(fields)
    manifest.pop("manifest_sha256", None)
    _write_manifest(path, manifest, f".{MANIFEST}.tmp")
    os.replace(path / f".{MANIFEST}.tmp", path / MANIFEST)
