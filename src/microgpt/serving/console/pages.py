"""Console pages: sign-in, Modules (versions, promote / roll back with a side-by-side check), Try it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from microgpt.errors import MicroGPTError
from microgpt.serving.auth import ConsoleError, Principal, check_csrf, form_data
from microgpt.serving.console.web import Console
from microgpt.serving.models import HTTPError

HEADLINE_METRICS = ("accuracy", "macro_f1", "micro_f1", "span_f1", "field_f1", "rouge_l", "chrf", "ece")


def router(console: Console) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    auth, registry, store = console.auth, console.registry, console.store
    compare_cache: dict[tuple[str, int, float], dict[str, Any]] = {}
    compare_lock = threading.Lock()

    def flash(user: Principal, message: str | None = None, kind: str = "ok") -> dict[str, Any]:
        """Leave a message for the next page (with `message`), or take the one waiting (without)."""
        data = auth.session_data(user)
        if message is not None:
            data["flash"] = (message, kind)
            return {}
        held = data.pop("flash", None)
        return {"flash": held[0], "flash_kind": held[1]} if held else {}

    # ---- sign-in -------------------------------------------------------------------------------------------
    @r.get("/")
    def home(request: Request) -> Response:
        return RedirectResponse("/modules", status_code=303)

    @r.get("/signin")
    def signin_page(request: Request, next: str = "/modules") -> Response:
        user = auth.visitor(request)
        if not auth.keys_exist():
            return RedirectResponse("/modules", status_code=303)
        return console.render(request, user, "signin.html", {"next": _safe_next(next)})

    @r.post("/signin")
    async def signin(request: Request) -> Response:
        user = auth.visitor(request)
        await check_csrf(request, user)
        form = await form_data(request)
        sid = auth.sign_in(form.get("key", ""))
        if sid is None:
            ctx = {"next": _safe_next(form.get("next")), "error": "That key is not valid (or it was revoked)."}
            return console.render(request, user, "signin.html", ctx, status=401)
        auth.end_session(request)  # a new id at sign-in: a session fixed before it is worth nothing
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        console.set_cookie(request, response, sid)
        return response

    @r.post("/signout")
    async def signout(request: Request) -> Response:
        user = auth.visitor(request)
        await check_csrf(request, user)
        auth.end_session(request)
        return RedirectResponse("/signin", status_code=303)

    # ---- modules -------------------------------------------------------------------------------------------
    @r.get("/modules")
    def modules_page(request: Request, user: Principal = Depends(auth.console())) -> Response:
        modules = []
        for name in registry.names():
            try:
                versions = registry.versions(name)
                previous = registry.previous(name)
            except MicroGPTError:
                continue
            rows = []
            for v in versions:
                manifest, size = console.manifest(v.path)
                data = manifest.get("data") or {}
                rows.append({
                    "version": v.version, "current": v.current, "task": v.task, "tier": v.tier,
                    "created_at": v.created_at, "metrics": _headline(v.metrics), "size": size,
                    "fingerprint": str(data.get("fingerprint", ""))[:12], "n_examples": data.get("n_examples"),
                    "report": (v.path / "report.html").is_file(),
                })  # fmt: skip
            live = next((v.version for v in versions if v.current), None)
            modules.append({"name": name, "versions": rows, "live": live, "previous": previous})
        return console.render(request, user, "modules.html", {"modules": modules, **flash(user)})

    def version_row(name: str, version: int) -> dict[str, Any]:
        v = next((x for x in registry.versions(name) if x.version == version), None)
        if v is None:
            raise ConsoleError(404, f"module {name!r} has no version {version}", "see the versions on /modules")
        manifest, size = console.manifest(v.path)
        return {"version": v.version, "task": v.task, "tier": v.tier, "created_at": v.created_at,
                "metrics": _headline(v.metrics), "size": size,
                "fingerprint": str((manifest.get("data") or {}).get("fingerprint", ""))[:12]}  # fmt: skip

    def frozen_eval(name: str, version: int) -> dict[str, Any] | None:
        """The version's metrics on `modules/NAME/eval.jsonl` (the frozen evaluation set), cached."""
        from microgpt.lifecycle.retrain import EVAL_FILE

        folder = registry.root / name
        path = next((p for p in (folder / EVAL_FILE, folder / "eval.jsonl") if p.is_file()), None)
        if path is None:  # no frozen set: the retrain gate's (eval-set.jsonl) or a hand-made eval.jsonl
            return None
        key = (name, version, path.stat().st_mtime)
        with compare_lock:
            if key not in compare_cache:
                from microgpt.data.readers import read_examples
                from microgpt.evaluation.report import evaluate

                model = registry.load(name, version)
                data = read_examples(path, task=model.task, min_per_label=0)
                report = evaluate(model, data, write=False, with_cost=False)
                compare_cache[key] = {"n": len(data), "metrics": _headline(report["metrics"]), "file": path.name}
            return compare_cache[key]

    def confirm(request: Request, user: Principal, name: str, action: str, target: int | None) -> Response:
        live = registry.current(name)
        if target is None:
            raise ConsoleError(409, f"module {name!r} has no earlier promoted version", "promote a version instead")
        sides = [version_row(name, v) for v in (live, target) if v is not None]
        evals = [frozen_eval(name, v) for v in (live, target) if v is not None]
        keys = sorted({k for side in sides for k in side["metrics"]} | {k for e in evals if e for k in e["metrics"]})
        ctx = {"name": name, "action": action, "target": target, "live": live, "sides": sides, "evals": evals,
               "metric_keys": keys, "has_eval": any(evals)}  # fmt: skip
        return console.render(request, user, "confirm.html", ctx)

    @r.get("/modules/{name}/promote")
    def promote_page(request: Request, name: str, version: int, user: Principal = Depends(auth.console("admin"))):
        return confirm(request, user, name, "promote", version)

    @r.get("/modules/{name}/rollback")
    def rollback_page(request: Request, name: str, user: Principal = Depends(auth.console("admin"))) -> Response:
        return confirm(request, user, name, "rollback", registry.previous(name))

    @r.post("/modules/{name}/promote")
    async def promote(request: Request, name: str, user: Principal = Depends(auth.console("admin"))) -> Response:
        form = await form_data(request)
        raw = form.get("version", "")
        if not raw.isdigit():
            raise ConsoleError(422, f"version {raw!r} is not a version number", "pick a version on the Modules page")
        version = int(raw)
        before = registry.current(name)
        try:
            registry.promote(name, version)
        except MicroGPTError as err:
            flash(user, f"{err.message} — {err.hint}", "error")
            return RedirectResponse("/modules", status_code=303)
        store.add_audit(user.name, "promote", name, version, detail={"from": before})
        flash(user, f"{name} v{version} is live (was v{before}).")
        return RedirectResponse("/modules", status_code=303)

    @r.post("/modules/{name}/rollback")
    async def rollback(request: Request, name: str, user: Principal = Depends(auth.console("admin"))) -> Response:
        before = registry.current(name)
        try:
            target = registry.rollback(name)
        except MicroGPTError as err:
            flash(user, f"{err.message} — {err.hint}", "error")
            return RedirectResponse("/modules", status_code=303)
        store.add_audit(user.name, "rollback", name, target, detail={"from": before})
        flash(user, f"{name} rolled back to v{target} (was v{before}).")
        return RedirectResponse("/modules", status_code=303)

    @r.get("/modules/{name}/{version}/report")
    def report(name: str, version: int, user: Principal = Depends(auth.console())) -> Response:
        path = registry.path(name, version) / "report.html"
        if not path.is_file():
            raise ConsoleError(404, f"{name} v{version} has no report", f"microgpt evaluate {name} TEST_DATA")
        return FileResponse(path, media_type="text/html")

    # ---- try it --------------------------------------------------------------------------------------------
    @r.get("/try")
    def try_index(request: Request, user: Principal = Depends(auth.console("predict"))) -> Response:
        names = [n for n in registry.names() if _live(registry, n) is not None]
        if len(names) == 1:
            return RedirectResponse(f"/try/{names[0]}", status_code=303)
        return console.render(request, user, "try.html", {"names": names, "name": None})

    def try_ctx(name: str) -> dict[str, Any]:
        try:
            version, model = console.models.get(name)
        except HTTPError as err:  # an unknown or unpromoted module: the page says so, not a JSON body
            raise ConsoleError(err.status, err.message, err.hint) from None
        names = [n for n in registry.names() if _live(registry, n) is not None]
        return {"names": names, "name": name, "version": version, "task": model.task}

    @r.get("/try/{name}")
    def try_page(request: Request, name: str, user: Principal = Depends(auth.console("predict"))) -> Response:
        return console.render(request, user, "try.html", try_ctx(name))

    @r.post("/try/{name}")
    async def try_post(request: Request, name: str, user: Principal = Depends(auth.console("predict"))) -> Response:
        text = (await form_data(request)).get("text", "").strip()
        ctx = try_ctx(name)
        ctx["text"] = text
        if not text:
            ctx["error"] = "Type a text to try."
            return console.render(request, user, "try.html", ctx, status=422)
        _, model = console.models.get(name)
        result = model.results([text])[0]
        ctx["result"] = result.to_json()
        if "spans" in ctx["result"]:  # an extraction: mark its spans in the text
            ctx["segments"] = highlight(text, ctx["result"]["spans"])
        return console.render(request, user, "try.html", ctx)

    @r.get("/try/{name}/stream")
    def try_stream(name: str, text: str, user: Principal = Depends(auth.console("predict"))) -> Response:
        _, model = console.models.get(name)
        if not hasattr(model, "stream"):
            raise ConsoleError(422, f"module {name!r} is a {model.task} module; only repliers stream", "POST the form")
        if not text.strip():
            raise ConsoleError(422, "text is empty", "type a message")
        stream = model.stream(text[:4000])

        def events() -> Iterator[str]:
            for piece in stream:
                yield f"event: token\ndata: {json.dumps({'text': piece}, ensure_ascii=False)}\n\n"
            draft = stream.draft
            done = {"reply": draft.text, "intent": draft.intent, "unfilled": draft.unfilled}
            yield f"event: done\ndata: {json.dumps(done, ensure_ascii=False)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return r


def highlight(text: str, spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text cut into plain and marked pieces ({"text", "label"}), spans in order, overlaps dropped."""
    out, at = [], 0
    for span in sorted(spans, key=lambda s: (s["start"], -s["end"])):
        start, end = int(span["start"]), int(span["end"])
        if start < at or end <= start:
            continue
        if start > at:
            out.append({"text": text[at:start], "label": None})
        out.append({"text": text[start:end], "label": span["label"]})
        at = end
    if at < len(text):
        out.append({"text": text[at:], "label": None})
    return out


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    shown = {k: float(v) for k, v in metrics.items() if k in HEADLINE_METRICS and isinstance(v, (int, float))}
    if not shown:  # a task whose metrics we do not know by name: its first few numbers
        shown = {k: float(v) for k, v in list(metrics.items())[:4] if isinstance(v, (int, float))}
    return shown


def _live(registry: Any, name: str) -> int | None:
    try:
        return registry.current(name)
    except MicroGPTError:
        return None


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute URL (an open redirect) or a protocol-relative one."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/modules"
    return target
