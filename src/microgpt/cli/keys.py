"""`microgpt keys create NAME | revoke NAME | list`: API keys for the server (stored hashed in the store)."""

from __future__ import annotations

import typer
from rich.console import Console

from microgpt.store.db import SCOPES, Store, check_scopes

app = typer.Typer(help="API keys for `microgpt serve` (once any key exists, every route but health needs one).")
console = Console()


@app.command("create")
def create_cmd(
    name: str,
    scope: list[str] = typer.Option(
        None, "--scope", help="predict, review or admin; repeat for several (default: all three)."
    ),
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    scopes = check_scopes(scope) if scope else SCOPES
    key = Store().create_key(name, scopes=scopes)
    typer.echo(key)
    Console(stderr=True).print(f"created key {name!r} ({', '.join(scopes)}); store it now, it cannot be shown again")


@app.command("revoke")
def revoke_cmd(name: str) -> None:
    """Revoke the active key(s) with this name or prefix."""
    n = Store().revoke_key(name)
    console.print(f"revoked {n} key(s)")


@app.command("list")
def list_cmd() -> None:
    """Key names, prefixes and state (never the keys)."""
    for k in Store().keys():
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        console.print(f"{k['name']}\t{k['prefix']}…\t{k['scopes']}\tcreated {k['created_at']}\t{state}")
