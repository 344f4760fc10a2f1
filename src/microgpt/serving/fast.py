"""The predict fast path: `POST /v1/modules/{name}/predict` answered without the framework in between.

A nano prediction costs ~0.1 ms; FastAPI's routing, dependency solving and middleware stack cost about three times
that per request (bench/serve.py --profile). So the one route that carries the traffic is answered here, an ASGI
middleware in front of the app, by the route's own code (`routes.answer`) — when the request is a plain one:

- the Host header is one the server accepts, the body declares a Content-Length within the limit and parses as a
  `PredictRequest`, it is not a streamed draft;
- auth is off, or the key is active and has the `predict` scope;
- no test has overridden the app's dependencies (`app.dependency_overrides`: then the route runs, as overridden).

Anything else — a bad body, a missing key, a stream, a Host that does not name the server — goes on to the full app
with the body replayed, so every error is still answered by the one place that answers it (same status, same body).
Errors raised while predicting (unknown module, batch over the limit, unknown option) get the app's own error body
from `error_payload`, and are counted in the same metrics.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from microgpt.errors import MicroGPTError
from microgpt.serving.models import bug_payload, error_payload
from microgpt.serving.routes import answer
from microgpt.serving.schemas import PredictRequest
from microgpt.serving.state import Services

log = logging.getLogger(__name__)

PREDICT = re.compile(r"^/v1/modules/([^/]+)/predict$")


class FastPredict:
    """See the module docstring. `auth` is the console's `Auth` (keys and scopes, cached a second)."""

    def __init__(
        self,
        app: ASGIApp,
        services: Services,
        auth: Any,
        allowed_hosts: frozenset[str] | None,
        limit: int,
        overrides: dict[Any, Any],
    ) -> None:
        self.app = app
        self.overrides = overrides
        self.services = services
        self.auth = auth
        self.allowed_hosts = allowed_hosts
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PREDICT.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or self.overrides:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if not declared.isdigit() or int(declared) > self.limit or not self._host_ok(headers):
            await self.app(scope, receive, send)  # the full app answers (413, 421) or reads a chunked body
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away mid-body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        request = self._plain(body, headers)
        if request is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        name = match.group(1)
        s = self.services
        try:
            response = await answer(s, name, request)
        except MicroGPTError as err:
            status, payload = error_payload(err)
            s.metrics.errors.labels(s.module_label(name), str(status)).inc()
            await _send_json(send, status, _dumps(payload))
            return
        except Exception as err:  # a bug: the same answer as the app's catch-all handler
            log.exception("unexpected error on POST %s", scope["path"])
            s.metrics.errors.labels(s.module_label(name), "500").inc()
            await _send_json(send, 500, _dumps(bug_payload(err)))
            return
        await _send_json(send, response.status_code, response.body)

    def _host_ok(self, headers: dict[bytes, bytes]) -> bool:
        if self.allowed_hosts is None:
            return True
        return host_name(headers.get(b"host", b"").decode("latin-1")) in self.allowed_hosts

    def _plain(self, body: bytes, headers: dict[bytes, bytes]) -> PredictRequest | None:
        """The request, when this path may answer it; None sends it on to the full app."""
        try:
            request = PredictRequest.model_validate(json.loads(body))
        except (ValueError, RecursionError, ValidationError):  # the app's 422 names what is wrong
            return None
        if request.stream:
            return None
        s = self.services
        if s.auth_on():
            if not self.auth.keys_exist():
                return None  # the two caches disagree for a moment: let the app decide
            who = self.auth.bearer({k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()})
            if who is None or not who.can("predict"):
                return None  # 401 or 403 from the app
        return request


def host_name(header: str) -> str:
    """`127.0.0.1:8000` → `127.0.0.1`, `[::1]:8000` → `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _dumps(payload: dict[str, Any]) -> bytes:
    """As Starlette's JSONResponse writes it, so both paths answer byte for byte alike."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def replay_body(body: bytes, receive: Receive) -> Receive:
    """`receive` that hands the app the body already read, then waits on the client (for its disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
