"""The answer of GET /licence (also part of /health/ready's)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from filegate.licence.check import LicenceStatus


class LicenceLimits(BaseModel):
    max_concurrent_builds: int
    max_archive_size: int = Field(description="Bytes.")
    features: list[str]


class LicenceInfo(BaseModel):
    status: LicenceStatus
    limits: LicenceLimits
    reason: str | None = Field(None, description="Why it is not valid; absent when it is.")
    licensee: str | None = Field(None, description="Absent without a licence (community).")
    licence_id: str | None = None
    expires: datetime | None = None
