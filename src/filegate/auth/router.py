"""Apps (admin), users (admin or their app), login, logout and who-am-I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from filegate.auth.principal import PrincipalKind, normalise_scopes
from filegate.auth.schemas import (
    AppInfo,
    AppList,
    AppRequest,
    AppWithKey,
    Caller,
    CookieSession,
    LoginRequest,
    TokenSession,
    UserInfo,
    UserRequest,
)
from filegate.auth.service import SESSION_COOKIE, Unauthorized
from filegate.contract.responses import ADMIN, CALLER, PUBLIC, errors, security
from filegate.deps import AuthServiceDep, PrincipalDep, RateLimiterDep, SettingsDep, get_principal
from filegate.errors import Forbidden, InvalidRequest
from filegate.settings import Settings

router = APIRouter(tags=["auth"])
# Documented as the security scheme (contract/openapi.py), not as a parameter of its own.
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


@router.post(
    "/apps",
    status_code=201,
    response_model=AppWithKey,
    summary="Register an app (admin)",
    operation_id="create_app",
    openapi_extra=security(ADMIN),
    responses=errors(400, 401, 413, 422, 503),
)
async def create_app(
    body: AppRequest, auth: AuthServiceDep, authorization: AuthorizationHeader = None
) -> Any:
    """Register an app; its API key is in this answer and never shown again."""
    auth.require_admin(authorization)
    return await auth.create_app(body.name.strip(), normalise_scopes(body.scopes), body.max_priority)


@router.get(
    "/apps",
    response_model=AppList,
    summary="List the apps (admin)",
    operation_id="list_apps",
    openapi_extra=security(ADMIN),
    responses=errors(401, 422, 503),
)
async def list_apps(auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    auth.require_admin(authorization)
    return {"apps": await auth.list_apps()}


@router.get(
    "/apps/{app_id}",
    response_model=AppInfo,
    summary="One app (admin)",
    operation_id="get_app",
    openapi_extra=security(ADMIN),
    responses=errors(401, 404, 422, 503),
)
async def get_app(app_id: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    auth.require_admin(authorization)
    return (await auth.app(app_id)).public()


@router.post(
    "/apps/{app_id}/key",
    response_model=AppWithKey,
    summary="Give an app a new API key (admin)",
    operation_id="rotate_app_key",
    openapi_extra=security(ADMIN),
    responses=errors(401, 404, 409, 422, 503),
)
async def rotate_key(app_id: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    """A new API key for the app; the old one stops working at once."""
    auth.require_admin(authorization)
    return await auth.rotate_key(app_id)


@router.delete(
    "/apps/{app_id}",
    response_model=AppInfo,
    summary="Revoke an app (admin)",
    operation_id="revoke_app",
    openapi_extra=security(ADMIN),
    responses=errors(401, 404, 422, 503),
)
async def revoke_app(app_id: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    """Revoke the app: its key, its users' logins and sessions stop working."""
    auth.require_admin(authorization)
    return await auth.revoke_app(app_id)


async def _managing_app(auth: AuthServiceDep, authorization: str | None) -> str | None:
    """None for the admin, else the calling app's id; a user may not manage users."""
    try:
        auth.require_admin(authorization)
        return None
    except Unauthorized:  # not the admin: it must be an app
        principal = await auth.principal(authorization)
    if principal.kind is not PrincipalKind.APP:
        raise Forbidden("only the admin or an app (with its API key) manages users")
    return principal.app_id


@router.post(
    "/users",
    status_code=201,
    response_model=UserInfo,
    summary="Create a user of an app (admin or the app)",
    operation_id="create_user",
    openapi_extra=security(ADMIN),
    responses=errors(400, 401, 403, 404, 409, 413, 422, 503),
)
async def create_user(
    body: UserRequest, auth: AuthServiceDep, authorization: AuthorizationHeader = None
) -> Any:
    """A user of an app: the calling app's, or for the admin the one named in ``app_id``."""
    caller = await _managing_app(auth, authorization)
    if caller is None and not body.app_id:
        raise InvalidRequest("the admin names the user's app in 'app_id'", field="app_id")
    if caller is not None and body.app_id not in (None, caller):
        raise Forbidden("an app creates users for itself only", field="app_id")
    scopes = None if body.scopes is None else normalise_scopes(body.scopes)
    return await auth.create_user(caller or body.app_id or "", body.username, body.password, scopes)


@router.delete(
    "/users/{username}",
    status_code=204,
    response_class=Response,
    summary="Delete a user (admin or its app)",
    operation_id="delete_user",
    openapi_extra=security(ADMIN),
    responses={204: {"description": "Deleted; its sessions end at once."}, **errors(401, 403, 404, 422, 503)},
)
async def delete_user(
    username: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None
) -> Response:
    await auth.delete_user(await _managing_app(auth, authorization), username)
    return Response(status_code=204)


@router.post(
    "/auth/login",
    response_model=TokenSession | CookieSession,
    summary="Log in with a user name and password",
    operation_id="login",
    openapi_extra=security(PUBLIC),
    responses={
        200: {"description": 'A session token; with `"session": "cookie"`, a cookie and a csrf_token.'},
        **errors(400, 401, 413, 422, 429, 503),
    },
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    auth: AuthServiceDep,
    limiter: RateLimiterDep,
    settings: SettingsDep,
) -> Any:
    """A session token for a user name and password."""
    address = request.client.host if request.client else "unknown"
    await limiter.hit("login", address, settings.rate_logins)
    session = await auth.login(body.username, body.password, address)
    if body.session == "token":
        return session
    token = session["access_token"]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=session["expires_in"],
        path="/",
        httponly=True,
        samesite="strict",
        secure=_is_https(request, settings),
    )
    return {"token_type": "cookie", "expires_in": session["expires_in"], "csrf_token": auth.csrf_token(token)}


def _is_https(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.effective_public_url.startswith("https://")


@router.post(
    "/auth/logout",
    status_code=204,
    response_class=Response,
    summary="End the session",
    operation_id="logout",
    openapi_extra=security(CALLER),
    responses={204: {"description": "Ended."}, **errors(401, 403, 422, 503)},
)
async def logout(
    request: Request, auth: AuthServiceDep, settings: SettingsDep, authorization: AuthorizationHeader = None
) -> Response:
    """End the session at once: the next call with its token (or cookie) is 401."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if authorization is not None or not cookie:
        await auth.logout(authorization)
        return Response(status_code=204)
    await get_principal(request, authorization)  # the cookie needs its CSRF header here too
    await auth.end_session(cookie)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_is_https(request, settings)
    )
    return response


@router.get(
    "/auth/me",
    response_model=Caller,
    response_model_exclude_unset=True,
    summary="Who is calling",
    operation_id="get_caller",
    openapi_extra=security(CALLER),
    responses=errors(401, 422, 503),
)
async def me(request: Request, principal: PrincipalDep, auth: AuthServiceDep) -> dict[str, Any]:
    """Who is calling; with the session cookie, also the csrf_token a reloaded page needs again."""
    answer: dict[str, Any] = {
        "kind": principal.kind.value,
        "id": principal.id,
        "name": principal.name,
        "app_id": principal.app_id,
        "scopes": list(principal.scopes),
        "max_priority": principal.max_priority.value,
    }
    cookie = request.state.session_cookie
    if cookie:
        answer["csrf_token"] = auth.csrf_token(cookie)
    return answer
