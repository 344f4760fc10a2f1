"""`microgpt export DIR --format onnx [--int8] [--data TEST.csv] [--force]`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from microgpt.cli.choices import ExportFormat
from microgpt.data.readers import read_examples
from microgpt.errors import requires_extra


def export_cmd(
    module: Path = typer.Argument(..., help="A trained micro module directory."),
    format: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="The export format (only onnx for now)."),
    int8: bool = typer.Option(False, "--int8", help="Dynamic int8 quantisation (faster; checked on --data)."),
    data: Path = typer.Option(None, "--data", help="Labelled data for the accuracy check."),
    force: bool = typer.Option(False, "--force", help="Keep the export even if the check fails."),
) -> None:
    """Add ONNX graph(s) to a module; `microgpt.load` and the server then run it through ONNX Runtime."""
    from microgpt.export.onnx import export_onnx

    dataset = read_examples(data, min_per_label=0) if data else None
    with requires_extra("ONNX export"):
        report = export_onnx(module, int8=int8, data=dataset, force=force)
    Console(stderr=True).print(f"exported {'int8' if int8 else 'fp32'} ONNX into {module}")
    typer.echo(json.dumps(report))
