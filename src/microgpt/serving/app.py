"""`create_app(settings)`: the REST API over every promoted module in the registry.

Models are loaded once (at start-up, and again only when `microgpt modules promote/rollback` moves a pointer):
each request reads the tiny CURRENT file, and a changed version is loaded under a lock while in-flight requests
finish on the model object they already hold — so a promote never fails a request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microgpt.errors import DataError, MicroGPTError
from microgpt.policy import Decision
from microgpt.routing.cascade import Cascade
from microgpt.routing.teacher import LabelTeacher
from microgpt.serving.console import install_console
from microgpt.serving.models import HTTPError, Models
from microgpt.serving.review import review_router
from microgpt.serving.schemas import (
    PREDICTION,
    FeedbackRequest,
    ModuleInfo,
    PredictRequest,
    PredictResponse,
    ServeSettings,
)
from microgpt.store.db import PredictionLog, PredictionNotFoundError, Store, prediction_row
from microgpt.store.registry import Registry

log = logging.getLogger(__name__)
# request options a task may take (each task says which in Task.options; the others are refused)
OPTIONS = ("context", "reference_date", "intent", "fields", "max_new_tokens", "stream")


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
            host = _host_name(headers.get(b"host", b"").decode("latin-1"))
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
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then wait for the disconnect, as a streamed answer does

        await self.app(scope, replay, send)


def _host_name(header: str) -> str:
    """`127.0.0.1:8000` → `127.0.0.1`, `[::1]:8000` → `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


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
    settings = settings or ServeSettings()
    registry = Registry(settings.home)
    store = Store(registry.home / "microgpt.db", keep_texts=settings.keep_texts)
    models = Models(registry)
    prediction_log = PredictionLog(store)
    metrics = CollectorRegistry()
    requests_total = Counter("microgpt_requests_total", "Requests", ["module", "route", "status"], registry=metrics)
    latency = Histogram(
        "microgpt_request_seconds",
        "Request latency",
        ["module", "route"],
        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        registry=metrics,
    )
    errors_total = Counter("microgpt_errors_total", "Error responses", ["module", "status"], registry=metrics)
    state = {"ready": False}
    fallback = fallback_client(settings)
    cascades: dict[tuple[str, int], Cascade] = {}

    def cascade_for(name: str, version: int, model: Any) -> Cascade:
        """One cascade per live module version: its labels make the fallback's prompt."""
        key = (name, version)
        if key not in cascades:
            teacher = LabelTeacher(fallback, model.labels_) if fallback is not None else None
            cascades[key] = Cascade(model, name, teacher=teacher, store=store, version=version)
        return cascades[key]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(models.load_all)
        state["ready"] = True
        yield
        prediction_log.close()

    # /docs and /openapi.json are routes below, behind the same key as the API
    app = FastAPI(title="MicroGPT", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    allowed = None
    if settings.host is not None and is_loopback(settings.host):
        extra = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
        allowed = LOOPBACK_HOSTS | {settings.host.lower()} | extra
    app.add_middleware(RequestGuard, limit=settings.max_body_bytes, allowed_hosts=allowed)

    def module_label(name: str) -> str:
        """The metrics label for a module name from a URL: only modules this server holds get their own series."""
        return name if name and models.known(name) else "_unknown"

    @app.exception_handler(MicroGPTError)
    async def _our_errors(request: Request, err: MicroGPTError) -> JSONResponse:
        status = getattr(err, "status", 422 if isinstance(err, DataError) else 400)
        errors_total.labels(module_label(request.path_params.get("name", "")), str(status)).inc()
        return JSONResponse({"error": err.message, "hint": err.hint}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        """Framework errors (unknown route, wrong method, a body too deeply nested to parse) in our format."""
        errors_total.labels(module_label(request.path_params.get("name", "")), str(err.status_code)).inc()
        hints = {404: "see the routes at /docs", 405: "see the routes and their methods at /docs"}
        hint = hints.get(err.status_code, "send a JSON object as the body (see /docs)")
        return JSONResponse(
            {"error": str(err.detail), "hint": hint}, status_code=err.status_code, headers=getattr(err, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        errors_total.labels(module_label(request.path_params.get("name", "")), "500").inc()
        return JSONResponse(
            {
                "error": f"internal error ({type(err).__name__})",
                "hint": "this is a bug: the server log has the details",
            },
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        errors_total.labels(module_label(request.path_params.get("name", "")), "422").inc()
        hint = "see the request schema at /docs"
        if "json" not in request.headers.get("content-type", ""):
            hint = "send a JSON body with -H 'Content-Type: application/json'; " + hint
        return JSONResponse({"error": f"{where}: {message}" if where else message, "hint": hint}, status_code=422)

    auth_checked = {"at": -1.0, "on": True}

    def auth_on() -> bool:
        now = time.monotonic()
        if now - auth_checked["at"] > 1.0:  # the recorded setting, re-read at most once a second
            auth_checked.update(at=now, on=store.auth_required())
        return bool(auth_checked["on"])

    def authorize(request: Request) -> None:
        """Fail closed: once a key was ever created, every route but health needs an active one, until the
        operator runs `microgpt keys auth off` (revoking the last key never opens the server)."""
        if not auth_on():
            return
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        key = value.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key")
        if not key or not store.check_key(key):
            raise HTTPError(
                401,
                "missing or invalid API key",
                "send `Authorization: Bearer <key>` (create one with `microgpt keys create NAME`)",
            )

    def authorized(request: Request) -> bool:
        try:
            authorize(request)
        except HTTPError:
            return False
        return True

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        """Ready once start-up loaded what it could; modules that failed are listed (with why, given a key)."""
        ok = state["ready"]
        failed = models.failures()
        body: dict[str, Any] = {"ready": ok, "unavailable": sorted(failed)}
        if failed and authorized(request):
            body["errors"] = {name: why for name, (_, why) in failed.items()}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authorize)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(authorize)])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="MicroGPT API")

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(authorize)])
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="MicroGPT API")

    @app.get("/metrics", dependencies=[Depends(authorize)])
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics).decode(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/modules", dependencies=[Depends(authorize)])
    def list_modules() -> list[ModuleInfo]:
        out = []
        for name in registry.names():
            try:
                version, model = models.get(name)
            except HTTPError as err:
                if err.status == 503:  # listed, with why, so one broken module never hides the others
                    out.append(ModuleInfo(name=name, version=models.failures()[name][0], available=False,
                                          error=err.message))  # fmt: skip
                continue  # no promoted version yet
            out.append(ModuleInfo(name=name, version=version, task=model.task, tier=model.engine_.tier,
                                  labels=list(model.labels_)))  # fmt: skip
        return out

    @app.get("/v1/modules/{name}", dependencies=[Depends(authorize)])
    def get_module(name: str) -> ModuleInfo:
        version, model = models.get(name)
        return ModuleInfo(
            name=name, version=version, task=model.task, tier=model.engine_.tier, labels=list(model.labels_),
            versions=[v.version for v in registry.versions(name)], metrics=getattr(model, "metrics_", None) or None,
        )  # fmt: skip

    @app.post("/v1/modules/{name}/predict", dependencies=[Depends(authorize)], response_model=PredictResponse)
    async def predict(name: str, body: PredictRequest) -> Any:
        # async on purpose: a nano prediction takes ~0.1 ms, less than a hop to the thread pool; on 2 cores a
        # micro batch would compete for the same cores from a thread anyway. Drafts (tens of ms to seconds) and
        # escalations go to the thread pool, so the server keeps answering while they are written.
        start = time.perf_counter()
        version, model = models.get(name)

        def log_one(text: str, pred: dict[str, Any], ms: float | None = None) -> dict[str, Any]:
            """Log one prediction (unless logging is off) and give it its request id."""
            pred["request_id"] = ""
            if settings.log_predictions:
                ms = (time.perf_counter() - start) * 1000 if ms is None else ms
                row = prediction_row(name, version, text, dict(pred), pred.get("confidence"), ms, settings.keep_texts)
                prediction_log.add(row)
                pred["request_id"] = row[0]
            return pred

        texts = [body.text] if body.text is not None else list(body.texts or [])
        if len(texts) > settings.max_batch:
            raise HTTPError(413, f"batch of {len(texts)} texts is over the limit of {settings.max_batch}", "split it")
        if not texts:
            raise HTTPError(422, "texts is empty", "send at least one text")
        for i, text in enumerate(texts):
            if len(text) > settings.max_text_chars:
                raise HTTPError(
                    413,
                    f"text {i} has {len(text):,} characters, over the limit of {settings.max_text_chars:,}",
                    "send shorter texts (split long documents)",
                )
        options = {k: getattr(body, k) for k in OPTIONS}
        model.check_options(options)  # a 422 naming the option, so a typo'd module name does not pass silently
        if body.stream:  # only repliers take "stream": checked here, so a bad request is a 422, not a broken stream
            stream = model.stream(texts[0], intent=body.intent, fields=body.fields, max_new_tokens=body.max_new_tokens)
            requests_total.labels(name, "predict", "200").inc()
            return _sse(stream, lambda draft: log_one(texts[0], {"task": model.task, **draft.to_json()}))
        if model.slow:  # drafts take tens of ms to seconds: off the event loop
            results = await run_in_threadpool(model.results, texts, **options)
        else:
            results = model.results(texts, **options)
        for i, (text, result) in enumerate(zip(texts, results, strict=True)):
            if isinstance(result, Decision) and result.action != "answer":
                # escalate to the fallback or queue for a person, off the event loop
                results[i] = await run_in_threadpool(cascade_for(name, version, model).settle, text, result)
        outputs = [{"task": model.task, **r.to_json()} for r in results]
        elapsed_ms = (time.perf_counter() - start) * 1000 / len(texts)
        answers = [
            PREDICTION.validate_python(log_one(text, pred, elapsed_ms))
            for text, pred in zip(texts, outputs, strict=True)
        ]
        requests_total.labels(name, "predict", "200").inc()
        latency.labels(name, "predict").observe(time.perf_counter() - start)
        if body.text is not None:
            return PredictResponse(module=name, version=version, prediction=answers[0])
        return PredictResponse(module=name, version=version, predictions=answers)

    @app.post("/v1/modules/{name}/feedback", dependencies=[Depends(authorize)])
    async def feedback(name: str, body: FeedbackRequest) -> dict[str, Any]:
        _, model = models.get(name)
        if body.text is not None and len(body.text) > settings.max_text_chars:
            raise HTTPError(
                413,
                f"text has {len(body.text):,} characters, over the limit of {settings.max_text_chars:,}",
                "send the text as it was predicted on (predict has the same limit), or its prediction_id",
            )
        try:
            target = model.correction(body.label, body.labels)
        except DataError as err:
            raise HTTPError(422, f"module {name!r}: {err.message}", err.hint) from None

        def record() -> int:
            if body.prediction_id is not None:
                prediction_log.flush()  # the prediction may still be queued for the log here...
            # ...or in another server process on this store: add_feedback waits (≤ 1 s) for its batch to land
            return store.add_feedback(name, target, prediction_id=body.prediction_id, text=body.text, wait=True)

        try:
            row_id = await run_in_threadpool(record)
        except PredictionNotFoundError as err:
            raise HTTPError(404, err.message, err.hint) from None
        requests_total.labels(name, "feedback", "200").inc()
        return {"id": row_id}

    app.include_router(review_router(store, models, requests_total, authorize))
    install_console(app, store, models, settings.fallback)  # the console at /, offline /docs, REST key scopes

    return app


def fallback_client(settings: ServeSettings) -> Any:
    """The LLM client for escalations when the settings name one; else escalations queue for a person."""
    if settings.fallback is None:
        return None
    from microgpt.routing.llm import LLMClient

    return LLMClient(settings.fallback)


def _sse(stream: Any, done: Any) -> StreamingResponse:
    """A draft as server-sent events: `token` events ({"text": piece}) while it is written, then one `done` event
    with the whole prediction (as the non-streaming answer gives it, request id included)."""

    def events() -> Iterator[str]:
        for piece in stream:
            yield f"event: token\ndata: {json.dumps({'text': piece}, ensure_ascii=False)}\n\n"
        yield f"event: done\ndata: {json.dumps(done(stream.draft), ensure_ascii=False)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def app_factory() -> FastAPI:
    """What `microgpt serve` hands to uvicorn: settings from `MICROGPT_SERVE_<FIELD>` environment variables."""
    import os

    values: dict[str, Any] = {}
    for field in ServeSettings.model_fields:
        raw = os.environ.get(f"MICROGPT_SERVE_{field.upper()}")
        if raw is not None:
            values[field] = raw not in ("0", "false", "no") if field in ("keep_texts", "log_predictions") else raw
    if os.environ.get("MICROGPT_LLM_BASE_URL"):  # the escalation target, from MICROGPT_LLM_* (routing.llm)
        from microgpt.routing.llm import FallbackConfig

        values["fallback"] = FallbackConfig.from_env()
    return create_app(ServeSettings(**values))
