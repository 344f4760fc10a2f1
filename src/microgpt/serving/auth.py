"""Who is calling and what they may do: API-key scopes for the REST routes, sessions and CSRF tokens for the console.

    auth = Auth(store)
    @router.get("/review")
    def page(user: Principal = Depends(auth.console("review"))): ...   # signed-in console user with `review`
    app.add_middleware(ScopeGuard, auth=auth)                          # REST: bearer key's scopes per route

Scopes: `predict` (predict, feedback), `review` (the review queue), `admin` (promote, roll back, train, keys).
While no key exists the server is open: everyone is `anonymous` with every scope (as the REST API has always been).

Console sessions are random ids kept server-side (in memory: a restart signs everyone out), sent as an HMAC-signed,
HttpOnly, SameSite=Strict cookie; each session has its own CSRF token, which every console POST must echo (form
field `csrf` or header `X-CSRF-Token`). The key itself is only ever read from a POST body or a header.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from microgpt.errors import MicroGPTError
from microgpt.serving.state import PRINCIPAL
from microgpt.store.db import SCOPES, Store

COOKIE = "mgpt_session"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again
MAX_SESSIONS = 10_000  # bound the table: the oldest session goes first


class ConsoleError(MicroGPTError):
    """A console request refused: not signed in (`status` 303: go to sign-in), no scope or no CSRF token (403), or
    any other page error; the console renders it as an HTML page (JSON for a non-browser client)."""

    def __init__(self, status: int, message: str, hint: str | None = None, location: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.location = location


@dataclass
class Principal:
    """The caller: a key's name and scopes (or `anonymous` with every scope while no key exists)."""

    name: str
    scopes: tuple[str, ...]
    session_id: str | None = None
    csrf: str = ""
    signed_in: bool = False

    def can(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass
class _Session:
    name: str
    scopes: tuple[str, ...]
    csrf: str
    signed_in: bool
    expires: float
    key_sha256: str = ""  # the signed-in key's hash: a revoked key ends its sessions (within a second)
    data: dict[str, Any] = field(default_factory=dict)


class Auth:
    """Key checks (cached a second), console sessions and CSRF tokens over one `Store`."""

    def __init__(self, store: Store, secret: bytes | None = None) -> None:
        self.store = store
        self._secret = secret or secrets.token_bytes(32)
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._any = {"at": -1.0, "value": False}
        self._keys: dict[str, tuple[float, dict[str, Any] | None]] = {}

    # ---- keys ----------------------------------------------------------------------------------------------
    def keys_exist(self) -> bool:
        """Whether callers must bring a key: the store's `auth_required()` where it has one (fail closed: stays on
        after the last key is revoked), else whether any active key exists. Re-read at most once a second."""
        now = time.monotonic()
        if now - self._any["at"] > 1.0:
            required = getattr(self.store, "auth_required", None)
            self._any.update(at=now, value=required() if required is not None else self.store.any_keys())
        return bool(self._any["value"])

    def key_info(self, key: str) -> dict[str, Any] | None:
        """The key's name and scopes, cached a second (a revoked key stops working within that second)."""
        return self.key_info_by_hash(hashlib.sha256(key.encode()).hexdigest())

    def key_info_by_hash(self, digest: str) -> dict[str, Any] | None:
        now = time.monotonic()
        held = self._keys.get(digest)
        if held is not None and now - held[0] <= 1.0:
            return held[1]
        info = self.store.key_info_by_hash(digest)
        if len(self._keys) > 1000:
            self._keys.clear()
        self._keys[digest] = (now, info)
        return info

    def bearer(self, headers: Any) -> Principal | None:
        """The principal of a REST request's `Authorization: Bearer` / `X-API-Key` header; None when invalid."""
        if not self.keys_exist():
            return Principal("anonymous", SCOPES)
        header = headers.get("authorization", "")
        key = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else headers.get("x-api-key")
        info = self.key_info(key) if key else None
        return Principal(info["name"], info["scopes"]) if info else None

    # ---- console sessions ----------------------------------------------------------------------------------
    def _sign(self, sid: str) -> str:
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()[:32]

    def cookie_value(self, sid: str) -> str:
        return f"{sid}.{self._sign(sid)}"

    def _session(self, request: Request) -> tuple[str, _Session] | None:
        raw = request.cookies.get(COOKIE, "")
        sid, _, sig = raw.partition(".")
        if not sid or not hmac.compare_digest(sig, self._sign(sid)):
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None or session.expires < time.time():
                self._sessions.pop(sid, None)
                return None
        return sid, session

    def new_session(self, name: str, scopes: tuple[str, ...], signed_in: bool, key_sha256: str = "") -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions, key=lambda s: self._sessions[s].expires)
                del self._sessions[oldest]
            self._sessions[sid] = _Session(name, scopes, secrets.token_urlsafe(24), signed_in,
                                           time.time() + SESSION_SECONDS, key_sha256)  # fmt: skip
        return sid

    def end_session(self, request: Request) -> None:
        held = self._session(request)
        if held is not None:
            with self._lock:
                self._sessions.pop(held[0], None)

    def sign_in(self, key: str) -> str | None:
        """A new signed-in session for a valid key (its id), else None."""
        digest = hashlib.sha256(key.strip().encode()).hexdigest()
        info = self.store.key_info_by_hash(digest) if key.strip() else None
        if info is None:
            return None
        return self.new_session(info["name"], info["scopes"], signed_in=True, key_sha256=digest)

    def visitor(self, request: Request) -> Principal:
        """The console caller: their session, or a new anonymous one (with every scope only while no key exists).

        A new session's id is left in `request.state.new_session` for the response to set as a cookie.
        """
        held = self._session(request)
        keys = self.keys_exist()
        if held is not None and held[1].signed_in and self.key_info_by_hash(held[1].key_sha256) is None:
            self.end_session(request)  # its key was revoked: sign in again
            held = None
        if held is not None and (held[1].signed_in or not keys):
            sid, s = held
            return Principal(s.name, s.scopes, sid, s.csrf, s.signed_in)
        if held is not None:  # an anonymous session from before the first key was made: it keeps only its CSRF
            sid, s = held
            return Principal("anonymous", (), sid, s.csrf)
        sid = self.new_session("anonymous", () if keys else SCOPES, signed_in=False)
        request.state.new_session = sid
        s = self._sessions[sid]
        return Principal(s.name, s.scopes, sid, s.csrf)

    def session_data(self, principal: Principal) -> dict[str, Any]:
        """Per-session scratch space (the review page's place in the queue); empty for a stale session."""
        session = self._sessions.get(principal.session_id or "")
        return session.data if session is not None else {}

    # ---- dependencies --------------------------------------------------------------------------------------
    def console(self, scope: str | None = None) -> Any:
        """A dependency: the signed-in console principal, with `scope` if given; POSTs must carry the CSRF token."""

        async def dependency(request: Request) -> Principal:
            user = self.visitor(request)
            if request.method == "POST":
                await check_csrf(request, user)
            if self.keys_exist() and not user.signed_in:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise ConsoleError(303, "sign in first", location=f"/signin?next={quote(target, safe='')}")
            if scope is not None and not user.can(scope):
                raise ConsoleError(
                    403,
                    f"the key {user.name!r} does not have the {scope!r} scope",
                    f"sign in with a key that has it (microgpt keys create NAME --scope {scope})",
                )
            return user

        return dependency


async def form_data(request: Request) -> dict[str, str]:
    """The request's url-encoded form, parsed once (without python-multipart: the console posts no multipart)."""
    if not hasattr(request.state, "form"):
        from urllib.parse import parse_qsl

        body = (await request.body()).decode("utf-8", "replace")
        kind = request.headers.get("content-type", "")
        request.state.form = dict(parse_qsl(body, keep_blank_values=True)) if "urlencoded" in kind else {}
    return dict(request.state.form)


async def check_csrf(request: Request, user: Principal) -> None:
    sent = request.headers.get("x-csrf-token") or (await form_data(request)).get("csrf", "")
    if not sent or not user.csrf or not hmac.compare_digest(sent, user.csrf):
        raise ConsoleError(403, "this form is missing its CSRF token or the token is stale", "reload the page")


# REST routes and the scope each needs; a route not listed needs only a valid key (as before scopes existed).
REST_SCOPES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/v1/modules/[^/]+/(predict|feedback)$"), "predict"),
    ("*", re.compile(r"^/v1/review(/.*)?$"), "review"),
    ("POST", re.compile(r"^/v1/modules/[^/]+/(promote|rollback|train)$"), "admin"),
    ("*", re.compile(r"^/v1/keys(/.*)?$"), "admin"),
]


def rest_scope(method: str, path: str) -> str | None:
    for m, pattern, scope in REST_SCOPES:
        if (m == "*" or m == method) and pattern.match(path):
            return scope
    return None


class ScopeGuard:
    """Refuse a REST call with 403 when its (valid) key lacks the route's scope; an invalid or missing key is left
    to the route's own check, which answers 401."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            needed = rest_scope(scope["method"], scope["path"])
            if needed is not None:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                who = self.auth.bearer(headers)
                if self.auth.keys_exist():  # the route's own check (state.check) takes this verdict
                    scope[PRINCIPAL] = who
                if who is not None and not who.can(needed):
                    body = {
                        "error": f"the key {who.name!r} does not have the {needed!r} scope",
                        "hint": f"use a key that has it: microgpt keys create NAME --scope {needed}",
                    }
                    await JSONResponse(body, status_code=403)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
