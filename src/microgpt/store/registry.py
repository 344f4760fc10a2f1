"""The module registry: named modules with numbered versions and an atomically swapped `current` pointer.

    $MICROGPT_HOME/modules/<name>/
        1/ 2/ 3/          module directories, copied in by `add` (never modified afterwards)
        CURRENT           the promoted version number (replaced with an atomic rename)
        history.json      promotions, newest last — what `rollback` walks back through

A version is promoted only after it loads and predicts; a crash at any point leaves the previous pointer intact.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microgpt.errors import ConfigError, MicroGPTError, ModuleFormatError
from microgpt.home import default_home
from microgpt.module import load_errors, read_manifest

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\Z")  # \Z, not $: "evil\n" must not pass


class RegistryError(MicroGPTError, LookupError):
    """A registry operation cannot be done as asked (unknown module or version, nothing to roll back to)."""


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp to the second, as every log and manifest writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: int
    current: bool
    task: str
    tier: str
    created_at: str
    metrics: dict[str, Any]
    path: Path


class Registry:
    """Versioned modules under `home/modules`. Every method is safe to call from several processes at once."""

    def __init__(self, home: str | Path | None = None, root: str | Path | None = None) -> None:
        self.home = Path(home) if home is not None else default_home()
        # `root`: the modules on a shared path (NFS, a mounted volume) that several servers read; store/remote.py
        # has the registry on an fsspec URL
        self.root = Path(root) if root is not None else self.home / "modules"
        self._pointers: dict[str, tuple[tuple[int, int, int], int]] = {}  # name -> (CURRENT's stat, its version)

    # ---- reading -------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME.match(p.name))

    def _lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        return _flock(self._folder(name) / ".lock")

    def versions(self, name: str) -> list[VersionInfo]:
        folder = self._folder(name)
        current = self.current(name)
        out = []
        for v in sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()):
            try:
                m = read_manifest(folder / str(v), verify=False)
            except ModuleFormatError:
                m = {}
            out.append(
                VersionInfo(
                    name=name,
                    version=v,
                    current=v == current,
                    task=str(m.get("task", "?")),
                    tier=str(m.get("tier", "?")),
                    created_at=str(m.get("created_at", "")),
                    metrics={k: x for k, x in m.get("metrics", {}).items() if isinstance(x, (int, float))},
                    path=folder / str(v),
                )
            )
        return out

    def current(self, name: str) -> int | None:
        # read on every request by the server (so a promotion in another process shows at once): the pointer
        # first, and the folder's existence only when there is none. A promotion renames a new file over the
        # pointer (a new inode), so an unchanged stat means an unchanged version: one stat() instead of a read.
        check_name(name)
        pointer = os.path.join(self.root, name, "CURRENT")
        try:
            st = os.stat(pointer)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            held = self._pointers.get(name)
            if held is not None and held[0] == stamp:
                return held[1]
            with open(pointer, encoding="utf-8") as f:
                version = int(f.read().strip())
        except (FileNotFoundError, NotADirectoryError):
            self._folder(name)  # no such module: a RegistryError naming the ones there are
            return None
        except (ValueError, UnicodeDecodeError):
            raise ModuleFormatError(
                f"{pointer} is corrupt", hint=f"set it again with `microgpt modules promote {name} VERSION`"
            ) from None
        self._pointers[name] = (stamp, version)
        return version

    def path(self, name: str, version: int | None = None) -> Path:
        """The directory of `version` (default: the current one)."""
        if version is None:
            version = self.current(name)
            if version is None:
                raise RegistryError(
                    f"module {name!r} has no promoted version",
                    hint=f"microgpt modules promote {name} VERSION",
                )
        path = self._folder(name) / str(version)
        if not path.is_dir():
            known = ", ".join(str(v.version) for v in self.versions(name)) or "none"
            raise RegistryError(
                f"module {name!r} has no version {version} (versions: {known})", hint="microgpt modules list"
            )
        return path

    def load(self, name: str, version: int | None = None) -> Any:
        from microgpt.task import load

        path = self.path(name, version)
        with load_errors(path):
            return load(path)

    # ---- writing -------------------------------------------------------------------------------------------
    def add(self, module_dir: str | Path, name: str, promote: bool | None = None) -> int:
        """Copy a trained module in as the next version; returns its number.

        The copy is checked (every file hash) before it gets a number. `promote=None` promotes the first version
        of a new name and leaves later ones for an explicit promote.
        """
        check_name(name)
        source = Path(module_dir)
        read_manifest(source, verify=True)  # refuse a corrupt module before copying anything
        _refuse_links(source)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".add-", dir=folder))
        try:
            shutil.copytree(source, staging, symlinks=True, dirs_exist_ok=True)  # never follow a link
            _refuse_links(staging)  # the source may have changed while we copied
            read_manifest(staging, verify=True)
            _check_loads(staging, name)  # a module that does not load never gets a version number
            with self._lock(name):  # one add at a time decides whether it is the first (and promoted)
                version = self._claim_version(folder, staging)
                if promote or (promote is None and self.current(name) is None):
                    self._promote(name, version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def _claim_version(self, folder: Path, staging: Path) -> int:
        """Rename the staged copy to the next free number; a concurrent add that takes it makes us try the next."""
        for _ in range(1000):
            taken = [int(p.name) for p in folder.iterdir() if p.name.isdigit()]
            version = max(taken, default=0) + 1
            try:
                os.rename(staging, folder / str(version))  # fails on an existing non-empty directory
                return version
            except OSError:
                continue
        raise RegistryError(f"could not allocate a version under {folder}", hint="retry; is something else writing?")

    def promote(self, name: str, version: int) -> None:
        """Point `current` at `version`, after checking it loads and predicts finite confidences."""
        with self._lock(name):
            self._promote(name, version)

    def _promote(self, name: str, version: int) -> None:
        path = self.path(name, version)
        history = self._history(name)  # a corrupt history fails here, before the pointer moves
        try:
            model = self.load(name, version)
            with load_errors(path):
                smoke_test(model)
        except MicroGPTError as err:
            raise RegistryError(
                f"refusing to promote {name} v{version}: it does not load ({err.message})",
                hint="retrain it and `microgpt modules add` the new module",
            ) from None
        self._write_pointer(name, version)
        history.append({"version": version, "at": utc_now()})
        self._write_json(path.parent / "history.json", history)

    def previous(self, name: str) -> int | None:
        """The version `rollback` would re-promote, or None when there is none."""
        history = self._rollback_history(name)
        return int(history[-1]["version"]) if history else None

    def _rollback_history(self, name: str) -> list[dict[str, Any]]:
        folder = self._folder(name)
        current = self.current(name)
        history = self._history(name)
        # Drop the present promotion (and any whose version was removed since): what remains last is the target.
        while history and (history[-1]["version"] == current or not (folder / str(history[-1]["version"])).is_dir()):
            history.pop()
        return history

    def rollback(self, name: str) -> int:
        """Re-promote the version that was current before the present one; returns it."""
        with self._lock(name):
            history = self._rollback_history(name)
            if not history:
                raise RegistryError(
                    f"module {name!r} has no earlier promoted version to roll back to", hint="microgpt modules list"
                )
            target = int(history[-1]["version"])
            self._write_pointer(name, target)
            self._write_json(self._folder(name) / "history.json", history)
            return target

    def remove(self, name: str, version: int) -> None:
        """Delete a version that is not current."""
        path = self.path(name, version)
        if self.current(name) == version:
            raise RegistryError(
                f"v{version} is the current version of {name!r}",
                hint=f"promote or roll back to another version first: microgpt modules rollback {name}",
            )
        trash = path.parent / f".rm-{version}-{os.getpid()}"
        os.rename(path, trash)  # disappears from listings at once; the delete can then take its time
        shutil.rmtree(trash, ignore_errors=True)

    # ---- helpers -------------------------------------------------------------------------------------------
    def _folder(self, name: str) -> Path:
        check_name(name)
        folder = self.root / name
        if not folder.is_dir():
            known = ", ".join(self.names()) or "none yet"
            raise RegistryError(
                f"no module named {name!r} (modules: {known})", hint="microgpt modules add DIR --name NAME"
            )
        return folder

    def _history(self, name: str) -> list[dict[str, Any]]:
        path = self._folder(name) / "history.json"
        try:
            history = json.loads(path.read_text())
        except FileNotFoundError:
            return []
        except (ValueError, UnicodeDecodeError):
            history = None
        if not isinstance(history, list) or not all(
            isinstance(h, dict) and isinstance(h.get("version"), int) for h in history
        ):
            raise RegistryError(
                f"{path} is corrupt (not a list of promotions)",
                hint=f"delete it (rollback then starts afresh) and promote again: microgpt modules promote {name} N",
            )
        return history

    def _write_pointer(self, name: str, version: int) -> None:
        self._write_text(self._folder(name) / "CURRENT", f"{version}\n")

    def _write_json(self, path: Path, value: Any) -> None:
        self._write_text(path, json.dumps(value, indent=1))

    @staticmethod
    def _write_text(path: Path, text: str) -> None:
        """Write a sibling temp file, fsync, then rename over `path`: readers see the old or the new, never half."""
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (released when the file closes, even if the holder is killed)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def smoke_test(model: Any) -> None:
    """One prediction; a classifier or tagger must give finite probabilities (NaN weights answer null)."""
    import numpy as np

    model.predict(["registry smoke test"])
    if getattr(model, "task", None) in ("classify", "tag"):
        proba = np.asarray(model.predict_proba(["registry smoke test", "hello"]))
        if not np.isfinite(proba).all():
            raise ModuleFormatError(
                "it predicts NaN or infinite confidences", hint="the weights are damaged or training diverged"
            )


def _check_loads(path: Path, name: str) -> None:
    from microgpt.task import load

    try:
        with load_errors(path):
            smoke_test(load(path))
    except MicroGPTError as err:
        raise ModuleFormatError(
            f"refusing to add {name}: the module does not load ({err.message})",
            hint="retrain it (microgpt train DATA --out DIR) and add the new directory",
        ) from None


def _refuse_links(root: Path) -> None:
    """Refuse a module directory holding symlinks, FIFOs or devices: copying one could hang (/dev/zero) or pull
    a file from elsewhere (/etc/passwd) into the registry."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for entry in [*dirnames, *filenames]:
            p = Path(dirpath) / entry
            mode = os.lstat(p).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
                raise ModuleFormatError(
                    f"{p} is {kind}; refusing to add a module that contains one",
                    hint="copy the real files into the module directory (or remove the link) and add it again",
                )


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            f"invalid module name {name!r}",
            hint="use lower-case letters, digits, '-' and '_' (up to 64, starting with a letter or digit)",
        )
