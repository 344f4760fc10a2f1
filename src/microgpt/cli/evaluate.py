"""`microgpt evaluate DIR DATA [--format json|table]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from microgpt.cli.choices import Engine, Format
from microgpt.cli.progress import progress_bar
from microgpt.data.digests import count_train_overlap
from microgpt.data.readers import read_examples
from microgpt.errors import ConfigError


def evaluate_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    data: str = typer.Argument(
        ..., help="Labelled evaluation data: .csv or .jsonl (--engine ray: also .parquet, a directory, a glob, a URL)."
    ),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (human) or json (machine, on stdout)."),
    text_col: str = typer.Option(None, "--text-col", help="Text column of DATA (default: text, message, ...)."),
    label_col: str = typer.Option(None, "--label-col", help="Label column of DATA (default: label, category, ...)."),
    label_sep: str = typer.Option(None, "--label-sep", help="tag: delimiter for several labels in one cell, e.g. '|'."),
    reply_col: str = typer.Option(None, "--reply-col", help="reply: the reference reply column."),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="local: the full report, in this process; ray: accuracy, F1 and calibration error from Ray workers.",
    ),
    workers: int = typer.Option(None, "--workers", min=1, help="--engine ray: workers (default: one per CPU)."),
    address: str = typer.Option(None, "--address", help="--engine ray: the cluster ('auto'; default: a local one)."),
) -> None:
    """Score a module on labelled data; writes report.json and REPORT.md into the module (--engine ray: prints the
    headline metrics of data of any size, scored on Ray workers, and writes no report)."""
    from microgpt.evaluation.report import evaluate
    from microgpt.task import load

    if engine is Engine.ray:
        _evaluate_ray(module, data, format, text_col, label_col, label_sep, workers, address)
        return
    if workers is not None or address is not None:
        raise ConfigError("--workers and --address are for --engine ray", hint="add --engine ray, or drop them")
    path = Path(data)
    model = load(module)
    dataset = read_examples(path, task=model.task, text_col=text_col, label_col=label_col, label_sep=label_sep,
                            min_per_label=0, reply_col=reply_col)  # fmt: skip
    warn_overlap(Console(stderr=True), module, dataset.texts)
    with progress_bar(Console(stderr=True)) as progress:
        report = evaluate(model, dataset, progress=progress)
    metrics = report["metrics"]
    if format is Format.json:
        typer.echo(json.dumps({**{k: v for k, v in metrics.items()}, "tier": report["tier"], "task": report["task"]}))
        return
    console = Console()
    print_metrics(console, model, metrics, f"{module} on {path.name} ({metrics['n']} examples)")
    console.print(f"report written to {module}/REPORT.md")


def _evaluate_ray(
    module: Path,
    data: str,
    format: Format,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    workers: int | None,
    address: str | None,
) -> None:
    from microgpt.batch import evaluate_table
    from microgpt.task import load

    with progress_bar(Console(stderr=True)) as progress:
        done = evaluate_table(module, data, text_col=text_col, label_col=label_col, label_sep=label_sep,
                              engine="ray", workers=workers, address=address, progress=progress)  # fmt: skip
    metrics = {k: v for k, v in done.metrics.items() if isinstance(v, (int, float))}
    if format is Format.json:
        typer.echo(json.dumps({**metrics, "engine": "ray", "workers": done.workers}))
        return
    workers = f"{done.workers} worker{'s' if done.workers != 1 else ''}"
    title = f"{module} on {data} ({done.rows} examples, ray: {workers}, {done.rows_per_second:,.0f}/s)"
    print_metrics(Console(), load(module), metrics, title)


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
