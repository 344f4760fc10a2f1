"""`microgpt modules list | add DIR --name N | promote N VERSION | rollback N | rm N VERSION | feedback N`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from microgpt.cli.choices import Format

app = typer.Typer(
    help="Named, versioned modules under $MICROGPT_HOME: add, promote, roll back, remove.", no_args_is_help=True
)
console = Console()


@app.command("list")
def list_cmd(
    name: str = typer.Argument(None, help="Show one module's versions."),
    format: Format = typer.Option(Format.table, "--format", "-f", help="table (human) or json (machine)."),
) -> None:
    """List modules, or one module's versions."""
    from microgpt.store.remote import open_registry

    registry = open_registry()
    names = [name] if name else registry.names()
    rows = [v for n in names for v in registry.versions(n)]
    if format == "json":
        typer.echo(
            json.dumps(
                [
                    {"name": v.name, "version": v.version, "current": v.current, "task": v.task, "tier": v.tier,
                     "created_at": v.created_at, "metrics": v.metrics}
                    for v in rows
                ]
            )
        )  # fmt: skip
        return
    if not rows:
        console.print(f"no modules in {registry.root} yet — add one: microgpt modules add DIR --name NAME")
        return
    table = Table(title=str(registry.root))
    for col in ("name", "version", "current", "task", "tier", "created", "accuracy / micro-F1"):
        table.add_column(col)
    for v in rows:
        score = v.metrics.get("accuracy", v.metrics.get("micro_f1"))
        table.add_row(
            v.name, str(v.version), "●" if v.current else "", v.task, v.tier, v.created_at,
            f"{score:.4f}" if isinstance(score, float) else "—",
        )  # fmt: skip
    console.print(table)


@app.command("add")
def add_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    name: str = typer.Option(..., "--name", "-n", help="Registry name, e.g. ticket-router."),
    promote: bool = typer.Option(None, "--promote/--no-promote", help="Make it current (default: only if first)."),
) -> None:
    """Copy a trained module into the registry as the next version."""
    from microgpt.store.remote import open_registry

    registry = open_registry()
    version = registry.add(module, name, promote=promote)
    state = (
        "current"
        if registry.current(name) == version
        else f"not current (promote: microgpt modules promote {name} {version})"
    )
    console.print(f"added {name} v{version} — {state}")


@app.command("promote")
def promote_cmd(
    name: str = typer.Argument(..., help="Registry name, e.g. ticket-router."),
    version: int = typer.Argument(..., help="Version number (see `microgpt modules list NAME`)."),
) -> None:
    """Make VERSION the current version of NAME (after checking it loads)."""
    from microgpt.store.remote import open_registry

    open_registry().promote(name, version)
    console.print(f"{name}: v{version} is current")


@app.command("rollback")
def rollback_cmd(name: str = typer.Argument(..., help="Registry name, e.g. ticket-router.")) -> None:
    """Go back to the version that was current before."""
    from microgpt.store.remote import open_registry

    version = open_registry().rollback(name)
    console.print(f"{name}: rolled back to v{version}")


@app.command("rm")
def rm_cmd(
    name: str = typer.Argument(..., help="Registry name, e.g. ticket-router."),
    version: int = typer.Argument(..., help="Version number (see `microgpt modules list NAME`)."),
) -> None:
    """Remove a version that is not current."""
    from microgpt.store.remote import open_registry

    open_registry().remove(name, version)
    console.print(f"removed {name} v{version}")


@app.command("feedback")
def feedback_cmd(name: str = typer.Argument(..., help="Registry name, e.g. ticket-router.")) -> None:
    """Print NAME's collected feedback as training JSONL (text + label/labels) on stdout."""
    import sys

    from microgpt.store.db import Store, store_location
    from microgpt.store.remote import open_registry

    n = Store(store_location(open_registry().home)).export_jsonl(name, sys.stdout)
    Console(stderr=True).print(f"{n} feedback example(s) for {name}")
