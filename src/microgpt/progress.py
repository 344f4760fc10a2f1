"""The progress callback protocol: library code reports long steps; only the CLI draws them (rich)."""

from __future__ import annotations

from collections.abc import Callable

# progress(stage, done, total): called by long-running steps so a CLI can draw a progress bar.
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: say nothing."""
