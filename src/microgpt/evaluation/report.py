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
) -> dict[str, Any]:
    """Metrics of `model` on `data`; written into `out_dir` (default: the module's own directory, if saved)."""
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
    target = Path(out_dir) if out_dir is not None else getattr(model, "path_", None)
    if write and target is not None:
        target.mkdir(parents=True, exist_ok=True)
        (target / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        (target / "REPORT.md").write_text(markdown(report, model))
        (target / "report.html").write_text(render_html(report, *(confusion or (None, None))))
        if (target / "microgpt.json").exists():
            headline = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
            update_manifest(target, metrics={**headline, "data": data.name})
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


def markdown(report: dict[str, Any], model: Any = None) -> str:
    """REPORT.md: the task's own report where it has one (`report_markdown`), else metrics, per label, confusions."""
    own = model.report_markdown(report) if model is not None else None
    if own is not None:
        return own
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
