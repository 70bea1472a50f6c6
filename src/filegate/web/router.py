"""GET / and /ui/...: the page and its assets."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["page"], include_in_schema=False)
