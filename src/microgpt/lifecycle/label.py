"""`microgpt.label(texts, labels)`: distil a large model's labels into training data; nothing it cannot label is lost.

    result = microgpt.label(texts, ["billing", "refund"], out="labelled.jsonl")   # teacher from MICROGPT_LLM_*
    result.labelled, result.queued                       # rows written, and texts queued for a person by reason

Each answer is logged as a teacher label in the store; a text the teacher cannot label (it says unknown, times out,
fails, or the budget is spent) goes to the review queue with the reason, exactly as the cascade does it.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microgpt.errors import ConfigError
from microgpt.progress import Progress, no_progress
from microgpt.routing.llm import FallbackConfig, FallbackError, LLMClient
from microgpt.routing.teacher import LabelTeacher


@dataclass
class LabelResult:
    """What a labelling run did: rows written, texts queued by reason, the teacher's usage and its last error."""

    labelled: int = 0
    total: int = 0
    queued: Counter[str] = field(default_factory=Counter)
    usage: dict[str, Any] = field(default_factory=dict)
    last_error: FallbackError | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def _answers(
    engine: str,
    client: LLMClient,
    config: FallbackConfig,
    choices: list[str],
    examples: Mapping[str, Sequence[str]] | None,
    per_label: int,
    workers: int,
    address: str | None,
) -> Iterator[tuple[Callable[[Sequence[str]], Iterator[tuple[int, Any]]], Callable[[], dict[str, Any]]]]:
    """(answers(texts) in input order, usage()) from this process's teacher or from Ray workers."""
    if engine == "ray":
        from microgpt.batch.ray_label import ray_teacher

        with ray_teacher(config, choices, examples, per_label, workers, address) as pair:
            yield pair
        return
    if engine != "local":
        raise ConfigError(f"unknown engine {engine!r}", hint="use local or ray")
    if address is not None:
        raise ConfigError("address is for engine='ray'", hint="add engine='ray' (--engine ray), or drop it")
    teacher = LabelTeacher(client, choices, {k: list(v) for k, v in (examples or {}).items()}, per_label=per_label)
    yield (lambda texts: teacher.iter_label(texts, workers=workers)), client.usage


def label(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    out: str | Path | None = None,
    name: str = "labelled",
    config: FallbackConfig | None = None,
    examples: Mapping[str, Sequence[str]] | None = None,
    per_label: int = 2,
    workers: int = 1,
    store: Any = None,
    version: int | None = None,
    progress: Progress = no_progress,
    engine: str = "local",
    address: str | None = None,
) -> LabelResult:
    """Ask the teacher (an OpenAI-compatible model, `config` or the MICROGPT_LLM_* environment) for one of `labels`
    per text. Labelled rows go to `out` (JSONL, written as they arrive) and `result.rows`; the store (default: the
    user's) logs every answer as a teacher label and queues the rest for review under module `name`.

    `workers` calls are in flight at once; `engine="ray"` spreads them over Ray workers (a local cluster, or the
    one at `address`) under the same cap and one spend budget, with the same rows and store writes."""
    choices = list(dict.fromkeys(labels))
    if len(choices) < 2:
        raise ConfigError(
            f"labelling needs at least two labels, got {choices}", hint="e.g. labels=['billing', 'refund']"
        )
    if store is None:
        from microgpt.store.db import Store

        store = Store()
    config = config or FallbackConfig.from_env()
    texts = list(dict.fromkeys(texts))  # a text asked twice costs twice
    result = LabelResult(total=len(texts))
    sink = None
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        sink = Path(out).open("w", encoding="utf-8")
    try:
        with LLMClient(config) as client, _answers(engine, client, config, choices, examples, per_label, workers,
                                                   address) as (answers, usage):  # fmt: skip
            for i, answer in answers(texts):
                text, reason = texts[i], None
                if isinstance(answer, FallbackError):
                    result.last_error, reason = answer, f"fallback_failed: {answer.reason}"
                else:
                    r = answer.result
                    store.log_teacher(name, text, answer.label, config.model, answer.raw, r.prompt_tokens,
                                      r.completion_tokens, r.cost_usd)  # fmt: skip
                    if answer.label is None:
                        reason = "teacher_unknown"
                    else:
                        row = {"text": text, "label": answer.label, "source": "teacher", "teacher": config.model}
                        result.rows.append(row)
                        if sink is not None:
                            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                            sink.flush()
                        result.labelled += 1
                if reason is not None:
                    store.enqueue_review(name, text, version=version, reason=reason)
                    result.queued[reason] += 1
                progress("label", i + 1, len(texts))
            result.usage = usage()
    finally:
        if sink is not None:
            sink.close()
    return result
