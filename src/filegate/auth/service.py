"""Authentication: who a bearer token stands for, and the admin's, apps' and users' operations."""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool

from filegate.auth.capabilities import Capability, sign_capability
from filegate.auth.credentials import (
    API_KEY_PREFIX,
    SESSION_PREFIX,
    hash_password,
    needs_rehash,
    same_digest,
    same_secret,
    verify_password,
)
from filegate.auth.limits import LoginThrottle, RateLimiter, refuse_if_waiting
from filegate.auth.principal import ANONYMOUS, Principal, PrincipalKind, within
from filegate.auth.store import AppRecord, AuthStore, UserRecord
from filegate.errors import Conflict, FilegateError, Forbidden, InvalidRequest, NotFound
from filegate.settings import Settings
from filegate.state.access import RateCount
from filegate.state.queue import Priority

log = logging.getLogger(__name__)

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


SESSION_COOKIE = "filegate_session"
CSRF_HEADER = "X-Filegate-CSRF"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthorized(FilegateError):
    status_code = 401
    error = "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="filegate"'}


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header; 401 without one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("this needs an 'Authorization: Bearer <api key or session token>' header")
    return token.strip()


class AuthService:
    def __init__(
        self, settings: Settings, store: AuthStore, throttle: LoginThrottle, limiter: RateLimiter
    ) -> None:
        self._settings = settings
        self._store = store
        self._throttle = throttle
        self._limiter = limiter

    @property
    def enabled(self) -> bool:
        return self._settings.auth == "on"

    # Who is calling

    async def principal(self, authorization: str | None, count: RateCount | None = None) -> Principal:
        """The caller of a bearer token; with ``count``, its request counted against that rate
        limit (TooManyRequests past it), in the same round trip for an API key."""
        if not self.enabled:
            return await self._counted(ANONYMOUS, count)
        token = bearer_token(authorization)
        if token.startswith(SESSION_PREFIX):
            return await self._counted(await self._user_principal(token), count)
        if token.startswith(API_KEY_PREFIX):
            app, wait_ms = await self._store.app_for_key(token, count)
            if app is not None and app.revoked_at is None and same_digest(token, app.key_digest):
                if count is not None:
                    refuse_if_waiting(wait_ms, count)
                return Principal(
                    PrincipalKind.APP, app.app_id, app.app_id, app.scopes, app.max_priority, app.name
                )
            raise Unauthorized("the API key is not valid (unknown, rotated or revoked)")
        raise Unauthorized("the bearer token is neither an API key nor a session token")

    async def _counted(self, principal: Principal, count: RateCount | None) -> Principal:
        if count is not None:
            await self._limiter.count(principal.owner, count)
        return principal

    async def authenticate(
        self,
        method: str,
        authorization: str | None,
        session_cookie: str | None,
        csrf: str | None,
        count: RateCount | None = None,
    ) -> Principal:
        """The caller, by its bearer token, else by its session cookie (with ``count``, its
        request counted against that rate limit). A state-changing request carried by the
        cookie alone must also send the session's CSRF value: a page on another site can make a
        browser send the cookie, but cannot read that value."""
        if not self.enabled or authorization is not None or not session_cookie:
            return await self.principal(authorization, count)
        if not session_cookie.startswith(SESSION_PREFIX):
            raise Unauthorized("the session cookie is not valid; log in again")
        principal = await self._user_principal(session_cookie)
        if method not in SAFE_METHODS and not same_secret(csrf or "", self.csrf_token(session_cookie)):
            raise Forbidden(
                f"a request made with the session cookie needs the {CSRF_HEADER} header "
                "holding the csrf_token given at login"
            )
        return await self._counted(principal, count)

    def csrf_token(self, session_token: str) -> str:
        return sign_capability(self._settings.signing_secret, Capability.CSRF, session_token)

    async def _user_principal(self, token: str) -> Principal:
        session = await self._store.session(token)
        if session is None:
            raise Unauthorized("the session is not valid (unknown, expired or logged out); log in again")
        user = await self._store.get_user(session.username)
        app = await self._store.get_app(session.app_id)
        if user is None or user.user_id != session.user_id or app is None or app.revoked_at is not None:
            raise Unauthorized("the session's user or app no longer exists; log in again")
        return _user_as_principal(user, app)

    def require_admin(self, authorization: str | None) -> None:
        token = bearer_token(authorization)
        if not self._settings.admin_token:
            raise Unauthorized("the admin API is off: set FILEGATE_ADMIN_TOKEN, or use 'filegate apps'")
        if not same_secret(token, self._settings.admin_token):
            raise Unauthorized("this needs the admin token")

    # Apps (admin)

    async def create_app(self, name: str, scopes: tuple[str, ...], max_priority: Priority) -> dict[str, Any]:
        record, key = await self._store.create_app(name, scopes, max_priority)
        log.info("app %s (%s) registered", record.app_id, name)
        return {**record.public(), "api_key": key}

    async def app(self, app_id: str) -> AppRecord:
        record = await self._store.get_app(app_id)
        if record is None:
            raise NotFound(f"no app {app_id!r}", app_id=app_id)
        return record

    async def list_apps(self) -> list[dict[str, Any]]:
        return [app.public() for app in await self._store.list_apps()]

    async def rotate_key(self, app_id: str) -> dict[str, Any]:
        app = await self.app(app_id)
        if app.revoked_at is not None:
            raise Conflict(f"app {app_id!r} is revoked", app_id=app_id)
        key = await self._store.rotate_key(app)
        log.info("app %s has a new key; the old one no longer works", app_id)
        return {**app.public(), "api_key": key}

    async def revoke_app(self, app_id: str) -> dict[str, Any]:
        app = await self.app(app_id)
        await self._store.revoke_app(app)
        log.info("app %s revoked", app_id)
        return (await self.app(app_id)).public()

    # Users

    async def create_user(
        self, owner_app_id: str, username: str, password: str, scopes: tuple[str, ...] | None
    ) -> dict[str, Any]:
        if not _USERNAME.match(username):
            raise InvalidRequest(
                "a user name is 3 to 64 letters, digits or '._@-', starting with a letter or digit",
                field="username",
            )
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidRequest(
                f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long", field="password"
            )
        app = await self.app(owner_app_id)
        if app.revoked_at is not None:
            raise Conflict(f"app {owner_app_id!r} is revoked", app_id=owner_app_id)
        if scopes is not None:
            wider = [scope for scope in scopes if not any(within(scope, own) for own in app.scopes)]
            if wider:
                raise Forbidden("a user's scopes must lie within its app's", field="scopes", paths=wider)
        password_hash = await run_in_threadpool(hash_password, password)
        record = await self._store.create_user(username, app.app_id, scopes, password_hash)
        if record is None:
            raise Conflict(f"the user name {username!r} is taken", field="username")
        log.info("user %s created for app %s", username, app.app_id)
        return record.public()

    async def user_of(self, caller_app_id: str | None, username: str) -> UserRecord:
        """The user, if the caller (an app, or None for the admin) may manage it."""
        user = await self._store.get_user(username)
        if user is None or (caller_app_id is not None and user.app_id != caller_app_id):
            raise NotFound(f"no user {username!r}", username=username)
        return user

    async def delete_user(self, caller_app_id: str | None, username: str) -> None:
        await self._store.delete_user(await self.user_of(caller_app_id, username))
        log.info("user %s deleted", username)

    # Sessions

    async def login(self, username: str, password: str, address: str) -> dict[str, Any]:
        """A session for the user: its token, ``token_type`` and ``expires_in``."""
        await self._throttle.check(username, address)
        user = await self._store.get_user(username)
        valid = await run_in_threadpool(verify_password, user.password_hash if user else None, password)
        app = await self._store.get_app(user.app_id) if user else None
        if user is None or not valid or app is None or app.revoked_at is not None:
            await self._throttle.failed(username, address)
            log.info("failed login for %r from %s", username[:64], address)
            raise Unauthorized("the user name or password is wrong")
        await self._throttle.succeeded(username)
        if needs_rehash(user.password_hash):
            await self._store.set_password_hash(
                user.username, await run_in_threadpool(hash_password, password)
            )
        token, _ = await self._store.open_session(user, self._settings.session_lifetime)
        log.info("user %s logged in from %s", user.username, address)
        return {"access_token": token, "token_type": "bearer", "expires_in": self._settings.session_lifetime}

    async def logout(self, authorization: str | None) -> None:
        await self.end_session(bearer_token(authorization))

    async def end_session(self, token: str) -> None:
        if not token.startswith(SESSION_PREFIX) or not await self._store.close_session(token):
            raise Unauthorized("this is not an open session")


def _user_as_principal(user: UserRecord, app: AppRecord) -> Principal:
    if user.scopes is None:
        scopes = app.scopes
    else:
        # Kept within the app's scopes even if those were narrowed after the user was made.
        scopes = tuple(scope for scope in user.scopes if any(within(scope, own) for own in app.scopes))
    return Principal(PrincipalKind.USER, user.user_id, app.app_id, scopes, app.max_priority, user.username)
