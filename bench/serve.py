"""Load benchmark of `microgpt serve`: the real server on loopback, driven by wrk (and a fixed-rate client).

    .venv/bin/python bench/serve.py          # needs `wrk` (Debian: apt-get install wrk); ≈ 3 min on 2 cores

Boards: nano single texts (max req/s, and p99 at a fixed 500 req/s), micro (ONNX int8) batches of 32 over HTTP,
micro in-process single-text p50 (PyTorch vs ONNX fp32 vs ONNX int8), promote under load (failed requests), and
8 concurrent clients × 1,000 feedback writes (rows present, duplicates). The micro module here is trained briefly
on Banking77: these boards measure speed, not accuracy (bench/run.py measures accuracy).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

import microgpt
from microgpt.data import datasets
from microgpt.export.onnx import export_onnx
from microgpt.store.db import Store
from microgpt.store.registry import Registry

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MICROGPT_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "microgpt", "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def wrk(url: str, body: dict[str, object], seconds: int = 10, connections: int = 16) -> dict[str, float]:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {"req_per_s": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}  # fmt: skip


async def fixed_rate(url: str, body: dict[str, object], rate: int, seconds: int) -> dict[str, float]:
    """Send `rate` requests a second (open loop) and report latency percentiles."""
    latencies: list[float] = []
    failures = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:

        async def one() -> None:
            nonlocal failures
            t = time.perf_counter()
            r = await client.post(url, json=body)
            latencies.append((time.perf_counter() - t) * 1000)
            failures += r.status_code != 200

        tasks = []
        start = time.perf_counter()
        for i in range(rate * seconds):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return {"rate": rate, "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
            "failures": failures}  # fmt: skip


def in_process_p50(model: microgpt.Classifier, texts: list[str]) -> float:
    for t in texts[:20]:
        model.predict_proba([t])
    times = []
    for t in texts[:300]:
        s = time.perf_counter()
        model.predict_proba([t])
        times.append((time.perf_counter() - s) * 1000)
    return float(np.median(times))


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    results: dict[str, object] = {}
    train, test = datasets.banking77("train"), datasets.banking77("test")
    texts = test.texts
    with tempfile.TemporaryDirectory(prefix="microgpt-serve-bench-") as tmp:
        home = Path(tmp) / "home"
        mods = Path(tmp) / "modules"
        print("training nano and a briefly trained micro on Banking77 …", flush=True)
        microgpt.Classifier("nano").fit(train).save(mods / "nano")
        microgpt.Classifier("micro", micro={"max_steps": 150, "min_steps": 0, "ensemble_nano": False}).fit(train).save(
            mods / "micro"
        )
        for variant, int8 in (("micro-onnx", False), ("micro-int8", True)):
            shutil.copytree(mods / "micro", mods / variant)
            export_onnx(mods / variant, int8=int8, force=True)
        p50 = {v: in_process_p50(microgpt.load(mods / v), texts) for v in ("nano", "micro", "micro-onnx", "micro-int8")}
        results["in_process_p50_ms"] = p50
        gc.collect()  # drop the models (and their thread pools) before the server gets the cores
        print("in-process p50 ms:", {k: round(v, 3) for k, v in p50.items()}, flush=True)

        registry = Registry(home)
        registry.add(mods / "nano", "nano")
        registry.add(mods / "micro-int8", "micro")
        registry.add(mods / "nano", "router")
        registry.add(mods / "nano", "router", promote=False)
        proc, url = start_server(home)
        try:
            one = {"text": "I still haven't received my new card, where is it?"}
            batch = {"texts": texts[:32]}
            results["nano_http_single"] = wrk(f"{url}/v1/modules/nano/predict", one)
            print("nano single:", results["nano_http_single"], flush=True)
            results["nano_http_500rps"] = asyncio.run(fixed_rate(f"{url}/v1/modules/nano/predict", one, 500, 10))
            print("nano at 500 req/s:", results["nano_http_500rps"], flush=True)
            micro_batch = wrk(f"{url}/v1/modules/micro/predict", batch, connections=4)
            micro_batch["texts_per_s"] = micro_batch["req_per_s"] * 32
            results["micro_int8_http_batch32"] = micro_batch
            print("micro int8 batch 32:", micro_batch, flush=True)

            flips = threading.Thread(target=_flip, args=(registry, 8.0))
            flips.start()
            results["promote_under_load"] = wrk(f"{url}/v1/modules/router/predict", one, seconds=10)
            flips.join()
            print("promote under load:", results["promote_under_load"], flush=True)

            results["feedback_8x1000"] = _feedback(url, home)
            print("feedback:", results["feedback_8x1000"], flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"serve-{time.strftime('%Y-%m-%dT%H%M')}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def _flip(registry: Registry, seconds: float) -> None:
    """Promote and roll back the `router` module every half second while wrk is running."""
    end = time.monotonic() + seconds
    time.sleep(1.0)
    while time.monotonic() < end:
        registry.promote("router", 2)
        time.sleep(0.5)
        registry.rollback("router")
        time.sleep(0.5)


def _feedback(url: str, home: Path) -> dict[str, int]:
    def client(t: int) -> None:
        with httpx.Client(base_url=url) as c:
            for i in range(1000):
                r = c.post(
                    "/v1/modules/nano/feedback", json={"text": f"client {t} message {i}", "label": "card_arrival"}
                )
                r.raise_for_status()

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    texts = [r["text"] for r in Store(home / "microgpt.db").feedback("nano")]
    return {"rows": len(texts), "distinct": len(set(texts)), "seconds": round(seconds, 1)}


if __name__ == "__main__":
    main()
