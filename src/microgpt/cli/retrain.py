"""`microgpt retrain NAME --data BASE [--eval FROZEN] [--add MORE]`: corrections → a new version, promoted only if it
is not worse than the live one on the frozen evaluation set."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from microgpt.cli.progress import progress_bar


def retrain_cmd(
    name: str = typer.Argument(..., help="A module name in the registry (microgpt modules list)."),
    data: Path = typer.Option(..., "--data", help="The base training data the live version was trained on."),
    eval_data: Path = typer.Option(
        None, "--eval", help="Held-out labelled data; frozen into the registry on first use, reused after."
    ),
    add: list[Path] = typer.Option(None, "--add", help="More labelled files to include (repeatable)."),
    min_gain: float = typer.Option(0.0, "--min-gain", help="Promote only if at least this much better."),
    refreeze: bool = typer.Option(False, "--refreeze", help="Replace the frozen evaluation set with --eval."),
) -> None:
    """Train a new version with the store's corrections and promote it only if it is not worse."""
    from microgpt.lifecycle.retrain import retrain

    console = Console(stderr=True)
    with progress_bar(console) as progress:
        result = retrain(
            name, data, eval_data=eval_data, add=list(add or []), min_gain=min_gain, refreeze=refreeze,
            progress=progress,
        )  # fmt: skip
    table = Table(title=f"{name}: v{result.old_version} (live) vs v{result.new_version} (new)")
    for col in ("", "live", "new"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row(result.metric, f"{result.old_score:.4f}", f"{result.new_score:.4f}")
    table.add_row("training texts", "", f"{result.n_train:,} ({result.n_corrections:,} from the store)")
    Console().print(table)
    verdict = "[green]promoted[/]" if result.promoted else "[yellow]not promoted[/] (kept for inspection)"
    Console().print(f"v{result.new_version} {verdict}: {result.why}")
    if result.promoted:
        Console().print(f"undo with: microgpt modules rollback {name}")
