"""The review queue, one card at a time: lowest confidence first, the suggestion pre-filled, Accept / Correct / Skip
from the keyboard (1–9 pick, Enter accept, S skip). Answers go through `Store.resolve_review` — the same call as
`microgpt review resolve` — so they export as training data; each decision leaves an audit row.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from microgpt.errors import MicroGPTError
from microgpt.serving.auth import ConsoleError, Principal, form_data
from microgpt.serving.console.web import Console
from microgpt.serving.models import HTTPError

MAX_BULK = 10_000  # bound one bulk action; a bigger backlog takes a second click


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
        if getattr(model, "multilabel", True) is False:  # a single-label classifier: its Decision has a top 3
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
        form = await form_data(request)
        module = form.get("module") or None
        reason = form.get("reason", "fallback_failed")
        ids = [i["id"] for i in store.review_items(module, "pending", None) if i["reason"].startswith(reason)]
        for item_id in ids[:MAX_BULK]:
            store.skip_review(item_id, by=user.name)
        store.add_audit(user.name, "bulk_skip", module or "*", detail={"reason": reason, "n": len(ids[:MAX_BULK])})
        auth.session_data(user)["flash"] = (f"skipped {len(ids[:MAX_BULK])} item(s) queued by {reason}", "ok")
        return RedirectResponse(_back(module), status_code=303)

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
