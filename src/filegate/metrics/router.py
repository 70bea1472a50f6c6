"""GET /metrics: the Prometheus text page, for the scraper only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from filegate.deps import SettingsDep
from filegate.metrics.http import HttpMetrics
from filegate.metrics.service import authorize_scrape, render_metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """This process's request metrics and the cluster-wide figures read from Redis."""
    authorize_scrape(settings.metrics_token, authorization, request.client.host if request.client else None)
    http_metrics: HttpMetrics = request.app.state.http_metrics
    body = await render_metrics(request.app.state.redis, http_metrics, settings.space_budget)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
