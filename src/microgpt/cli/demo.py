"""`microgpt demo`: train on the shipped help-desk tickets, evaluate on a held-out part, label new messages."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from microgpt.api import train
from microgpt.cli.progress import progress_bar
from microgpt.data.readers import read_examples
from microgpt.data.splits import train_test_split
from microgpt.errors import DataError
from microgpt.evaluation.report import evaluate

NEW_MESSAGES = [
    "hi, you charged my card twice for the same order, please fix",
    "my parcel was supposed to arrive on monday and tracking hasn't moved since",
    "I'd like to stop my subscription at the end of this month",
    "the app crashes every time I open my order history",
    "does the blue jacket come in XL?",
    "I never got a password reset email",
]


def example_path(name: str) -> Path:
    """A shipped example file, from the source checkout (editable install) or the current directory."""
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        candidate = root / "examples" / name
        if candidate.exists():
            return candidate
    raise DataError(f"example data {name} not found", hint="run the demo from the MicroGPT checkout, or pass --data")


def demo_cmd(
    tier: str = typer.Option("auto", help="nano, micro or auto (trains both and keeps the better)."),
    data: Path = typer.Option(None, help="Labelled data to use instead of examples/helpdesk.csv."),
    out: Path = typer.Option(Path("runs/demo-helpdesk"), help="Where to save the trained module."),
) -> None:
    """Train → evaluate → predict on the embedded help-desk example, offline."""
    console = Console()
    path = data or example_path("helpdesk.csv")
    dataset = read_examples(path)
    train_part, test_part = train_test_split(dataset, test_fraction=0.2, seed=0)
    console.rule(f"[bold]MicroGPT demo[/] — routing help-desk tickets ({path.name})")
    console.print(
        f"{len(dataset)} tickets, {len(dataset.label_counts())} routes; training on {len(train_part)}, "
        f"holding out {len(test_part)} for evaluation; tier [bold]{tier}[/]"
    )
    with progress_bar(console) as progress:
        model = train(train_part, task="classify", tier=tier, out=out, progress=progress)
    console.print(f"trained in {model.train_seconds_:.1f}s → {out}")
    if model.auto_report_:
        console.print(f"auto chose [bold]{model.auto_report_['chosen']}[/]: {model.auto_report_['why']}")
    report = evaluate(model, test_part)
    m = report["metrics"]
    console.print(
        f"held-out accuracy [bold green]{m['accuracy']:.1%}[/], macro-F1 {m['macro_f1']:.3f} on {m['n']} tickets "
        f"(report: {out}/REPORT.md)"
    )
    table = Table(title="new messages")
    table.add_column("message")
    table.add_column("route", style="bold")
    table.add_column("confidence", justify="right")
    proba = model.predict_proba(NEW_MESSAGES)
    for text, row in zip(NEW_MESSAGES, proba, strict=True):
        best = int(row.argmax())
        table.add_row(text, model.labels_[best], f"{row[best]:.0%}")
    console.print(table)
    console.print(f'try: microgpt predict {out} "where is my refund?"')
