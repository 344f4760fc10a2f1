"""Load benchmark of `microgpt serve`: the real server on loopback, pinned to core 0, driven from core 1 by our
open-loop generator (bench/load.py), checked against wrk's maximum on the same route.

    .venv/bin/python bench/serve.py            # every board (≈ 5 min on 2 cores; trains nano and a brief micro)
    .venv/bin/python bench/serve.py --quick    # the regression guard: nano HTTP ÷ in-process, same run (≈ 1 min)
    .venv/bin/python bench/serve.py --profile  # CPU per request by stage under load (needs py-spy: pip install py-spy)

The method (issue 18), the same for every board:
- the server runs on core 0 alone (`taskset -c 0`), the load generator on core 1 alone, so neither steals the other's
  cycles; the in-process rate is measured on core 0 too, in the same run, and every HTTP rate is reported beside it
  as a ratio (a slower machine then shows as a slower machine, not as a slower server);
- the fixed-rate board is open loop: latency counts from when each request was due, the achieved rate is reported
  next to the requested one, and no latency is reported when the two differ by more than 1% (bench/load.py);
- the generator's closed-loop maximum is measured beside wrk's on the same route, to show it is not the bottleneck.

The micro module is trained briefly on Banking77: these boards measure speed, not accuracy (bench/run.py does that).
Without the Banking77 data (`MICROGPT_DATA_DIR`), `--quick` trains nano on the shipped examples instead.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
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

ROOT = Path(__file__).resolve().parents[1]
LOAD = [sys.executable, str(ROOT / "bench" / "load.py")]
SERVER_CORE, CLIENT_CORE = "0", "1"
ONE = {"text": "I still haven't received my new card, where is it?"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: str) -> list[str]:
    """`taskset -c CORE` where the machine has it and more than one core (else nothing: the board says so)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core]
    return []


def start_server(home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MICROGPT_HOME": str(home)}
    proc = subprocess.Popen(
        [*pinned(SERVER_CORE), sys.executable, "-m", "microgpt", "serve", "--port", str(port), *extra],
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


def load(url: str, body: dict[str, object], seconds: float, rate: float | None = None, connections: int = 16) -> dict:
    """bench/load.py on the client core: open loop at `rate`, else the closed-loop maximum."""
    args = [url, "--body", json.dumps(body), "--seconds", str(seconds)]
    args += ["--rate", str(rate)] if rate else ["--connections", str(connections)]
    out = subprocess.run([*pinned(CLIENT_CORE), *LOAD, *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def wrk(url: str, body: dict[str, object], seconds: int = 5, connections: int = 16) -> dict[str, float] | None:
    """wrk's closed-loop maximum on the client core (None without wrk)."""
    if shutil.which("wrk") is None:
        return None
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    out = subprocess.run(
        [*pinned(CLIENT_CORE), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"req_per_s": float(rps.group(1)) if rps else float("nan"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


IN_PROCESS = """
import json, sys, time
import microgpt
model = microgpt.load(sys.argv[1])
texts = json.loads(sys.argv[2])
batch = int(sys.argv[3])
seconds = float(sys.argv[4])
chunks = [texts[i:i + batch] for i in range(0, len(texts) - batch + 1, batch)] or [texts[:batch]]
for c in chunks[:20]:
    model.results(c)  # warm-up
n, i, times, start = 0, 0, [], time.perf_counter()
while time.perf_counter() - start < seconds:
    c = chunks[i % len(chunks)]
    t = time.perf_counter()
    model.results(c)
    times.append(time.perf_counter() - t)
    n += len(c)
    i += 1
elapsed = time.perf_counter() - start
times.sort()
print(json.dumps({"texts_per_s": n / elapsed, "p50_ms": times[len(times) // 2] * 1000}))
"""


def in_process(module: Path, texts: list[str], batch: int = 1, seconds: float = 3.0) -> dict[str, float]:
    """The route's own model call (`results`) on the server's core, in a process of its own."""
    out = subprocess.run(
        [*pinned(SERVER_CORE), sys.executable, "-c", IN_PROCESS, str(module), json.dumps(texts[:2000]), str(batch),
         str(seconds)],
        capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---- the profile: CPU per request by stage ------------------------------------------------------------------
# (stage, pattern on "function (file:line)"). A sample's stage is that of its innermost frame that is ours or the
# framework's: library frames (numpy, pydantic, json ...) count for whoever called them.
STAGES = [
    ("model", re.compile(r"microgpt/(labels/(nano|micro|frozen)|backbones/|export/)|onnxruntime|torch/"
                         r"|^LabelTask\.predict_proba ")),
    ("serialisation", re.compile(r"^BaseModel\.(model_dump_json|model_validate) |^Decision\.to_json "
                                 r"|^Response\.(__init__|render) ")),
    ("policy and calibration", re.compile(r"microgpt/(policy|calibration)\.py|^Classifier\.results_from_proba"
                                          r"|^LabelTask\.results ")),
    ("prediction log", re.compile(r"microgpt/store/db\.py|microgpt/data/digests\.py|log_one ")),
    ("auth", re.compile(r"microgpt/serving/auth\.py|microgpt/store/keys\.py|^(authorize|check|Services\.auth_on) ")),
    ("registry lookup", re.compile(r"microgpt/serving/models\.py|microgpt/store/registry\.py")),
    ("parsing", re.compile(r"^HttpToolsProtocol\.(data_received|on_)|^RequestGuard|^_parses_as_json"
                           r"|^Request\.(json|body) |^request_body_to_args ")),
    ("metrics", re.compile(r"prometheus_client|^Metrics\.child ")),
]  # fmt: skip
FRAMEWORK = re.compile(r"(starlette|fastapi|uvicorn|anyio|asyncio|contextlib|httptools)/|microgpt/serving/routes\.py")
IDLE = re.compile(r"^(Condition\.wait|Queue\.get|Event\.wait|Thread\.join|sleep|select|poll) ")


def stage_of(frames: list[str]) -> str:
    joined = ";".join(frames)
    if "PredictionLog._run" in joined:  # the background writer: its inserts, else it is waiting
        return "prediction log (writer thread)" if "insert_predictions" in joined else "idle"
    if not frames or IDLE.search(frames[-1]):
        return "idle"
    for frame in reversed(frames):
        for stage, pattern in STAGES:
            if pattern.search(frame):
                return stage
        if FRAMEWORK.search(frame):
            return "framework (uvicorn, Starlette, FastAPI; the route's own lines)"
    return "other"


def profile(url: str, pid: int, body: dict[str, object], seconds: int = 10, rate_hz: int = 250) -> dict[str, object]:
    """py-spy on the server while the generator holds it at its maximum: microseconds of CPU per request by stage."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy not found: .venv/bin/pip install py-spy")
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    client = subprocess.Popen(
        [*pinned(CLIENT_CORE), *LOAD, url, "--body", json.dumps(body), "--seconds", str(seconds + 2)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1.0)
    subprocess.run(
        [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", str(rate_hz), "--format", "raw", "-o", str(raw),
         "--nonblocking"],
        check=True, capture_output=True,
    )  # fmt: skip
    out, _ = client.communicate()
    rps = float(json.loads(out)["req_per_s"])
    samples: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().replace("\r", "").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            samples[stage_of(stack.split(";"))] += int(count)
    samples.pop("idle", None)
    requests = rps * seconds
    us = {stage: n / rate_hz / requests * 1e6 for stage, n in samples.most_common()}
    return {"req_per_s_under_profiler": rps, "us_per_request": {k: round(v, 1) for k, v in us.items()},
            "total_us": round(sum(us.values()), 1)}  # fmt: skip


# ---- modules ------------------------------------------------------------------------------------------------
def have_banking77() -> bool:
    from microgpt.data import datasets

    try:
        datasets.banking77("test")
        return True
    except Exception:
        return False


def train_modules(mods: Path, micro: bool) -> list[str]:
    """nano (and a briefly trained micro, exported to ONNX int8) on Banking77, or nano on the shipped examples."""
    import microgpt

    if not have_banking77():
        import csv

        rows = list(csv.DictReader((ROOT / "examples" / "helpdesk.csv").open(encoding="utf-8")))
        microgpt.Classifier("nano").fit([r["text"] for r in rows], [r["label"] for r in rows]).save(mods / "nano")
        return [r["text"] for r in rows]
    from microgpt.data import datasets

    train = datasets.banking77("train")
    microgpt.Classifier("nano").fit(train).save(mods / "nano")
    if micro:
        from microgpt.export.onnx import export_onnx

        cfg = {"max_steps": 150, "min_steps": 0, "ensemble_nano": False}
        microgpt.Classifier("micro", micro=cfg).fit(train).save(mods / "micro")
        shutil.copytree(mods / "micro", mods / "micro-int8")
        export_onnx(mods / "micro-int8", int8=True, force=True)
    return list(datasets.banking77("test").texts)


# ---- boards -------------------------------------------------------------------------------------------------
def quick(home: Path, mods: Path, texts: list[str], seconds: float) -> dict[str, object]:
    """nano HTTP ÷ in-process on the same core in the same run: in-process, HTTP, in-process again (the mean)."""
    from microgpt.store.registry import Registry

    Registry(home).add(mods / "nano", "nano")
    before = in_process(mods / "nano", texts, seconds=seconds)
    proc, url = start_server(home)
    try:
        http = load(f"{url}/v1/modules/nano/predict", ONE, seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    after = in_process(mods / "nano", texts, seconds=seconds)
    rate = (before["texts_per_s"] + after["texts_per_s"]) / 2
    return {
        "in_process_per_s": round(rate, 1),
        "in_process_spread": [round(before["texts_per_s"]), round(after["texts_per_s"])],
        "http_per_s": http["req_per_s"],
        "http_p50_ms": http["p50_ms"],
        "ratio": round(http["req_per_s"] / rate, 3),
    }


def full(home: Path, mods: Path, texts: list[str], seconds: float) -> dict[str, object]:
    from microgpt.store.registry import Registry

    results: dict[str, object] = {}
    micro = (mods / "micro-int8").is_dir()
    results["in_process"] = {"nano_1": in_process(mods / "nano", texts, seconds=seconds)}
    if micro:
        results["in_process"]["micro_int8_1"] = in_process(mods / "micro-int8", texts, seconds=seconds)  # type: ignore[index]
        results["in_process"]["micro_int8_32"] = in_process(mods / "micro-int8", texts, 32, seconds)  # type: ignore[index]
        results["in_process"]["micro_pytorch_1"] = in_process(mods / "micro", texts, seconds=seconds)  # type: ignore[index]
    print("in process:", json.dumps(results["in_process"]), flush=True)
    registry = Registry(home)
    registry.add(mods / "nano", "nano")
    registry.add(mods / "nano", "router")
    registry.add(mods / "nano", "router", promote=False)
    if micro:
        registry.add(mods / "micro-int8", "micro")
    proc, url = start_server(home)
    nano_url = f"{url}/v1/modules/nano/predict"
    try:
        results["nano_max"] = load(nano_url, ONE, seconds)
        results["nano_max_wrk"] = wrk(nano_url, ONE, int(seconds))
        print("nano max:", results["nano_max"], "wrk:", results["nano_max_wrk"], flush=True)
        results["nano_500"] = load(nano_url, ONE, seconds, rate=500)
        print("nano at 500/s:", results["nano_500"], flush=True)
        if micro:
            batch = {"texts": texts[:32]}
            m = load(f"{url}/v1/modules/micro/predict", batch, seconds, connections=2)
            m["texts_per_s"] = round(m["req_per_s"] * 32, 1)
            results["micro_int8_batch32"] = m
            print("micro int8 batches of 32:", m, flush=True)
        flips = threading.Thread(target=_flip, args=(registry, seconds - 1))
        flips.start()
        results["promote_under_load"] = load(f"{url}/v1/modules/router/predict", ONE, seconds)
        flips.join()
        print("promote under load:", results["promote_under_load"], flush=True)
        results["feedback_8x1000"] = _feedback(url, home)
        print("feedback:", results["feedback_8x1000"], flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    nano_in = results["in_process"]["nano_1"]["texts_per_s"]  # type: ignore[index]
    results["nano_http_ratio"] = round(results["nano_max"]["req_per_s"] / nano_in, 3)  # type: ignore[index]
    if micro:
        micro_in = results["in_process"]["micro_int8_32"]["texts_per_s"]  # type: ignore[index]
        results["micro_http_ratio"] = round(results["micro_int8_batch32"]["texts_per_s"] / micro_in, 3)  # type: ignore[index]
    return results


def _flip(registry: object, seconds: float) -> None:
    """Promote and roll back the `router` module every half second while the load runs."""
    end = time.monotonic() + seconds
    time.sleep(1.0)
    while time.monotonic() < end:
        registry.promote("router", 2)  # type: ignore[attr-defined]
        time.sleep(0.5)
        registry.rollback("router")  # type: ignore[attr-defined]
        time.sleep(0.5)


def _feedback(url: str, home: Path) -> dict[str, object]:
    from microgpt.store.db import Store

    failures = []

    def client(t: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(1000):
                r = c.post("/v1/modules/nano/feedback", json={"text": f"client {t} message {i}", "label": ONE_LABEL})
                if r.status_code != 200:
                    failures.append(r.status_code)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    texts = [r["text"] for r in Store(home / "microgpt.db").feedback("nano")]
    return {"rows": len(texts), "distinct": len(set(texts)), "failures": len(failures), "seconds": round(seconds, 1)}


ONE_LABEL = "card_arrival"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the regression guard: nano HTTP ÷ in-process (≈ 1 min)")
    p.add_argument("--profile", action="store_true", help="CPU per request by stage under load (py-spy)")
    p.add_argument("--seconds", type=float, default=None, help="length of each board (default 3 quick, 8 full)")
    a = p.parse_args()
    seconds = a.seconds or (3.0 if a.quick else 8.0)
    with tempfile.TemporaryDirectory(prefix="microgpt-serve-bench-") as tmp:
        home, mods = Path(tmp) / "home", Path(tmp) / "modules"
        print("training the modules …", flush=True)
        texts = train_modules(mods, micro=not a.quick)
        if a.quick:
            results: dict[str, object] = {"board": "quick", **quick(home, mods, texts, seconds)}
        elif a.profile:
            results = {"board": "profile"}
            from microgpt.store.registry import Registry

            registry = Registry(home)
            registry.add(mods / "nano", "nano")
            if (mods / "micro-int8").is_dir():
                registry.add(mods / "micro-int8", "micro")
            proc, url = start_server(home)
            try:
                results["nano"] = profile(f"{url}/v1/modules/nano/predict", proc.pid, ONE, int(seconds))
                print("nano:", results["nano"], flush=True)
                if (mods / "micro-int8").is_dir():
                    results["micro_int8"] = profile(f"{url}/v1/modules/micro/predict", proc.pid, ONE, int(seconds))
                    print("micro int8:", results["micro_int8"], flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        else:
            results = {"board": "full", **full(home, mods, texts, seconds)}
    results["machine"] = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0],
        "pinned": bool(pinned("0")),
    }  # fmt: skip
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"serve-{results['board']}-{time.strftime('%Y-%m-%dT%H%M')}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
