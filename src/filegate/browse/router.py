"""GET /browse: one level of a folder of the source store."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["browse"])
