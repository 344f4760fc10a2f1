"""`create_app(settings)`: the REST API over every promoted module in the registry.

Models are loaded once (at start-up, and again only when `microgpt modules promote/rollback` moves a pointer):
each request reads the tiny CURRENT file, and a changed version is loaded under a lock while in-flight requests
finish on the model object they already hold — so a promote never fails a request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from microgpt.errors import MicroGPTError
from microgpt.serving import review, routes
from microgpt.serving.console import install_console
from microgpt.serving.fast import FastPredict, host_name, replay_body
from microgpt.serving.models import bug_payload, error_payload
from microgpt.serving.schemas import ServeSettings
from microgpt.serving.state import Services

log = logging.getLogger(__name__)


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class RequestGuard:
    """Checks every HTTP request before a route sees it.

    - Body over `limit` bytes → 413, whether it declares a Content-Length or arrives chunked (the body is read here,
      so a route never sees a cut-off body and answers 400 instead).
    - A body that parses as JSON is handed on as JSON whatever its Content-Type (`curl -d '{...}'` sends
      `application/x-www-form-urlencoded`).
    - Bound to loopback (`allowed_hosts` set): a Host header naming another host → 421, so a web page that
      rebinds its own DNS name to 127.0.0.1 cannot reach the server from the user's browser.
    """

    def __init__(self, app: ASGIApp, limit: int, allowed_hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.allowed_hosts is not None:
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed_hosts:
                await _json_error(
                    421,
                    f"Host header {host!r} does not name this server",
                    "connect to http://127.0.0.1:PORT (or localhost); behind a reverse proxy that sends its own "
                    "name, start the server with --allow-host NAME",
                )(scope, receive, send)
                return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(self.limit)(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away mid-body
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _too_large(self.limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"")
        if body and b"json" not in ctype and _parses_as_json(body):
            scope = dict(scope)
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope["headers"].append((b"content-type", b"application/json"))
        await self.app(scope, replay_body(body, receive), send)


def _parses_as_json(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), (dict, list))
    except (ValueError, RecursionError):
        return False


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _json_error(status: int, error: str, hint: str) -> JSONResponse:
    return JSONResponse({"error": error, "hint": hint}, status_code=status)


def _too_large(limit: int) -> JSONResponse:
    return _json_error(413, f"request body over the {limit:,}-byte limit", "send fewer or shorter texts per request")


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The app over `settings` (limits, home, the fallback); its parts live in `app.state.services`."""
    settings = settings or ServeSettings()
    s = Services.build(settings, fallback_client(settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(s.models.load_all)
        s.ready = True
        yield
        s.prediction_log.close()

    # /docs and /openapi.json are routes (serving/routes.py), behind the same key as the API
    app = FastAPI(title="MicroGPT", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = s
    allowed = None
    if settings.host is not None and is_loopback(settings.host):
        extra = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
        allowed = LOOPBACK_HOSTS | {settings.host.lower()} | extra
    app.add_middleware(RequestGuard, limit=settings.max_body_bytes, allowed_hosts=allowed)

    def count_error(request: Request, status: int) -> None:
        s.metrics.errors.labels(s.module_label(request.path_params.get("name", "")), str(status)).inc()

    @app.exception_handler(MicroGPTError)
    async def _our_errors(request: Request, err: MicroGPTError) -> JSONResponse:
        status, body = error_payload(err)
        count_error(request, status)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        """Framework errors (unknown route, wrong method, a body too deeply nested to parse) in our format."""
        count_error(request, err.status_code)
        hints = {404: "see the routes at /docs", 405: "see the routes and their methods at /docs"}
        hint = hints.get(err.status_code, "send a JSON object as the body (see /docs)")
        return JSONResponse(
            {"error": str(err.detail), "hint": hint}, status_code=err.status_code, headers=getattr(err, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        count_error(request, 500)
        return JSONResponse(bug_payload(err), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        count_error(request, 422)
        hint = "see the request schema at /docs"
        if "json" not in request.headers.get("content-type", ""):
            hint = "send a JSON body with -H 'Content-Type: application/json'; " + hint
        return JSONResponse({"error": f"{where}: {message}" if where else message, "hint": hint}, status_code=422)

    app.include_router(routes.router)
    app.include_router(review.router)
    auth = install_console(app, s.store, s.models, settings.fallback)  # the console at /, offline /docs, key scopes
    if settings.fast_path:  # outermost: plain predict requests skip the framework (serving/fast.py)
        app.add_middleware(FastPredict, services=s, auth=auth, allowed_hosts=allowed, limit=settings.max_body_bytes,
                           overrides=app.dependency_overrides)  # fmt: skip
    return app


def fallback_client(settings: ServeSettings) -> Any:
    """The LLM client for escalations when the settings name one; else escalations queue for a person."""
    if settings.fallback is None:
        return None
    from microgpt.routing.llm import LLMClient

    return LLMClient(settings.fallback)


_BOOLEAN = ("keep_texts", "log_predictions", "fast_path")


def app_factory() -> FastAPI:
    """What `microgpt serve` hands to uvicorn: settings from `MICROGPT_SERVE_<FIELD>` environment variables."""
    import os

    values: dict[str, Any] = {}
    for field in ServeSettings.model_fields:
        raw = os.environ.get(f"MICROGPT_SERVE_{field.upper()}")
        if raw is not None:
            values[field] = raw not in ("0", "false", "no") if field in _BOOLEAN else raw
    if os.environ.get("MICROGPT_LLM_BASE_URL"):  # the escalation target, from MICROGPT_LLM_* (routing.llm)
        from microgpt.routing.llm import FallbackConfig

        values["fallback"] = FallbackConfig.from_env()
    return create_app(ServeSettings(**values))
