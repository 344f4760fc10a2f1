"""The REST routes: health, the OpenAPI schema (the console serves its Swagger UI offline), metrics, the module
list, predict and feedback — module-level routers that take what they need (`Services`) through dependencies, so a
test can override any part."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from microgpt.errors import DataError
from microgpt.policy import Decision
from microgpt.serving.models import HTTPError
from microgpt.serving.schemas import FeedbackRequest, ModuleInfo, PredictRequest, PredictResponse
from microgpt.serving.state import Services, ServicesDep, authorize, authorized
from microgpt.store.db import PredictionNotFoundError, prediction_row

# request options a task may take (each task says which in Task.options; the others are refused)
OPTIONS = ("context", "reference_date", "intent", "fields", "max_new_tokens", "stream")

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, s: ServicesDep) -> JSONResponse:
    """Ready once start-up loaded what it could; modules that failed are listed (with why, given a key)."""
    ok = s.ready
    failed = s.models.failures()
    body: dict[str, Any] = {"ready": ok, "unavailable": sorted(failed)}
    if failed and authorized(request, s):
        body["errors"] = {name: why for name, (_, why) in failed.items()}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authorize)])
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/metrics", dependencies=[Depends(authorize)])
def prometheus(s: ServicesDep) -> PlainTextResponse:
    s.metrics.observe_queue(s.store, [n for n in s.registry.names() if s.models.known(n)])
    return PlainTextResponse(generate_latest(s.metrics.registry).decode(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/modules", dependencies=[Depends(authorize)])
def list_modules(s: ServicesDep) -> list[ModuleInfo]:
    out = []
    for name in s.registry.names():
        try:
            version, model = s.models.get(name)
        except HTTPError as err:
            if err.status == 503:  # listed, with why, so one broken module never hides the others
                out.append(ModuleInfo(name=name, version=s.models.failures()[name][0], available=False,
                                      error=err.message))  # fmt: skip
            continue  # no promoted version yet
        out.append(ModuleInfo(name=name, version=version, task=model.task, tier=model.engine_.tier,
                              labels=list(model.labels_)))  # fmt: skip
    return out


@router.get("/v1/modules/{name}", dependencies=[Depends(authorize)])
def get_module(name: str, s: ServicesDep) -> ModuleInfo:
    version, model = s.models.get(name)
    return ModuleInfo(
        name=name, version=version, task=model.task, tier=model.engine_.tier, labels=list(model.labels_),
        versions=[v.version for v in s.registry.versions(name)], metrics=getattr(model, "metrics_", None) or None,
    )  # fmt: skip


@router.post("/v1/modules/{name}/predict", dependencies=[Depends(authorize)], response_model=PredictResponse)
async def predict(name: str, body: PredictRequest, s: ServicesDep) -> Response:
    # async on purpose: a nano prediction takes ~0.1 ms, less than a hop to the thread pool; on 2 cores a
    # micro batch would compete for the same cores from a thread anyway. Drafts (tens of ms to seconds) and
    # escalations go to the thread pool, so the server keeps answering while they are written.
    # (serving/fast.py answers the plain requests here without the framework; this route is the reference.)
    return await answer(s, name, body)


async def answer(s: Services, name: str, body: PredictRequest) -> Response:
    """The predict route's work, shared with the fast path (serving/fast.py): its errors are `MicroGPTError`s."""
    start = time.perf_counter()
    version, model = s.models.get(name)

    def log_one(text: str, pred: dict[str, Any], ms: float | None = None) -> dict[str, Any]:
        """Log one prediction (unless logging is off) and give it its request id."""
        pred["request_id"] = ""
        if s.settings.log_predictions:
            ms = (time.perf_counter() - start) * 1000 if ms is None else ms
            row = prediction_row(name, version, text, dict(pred), pred.get("confidence"), ms, s.settings.keep_texts)
            s.prediction_log.add(row)
            pred["request_id"] = row[0]
        return pred

    texts = [body.text] if body.text is not None else list(body.texts or [])
    if len(texts) > s.settings.max_batch:
        raise HTTPError(413, f"batch of {len(texts)} texts is over the limit of {s.settings.max_batch}", "split it")
    if not texts:
        raise HTTPError(422, "texts is empty", "send at least one text")
    for i, text in enumerate(texts):
        if len(text) > s.settings.max_text_chars:
            raise HTTPError(
                413,
                f"text {i} has {len(text):,} characters, over the limit of {s.settings.max_text_chars:,}",
                "send shorter texts (split long documents)",
            )
    options = {k: getattr(body, k) for k in OPTIONS}
    model.check_options(options)  # a 422 naming the option, so a typo'd module name does not pass silently
    if body.stream:  # only repliers take "stream": checked here, so a bad request is a 422, not a broken stream
        stream = model.stream(texts[0], intent=body.intent, fields=body.fields, max_new_tokens=body.max_new_tokens)
        s.metrics.requests.labels(name, "predict", "200").inc()
        return _sse(stream, lambda draft: log_one(texts[0], {"task": model.task, **draft.to_json()}))
    if model.slow:  # drafts take tens of ms to seconds: off the event loop
        results = await run_in_threadpool(model.results, texts, **options)
    else:
        results = model.results(texts, **options)
    for i, (text, result) in enumerate(zip(texts, results, strict=True)):
        if isinstance(result, Decision) and result.action != "answer":
            # escalate to the fallback or queue for a person, off the event loop
            results[i] = await run_in_threadpool(s.cascade_for(name, version, model).settle, text, result)
    for r in results:
        if isinstance(r, Decision):  # bounded labels: loaded module names, their versions, three decisions
            s.metrics.child(s.metrics.decisions, name, str(version), r.action).inc()
    outputs = [{"task": model.task, **r.to_json()} for r in results]
    elapsed_ms = (time.perf_counter() - start) * 1000 / len(texts)
    answers = [log_one(text, pred, elapsed_ms) for text, pred in zip(texts, outputs, strict=True)]
    one = body.text is not None
    # checked against the response model once and written out here: FastAPI would validate it a second time
    response = PredictResponse.model_validate(
        {"module": name, "version": version, "prediction": answers[0] if one else None,
         "predictions": None if one else answers}
    )  # fmt: skip
    s.metrics.child(s.metrics.requests, name, "predict", "200").inc()
    s.metrics.child(s.metrics.latency, name, "predict").observe(time.perf_counter() - start)
    return Response(response.model_dump_json(), media_type="application/json")


@router.post("/v1/modules/{name}/feedback", dependencies=[Depends(authorize)])
async def feedback(name: str, body: FeedbackRequest, s: ServicesDep) -> dict[str, Any]:
    _, model = s.models.get(name)
    if body.text is not None and len(body.text) > s.settings.max_text_chars:
        raise HTTPError(
            413,
            f"text has {len(body.text):,} characters, over the limit of {s.settings.max_text_chars:,}",
            "send the text as it was predicted on (predict has the same limit), or its prediction_id",
        )
    try:
        target = model.correction(body.label, body.labels)
    except DataError as err:
        raise HTTPError(422, f"module {name!r}: {err.message}", err.hint) from None

    def record() -> int:
        if body.prediction_id is not None:
            s.prediction_log.flush()  # the prediction may still be queued for the log here...
        # ...or in another server process on this store: add_feedback waits (≤ 1 s) for its batch to land
        return s.store.add_feedback(name, target, prediction_id=body.prediction_id, text=body.text, wait=True)

    try:
        row_id = await run_in_threadpool(record)
    except PredictionNotFoundError as err:
        raise HTTPError(404, err.message, err.hint) from None
    s.metrics.requests.labels(name, "feedback", "200").inc()
    return {"id": row_id}


def _sse(stream: Any, done: Any) -> StreamingResponse:
    """A draft as server-sent events: `token` events ({"text": piece}) while it is written, then one `done` event
    with the whole prediction (as the non-streaming answer gives it, request id included)."""

    def events() -> Iterator[str]:
        for piece in stream:
            yield f"event: token\ndata: {json.dumps({'text': piece}, ensure_ascii=False)}\n\n"
        yield f"event: done\ndata: {json.dumps(done(stream.draft), ensure_ascii=False)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
