"""The OpenAPI document: FastAPI's, with the security schemes the routes refer to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

API_DESCRIPTION = (
    "Every error answer (4xx, 5xx) is one `Error` body: `error` (a code), `detail` (for people) and, "
    "where they apply, `field`, `paths`, `errors`. Authenticate with `Authorization: Bearer <token>` "
    "(or the page's session cookie). `status_url`, `result_url` and `events_url` carry a signed "
    "`access` parameter and work with no header. See docs/api.md for the whole story."
)


def _drop_untyped_json(document: dict[str, Any]) -> None:
    """An event stream's or a file's 200 is that media type only: FastAPI also lists an
    application/json of no schema for it, which would tell client generators to parse it as JSON."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                content = answer.get("content", {})
                if (
                    status.startswith("2")
                    and len(content) > 1
                    and content.get("application/json") == {"schema": {}}
                ):
                    del content["application/json"]


TAGS = [
    {"name": "tickets", "description": "Ask for a download, follow it, fetch its parts, cancel it."},
    {"name": "browse", "description": "List the source store, one folder level at a time."},
    {"name": "links", "description": "The local store's signed download links (Range supported)."},
    {"name": "auth", "description": "Apps, users and sessions."},
    {"name": "licence", "description": "The licence's state and limits."},
    {"name": "health", "description": "Liveness and readiness."},
]


def build_openapi(app: FastAPI, security_schemes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The document, built once per process (FastAPI keeps it in ``app.openapi_schema``), with the
    schemes that the routes' ``security`` name."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=TAGS,
        )
        document.setdefault("components", {})["securitySchemes"] = security_schemes
        _drop_untyped_json(document)
        app.openapi_schema = document
    return app.openapi_schema
