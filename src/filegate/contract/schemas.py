"""The one error body every 4xx and 5xx answer carries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FieldError(BaseModel):
    field: str = Field(
        description="The field as the caller wrote it: 'paths[0]', 'limit'.", examples=["paths"]
    )
    message: str = Field(examples=["Field required"])


class Error(BaseModel):
    """``error`` is a code for programs, ``detail`` a sentence for people; the other fields name
    what is at fault and are present only when they apply. Some answers carry more (``app_id``,
    ``username``, ``ticket_id``, ``licence``), hence additional properties."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(
        description="A stable code: 'not_found', 'invalid_request', ….", examples=["not_found"]
    )
    detail: str = Field(examples=["1 of the requested paths do not exist"])
    field: str | None = Field(None, description="The request field at fault.", examples=["paths"])
    paths: list[str] | None = Field(None, description="The paths at fault.", examples=[["reports/2024.pdf"]])
    errors: list[FieldError] | None = Field(None, description="Each schema error (422 only).")
    state: dict[str, Any] | None = Field(
        None, description="The ticket's state, when it is not in one for this."
    )
    retry_after: int | None = Field(None, description="Seconds to wait (429; also in Retry-After).")
    expired_at: int | None = Field(None, description="When the link or URL expired (Unix time).")
