"""`microgpt serve [--host H] [--port P] [--engine uvicorn|ray]`: the REST API over the registry's promoted modules,
on uvicorn, or on Ray Serve replicas (serving/ray_serve.py)."""

from __future__ import annotations

import os
from enum import StrEnum

import typer
from rich.console import Console

from microgpt.cli.choices import LogLevel


class ServeEngine(StrEnum):
    """What runs the app: uvicorn processes on this machine, or Ray Serve replicas on a (local or real) cluster."""

    uvicorn = "uvicorn"
    ray = "ray"


def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 127.0.0.1 keeps it local (0.0.0.0 exposes it)."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, help="Worker processes (each loads every module)."),
    keep_texts: bool = typer.Option(True, "--keep-texts/--hash-texts", help="Store input texts, or only their hash."),
    max_batch: int = typer.Option(256, help="Most texts in one predict request."),
    max_text_chars: int = typer.Option(20_000, help="Longest text accepted."),
    max_body_bytes: int = typer.Option(2_000_000, help="Largest request body accepted."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --host without API keys."),
    allow_host: list[str] = typer.Option(
        [], "--allow-host", help="On loopback, also accept this Host header (a reverse proxy's name); repeatable."
    ),
    log_level: LogLevel = typer.Option(LogLevel.warning, help="uvicorn's (or Ray Serve's) log level."),
    engine: ServeEngine = typer.Option(
        ServeEngine.uvicorn, help="uvicorn (this machine) or ray (Ray Serve replicas: pip install 'microgpt\\[ray]')."
    ),
    replicas: int = typer.Option(None, min=1, help="--engine ray: replicas, one CPU each (default 1)."),
    address: str = typer.Option(
        None,
        help="--engine ray: the cluster ('auto' after `ray start --head`, ray://HOST:10001; default: a local one).",
    ),
) -> None:
    """Serve every promoted module under $MICROGPT_HOME over HTTP (docs at /docs)."""
    from microgpt.errors import ConfigError
    from microgpt.serving.app import is_loopback
    from microgpt.store.remote import open_registry

    if engine is ServeEngine.uvicorn and (replicas is not None or address is not None):
        flag = "--replicas" if replicas is not None else "--address"
        raise ConfigError(f"{flag} is for --engine ray", hint="add --engine ray (uvicorn takes --workers N instead)")
    if engine is ServeEngine.ray and workers != 1:
        raise ConfigError(
            "--workers is for uvicorn", hint=f"on Ray, ask for replicas: --engine ray --replicas {workers}"
        )
    if not is_loopback(host) and not insecure:
        from microgpt.store.db import Store, store_location

        if not Store(store_location(open_registry().home)).auth_required():
            raise ConfigError(
                f"refusing to serve on {host} without API keys: anyone who can reach it could read the review "
                "queue and send predictions",
                hint="create a key first (microgpt keys create NAME), or pass --insecure if something in front "
                "of the server does the authentication",
            )
    os.environ.update(
        {
            "MICROGPT_SERVE_KEEP_TEXTS": "1" if keep_texts else "0",
            "MICROGPT_SERVE_MAX_BATCH": str(max_batch),
            "MICROGPT_SERVE_MAX_TEXT_CHARS": str(max_text_chars),
            "MICROGPT_SERVE_MAX_BODY_BYTES": str(max_body_bytes),
            "MICROGPT_SERVE_HOST": host,
            "MICROGPT_SERVE_ALLOWED_HOSTS": ",".join(allow_host),
        }
    )
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    console = Console(stderr=True)

    def serving() -> None:
        console.print(f"serving MicroGPT on [bold]{base}[/] · API docs at {base}/docs · Ctrl+C stops",
                      highlight=False, soft_wrap=True)  # fmt: skip

    if engine is ServeEngine.ray:
        from microgpt.serving.ray_serve import import_serve, serve_ray

        import_serve()  # a missing extra is the first thing said
        n = replicas or 1
        where = f"the cluster at {address}" if address else "a local Ray cluster"
        console.print(f"starting {n} replica{'s' * (n > 1)} on Ray Serve, on {where}…", highlight=False)
        serve_ray(host, port, replicas=n, address=address, log_level=log_level.value, ready=serving)
        return
    import uvicorn

    serving()
    uvicorn.run(
        "microgpt.serving.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level.value,
    )
