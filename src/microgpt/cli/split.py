"""`microgpt split DATA --test-fraction 0.2 --seed 0 [--out-dir DIR]`: a stratified train/test split of a file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from microgpt.batch.files import read_rows, write_rows
from microgpt.cli.choices import Task
from microgpt.data.readers import read_examples
from microgpt.data.splits import train_test_split


def split_cmd(
    data: Path = typer.Argument(..., help="Labelled data to split: .csv or .jsonl."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of the rows that go to the test file."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same split."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Where to write DATA.train and DATA.test (default: beside)."),
    task: Task = typer.Option(Task.classify, "--task", help="What the labels are, for stratification."),
    text_col: str = typer.Option(None, "--text-col", help="Text column (default: text, message, ...)."),
    label_col: str = typer.Option(None, "--label-col", help="Label column to stratify on (default: label, ...)."),
    label_sep: str = typer.Option(None, "--label-sep", help="tag: delimiter for several labels in one cell."),
) -> None:
    """Split DATA into DATA.train.EXT and DATA.test.EXT, every label keeping its share on both sides.

    Rows are copied as they are (every column kept), so both files read like the original."""
    dataset = read_examples(
        data, task=task.value, text_col=text_col, label_col=label_col, label_sep=label_sep, min_per_label=0
    )
    train, test = train_test_split(dataset, test_fraction=test_fraction, seed=seed)
    columns, rows = read_rows(data)
    by_line = dict(rows)
    where = out_dir or data.parent
    console = Console(stderr=True)
    for part, name in ((train, "train"), (test, "test")):
        out = where / f"{data.stem}.{name}{data.suffix}"
        picked = [by_line[int(e.source.rsplit(":", 1)[1])] for e in part]
        write_rows(out, columns, picked)
        console.print(f"{len(picked)} rows → [green]{out}[/]")
    console.print(f"next: microgpt train {where / f'{data.stem}.train{data.suffix}'} --out model/")
