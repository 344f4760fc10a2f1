"""`microgpt evaluate DIR DATA [--format json|table]`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from microgpt.cli.progress import progress_bar
from microgpt.data.readers import read_examples
from microgpt.errors import ConfigError
from microgpt.evaluation.report import evaluate
from microgpt.task import load


def evaluate_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    data: Path = typer.Argument(..., help="Labelled evaluation data: .csv or .jsonl."),
    format: str = typer.Option("table", "--format", "-f", help="table (human) or json (machine, on stdout)."),
    text_col: str = typer.Option(None, "--text-col"),
    label_col: str = typer.Option(None, "--label-col"),
    label_sep: str = typer.Option(None, "--label-sep"),
    reply_col: str = typer.Option(None, "--reply-col", help="reply: the reference reply column."),
) -> None:
    """Score a module on labelled data; writes report.json and REPORT.md into the module."""
    if format not in ("table", "json"):
        raise ConfigError(f"unknown --format {format!r}", hint="use --format table or --format json")
    model = load(module)
    dataset = read_examples(data, task=model.task, text_col=text_col, label_col=label_col, label_sep=label_sep,
                            min_per_label=0, reply_col=reply_col)  # fmt: skip
    with progress_bar(Console(stderr=True)) as progress:
        report = evaluate(model, dataset, progress=progress)
    metrics = report["metrics"]
    if format == "json":
        typer.echo(json.dumps({**{k: v for k, v in metrics.items()}, "tier": report["tier"], "task": report["task"]}))
        return
    console = Console()
    table = Table(title=f"{module} on {data.name} ({metrics['n']} examples)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    console.print(table)
    if model.task == "extract":
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
    console.print(f"report written to {module}/REPORT.md")
