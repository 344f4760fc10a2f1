"""An HTTP/1.1 load generator that measures the server, not itself: open loop at a constant rate, or closed loop for
the maximum, on raw keep-alive sockets (asyncio protocols on uvloop), meant to run pinned to a core of its own.

    taskset -c 1 .venv/bin/python bench/load.py URL --body '{"text": "hi"}' --rate 500 --seconds 10
    taskset -c 1 .venv/bin/python bench/load.py URL --body '{"text": "hi"}' --connections 16 --seconds 10  # maximum

Open loop (`--rate`): request i is due at start + i/rate whatever came back before it (a slow answer never delays
the next send, unlike a closed-loop client), and its latency is counted from when it was due, not from when it went
out — so a stall in the server, or in this client, shows up in the percentiles instead of hiding in a queue
(coordinated omission). A connection is opened whenever every open one is busy (up to `--max-connections`).

The report names the achieved rate beside the requested one, and the client's own lag (how late requests went out).
When the achieved rate falls short of the requested one by more than 1%, or requests went out late, the latency
percentiles are withheld (`latency_valid: false`): they would describe the client, not the server.

bench/serve.py checks this client against wrk's maximum on the same route (closed loop, same connections).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import numpy as np


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send a pre-built request, parse the one response (Content-Length framing)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.need = -1  # bytes of the whole response once its headers are in
        self.status = 0
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(b"content-length:")
            if at < 0:
                raise ValueError("response without Content-Length (chunked answers are not supported here)")
            length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            self.need = end + 4 + length
        if len(self.buf) >= self.need and self.waiter is not None and not self.waiter.done():
            del self.buf[: self.need]
            self.need = -1
            self.waiter.set_result(self.status)

    def request(self, raw: bytes) -> asyncio.Future[int]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(raw)
        return self.waiter


def build_request(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [
        f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connect(host: str, port: int) -> _Conn:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Conn, host, port)
    return conn


async def open_loop(
    url: str, body: bytes, rate: float, seconds: float, max_connections: int = 512, warmup_s: float = 1.0,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:  # fmt: skip
    """Send `rate` requests a second for `seconds` (after `warmup_s` at the same rate, not counted)."""
    host, port, raw = build_request(url, body, headers)
    idle: list[_Conn] = [await _connect(host, port) for _ in range(8)]
    opened = len(idle)
    total = int(rate * (warmup_s + seconds))
    first = int(rate * warmup_s)
    due = np.empty(total)
    sent = np.full(total, np.nan)
    done = np.full(total, np.nan)
    status = np.zeros(total, dtype=np.int32)
    errors = 0
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()
    waiting_for_conn = asyncio.Event()

    async def one(i: int, conn: _Conn) -> None:
        nonlocal errors
        try:
            status[i] = await conn.request(raw)
            done[i] = time.perf_counter()
            idle.append(conn)
        except (ConnectionError, OSError, ValueError):
            errors += 1
        waiting_for_conn.set()

    start = time.perf_counter() + 0.05
    for i in range(total):
        due[i] = start + i / rate
        delay = due[i] - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        while not idle:
            if opened < max_connections:
                try:
                    idle.append(await _connect(host, port))
                    opened += 1
                except OSError:
                    errors += 1
                break
            waiting_for_conn.clear()
            await waiting_for_conn.wait()
        if not idle:
            continue
        conn = idle.pop()
        while conn.lost and idle:
            conn = idle.pop()
        sent[i] = time.perf_counter()
        task = loop.create_task(one(i, conn))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=30)
    measured = slice(first, total)
    ok = ~np.isnan(done[measured]) & (status[measured] == 200)
    completed = int(ok.sum())
    window = float(np.nanmax(done[measured]) - due[first]) if completed else float("nan")
    achieved = completed / window if completed else 0.0
    lag_ms = (sent[measured] - due[measured]) * 1000
    latency_ms = (done[measured] - due[measured])[ok] * 1000
    lag_p99 = float(np.nanpercentile(lag_ms, 99)) if completed else float("nan")
    valid = achieved >= 0.99 * rate and lag_p99 < 5.0 and completed == total - first
    out: dict[str, object] = {
        "mode": "open-loop", "requested_per_s": rate, "achieved_per_s": round(achieved, 1),
        "requests": total - first, "ok": completed,
        "non_200": int(((status[measured] != 200) & (status[measured] > 0)).sum()),
        "errors": errors, "connections": opened, "client_lag_p99_ms": round(lag_p99, 3), "latency_valid": bool(valid),
    }  # fmt: skip
    if valid:
        for q in (50, 90, 99, 99.9):
            out[f"p{q:g}_ms"] = round(float(np.percentile(latency_ms, q)), 3)
        out["max_ms"] = round(float(latency_ms.max()), 3)
    else:
        out["why_no_latency"] = (
            f"achieved {achieved:.0f}/s of {rate:.0f}/s requested, client lag p99 {lag_p99:.1f} ms, "
            f"{total - first - completed} requests not answered with 200: the numbers would describe the client"
        )
    return out


async def closed_loop(
    url: str, body: bytes, connections: int, seconds: float, headers: dict[str, str] | None = None
) -> dict[str, object]:
    """`connections` clients each sending the next request when the last one is answered: the maximum rate."""
    host, port, raw = build_request(url, body, headers)
    conns = [await _connect(host, port) for _ in range(connections)]
    latencies: list[float] = []
    non_200 = 0
    end = time.perf_counter() + seconds

    async def client(conn: _Conn) -> None:
        nonlocal non_200
        while time.perf_counter() < end:
            t = time.perf_counter()
            code = await conn.request(raw)
            latencies.append(time.perf_counter() - t)
            non_200 += code != 200

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "mode": "closed-loop", "connections": connections, "req_per_s": round(len(latencies) / elapsed, 1),
        "requests": len(latencies), "non_200": non_200, "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }  # fmt: skip


def run(coro: object) -> dict[str, object]:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type,no-any-return]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type,no-any-return]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--body", required=True, help="the JSON body to POST")
    p.add_argument("--rate", type=float, help="open loop: requests a second (omit for the closed-loop maximum)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=16, help="closed loop: concurrent connections")
    p.add_argument("--header", action="append", default=[], help="extra header, 'Name: value'")
    a = p.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in a.header)
    body = a.body.encode()
    if a.rate:
        result = run(open_loop(a.url, body, a.rate, a.seconds, headers=headers))
    else:
        result = run(closed_loop(a.url, body, a.connections, a.seconds, headers=headers))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
