"""`microgpt keys create NAME | revoke NAME | list | auth on|off|status`: API keys for the server (stored hashed)."""

from __future__ import annotations

import typer
from rich.console import Console

from microgpt.store.db import SCOPES, Store, check_scopes, store_location
from microgpt.store.remote import open_registry

app = typer.Typer(
    help="API keys for `microgpt serve`. Creating a key turns authentication on; it stays on (revoking every key "
    "locks the server) until `microgpt keys auth off`."
)
console = Console()


def _store() -> Store:
    return Store(store_location(open_registry().home))


@app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="Who the key is for, e.g. my-app."),
    scope: list[str] = typer.Option(
        None, "--scope", help="predict, review or admin; repeat for several (default: all three)."
    ),
) -> None:
    """Create a key and print it once (only its hash is kept); turns authentication on."""
    scopes = check_scopes(scope) if scope else SCOPES
    key = _store().create_key(name, scopes=scopes)
    typer.echo(key)
    Console(stderr=True).print(f"created key {name!r} ({', '.join(scopes)}); store it now, it cannot be shown again")


@app.command("revoke")
def revoke_cmd(name: str = typer.Argument(..., help="The name the key was created with.")) -> None:
    """Revoke the active key(s) with this name or prefix (authentication stays on)."""
    store = _store()
    n = store.revoke_key(name)
    console.print(f"revoked {n} key(s)")
    if store.auth_required() and not store.any_keys():
        console.print("no active key is left: the server refuses every request but /healthz until you create one")


@app.command("list")
def list_cmd() -> None:
    """Key names, prefixes and state (never the keys)."""
    store = _store()
    console.print(f"authentication: {'on' if store.auth_required() else 'off'}")
    for k in store.keys():
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        console.print(f"{k['name']}\t{k['prefix']}…\t{k['scopes']}\tcreated {k['created_at']}\t{state}")


@app.command("auth")
def auth_cmd(state: str = typer.Argument(..., help="on, off or status")) -> None:
    """Turn authentication on or off for every server on this store (recorded in the store; takes ≤ 1 s)."""
    from microgpt.errors import ConfigError

    store = _store()
    if state not in ("on", "off", "status"):
        raise ConfigError(f"unknown auth state {state!r}", hint="use: microgpt keys auth on|off|status")
    if state != "status":
        store.set_auth(state == "on")
    on = store.auth_required()
    console.print(f"authentication: {'on' if on else 'off'}")
    if on and not store.any_keys():
        console.print("no active key: create one with `microgpt keys create NAME`")
    if not on:
        console.print("every route answers without a key; keep the server on 127.0.0.1")
