"""The review queue over HTTP: texts a model did not answer alone, waiting for a person.

GET  /v1/review?module=&status=pending|resolved|skipped|all&limit=
POST /v1/review/claim?module=&by=&lease_s=   the next pending item, held for `by` (204: none free)
POST /v1/review/{id}/resolve   {"label": "..."} or {"labels": [...]}
POST /v1/review/{id}/skip
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from microgpt.errors import DataError
from microgpt.serving.models import HTTPError
from microgpt.serving.schemas import ReviewItem, ReviewResolveRequest
from microgpt.serving.state import Services, ServicesDep, authorize
from microgpt.store.db import REVIEW_STATUSES, ReviewConflictError, ReviewNotFoundError

router = APIRouter(dependencies=[Depends(authorize)])


def _review_call(s: Services, item_id: str, action: Any) -> ReviewItem:
    try:
        action()
    except ReviewNotFoundError as err:
        raise HTTPError(404, err.message, "list the pending items: GET /v1/review") from None
    except ReviewConflictError as err:
        raise HTTPError(409, err.message, err.hint) from None
    item = s.store.review_item(item_id)
    s.metrics.requests.labels(item["module"] if item else "", "review", "200").inc()
    return ReviewItem(**item)  # type: ignore[arg-type]


@router.get("/v1/review")
def list_review(
    s: ServicesDep, module: str | None = None, status: str = "pending", limit: int = 50
) -> list[ReviewItem]:
    if status != "all" and status not in REVIEW_STATUSES:
        raise HTTPError(422, f"unknown review status {status!r}", f"use {', '.join(REVIEW_STATUSES)} or all")
    if not 1 <= limit <= 1000:
        raise HTTPError(422, f"limit {limit} is out of range", "ask for 1 to 1000 items")
    return [ReviewItem(**item) for item in s.store.review_items(module, None if status == "all" else status, limit)]


@router.post("/v1/review/claim", response_model=ReviewItem, responses={204: {"description": "No pending item is free"}})
def claim_review(s: ServicesDep, module: str | None = None, by: str = "api", lease_s: float = 300.0) -> Any:
    """Take the next pending item (the model's least sure first) for `lease_s` seconds: two reviewers — on this
    server or on any replica sharing its store — never get the same one. Resolve or skip it to finish."""
    if not 0 < lease_s <= 86_400:
        raise HTTPError(422, f"lease_s {lease_s} is out of range", "claim for 1 to 86400 seconds, e.g. lease_s=300")
    if not by.strip() or len(by) > 200:
        raise HTTPError(422, "by must name the reviewer (1 to 200 characters)", "e.g. by=ann")
    item = s.store.claim_review(module, by=by, lease_s=lease_s)
    if item is None:
        return Response(status_code=204)
    s.metrics.requests.labels(s.module_label(item["module"]), "review", "200").inc()
    return ReviewItem(**item)


@router.post("/v1/review/{item_id}/resolve")
def resolve_review(item_id: str, body: ReviewResolveRequest, s: ServicesDep) -> ReviewItem:
    target: str | list[str] = body.label if body.label is not None else list(body.labels or [])
    item = s.store.review_item(item_id)
    if item is not None:
        try:
            _, model = s.models.get(item["module"])
        except HTTPError:  # the module is gone or not promoted: keep the answer as given
            model = None
        if model is not None:
            try:
                target = model.correction(body.label, body.labels)
            except DataError as err:
                raise HTTPError(422, f"module {item['module']!r}: {err.message}", err.hint) from None
    return _review_call(s, item_id, lambda: s.store.resolve_review(item_id, target, by="api"))


@router.post("/v1/review/{item_id}/skip")
def skip_review(item_id: str, s: ServicesDep) -> ReviewItem:
    return _review_call(s, item_id, lambda: s.store.skip_review(item_id, by="api"))
