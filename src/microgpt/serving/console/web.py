"""What every console page shares: the template environment, rendering with the session cookie, plain words."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from microgpt.module import read_manifest
from microgpt.serving.auth import COOKIE, SESSION_SECONDS, Auth, Principal
from microgpt.serving.models import Models
from microgpt.store.db import Store

TEMPLATES = Path(__file__).parent / "templates"


class Console:
    """The console's shared state: auth, store, registry, loaded models, templates and small caches."""

    def __init__(self, auth: Auth, store: Store, models: Models, fallback: Any = None) -> None:
        self.auth = auth
        self.fallback = fallback  # the LLM escalations go to (a FallbackConfig), from the server's settings
        self.store = store
        self.models = models
        self.registry = models.registry
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
        self.env.globals.update(plain_confidence=plain_confidence, decision_words=decision_words, human_size=human_size)
        self.env.filters["field_value"] = field_value
        self._manifests: dict[Path, tuple[float, dict[str, Any], int]] = {}
        self._lock = threading.Lock()

    def render_html(self, request: Request, user: Principal | None, template: str, ctx: dict[str, Any]) -> str:
        return self.env.get_template(template).render(request=request, user=user, path=request.url.path, **ctx)

    def render(
        self, request: Request, user: Principal | None, template: str, ctx: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        response = HTMLResponse(self.render_html(request, user, template, ctx), status_code=status)
        self.set_cookie(request, response)
        return response

    def set_cookie(self, request: Request, response: Any, sid: str | None = None) -> None:
        """Send the session cookie for a session made during this request (or `sid`)."""
        sid = sid or getattr(request.state, "new_session", None)
        if sid:
            response.set_cookie(
                COOKIE, self.auth.cookie_value(sid), max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                secure=request.url.scheme == "https", path="/",
            )  # fmt: skip

    def manifest(self, path: Path) -> tuple[dict[str, Any], int]:
        """A version's manifest and its size in bytes, cached (a registry version never changes once added)."""
        try:
            stamp = (path / "microgpt.json").stat().st_mtime
        except OSError:
            return {}, 0
        held = self._manifests.get(path)
        if held is not None and held[0] == stamp:
            return held[1], held[2]
        try:
            manifest = read_manifest(path, verify=False)
        except Exception:  # an unreadable version shows as '?' instead of breaking the page
            manifest = {}
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        with self._lock:
            self._manifests[path] = (stamp, manifest, size)
        return manifest, size


def plain_confidence(p: float | None) -> str:
    """A confidence as a person would say it."""
    if p is None:
        return "no score"
    if p >= 0.9:
        return "very sure"
    if p >= 0.7:
        return "fairly sure"
    if p >= 0.5:
        return "unsure"
    return "guessing"


def decision_words(action: str | None) -> str:
    return {
        "answer": "answered automatically",
        "escalate": "sent to the LLM fallback",
        "queue": "queued for a person",
    }.get(action or "", action or "—")


def field_value(value: Any) -> str:
    """An extracted field as a person reads it: money as "90.20 USD", lists joined, nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(field_value(v) for v in value)
    if isinstance(value, dict):
        if "amount" in value:
            return " ".join(str(value[k]) for k in ("amount", "currency") if value.get(k) is not None)
        return ", ".join(f"{k}: {field_value(v)}" for k, v in value.items())
    return str(value)


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
