"""GET /licence: the licence's state and limits, for the admin and for any caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from filegate.auth.service import Unauthorized
from filegate.contract.responses import CALLER, errors, security
from filegate.deps import AuthServiceDep, get_principal
from filegate.licence.schemas import LicenceInfo

router = APIRouter(tags=["licence"])


@router.get(
    "/licence",
    response_model=LicenceInfo,
    response_model_exclude_unset=True,
    summary="The licence's state and limits",
    operation_id="get_licence",
    openapi_extra=security(CALLER),
    responses=errors(401, 422, 503),
)
async def licence_state(
    request: Request,
    auth: AuthServiceDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict[str, Any]:
    """Status (community, valid, expired, invalid), why, the licensee, expiry and limits."""
    try:
        auth.require_admin(authorization)
    except Unauthorized:  # not the admin: any caller, by bearer token or session cookie
        await get_principal(request, authorization)
    state: dict[str, Any] = request.app.state.licence.state().public()
    return state
