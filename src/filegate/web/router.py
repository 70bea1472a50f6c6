"""GET / and /ui/...: the page and its assets, with the headers a browser should be held to."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, Request, Response

from filegate.errors import NotFound

router = APIRouter(tags=["page"], include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (cheap with the ETag): a new release shows at the next reload.
    "Cache-Control": "no-cache",
}


def _asset(name: str, request: Request) -> Response:
    """One file of static/ by its plain name; 304 when the browser holds the same bytes."""
    path = STATIC_DIR / name
    media_type = MEDIA_TYPES.get(path.suffix)
    # Plain names only: nothing outside static/, no hidden files, only the kinds the page uses.
    if "/" in name or name.startswith(".") or media_type is None or not path.is_file():
        raise NotFound(f"the page has no file named {name!r}")
    content = path.read_bytes()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {**PAGE_HEADERS, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


# Plain (sync) routes: FastAPI runs them in its thread pool, so reading a file never blocks the loop.
@router.api_route("/", methods=["GET", "HEAD"])
def page(request: Request) -> Response:
    return _asset("index.html", request)


@router.api_route("/ui/{name}", methods=["GET", "HEAD"])
def page_asset(name: str, request: Request) -> Response:
    return _asset(name, request)
