"""`microgpt train DATA --task classify|tag --tier nano|micro|auto --out DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from microgpt.api import train
from microgpt.cli.progress import progress_bar
from microgpt.data.readers import read_examples
from microgpt.errors import ConfigError

console = Console(stderr=True)


def train_cmd(
    data: Path = typer.Argument(..., help="Training data: .csv or .jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write the trained module to."),
    task: str = typer.Option(
        "classify", help="classify (one label per text), tag (several), extract (fields) or reply (drafts)."
    ),
    tier: str = typer.Option("nano", help="nano (n-grams, seconds), micro (transformer, minutes) or auto."),
    text_col: str = typer.Option(None, "--text-col", help="Text column (default: text, message, ...)."),
    label_col: str = typer.Option(None, "--label-col", help="Label column (default: label, labels, category, ...)."),
    reply_col: str = typer.Option(None, "--reply-col", help="reply: the reply column (default: reply, response, ...)."),
    label_sep: str = typer.Option(
        None, "--label-sep", help="Delimiter for several labels in one cell (tag), e.g. '|'."
    ),
    backbone: str = typer.Option(
        None, "--backbone", help="micro: pretrained encoder (default, a local path or hub name)."
    ),
    epochs: float = typer.Option(None, "--epochs", help="micro: maximum epochs."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="micro: wall-clock training budget."),
    latency_budget_ms: float = typer.Option(None, "--latency-budget-ms", help="auto: single-text p50 budget."),
    config: str = typer.Option(None, "--config", help='JSON settings, e.g. \'{"micro": {"lr": 5e-5}}\'.'),
    seed: int = typer.Option(0, help="Random seed for splits and training."),
    schema: str = typer.Option(
        None, "--schema", help="extract: fields and types, e.g. 'date:date,total:money,items:text[]' or a .json file."
    ),
    date_order: str = typer.Option(None, "--date-order", help="extract: how to read 03/04/2025 (DMY, MDY, YMD)."),
) -> None:
    """Train a model on DATA and save it as a module directory."""
    settings: dict[str, dict[str, object]] = {"nano": {}, "micro": {}, "auto": {}}
    if config:
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"--config is not valid JSON ({err.msg})", hint='e.g. --config \'{"micro": {"epochs": 3}}\''
            ) from None
        unknown = set(parsed) - set(settings)
        if unknown:
            raise ConfigError(f"unknown --config section(s) {sorted(unknown)}", hint="use nano, micro or auto")
        for key, value in parsed.items():
            settings[key].update(value)
    for key, value in {"backbone": backbone, "epochs": epochs, "max_minutes": max_minutes}.items():
        if value is not None:
            settings["micro"][key] = value
    if latency_budget_ms is not None:
        settings["auto"]["latency_budget_ms"] = latency_budget_ms
    dataset = read_examples(
        data, task=task, text_col=text_col, label_col=label_col, label_sep=label_sep, reply_col=reply_col
    )
    if task == "reply":
        intents = len({e.label for e in dataset if e.label is not None})
        console.print(f"[bold]{len(dataset)}[/] message/reply pairs ({intents} intents) from {data} → {tier} {task}")
    elif task == "extract":
        console.print(f"[bold]{len(dataset)}[/] examples from {data} → {tier} {task}")
    else:
        counts = dataset.label_counts()
        console.print(f"[bold]{len(dataset)}[/] examples, [bold]{len(counts)}[/] labels from {data} → {tier} {task}")
    with progress_bar(console) as progress:
        model = train(
            dataset, task=task, tier=tier, out=out, seed=seed, progress=progress,
            nano=settings["nano"], micro=settings["micro"],
            auto=settings["auto"] if task not in ("extract", "reply") else None,
            schema=schema, date_order=date_order,
        )  # fmt: skip
    console.print(f"trained in {model.train_seconds_:.1f}s → [green]{out}[/]")
    if task == "extract":
        extractor: Any = model
        fields = ", ".join(
            f"{name} ({spec.type}{'[]' if spec.multiple else ''})" for name, spec in extractor.schema_.items()
        )
        console.print(f"fields: {fields}")
        align = extractor.alignment_
        if align.get("not_found"):
            by = ", ".join(f"{k} {v}" for k, v in sorted(align["by_field"].items(), key=lambda kv: -kv[1]))
            console.print(
                f"[yellow]warning:[/] {align['not_found']} of {align['field_values']} field values were not found "
                f"in their text ({by}); those stay unlabelled in training"
            )
    if model.auto_report_:
        console.print(f"auto chose [bold]{model.auto_report_['chosen']}[/]: {model.auto_report_['why']}")
    console.print(f'next: microgpt evaluate {out} TEST_DATA   ·   microgpt predict {out} "some text"')
