"""CORS for the origins in FILEGATE_CORS_ORIGINS, with refusals in filegate's JSON error body."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from filegate.auth.service import CSRF_HEADER

_BODY_HEADERS = ("content-length", "content-type")


class FilegateCORS(CORSMiddleware):
    """Starlette's CORS, credentials allowed for listed origins and never with '*'."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_credentials="*" not in origins,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", CSRF_HEADER],
            expose_headers=["Content-Disposition", "Content-Length", "Retry-After", "ETag"],
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        # Browsers refuse either way; a person reading the answer learns what was not allowed.
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        body = {
            "error": "cors_refused",
            "detail": f"this cross-origin request is not allowed: its {refused} (see FILEGATE_CORS_ORIGINS)",
        }
        kept = {name: value for name, value in response.headers.items() if name not in _BODY_HEADERS}
        return Response(json.dumps(body), status_code=400, headers=kept, media_type="application/json")
