"""Retrain with a gate: corrections → a new version → promoted only if it is not worse on a frozen evaluation set.

    result = retrain("ticket-router", base="tickets.csv", eval_data="frozen.csv")   # first call freezes the set
    result.promoted, result.why        # True, "accuracy 0.9120 ≥ 0.9050 of v3 on the frozen set (1,000 texts)"

The new version trains with the current version's settings on the base data plus everything the store has for the
module (user feedback, resolved review items, teacher labels; a person's correction wins over the base label for the
same text). Both versions are scored on the same frozen evaluation set, which is copied into the registry the first
time and refused if a later call passes a different one. A version that loses is still registered (to inspect), but
not promoted; the live version keeps answering exactly as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset, Example
from microgpt.errors import DataError
from microgpt.labels.base import LabelTask
from microgpt.progress import Progress, no_progress
from microgpt.store.registry import Registry, RegistryError
from microgpt.store.remote import open_registry
from microgpt.task import check_text

EVAL_FILE = "eval-set.jsonl"
log = logging.getLogger(__name__)


@dataclass
class RetrainResult:
    name: str
    old_version: int
    new_version: int
    metric: str
    old_score: float
    new_score: float
    promoted: bool
    why: str
    n_train: int
    n_corrections: int
    n_eval: int
    seconds: float
    n_skipped: int = 0  # stored corrections left out because they cannot be trained on (e.g. an oversize text)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def retrain(
    name: str,
    base: str | Path | Dataset,
    *,
    eval_data: str | Path | None = None,
    add: list[str | Path] | None = None,
    min_gain: float = 0.0,
    refreeze: bool = False,
    registry: Registry | None = None,
    store: Any = None,
    progress: Progress = no_progress,
) -> RetrainResult:
    """Train a new version of module `name` with the corrections, and promote it only if it is not worse."""
    from microgpt.evaluation.report import evaluate
    from microgpt.store.db import Store
    from microgpt.task import load

    start = time.perf_counter()
    registry = registry or open_registry()
    old_version = registry.current(name)
    if old_version is None:
        raise RegistryError(f"module {name!r} has no live version", hint=f"microgpt modules promote {name} N")
    old = load(registry.path(name, old_version))
    if not isinstance(old, LabelTask):
        raise DataError(f"retrain handles classifiers and taggers; {name!r} is {old.task}", hint="retrain it by hand")
    frozen = _frozen_eval_set(registry, name, old.task, eval_data, refreeze)
    base_data = base if isinstance(base, Dataset) else read_examples(base, task=old.task, min_per_label=0)
    extra = [read_examples(p, task=old.task, min_per_label=0) for p in add or []]
    corrections, skipped = _store_examples(store or Store(), name, old.multilabel)
    data = _merge([base_data, *extra, corrections])
    frozen_texts = {e.text for e in frozen}
    leaked = sum(1 for e in data if e.text in frozen_texts)
    if leaked:
        data = Dataset([e for e in data if e.text not in frozen_texts], name=data.name)  # never train on the exam
    new = type(old)(**old.get_params())  # the same settings (a clone, in scikit-learn's words)
    new.fit(data, progress=progress)
    metric = old.metric
    old_score = float(evaluate(old, frozen, write=False)["metrics"][metric])
    new_score = float(evaluate(new, frozen, write=False)["metrics"][metric])
    promoted = new_score >= old_score + min_gain
    sign = "≥" if promoted else "<"
    why = (
        f"{metric} {new_score:.4f} {sign} {old_score:.4f}{f' + {min_gain}' if min_gain else ''} of v{old_version} "
        f"on the frozen evaluation set ({len(frozen):,} texts)"
    )
    if leaked:
        why += f"; {leaked} training texts that are in the evaluation set were left out"
    if skipped:
        why += f"; {len(skipped)} stored correction(s) could not be trained on and were skipped ({skipped[0]})"
    staging = registry.home / "staging" / f"retrain-{name}-{time.time_ns()}"
    new.save(staging)
    try:
        new_version = registry.add(staging, name, promote=False)
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    if promoted:
        registry.promote(name, new_version)
    result = RetrainResult(
        name=name,
        old_version=old_version,
        new_version=new_version,
        metric=metric,
        old_score=old_score,
        new_score=new_score,
        promoted=promoted,
        why=why,
        n_train=len(data),
        n_corrections=len(corrections),
        n_eval=len(frozen),
        seconds=round(time.perf_counter() - start, 1),
        n_skipped=len(skipped),
    )
    log_path = registry.root / name / "retrain-log.jsonl"
    with log_path.open("a") as f:
        f.write(json.dumps({**result.to_json(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return result


def _frozen_eval_set(registry: Registry, name: str, task: str, eval_data: str | Path | None, refreeze: bool) -> Dataset:
    frozen_path = registry.root / name / EVAL_FILE
    if eval_data is not None:
        given = read_examples(eval_data, task=task, min_per_label=0)
        if frozen_path.exists() and not refreeze:
            if read_examples(frozen_path, task=task, min_per_label=0).fingerprint() != given.fingerprint():
                raise DataError(
                    f"{eval_data} differs from the evaluation set frozen for {name!r} ({frozen_path})",
                    hint="omit --eval to use the frozen set, or pass --refreeze to replace it (old scores then stop "
                    "being comparable)",
                )
        else:
            rows = [
                {"text": e.text, "label": e.label} if e.labels is None else {"text": e.text, "labels": list(e.labels)}
                for e in given
            ]
            tmp = frozen_path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            tmp.replace(frozen_path)
    if not frozen_path.exists():
        raise DataError(
            f"no evaluation set is frozen for {name!r} yet",
            hint="pass --eval HELD_OUT.csv once: it is copied into the registry and used for every later retrain",
        )
    return read_examples(frozen_path, task=task, min_per_label=0)


def _store_examples(store: Any, name: str, multilabel: bool) -> tuple[Dataset, list[str]]:
    """The store's corrections as examples, and why each row that cannot be trained on was skipped."""
    buf = io.StringIO()
    n = store.export_jsonl(name, buf)
    if not n:
        return Dataset([], name="corrections"), []
    rows = [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
    examples = []
    skipped: list[str] = []
    for i, r in enumerate(rows):
        where = f"feedback {r['feedback_id']}" if "feedback_id" in r else f"store row {i}"
        try:  # one oversize or empty row must not block every retrain until it is deleted by hand
            check_text(r.get("text"), where)
        except DataError as err:
            log.warning("retrain %s: skipping %s", name, err.message)
            skipped.append(err.message)
            continue
        target = r.get("labels", r.get("label"))
        if not multilabel and isinstance(target, str):
            examples.append(
                Example(text=r["text"], label=target, source=f"store:{i}", meta={"source": r.get("source", "")})
            )
        elif multilabel:
            labels = tuple(target) if isinstance(target, list) else (target,)
            examples.append(
                Example(text=r["text"], labels=labels, source=f"store:{i}", meta={"source": r.get("source", "")})
            )
    return Dataset(examples, name="corrections"), skipped


def _merge(parts: list[Dataset]) -> Dataset:
    """Later parts override earlier ones for the same text (a correction beats the base label)."""
    by_text: dict[str, Example] = {}
    for part in parts:
        for e in part:
            by_text.pop(e.text, None)
            by_text[e.text] = e
    digest = hashlib.sha256("".join(sorted(by_text)).encode()).hexdigest()[:8]
    return Dataset(list(by_text.values()), name=f"retrain-{digest}")
