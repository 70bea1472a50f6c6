"""Apps (admin), users (admin or their app), login, logout and who-am-I."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from filegate.auth.principal import PrincipalKind, normalise_scopes
from filegate.auth.service import SESSION_COOKIE, Unauthorized
from filegate.deps import AuthServiceDep, PrincipalDep, RateLimiterDep, SettingsDep, get_principal
from filegate.errors import Forbidden, InvalidRequest
from filegate.settings import Settings
from filegate.state.queue import Priority

router = APIRouter(tags=["auth"])
AuthorizationHeader = Annotated[str | None, Header()]


class AppRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="A name for people to recognise.")
    scopes: list[str] = Field(
        min_length=1, max_length=100, description="Path prefixes the app may read; '' or '/' is everything."
    )
    max_priority: Priority = Field(Priority.NORMAL, description="The highest priority its requests may ask.")


class UserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    scopes: list[str] | None = Field(
        None, max_length=100, description="Narrower than the app's; omitted: the app's own."
    )
    app_id: str | None = Field(None, description="The app the user belongs to (the admin only).")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)
    session: Literal["token", "cookie"] = Field(
        "token",
        description="'token': the session token in the answer, sent back as a bearer token; "
        "'cookie': an HttpOnly cookie instead (for a page on this origin), with a csrf_token that "
        "state-changing requests send in the X-Filegate-CSRF header.",
    )


@router.post("/apps", status_code=201)
async def create_app(
    body: AppRequest, auth: AuthServiceDep, authorization: AuthorizationHeader = None
) -> Any:
    """Register an app; its API key is in this answer and never shown again."""
    auth.require_admin(authorization)
    return await auth.create_app(body.name.strip(), normalise_scopes(body.scopes), body.max_priority)


@router.get("/apps")
async def list_apps(auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    auth.require_admin(authorization)
    return {"apps": await auth.list_apps()}


@router.get("/apps/{app_id}")
async def get_app(app_id: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    auth.require_admin(authorization)
    return (await auth.app(app_id)).public()


@router.post("/apps/{app_id}/key")
async def rotate_key(app_id: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None) -> Any:
    """A new API key for the app; the old one stops working at once."""
    auth.require_admin(authorization)
    return await auth.rotate_key(app_id)


@router.delete("/apps/{app_id}")
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


@router.post("/users", status_code=201)
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


@router.delete("/users/{username}", status_code=204)
async def delete_user(
    username: str, auth: AuthServiceDep, authorization: AuthorizationHeader = None
) -> Response:
    await auth.delete_user(await _managing_app(auth, authorization), username)
    return Response(status_code=204)


@router.post("/auth/login")
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


@router.post("/auth/logout", status_code=204)
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


@router.get("/auth/me")
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
