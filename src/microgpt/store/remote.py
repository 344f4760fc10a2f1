"""The registry on shared storage: `MICROGPT_REGISTRY` names the modules root as a shared path (NFS, a mounted
volume) or an fsspec URL (`s3://bucket/microgpt/modules`, `gs://...`, `file:///mnt/shared/modules`).

    registry = open_registry()          # Registry on $MICROGPT_REGISTRY, else on $MICROGPT_HOME/modules

On a URL the layout is the local one (`<name>/<version>/...`, `CURRENT`, `history.json`) plus a `.complete` marker
written after a version's last file, so a half-uploaded version is never listed. `CURRENT` is replaced in one write
(an object store's PUT is atomic; a local file is renamed into place). Each server reads it at most every 0.5 s, so
every replica serves a promotion within a second. Versions never change once added, so each machine downloads a
version once, into `$MICROGPT_HOME/cache/registry/`. Writers (add, promote, rollback) take a PostgreSQL advisory lock
when the store is PostgreSQL (`MICROGPT_STORE_URL`), else a lock on this machine only: then run them from one place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from microgpt.errors import ModuleFormatError
from microgpt.home import default_home
from microgpt.module import read_manifest
from microgpt.store.registry import (
    NAME,
    Registry,
    RegistryError,
    VersionInfo,
    _check_loads,
    _flock,
    _refuse_links,
    check_name,
)

POINTER_TTL_S = 0.5  # how stale a server's view of CURRENT may be: a promotion is served everywhere within this


def open_registry(home: str | Path | None = None) -> Registry:
    """The registry `MICROGPT_REGISTRY` names (a shared path or an fsspec URL), else the one under `home`."""
    where = os.environ.get("MICROGPT_REGISTRY", "").strip()
    if not where:
        return Registry(home)
    if "://" in where:
        return RemoteRegistry(where, home)
    return Registry(home, root=where)


class RemoteRegistry(Registry):
    """`Registry` on an fsspec URL; the same methods, the same checks, versions cached locally once downloaded."""

    def __init__(self, url: str, home: str | Path | None = None) -> None:
        import fsspec

        self.home = Path(home) if home is not None else default_home()
        self.url = url.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.url)
        self.base = self.base.rstrip("/")
        protocol = self.fs.protocol[0] if isinstance(self.fs.protocol, (tuple, list)) else self.fs.protocol
        self._local_fs = protocol in ("file", "local")
        self.root = self.home / "cache" / "registry" / hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self._remote_pointers: dict[str, tuple[float, int | None]] = {}

    def _key(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    # ---- reading -------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        try:
            entries = self.fs.ls(self.base, detail=True)
        except FileNotFoundError:
            return []
        return sorted(n for e in entries if e["type"] == "directory" and NAME.match(n := PurePosixPath(e["name"]).name))

    def _folder(self, name: str) -> Path:
        check_name(name)
        if not self.fs.isdir(self._key(name)):
            known = ", ".join(self.names()) or "none yet"
            raise RegistryError(
                f"no module named {name!r} at {self.url} (modules: {known})",
                hint="microgpt modules add DIR --name NAME",
            )
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _numbers(self, name: str) -> list[int]:
        """The complete versions: a version is listed once its `.complete` marker is written (after its files)."""
        self._folder(name)
        found = []
        for entry in self.fs.ls(self._key(name), detail=False):
            part = PurePosixPath(entry).name
            if part.isdigit() and self.fs.exists(self._key(name, part, ".complete")):
                found.append(int(part))
        return sorted(found)

    def versions(self, name: str) -> list[VersionInfo]:
        current = self.current(name)
        out = []
        for v in self._numbers(name):
            try:
                m = json.loads(self.fs.cat(self._key(name, str(v), "microgpt.json")))
            except (OSError, ValueError):
                m = {}
            out.append(VersionInfo(name, v, v == current, str(m.get("task", "?")), str(m.get("tier", "?")),
                                   str(m.get("created_at", "")),
                                   {k: x for k, x in m.get("metrics", {}).items() if isinstance(x, (int, float))},
                                   self.root / name / str(v)))  # fmt: skip
        return out

    def current(self, name: str) -> int | None:
        held = self._remote_pointers.get(name)
        if held is not None and time.monotonic() - held[0] < POINTER_TTL_S:
            return held[1]
        self._folder(name)
        try:
            raw = self.fs.cat(self._key(name, "CURRENT")).decode()
        except FileNotFoundError:
            version = None
        else:
            try:
                version = int(raw.strip())
            except ValueError:
                raise ModuleFormatError(
                    f"{self._key(name, 'CURRENT')} is corrupt",
                    hint=f"set it again with `microgpt modules promote {name} VERSION`",
                ) from None
        self._remote_pointers[name] = (time.monotonic(), version)
        return version

    def path(self, name: str, version: int | None = None) -> Path:
        """The local copy of `version` (default: the current one), downloaded on first use."""
        if version is None:
            version = self.current(name)
            if version is None:
                raise RegistryError(f"module {name!r} has no promoted version",
                                    hint=f"microgpt modules promote {name} VERSION")  # fmt: skip
        local = self._folder(name) / str(version)
        if local.is_dir():
            return local
        if version not in self._numbers(name):
            known = ", ".join(str(v) for v in self._numbers(name)) or "none"
            raise RegistryError(f"module {name!r} has no version {version} (versions: {known})",
                                hint="microgpt modules list")  # fmt: skip
        staging = Path(tempfile.mkdtemp(prefix=".get-", dir=local.parent))
        try:
            self.fs.get(self._key(name, str(version)) + "/", str(staging), recursive=True)
            (staging / ".complete").unlink(missing_ok=True)
            read_manifest(staging, verify=True)  # every file's hash, before anything loads it
            os.rename(staging, local)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not local.is_dir():  # not a concurrent download that won the rename
                raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return local

    def _history(self, name: str) -> list[dict[str, Any]]:
        self._folder(name)
        try:
            history = json.loads(self.fs.cat(self._key(name, "history.json")))
        except FileNotFoundError:
            return []
        except (ValueError, UnicodeDecodeError):
            history = None
        if not isinstance(history, list) or not all(isinstance(h, dict) and isinstance(h.get("version"), int)
                                                    for h in history):  # fmt: skip
            raise RegistryError(f"{self._key(name, 'history.json')} is corrupt (not a list of promotions)",
                                hint=f"delete it and promote again: microgpt modules promote {name} N")  # fmt: skip
        return history

    def _rollback_history(self, name: str) -> list[dict[str, Any]]:
        current, numbers, history = self.current(name), set(self._numbers(name)), self._history(name)
        while history and (history[-1]["version"] == current or history[-1]["version"] not in numbers):
            history.pop()
        return history

    # ---- writing -------------------------------------------------------------------------------------------
    def add(self, module_dir: str | Path, name: str, promote: bool | None = None) -> int:
        check_name(name)
        source = Path(module_dir)
        read_manifest(source, verify=True)
        _refuse_links(source)
        _check_loads(source, name)
        self.fs.makedirs(self._key(name), exist_ok=True)
        with self._lock(name):
            version = max(self._numbers(name), default=0) + 1
            # a version left half-uploaded by a crash has no marker: clear it before writing over it
            if self.fs.exists(self._key(name, str(version))):
                self.fs.rm(self._key(name, str(version)), recursive=True)
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                key = self._key(name, str(version), *path.relative_to(source).parts)
                self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)  # a file system needs them; a bucket not
                self.fs.put_file(str(path), key)
            self.fs.pipe(self._key(name, str(version), ".complete"), b"")
            if promote or (promote is None and self.current(name) is None):
                self._promote(name, version)
        return version

    def remove(self, name: str, version: int) -> None:
        if self.current(name) == version:
            raise RegistryError(
                f"v{version} is the current version of {name!r}",
                hint=f"promote or roll back to another version first: microgpt modules rollback {name}",
            )
        if version not in self._numbers(name):
            raise RegistryError(f"module {name!r} has no version {version}", hint="microgpt modules list")
        self.fs.rm(self._key(name, str(version), ".complete"))  # unlisted at once, then deleted
        self.fs.rm(self._key(name, str(version)), recursive=True)
        shutil.rmtree(self.root / name / str(version), ignore_errors=True)

    def _write_pointer(self, name: str, version: int) -> None:
        self._put(self._key(name, "CURRENT"), f"{version}\n".encode())
        self._remote_pointers.pop(name, None)

    def _write_json(self, path: Path, value: Any) -> None:  # `path` is <cache>/<name>/history.json
        self._put(self._key(path.parent.name, path.name), json.dumps(value, indent=1).encode())

    def _put(self, key: str, data: bytes) -> None:
        """Replace one small object whole: readers see the old or the new, never half."""
        if not self._local_fs:
            self.fs.pipe(key, data)  # an object store's PUT is atomic
            return
        tmp = f"{key}.{os.getpid()}.tmp"
        self.fs.pipe(tmp, data)
        self.fs.mv(tmp, key)  # a rename

    def _lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        return _writer_lock(self.url, name, self.root)


@contextlib.contextmanager
def _writer_lock(url: str, name: str, cache: Path) -> Iterator[None]:
    """One writer per module: a PostgreSQL advisory lock when the store is PostgreSQL (every machine), else a lock
    on this machine."""
    store_url = os.environ.get("MICROGPT_STORE_URL", "")
    if store_url.startswith(("postgresql://", "postgres://")):
        import psycopg

        key = int.from_bytes(hashlib.sha256(f"{url}/{name}".encode()).digest()[:8], "big", signed=True)
        with psycopg.connect(store_url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return
    cache.mkdir(parents=True, exist_ok=True)
    with _flock(cache / f".{name}.lock"):
        yield
