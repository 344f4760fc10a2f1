"""`evaluate(model, data)`: score a trained task on labelled data and write report.json + REPORT.md beside it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from microgpt.calibration import coverage_curve, ece, reliability, selective_accuracy
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.evaluation.html import render as render_html
from microgpt.evaluation.metrics import classification_metrics, field_metrics, span_metrics, tagging_metrics
from microgpt.module import update_manifest
from microgpt.progress import Progress, no_progress


def evaluate(
    model: Any,
    data: Dataset,
    out_dir: str | Path | None = None,
    write: bool = True,
    progress: Progress = no_progress,
    with_cost: bool = True,
) -> dict[str, Any]:
    """Metrics of `model` on `data`; written into `out_dir` (default: the module's own directory, if saved)."""
    model._check_fitted()
    if len(data) == 0:
        raise DataError("no examples to evaluate on", hint="pass a labelled .csv/.jsonl file with at least one row")
    start = time.perf_counter()
    confusion: tuple[list[str], list[str]] | None = None
    if model.task == "reply":
        from microgpt.reply.metrics import generation_metrics

        metrics = generation_metrics(model, data, progress)
    elif model.task == "extract":
        metrics = _extraction_metrics(model, data, progress)
    elif model.task == "tag":
        metrics = tagging_metrics([list(x) for x in data.label_sets], _predict(model, data, progress))
    else:
        gold = data.labels
        unknown = sorted(set(gold) - set(model.labels_))
        t0 = time.perf_counter()
        proba = _predict_proba(model, data, progress)
        throughput = len(data) / max(time.perf_counter() - t0, 1e-9)
        pred = [model.labels_[int(i)] for i in proba.argmax(1)]
        confusion = (gold, pred)
        metrics = classification_metrics(gold, pred)
        metrics.update(trust_metrics(model, data, proba))
        if unknown:
            metrics["unknown_labels"] = unknown  # gold labels the model was never trained on: always wrong
    seconds = time.perf_counter() - start
    report = {
        "task": model.task,
        "tier": model.engine_.tier,
        "data": {"name": data.name, "n": len(data), "fingerprint": data.fingerprint()},
        "metrics": metrics,
        "seconds": round(seconds, 3),
        "texts_per_second": round(len(data) / seconds, 1) if seconds > 0 else None,
        "auto": getattr(model, "auto_report_", None),
        "evaluated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if model.task == "classify" and with_cost:
        report["cost"] = _cost(model, data, throughput, metrics.get("policy"))
    target = Path(out_dir) if out_dir is not None else getattr(model, "path_", None)
    if write and target is not None:
        target.mkdir(parents=True, exist_ok=True)
        (target / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        (target / "REPORT.md").write_text(markdown(report))
        (target / "report.html").write_text(render_html(report, *(confusion or (None, None))))
        if (target / "microgpt.json").exists():
            headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            update_manifest(target, metrics={**headline, "data": data.name})
    return report


def _predict(model: Any, data: Dataset, progress: Progress, chunk: int = 256) -> list[Any]:
    """Predictions in chunks, so a long evaluation can show progress."""
    out: list[Any] = []
    for start in range(0, len(data), chunk):
        out.extend(model.predict(data[start : start + chunk]))
        progress("evaluate", min(start + chunk, len(data)), len(data))
    return out


def _predict_proba(model: Any, data: Dataset, progress: Progress, chunk: int = 256) -> np.ndarray:
    parts = []
    for start in range(0, len(data), chunk):
        parts.append(model.predict_proba(data[start : start + chunk]))
        progress("evaluate", min(start + chunk, len(data)), len(data))
    return np.concatenate(parts)


def trust_metrics(model: Any, data: Dataset, proba: np.ndarray) -> dict[str, Any]:
    """How far the confidences can be trusted: ECE (calibrated and raw), accuracy at 90% coverage, the reliability
    diagram and accuracy-coverage curve, unknown inputs flagged, and how the module's policy fares on this data."""
    conf = proba.max(1)
    correct = np.array([model.labels_[int(i)] for i in proba.argmax(1)]) == np.array(data.labels)
    raw = model.engine_.predict_proba(data.texts, calibrated=False)
    out: dict[str, Any] = {
        "ece": ece(conf, correct),
        "ece_uncalibrated": ece(raw.max(1), raw.argmax(1) == _gold_index(model, data)),
        "selective_accuracy_at_90_coverage": selective_accuracy(conf, correct, 0.9),
        "flagged_unknown": float(np.mean(1.0 - conf > model.unknown_threshold_)),
        "reliability": reliability(conf, correct),
        "coverage_curve": coverage_curve(conf, correct),
    }
    policy = getattr(model, "policy_", None)
    if policy is not None:
        decisions = [d.action for d in model.decide(data)]
        answered = np.array([a == "answer" for a in decisions])
        out["policy"] = {
            **policy.to_json(),
            "answered": float(answered.mean()),
            "precision_answered": float(correct[answered].mean()) if answered.any() else None,
            "escalated": decisions.count("escalate") / len(decisions),
            "queued": decisions.count("queue") / len(decisions),
        }
    return out


def _cost(model: Any, data: Dataset, throughput: float, policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """Cost per 1,000 requests (small model, cascade, LLM only); None when the token counter is unavailable."""
    from microgpt.errors import MicroGPTError
    from microgpt.evaluation.cost import cost_table

    examples: dict[str, list[str]] = {}
    for e in data:  # stand-ins for training examples in the fallback prompt: two a label, of realistic length
        if e.label is not None and len(examples.setdefault(e.label, [])) < 2:
            examples[e.label].append(e.text)
    try:
        table = cost_table(data.texts, model.labels_, throughput, policy["escalated"] if policy else None,
                           examples=examples)  # fmt: skip
    except (ImportError, MicroGPTError) as err:  # the backbone package is optional for nano-only installs
        return {"rows": [], "assumptions": [f"not computed: {err}"]}
    return table


def _gold_index(model: Any, data: Dataset) -> np.ndarray:
    index = {label: i for i, label in enumerate(model.labels_)}
    return np.array([index.get(label, -1) for label in data.labels])


def _extraction_metrics(model: Any, data: Dataset, progress: Progress) -> dict[str, Any]:
    """Span data: exact-span P/R/F1 per label. Field data: field exact match after normalisation, per field."""
    if any(e.spans is None and e.fields is None for e in data):
        raise DataError("extraction evaluation needs spans or fields on every example", hint="annotate every row")
    pred = _predict(model, data, progress)
    if all(e.spans is not None for e in data):
        metrics = span_metrics([list(e.spans or ()) for e in data], [x.spans for x in pred])
        # also how often each field's final value is right (the span with the best score, normalised)
        gold_fields = [_fields_from_spans(e.text, list(e.spans or ())) for e in data]
        fields = field_metrics(gold_fields, [x.field_texts() for x in pred], model.field_same)
        metrics.update({k: v for k, v in fields.items() if k.startswith("field_") or k == "exact_match"})
        return metrics
    gold = [e.fields or {} for e in data]
    return field_metrics(gold, [x.field_texts() for x in pred], model.field_same)


def _fields_from_spans(text: str, spans: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in spans:
        out.setdefault(s.label, []).append(text[s.start : s.end])
    return out


def markdown(report: dict[str, Any]) -> str:
    if report["task"] == "reply":
        from microgpt.reply.metrics import markdown as reply_markdown

        return reply_markdown(report)
    m = report["metrics"]
    lines = [
        f"# Evaluation report — {report['task']} ({report['tier']} tier)",
        "",
        f"Data: `{report['data']['name']}`, {report['data']['n']} examples; evaluated {report['evaluated_at']}.",
        "",
        *metric_rows(m),
    ]
    if report.get("texts_per_second"):
        lines.append(f"| texts/s (batch) | {report['texts_per_second']:.0f} |")
    lines += ["", "## Per label", "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, s in sorted(m["per_label"].items(), key=lambda kv: kv[1]["f1"]):
        lines.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    if m.get("top_confusions"):
        lines += ["", "## Top confusions", "", "| gold | predicted | count |", "|---|---|---|"]
        lines += [f"| {c['gold']} | {c['predicted']} | {c['count']} |" for c in m["top_confusions"]]
    if m.get("policy"):
        pol = m["policy"]
        precision = "—" if pol["precision_answered"] is None else f"{pol['precision_answered']:.3f}"
        lines += [
            "",
            "## Cascade policy on this data",
            "",
            f"Threshold {pol['threshold']:.3f} ({pol['target']}, chosen on {pol['chosen_on']}): answered "
            f"{pol['answered']:.1%} at precision {precision}, escalated {pol['escalated']:.1%}, "
            f"queued {pol['queued']:.1%}.",
        ]
    cost = report.get("cost")
    if cost and cost.get("rows"):
        lines += ["", "## Cost per 1,000 requests", "", "| system | USD / 1k | how |", "|---|---|---|"]
        lines += [f"| {r['system']} | {r['usd_per_1k']:.6f} | {r['how']} |" for r in cost["rows"]]
        lines += ["", *(f"- {a}" for a in cost["assumptions"])]
    if "reliability" in m:
        lines += ["", "Figures (confusion matrix, reliability diagram, accuracy vs coverage): `report.html`."]
    if m.get("unknown_labels"):
        lines += [
            "",
            f"Gold labels the model was never trained on (always counted wrong): {', '.join(m['unknown_labels'])}",
        ]
    auto = report.get("auto")
    if auto:
        lines += ["", "## Why this tier (auto)", "", f"Chosen: **{auto['chosen']}** — {auto['why']}.", ""]
        lines += [f"| tier | dev {auto['metric']} | p50 ms | train s | within budget |", "|---|---|---|---|---|"]
        for c in auto["candidates"]:
            lines.append(
                f"| {c['tier']} | {c[auto['metric']]:.4f} | {c['p50_ms']} | {c['train_seconds']} "
                f"| {c['within_budget']} |"
            )
    return "\n".join(lines) + "\n"


def metric_rows(metrics: dict[str, Any]) -> list[str]:
    """A markdown table of the plain numbers in `metrics` (lists and tables are shown elsewhere)."""
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, float):
            lines.append(f"| {key} | {value:.4f} |")
        elif isinstance(value, int):
            lines.append(f"| {key} | {value} |")
    return lines
