"""One benchmark job in its own process (so peak RSS is its own): train, save, evaluate one system on one board.

python bench/job.py train BOARD SYSTEM OUT_DIR   → JSON on stdout (quality, training time, size, peak RSS)
python bench/job.py serve BOARD OUT_DIR          → JSON on stdout (latency p50/p99, throughput, serving RSS)
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import microgpt
from microgpt.data import datasets
from microgpt.evaluation.metrics import classification_metrics

BOARDS = {
    "banking77": ("classify", lambda: datasets.banking77("train"), lambda: datasets.banking77("test")),
    "cfpb": ("classify", lambda: datasets.cfpb("train"), lambda: datasets.cfpb("test")),
    "nlupp-banking": (
        "tag",
        lambda: datasets.nlupp("banking", range(10)),
        lambda: datasets.nlupp("banking", range(10, 20)),
    ),
    "restaurant8k": ("extract", lambda: datasets.restaurant8k("train"), lambda: datasets.restaurant8k("test")),
    "sroie": ("extract", lambda: datasets.sroie("train"), lambda: datasets.sroie("test")),
}
for _loc in datasets.MASSIVE_LOCALES:  # in-language, and trained on en-US then tested on the parallel rows
    BOARDS[f"massive-{_loc}"] = ("classify", lambda loc=_loc: datasets.massive(loc, "train"),
                                 lambda loc=_loc: datasets.massive(loc, "test"))  # fmt: skip
    if _loc != "en-US":
        BOARDS[f"massive-en-US→{_loc}"] = ("classify", lambda: datasets.massive("en-US", "train"),
                                           lambda loc=_loc: datasets.massive(loc, "test"))  # fmt: skip
# systems beyond the tiers: (tier, micro settings)
VARIANTS = {"multilingual": ("micro", {"backbone": "multilingual"})}
EXTRACT_MICRO = {  # documents: longer windows so a receipt needs ~3 of them, not ~8
    "sroie": {"max_length": 256, "stride": 64, "batch_size": 16},
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def latency(predict_one, texts: list[str], n: int = 300) -> dict[str, float]:  # type: ignore[no-untyped-def]
    sample = (texts * (n // len(texts) + 1))[:n]
    for text in sample[:20]:
        predict_one(text)  # warm-up: first calls allocate buffers
    times = []
    for text in sample:
        t = time.perf_counter()
        predict_one(text)
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def train_job(board: str, system: str, out: Path) -> dict[str, object]:
    task, train_fn, test_fn = BOARDS[board]
    train, test = train_fn(), test_fn()
    if system == "sklearn-tfidf-svc":
        return sklearn_baseline(train, test)
    start = time.perf_counter()
    micro = {"max_minutes": 13.0} if board == "banking77" else EXTRACT_MICRO.get(board, {})
    tier, micro = VARIANTS.get(system, (system, micro))
    model = microgpt.train(train, task=task, tier=tier, out=out, micro=micro)
    seconds = time.perf_counter() - start
    report = microgpt.evaluate(model, test, write=True)
    extra = {}
    engine = model.engine_
    if task == "extract":
        extra = {"epochs_run": len(engine.fit_result_.get("history", []))} if system == "micro" else {}
    elif tier == "micro" and "members" in engine.fit_result_:
        extra = {"epochs_run": [len(r["history"]) for r in engine.fit_result_["members"]], "nano_blend": engine.blend_}
    elif tier == "micro":
        extra = {"nano_blend": engine.blend_}
    return {
        "train_seconds": seconds,
        "size_mb": dir_size_mb(out),
        "train_peak_rss_mb": peak_rss_mb(),
        **headline(task, report["metrics"]),
        **extra,
    }


def headline(task: str, m: dict[str, Any]) -> dict[str, object]:
    if task == "extract":
        per_label = " · ".join(f"{label} {v['f1']:.1%}" for label, v in m["per_label"].items())
        return {k: m[k] for k in ("span_f1", "field_f1") if k in m} | {"per_label_f1": per_label}
    keys = ("micro_f1", "exact_match", "macro_f1") if task == "tag" else ("accuracy", "macro_f1")
    return {k: m[k] for k in keys}


def sklearn_baseline(train, test) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The plain scikit-learn reference: TF-IDF word 1–2 + char_wb 2–5, LinearSVC (ANCHORS.md: 91.3%)."""
    import io
    import pickle

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    pipe = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(C=0.5),
    ).fit(train.texts, train.labels)
    seconds = time.perf_counter() - start
    m = classification_metrics(test.labels, list(pipe.predict(test.texts)))
    lat = latency(lambda t: pipe.predict([t]), test.texts)
    t = time.perf_counter()
    pipe.predict(test.texts)
    throughput = len(test) / (time.perf_counter() - t)
    buf = io.BytesIO()
    pickle.dump(pipe, buf)  # size only; never loaded
    return {
        "train_seconds": seconds,
        "size_mb": len(buf.getvalue()) / 1e6,
        "train_peak_rss_mb": peak_rss_mb(),
        **headline("classify", m),
        **lat,
        "texts_per_s": throughput,
        "serve_rss_mb": peak_rss_mb(),
    }


def serve_job(board: str, out: Path) -> dict[str, object]:
    """A fresh process that only loads the module and predicts: what a server would pay."""
    task, _, test_fn = BOARDS[board]
    test = test_fn()
    model = microgpt.load(out)
    predict = model.predict if task == "extract" else model.predict_proba
    lat = latency(lambda t: predict([t]), test.texts)
    t = time.perf_counter()
    for i in range(0, len(test), 256):
        predict(test.texts[i : i + 256])
    throughput = len(test) / (time.perf_counter() - t)
    return {**lat, "texts_per_s": throughput, "serve_rss_mb": peak_rss_mb()}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "train":
        result = train_job(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    else:
        result = serve_job(sys.argv[2], Path(sys.argv[3]))
    print("RESULT " + json.dumps(result))
