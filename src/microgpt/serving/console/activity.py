"""Activity: per module and day — requests, answered / escalated / queued shares, latency, queue depth and teacher
spend (`Store.teacher_usage()`), drawn as SVG bar charts on the server (no chart library, nothing to fetch)."""

from __future__ import annotations

import datetime as dt
import time
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from microgpt.serving.auth import Principal
from microgpt.serving.console.web import Console

CACHE_SECONDS = 5.0
COLOURS = {"answered": "#2f855a", "escalated": "#b7791f", "queued": "#c53030", "spend": "#2b6cb0"}


def router(console: Console) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    store = console.store
    cache: dict[str, tuple[float, Any]] = {}

    def counts(since: str) -> Any:
        """Per module and day: decisions, teacher spend; and the queue depth now — at most CACHE_SECONDS old
        (reading 20,000 logged predictions' JSON takes ~50 ms; the page need not pay that on every refresh)."""
        held = cache.get(since)
        if held is not None and time.monotonic() - held[0] < CACHE_SECONDS:
            return held[1]
        conn = store.connect()
        per: dict[str, dict[str, dict[str, float]]] = {}
        decision = store.dialect.json_text("output", "decision")  # SQLite's json_extract, PostgreSQL's ->>
        sums = ", ".join(
            f"SUM(CASE WHEN {decision} = '{d}' THEN 1 ELSE 0 END)" for d in ("answer", "escalate", "queue")
        )
        rows = conn.execute(
            f"SELECT module, substr(created_at, 1, 10) AS day, COUNT(*), {sums}, "
            "AVG(latency_ms) FROM predictions WHERE created_at >= ? GROUP BY module, day",
            (since,),
        )
        for module, day, n, answered, escalated, queued, ms in rows:
            per.setdefault(module, {})[day] = {"requests": n, "answered": answered or 0, "escalated": escalated or 0,
                                               "queued": queued or 0, "latency_ms": ms or 0.0}  # fmt: skip
        spend: dict[str, dict[str, float]] = {}
        for module, day, cost in conn.execute(
            "SELECT module, substr(created_at, 1, 10), COALESCE(SUM(cost_usd), 0) FROM teacher_labels "
            "WHERE created_at >= ? GROUP BY module, substr(created_at, 1, 10)",
            (since,),
        ):
            spend.setdefault(module, {})[day] = float(cost)
        depth = dict(conn.execute("SELECT module, COUNT(*) FROM review_queue WHERE status = 'pending' GROUP BY module"))
        cache.clear()
        cache[since] = (time.monotonic(), (per, spend, depth))
        return per, spend, depth

    @r.get("/activity")
    def activity_page(request: Request, days: int = 14, user: Principal = Depends(console.auth.console())) -> Response:
        days = max(1, min(days, 90))
        today = dt.datetime.now(dt.UTC).date()
        day_list = [(today - dt.timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
        since = day_list[0]
        per, spend, depth = counts(since)
        names = sorted(set(per) | set(spend) | set(depth) | set(console.registry.names()))
        modules, quiet = [], []
        for name in names:
            if name not in per and name not in spend and not depth.get(name):
                quiet.append(name)
                continue
            days_of = per.get(name, {})
            total = {k: sum(d[k] for d in days_of.values()) for k in ("requests", "answered", "escalated", "queued")}
            usage = store.teacher_usage(name)
            modules.append({
                "name": name, "total": total, "depth": int(depth.get(name, 0)), "usage": usage,
                "shares": {k: total[k] / total["requests"] for k in ("answered", "escalated", "queued")}
                if total["requests"] else None,
                "latency_ms": _mean_latency(days_of),
                "requests_chart": stacked_bars(day_list, days_of, f"requests per day for {name}"),
                "spend_chart": spend_bars(day_list, spend.get(name, {}), f"teacher spend per day for {name}")
                if name in spend else None,
            })  # fmt: skip
        overall = store.teacher_usage()
        ctx = {"modules": modules, "quiet": quiet, "days": days, "since": since, "overall": overall,
               "colours": COLOURS}  # fmt: skip
        return console.render(request, user, "activity.html", ctx)

    return r


def _mean_latency(days_of: dict[str, dict[str, float]]) -> float | None:
    n = sum(d["requests"] for d in days_of.values())
    return sum(d["latency_ms"] * d["requests"] for d in days_of.values()) / n if n else None


def stacked_bars(days: list[str], values: dict[str, dict[str, float]], title: str) -> Markup:
    """Requests per day, each bar split into answered / escalated / queued (an <svg>, scaled to its box)."""
    w, h, pad = 24 * len(days), 120, 16
    top = max((v["requests"] for v in values.values()), default=0) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h + pad}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]  # fmt: skip
    for i, day in enumerate(days):
        v = values.get(day)
        x = i * 24 + 3
        y = float(h)
        if v:
            other = v["requests"] - v["answered"] - v["escalated"] - v["queued"]
            for key, n in (("answered", v["answered"] + max(other, 0)), ("escalated", v["escalated"]),
                           ("queued", v["queued"])):  # fmt: skip
                bar = h * n / top
                if bar > 0:
                    y -= bar
                    parts.append(f'<rect x="{x}" y="{y:.1f}" width="18" height="{bar:.1f}" fill="{COLOURS[key]}">'
                                 f"<title>{day}: {int(n)} {key}</title></rect>")  # fmt: skip
        if (len(days) - 1 - i) % max(1, len(days) // 7) == 0:  # about 7 dates, the last one today
            parts.append(f'<text x="{x + 9}" y="{h + 12}" text-anchor="middle">{day[5:]}</text>')
    parts.append(f'<text x="2" y="10" class="axis">{int(top)}</text></svg>')
    return Markup("".join(parts))


def spend_bars(days: list[str], values: dict[str, float], title: str) -> Markup:
    w, h, pad = 24 * len(days), 60, 16
    top = max(values.values(), default=0.0) or 1.0
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h + pad}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]  # fmt: skip
    for i, day in enumerate(days):
        cost = values.get(day, 0.0)
        bar = h * cost / top
        x = i * 24 + 3
        if bar > 0:
            parts.append(f'<rect x="{x}" y="{h - bar:.1f}" width="18" height="{bar:.1f}" fill="{COLOURS["spend"]}">'
                         f"<title>{day}: ${cost:.4f}</title></rect>")  # fmt: skip
        if (len(days) - 1 - i) % max(1, len(days) // 7) == 0:  # about 7 dates, the last one today
            parts.append(f'<text x="{x + 9}" y="{h + 12}" text-anchor="middle">{day[5:]}</text>')
    parts.append(f'<text x="2" y="10" class="axis">${top:.2f}</text></svg>')
    return Markup("".join(parts))
