"""`predict_table` and `evaluate_table`: a module over every row of a big input, on the local or the Ray engine.

The answer columns come from one function (`AnswerOptions.columns`: the task's typed results, `.columns()`), which
both engines call on batches of texts — so an engine changes where the work runs, never the answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from microgpt.batch.answers import AnswerOptions, BatchSummary, check_engine, label_column, merge, text_column
from microgpt.batch.files import TableWriter, read_table
from microgpt.errors import ConfigError, DataError
from microgpt.progress import Progress, no_progress


def predict_table(
    module: str | Path,
    src: str | Path,
    out: str | Path,
    *,
    text_col: str | None = None,
    batch_size: int = 256,
    options: AnswerOptions | None = None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress = no_progress,
) -> BatchSummary:
    """Label every row of `src` (a .csv/.jsonl/.parquet file, a directory or a glob; a path or an fsspec URL) with
    the module at `module`, writing `out` (.csv, .jsonl or .parquet): the input columns plus the answer columns."""
    options = options or AnswerOptions()
    if check_engine(engine) == "ray":
        from microgpt.batch.ray_engine import predict_ray

        return predict_ray(module, src, out, text_col=text_col, batch_size=batch_size, options=options,
                           workers=workers, address=address, progress=progress)  # fmt: skip
    start = time.perf_counter()
    writer = TableWriter(out)  # an unsupported output suffix fails before any work
    try:
        _, added, n = _predict_local(module, src, writer, text_col, batch_size, options, progress)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return BatchSummary(n, added, "local", 1, time.perf_counter() - start)


def _predict_local(
    module: str | Path,
    src: str | Path,
    writer: TableWriter,
    text_col: str | None,
    batch_size: int,
    options: AnswerOptions,
    progress: Progress,
) -> tuple[list[str], list[str], int]:
    from microgpt.task import load

    model = load(module) if isinstance(module, (str, Path)) else module
    columns, rows = read_table(src)
    if not rows:
        raise DataError(f"{src} has no data rows", hint="add rows below the header")
    col = text_column(columns, text_col, str(src))
    for where, row in rows:
        if not isinstance(row.get(col), str) or not row[col].strip():
            raise DataError(f"empty text at {where} (column {col!r})", hint="fill in or remove the row")
    writer.add_columns(columns)
    added: list[str] = []
    for start, batch in _chunks([row for _, row in rows], batch_size):
        answers = options.columns(model, [row[col].replace("\r\n", "\n") for row in batch])
        merged = [merge(row, answer, columns) for row, answer in zip(batch, answers, strict=True)]
        if not added:
            added = [k for k in merged[0] if k not in columns]
            writer.add_columns(added)
        writer.write(merged)
        progress("predict", min(start + batch_size, len(rows)), len(rows))
    return columns, added, len(rows)


def _chunks(items: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), max(1, size)):
        yield start, items[start : start + size]


def evaluate_table(
    module: str | Path,
    src: str | Path,
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    batch_size: int = 256,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: Progress = no_progress,
) -> BatchSummary:
    """Accuracy and macro-F1 (classifiers: also ECE and accuracy at 90% coverage; taggers: micro/macro F1) of a
    label module on every row of `src`, scored from the answer columns either engine computes.

    For the full report (calibration plots, cost table, REPORT.md) of data that fits one machine, use
    `microgpt.evaluate`."""
    from microgpt.task import load

    model = load(module)
    if not hasattr(model, "labels_") or getattr(model, "documents", False) or "stream" in model.options:
        raise ConfigError(
            f"evaluating on a batch engine scores label modules (classify, tag); {module} is a {model.task} module",
            hint="evaluate it in-process: microgpt evaluate MODULE DATA (without --engine)",
        )
    options = AnswerOptions()
    check_engine(engine)
    start = time.perf_counter()
    if engine == "ray":
        from microgpt.batch.ray_engine import answers_ray

        gold_raw, answers, used = answers_ray(module, src, text_col, label_col, batch_size, options, workers, address,
                                              progress)  # fmt: skip
    else:
        columns, rows = read_table(src)
        tcol, lcol = text_column(columns, text_col, str(src)), label_column(columns, label_col, str(src))
        gold_raw, answers = [r[lcol] for _, r in rows], []
        for begin, batch in _chunks([r for _, r in rows], batch_size):
            answers += options.columns(model, [str(r[tcol]).replace("\r\n", "\n") for r in batch])
            progress("evaluate", min(begin + batch_size, len(rows)), len(rows))
        used = 1
    if not answers:
        raise DataError(f"{src} has no data rows", hint="add labelled rows")
    metrics = _label_metrics(model, gold_raw, answers, label_sep)
    return BatchSummary(len(answers), [], engine, used, time.perf_counter() - start, metrics)


def _label_metrics(model: Any, gold_raw: list[Any], answers: list[dict[str, Any]], sep: str | None) -> dict[str, Any]:
    import numpy as np

    from microgpt.calibration import ece, selective_accuracy
    from microgpt.evaluation.metrics import classification_metrics, tagging_metrics

    if "labels" in answers[0]:  # a tagger: sets of labels
        gold = [_label_set(g, sep) for g in gold_raw]
        return {"n": len(gold), **tagging_metrics(gold, [list(a["labels"]) for a in answers])}
    gold_labels = [str(g) for g in gold_raw]
    pred = [str(a["label"]) for a in answers]
    metrics: dict[str, Any] = {"n": len(gold_labels), **classification_metrics(gold_labels, pred)}
    conf = np.array([float(a["confidence"]) for a in answers])
    correct = np.array(pred) == np.array(gold_labels)
    metrics["ece"] = ece(conf, correct)
    metrics["selective_accuracy_at_90_coverage"] = selective_accuracy(conf, correct, 0.9)
    return metrics


def _label_set(value: Any, sep: str | None) -> list[str]:
    import json

    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    if text.startswith("["):
        return [str(v) for v in json.loads(text)]
    return [p.strip() for p in text.split(sep or "|") if p.strip()]
