"""`evaluate(model, data)`: score a trained task on labelled data and write report.json + REPORT.md beside it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.evaluation.html import render as render_html
from microgpt.evaluation.metrics import metric_rows
from microgpt.module import update_manifest
from microgpt.progress import Progress, no_progress


def evaluate(
    model: Any,
    data: Dataset,
    out_dir: str | Path | None = None,
    write: bool = True,
    progress: Progress = no_progress,
    with_cost: bool = True,
    review_minutes: float = 2.0,
    hourly_rate: float = 25.0,
) -> dict[str, Any]:
    """Metrics of `model` on `data`; written into `out_dir` (default: the module's own directory, if saved).

    The cost table counts a person's time for what the policy queues: `review_minutes` an item at `hourly_rate`
    (USD an hour)."""
    model._check_fitted()
    if len(data) == 0:
        raise DataError("no examples to evaluate on", hint="pass a labelled .csv/.jsonl file with at least one row")
    start = time.perf_counter()
    metrics = model.evaluation(data, progress)
    confusion = metrics.pop("_confusion", None)
    throughput = metrics.pop("_throughput", None)
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
    if getattr(model, "costed", False) and with_cost:
        report["cost"] = _cost(model, data, throughput or 0.0, metrics.get("policy"))
        report["cost"]["rows"] += human_rows(metrics.get("policy"), review_minutes, hourly_rate)
        report["cost"]["assumptions"].append(
            f"a person reviews a queued item in {review_minutes:g} min at ${hourly_rate:g}/hour "
            "(evaluate(review_minutes=, hourly_rate=))"
        )
    report["headline"] = headline(report)
    target = Path(out_dir) if out_dir is not None else getattr(model, "path_", None)
    if write and target is not None:
        target.mkdir(parents=True, exist_ok=True)
        (target / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        (target / "REPORT.md").write_text(markdown(report, model))
        (target / "report.html").write_text(render_html(report, *(confusion or (None, None))))
        if (target / "microgpt.json").exists():
            numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            update_manifest(target, metrics={**numbers, "data": data.name})
    return report


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


def human_rows(policy: dict[str, Any] | None, minutes: float, rate: float) -> list[dict[str, Any]]:
    """Cost rows for a person's time: everything by hand, and what the policy queues for a person."""
    per_item = minutes / 60 * rate
    rows = [{"system": "a person for everything", "usd_per_1k": 1000 * per_item, "how": f"{minutes:g} min an item"}]
    if policy is not None:
        rows.append({"system": "people for the queued share", "usd_per_1k": 1000 * policy["queued"] * per_item,
                     "how": f"{policy['queued']:.1%} queued at the policy threshold"})  # fmt: skip
    return rows


def headline(report: dict[str, Any]) -> str:
    """The report's first line, in words a business owner reads: how many were right, and what the policy does."""
    m, n = report["metrics"], report["data"]["n"]
    if "accuracy" in m:
        right = round(m["accuracy"] * n)
        line = f"{right:,} of {n:,} texts routed right ({m['accuracy']:.1%})"
        pol = m.get("policy")
        if pol:
            precision = "" if pol["precision_answered"] is None else f" at {pol['precision_answered']:.1%} precision"
            line += (f"; at your policy {pol['answered']:.0%} are answered automatically{precision}, "
                     f"{pol['escalated']:.0%} go to the LLM, {pol['queued']:.0%} to a person")  # fmt: skip
        return line + "."
    if "micro_f1" in m:
        return (
            f"{m['micro_f1']:.1%} of the labels found right (micro-F1); {m['exact_match']:.1%} of {n:,} texts exactly."
        )
    for key, what in (("span_f1", "spans found exactly"), ("field_f1", "field values read right")):
        if key in m:
            return f"{m[key]:.1%} {what} (F1) on {n:,} texts."
    return f"Evaluated on {n:,} examples."


RELIABILITY_SENTENCE = (
    "The reliability diagram checks the confidences: when the model says 90%, it should be right 9 times in 10 "
    "(bars on the diagonal); bars below it mean over-confidence."
)


def markdown(report: dict[str, Any], model: Any = None) -> str:
    """REPORT.md: the task's own report where it has one (`report_markdown`), else metrics, per label, confusions."""
    own = model.report_markdown(report) if model is not None else None
    if own is not None:
        return own
    m = report["metrics"]
    lines = [
        f"# Evaluation report — {report['task']} ({report['tier']} tier)",
        "",
        f"**{report.get('headline') or headline(report)}**",
        "",
        f"Data: `{report['data']['name']}`, {report['data']['n']} examples; evaluated {report['evaluated_at']}.",
        "",
        *metric_rows(m),
    ]
    if report.get("texts_per_second"):
        lines.append(f"| texts/s (batch) | {report['texts_per_second']:.0f} |")
    if m.get("misclassified"):
        lines += ["", "## Misclassified examples (the surest mistakes first)", "",
                  "| text | right label | predicted | confidence |", "|---|---|---|---|"]  # fmt: skip
        for x in m["misclassified"]:
            text = x["text"].replace("|", "\\|").replace("\n", " ")[:120]
            lines.append(f"| {text} | {x['gold']} | {x['predicted']} | {x['confidence']:.0%} |")
    if m.get("per_label"):
        lines += ["", "## Per label", "", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, s in sorted(m.get("per_label", {}).items(), key=lambda kv: kv[1]["f1"]):
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
        lines += ["", "Figures (confusion matrix, reliability diagram, accuracy vs coverage): `report.html`. "
                  + RELIABILITY_SENTENCE]  # fmt: skip
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
