"""What browsers need from the API: capability URLs for status and result, the caller's ticket
list and one multiplexed event stream, a cookie session with a CSRF header, and CORS."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from filegate.auth.capabilities import Capability, sign_capability
from filegate.cli import SHUTDOWN_GRACE_SECONDS
from tests.client import FINAL, eventually
from tests.conftest import Deployment, deployed
from tests.services import ADMIN_TOKEN, free_port, running, service_env
from tests.sources import LocalSources
from tests.sse import Message, Reader

ORIGIN = "http://pages.example.test:8080"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def web(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """filegate with auth on, CORS for ORIGIN, sources ready to archive."""
    home = tmp_path_factory.mktemp("browser-api")
    sources = LocalSources(home / "files")
    for name in ("a.txt", "b.txt", "c.txt"):
        sources.put(f"docs/{name}", name.encode() * 1000)
    env = service_env(f"{redis_url}/44", home, FILEGATE_CORS_ORIGINS=f"{ORIGIN}, http://other.test")
    with deployed(home, env, sources) as running:
        yield running


def new_app(base_url: str, name: str = "page") -> str:
    created = httpx.post(
        f"{base_url}/apps",
        json={"name": name, "scopes": ["/"], "max_priority": "high"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["api_key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post_download(base_url: str, key: str, paths: list[str], **options: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/download", json={"paths": paths, **options}, headers=bearer(key), timeout=30
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_ready(status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state: dict[str, Any] = httpx.get(status_url, headers={"Accept": "application/json"}).json()
        if state["status"] in FINAL:
            return state
        time.sleep(0.05)
    raise AssertionError(f"{status_url} did not finish")


# Capability URLs


def test_status_and_result_urls_work_without_any_header(web: Deployment) -> None:
    key = new_app(web.base_url)
    created = post_download(web.base_url, key, ["docs/"], name="caps")
    status_url, result_url = created["status_url"], created["result_url"]
    # What a page shows on the new download's card at once.
    assert (created["name"], created["file_count"], created["total_size"]) == ("caps", 3, 15000)
    assert status_url.startswith(f"{web.base_url}/ticket/{created['ticket_id']}/status?access=")
    assert result_url.startswith(f"{web.base_url}/ticket/{created['ticket_id']}/result?access=")

    assert wait_ready(status_url)["status"] == "ready"
    with httpx.stream("GET", status_url, timeout=30) as sse:  # what EventSource does: no header
        assert sse.status_code == 200
        assert sse.headers["content-type"].startswith("text/event-stream")
        messages = list(Reader().messages(sse.iter_lines()))
    assert messages[-1].json()["status"] == "ready"
    result = httpx.get(result_url)
    assert result.status_code == 200, result.text
    assert [part["name"] for part in result.json()["parts"]] == ["caps.zip"]


def test_a_leaked_status_url_shows_that_status_and_nothing_else(web: Deployment) -> None:
    key = new_app(web.base_url)
    one = post_download(web.base_url, key, ["docs/a.txt", "docs/b.txt"])
    other = post_download(web.base_url, key, ["docs/b.txt", "docs/c.txt"])
    access = parse_qs(urlsplit(one["status_url"]).query)["access"][0]
    ticket = one["ticket_id"]

    assert httpx.get(f"{web.base_url}/ticket/{ticket}/result?access={access}").status_code == 403
    other_status = f"{web.base_url}/ticket/{other['ticket_id']}/status?access={access}"
    assert httpx.get(other_status, headers={"Accept": "application/json"}).status_code == 403
    assert httpx.delete(f"{web.base_url}/ticket/{ticket}?access={access}").status_code == 401
    assert httpx.get(f"{web.base_url}/tickets?access={access}").status_code == 401
    tampered = one["status_url"][:-2] + ("AA" if not one["status_url"].endswith("AA") else "BB")
    denied = httpx.get(tampered, headers={"Accept": "application/json"})
    assert denied.status_code == 403
    assert denied.json()["field"] == "access"
    # The bearer form keeps working for other clients.
    plain = httpx.get(
        f"{web.base_url}/ticket/{ticket}/status", headers={**bearer(key), "Accept": "application/json"}
    )
    assert plain.status_code == 200


def test_a_capability_dies_with_its_ticket(web: Deployment) -> None:
    key = new_app(web.base_url)
    created = post_download(web.base_url, key, ["docs/a.txt", "docs/c.txt"])
    wait_ready(created["status_url"])
    released = httpx.delete(f"{web.base_url}/ticket/{created['ticket_id']}", headers=bearer(key))
    assert released.status_code == 200
    assert httpx.get(created["status_url"], headers={"Accept": "application/json"}).status_code == 410
    assert httpx.get(created["result_url"]).status_code == 410


# The caller's tickets, and one stream for all of them


def test_tickets_lists_the_callers_live_tickets_newest_first(web: Deployment) -> None:
    key, stranger = new_app(web.base_url), new_app(web.base_url, "stranger")
    first = post_download(web.base_url, key, ["docs/a.txt"], archive="zip", name="first")
    second = post_download(web.base_url, key, ["docs/b.txt"], archive="zip", name="second")
    third = post_download(web.base_url, key, ["docs/c.txt"], name="direct")  # one file: no build
    post_download(web.base_url, stranger, ["docs/a.txt"], archive="zip")
    wait_ready(second["status_url"])
    assert httpx.delete(f"{web.base_url}/ticket/{second['ticket_id']}", headers=bearer(key)).is_success

    listed = httpx.get(f"{web.base_url}/tickets", headers=bearer(key))
    assert listed.status_code == 200, listed.text
    tickets = listed.json()["tickets"]
    # Released (expired) tickets are not live; the stranger's are not ours.
    assert [t["ticket_id"] for t in tickets] == [third["ticket_id"], first["ticket_id"]]
    assert tickets[0]["status"] == "ready"
    assert tickets[1]["status_url"] == first["status_url"]
    assert tickets[1]["result_url"] == first["result_url"]
    assert httpx.get(f"{web.base_url}/tickets?limit=1", headers=bearer(key)).json()["tickets"] == tickets[:1]
    assert httpx.get(f"{web.base_url}/tickets?limit=0", headers=bearer(key)).status_code == 422
    assert httpx.get(f"{web.base_url}/tickets").status_code == 401


def feed_url(base_url: str, key: str) -> tuple[str, str]:
    listed = httpx.get(f"{base_url}/tickets", headers=bearer(key)).json()
    return str(listed["events_url"]), str(listed["events_cursor"])


def read_feed(url: str, headers: dict[str, str], until: int, timeout: float = 30) -> list[Message]:
    """The first ``until`` messages of a feed (it never ends by itself)."""
    messages: list[Message] = []
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as sse:
        assert sse.status_code == 200, sse.read()
        for message in Reader().messages(sse.iter_lines()):
            messages.append(message)
            if len(messages) >= until:
                break
    return messages


def test_one_stream_follows_every_ticket_and_resumes_without_loss_or_repeat(web: Deployment) -> None:
    key = new_app(web.base_url)
    events_url, cursor = feed_url(web.base_url, key)
    assert events_url.startswith(f"{web.base_url}/tickets/events?")
    created = [post_download(web.base_url, key, ["docs/"], name=f"feed-{n}") for n in range(3)]
    for ticket in created:
        wait_ready(ticket["status_url"])

    everything = _drain(f"{events_url}&after={cursor}")
    ready = {
        m.json()["ticket_id"] for m in everything if m.event == "status" and m.json()["status"] == "ready"
    }
    assert ready == {ticket["ticket_id"] for ticket in created}
    assert all(m.id and "ticket_id" in m.json() for m in everything)
    assert {m.event for m in everything} >= {"status", "progress"}

    # Read part of it, drop the connection, resume with Last-Event-ID as a browser does.
    head = read_feed(f"{events_url}&after={cursor}", {}, until=len(everything) // 2)
    tail = _drain(f"{events_url}&after={cursor}", {"Last-Event-ID": str(head[-1].id)})
    assert [m.id for m in head + tail] == [m.id for m in everything]


def test_a_new_ticket_appears_live_in_the_stream(web: Deployment) -> None:
    key = new_app(web.base_url)
    events_url, _ = feed_url(web.base_url, key)
    seen: list[Message] = []

    def follow() -> None:  # from now on: no ``after``
        seen.extend(read_feed(events_url, {}, until=1))

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    time.sleep(0.5)
    created = post_download(web.base_url, key, ["docs/a.txt", "docs/b.txt"], name="live")
    reader.join(timeout=30)
    assert seen and seen[0].event == "status"
    assert seen[0].json()["ticket_id"] == created["ticket_id"]
    assert seen[0].json()["status"] in ("queued", "preparing", "ready")


def test_feed_with_cookie_session_and_bearer(web: Deployment, user: str) -> None:
    client, csrf, _ = cookie_login(web.base_url, user)
    with contextlib.closing(client):
        cursor = client.get("/tickets").json()["events_cursor"]
        created = client.post(
            "/download", json={"paths": ["docs/a.txt", "docs/c.txt"]}, headers={"X-Filegate-CSRF": csrf}
        ).json()
        wait_ready(created["status_url"])
        cookie = client.cookies["filegate_session"]
    messages = _drain(
        f"{web.base_url}/tickets/events?after={cursor}", {"Cookie": f"filegate_session={cookie}"}
    )
    assert {m.json()["ticket_id"] for m in messages} == {created["ticket_id"]}
    assert messages[-1].json()["status"] == "ready"


def _drain(url: str, headers: dict[str, str] | None = None) -> list[Message]:
    """Every message the feed has now: read until it stays quiet for a second."""
    messages: list[Message] = []
    timeout = httpx.Timeout(30, read=1.0)
    with (
        contextlib.suppress(httpx.ReadTimeout),
        httpx.stream("GET", url, headers=headers, timeout=timeout) as sse,
    ):
        assert sse.status_code == 200
        messages.extend(Reader().messages(sse.iter_lines()))
    return messages


def test_the_events_url_is_refused_when_forged_or_expired(web: Deployment) -> None:
    key = new_app(web.base_url)
    events_url, _ = feed_url(web.base_url, key)
    query = parse_qs(urlsplit(events_url).query)
    owner, expires, access = query["owner"][0], query["expires"][0], query["access"][0]
    base = f"{web.base_url}/tickets/events"
    assert httpx.get(f"{base}?owner=app:someone-else&expires={expires}&access={access}").status_code == 403
    assert httpx.get(f"{base}?owner={owner}&expires={int(expires) + 1}&access={access}").status_code == 403
    assert httpx.get(f"{base}?owner={owner}&access={access}").status_code == 422
    assert httpx.get(f"{base}?after=not-an-id", headers=bearer(key)).status_code == 422
    assert httpx.get(base).status_code == 401
    past = int(time.time()) - 1
    secret = web.service.env["FILEGATE_SIGNING_SECRET"]
    expired = sign_capability(secret, Capability.OWNER_EVENTS, owner, past)
    gone = httpx.get(f"{base}?owner={owner}&expires={past}&access={expired}")
    assert gone.status_code == 410
    assert "GET /tickets" in gone.json()["detail"]


# Cookie sessions


@pytest.fixture(scope="module")
def user(web: Deployment) -> str:
    key = new_app(web.base_url, "people")
    name = "page-user"
    created = httpx.post(
        f"{web.base_url}/users", json={"username": name, "password": PASSWORD}, headers=bearer(key)
    )
    assert created.status_code == 201, created.text
    return name


def cookie_login(base_url: str, username: str) -> tuple[httpx.Client, str, httpx.Response]:
    client = httpx.Client(base_url=base_url, timeout=30)
    response = client.post(
        "/auth/login", json={"username": username, "password": PASSWORD, "session": "cookie"}
    )
    assert response.status_code == 200, response.text
    return client, str(response.json()["csrf_token"]), response


def test_cookie_login_sets_an_httponly_strict_cookie_and_no_token(web: Deployment, user: str) -> None:
    client, csrf, response = cookie_login(web.base_url, user)
    with contextlib.closing(client):
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith("filegate_session=fgs_")
        flags = {flag.strip().lower() for flag in set_cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain HTTP here; HTTPS adds it
        assert "access_token" not in response.json()
        me = client.get("/auth/me")
        assert me.status_code == 200
        assert me.json()["name"] == user
        assert me.json()["csrf_token"] == csrf


def test_state_changes_with_the_cookie_need_the_csrf_header(web: Deployment, user: str) -> None:
    client, csrf, _ = cookie_login(web.base_url, user)
    with contextlib.closing(client):
        body = {"paths": ["docs/a.txt", "docs/b.txt"]}
        refused = client.post("/download", json=body)
        assert refused.status_code == 403
        assert "X-Filegate-CSRF" in refused.json()["detail"]
        assert client.post("/download", json=body, headers={"X-Filegate-CSRF": "wrong"}).status_code == 403
        created = client.post("/download", json=body, headers={"X-Filegate-CSRF": csrf})
        assert created.status_code == 202, created.text
        ticket = created.json()["ticket_id"]
        assert client.delete(f"/ticket/{ticket}").status_code == 403
        assert client.get("/tickets").json()["tickets"][0]["ticket_id"] == ticket  # reads need none


def test_logout_needs_the_csrf_header_and_ends_the_session(web: Deployment, user: str) -> None:
    client, csrf, response = cookie_login(web.base_url, user)
    session = response.cookies["filegate_session"]
    with contextlib.closing(client):
        assert client.post("/auth/logout").status_code == 403
        logged_out = client.post("/auth/logout", headers={"X-Filegate-CSRF": csrf})
        assert logged_out.status_code == 204
        assert 'filegate_session=""' in logged_out.headers["set-cookie"]
    # The old cookie, sent again by hand, is dead.
    again = httpx.get(f"{web.base_url}/auth/me", cookies={"filegate_session": session})
    assert again.status_code == 401


# CORS


def test_preflight_from_a_listed_origin_is_answered(web: Deployment) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, last-event-id",
    }
    response = httpx.options(f"{web.base_url}/download", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "last-event-id", "x-filegate-csrf", "content-type"} <= allowed
    assert "POST" in response.headers["access-control-allow-methods"]


def test_answers_to_a_listed_origin_expose_content_disposition(web: Deployment) -> None:
    response = httpx.get(f"{web.base_url}/health", headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "content-disposition" in response.headers["access-control-expose-headers"].lower()
    error = httpx.get(f"{web.base_url}/tickets", headers={"Origin": ORIGIN})
    assert error.status_code == 401
    assert error.headers["access-control-allow-origin"] == ORIGIN  # a page can read why


def test_an_unlisted_origin_gets_no_cors_headers(web: Deployment) -> None:
    response = httpx.get(f"{web.base_url}/health", headers={"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(
        f"{web.base_url}/download",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 400
    assert preflight.json()["error"] == "cors_refused"
    assert "origin" in preflight.json()["detail"]


def test_no_cors_headers_at_all_by_default(local_deployment: Deployment) -> None:
    response = httpx.get(f"{local_deployment.base_url}/health", headers={"Origin": ORIGIN})
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_any_origin_never_allows_credentials(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    env = service_env(f"{redis_url}/45", tmp_path, FILEGATE_CORS_ORIGINS="*")
    with deployed(tmp_path, env, LocalSources(tmp_path / "files"), worker=False) as running:
        response = httpx.get(f"{running.base_url}/health", headers={"Origin": ORIGIN})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        preflight = httpx.options(
            f"{running.base_url}/download",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-credentials" not in preflight.headers


def test_a_bad_origin_setting_stops_start_up(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = service_env("redis://127.0.0.1:1/0", tmp_path, FILEGATE_CORS_ORIGINS="pages.example.test/app")
    done = subprocess.run(
        [sys.executable, "-m", "filegate.cli", "api"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "FILEGATE_CORS_ORIGINS" in done.stderr


def test_an_odd_last_event_id_replays_instead_of_failing(web: Deployment) -> None:
    key = new_app(web.base_url)
    created = post_download(web.base_url, key, ["docs/a.txt", "docs/b.txt"], name="odd-id")
    wait_ready(created["status_url"])
    for odd in ("garbage", "99999999999999999999999-0", "1-2-3", ""):
        with httpx.stream("GET", created["status_url"], headers={"Last-Event-ID": odd}, timeout=30) as sse:
            assert sse.status_code == 200
            messages = list(Reader().messages(sse.iter_lines()))
        assert messages[0].json()["status"] == "queued", odd
        assert messages[-1].json()["status"] == "ready", odd


def test_a_stopping_api_cuts_open_event_streams_after_its_grace(web: Deployment, tmp_path: Path) -> None:
    """A rolling restart does not wait for browsers to leave (``filegate api``, as deployed)."""
    env = {**web.service.env, "FILEGATE_PORT": str(free_port())}
    base_url = f"http://127.0.0.1:{env['FILEGATE_PORT']}"
    key = new_app(web.base_url)
    log = tmp_path / "api.log"
    with running([sys.executable, "-m", "filegate.cli", "api"], log, env) as api:
        assert eventually(lambda: _answers(f"{base_url}/health"), timeout=30), log.read_text()
        with httpx.stream("GET", f"{base_url}/tickets/events", headers=bearer(key), timeout=60) as sse:
            assert sse.status_code == 200
            started = time.monotonic()
            api.send_signal(signal.SIGTERM)
            api.wait(timeout=30)
        assert time.monotonic() - started < SHUTDOWN_GRACE_SECONDS + 5


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=1).status_code == 200
    return False
