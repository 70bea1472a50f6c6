"""``filegate apps …`` and ``filegate users …``: the admin's operations from the command line,
straight against Redis (no admin token needed: whoever runs this has the configuration)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from filegate.auth.limits import LoginThrottle, RateLimiter
from filegate.auth.principal import normalise_scopes
from filegate.auth.service import AuthService
from filegate.auth.store import AuthStore
from filegate.connections import async_redis, close_async_redis, sentinels_of
from filegate.errors import FilegateError
from filegate.settings import Settings
from filegate.state.queue import Priority
from filegate.state.scripts import AsyncState


def add_commands(commands: Any) -> None:
    apps = commands.add_parser("apps", help="register, list, rotate and revoke client apps")
    app_commands = apps.add_subparsers(dest="action", required=True)
    create = app_commands.add_parser("create", help="register an app and print its API key (shown once)")
    create.add_argument("name")
    create.add_argument(
        "--scope", action="append", required=True, help="a path prefix it may read ('/' for all); repeatable"
    )
    create.add_argument("--max-priority", choices=[p.value for p in Priority], default=Priority.NORMAL.value)
    app_commands.add_parser("list", help="the apps, without their keys")
    rotate = app_commands.add_parser("rotate", help="a new key for the app; the old one stops working")
    rotate.add_argument("app_id")
    revoke = app_commands.add_parser("revoke", help="revoke the app, its key and its users' sessions")
    revoke.add_argument("app_id")

    users = commands.add_parser("users", help="create and delete users")
    user_commands = users.add_subparsers(dest="action", required=True)
    create_user = user_commands.add_parser(
        "create", help="create a user of an app (password read from FILEGATE_NEW_PASSWORD or a prompt)"
    )
    create_user.add_argument("username")
    create_user.add_argument("--app", required=True, dest="app_id")
    create_user.add_argument("--scope", action="append", help="narrower than the app's; repeatable")
    delete_user = user_commands.add_parser("delete", help="delete a user and end its sessions")
    delete_user.add_argument("username")


def _service(settings: Settings) -> tuple[AuthService, AuthStore, Callable[[], Awaitable[None]]]:
    client = async_redis(settings.redis_url, sentinels=sentinels_of(settings))
    state = AsyncState(client)
    store = AuthStore(state)
    throttle = LoginThrottle(state, settings.login_free_failures, settings.login_max_delay)

    async def close() -> None:
        await state.aclose()
        await close_async_redis(client)

    return AuthService(settings, store, throttle, RateLimiter(state)), store, close


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2))


def run(settings: Settings, args: argparse.Namespace) -> None:
    async def main() -> None:
        service, _, close = _service(settings)
        try:
            if args.command == "apps":
                await _apps(service, args)
            else:
                await _users(service, args)
        finally:
            await close()

    try:
        asyncio.run(main())
    except FilegateError as exc:
        sys.exit(f"filegate: {exc.detail}")


async def _apps(service: AuthService, args: argparse.Namespace) -> None:
    if args.action == "create":
        scopes = normalise_scopes(args.scope, "--scope")
        _print(await service.create_app(args.name, scopes, Priority(args.max_priority)))
    elif args.action == "list":
        _print(await service.list_apps())
    elif args.action == "rotate":
        _print(await service.rotate_key(args.app_id))
    else:
        _print(await service.revoke_app(args.app_id))


async def _users(service: AuthService, args: argparse.Namespace) -> None:
    if args.action == "create":
        password = os.environ.get("FILEGATE_NEW_PASSWORD") or getpass.getpass(
            f"password for {args.username}: "
        )
        scopes = None if args.scope is None else normalise_scopes(args.scope, "--scope")
        _print(await service.create_user(args.app_id, args.username, password, scopes))
    else:
        await service.delete_user(None, args.username)


def dev_api_key(settings: Settings, key_file: Path) -> str:
    """The development app's key: the one saved in ``key_file`` while Redis still knows it,
    else a new app's (saved there, readable by its owner only)."""
    saved = key_file.read_text().strip() if key_file.exists() else ""

    async def main() -> str:
        service, store, close = _service(settings)
        try:
            app = (await store.app_for_key(saved))[0] if saved else None
            if app is not None and app.revoked_at is None:
                return saved
            created = await service.create_app("development", ("",), Priority.HIGH)
            return str(created["api_key"])
        finally:
            await close()

    key = asyncio.run(main())
    if key != saved:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(key + "\n")
    return key


DEV_USERNAME = "dev"


def dev_login(settings: Settings, app_key: str, login_file: Path) -> tuple[str, str]:
    """A user of the development app to sign in to the page with: the one saved in
    ``login_file`` while Redis still knows it, else made anew (saved there, owner-only)."""
    saved = login_file.read_text().strip() if login_file.exists() else ""
    username, _, password = saved.partition(" ")

    async def main() -> str:
        service, store, close = _service(settings)
        try:
            app, _ = await store.app_for_key(app_key)
            assert app is not None, "the development app was registered just before"
            user = await store.get_user(DEV_USERNAME)
            if user is not None and username == DEV_USERNAME and password and user.app_id == app.app_id:
                return password
            if user is not None:
                await store.delete_user(user)
            new_password = secrets.token_urlsafe(12)
            await service.create_user(app.app_id, DEV_USERNAME, new_password, None)
            return new_password
        finally:
            await close()

    password = asyncio.run(main())
    if saved != f"{DEV_USERNAME} {password}":
        login_file.touch(mode=0o600)
        login_file.write_text(f"{DEV_USERNAME} {password}\n")
    return DEV_USERNAME, password
