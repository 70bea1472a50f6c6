"""GET /licence: the licence's state and limits, for the admin and for any caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from filegate.auth.service import Unauthorized
from filegate.deps import AuthServiceDep, get_principal

router = APIRouter(tags=["licence"])


@router.get("/licence")
async def licence_state(
    request: Request, auth: AuthServiceDep, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """Status (community, valid, expired, invalid), why, the licensee, expiry and limits."""
    try:
        auth.require_admin(authorization)
    except Unauthorized:  # not the admin: any caller, by bearer token or session cookie
        await get_principal(request, authorization)
    state: dict[str, Any] = request.app.state.licence.state().public()
    return state
