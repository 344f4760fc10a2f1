"""What one server holds (`Services`: settings, registry, store, loaded models, log, metrics, fallback), and the
dependencies routes take it through — tests override them (`app.dependency_overrides[services] = ...`).

    @router.get("/v1/modules", dependencies=[Depends(authorize)])
    def list_modules(s: ServicesDep) -> list[ModuleInfo]: ...
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from microgpt.routing.cascade import Cascade
from microgpt.routing.teacher import LabelTeacher
from microgpt.serving.models import HTTPError, Models
from microgpt.serving.schemas import ServeSettings
from microgpt.store.db import PredictionLog, Store, store_location
from microgpt.store.registry import Registry
from microgpt.store.remote import open_registry

PRINCIPAL = "microgpt.principal"  # request-scope key: who the key belongs to (None: missing or invalid), if looked up
_UNSEEN = object()


class Metrics:
    """The server's Prometheus series; module labels are bounded (`Services.module_label`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self.requests = Counter("microgpt_requests_total", "Requests", ["module", "route", "status"],
                                registry=self.registry)  # fmt: skip
        self.latency = Histogram(
            "microgpt_request_seconds",
            "Request latency",
            ["module", "route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.errors = Counter("microgpt_errors_total", "Error responses", ["module", "status"], registry=self.registry)
        # what the policy decided, per module and version: answer, escalate, queue (and after the cascade: who answered)
        self.decisions = Counter("microgpt_decisions_total", "Decisions of the module's policy",
                                 ["module", "version", "decision"], registry=self.registry)  # fmt: skip
        self.queue_depth = Gauge("microgpt_review_queue_depth", "Review items waiting for a person", ["module"],
                                 registry=self.registry)  # fmt: skip

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: the lookup (a lock and a dict) runs once per series, not per request."""
        key = (metric, labels)
        held = self._children.get(key)
        if held is None:
            held = self._children[key] = metric.labels(*labels)
        return held

    def observe_queue(self, store: Store, modules: list[str]) -> None:
        """Set the queue-depth gauge from the store (at scrape time: it is shared with other processes)."""
        pending = store.pending_by_module()
        for name in modules:
            self.queue_depth.labels(name).set(pending.get(name, 0))


@dataclass
class Services:
    """Everything a route may need, built once per app by `create_app`."""

    settings: ServeSettings
    registry: Registry
    store: Store
    models: Models
    prediction_log: PredictionLog
    fallback: Any = None  # an LLMClient for escalations, or None (they queue for a person)
    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = False
    _cascades: dict[tuple[str, int], Cascade] = field(default_factory=dict)
    _auth: dict[str, float | bool] = field(default_factory=lambda: {"at": -1.0, "on": True})

    @classmethod
    def build(cls, settings: ServeSettings, fallback: Any = None) -> Services:
        registry = open_registry(settings.home)
        store = Store(store_location(registry.home), keep_texts=settings.keep_texts)
        return cls(settings, registry, store, Models(registry), PredictionLog(store), fallback)

    def cascade_for(self, name: str, version: int, model: Any) -> Cascade:
        """One cascade per live module version: its labels make the fallback's prompt."""
        key = (name, version)
        if key not in self._cascades:
            teacher = LabelTeacher(self.fallback, model.labels_) if self.fallback is not None else None
            self._cascades[key] = Cascade(model, name, teacher=teacher, store=self.store, version=version)
        return self._cascades[key]

    def module_label(self, name: str) -> str:
        """The metrics label for a module name from a URL: only modules this server holds get their own series."""
        return name if name and self.models.known(name) else "_unknown"

    def auth_on(self) -> bool:
        now = time.monotonic()
        if now - float(self._auth["at"]) > 1.0:  # the recorded setting, re-read at most once a second
            self._auth.update(at=now, on=self.store.auth_required())
        return bool(self._auth["on"])


async def services(request: Request) -> Services:
    """The app's `Services` (a dependency: override it to test a route against other parts). Dependencies are
    `async def` on purpose: FastAPI runs a plain `def` one on the thread pool, a hop that cost more per request than
    a nano prediction (bench/serve.py --profile)."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


async def authorize(request: Request, s: ServicesDep) -> None:
    """Fail closed: once a key was ever created, every route but health needs an active one, until the operator
    runs `microgpt keys auth off` (revoking the last key never opens the server)."""
    check(request, s)


def check(request: Request, s: Services) -> None:
    """`authorize`'s check. The console's scope guard has usually looked the key up already (cached a second) and
    left its verdict in the request scope; only a request it did not see is looked up here."""
    if not s.auth_on():
        return
    seen = request.scope.get(PRINCIPAL, _UNSEEN)
    if seen is not _UNSEEN:
        if seen is None:
            raise _no_key()
        return
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    key = value.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key")
    if not key or not s.store.check_key(key):
        raise _no_key()


def _no_key() -> HTTPError:
    return HTTPError(
        401,
        "missing or invalid API key",
        "send `Authorization: Bearer <key>` (create one with `microgpt keys create NAME`)",
    )


def authorized(request: Request, s: Services) -> bool:
    try:
        check(request, s)
    except HTTPError:
        return False
    return True
