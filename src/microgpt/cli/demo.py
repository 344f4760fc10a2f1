"""`microgpt demo`: route help-desk tickets, read booking requests and invoices into typed fields, draft replies.

Each part trains on shipped example data written for the project, evaluates on a held-out part, and runs on new text.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from microgpt.cli.choices import Tier
from microgpt.cli.progress import progress_bar
from microgpt.data.readers import read_examples
from microgpt.data.splits import train_test_split
from microgpt.errors import DataError

NEW_MESSAGES = [
    "hi, you charged my card twice for the same order, please fix",
    "my parcel was supposed to arrive on monday and tracking hasn't moved since",
    "I'd like to stop my subscription at the end of this month",
    "the app crashes every time I open my order history",
    "does the blue jacket come in XL?",
    "I never got a password reset email",
]
NEW_BOOKINGS = [
    "Hi, could I book a table for four next Friday at 7? Name's Ana Ruiz",
    "Do you have anything tomorrow at half past seven for 2?",
    "I need a haircut appointment this Saturday, ideally 10:30 am. My name is Tom Walsh.",
]
NEW_BOOKINGS_MULTILINGUAL = [
    "下周五晚上7点，四位，姓王",
    "Hola, el martes a las 8, somos 3. Soy Lucía",
    "Am Samstag um halb acht, wir sind zu viert",
]
NEW_REPLY_REQUESTS = [  # (message, fields the caller knows)
    ("hey, where's my order NW-55120? it's been a week", {"Order Number": "NW-55120"}),
    ("please cancel NW-40417, I bought the wrong size", {"Order Number": "NW-40417"}),
    ("the reset link in your email doesn't work", {}),
]
NEW_INVOICE = (
    "Harbour Fish Market\n88 Quay Road\nInvoice INV-4411\nDate: 03/12/2026\n2 x Crab  €31,80\nTOTAL: 1.299,00 €"
)


def example_path(name: str) -> Path:
    """A shipped example file, from the source checkout (editable install) or the current directory."""
    for root in (Path(__file__).resolve().parents[3], Path.cwd()):
        candidate = root / "examples" / name
        if candidate.exists():
            return candidate
    raise DataError(f"example data {name} not found", hint="run the demo from the MicroGPT checkout, or pass --data")


def demo_cmd(
    tier: Tier = typer.Option(Tier.auto, help="nano, micro or auto (trains both and keeps the better)."),
    data: Path = typer.Option(None, help="Labelled data to use instead of examples/helpdesk.csv."),
    out: Path = typer.Option(Path("runs/demo-helpdesk"), help="Where to save the trained module."),
    extract_tier: Tier = typer.Option(Tier.nano, help="Tier for the extraction part (nano: a CRF, seconds)."),
    skip_extract: bool = typer.Option(False, "--skip-extract", help="Skip the extraction part."),
    reply_tier: Tier = typer.Option(Tier.nano, help="Tier for the replies (nano: retrieval; micro: tinygpt, minutes)."),
    skip_reply: bool = typer.Option(False, "--skip-reply", help="Skip the reply-drafting part."),
) -> None:
    """Train → evaluate → predict on the embedded examples (help-desk routing, booking and invoice fields, reply
    drafts), offline."""
    from microgpt.api import train
    from microgpt.evaluation.report import evaluate

    console = Console()
    tier, extract_tier, reply_tier = tier.value, extract_tier.value, reply_tier.value  # type: ignore[assignment]
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
    if not skip_extract:
        _extract_demo(console, extract_tier, out.parent / f"{out.name}-bookings", out.parent / f"{out.name}-invoices")
    if not skip_reply:
        _reply_demo(console, reply_tier, out.parent / f"{out.name}-replies")


def _extract_demo(console: Console, tier: str, bookings_out: Path, invoices_out: Path) -> None:
    """Bookings, bookings in four languages (zh, es, de, en: values read into the same types) and invoices."""
    from microgpt.api import train
    from microgpt.evaluation.report import evaluate

    today = datetime.date.today()
    for name, schema, out, new in (
        ("bookings.jsonl", "date:date, time:time, people:count, name, phone", bookings_out, NEW_BOOKINGS),
        (
            "bookings_multilingual.jsonl",
            "date:date, time:time, people:count, name, phone",
            bookings_out.with_name(bookings_out.name + "-multilingual"),
            NEW_BOOKINGS_MULTILINGUAL,
        ),
        ("invoices.jsonl", "company, invoice_no, date:date, total:money", invoices_out, [NEW_INVOICE]),
    ):
        path = example_path(name)
        dataset = read_examples(path, task="extract")
        cut = int(len(dataset) * 0.8)
        train_part, test_part = dataset[:cut], dataset[cut:]
        console.rule(f"[bold]Extraction[/] — {path.name}: {schema}")
        with progress_bar(console) as progress:
            model: Any = train(train_part, task="extract", tier=tier, out=out, schema=schema, progress=progress)
        m = evaluate(model, test_part)["metrics"]
        console.print(
            f"{len(train_part)} examples → {tier} in {model.train_seconds_:.1f}s; held-out span F1 "
            f"[bold green]{m['span_f1']:.1%}[/], field F1 {m['field_f1']:.1%} on {m['n']} texts → {out}"
        )
        table = Table(title=f"new text (relative dates read against today, {today.isoformat()})", show_lines=True)
        table.add_column("text")
        table.add_column("fields", style="bold")
        for ex in model.predict(new, reference=today):
            shown = "\n".join(
                f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in ex.to_json()["fields"].items() if v is not None
            )
            table.add_row(ex.text, shown)
        console.print(table)
        if "\n" in new[0]:  # a document: one JSON object per line on stdin keeps its line breaks
            console.print(f"""try: echo '{{"text": "ACME LTD\\nTOTAL: RM 9.00"}}' | microgpt predict {out} -""")
        else:
            console.print(f'try: microgpt predict {out} "{new[0]}"')


def _reply_demo(console: Console, tier: str, out: Path) -> None:
    from microgpt.api import train
    from microgpt.evaluation.report import evaluate

    path = example_path("replies.jsonl")
    dataset = read_examples(path, task="reply")
    train_part, test_part = train_test_split(dataset, test_fraction=0.2, seed=0)
    console.rule(f"[bold]Reply drafts[/] — {path.name}: {len(dataset)} messages and the replies the shop sent")
    with progress_bar(console) as progress:
        model: Any = train(train_part, task="reply", tier=tier, out=out, progress=progress)
    m = evaluate(model, test_part)["metrics"]
    console.print(
        f"{len(train_part)} pairs → {tier} in {model.train_seconds_:.1f}s; held-out ROUGE-L "
        f"[bold green]{m['rouge_l']:.1%}[/], intent consistency {m.get('intent_consistency', float('nan')):.0%} "
        f"on {m['n']} messages → {out}"
    )
    table = Table(title="new messages (placeholders are filled only from the fields given)", show_lines=True)
    table.add_column("message")
    table.add_column("fields given")
    table.add_column("draft", style="bold")
    for message, fields in NEW_REPLY_REQUESTS:
        draft = model.predict_one(message, fields=fields)
        table.add_row(message, json.dumps(fields) if fields else "—", draft.text)
    console.print(table)
    message, fields = NEW_REPLY_REQUESTS[0]
    console.print(f'try: microgpt predict {out} "{message}" --field "Order Number={fields["Order Number"]}"')
