"""Request and response bodies of the apps, users and sessions endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from filegate.auth.principal import PrincipalKind
from filegate.auth.service import CSRF_HEADER, SESSION_COOKIE
from filegate.contract.responses import BEARER, SESSION_COOKIE_SCHEME
from filegate.state.queue import Priority


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


class AppInfo(BaseModel):
    app_id: str
    name: str
    scopes: list[str]
    max_priority: Priority
    created_at: float = Field(description="Unix time.")
    revoked: bool


class AppWithKey(AppInfo):
    api_key: str = Field(description="Shown in this answer only: keep it.")


class AppList(BaseModel):
    apps: list[AppInfo]


class UserInfo(BaseModel):
    user_id: str
    username: str
    app_id: str
    scopes: list[str] | None = Field(description="Narrower than the app's; null: the app's own.")
    created_at: float = Field(description="Unix time.")


class TokenSession(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds.")


class CookieSession(BaseModel):
    token_type: Literal["cookie"]
    expires_in: int = Field(description="Seconds.")
    csrf_token: str = Field(description="Send in X-Filegate-CSRF with every state-changing request.")


class Caller(BaseModel):
    kind: PrincipalKind
    id: str
    name: str
    app_id: str
    scopes: list[str]
    max_priority: Priority
    csrf_token: str | None = Field(
        None, description="With the session cookie only: what a reloaded page needs."
    )


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An app's API key (`fgk_…`), a user's session token (`fgs_…` from POST "
        "/auth/login), or for /apps and /users the administrator's FILEGATE_ADMIN_TOKEN.",
    },
    SESSION_COOKIE_SCHEME: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": 'The session cookie set by POST /auth/login with `"session": "cookie"`. '
        f"A request that changes state also sends the csrf_token of the login in `{CSRF_HEADER}`.",
    },
}
"""The OpenAPI security schemes: how a caller proves who it is."""
