"""`train()`: the one-call entry point the CLI and the demo use (data → task on a tier → saved module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microgpt.config import TASKS
from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset
from microgpt.errors import ConfigError
from microgpt.progress import Progress, no_progress
from microgpt.tasks.base import Task


def train(
    data: Dataset | str | Path,
    task: str = "classify",
    tier: str = "nano",
    out: str | Path | None = None,
    *,
    nano: dict[str, Any] | None = None,
    micro: dict[str, Any] | None = None,
    auto: dict[str, Any] | None = None,
    seed: int = 0,
    schema: str | Path | dict[str, Any] | None = None,
    date_order: str = "DMY",
    progress: Progress = no_progress,
) -> Task:
    """Train a `task` model ('classify', 'tag', 'extract' or 'reply') on `tier` and, with `out`, save it as a module.

    `schema` and `date_order` apply to 'extract' (see `microgpt.Extractor`); for 'reply', `micro` holds the
    `TinyGPTConfig` settings (see `microgpt.Replier`).
    """
    from microgpt.tasks.classify import Classifier
    from microgpt.tasks.extract import Extractor
    from microgpt.tasks.reply import Replier
    from microgpt.tasks.tag import Tagger

    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}", hint=f"use one of: {', '.join(TASKS)}")
    if out is not None:
        from microgpt.module import check_out

        check_out(out)  # before training: a bad --out must not cost minutes of training first (issue 17)
    if not isinstance(data, Dataset):
        data = read_examples(data, task=task)
    model: Task
    if task == "extract":
        if auto:
            raise ConfigError("the auto tier is not available for extraction yet", hint="use tier nano or micro")
        extractor = Extractor(tier, schema=schema, date_order=date_order, nano=nano, micro=micro, seed=seed)
        model = extractor.fit(data, progress=progress)
    elif task == "reply":
        if auto:
            raise ConfigError("the auto tier is not available for replies yet", hint="use tier nano or micro")
        model = Replier(tier, nano=nano, micro=micro, seed=seed).fit(data, progress=progress)
    else:
        cls = Classifier if task == "classify" else Tagger
        model = cls(tier, nano=nano, micro=micro, auto=auto, seed=seed).fit(data, progress=progress)
    if out is not None:
        model.save(out)
    return model
