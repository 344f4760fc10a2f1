"""`microgpt keys create NAME | revoke NAME | list`: API keys for the server (stored hashed in the store)."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="API keys for `microgpt serve` (once any key exists, every route but health needs one).")
console = Console()


@app.command("create")
def create_cmd(name: str = typer.Argument(..., help="Who the key is for, e.g. my-app.")) -> None:
    """Create a key and print it once (only its hash is kept)."""
    from microgpt.store.db import Store

    key = Store().create_key(name)
    typer.echo(key)
    Console(stderr=True).print(f"created key {name!r}; store it now, it cannot be shown again")


@app.command("revoke")
def revoke_cmd(name: str = typer.Argument(..., help="The name the key was created with.")) -> None:
    """Revoke the active key(s) with this name or prefix."""
    from microgpt.store.db import Store

    n = Store().revoke_key(name)
    console.print(f"revoked {n} key(s)")


@app.command("list")
def list_cmd() -> None:
    """Key names, prefixes and state (never the keys)."""
    from microgpt.store.db import Store

    for k in Store().keys():
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        console.print(f"{k['name']}\t{k['prefix']}…\tcreated {k['created_at']}\t{state}")
