"""`microgpt review list [--module M] [--status S] | resolve ID LABEL... | skip ID`: the human review queue."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from microgpt.store.registry import Registry
from microgpt.cli.choices import Format, ReviewStatus
from microgpt.errors import DataError, MicroGPTError
from microgpt.module import read_manifest

app = typer.Typer(
    help="The review queue: texts a model should not answer alone, waiting for a person's label.",
    no_args_is_help=True,
)
console = Console()


@dataclass(frozen=True)
class ModuleRef:
    """A module found by registry name or directory: the name its store rows use, and what it predicts."""

    name: str
    version: int | None
    task: str
    labels: list[str]
    path: Path


def find_module(ref: str, registry: Registry | None = None) -> ModuleRef | None:
    """A module directory, else the current version of a registry name; None when `ref` is neither."""
    from microgpt.store.remote import open_registry

    registry = registry or open_registry()
    path = Path(ref)
    if not (path / "microgpt.json").is_file():
        return registry_module(ref, registry)
    manifest = read_manifest(path, verify=False)
    name, version = path.resolve().name, None
    parent = path.resolve().parent
    if parent.parent == registry.root.resolve() and path.resolve().name.isdigit():  # .../modules/<name>/<version>
        name, version = parent.name, int(path.resolve().name)
    return ModuleRef(name, version, str(manifest.get("task")), list(manifest.get("labels", [])), path)


def registry_module(name: str, registry: Registry | None = None) -> ModuleRef | None:
    """The current version of a registry module; None when there is no such module or none is promoted."""
    from microgpt.store.remote import open_registry

    registry = registry or open_registry()
    try:
        version = registry.current(name)
        if version is None:
            return None
        path = registry.path(name, version)
        manifest = read_manifest(path, verify=False)
    except MicroGPTError:
        return None
    return ModuleRef(name, version, str(manifest.get("task")), list(manifest.get("labels", [])), path)


def check_labels(given: list[str], known: list[str], module: str) -> None:
    unknown = [x for x in given if x not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(f"unknown label(s) {unknown} for module {module!r}", hint=f"{guess}known: {', '.join(known)}")


@app.command("list")
def list_cmd(
    module: str = typer.Option(None, "--module", "-m", help="Only this module's items."),
    status: ReviewStatus = typer.Option(ReviewStatus.pending, "--status", "-s", help="Which items to list."),
    limit: int = typer.Option(50, "--limit", "-n", help="Show at most this many (oldest first)."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (human) or json (machine)."),
) -> None:
    """List review items, oldest first."""
    from microgpt.store.db import Store

    format, status = format.value, status.value  # type: ignore[assignment]
    store = Store()
    items = store.review_items(module, None if status == "all" else status, limit)
    if format == "json":
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    counts = store.review_counts(module)
    summary = " · ".join(f"{n} {s}" for s, n in counts.items())
    if not items:
        which = "" if status == "all" else f"{status} "
        console.print(f"no {which}review items{f' for {module}' if module else ''} ({summary})")
        return
    table = Table(title=f"review queue{f' — {module}' if module else ''} ({summary})")
    table.add_column("id", no_wrap=True)  # whole: it is what `resolve` takes
    if module is None and len({i["module"] for i in items}) > 1:
        table.add_column("module", overflow="fold", ratio=1)
    for col in ("reason", "model said", "text", "status"):
        table.add_column(col, overflow="fold", ratio=3 if col == "text" else 1)
    for item in items:
        said = _said(item["prediction"])
        if item["confidence"] is not None:
            said += f" ({item['confidence']:.2f})"
        state = item["status"] if item["answer"] is None else f"{item['status']}: {_target(item['answer'])}"
        row = [
            item["id"],
            *([item["module"]] if len(table.columns) == 6 else []),
            item["reason"],
            said,
            item["text"],
            state,
        ]
        table.add_row(*row)
    console.print(table)
    console.print("resolve: microgpt review resolve ID LABEL   ·   skip: microgpt review skip ID")


@app.command("resolve")
def resolve_cmd(
    item_id: str = typer.Argument(..., help="The item's id (see `microgpt review list`)."),
    labels: list[str] = typer.Argument(..., help="The correct label; a tagger's several: repeat or comma-separate."),
) -> None:
    """Give a review item its correct label; it becomes a training example (`microgpt modules feedback NAME`)."""
    from microgpt.store.db import Store
    from microgpt.task import task_class

    given = [x.strip() for arg in labels for x in arg.split(",") if x.strip()]
    if not given:
        raise DataError("no label given", hint="microgpt review resolve ID LABEL")
    store = Store()
    item = store.review_item(item_id)
    target: str | list[str] = given[0] if len(given) == 1 else given
    if item is not None:
        ref = registry_module(item["module"])
        if ref is not None:
            check_labels(given, ref.labels, item["module"])
            if task_class(ref.task).multilabel:
                target = given
    store.resolve_review(item_id, target, by="cli")
    module = item["module"] if item else "NAME"
    console.print(f"resolved {item_id}: {_target(target)}   ·   training data: microgpt modules feedback {module}")


@app.command("skip")
def skip_cmd(item_id: str = typer.Argument(..., help="The item's id (see `microgpt review list`).")) -> None:
    """Take an item off the queue without a label (it is kept, with status skipped)."""
    from microgpt.store.db import Store

    Store().skip_review(item_id, by="cli")
    console.print(f"skipped {item_id}")


def _target(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def _said(prediction: Any) -> str:
    if isinstance(prediction, dict):
        if "label" in prediction:
            return str(prediction["label"])
        if "labels" in prediction:
            return _target(prediction["labels"])
    return "—" if prediction is None else _short(json.dumps(prediction), 30)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
