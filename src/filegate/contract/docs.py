"""GET /docs: Swagger UI from the files the swagger-ui-bundle package ships, so it works offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from filegate.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSETS = Path(str(swagger_ui_path))
_SERVED = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# The assets change only with the package: a browser may keep them for a day.
_ASSET_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    base = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{base}/openapi.json",
        title="filegate API",
        swagger_js_url=f"{base}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{base}/docs/assets/swagger-ui.css",
        swagger_favicon_url=f"{base}/docs/assets/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )


# Plain (sync): FastAPI runs it in its thread pool, so reading a 1.5 MB file never blocks the loop.
@router.get("/docs/assets/{name}")
def swagger_asset(name: str) -> Response:
    media_type = _SERVED.get(name)
    if media_type is None:
        raise NotFound(f"the docs have no file named {name!r}")
    return Response((ASSETS / name).read_bytes(), media_type=media_type, headers=_ASSET_HEADERS)
