"""Who may call: 401 without valid credentials, tickets seen by their owner only, scopes and
priorities, users and sessions, the login slow-down, rate limits, and secrets kept out of logs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.client import eventually
from tests.conftest import Deployment, deployed
from tests.services import ADMIN_TOKEN, service_env
from tests.sources import LocalSources
from tests.sse import Message, Reader

SECRETS: set[str] = set()
"""Every API key, session token and password this module makes or tries: none may be logged."""

DATABASES = {"auth": 20, "auth-session": 21, "auth-slow": 22, "auth-rate": 23, "auth-off": 24}
FILES = ["one.txt", "shared/a.txt", "shared/b.txt", "team-a/x.txt", "team-a/other.txt"]
FILES += ["team-a/sub/f.txt", "team-ab/file"]


# Calling filegate as someone


@dataclass(frozen=True)
class Caller:
    """Calls to one filegate with one Authorization header (or none), from one loopback address."""

    base_url: str
    authorization: str | None = None
    address: str = "127.0.0.1"

    def client(self) -> httpx.Client:
        headers = {"Authorization": self.authorization} if self.authorization is not None else {}
        transport = httpx.HTTPTransport(local_address=self.address)
        return httpx.Client(base_url=self.base_url, headers=headers, transport=transport, timeout=30)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        with self.client() as client:
            return client.request(method, path, **options)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def delete(self, path: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", path, **options)

    def download(self, paths: list[str], **options: Any) -> httpx.Response:
        return self.post("/download", json={"paths": paths, **options})

    def state(self, ticket_id: str) -> httpx.Response:
        return self.get(f"/ticket/{ticket_id}/status", headers={"Accept": "application/json"})

    def events(self, ticket_id: str) -> list[Message]:
        """Every SSE message until the server closes the stream."""
        headers = {"Accept": "text/event-stream"}
        with (
            self.client() as client,
            client.stream("GET", f"/ticket/{ticket_id}/status", headers=headers) as sse,
        ):
            assert sse.status_code == 200
            return list(Reader().messages(sse.iter_lines()))

    def log_in(self, username: str, password: str) -> httpx.Response:
        return self.post("/auth/login", json={"username": username, "password": password})


def caller(deployment: Deployment, token: str | None = None, address: str = "127.0.0.1") -> Caller:
    return Caller(deployment.base_url, None if token is None else f"Bearer {token}", address)


def admin(deployment: Deployment) -> Caller:
    return Caller(deployment.base_url, f"Bearer {ADMIN_TOKEN}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_password() -> str:
    password = secrets.token_urlsafe(12)
    SECRETS.add(password)
    return password


def register_app(
    deployment: Deployment, scopes: list[str] | None = None, max_priority: str = "high"
) -> tuple[str, str]:
    """A new app's id and API key, registered by the admin."""
    body = {"name": unique("app"), "scopes": scopes or ["/"], "max_priority": max_priority}
    created = admin(deployment).post("/apps", json=body)
    assert created.status_code == 201, created.text
    SECRETS.add(created.json()["api_key"])
    return created.json()["app_id"], created.json()["api_key"]


def new_user(deployment: Deployment, app_key: str, scopes: list[str] | None = None) -> tuple[str, str]:
    """A new user of the app with this key: its name (in mixed case) and password."""
    username, password = unique("User"), new_password()
    body: dict[str, Any] = {"username": username, "password": password}
    if scopes is not None:
        body["scopes"] = scopes
    created = caller(deployment, app_key).post("/users", json=body)
    assert created.status_code == 201, created.text
    return username, password


def session_token(deployment: Deployment, username: str, password: str) -> str:
    login = caller(deployment).log_in(username, password)
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    SECRETS.add(token)
    return token


def own_ticket(client: Caller, path: str = "one.txt") -> str:
    """A ticket of ``client``: one file is linked directly, so it is ready at once."""
    created = client.download([path])
    assert created.status_code == 202, created.text
    ticket_id: str = created.json()["ticket_id"]
    assert client.state(ticket_id).status_code == 200
    return ticket_id


def wait_ready(client: Caller, ticket_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (state := client.state(ticket_id).json())["status"] in ("queued", "preparing"):
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    assert state["status"] == "ready", state


def error_body(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """The JSON error of ``response``, checked to be ``status`` and ``error`` with a detail."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/json", where
    body: dict[str, Any] = response.json()
    assert body["error"] == error and body["detail"], f"{where}: {body}"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer "), where
    if status == 429:
        retry_after = int(response.headers["retry-after"])
        assert retry_after >= 1 and body["retry_after"] == retry_after, f"{where}: {body}"
    return body


def fields(body: dict[str, Any]) -> list[str]:
    """The fields an error names, ours or pydantic's."""
    return [body.get("field", ""), *[item["field"] for item in body.get("errors", [])]]


def ticket_calls(client: Caller, ticket_id: str) -> dict[str, httpx.Response]:
    """Every endpoint about one ticket, asked by ``client``."""
    status = f"/ticket/{ticket_id}/status"
    return {
        "GET status (JSON)": client.get(status, headers={"Accept": "application/json"}),
        "GET status (SSE)": client.get(status, headers={"Accept": "text/event-stream"}),
        "GET result": client.get(f"/ticket/{ticket_id}/result"),
        "DELETE ticket": client.delete(f"/ticket/{ticket_id}"),
    }


def protected_calls(client: Caller, ticket_id: str) -> dict[str, httpx.Response]:
    """Every endpoint that needs a caller, asked by ``client`` (about ``ticket_id``)."""
    return {
        "POST /download": client.download(["one.txt"]),
        **ticket_calls(client, ticket_id),
        "GET /auth/me": client.get("/auth/me"),
        "POST /auth/logout": client.post("/auth/logout"),
    }


def assert_all_unauthorized(answers: dict[str, httpx.Response]) -> None:
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == dict.fromkeys(answers, 401)
    for response in answers.values():
        error_body(response, 401, "unauthorized")


# Deployments


@contextlib.contextmanager
def auth_deployed(
    redis_url: str, workdir: Path, name: str, overrides: dict[str, str], *, worker: bool = False
) -> Iterator[Deployment]:
    """A filegate in its own home under ``workdir`` and its own Redis database, with FILES stored."""
    home = workdir / name
    (home / "files").mkdir(parents=True)
    sources = LocalSources(home / "files")
    for path in FILES:
        sources.put(path, f"contents of {path}\n".encode())
    env = service_env(f"{redis_url}/{DATABASES[name]}", home, **overrides)
    with deployed(home, env, sources, worker=worker) as running:
        if running.service.api_key is not None:
            SECRETS.add(running.service.api_key)
        yield running


@pytest.fixture(scope="module")
def auth_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """API and worker; logins from 127.0.0.1 are neither rate-limited nor slowed down here."""
    overrides = {"FILEGATE_RATE_LOGINS": "1000/minute", "FILEGATE_LOGIN_FREE_FAILURES": "1000"}
    with auth_deployed(redis_url, workdir, "auth", overrides, worker=True) as running:
        yield running


@pytest.fixture(scope="module")
def session_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    with auth_deployed(redis_url, workdir, "auth-session", {"FILEGATE_SESSION_LIFETIME": "2s"}) as running:
        yield running


@pytest.fixture(scope="module")
def slow_login_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    overrides = {
        "FILEGATE_LOGIN_FREE_FAILURES": "2",
        "FILEGATE_LOGIN_MAX_DELAY": "60s",
        "FILEGATE_RATE_LOGINS": "1000/minute",
    }
    with auth_deployed(redis_url, workdir, "auth-slow", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def rate_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    overrides = {"FILEGATE_RATE_DOWNLOADS": "3/minute", "FILEGATE_RATE_LOGINS": "3/minute"}
    with auth_deployed(redis_url, workdir, "auth-rate", overrides) as running:
        yield running


@pytest.fixture(scope="module")
def open_deployment(redis_url: str, workdir: Path) -> Iterator[Deployment]:
    with auth_deployed(redis_url, workdir, "auth-off", {"FILEGATE_AUTH": "off"}) as running:
        yield running


@pytest.fixture(scope="module")
def tests_app(auth_deployment: Deployment) -> Caller:
    """The app registered for the tests, allowed everything."""
    return caller(auth_deployment, auth_deployment.service.api_key)


# 1. Without valid credentials: 401


@pytest.fixture(scope="module")
def dead_credentials(auth_deployment: Deployment, tests_app: Caller) -> dict[str, tuple[str | None, str]]:
    """Authorization headers that must not work, each with a ticket it would otherwise own."""
    live_ticket = own_ticket(tests_app)

    revoked_id, revoked_key = register_app(auth_deployment)
    revoked_ticket = own_ticket(caller(auth_deployment, revoked_key))
    username, password = new_user(auth_deployment, revoked_key)
    revoked_session = session_token(auth_deployment, username, password)
    revoked_session_ticket = own_ticket(caller(auth_deployment, revoked_session))
    revoked = admin(auth_deployment).delete(f"/apps/{revoked_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True, revoked.text

    rotated_id, old_key = register_app(auth_deployment)
    rotated_ticket = own_ticket(caller(auth_deployment, old_key))
    rotated = admin(auth_deployment).post(f"/apps/{rotated_id}/key")
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["api_key"]
    SECRETS.add(new_key)
    assert new_key != old_key
    assert caller(auth_deployment, new_key).state(rotated_ticket).status_code == 200

    username, password = new_user(auth_deployment, str(auth_deployment.service.api_key))
    ended_session = session_token(auth_deployment, username, password)
    ended_ticket = own_ticket(caller(auth_deployment, ended_session))
    assert caller(auth_deployment, ended_session).post("/auth/logout").status_code == 204

    return {
        "no header": (None, live_ticket),
        "unknown API key": (f"Bearer fgk_{secrets.token_urlsafe(32)}", live_ticket),
        "unknown session token": (f"Bearer fgs_{secrets.token_urlsafe(32)}", live_ticket),
        "Basic scheme": ("Basic x", live_ticket),
        "key without scheme": (str(auth_deployment.service.api_key), live_ticket),
        "Bearer without token": ("Bearer", live_ticket),
        "admin token": (f"Bearer {ADMIN_TOKEN}", live_ticket),
        "revoked app's key": (f"Bearer {revoked_key}", revoked_ticket),
        "revoked app's user session": (f"Bearer {revoked_session}", revoked_session_ticket),
        "rotated-away key": (f"Bearer {old_key}", rotated_ticket),
        "logged-out session": (f"Bearer {ended_session}", ended_ticket),
    }


@pytest.mark.parametrize(
    "credential",
    [
        "no header",
        "unknown API key",
        "unknown session token",
        "Basic scheme",
        "key without scheme",
        "Bearer without token",
        "admin token",
        "revoked app's key",
        "revoked app's user session",
        "rotated-away key",
        "logged-out session",
    ],
)
def test_every_protected_endpoint_is_401_without_valid_credentials(
    auth_deployment: Deployment, dead_credentials: dict[str, tuple[str | None, str]], credential: str
) -> None:
    authorization, ticket_id = dead_credentials[credential]
    assert_all_unauthorized(protected_calls(Caller(auth_deployment.base_url, authorization), ticket_id))


def test_an_expired_session_is_401(session_deployment: Deployment) -> None:
    username, password = new_user(session_deployment, str(session_deployment.service.api_key))
    login = caller(session_deployment).log_in(username, password)
    assert login.status_code == 200 and login.json()["expires_in"] == 2, login.text
    SECRETS.add(login.json()["access_token"])
    session = caller(session_deployment, login.json()["access_token"])
    ticket_id = own_ticket(session)

    assert eventually(lambda: session.get("/auth/me").status_code == 401, timeout=15)
    assert_all_unauthorized(protected_calls(session, ticket_id))


@pytest.mark.parametrize(
    "credential", ["no header", "wrong admin token", "an app's API key", "a user's session", "Basic scheme"]
)
def test_admin_endpoints_are_401_without_the_admin_token(
    auth_deployment: Deployment, tests_app: Caller, credential: str
) -> None:
    target_id, target_key = register_app(auth_deployment)
    username, password = new_user(auth_deployment, target_key)
    authorization = {
        "no header": None,
        "wrong admin token": f"Bearer {ADMIN_TOKEN}x",
        "an app's API key": tests_app.authorization,
        "a user's session": f"Bearer {session_token(auth_deployment, username, password)}",
        "Basic scheme": f"Basic {ADMIN_TOKEN}",
    }[credential]
    client = Caller(auth_deployment.base_url, authorization)
    assert_all_unauthorized(
        {
            "POST /apps": client.post("/apps", json={"name": "sneaky", "scopes": ["/"]}),
            "GET /apps": client.get("/apps"),
            "GET /apps/{id}": client.get(f"/apps/{target_id}"),
            "POST /apps/{id}/key": client.post(f"/apps/{target_id}/key"),
            "DELETE /apps/{id}": client.delete(f"/apps/{target_id}"),
        }
    )
    # Nothing happened: the app is neither revoked nor rotated, and no app was added.
    shown = admin(auth_deployment).get(f"/apps/{target_id}")
    assert shown.status_code == 200 and shown.json()["revoked"] is False
    assert caller(auth_deployment, target_key).get("/auth/me").json()["id"] == target_id
    names = [app["name"] for app in admin(auth_deployment).get("/apps").json()["apps"]]
    assert "sneaky" not in names


def test_health_and_download_links_need_no_token(auth_deployment: Deployment, tests_app: Caller) -> None:
    health = httpx.get(f"{auth_deployment.base_url}/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    ticket_id = own_ticket(tests_app, "shared/a.txt")
    result = tests_app.get(f"/ticket/{ticket_id}/result")
    assert result.status_code == 200, result.text
    link = httpx.get(result.json()["parts"][0]["url"], timeout=10)
    assert link.status_code == 200 and link.content == b"contents of shared/a.txt\n"


# 2. Ownership


def test_a_ticket_is_seen_by_its_owner_only(auth_deployment: Deployment) -> None:
    _, key_a = register_app(auth_deployment, ["shared"])
    _, key_b = register_app(auth_deployment, ["shared"])
    app_a, app_b = caller(auth_deployment, key_a), caller(auth_deployment, key_b)
    user_a = caller(auth_deployment, session_token(auth_deployment, *new_user(auth_deployment, key_a)))
    created = app_a.download(["shared/"])
    assert created.status_code == 202, created.text
    ticket_id = created.json()["ticket_id"]
    wait_ready(app_a, ticket_id)

    unknown_id = f"unknown-{uuid.uuid4().hex}"
    unknown = {name: error_body(r, 404, "not_found") for name, r in ticket_calls(app_a, unknown_id).items()}
    assert all(body.pop("ticket_id") == unknown_id for body in unknown.values())
    for other in (app_b, user_a):
        answers = ticket_calls(other, ticket_id)
        statuses = {name: response.status_code for name, response in answers.items()}
        assert statuses == dict.fromkeys(answers, 404), other.authorization
        for name, response in answers.items():
            body = error_body(response, 404, "not_found")
            assert body.pop("ticket_id") == ticket_id
            assert body == unknown[name]

    # The owner sees it, and nobody's attempts changed it.
    assert app_a.state(ticket_id).json()["status"] == "ready"
    assert [m.json()["status"] for m in app_a.events(ticket_id) if m.event == "status"][-1] == "ready"
    result = app_a.get(f"/ticket/{ticket_id}/result")
    assert result.status_code == 200, result.text
    link = httpx.get(result.json()["parts"][0]["url"], timeout=10)
    assert link.status_code == 200 and link.content.startswith(b"PK")
    # The owner may release it: DELETE on a ready ticket ends it.
    released = app_a.delete(f"/ticket/{ticket_id}")
    assert released.status_code == 200 and released.json()["status"] == "expired"


def test_an_app_does_not_see_its_users_tickets(auth_deployment: Deployment) -> None:
    _, key = register_app(auth_deployment)
    user = caller(auth_deployment, session_token(auth_deployment, *new_user(auth_deployment, key)))
    ticket_id = own_ticket(user)
    error_body(caller(auth_deployment, key).state(ticket_id), 404, "not_found")


def test_a_new_user_under_a_deleted_users_name_does_not_get_its_tickets(auth_deployment: Deployment) -> None:
    _, key_a = register_app(auth_deployment, ["team-a"])
    _, key_b = register_app(auth_deployment, ["shared"])
    username, first_password, second_password = unique("reused"), new_password(), new_password()
    body = {"username": username, "password": first_password}
    assert caller(auth_deployment, key_a).post("/users", json=body).status_code == 201
    first = caller(auth_deployment, session_token(auth_deployment, username, first_password))
    ticket_id = own_ticket(first, "team-a/x.txt")
    assert caller(auth_deployment, key_a).delete(f"/users/{username}").status_code == 204

    body = {"username": username, "password": second_password}
    assert caller(auth_deployment, key_b).post("/users", json=body).status_code == 201
    second = caller(auth_deployment, session_token(auth_deployment, username, second_password))
    # Another app's user, allowed 'shared' only: the first user's ticket is none of its business.
    answers = ticket_calls(second, ticket_id)
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == dict.fromkeys(answers, 404)


# 3. Scopes and priorities


@pytest.fixture(scope="module")
def team_a(auth_deployment: Deployment) -> tuple[str, Caller]:
    """An app that may read 'team-a' only, at normal priority at most."""
    _, key = register_app(auth_deployment, ["team-a"], max_priority="normal")
    return key, caller(auth_deployment, key)


def test_paths_outside_the_apps_scopes_are_403_before_anything_is_listed(
    team_a: tuple[str, Caller], tests_app: Caller
) -> None:
    _, client = team_a
    # It does not exist: the app allowed everything is told so, the other is not even that.
    error_body(tests_app.download(["team-b/x.txt"]), 404, "not_found")
    body = error_body(client.download(["team-b/x.txt"]), 403, "forbidden")
    assert body["field"] == "paths" and body["paths"] == ["team-b/x.txt"]

    mixed = error_body(client.download(["team-a/x.txt", "team-b/y.txt", "team-ab/file"]), 403, "forbidden")
    assert mixed["paths"] == ["team-b/y.txt", "team-ab/file"]


def test_scopes_match_whole_path_segments(team_a: tuple[str, Caller], tests_app: Caller) -> None:
    _, client = team_a
    assert tests_app.download(["team-ab/file"]).status_code == 202  # it exists
    body = error_body(client.download(["team-ab/file"]), 403, "forbidden")
    assert body["paths"] == ["team-ab/file"]
    for inside in (["team-a/x.txt"], ["team-a/"], ["team-a"], ["team-a/sub/f.txt", "team-a/other.txt"]):
        response = client.download(inside)
        assert response.status_code == 202, (inside, response.text)


def test_a_user_with_narrower_scopes_reads_only_within_them(
    auth_deployment: Deployment, team_a: tuple[str, Caller]
) -> None:
    key, _ = team_a
    username, password = new_user(auth_deployment, key, scopes=["team-a/sub"])
    user = caller(auth_deployment, session_token(auth_deployment, username, password))
    assert user.get("/auth/me").json()["scopes"] == ["team-a/sub"]
    body = error_body(user.download(["team-a/other.txt"]), 403, "forbidden")
    assert body["paths"] == ["team-a/other.txt"]
    assert user.download(["team-a/sub/f.txt"]).status_code == 202


@pytest.mark.parametrize(
    ("scopes", "wider"), [(["team-b"], ["team-b"]), (["team-a/sub", "team-ab"], ["team-ab"]), (["/"], [""])]
)
def test_a_user_cannot_be_given_wider_scopes_than_its_app(
    auth_deployment: Deployment, team_a: tuple[str, Caller], scopes: list[str], wider: list[str]
) -> None:
    _, client = team_a
    username, password = unique("wide"), new_password()
    body = {"username": username, "password": password, "scopes": scopes}
    refused = error_body(client.post("/users", json=body), 403, "forbidden")
    assert refused["field"] == "scopes" and refused["paths"] == wider
    app_id = client.get("/auth/me").json()["id"]
    error_body(admin(auth_deployment).post("/users", json={**body, "app_id": app_id}), 403, "forbidden")
    error_body(caller(auth_deployment).log_in(username, password), 401, "unauthorized")


def test_a_priority_above_the_apps_highest_is_403(team_a: tuple[str, Caller]) -> None:
    _, client = team_a
    refused = error_body(client.download(["team-a/x.txt"], priority="high"), 403, "forbidden")
    assert refused["field"] == "priority" and "high" in refused["detail"]
    for allowed in ("normal", "low"):
        assert client.download(["team-a/x.txt"], priority=allowed).status_code == 202


# 4. Users and sessions


def test_users_are_made_by_their_app_or_the_admin_never_showing_the_password(
    auth_deployment: Deployment,
) -> None:
    app_id, key = register_app(auth_deployment, ["shared"])
    username, password = unique("Ann"), new_password()
    created = caller(auth_deployment, key).post("/users", json={"username": username, "password": password})
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"user_id", "username", "app_id", "scopes", "created_at"}
    assert created.json()["username"] == username and created.json()["app_id"] == app_id
    assert password not in created.text and "$argon2" not in created.text

    by_admin = {"username": unique("Bob"), "password": new_password(), "app_id": app_id}
    made = admin(auth_deployment).post("/users", json=by_admin)
    assert made.status_code == 201 and made.json()["app_id"] == app_id, made.text
    assert by_admin["password"] not in made.text
    no_app = error_body(
        admin(auth_deployment).post("/users", json={**by_admin, "app_id": None}), 422, "invalid_request"
    )
    assert no_app["field"] == "app_id"

    other_id, _ = register_app(auth_deployment)
    theirs = {"username": unique("eve"), "password": new_password(), "app_id": other_id}
    assert (
        error_body(caller(auth_deployment, key).post("/users", json=theirs), 403, "forbidden")["field"]
        == "app_id"
    )

    user = caller(auth_deployment, session_token(auth_deployment, username, password))
    error_body(
        user.post("/users", json={"username": unique("sub"), "password": new_password()}), 403, "forbidden"
    )


def test_user_names_are_unique_whatever_their_case(auth_deployment: Deployment) -> None:
    _, key = register_app(auth_deployment)
    _, other_key = register_app(auth_deployment)
    username = unique("Dup")
    first = caller(auth_deployment, key).post(
        "/users", json={"username": username, "password": new_password()}
    )
    assert first.status_code == 201, first.text
    for app_key, name in ((key, username.lower()), (other_key, username.upper())):
        again = caller(auth_deployment, app_key).post(
            "/users", json={"username": name, "password": new_password()}
        )
        assert error_body(again, 409, "conflict")["field"] == "username"


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("ok-name", "short-pw", "password"),
        ("ab", "long-enough-password", "username"),
        ("-dash-first", "long-enough-password", "username"),
        ("with space", "long-enough-password", "username"),
        ("slash/name", "long-enough-password", "username"),
        ("x" * 65, "long-enough-password", "username"),
    ],
)
def test_bad_user_names_and_short_passwords_are_422(
    auth_deployment: Deployment, tests_app: Caller, username: str, password: str, field: str
) -> None:
    body = error_body(
        tests_app.post("/users", json={"username": username, "password": password}), 422, "invalid_request"
    )
    assert field in fields(body)


def test_a_user_logs_in_works_and_logs_out(auth_deployment: Deployment) -> None:
    app_id, key = register_app(auth_deployment, ["shared"])
    username, password = unique("User"), new_password()
    created = caller(auth_deployment, key).post("/users", json={"username": username, "password": password})
    assert created.status_code == 201, created.text
    created_user_id = created.json()["user_id"]
    login = caller(auth_deployment).log_in(username, password)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    SECRETS.add(token)
    assert login.json() == {"access_token": token, "token_type": "bearer", "expires_in": 12 * 3600}
    session = caller(auth_deployment, token)

    me = session.get("/auth/me")
    assert me.status_code == 200
    assert me.json() == {
        "kind": "user",
        "id": created_user_id,
        "name": username,
        "app_id": app_id,
        "scopes": ["shared"],
        "max_priority": "high",
    }
    ticket_id = own_ticket(session, "shared/a.txt")

    assert session.post("/auth/logout").status_code == 204
    assert_all_unauthorized(protected_calls(session, ticket_id))
    # Another session of the same user is not affected.
    other = caller(auth_deployment, session_token(auth_deployment, username, password))
    assert other.get("/auth/me").status_code == 200


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(auth_deployment: Deployment) -> None:
    username, _ = new_user(auth_deployment, str(auth_deployment.service.api_key))
    anyone = caller(auth_deployment)
    wrong = error_body(anyone.log_in(username, new_password()), 401, "unauthorized")
    unknown = error_body(anyone.log_in(unique("nobody"), new_password()), 401, "unauthorized")
    assert wrong == unknown


def test_deleting_a_user_ends_its_sessions(auth_deployment: Deployment) -> None:
    _, key = register_app(auth_deployment)
    _, other_key = register_app(auth_deployment)
    username, password = new_user(auth_deployment, key)
    session = caller(auth_deployment, session_token(auth_deployment, username, password))
    error_body(caller(auth_deployment, other_key).delete(f"/users/{username}"), 404, "not_found")
    assert session.get("/auth/me").status_code == 200
    assert caller(auth_deployment, key).delete(f"/users/{username}").status_code == 204
    error_body(session.get("/auth/me"), 401, "unauthorized")
    error_body(caller(auth_deployment).log_in(username, password), 401, "unauthorized")


# 5. The login slow-down (each test from its own loopback address: failures count per address)


def test_failed_logins_past_the_free_ones_make_the_user_wait(slow_login_deployment: Deployment) -> None:
    username, password = new_user(slow_login_deployment, str(slow_login_deployment.service.api_key))
    client = caller(slow_login_deployment, address="127.0.0.2")
    for _ in range(3):
        error_body(client.log_in(username, new_password()), 401, "unauthorized")

    blocked = error_body(client.log_in(username, password), 429, "too_many_requests")
    # The wait belongs to the user name, wherever the next try comes from.
    error_body(
        caller(slow_login_deployment, address="127.0.0.3").log_in(username, password),
        429,
        "too_many_requests",
    )

    time.sleep(blocked["retry_after"])
    login = client.log_in(username, password)
    assert login.status_code == 200, login.text
    SECRETS.add(login.json()["access_token"])


def test_failed_logins_for_many_names_from_one_address_slow_down_every_name(
    slow_login_deployment: Deployment,
) -> None:
    username, password = new_user(slow_login_deployment, str(slow_login_deployment.service.api_key))
    client = caller(slow_login_deployment)
    for _ in range(3):
        error_body(client.log_in(unique("guess"), new_password()), 401, "unauthorized")

    blocked = error_body(client.log_in(username, password), 429, "too_many_requests")
    # Another address is not held back by this one's failures.
    elsewhere = caller(slow_login_deployment, address="127.0.0.4").log_in(username, password)
    assert elsewhere.status_code == 200, elsewhere.text
    SECRETS.add(elsewhere.json()["access_token"])

    time.sleep(blocked["retry_after"])
    login = client.log_in(username, password)
    assert login.status_code == 200, login.text
    SECRETS.add(login.json()["access_token"])


# 6. Rate limits


def test_downloads_past_the_rate_are_429_per_caller(rate_deployment: Deployment) -> None:
    _, key_a = register_app(rate_deployment)
    _, key_b = register_app(rate_deployment)
    app_a = caller(rate_deployment, key_a)
    for _ in range(3):
        assert app_a.download(["one.txt"]).status_code == 202
    limited = error_body(app_a.download(["one.txt"]), 429, "too_many_requests")
    assert "3" in limited["detail"]
    assert caller(rate_deployment, key_b).download(["one.txt"]).status_code == 202


def test_a_users_downloads_are_counted_apart_from_its_apps(rate_deployment: Deployment) -> None:
    """An API key's request is counted in the same round trip as the key's lookup; a session's
    after the session is found: both by the same limit, each caller on its own."""
    app_id, app_key = register_app(rate_deployment)
    username, password = new_user(rate_deployment, app_key)
    login = caller(rate_deployment, address="127.0.0.9").log_in(username, password)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    SECRETS.add(token)
    user = caller(rate_deployment, token)
    for _ in range(3):
        assert user.download(["one.txt"]).status_code == 202
    limited = error_body(user.download(["one.txt"]), 429, "too_many_requests")
    assert int(limited["retry_after"]) >= 1
    assert caller(rate_deployment, app_key).download(["one.txt"]).status_code == 202, app_id


def test_logins_past_the_rate_are_429_per_address(rate_deployment: Deployment) -> None:
    username, password = new_user(rate_deployment, str(rate_deployment.service.api_key))
    client = caller(rate_deployment)
    for _ in range(3):
        login = client.log_in(username, password)
        assert login.status_code == 200, login.text
        SECRETS.add(login.json()["access_token"])
    error_body(client.log_in(username, password), 429, "too_many_requests")
    elsewhere = caller(rate_deployment, address="127.0.0.2").log_in(username, password)
    assert elsewhere.status_code == 200, elsewhere.text
    SECRETS.add(elsewhere.json()["access_token"])


# 8. FILEGATE_AUTH=off


def test_with_auth_off_anyone_may_download_and_the_log_warns(open_deployment: Deployment) -> None:
    anyone = caller(open_deployment)
    ticket_id = own_ticket(anyone)
    assert anyone.get("/auth/me").json()["kind"] == "anonymous"
    assert anyone.get(f"/ticket/{ticket_id}/result").status_code == 200
    log = open_deployment.service.workdir / "api.log"
    assert "FILEGATE_AUTH=off" in log.read_text()


# 9. The command line


def filegate_cli(deployment: Deployment, *args: str) -> Any:
    command = [str(Path(sys.executable).with_name("filegate")), *args]
    done = subprocess.run(
        command,
        env=deployment.service.env,
        cwd=deployment.service.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_app_made_with_the_cli_works_until_revoked_with_the_cli(auth_deployment: Deployment) -> None:
    name = unique("cli")
    created = filegate_cli(
        auth_deployment, "apps", "create", name, "--scope", "/", "--max-priority", "normal"
    )
    SECRETS.add(created["api_key"])
    assert created["name"] == name and created["scopes"] == [""] and created["max_priority"] == "normal"
    client = caller(auth_deployment, created["api_key"])
    assert client.get("/auth/me").json()["id"] == created["app_id"]
    assert client.download(["shared/b.txt"]).status_code == 202
    error_body(client.download(["shared/b.txt"], priority="high"), 403, "forbidden")

    revoked = filegate_cli(auth_deployment, "apps", "revoke", created["app_id"])
    assert revoked["revoked"] is True and "api_key" not in revoked
    error_body(client.get("/auth/me"), 401, "unauthorized")
    error_body(client.download(["shared/b.txt"]), 401, "unauthorized")


# 7. Secrets (last: it checks what every test before it made)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def test_the_admin_api_never_shows_a_key_or_its_digest(auth_deployment: Deployment) -> None:
    app_id, _ = register_app(auth_deployment)
    rotated = admin(auth_deployment).post(f"/apps/{app_id}/key").json()["api_key"]
    SECRETS.add(rotated)
    keys = [secret for secret in SECRETS if secret.startswith("fgk_")]
    for response in (admin(auth_deployment).get("/apps"), admin(auth_deployment).get(f"/apps/{app_id}")):
        assert response.status_code == 200, response.text
        assert "digest" not in response.text and "api_key" not in response.text
        assert [k[:8] for k in keys if k in response.text or digest(k) in response.text] == []
    shown = admin(auth_deployment).get(f"/apps/{app_id}").json()
    assert set(shown) == {"app_id", "name", "scopes", "max_priority", "created_at", "revoked"}


def redis_text(url: str) -> str:
    """Every key and value of a Redis database, as one text."""
    client = redis.Redis.from_url(url, decode_responses=True)
    chunks = []
    for key in client.scan_iter():
        kind = client.type(key)
        value: Any = {
            "string": client.get,
            "hash": client.hgetall,
            "set": client.smembers,
            "zset": lambda name: client.zrange(name, 0, -1),
            "list": lambda name: client.lrange(name, 0, -1),
            "stream": lambda name: client.xrange(name),
        }[kind](key)
        chunks.append(f"{key} {value}")
    return "\n".join(chunks)


def test_no_secret_reaches_a_log_or_redis(
    redis_url: str,
    auth_deployment: Deployment,
    session_deployment: Deployment,
    slow_login_deployment: Deployment,
    rate_deployment: Deployment,
    open_deployment: Deployment,
) -> None:
    # One of each here too, so that the test means something when run alone.
    _, key = register_app(auth_deployment)
    username, password = new_user(auth_deployment, key)
    SECRETS.add(session_token(auth_deployment, username, password))
    error_body(caller(auth_deployment).log_in(username, new_password()), 401, "unauthorized")
    assert len(SECRETS) >= 4

    deployments = (
        auth_deployment,
        session_deployment,
        slow_login_deployment,
        rate_deployment,
        open_deployment,
    )
    logs = {
        f"{path.parent.name}/{path.name}": path.read_text(errors="replace")
        for deployment in deployments
        for path in deployment.service.workdir.glob("*.log")
    }
    hidden = SECRETS | {digest(secret) for secret in SECRETS}
    assert [(name, s[:8]) for name, text in logs.items() for s in hidden if s in text] == []
    stored = "\n".join(redis_text(f"{redis_url}/{database}") for database in DATABASES.values())
    assert [s[:8] for s in SECRETS if s in stored] == []

    # Worth something only if the API log records what happened: apps, users, logins.
    api_log = logs["auth/api.log"]
    assert " registered" in api_log and "failed login for" in api_log, api_log[-2000:]
