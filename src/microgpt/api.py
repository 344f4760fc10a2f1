"""`train()` and `load()`: the one-call entry points, over the task registry (`microgpt.task.TASKS`).

model = microgpt.train("tickets.csv", task="classify", tier="nano", out="router/", label_col="route")
model = microgpt.train(data, task="extract", schema="date:date, people:count", config={"nano": {"c1": 0.1}})
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset
from microgpt.errors import ConfigError
from microgpt.module import check_out
from microgpt.progress import Progress, no_progress
from microgpt.task import Task, load, task_class

__all__ = ["load", "train"]


def train(
    data: Dataset | str | Path,
    task: str = "classify",
    tier: str = "nano",
    out: str | Path | None = None,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    reply_col: str | None = None,
    config: dict[str, Any] | str | Path | None = None,
    nano: dict[str, Any] | None = None,
    micro: dict[str, Any] | None = None,
    auto: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Progress = no_progress,
    **task_settings: Any,
) -> Task:
    """Train a `task` model ('classify', 'tag', 'extract' or 'reply') on `tier` and, with `out`, save it as a module.

    `data` is a Dataset or a .csv/.jsonl path (read with `text_col`, `label_col`, `label_sep`, `reply_col`).
    `config` holds each tier's settings by tier name (`{"micro": {"epochs": 3}}`, or that as JSON / a .json file);
    `nano=`/`micro=`/`auto=` set one tier's. Task-specific settings go by name, e.g. an extractor's `schema` and
    `date_order`. Everything the CLI's `train` can do, this can.
    """
    cls = task_class(task)
    if out is not None:
        check_out(out)  # before training: a bad --out must not cost minutes of training first
    if not isinstance(data, Dataset):
        data = read_examples(data, task=cls.data_kind, text_col=text_col, label_col=label_col, label_sep=label_sep,
                             reply_col=reply_col)  # fmt: skip
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "tier", "seed")]
    sections = _config_sections(config)
    for name, value in (("nano", nano), ("micro", micro), ("auto", auto)):
        if value:
            sections[name] = {**sections.get(name, {}), **value}
    settings: dict[str, Any] = {}
    for name, value in {**sections, **task_settings}.items():
        if value is None:  # not given (the CLI passes every option it has)
            continue
        if name not in accepted:
            raise ConfigError(
                f"{cls.__name__} does not take {name!r} settings",
                hint=f"{cls.__name__} takes: {', '.join(accepted)}",
            )
        settings[name] = value
    model = cls(tier, seed=seed, **settings).fit(data, progress=progress)
    if out is not None:
        model.save(out)
    return model


def _config_sections(config: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """Tier settings by tier name, from a dict, a JSON string or a .json file."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return {k: dict(v) for k, v in config.items()}
    raw = str(config)
    path = Path(raw)
    try:
        parsed = json.loads(path.read_text() if not raw.lstrip().startswith("{") and path.is_file() else raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"config is not valid JSON ({err.msg})", hint='e.g. \'{"micro": {"epochs": 3}}\'') from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise ConfigError("config must map tier names to settings", hint='e.g. {"micro": {"epochs": 3}}')
    return parsed
