"""`microgpt serve [--host H] [--port P]`: the REST API over the registry's promoted modules, on uvicorn."""

from __future__ import annotations

import os

import typer
from rich.console import Console

from microgpt.cli.choices import LogLevel


def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 127.0.0.1 keeps it local (0.0.0.0 exposes it)."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (each loads every module)."),
    keep_texts: bool = typer.Option(True, "--keep-texts/--hash-texts", help="Log input texts, or only their hash."),
    max_batch: int = typer.Option(256, help="Most texts in one predict request."),
    max_text_chars: int = typer.Option(20_000, help="Longest text accepted."),
    max_body_bytes: int = typer.Option(2_000_000, help="Largest request body accepted."),
    log_level: LogLevel = typer.Option(LogLevel.warning, help="uvicorn log level."),
) -> None:
    """Serve every promoted module under $MICROGPT_HOME over HTTP (docs at /docs)."""
    import uvicorn

    os.environ.update(
        {
            "MICROGPT_SERVE_KEEP_TEXTS": "1" if keep_texts else "0",
            "MICROGPT_SERVE_MAX_BATCH": str(max_batch),
            "MICROGPT_SERVE_MAX_TEXT_CHARS": str(max_text_chars),
            "MICROGPT_SERVE_MAX_BODY_BYTES": str(max_body_bytes),
        }
    )
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    Console(stderr=True).print(
        f"serving MicroGPT on [bold]{base}[/] · API docs at {base}/docs · Ctrl+C stops", highlight=False, soft_wrap=True
    )
    uvicorn.run(
        "microgpt.serving.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.value,
    )
