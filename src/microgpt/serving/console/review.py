"""The review queue, one card at a time: lowest confidence first, the suggestion pre-filled, Accept / Correct / Skip
from the keyboard (1–9 pick, Enter accept, S skip). Answers go through `Store.resolve_review` — the same call as
`microgpt review resolve` — so they export as training data; each decision leaves an audit row.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from microgpt.errors import MicroGPTError
from microgpt.serving.auth import ConsoleError, Principal, form_data
from microgpt.serving.console.web import Console
from microgpt.serving.models import HTTPError

MAX_BULK = 10_000  # bound one bulk action; a bigger backlog takes a second click
MAX_RETRY = 200  # LLM calls take seconds each: a retry click asks about at most this many


def fallback_client(console: Console) -> Any:
    """The LLM fallback client when the server's settings name one (as its cascade does), else None."""
    if console.fallback is None:
        return None
    from microgpt.routing.llm import LLMClient

    return LLMClient(console.fallback)


def router(console: Console) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    auth, store = console.auth, console.store

    def labels_for(module: str, text: str) -> tuple[list[str], list[dict[str, Any]], int | None, str | None]:
        """The live model's labels, its top-3 for `text`, its version and task (empty when it is not live)."""
        try:
            version, model = console.models.get(module)
        except HTTPError:
            return [], [], None, None
        top: list[dict[str, Any]] = []
        if text and getattr(model, "multilabel", True) is False:  # a single-label classifier: its Decision has a top 3
            top = model.results([text])[0].to_json().get("top", [])
        return list(getattr(model, "labels_", [])), top, version, model.task

    @r.get("/review")
    def review_page(request: Request, module: str | None = None, user: Principal = Depends(auth.console("review"))):
        module = module or None
        item = store.next_review(module)
        counts = store.review_counts(module)
        data = auth.session_data(user)
        ctx: dict[str, Any] = {
            "module": module, "item": item, "counts": counts, "done_here": data.get("reviewed", 0),
            "modules": _pending_by_module(store), "fallback_failed": _count_reason(store, module, "fallback_failed"),
            "fallback_ready": console.fallback is not None,
        }  # fmt: skip
        held = data.pop("flash", None)
        if held:
            ctx.update(flash=held[0], flash_kind=held[1])
        if item is not None:
            prediction = item["prediction"] if isinstance(item["prediction"], dict) else {}
            suggestion = prediction.get("label") or (prediction.get("labels") or [None])[0]
            labels, top, live, task = labels_for(item["module"], item["text"])
            if suggestion and suggestion not in labels:
                labels = [suggestion, *labels]
            first = [suggestion] if suggestion else []
            first += [t["label"] for t in top if t["label"] not in first]
            ordered = first + sorted(x for x in labels if x not in first)
            ctx.update(suggestion=suggestion, top=top, choices=ordered, live=live, task=task)
        return console.render(request, user, "review.html", ctx)

    @r.post("/review/bulk")
    async def bulk(request: Request, user: Principal = Depends(auth.console("review"))) -> Response:
        """Skip, or ask the LLM fallback again for, every pending item queued because the fallback failed."""
        form = await form_data(request)
        module = form.get("module") or None
        reason = form.get("reason", "fallback_failed")
        items = [i for i in store.review_items(module, "pending", None) if i["reason"].startswith(reason)]
        data = auth.session_data(user)
        if form.get("action") == "retry":
            client = fallback_client(console)
            if client is None:
                data["flash"] = ("no LLM fallback is configured", "error")
                return RedirectResponse(_back(module), status_code=303)
            done = await run_in_threadpool(retry, client, items[:MAX_RETRY], user.name)
            store.add_audit(user.name, "bulk_retry", module or "*", detail={"reason": reason, **done})
            data["flash"] = (f"asked the LLM again about {sum(done.values())} item(s): {done['answered']} answered "
                             f"(they leave the queue as teacher labels), {done['failed']} failed again, "
                             f"{done['unknown']} it could not label", "ok")  # fmt: skip
            return RedirectResponse(_back(module), status_code=303)
        for item in items[:MAX_BULK]:
            store.skip_review(item["id"], by=user.name)
        n = len(items[:MAX_BULK])
        store.add_audit(user.name, "bulk_skip", module or "*", detail={"reason": reason, "n": n})
        data["flash"] = (f"skipped {n} item(s) queued by {reason}", "ok")
        return RedirectResponse(_back(module), status_code=303)

    def retry(client: Any, items: list[dict[str, Any]], who: str) -> dict[str, int]:
        """Ask the fallback once more per item: an answer is logged as a teacher label (training data, as the
        cascade logs it) and takes the item off the queue; a failure or an 'unknown' leaves it pending."""
        from microgpt.routing.llm import FallbackError
        from microgpt.routing.teacher import LabelTeacher

        done = {"answered": 0, "failed": 0, "unknown": 0}
        teachers: dict[str, Any] = {}
        for item in items:
            labels, _, _, _ = labels_for(item["module"], "")
            if not labels:
                done["failed"] += 1
                continue
            teacher = teachers.setdefault(item["module"], LabelTeacher(client, labels))
            try:
                answer = teacher.label(item["text"])
            except FallbackError:
                done["failed"] += 1
                continue
            r = answer.result
            store.log_teacher(item["module"], item["text"], answer.label, client.config.model, answer.raw,
                              r.prompt_tokens, r.completion_tokens, r.cost_usd)  # fmt: skip
            if answer.label is None:
                done["unknown"] += 1
                continue
            store.skip_review(item["id"], by=f"fallback:{client.config.model} (retried by {who})")
            done["answered"] += 1
        return done

    @r.post("/review/{item_id}")
    async def decide(request: Request, item_id: str, user: Principal = Depends(auth.console("review"))) -> Response:
        form = await form_data(request)
        module = form.get("module") or None
        action = form.get("action", "accept")
        item = store.review_item(item_id)
        data = auth.session_data(user)
        if item is None:
            raise ConsoleError(404, f"no review item with id {item_id!r}", "go back to the queue")
        try:
            if action == "skip":
                store.skip_review(item_id, by=user.name)
                store.add_audit(user.name, "skip", item["module"], item["version"], item_id)
            else:
                label = form.get("label", "").strip()
                labels, _, _, _ = labels_for(item["module"], item["text"])
                if not label:
                    raise ConsoleError(422, "pick a label first", "press 1–9 or search the list, then Enter")
                if labels and label not in labels:
                    raise ConsoleError(422, f"unknown label {label!r} for {item['module']}", "pick one from the list")
                prediction = item["prediction"] if isinstance(item["prediction"], dict) else {}
                kind = "accept" if label == prediction.get("label") else "correct"
                store.resolve_review(item_id, label, by=user.name)
                store.add_audit(user.name, kind, item["module"], item["version"], item_id, {"label": label})
        except MicroGPTError as err:
            data["flash"] = (f"{err.message} — {err.hint}" if err.hint else err.message, "error")
            return RedirectResponse(_back(module), status_code=303)
        data["reviewed"] = data.get("reviewed", 0) + 1
        return RedirectResponse(_back(module), status_code=303)

    return r


def _back(module: str | None) -> str:
    return f"/review?module={module}" if module else "/review"


def _pending_by_module(store: Any) -> list[tuple[str, int]]:
    rows = store.connect().execute(
        "SELECT module, COUNT(*) FROM review_queue WHERE status = 'pending' GROUP BY module ORDER BY module"
    )
    return [(m, int(n)) for m, n in rows]


def _count_reason(store: Any, module: str | None, reason: str) -> int:
    sql = "SELECT COUNT(*) FROM review_queue WHERE status = 'pending' AND reason LIKE ?" + (
        " AND module = ?" if module else ""
    )
    args = (reason + "%", module) if module else (reason + "%",)
    return int(store.connect().execute(sql, args).fetchone()[0])
