"""filegate on several hosts (network namespaces, see conftest.py): a ticket followed from another
API host, a worker host cut off mid-build, an API host killed under a following client, and the
Redis primary killed mid-build."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import time
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from filegate.state import keys
from tests.client import FINAL, api_get, auth, request_download
from tests.cluster.conftest import OUTPUT_BUCKET, Cluster
from tests.sse import Message, Reader, read_all

pytestmark = pytest.mark.cluster

SPLIT = "8MB"


class Follower(threading.Thread):
    """Follows a ticket's status stream as a browser's EventSource does behind a load balancer:
    a stream that drops is opened again with Last-Event-ID, on the next API host when its own
    does not answer, until a final status. Every message is kept, with the host it came from."""

    def __init__(self, api_urls: list[str], ticket_id: str, timeout: float = 240) -> None:
        super().__init__(daemon=True)
        self.api_urls = api_urls
        self.ticket_id = ticket_id
        self.timeout = timeout
        self.messages: list[tuple[str, Message]] = []
        self.opened: list[str] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        last_id: str | None = None
        host = 0
        while time.monotonic() < deadline:
            url = self.api_urls[host % len(self.api_urls)]
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
            try:
                with httpx.stream(
                    "GET",
                    f"{url}/ticket/{self.ticket_id}/status",
                    headers=auth(url, headers),
                    timeout=httpx.Timeout(5, read=30),
                ) as response:
                    if response.status_code != 200:
                        self.failures.append(f"{url}: {response.status_code}")
                        host += 1
                        time.sleep(0.5)
                        continue
                    self.opened.append(url)
                    for message in Reader().messages(response.iter_lines()):
                        self.messages.append((url, message))
                        last_id = message.id or last_id
                        if message.event == "status" and message.json()["status"] in FINAL:
                            self.done.set()
                            return
            except httpx.HTTPError as exc:
                self.failures.append(f"{url}: {type(exc).__name__}")
                host += 1  # the balancer sends the next try elsewhere
            time.sleep(0.2)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [message.json() for _, message in self.messages if message.event == name]

    def wait_until(self, check: Callable[[Follower], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check(self):
            assert time.monotonic() < deadline, f"not seen in time: {self.messages[-5:]}"
            assert self.is_alive() or check(self), "the follower stopped"
            time.sleep(0.05)


def _has_part(part: int) -> Callable[[Follower], bool]:
    return lambda follower: any(event["part"] == part for event in follower.events("part_ready"))


def _has_progress(follower: Follower) -> bool:
    return any(event.get("bytes_done", 0) > 0 for event in follower.events("progress"))


def _post(cluster: Cluster, host: str, name: str, **options: Any) -> str:
    created = request_download(cluster.api_url(host), ["set/"], name=name, **options)
    assert created.status_code == 202, created.text
    return str(created.json()["ticket_id"])


def _build_id(cluster: Cluster, ticket_id: str) -> str:
    build_id = cluster.redis().hget(keys.ticket(ticket_id), "build_id")
    assert build_id, f"ticket {ticket_id} holds no build"
    return str(build_id)


def _files_in(parts: list[bytes]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for blob in parts:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            assert archive.testzip() is None
            files.update(
                {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
            )
    return files


def _download(result: dict[str, Any]) -> list[bytes]:
    blobs = []
    for part in result["parts"]:
        blob = httpx.get(part["url"], timeout=60).content
        assert hashlib.sha256(blob).hexdigest() == part["sha256"]
        blobs.append(blob)
    return blobs


def _stored(cluster: Cluster, build_id: str) -> list[str]:
    listing = cluster.s3.list_objects(
        OUTPUT_BUCKET, prefix=f"{build_id}/", recursive=True, include_version=True
    )
    return sorted(item.object_name or "" for item in listing)


def _assert_slot_and_space_free(cluster: Cluster, stored_bytes: int) -> None:
    client = cluster.redis()
    assert client.smembers(keys.RUNNING) == set()
    assert int(client.get(keys.SPACE_RESERVED) or 0) == 0
    assert int(client.get(keys.SPACE_HELD) or 0) == stored_bytes


def _one_each(values: list[Any]) -> bool:
    return len(values) == len(set(values))


def test_a_ticket_posted_on_one_api_host_is_followed_and_downloaded_on_the_other(cluster: Cluster) -> None:
    ticket_id = _post(cluster, "api-a", cluster.folder(), split_size=SPLIT, compression="store")

    messages = read_all(cluster.api_url("api-b"), ticket_id)

    statuses = [m.json()["status"] for m in messages if m.event == "status"]
    assert statuses == ["queued", "preparing", "ready"]
    assert [m.json()["part"] for m in messages if m.event == "part_ready"] == [1, 2, 3]
    result = api_get(cluster.api_url("api-b"), f"/ticket/{ticket_id}/result").json()
    assert len(result["parts"]) == 3 and result["partial"] is False
    assert _files_in(_download(result)) == cluster.sources


def test_an_api_host_killed_under_a_following_client_loses_it_no_event(cluster: Cluster) -> None:
    ticket_id = _post(cluster, "api-a", cluster.folder(), split_size=SPLIT, compression="deflate")
    follower = Follower([cluster.api_url("api-a"), cluster.api_url("api-b")], ticket_id)
    follower.start()
    try:
        follower.wait_until(_has_progress)
        cluster.stop_api("api-a", kill=True)
        follower.join(timeout=240)
    finally:
        cluster.start_api("api-a")
    assert follower.done.is_set(), follower.failures

    assert follower.opened[0] == cluster.api_url("api-a") and follower.opened[-1] == cluster.api_url("api-b")
    seen = [message for _, message in follower.messages]
    assert _one_each([message.id for message in seen]), "an event came twice"
    # Every event of the ticket, in order, as a fresh stream on the other host tells them all.
    told = read_all(cluster.api_url("api-b"), ticket_id)
    assert [(m.id, m.event, m.data) for m in seen] == [(m.id, m.event, m.data) for m in told]
    assert told[-1].json()["status"] == "ready"


def test_a_worker_host_cut_off_mid_build_is_replaced_from_its_last_committed_part(cluster: Cluster) -> None:
    ticket_id = _post(cluster, "api-a", cluster.folder(), split_size=SPLIT, compression="store")
    build_id = _build_id(cluster, ticket_id)
    follower = Follower([cluster.api_url("api-b")], ticket_id)
    follower.start()
    follower.wait_until(_has_part(1))
    first = cluster.s3.stat_object(OUTPUT_BUCKET, f"{build_id}/{_part_names(cluster, ticket_id)[0]}")
    lost = cluster.building_host(build_id)
    other = "worker-b" if lost == "worker-a" else "worker-a"
    cluster.host(lost).cut()
    try:
        follower.join(timeout=180)
        assert follower.done.is_set(), follower.messages[-5:]
        assert f"build {build_id} resumed after part 1 of 3" in cluster.log(f"{other}-downloads")
    finally:
        cluster.host(lost).reconnect()
    # Back on the network, the cut worker finds the build taken over (or, when its own delivery
    # was tried again, built already) and stops without a write.
    stopped = (
        f"build {build_id} goes on in another worker",
        f"build {build_id} skipped: ready",
        f"build {build_id} is being built by another worker",
    )
    deadline = time.monotonic() + 60
    while not any(line in cluster.log(f"{lost}-downloads") for line in stopped):
        assert time.monotonic() < deadline, cluster.log(f"{lost}-downloads")[-3000:]
        time.sleep(0.2)
    assert f"build {build_id} ready" not in cluster.log(f"{lost}-downloads")

    assert follower.events("status")[-1]["status"] == "ready"
    assert [event["part"] for event in follower.events("part_ready")] == [1, 2, 3]
    result = api_get(cluster.api_url("api-a"), f"/ticket/{ticket_id}/result").json()
    assert _files_in(_download(result)) == cluster.sources
    names = [part["name"] for part in result["parts"]]
    manifest = result["manifest"]["name"]
    # One archive: each part and the manifest stored once (one version each), nothing half-written.
    assert _stored(cluster, build_id) == sorted(f"{build_id}/{name}" for name in [*names, manifest])
    assert cluster.s3.stat_object(OUTPUT_BUCKET, f"{build_id}/{names[0]}").etag == first.etag
    assert cluster.s3._list_multipart_uploads(OUTPUT_BUCKET, prefix=build_id).uploads == []
    _assert_slot_and_space_free(cluster, _stored_bytes(cluster))


def _part_names(cluster: Cluster, ticket_id: str) -> list[str]:
    result = api_get(cluster.api_url("api-a"), f"/ticket/{ticket_id}/result").json()
    return [part["name"] for part in result["parts"]] + [part["name"] for part in result["pending"]]


def _stored_bytes(cluster: Cluster) -> int:
    """Every byte of the output bucket (all versions): what the space budget must hold."""
    listing = cluster.s3.list_objects(OUTPUT_BUCKET, recursive=True, include_version=True)
    return sum(item.size or 0 for item in listing)


def test_the_redis_primary_killed_mid_build_fails_over_and_the_build_completes(cluster: Cluster) -> None:
    assert cluster.primary() == "redis-a"
    ticket_id = _post(cluster, "api-a", cluster.folder(), split_size=SPLIT, compression="deflate")
    follower = Follower([cluster.api_url("api-b"), cluster.api_url("api-a")], ticket_id)
    follower.start()
    follower.wait_until(_has_progress)

    redis_a = cluster.host("redis-a").processes["redis"]
    redis_a.kill()
    redis_a.wait(timeout=10)
    killed = time.monotonic()
    answers: list[int] = []
    while not answers or answers[-1] != 200:
        assert time.monotonic() - killed < 60, answers
        with contextlib.suppress(httpx.HTTPError):
            status_url, json_only = f"/ticket/{ticket_id}/status", {"Accept": "application/json"}
            answers.append(
                api_get(cluster.api_url("api-b"), status_url, headers=json_only, timeout=5).status_code
            )
        time.sleep(0.2)
    follower.join(timeout=240)

    assert cluster.primary() == "redis-b"
    assert set(answers) <= {200, 503}, answers  # refused while there is no primary, never a 500
    assert follower.done.is_set(), follower.messages[-5:]
    seen = [message for _, message in follower.messages]
    assert _one_each([message.id for message in seen]), "an event came twice"
    assert [m.id for m in seen] == sorted((m.id for m in seen), key=_stream_order)
    final = seen[-1].json()
    assert final["status"] == "ready", final
    result = api_get(cluster.api_url("api-a"), f"/ticket/{ticket_id}/result").json()
    assert _files_in(_download(result)) == cluster.sources
    # What the new primary tells is what the follower saw, less events lost with the old one.
    told = {m.id for m in read_all(cluster.api_url("api-b"), ticket_id)}
    assert told <= {m.id for m in seen}


def _stream_order(entry_id: str | None) -> tuple[int, int]:
    millis, _, sequence = (entry_id or "0-0").partition("-")
    return int(millis), int(sequence or 0)
