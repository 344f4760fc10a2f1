"""The auto tier: train each candidate tier, measure it on a held-out split, keep the best within budget.

The winner is kept as trained on the non-held-out part, so its held-out score stays an honest estimate; the
report says which candidates ran, their scores and latency, and why the winner won.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from microgpt.calibration import micro_f1
from microgpt.config import AutoConfig
from microgpt.data.records import Dataset
from microgpt.data.splits import train_test_split
from microgpt.progress import Progress

log = logging.getLogger(__name__)


def fit_auto(task: Any, data: Dataset, cfg: AutoConfig, progress: Progress) -> tuple[Any, dict[str, Any]]:
    """`task` is the LabelTask being fitted (its `make_engine`, `encode_targets`, `multilabel` and `seed`)."""
    if _few_shot_applies(task, data, cfg):
        from microgpt.labels.fewshot import fit_few_shot

        engine, report = fit_few_shot(task, data, progress)
        report["candidates"][0]["p50_ms"] = round(_p50_ms(engine, data.texts), 3)
        return engine, report
    train, dev = train_test_split(data, cfg.dev_fraction, seed=task.seed)
    y_train = task.encode_targets(train)
    y_dev = task.encode_targets(dev)
    candidates: list[dict[str, Any]] = []
    engines: dict[str, Any] = {}
    for tier in cfg.candidates:
        start = time.perf_counter()
        engine = task.make_engine(tier).fit(train.texts, y_train, task.multilabel, progress)
        seconds = time.perf_counter() - start
        proba = engine.predict_proba(dev.texts)
        if task.multilabel:
            score = micro_f1(proba >= engine.threshold_, y_dev)
            metric = "micro_f1"
        else:
            score = float((proba.argmax(1) == y_dev).mean())
            metric = "accuracy"
        candidates.append(
            {
                "tier": tier,
                metric: round(score, 4),
                "p50_ms": round(_p50_ms(engine, dev.texts), 3),
                "train_seconds": round(seconds, 1),
            }
        )
        engines[tier] = engine
    budget = cfg.latency_budget_ms
    within = [c for c in candidates if budget is None or c["p50_ms"] <= budget]
    if within:
        best = max(within, key=lambda c: (c[metric], -c["p50_ms"]))
        others = ", ".join(f"{c['tier']} {c[metric]:.4f}" for c in candidates if c is not best)
        why = f"highest dev {metric} ({best[metric]:.4f}{'; vs ' + others if others else ''})"
        if budget is not None:
            why += f" among tiers within the {budget} ms p50 budget"
    else:
        best = min(candidates, key=lambda c: c["p50_ms"])
        why = f"no tier met the {budget} ms p50 budget; chose the fastest ({best['p50_ms']} ms)"
    for c in candidates:
        c["within_budget"] = budget is None or c["p50_ms"] <= budget
    if not getattr(task, "english_", True) and "micro" in engines:
        why += f"; the data is not English, so micro read it with the {engines['micro'].config.backbone} encoder"
    report = {"metric": metric, "dev_size": len(dev), "candidates": candidates, "chosen": best["tier"], "why": why}
    log.info("auto tier chose %s: %s", best["tier"], why)
    return engines[best["tier"]], report


def _few_shot_applies(task: Any, data: Dataset, cfg: AutoConfig) -> bool:
    """Single-label data with few examples a label, micro among the candidates and installed, no latency budget."""
    import importlib.util

    from microgpt.labels.fewshot import is_few_shot

    return (
        not task.multilabel
        and "micro" in cfg.candidates
        and cfg.latency_budget_ms is None
        and importlib.util.find_spec("torch") is not None
        and is_few_shot(data)
    )


def _p50_ms(engine: Any, texts: list[str], n: int = 50) -> float:
    sample = texts[:n] or ["hello"]
    engine.predict_proba(sample[:1])  # warm-up
    times = []
    for text in sample:
        t = time.perf_counter()
        engine.predict_proba([text])
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))
