"""README.md is tested: every ```bash / ```shell / ```python block runs, in order, as a new user would type it.

The blocks run in one temporary directory holding a copy of the shipped examples/ (a tutorial: later blocks use
what earlier ones trained), with `microgpt` on PATH as this checkout's CLI and MICROGPT_HOME inside the directory.
A block preceded by `<!-- readme-test: skip (reason) -->` is not run; the reason is required and the set is small.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUNNABLE = ("bash", "shell", "sh", "python")
MAX_SKIPPED = 7  # the set-up scripts, a micro export, the server and its curl calls, an LLM endpoint, the benchmarks

_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*(?:\((?P<reason>[^)]*)\))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int
    skip: str | None  # the reason, when marked

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for m in _FENCE.finditer(text):
        lang = m.group(1).lower()
        if lang not in RUNNABLE:
            continue
        before = text[: m.start()].rstrip().splitlines()
        marker = _SKIP.search(before[-1]) if before else None
        skip = (marker.group("reason") or "").strip() if marker else None
        blocks.append(Block(lang, m.group(2), text[: m.start()].count("\n") + 1, skip))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_readme_blocks_are_found_and_skips_are_few_and_explained():
    assert sum(b.lang == "python" for b in BLOCKS) >= 4 and sum(b.lang == "bash" for b in BLOCKS) >= 6
    skipped = [b for b in BLOCKS if b.skip is not None]
    assert all(b.skip for b in skipped), [b.id for b in skipped if not b.skip]  # every skip says why
    assert len(skipped) <= MAX_SKIPPED, [b.id for b in skipped]
    setup = next(b for b in BLOCKS if "./scripts/demo" in b.code)
    assert "./scripts/test" in setup.code  # the two set-up commands stay, together


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", root / "examples")
    shim = root / "bin" / "microgpt"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m microgpt "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    src = str(ROOT / "src")
    env = {
        **os.environ,
        "PATH": f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
        "MICROGPT_HOME": str(root / "home"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "COLUMNS": "200",
    }
    for var in ("MICROGPT_LLM_BASE_URL", "MICROGPT_LLM_MODEL"):
        env.pop(var, None)  # the README's escalation example must work without an LLM configured
    return root, env


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs_as_written(block: Block, workspace):
    if block.skip is not None:
        pytest.skip(f"marked in README.md: {block.skip}")
    root, env = workspace
    if block.lang == "python":
        cmd = [sys.executable, "-c", block.code]
    else:
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{block.id} failed (exit {proc.returncode}):\n{block.code}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
