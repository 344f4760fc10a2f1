"""Server time per console page with 50 modules and 10,000 queued review items (target: ≤ 100 ms a page).

python bench/console.py [--modules 50] [--queued 10000] [--predictions 20000] [--repeat 20] [--out FILE.json]

Builds a throwaway MICROGPT_HOME (one nano helpdesk router copied in as every module, two versions each), fills the
store, then times each page in-process through the ASGI app (no network: the server's own time), signed in with an
admin key as a person would be.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def build(home: Path, n_modules: int, n_queued: int, n_predictions: int) -> str:
    import microgpt
    from microgpt.store.db import Store, prediction_row
    from microgpt.store.registry import Registry

    microgpt.train(ROOT / "examples" / "helpdesk.csv", task="classify", tier="nano", out=home / "base")
    registry = Registry(home)
    for i in range(n_modules):
        registry.add(home / "base", f"m{i:02d}")
        registry.add(home / "base", f"m{i:02d}")  # v2, not promoted: the page shows a Promote button for it
    store = Store(home / "microgpt.db")
    conn = store.connect()
    labels = ["billing", "shipping", "refund", "login", "returns"]
    conn.execute("BEGIN")
    for j in range(n_queued):
        store.enqueue_review(f"m{j % n_modules:02d}", f"queued text number {j} about my order", version=1,
                             prediction={"label": labels[j % 5]}, confidence=(j * 7919 % 1000) / 1000,
                             reason="low_confidence" if j % 10 else "fallback_failed: timeout")  # fmt: skip
    for j in range(n_modules * 4):
        store.log_teacher(f"m{j % n_modules:02d}", f"text {j}", labels[j % 5], "gpt-x", labels[j % 5], 80, 2, 0.0001)
    conn.execute("COMMIT")
    rows = []
    for j in range(n_predictions):
        decision = ("answer", "escalate", "queue")[j % 3]
        out = {"label": labels[j % 5], "confidence": 0.9, "decision": decision}
        row = list(prediction_row(f"m{j % n_modules:02d}", 1, f"text {j}", out, 0.9, 0.2))
        row[0] = uuid.uuid4().hex
        rows.append(tuple(row))
    store.insert_predictions(rows)
    return store.create_key("bench-admin")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", type=int, default=50)
    ap.add_argument("--queued", type=int, default=10_000)
    ap.add_argument("--predictions", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "console.json"))
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-console-"))
    os.environ["MICROGPT_HOME"] = str(home)
    t0 = time.perf_counter()
    key = build(home, args.modules, args.queued, args.predictions)
    setup_s = time.perf_counter() - t0

    from fastapi.testclient import TestClient

    from microgpt.serving.app import create_app
    from microgpt.serving.schemas import ServeSettings

    pages = ["/modules", "/try/m00", "/review", "/review?module=m07", "/data", "/activity",
             "/modules/m00/promote?version=2", "/modules/m00/rollback", "/docs", "/signin"]  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    with TestClient(create_app(ServeSettings(home=str(home)))) as client:
        token = _csrf(client, "/signin")
        signed = client.post("/signin", data={"key": key, "csrf": token}, follow_redirects=False)
        assert signed.status_code == 303, signed.text
        client.post("/modules/m00/promote", data={"version": "2", "csrf": _csrf(client)})  # so rollback has a target
        for page in pages:
            start = time.perf_counter()
            first = client.get(page, follow_redirects=False)
            first_ms = (time.perf_counter() - start) * 1000
            assert first.status_code in (200, 303), (page, first.status_code, first.text[:300])
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                r = client.get(page, follow_redirects=False)
                times.append((time.perf_counter() - start) * 1000)
                assert r.status_code == first.status_code
            times.sort()
            results[page] = {
                "first_ms": round(first_ms, 2),
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
                "bytes": len(first.content),
            }
    report = {"modules": args.modules, "queued": args.queued, "predictions": args.predictions,
              "repeat": args.repeat, "setup_s": round(setup_s, 1), "pages": results,
              "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{'page':38} {'first ms':>9} {'median ms':>10} {'p95 ms':>8} {'KB':>7}")
    for page, row in results.items():
        flag = "" if row["p95_ms"] <= 100 else "  over 100 ms"
        kb = row["bytes"] / 1024
        print(f"{page:38} {row['first_ms']:>9.1f} {row['median_ms']:>10.1f} {row['p95_ms']:>8.1f} {kb:>7.1f}{flag}")
    print(f"(setup {setup_s:.0f}s; {args.modules} modules, {args.queued:,} queued, {args.predictions:,} predictions)")


def _csrf(client: Any, page: str = "/modules") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    if found is None:
        raise RuntimeError(f"no CSRF token on {page}")
    return found.group(1)


if __name__ == "__main__":
    main()
