"""The answers of GET /health and /health/ready."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from filegate.licence.schemas import LicenceInfo


class Alive(BaseModel):
    status: Literal["ok"]


class CheckResult(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, CheckResult] = Field(description="Each dependency by name: redis, broker, stores, ….")
    failing: list[str] = Field(description="The names of the failing checks, sorted.")
    licence: LicenceInfo = Field(description="Reported only: an invalid licence does not make it unready.")
    sse_listeners: int = Field(description="Event-stream listeners this process serves.")
