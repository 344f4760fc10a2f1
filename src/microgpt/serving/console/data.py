"""Data → model: upload a CSV/JSONL, map its columns over a preview, see the reader's row errors inline, train nano
as a background job (progress over server-sent events), evaluate it on a held-out split, add it as a new version.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from microgpt.errors import DataError, MicroGPTError
from microgpt.serving.auth import ConsoleError, Principal, form_data
from microgpt.serving.console.web import Console

SUFFIXES = (".csv", ".tsv", ".jsonl")
MAX_ROW_ERRORS = 20  # re-reads to find more bad rows after the first; past this the page says "and more"
PREVIEW_ROWS = 8
UPLOAD_SECONDS = 24 * 3600  # an upload outlives the session that made it by a margin, then it is deleted
TRAINABLE = ("classify", "tag")  # the label tasks: a text column and a label column are all they need


@dataclass
class Job:
    """One training run in a background thread; `percent` and `stage` are what the page shows."""

    id: str
    module: str
    user: str
    stage: str = "queued"
    percent: int = 0
    done: bool = False
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def event(self) -> dict[str, Any]:
        return {"percent": self.percent, "stage": self.stage, "error": self.error, **self.result}


def router(console: Console) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    auth, registry, store = console.auth, console.registry, console.store
    uploads = registry.home / "uploads"
    jobs: dict[str, Job] = {}
    one_at_a_time = threading.Lock()  # two cores: one training job at a time keeps the server answering

    def upload_path(user: Principal, token: str) -> Path:
        path = auth.session_data(user).get("uploads", {}).get(token)
        if path is None or not Path(path).is_file():
            raise ConsoleError(404, "that upload is gone (uploads last for your session)", "upload the file again")
        return Path(path)

    @r.get("/data")
    def data_page(request: Request, user: Principal = Depends(auth.console("admin"))) -> Response:
        return console.render(request, user, "data.html", {"jobs": sorted(jobs.values(), key=lambda j: -j.started)})

    @r.post("/data/upload")
    async def upload(request: Request, user: Principal = Depends(auth.console("admin"))) -> Response:
        form = await form_data(request)
        name = Path(form.get("filename", "data.csv")).name
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            ctx = {"error": f"{name}: MicroGPT reads .csv, .tsv and .jsonl files", "jobs": []}
            return console.render(request, user, "data.html", ctx, status=422)
        _forget_old_uploads(uploads)
        token = secrets.token_hex(12)
        path = uploads / token / re.sub(r"[^A-Za-z0-9_.-]", "_", name)  # a folder per upload: the name stays the user's
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(form.get("content", ""), encoding="utf-8")
        auth.session_data(user).setdefault("uploads", {})[token] = str(path)
        return RedirectResponse(f"/data/map/{token}", status_code=303)

    @r.get("/data/map/{token}")
    def map_page(
        request: Request,
        token: str,
        task: str = "classify",
        text_col: str | None = None,
        label_col: str | None = None,
        user: Principal = Depends(auth.console("admin")),
    ) -> Response:
        path = upload_path(user, token)
        columns, preview = _preview(path)
        from microgpt.data.readers import LABEL_COLUMNS, TEXT_COLUMNS

        text_col = text_col or _guess(columns, TEXT_COLUMNS)
        label_col = label_col or _guess(columns, LABEL_COLUMNS, exclude=text_col)
        errors, n_ok, problem = row_errors(path, task, text_col, label_col)
        bad = {e["line"] for e in errors}
        module = re.sub(r"[^a-z0-9_-]", "-", path.stem.lower()).strip("-_")[:64]
        ctx = {"token": token, "filename": path.name, "columns": columns, "preview": preview,
               "text_col": text_col, "label_col": label_col, "task": task, "errors": errors, "bad": bad, "n_ok": n_ok,
               "problem": problem, "module": module or "module", "retrainable": retrainable(task)}  # fmt: skip
        return console.render(request, user, "map.html", ctx)

    def retrainable(task: str) -> list[str]:
        """Live modules of this task: the upload can be their base data for a gated retrain."""
        out = []
        for name in registry.names():
            try:
                live = [v for v in registry.versions(name) if v.current]
            except MicroGPTError:
                continue
            if live and live[0].task == task:
                out.append(name)
        return out

    @r.post("/data/train")
    async def train(request: Request, user: Principal = Depends(auth.console("admin"))) -> Response:
        form = await form_data(request)
        path = upload_path(user, form.get("token", ""))
        task, text_col, label_col = form.get("task", "classify"), form.get("text_col"), form.get("label_col")
        name = form.get("module", "").strip()
        from microgpt.store.registry import check_name

        check_name(name)
        if task not in TRAINABLE:
            raise ConsoleError(422, f"the console trains classify and tag modules, not {task!r}", "use microgpt train")
        job = Job(secrets.token_urlsafe(8), name, user.name)
        start_job(job, lambda step, progress, tmp: train_new(job, step, progress, tmp, path, task, text_col, label_col))
        return RedirectResponse(f"/data/jobs/{job.id}", status_code=303)

    @r.post("/data/retrain")
    async def retrain(request: Request, user: Principal = Depends(auth.console("admin"))) -> Response:
        form = await form_data(request)
        path = upload_path(user, form.get("token", ""))
        text_col, label_col, name = form.get("text_col"), form.get("label_col"), form.get("module", "").strip()
        if registry.current(name) is None:
            raise ConsoleError(404, f"module {name!r} has no live version to retrain", "train a new module instead")
        job = Job(secrets.token_urlsafe(8), name, user.name)
        start_job(job, lambda step, progress, tmp: retrain_gated(job, step, progress, tmp, path, text_col, label_col))
        return RedirectResponse(f"/data/jobs/{job.id}", status_code=303)

    def start_job(job: Job, work: Any) -> None:
        """Run `work(step, progress, tmp)` in a thread; its return value is the job's result. One job at a time."""
        if not one_at_a_time.acquire(blocking=False):
            raise ConsoleError(409, "a training job is already running", "wait for it to finish (see Data → model)")
        jobs[job.id] = job

        def step(stage: str, percent: int) -> None:
            job.stage, job.percent = stage, percent

        def progress(stage: str, done: int, total: int) -> None:  # the engine's steps fill 15–80%
            step(f"training: {stage}", 15 + int(65 * done / max(total, 1)))

        def run() -> None:
            tmp = Path(tempfile.mkdtemp(prefix="console-train-"))
            try:
                job.result = work(step, progress, tmp)
                step("done", 100)
            except MicroGPTError as err:
                job.error = f"{err.message}" + (f" — {err.hint}" if err.hint else "")
                job.stage = "failed"
            except Exception as err:  # a job must end with a message, not a silent thread
                job.error, job.stage = f"training failed: {err}", "failed"
            finally:
                job.done = True
                shutil.rmtree(tmp, ignore_errors=True)
                one_at_a_time.release()

        try:
            threading.Thread(target=run, name=f"microgpt-train-{job.id}", daemon=True).start()
        except BaseException:
            one_at_a_time.release()
            raise

    def train_new(job: Job, step: Any, progress: Any, tmp: Path, path: Path, task: str, text_col: str | None,
                  label_col: str | None) -> dict[str, Any]:  # fmt: skip
        """Train nano on the upload (less its bad rows), evaluate on a held-out fifth, add as the next version."""
        from microgpt.api import train
        from microgpt.data.readers import read_examples
        from microgpt.data.splits import train_test_split
        from microgpt.evaluation.report import evaluate

        step("reading the data", 5)
        clean = _without_bad_rows(path, task, text_col, label_col, tmp)
        data = read_examples(clean, task=task, text_col=text_col, label_col=label_col)
        trainset, test = train_test_split(data, 0.2, seed=0) if len(data) >= 10 else (data, None)
        step("training", 15)
        model = train(trainset, task=task, tier="nano", out=tmp / "module", progress=progress)
        step("evaluating on the held-out split", 85)
        metrics: dict[str, Any] = {}
        if test is not None and len(test):
            metrics = evaluate(model, test, out_dir=tmp / "module", with_cost=False)["metrics"]
        step("adding to the registry", 95)
        version = registry.add(tmp / "module", job.module)
        store.add_audit(job.user, "train", job.module, version, detail={"examples": len(data)})
        headline = {k: v for k, v in metrics.items() if k in ("accuracy", "macro_f1", "micro_f1")}
        words = ", ".join(f"{k} {v:.3f}" for k, v in headline.items()) or "no held-out split (under 10 rows)"
        live = registry.current(job.module) == version
        held_out = len(test) if test else 0
        summary = f"{job.module} v{version}: {len(trainset)} training examples, {held_out} held out; {words}"
        return {
            "version": version,
            "summary": summary + (" — live now" if live else " — promote it on Modules"),
            "report": f"/modules/{job.module}/{version}/report" if metrics else None,
        }

    def retrain_gated(job: Job, step: Any, progress: Any, tmp: Path, path: Path, text_col: str | None,
                      label_col: str | None) -> dict[str, Any]:  # fmt: skip
        """`microgpt retrain`: the upload plus the store's corrections → a new version, promoted only if it is
        not worse on the module's frozen evaluation set."""
        from microgpt.data.readers import read_examples
        from microgpt.lifecycle.retrain import EVAL_FILE
        from microgpt.lifecycle.retrain import retrain as gated

        step("reading the data", 5)
        task = next((v.task for v in registry.versions(job.module) if v.current), "classify")
        clean = _without_bad_rows(path, task, text_col, label_col, tmp)
        base = read_examples(clean, task=task, text_col=text_col, label_col=label_col, min_per_label=0)
        folder = registry.root / job.module
        first_freeze = folder / "eval.jsonl" if not (folder / EVAL_FILE).exists() else None
        step("training with the corrections", 15)
        result = gated(job.module, base, eval_data=first_freeze if first_freeze and first_freeze.exists() else None,
                       registry=registry, store=store, progress=progress)  # fmt: skip
        store.add_audit(job.user, "retrain", job.module, result.new_version,
                        detail={"promoted": result.promoted, "why": result.why})  # fmt: skip
        verdict = "promoted: it is live now" if result.promoted else f"not promoted: v{result.old_version} stays live"
        return {
            "version": result.new_version,
            "summary": f"{job.module} v{result.new_version} ({result.n_corrections} corrections, {result.n_train} "
            f"training texts) — {verdict}; {result.why}",
            "report": None,
        }

    @r.get("/data/jobs/{job_id}")
    def job_page(request: Request, job_id: str, user: Principal = Depends(auth.console("admin"))) -> Response:
        job = jobs.get(job_id)
        if job is None:
            raise ConsoleError(404, f"no training job {job_id!r} (jobs last until the server restarts)", "see /data")
        return console.render(request, user, "job.html", {"job": job})

    @r.get("/data/jobs/{job_id}/events")
    def job_events(job_id: str, user: Principal = Depends(auth.console("admin"))) -> Response:
        job = jobs.get(job_id)
        if job is None:
            raise ConsoleError(404, f"no training job {job_id!r}", "see /data")

        def events() -> Iterator[str]:
            last = None
            for _ in range(36_000):  # 0.1 s apart: an hour at most, then the page can reload
                now = job.event()
                if job.done:
                    yield f"event: done\ndata: {json.dumps(now)}\n\n"
                    return
                if now != last:
                    yield f"event: progress\ndata: {json.dumps(now)}\n\n"
                    last = now
                time.sleep(0.1)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return r


def _forget_old_uploads(uploads: Path, max_age_s: float = UPLOAD_SECONDS) -> None:
    """Delete uploads older than a session (their tokens have expired with it)."""
    if not uploads.is_dir():
        return
    cutoff = time.time() - max_age_s
    for folder in uploads.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _guess(columns: list[str], candidates: tuple[str, ...], exclude: str | None = None) -> str | None:
    lower = {c.lower(): c for c in columns if c != exclude}
    return next((lower[c] for c in candidates if c in lower), columns[0] if columns and exclude is None else None)


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number as the reader counts it, the row or None when unparsable, the raw record) for each record."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                yield n, row if isinstance(row, dict) else None, line
        return
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        for row in reader:
            yield reader.line_num, {k: v for k, v in row.items() if k is not None}, ""
    except csv.Error:
        return


def _preview(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    columns: list[str] = []
    rows = []
    for line, row, _ in _records(path):
        if row is not None:
            columns += [c for c in row if c not in columns]
        rows.append({"line": line, "cells": row or {}})
        if len(rows) >= PREVIEW_ROWS:
            break
    return columns, rows


def row_errors(
    path: Path, task: str, text_col: str | None, label_col: str | None
) -> tuple[list[dict[str, Any]], int, str | None]:
    """Every bad row the reader finds (up to MAX_ROW_ERRORS), the number of good rows, and a whole-file problem.

    The reader stops at the first bad row; dropping that row and reading again finds the next, so each message is
    the reader's own (what `microgpt train` would say), with its row number.
    """
    from microgpt.data.readers import read_examples

    errors: list[dict[str, Any]] = []
    current = path
    with tempfile.TemporaryDirectory(prefix="console-rows-") as tmp:
        for attempt in range(MAX_ROW_ERRORS + 1):
            try:
                data = read_examples(current, task=task, text_col=text_col, label_col=label_col)
                return errors, len(data), None
            except DataError as err:
                match = re.search(re.escape(current.name) + r":(\d+)\b", err.message)
                line = int(match.group(1)) if match else None
                if line is None or attempt == MAX_ROW_ERRORS:
                    return errors, 0, f"{err.message} — {err.hint}" if err.hint else err.message
                errors.append({"line": line, "message": err.message.replace(current.name, path.name), "hint": err.hint})
                current = _drop(current, {line}, Path(tmp) / f"{attempt}{path.suffix}")
    return errors, 0, None


def _drop(path: Path, lines: set[int], out: Path) -> Path:
    """A copy of `path` without the records ending at `lines` (line numbers as the reader counts them).

    Line numbers stay the original file's: dropped records become blank lines (CSV) or empty lines (JSONL),
    which the reader passes over.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".jsonl":
        kept = ["" if n in lines else line for n, line in enumerate(text.splitlines(), start=1)]
        out.write_text("\n".join(kept) + "\n", encoding="utf-8")
        return out
    physical = text.splitlines(keepends=True)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    start = 1
    blank: set[int] = set()
    for _ in reader:
        end = reader.line_num
        if end in lines:
            blank.update(range(start, end + 1))
        start = end + 1
    out.write_text("".join("\n" if i in blank else line for i, line in enumerate(physical, 1)), encoding="utf-8")
    return out


def _without_bad_rows(path: Path, task: str, text_col: str | None, label_col: str | None, tmp: Path) -> Path:
    errors, _, problem = row_errors(path, task, text_col, label_col)
    if problem:
        raise DataError(problem, hint="fix the file or the column mapping and upload again")
    return _drop(path, {e["line"] for e in errors}, tmp / f"clean{path.suffix}") if errors else path
