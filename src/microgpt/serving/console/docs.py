"""`/docs` without the internet: Swagger UI from the `swagger-ui-bundle` package, the bearer-key security scheme
declared (an Authorize button), and the real error body `{error, hint}` documented for every error status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ERRORS = {
    "401": "missing or invalid API key",
    "403": "the key lacks the route's scope (predict, review or admin)",
    "404": "no such module, version or review item",
    "409": "the review item is already resolved",
    "413": "request body, batch or text over the server's limit",
    "422": "the request does not match the schema, or a label/option is unknown",
}
ASSETS = "/docs-assets"
# Request examples that work as sent: one of `text` / `texts`, never both (the schema alone shows every field).
EXAMPLES = {
    ("/v1/modules/{name}/predict", "post"): {
        "one text": {"value": {"text": "where is my parcel? it was due on Monday"}},
        "a batch": {"value": {"texts": ["I was charged twice", "cannot log in since the update"]}},
    },
    ("/v1/modules/{name}/feedback", "post"): {
        "a correction by request id": {"value": {"prediction_id": "REQUEST_ID", "label": "billing"}},
        "a new labelled text": {"value": {"text": "I was charged twice", "label": "billing"}},
    },
    ("/v1/review/{item_id}/resolve", "post"): {"one label": {"value": {"label": "billing"}}},
}


def install(app: FastAPI, guard: list[Any]) -> None:
    """Serve /docs with local Swagger UI (FastAPI's own loads it from a CDN), behind `guard` (the API's key check).
    /redoc is not served: it has no offline assets here."""
    replaced = {"/docs", "/docs/oauth2-redirect", "/redoc"}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in replaced]
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # the dependency is declared; a broken install still gets a page that says what to do
        swagger_ui_path = None

    if swagger_ui_path is not None:
        app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False, dependencies=guard)  # keeps whatever guard the app put on /docs
    def docs() -> HTMLResponse:
        if swagger_ui_path is None:
            return HTMLResponse("<p>Swagger UI is not installed: <code>pip install swagger-ui-bundle</code></p>", 503)
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_ui_parameters={"persistAuthorization": False},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = with_security(original())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_security(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `microgpt keys create NAME --scope predict` (needed once any key exists).",
    }
    components.setdefault("schemas", {})["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "hint": {"type": ["string", "null"]}},
        "example": {"error": "no module named 'routr'; available: router", "hint": "microgpt modules list"},
    }
    for path, operations in schema.get("paths", {}).items():
        if not (path.startswith("/v1/") or path == "/metrics"):
            continue
        for method, op in operations.items():
            op["security"] = [{"bearer": []}]
            examples = EXAMPLES.get((path, method))
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if examples and body is not None:
                body["examples"] = examples
            responses = op.setdefault("responses", {})
            for status, words in ERRORS.items():
                responses[status] = {
                    "description": words,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
    return schema
