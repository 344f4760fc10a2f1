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

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microgpt.errors import DataError, MicroGPTError
from microgpt.policy import Decision, decide
from microgpt.routing.cascade import Cascade
from microgpt.routing.teacher import LabelTeacher
from microgpt.serving.console import install_console
from microgpt.serving.models import HTTPError, Models
from microgpt.serving.review import review_router
from microgpt.serving.schemas import (
    FeedbackRequest,
    ModuleInfo,
    Prediction,
    PredictRequest,
    PredictResponse,
    ServeSettings,
)
from microgpt.store.db import PredictionLog, Store, prediction_row
from microgpt.store.registry import Registry

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, whether or not they declare a Content-Length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"error": f"request body over the {limit:,}-byte limit", "hint": "send fewer or shorter texts per request"},
        status_code=413,
    )


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    registry = Registry(settings.home)
    store = Store(registry.home / "microgpt.db")
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
    fallback = _fallback_client()
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

    app = FastAPI(title="MicroGPT", version="1", lifespan=lifespan)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.exception_handler(MicroGPTError)
    async def _our_errors(request: Request, err: MicroGPTError) -> JSONResponse:
        status = getattr(err, "status", 422 if isinstance(err, DataError) else 400)
        name = request.path_params.get("name", "")
        errors_total.labels(name, str(status)).inc()
        return JSONResponse({"error": err.message, "hint": err.hint}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        errors_total.labels(request.path_params.get("name", ""), "422").inc()
        return JSONResponse(
            {"error": f"{where}: {message}" if where else message, "hint": "see the request schema at /docs"},
            status_code=422,
        )

    keys_checked = {"at": -1.0, "any": False}

    def authorize(request: Request) -> None:
        now = time.monotonic()
        if now - keys_checked["at"] > 1.0:  # whether any key exists, re-read at most once a second
            keys_checked.update(at=now, any=store.any_keys())
        if not keys_checked["any"]:
            return
        header = request.headers.get("authorization", "")
        key = (
            header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else request.headers.get("x-api-key")
        )
        if not key or not store.check_key(key):
            raise HTTPError(
                401, "missing or invalid API key", "send `Authorization: Bearer <key>` (microgpt keys create)"
            )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        ok = state["ready"]
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/metrics", dependencies=[Depends(authorize)])
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics).decode(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/modules", dependencies=[Depends(authorize)])
    def list_modules() -> list[ModuleInfo]:
        out = []
        for name in registry.names():
            if registry.current(name) is not None:
                version, model = models.get(name)
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
        _check_options(model, body)
        if model.task == "reply":
            gen = {"intent": body.intent, "fields": body.fields, "max_new_tokens": body.max_new_tokens}
            if body.stream:
                stream = model.stream(texts[0], **gen)  # checked here, so a bad request is a 422, not a broken stream
                requests_total.labels(name, "predict", "200").inc()
                return _sse(stream, lambda draft: log_one(texts[0], _reply(draft)))
            outputs = await run_in_threadpool(lambda: [_reply(model.predict_one(t, **gen)) for t in texts])
        elif model.task == "extract":
            outputs = [_extraction(x) for x in model.predict(texts, body.context, body.reference_date)]
        elif model.task == "classify":
            outputs = []
            for text, row in zip(texts, model.predict_proba(texts), strict=True):
                d = _decision(model, row)
                if d.action != "answer":  # escalate to the fallback or queue for a person, off the event loop
                    d = await run_in_threadpool(cascade_for(name, version, model).settle, text, d)
                outputs.append(d.to_json())
        else:
            outputs = [_prediction(model, row) for row in model.predict_proba(texts)]
        elapsed_ms = (time.perf_counter() - start) * 1000 / len(texts)
        results = [Prediction(**log_one(text, pred, elapsed_ms)) for text, pred in zip(texts, outputs, strict=True)]
        requests_total.labels(name, "predict", "200").inc()
        latency.labels(name, "predict").observe(time.perf_counter() - start)
        if body.text is not None:
            return PredictResponse(module=name, version=version, prediction=results[0])
        return PredictResponse(module=name, version=version, predictions=results)

    @app.post("/v1/modules/{name}/feedback", dependencies=[Depends(authorize)])
    async def feedback(name: str, body: FeedbackRequest) -> dict[str, Any]:
        _, model = models.get(name)
        if model.task in ("extract", "reply"):
            kind, example = ("an extractor", "text + spans or fields") if model.task == "extract" else (
                "a replier", "message + the reply you sent")  # fmt: skip
            raise HTTPError(
                422,
                f"module {name!r} is {kind}; feedback takes a label or labels",
                f"add corrected examples to the training JSONL ({example}) and retrain",
            )
        target: str | list[str] = body.label if body.label is not None else list(body.labels or [])
        labels = [target] if isinstance(target, str) else target
        unknown = [x for x in labels if x not in model.labels_]
        if unknown:
            raise HTTPError(
                422, f"unknown label(s) {unknown} for module {name!r}", f"known labels: {', '.join(model.labels_)}"
            )
        if body.prediction_id is not None:
            prediction_log.flush()  # the prediction may still be queued for the log
        row_id = store.add_feedback(name, target, prediction_id=body.prediction_id, text=body.text)
        requests_total.labels(name, "feedback", "200").inc()
        return {"id": row_id}

    app.include_router(review_router(store, models, requests_total, authorize))
    install_console(app, store, models)  # the web console at /, offline /docs, key scopes on the REST routes

    return app


def _prediction(model: Any, row: np.ndarray) -> dict[str, Any]:
    if model.task == "tag":
        idx = np.flatnonzero(row >= model.engine_.threshold_)
        return {"labels": [model.labels_[j] for j in idx], "confidences": [round(float(row[j]), 4) for j in idx]}
    return _decision(model, row).to_json()


def _decision(model: Any, row: np.ndarray) -> Decision:
    best = int(row.argmax())
    confidence = float(row[best])
    return decide(model.labels_[best], confidence, 1 - confidence > model.unknown_threshold_, model.policy_)


def _fallback_client() -> Any:
    """The LLM client for escalations when MICROGPT_LLM_BASE_URL is set; else escalations queue for a person."""
    import os

    if not os.environ.get("MICROGPT_LLM_BASE_URL"):
        return None
    from microgpt.routing.llm import FallbackConfig, LLMClient

    return LLMClient(FallbackConfig.from_env())


def _check_options(model: Any, body: PredictRequest) -> None:
    """Options that only some tasks read are refused elsewhere, so a typo'd module name does not pass silently."""
    for option, tasks in (("intent", "reply"), ("fields", "reply"), ("max_new_tokens", "reply"), ("stream", "reply"),
                          ("context", "extract"), ("reference_date", "extract")):  # fmt: skip
        if getattr(body, option) not in (None, False) and model.task not in tasks:
            raise HTTPError(
                422, f'"{option}" is for {tasks} modules; this one is a {model.task} module', f'leave "{option}" out'
            )


def _reply(draft: Any) -> dict[str, Any]:
    return {"reply": draft.text, "intent": draft.intent, "unfilled": draft.unfilled, "tokens": draft.tokens}


def _sse(stream: Any, done: Any) -> StreamingResponse:
    """A draft as server-sent events: `token` events ({"text": piece}) while it is written, then one `done` event
    with the whole prediction (as the non-streaming answer gives it, request id included)."""

    def events() -> Iterator[str]:
        for piece in stream:
            yield f"event: token\ndata: {json.dumps({'text': piece}, ensure_ascii=False)}\n\n"
        yield f"event: done\ndata: {json.dumps(done(stream.draft), ensure_ascii=False)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _extraction(ex: Any) -> dict[str, Any]:
    doc = ex.to_json()
    scores = [s["confidence"] for s in doc["spans"] if "confidence" in s]
    return {**doc, "confidence": min(scores) if scores else None}  # the weakest span: what a reviewer checks first


def app_factory() -> FastAPI:
    """What `microgpt serve` hands to uvicorn: settings from `MICROGPT_SERVE_<FIELD>` environment variables."""
    import os

    values: dict[str, Any] = {}
    for field in ServeSettings.model_fields:
        raw = os.environ.get(f"MICROGPT_SERVE_{field.upper()}")
        if raw is not None:
            values[field] = raw not in ("0", "false", "no") if field in ("keep_texts", "log_predictions") else raw
    return create_app(ServeSettings(**values))
