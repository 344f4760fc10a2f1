"""`report.html` beside REPORT.md: the figures people would rather look at than read, as one self-contained file.

Classifiers get a confusion matrix (the most confused labels), a reliability diagram (confidence vs accuracy, raw and
calibrated ECE), an accuracy-vs-coverage curve with the policy's operating point, and the cost table. Plots are
matplotlib PNGs embedded as base64, so the file can be mailed or opened from a module directory as it is.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def confusion_figure(gold: list[str], pred: list[str], top: int = 15) -> str:
    """Confusion matrix over the `top` labels most involved in errors (all labels when there are few)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(gold) | set(pred))
    if len(labels) > top:
        errors: dict[str, int] = {}
        for g, p in zip(gold, pred, strict=True):
            if g != p:
                errors[g] = errors.get(g, 0) + 1
                errors[p] = errors.get(p, 0) + 1
        labels = sorted(sorted(errors, key=lambda k: -errors[k])[:top]) or labels[:top]
    index = {label: i for i, label in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            m[index[g], index[p]] += 1
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7, color="white" if i == j else "black")
    ax.set_title("confusion matrix" + (f" ({len(labels)} most confused labels)" if len(set(gold)) > top else ""))
    return _png(fig)


def reliability_figure(bins: list[dict[str, float]], ece: float, ece_raw: float | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    used = [b for b in bins if b["count"]]
    mids = [(b["low"] + b["high"]) / 2 for b in used]
    width = used[0]["high"] - used[0]["low"] if used else 0.066
    ax.bar(mids, [b["accuracy"] for b in used], width=width * 0.9, color="#4c78a8", label="accuracy in bin")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(mids, [b["confidence"] for b in used], "o", color="#f58518", markersize=4, label="mean confidence")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    raw = f", uncalibrated {ece_raw:.3f}" if ece_raw is not None else ""
    ax.set_title(f"reliability (ECE {ece:.3f}{raw})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def coverage_figure(curve: dict[str, list[float]], policy: dict[str, Any] | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot(curve["coverage"], curve["accuracy"], color="#4c78a8")
    if policy and policy.get("precision_answered") is not None:
        ax.plot([policy["answered"]], [policy["precision_answered"]], "o", color="#e45756", label="policy")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlabel("coverage (share answered, most confident first)")
    ax.set_ylabel("accuracy of answered")
    ax.set_title("accuracy vs coverage")
    ax.grid(alpha=0.3)
    return _png(fig)


def render(report: dict[str, Any], gold: list[str] | None = None, pred: list[str] | None = None) -> str:
    """The whole page: headline metrics, figures and the cost table (when the report has one)."""
    m = report["metrics"]
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" if isinstance(v, float) else ""
        for k, v in m.items()
        if not isinstance(v, bool)
    )
    figures = []
    try:
        if gold is not None and pred is not None:
            figures.append(confusion_figure(gold, pred))
        if "reliability" in m:
            figures.append(reliability_figure(m["reliability"], m["ece"], m.get("ece_uncalibrated")))
        if "coverage_curve" in m:
            figures.append(coverage_figure(m["coverage_curve"], m.get("policy")))
        imgs = "".join(f'<img src="{src}" alt="figure">' for src in figures)
    except ModuleNotFoundError as err:  # matplotlib is the optional [report] extra
        if (err.name or "").split(".")[0] != "matplotlib":
            raise
        imgs = "<p class=note>Figures need matplotlib: <code>pip install 'microgpt[report]'</code>.</p>"
    cost = _cost_table(report.get("cost"))
    mistakes = "".join(
        f"<tr><td>{html.escape(x['text'][:160])}</td><td>{html.escape(x['gold'])}</td>"
        f"<td>{html.escape(x['predicted'])}</td><td>{x['confidence']:.0%}</td></tr>"
        for x in m.get("misclassified", [])
    )
    if mistakes:
        mistakes = ("<h2>Misclassified examples (the surest mistakes first)</h2><table><tr><th>text</th>"
                    f"<th>right label</th><th>predicted</th><th>confidence</th></tr>{mistakes}</table>")  # fmt: skip
    explain = (
        "<p class=note>The reliability diagram checks the confidences: when the model says 90%, it should be right "
        "9 times in 10 (bars on the diagonal); bars below it mean over-confidence.</p>"
        if "reliability" in m
        else ""
    )
    top = html.escape(str(report.get("headline") or ""))
    title = f"{report['task']} ({report['tier']} tier) on {report['data']['name']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MicroGPT report — {html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ddd;padding:4px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%;margin:0.5em}}.note{{color:#666}}</style></head>
<body><h1>Evaluation report</h1><p class=headline><strong>{top}</strong></p>
<p>{html.escape(title)} — {report["data"]["n"]} examples, evaluated {html.escape(report["evaluated_at"])}.</p>
{mistakes}
<table><tr><th>metric</th><th>value</th></tr>{rows}</table>
{imgs}{explain}
{cost}
</body></html>
"""


def _cost_table(cost: dict[str, Any] | None) -> str:
    if not cost:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(r['system'])}</td><td>${r['usd_per_1k']:.4f}</td><td>{html.escape(r['how'])}</td></tr>"
        for r in cost["rows"]
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in cost.get("assumptions", []))
    return (
        "<h2>Cost per 1,000 requests</h2><table><tr><th>system</th><th>USD / 1k</th><th>how</th></tr>"
        f"{rows}</table><ul class='note'>{notes}</ul>"
    )
