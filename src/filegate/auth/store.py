"""Apps, users and sessions in Redis. Only digests of keys and tokens, and argon2 hashes of
passwords, are ever written.

Keys: see state/keys.py (apps, api_key, user, app_users, session, user_sessions).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from filegate.auth.credentials import digest, new_api_key, new_session_token
from filegate.state import access, keys
from filegate.state.access import RateCount
from filegate.state.queue import Priority
from filegate.state.scripts import AsyncState


@dataclass(frozen=True, slots=True)
class AppRecord:
    app_id: str
    name: str
    scopes: tuple[str, ...]
    max_priority: Priority
    created_at: float
    key_digest: str
    revoked_at: float | None = None

    @classmethod
    def from_redis(cls, app_id: str, fields: dict[str, str]) -> AppRecord:
        return cls(
            app_id=app_id,
            name=fields["name"],
            scopes=tuple(json.loads(fields["scopes"])),
            max_priority=Priority(fields["max_priority"]),
            created_at=float(fields["created_at"]),
            key_digest=fields.get("key_digest", ""),
            revoked_at=float(fields["revoked_at"]) if fields.get("revoked_at") else None,
        )

    def public(self) -> dict[str, Any]:
        """What the admin API shows: never the key nor its digest."""
        return {
            "app_id": self.app_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "max_priority": self.max_priority.value,
            "created_at": self.created_at,
            "revoked": self.revoked_at is not None,
        }


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_id: str
    """Never reused: a user made later under a freed name is someone else."""
    username: str
    app_id: str
    scopes: tuple[str, ...] | None
    """Narrower than the app's, or None to use the app's."""
    password_hash: str
    created_at: float

    @classmethod
    def from_redis(cls, fields: dict[str, str]) -> UserRecord:
        scopes = json.loads(fields["scopes"])
        return cls(
            user_id=fields["user_id"],
            username=fields["username"],
            app_id=fields["app_id"],
            scopes=None if scopes is None else tuple(scopes),
            password_hash=fields["password_hash"],
            created_at=float(fields["created_at"]),
        )

    def public(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "app_id": self.app_id,
            "scopes": None if self.scopes is None else list(self.scopes),
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: str
    username: str
    app_id: str
    expires_at: float


class AuthStore:
    def __init__(self, state: AsyncState) -> None:
        self._state = state
        self._redis: aioredis.Redis = state.client

    # Apps

    async def create_app(
        self, name: str, scopes: tuple[str, ...], max_priority: Priority
    ) -> tuple[AppRecord, str]:
        """A new app and its API key (the only time the key exists outside the caller)."""
        app_id = "app_" + secrets.token_hex(8)
        key = new_api_key()
        record = AppRecord(app_id, name, scopes, max_priority, time.time(), digest(key))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.app(app_id),
                mapping={
                    "name": name,
                    "scopes": json.dumps(list(scopes)),
                    "max_priority": max_priority.value,
                    "created_at": repr(record.created_at),
                    "key_digest": record.key_digest,
                },
            )
            pipe.set(keys.api_key(record.key_digest), app_id)
            pipe.sadd(keys.APPS, app_id)
            await pipe.execute()
        return record, key

    async def get_app(self, app_id: str) -> AppRecord | None:
        fields = await self._redis.hgetall(keys.app(app_id))
        return AppRecord.from_redis(app_id, fields) if fields else None

    async def list_apps(self) -> list[AppRecord]:
        apps = [await self.get_app(app_id) for app_id in sorted(await self._redis.smembers(keys.APPS))]
        return [app for app in apps if app is not None]

    async def app_for_key(self, key: str, count: RateCount | None = None) -> tuple[AppRecord | None, int]:
        """The app whose key this is, in one round trip (every authenticated call makes it), and,
        with ``count``, the milliseconds its request must wait by that limit (0: allowed)."""
        found = await self._state.run(access.app_for_key(digest(key), count, int(time.time() * 1000)))
        if found is None:
            return None, 0
        return AppRecord.from_redis(found.app_id, found.fields), found.wait_ms

    async def rotate_key(self, app: AppRecord) -> str:
        """A new key for ``app``; the old one stops working at once."""
        key = new_api_key()
        new_digest = digest(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.api_key(app.key_digest))
            pipe.set(keys.api_key(new_digest), app.app_id)
            pipe.hset(keys.app(app.app_id), "key_digest", new_digest)
            await pipe.execute()
        return key

    async def revoke_app(self, app: AppRecord) -> None:
        """The app's key stops working, and so do its users' sessions and logins."""
        usernames = await self._redis.smembers(keys.app_users(app.app_id))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.api_key(app.key_digest))
            pipe.hset(keys.app(app.app_id), mapping={"revoked_at": repr(time.time()), "key_digest": ""})
            await pipe.execute()
        for username in usernames:
            await self.end_sessions(username)

    # Users

    async def create_user(
        self, username: str, app_id: str, scopes: tuple[str, ...] | None, password_hash: str
    ) -> UserRecord | None:
        """The new user, or None when the name is taken (names are unique, case aside)."""
        record = UserRecord(
            "usr_" + secrets.token_hex(8), username, app_id, scopes, password_hash, time.time()
        )
        fields = {
            "user_id": record.user_id,
            "username": username,
            "app_id": app_id,
            "scopes": json.dumps(None if scopes is None else list(scopes)),
            "password_hash": password_hash,
            "created_at": repr(record.created_at),
        }
        if not await self._redis.hsetnx(keys.user(username), "username", username):
            return None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.user(username), mapping=fields)
            pipe.sadd(keys.app_users(app_id), username.lower())
            await pipe.execute()
        return record

    async def get_user(self, username: str) -> UserRecord | None:
        fields = await self._redis.hgetall(keys.user(username))
        return UserRecord.from_redis(fields) if "password_hash" in fields else None

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self._redis.hset(keys.user(username), "password_hash", password_hash)

    async def delete_user(self, user: UserRecord) -> None:
        await self.end_sessions(user.username)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.user(user.username))
            pipe.srem(keys.app_users(user.app_id), user.username.lower())
            await pipe.execute()

    # Sessions

    async def open_session(self, user: UserRecord, lifetime: int) -> tuple[str, SessionRecord]:
        token = new_session_token()
        session = SessionRecord(user.user_id, user.username, user.app_id, time.time() + lifetime)
        key = keys.session(digest(token))
        index = keys.user_sessions(user.username)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "user_id": session.user_id,
                    "username": session.username,
                    "app_id": session.app_id,
                    "expires_at": repr(session.expires_at),
                },
            )
            pipe.expire(key, lifetime)
            pipe.sadd(index, digest(token))
            pipe.expire(index, lifetime, gt=True)
            pipe.expire(index, lifetime, nx=True)
            await pipe.execute()
        return token, session

    async def session(self, token: str) -> SessionRecord | None:
        fields = await self._redis.hgetall(keys.session(digest(token)))
        if not fields:
            return None
        session = SessionRecord(
            fields["user_id"], fields["username"], fields["app_id"], float(fields["expires_at"])
        )
        # Redis expires the key too; this holds even if its clock and ours differ.
        return session if session.expires_at > time.time() else None

    async def close_session(self, token: str) -> bool:
        return bool(await self._redis.delete(keys.session(digest(token))))

    async def end_sessions(self, username: str) -> None:
        index = keys.user_sessions(username)
        digests = await self._redis.smembers(index)
        await self._redis.delete(index, *(keys.session(d) for d in digests))
