"""Metrics for reply drafts: ROUGE-L, chrF, placeholder precision, intent consistency, speed, and side-by-side samples.

- `rouge_l`: F1 of the longest common subsequence of words with the reference (Google's `rouge-score`).
- `chrf`: character n-gram F-score, corpus level, 0–100 (`sacrebleu`).
- `placeholder_precision`: of the placeholders a draft leaves (`{{Website Name}}`), the share its reference has too.
- `intent_consistency`: the share of drafts that the module's intent judge (a nano classifier trained on the training
  replies) labels with the message's intent — a draft that answers another question scores 0 however fluent it is.
  `judge_accuracy` is the same judge on the reference replies: the ceiling the consistency can be read against.
- `unsupported_numbers`: the share of drafts with a number of 5+ digits that is in neither the message nor the
  caller's fields — an order or account number the model made up or remembered from another customer.
- speed: `tokens_per_s` (generated pieces over the whole draft time, prompt included) and `first_token_ms` (p50).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from microgpt.data.records import Dataset
from microgpt.errors import DataError, requires_extra
from microgpt.evaluation.metrics import metric_rows
from microgpt.progress import Progress, no_progress
from microgpt.reply.placeholders import field_key, placeholders

N_SAMPLES = 10
_LONG_NUMBER = re.compile(r"\d{5,}")


def rouge_l(references: Sequence[str], drafts: Sequence[str]) -> list[float]:
    """ROUGE-L F1 of each draft against its reference (0–1)."""
    with requires_extra("scoring reply drafts (ROUGE-L)"):
        from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return [scorer.score(ref, draft)["rougeL"].fmeasure for ref, draft in zip(references, drafts, strict=True)]


def chrf(references: Sequence[str], drafts: Sequence[str]) -> float:
    """Corpus chrF (0–100)."""
    with requires_extra("scoring reply drafts (chrF)"):
        import sacrebleu

    return float(sacrebleu.corpus_chrf(list(drafts), [list(references)]).score)


def placeholder_precision(references: Sequence[str], drafts: Sequence[str]) -> tuple[float | None, int]:
    """(share of the distinct placeholders left in each draft that its reference has too, how many there were)."""
    hits = total = 0
    for ref, draft in zip(references, drafts, strict=True):
        emitted = {field_key(p) for p in placeholders(draft)}
        hits += len(emitted & {field_key(p) for p in placeholders(ref)})
        total += len(emitted)
    return (hits / total if total else None), total


def unsupported_numbers(draft: str, message: str, fields: dict[str, Any] | None) -> list[str]:
    """Numbers of 5+ digits in `draft` that appear in neither `message` nor the values of `fields`."""
    given = message + " " + " ".join(str(v) for v in (fields or {}).values())
    return [n for n in _LONG_NUMBER.findall(draft) if n not in given]


def generation_metrics(
    model: Any, data: Dataset, progress: Progress = no_progress, chunk: int = 16, drafts: list[Any] | None = None
) -> dict[str, Any]:
    """Draft a reply for every message of `data` (from the message alone; each row's `fields` fill placeholders).

    `drafts` (`Draft`s, one per example) scores drafts already written instead."""
    missing = [e.source or str(i) for i, e in enumerate(data) if not e.reply]
    if missing:
        raise DataError(
            f"{len(missing)} evaluation examples have no reference reply (first: {missing[0]})",
            hint="evaluate on message/reply data (--reply-col names the reply column)",
        )
    if drafts is None:
        drafts = []
        for start in range(0, len(data), chunk):
            drafts.extend(model.drafts(data[start : start + chunk]))
            progress("evaluate", min(start + chunk, len(data)), len(data))
    if len(drafts) != len(data):
        raise DataError(f"got {len(drafts)} drafts for {len(data)} examples", hint="pass one draft per example")
    texts = [d.text for d in drafts]
    refs = [(e.reply or "").replace("\r\n", "\n") for e in data]
    rouge = rouge_l(refs, texts)
    precision, n_placeholders = placeholder_precision(refs, texts)
    seconds = sum(d.ms for d in drafts) / 1000
    metrics: dict[str, Any] = {
        "n": len(data),
        "rouge_l": float(np.mean(rouge)),
        "chrf": chrf(refs, texts),
        "placeholder_precision": precision,
        "placeholders_emitted": n_placeholders,
        "placeholders_unfilled": sum(len(d.unfilled) for d in drafts),
        "unsupported_numbers": float(
            np.mean([bool(unsupported_numbers(t, e.text, e.fields)) for t, e in zip(texts, data, strict=True)])
        ),
        "tokens_per_draft": float(np.mean([d.tokens for d in drafts])),
        "tokens_per_s": sum(d.tokens for d in drafts) / seconds if seconds > 0 else None,
        "first_token_ms": float(np.percentile([d.first_token_ms for d in drafts], 50)),
        "first_token_p90_ms": float(np.percentile([d.first_token_ms for d in drafts], 90)),
        "draft_ms": float(np.percentile([d.ms for d in drafts], 50)),
    }
    gold = [e.label for e in data]
    judged = model.judge_intents(texts)
    if judged is not None and any(g in model.labels_ for g in gold):
        scored = [i for i, g in enumerate(gold) if g in model.labels_]
        on_refs = model.judge_intents([refs[i] for i in scored]) or []
        metrics["intent_consistency"] = float(np.mean([judged[i] == gold[i] for i in scored]))
        metrics["judge_accuracy"] = float(np.mean([p == gold[i] for p, i in zip(on_refs, scored, strict=True)]))
    picks = np.linspace(0, len(data) - 1, num=min(N_SAMPLES, len(data))).round().astype(int)
    metrics["samples"] = [
        {
            "message": data[i].text,
            "intent": data[i].label,
            "reference": refs[i],
            "draft": texts[i],
            "rouge_l": round(rouge[i], 4),
            "judged_intent": judged[i] if judged is not None else None,
        }
        for i in sorted(set(picks.tolist()))
    ]
    return metrics


def markdown(report: dict[str, Any]) -> str:
    """REPORT.md for a reply module: the headline metrics, then the side-by-side samples."""
    m = report["metrics"]
    lines = [
        f"# Evaluation report — reply ({report['tier']} tier)",
        "",
        f"Data: `{report['data']['name']}`, {report['data']['n']} messages; evaluated {report['evaluated_at']}. "
        "Drafts are written from the message alone (greedy); each row's fields, if any, fill the placeholders.",
        "",
        *metric_rows(m),
    ]
    lines += ["", "## Samples: reference and draft side by side", ""]
    lines += ["| message | intent | reference | draft | ROUGE-L |", "|---|---|---|---|---|"]
    for s in m.get("samples", []):
        cells = [s["message"], s["intent"] or "", s["reference"], s["draft"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + f" | {s['rouge_l']:.3f} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")
