"""A stand-in OpenAI-compatible chat-completions server for tests: a real HTTP server (uvicorn) on a free port.

What a request gets is chosen by a marker in its last message, so one server serves every case at once:

    [slow]       sleeps `slow_s` before answering          [500]        HTTP 500, every time
    [flaky]      HTTP 500 the first time, then an answer    [429]        HTTP 429 the first time, then an answer
    [400]        HTTP 400 (not worth retrying)              [malformed]  HTTP 200 with a body that is not JSON
    [nochoices]  JSON without choices                       [nousage]    a good answer without `usage`
    [sloppy]     the label, wrapped as ' "Label: Billing." '

Otherwise the answer is the label of the first KEYWORDS entry found in the text, else "unknown". Each answer
reports `usage` of 100 prompt and 2 completion tokens, so costs are exact. Every request is kept in `requests`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

KEYWORDS = {"charged": "billing", "invoice": "billing", "parcel": "shipping", "refund": "refund", "password": "login"}
USAGE = {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StubLLM:
    def __init__(self, slow_s: float = 1.0) -> None:
        self.slow_s = slow_s
        self.requests: list[dict[str, Any]] = []
        self.seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        app = FastAPI()
        app.post("/v1/chat/completions")(self._chat)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="stub-llm", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stub LLM server did not start")
            time.sleep(0.01)

    def bodies(self, marker: str = "") -> list[dict[str, Any]]:
        """Request bodies whose last message contains `marker`."""
        with self._lock:
            return [r["body"] for r in self.requests if marker in r["body"]["messages"][-1]["content"]]

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        text = body["messages"][-1]["content"]
        with self._lock:
            self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
            self.seen[text] += 1
            first = self.seen[text] == 1
        if "[slow]" in text:
            await asyncio.sleep(self.slow_s)
        if "[500]" in text or ("[flaky]" in text and first):
            return JSONResponse({"error": {"message": "internal error"}}, status_code=500)
        if "[429]" in text and first:
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "0"})
        if "[400]" in text:
            return JSONResponse({"error": {"message": "bad request"}}, status_code=400)
        if "[malformed]" in text:
            return PlainTextResponse("<html>gateway says hello</html>")
        if "[nochoices]" in text:
            return JSONResponse({"object": "chat.completion", "choices": []})
        label = next((lab for word, lab in KEYWORDS.items() if word in text.lower()), "unknown")
        answer = f' "Label: {label.title()}." ' if "[sloppy]" in text else label
        out: dict[str, Any] = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        }
        if "[nousage]" not in text:
            out["usage"] = USAGE
        return JSONResponse(out)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
