"""The review queue over HTTP: texts a model did not answer alone, waiting for a person.

GET  /v1/review?module=&status=pending|resolved|skipped|all&limit=
POST /v1/review/{id}/resolve   {"label": "..."} or {"labels": [...]}
POST /v1/review/{id}/skip
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends

from microgpt.errors import DataError
from microgpt.serving.models import HTTPError, Models
from microgpt.serving.schemas import ReviewItem, ReviewResolveRequest
from microgpt.store.db import REVIEW_STATUSES, ReviewConflictError, ReviewNotFoundError, Store


def review_router(store: Store, models: Models, requests_total: Any, authorize: Callable[..., None]) -> APIRouter:
    """The review routes, guarded by `authorize` and counted in `requests_total`."""
    router = APIRouter(dependencies=[Depends(authorize)])

    def _review_call(item_id: str, action: Any) -> ReviewItem:
        try:
            action()
        except ReviewNotFoundError as err:
            raise HTTPError(404, err.message, "list the pending items: GET /v1/review") from None
        except ReviewConflictError as err:
            raise HTTPError(409, err.message, err.hint) from None
        item = store.review_item(item_id)
        requests_total.labels(item["module"] if item else "", "review", "200").inc()
        return ReviewItem(**item)  # type: ignore[arg-type]

    @router.get("/v1/review")
    def list_review(module: str | None = None, status: str = "pending", limit: int = 50) -> list[ReviewItem]:
        if status != "all" and status not in REVIEW_STATUSES:
            raise HTTPError(422, f"unknown review status {status!r}", f"use {', '.join(REVIEW_STATUSES)} or all")
        if not 1 <= limit <= 1000:
            raise HTTPError(422, f"limit {limit} is out of range", "ask for 1 to 1000 items")
        return [ReviewItem(**item) for item in store.review_items(module, None if status == "all" else status, limit)]

    @router.post("/v1/review/{item_id}/resolve")
    def resolve_review(item_id: str, body: ReviewResolveRequest) -> ReviewItem:
        target: str | list[str] = body.label if body.label is not None else list(body.labels or [])
        item = store.review_item(item_id)
        if item is not None:
            try:
                _, model = models.get(item["module"])
            except HTTPError:  # the module is gone or not promoted: keep the answer as given
                model = None
            if model is not None:
                try:
                    target = model.correction(body.label, body.labels)
                except DataError as err:
                    raise HTTPError(422, f"module {item['module']!r}: {err.message}", err.hint) from None
        return _review_call(item_id, lambda: store.resolve_review(item_id, target, by="api"))

    @router.post("/v1/review/{item_id}/skip")
    def skip_review(item_id: str) -> ReviewItem:
        return _review_call(item_id, lambda: store.skip_review(item_id, by="api"))

    return router
