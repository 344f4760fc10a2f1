"""The web console at `/`: modules, try it, the review queue, data → model, activity; and `/docs` served offline.

`install_console(app, store, models)` is the one call `create_app` makes. Pages are server-rendered Jinja2 templates
over the same Store / Registry / Models the REST routes use; every asset ships in this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from microgpt.serving.auth import Auth, ConsoleError, ScopeGuard
from microgpt.serving.models import Models
from microgpt.serving.state import authorize
from microgpt.store.db import Store

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI, store: Store, models: Models, fallback: Any = None) -> Auth:
    """Add the console's routes, its static files, offline `/docs`, and key scopes on the REST routes; `fallback`
    (the server's FallbackConfig, or None) is what bulk retries of failed escalations ask."""
    from microgpt.serving.console import activity, data, docs, pages, review
    from microgpt.serving.console.web import Console

    auth = Auth(store)
    console = Console(auth, store, models, fallback)
    app.add_middleware(ScopeGuard, auth=auth)
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    for module in (pages, review, data, activity):
        app.include_router(module.router(console))
    docs.install(app, [Depends(authorize)])

    @app.exception_handler(ConsoleError)
    async def _console_auth(request: Request, err: ConsoleError) -> Response:
        if err.status == 303 and err.location:
            return RedirectResponse(err.location, status_code=303)
        if not request.headers.get("accept", "").startswith("text/html"):
            return JSONResponse({"error": err.message, "hint": err.hint}, status_code=err.status)
        user: Any = None
        try:
            user = auth.visitor(request)
        except Exception:  # an error page must render whatever the session state
            user = None
        html = console.render_html(request, user, "error.html", {"status": err.status, "err": err})
        return HTMLResponse(html, status_code=err.status)

    return auth
