"""`microgpt evaluate DIR DATA [--format json|table]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from microgpt.cli.choices import Format
from microgpt.cli.progress import progress_bar
from microgpt.data.digests import count_train_overlap
from microgpt.data.readers import read_examples


def evaluate_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    data: Path = typer.Argument(..., help="Labelled evaluation data: .csv or .jsonl."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (human) or json (machine, on stdout)."),
    text_col: str = typer.Option(None, "--text-col", help="Text column of DATA (default: text, message, ...)."),
    label_col: str = typer.Option(None, "--label-col", help="Label column of DATA (default: label, category, ...)."),
    label_sep: str = typer.Option(None, "--label-sep", help="tag: delimiter for several labels in one cell, e.g. '|'."),
    reply_col: str = typer.Option(None, "--reply-col", help="reply: the reference reply column."),
) -> None:
    """Score a module on labelled data; writes report.json and REPORT.md into the module."""
    from microgpt.evaluation.report import evaluate
    from microgpt.task import load

    model = load(module)
    dataset = read_examples(data, task=model.task, text_col=text_col, label_col=label_col, label_sep=label_sep,
                            min_per_label=0, reply_col=reply_col)  # fmt: skip
    warn_overlap(Console(stderr=True), module, dataset.texts)
    with progress_bar(Console(stderr=True)) as progress:
        report = evaluate(model, dataset, progress=progress)
    metrics = report["metrics"]
    if format is Format.json:
        typer.echo(json.dumps({**{k: v for k, v in metrics.items()}, "tier": report["tier"], "task": report["task"]}))
        return
    console = Console()
    print_metrics(console, model, metrics, f"{module} on {data.name} ({metrics['n']} examples)")
    console.print(f"report written to {module}/REPORT.md")


def warn_overlap(console: Console, module: Path, texts: list[str]) -> int | None:
    """Warn, with the count, when texts scored were training texts: scores on them flatter the model."""
    n = count_train_overlap(module, texts)
    if n:
        console.print(
            f"[yellow]warning:[/] {n} of {len(texts)} texts ({n / len(texts):.0%}) were in the training data; "
            "scores on them are optimistic — hold out data with `microgpt split DATA` before training",
            highlight=False,
            soft_wrap=True,
        )
    return n


def print_metrics(console: Console, model: Any, metrics: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    console.print(table)
    if model.documents and metrics.get("per_label"):  # an extractor: each field's own figures
        per = Table(title="per field")
        for col in ("field", "precision", "recall", "F1", "support"):
            per.add_column(col, justify="left" if col == "field" else "right")
        for label, m in metrics["per_label"].items():
            per.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
        console.print(per)
    if metrics.get("top_confusions"):
        conf = Table(title="top confusions")
        for col in ("gold", "predicted", "count"):
            conf.add_column(col)
        for c in metrics["top_confusions"][:5]:
            conf.add_row(c["gold"], c["predicted"], str(c["count"]))
        console.print(conf)
