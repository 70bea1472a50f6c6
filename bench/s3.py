"""S3 builds against the S3 server's own speed, in one run: moto's server, started here.

    .venv/bin/python bench/s3.py              # 2 x 128 MiB and 1,000 x 64 KiB; a few minutes
    .venv/bin/python bench/s3.py --large-mib 512 --small 2000 --repeat 3

moto is slow and single-threaded, so its figures only mean something as ratios against what
the same server does for a plain client in the same run:
- "multipart upload": the minio client's put_object of the same byte count from memory, as
  one multipart upload in FILEGATE_S3_PART_SIZE parts, with 1, 2 and 4 parts in flight; the
  best is the baseline (i);
- "streaming copy": every source fetched with get_object and written into one multipart
  upload as it streams (one part at a time; 4 parts in flight);
- filegate store, POST→ready (a private redis-server, one Celery worker, uvicorn, all on S3),
  each build the first of its sources (the CRC-32 cache emptied before it);
- filegate store, server-side copy: the same sources built again under a new name, their CRC-32s
  known from the builds before, so files of FILEGATE_S3_SERVER_COPY_MIN_SIZE and more are copied
  by the server (UploadPartCopy) but for their first bytes; the SHA-256 of the part is read back.
The baselines and the worker reach moto through a proxy, which can hold every request
--rtt-ms, as a store across a network does (moto answers on loopback at once, but serves one
request at a time, so concurrency only pays here once round trips are added).
GET bytes per archived byte: the worker talks to the server through a proxy here that counts
the bytes coming back, over the source bytes; answers to uploads are a few hundred bytes each.
A copied build's GET bytes are mostly the read-back of its part for the SHA-256.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import MB, Filegate, MemoryWatch, free_port

MIB = 1024 * 1024
PART_SIZE = 16 * MIB
KEYS = {"FILEGATE_S3_ACCESS_KEY": "bench", "FILEGATE_S3_SECRET_KEY": "bench-secret"}


@contextlib.contextmanager
def moto(workdir: Path) -> Iterator[str]:
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(20)
        log.close()


class CountingProxy:
    """A TCP proxy to ``port`` on loopback that counts the bytes the server sends back, and
    holds each request ``rtt_seconds`` (the first bytes a client sends after an answer), as a
    store across a network would."""

    def __init__(self, port: int, rtt_seconds: float = 0.0) -> None:
        self.target = port
        self.rtt_seconds = rtt_seconds
        self.received = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            server = socket.create_connection(("127.0.0.1", self.target))
            answered = threading.Event()
            answered.set()
            threading.Thread(target=self._pipe, args=(client, server, False, answered), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True, answered), daemon=True).start()

    def _pipe(
        self, source: socket.socket, target: socket.socket, counted: bool, answered: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1024 * 1024):
                if counted:
                    self.received += len(data)
                    answered.set()
                elif answered.is_set():  # a new request on this connection
                    answered.clear()
                    time.sleep(self.rtt_seconds)
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


def upload_sources(
    client: Minio, bucket: str, large_mib: int, small: int
) -> dict[str, tuple[list[str], int]]:
    client.make_bucket(bucket)
    client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    sets: dict[str, tuple[list[str], int]] = {}
    large = [f"large/file-{n}.bin" for n in range(2)]
    for key in large:
        client.put_object(
            bucket, key, io.BytesIO(os.urandom(large_mib * MIB)), large_mib * MIB, part_size=PART_SIZE
        )
    sets["large"] = (["large"], 2 * large_mib * MIB)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: client.put_object(
                    bucket, f"small/{n // 100}/f{n}.bin", io.BytesIO(os.urandom(64 * 1024)), 64 * 1024
                ),
                range(small),
            )
        )
    sets["small"] = (["small"], small * 64 * 1024)
    return sets


def multipart_upload(client: Minio, bucket: str, size: int, in_flight: int) -> float:
    data = os.urandom(min(size, 64 * MIB))
    stream = io.BytesIO(data * (size // len(data)) + data[: size % len(data)])
    started = time.perf_counter()
    client.put_object(
        bucket, "baseline.bin", stream, size, part_size=PART_SIZE, num_parallel_uploads=in_flight
    )
    return time.perf_counter() - started


def streaming_copy(client: Minio, source: str, target: str, prefix: str) -> float:
    """Every object under ``prefix`` read as a stream into one object, as a build would."""
    started = time.perf_counter()
    read, write = os.pipe()
    reader = os.fdopen(read, "rb")

    def produce() -> None:
        with os.fdopen(write, "wb") as sink:
            for item in client.list_objects(source, prefix=f"{prefix}/", recursive=True):
                response = client.get_object(source, item.object_name or "")
                try:
                    for chunk in response.stream(MIB):
                        sink.write(chunk)
                finally:
                    response.close()
                    response.release_conn()

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(produce)
        client.put_object(target, "copy.bin", reader, -1, part_size=PART_SIZE, num_parallel_uploads=4)
        done.result()
    reader.close()
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured_build(
    service: Filegate, proxy: CountingProxy, paths: list[str], forget_crcs: bool
) -> tuple[float, int, int, float, float]:
    """One store build under a new name: (seconds to ready, GET bytes, worker RSS growth, seconds
    to POST's answer, the building process's CPU seconds). ``forget_crcs`` empties the CRC-32
    cache first: the build streams."""
    if forget_crcs:
        with redis.Redis.from_url(service.redis_url) as client:
            for key in client.scan_iter("filegate:crc:*"):
                client.delete(key)
    builder = service.builder_pid()
    watch = MemoryWatch(builder)
    watch.start()
    before, cpu = proxy.received, cpu_seconds(builder)
    _, posted, elapsed = service._request(paths, "store")
    return elapsed, proxy.received - before, watch.stop()[1], posted, cpu_seconds(builder) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large-mib", type=int, default=128)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--rtt-ms", type=float, default=0.0, help="hold each request this long, for every client (a network)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, moto(Path(scratch)) as endpoint:
        workdir = Path(scratch)
        client = Minio(
            endpoint.removeprefix("http://"), "bench", "bench-secret", secure=False, region="us-east-1"
        )
        client.make_bucket("outputs")
        client.make_bucket("copies")
        sets = upload_sources(client, "sources", args.large_mib, args.small)
        proxy = CountingProxy(int(endpoint.rsplit(":", 1)[1]), args.rtt_ms / 1000)
        # The baselines and filegate's worker reach the server the same way: through the proxy.
        client = Minio(f"127.0.0.1:{proxy.port}", "bench", "bench-secret", secure=False, region="us-east-1")
        service = Filegate(
            workdir / "unused-root",
            workdir / "unused-out",
            workdir,
            "prefork",
            {
                "FILEGATE_STORAGE": "s3",
                "FILEGATE_S3_ENDPOINT": endpoint,
                "FILEGATE_S3_SOURCE_BUCKET": "sources",
                "FILEGATE_S3_OUTPUT_BUCKET": "outputs",
                "FILEGATE_S3_PART_SIZE": f"{PART_SIZE}",
                **KEYS,
            },
            {"FILEGATE_S3_ENDPOINT": f"http://127.0.0.1:{proxy.port}"},
        )
        service.start()
        try:
            print(
                f"moto at {endpoint}; part size {PART_SIZE // MIB} MiB; {args.rtt_ms:g} ms per request;"
                f" load {os.getloadavg()[0]:.2f}\n"
            )
            for name, (paths, total) in sets.items():
                upload = {
                    n: min(multipart_upload(client, "copies", total, n) for _ in range(args.repeat))
                    for n in (1, 2, 4)
                }
                copy = min(streaming_copy(client, "sources", "copies", name) for _ in range(args.repeat))
                builds = [measured_build(service, proxy, paths, forget_crcs=True) for _ in range(args.repeat)]
                # Small files are never copied: only the large set has a server-side copy row.
                copied = [
                    measured_build(service, proxy, paths, forget_crcs=False)
                    for _ in range(args.repeat if name == "large" else 0)
                ]
                best_upload = min(upload.values())
                elapsed, read, growth, posted, cpu = min(builds)
                print(f"{name}: {total / MB:,.1f} MB")
                print(f"{'method':<34} {'s':>7} {'MB/s':>7} {'vs (i)':>7}")

                def row(method: str, seconds: float, best: float = best_upload, size: int = total) -> None:
                    print(f"{method:<34} {seconds:7.2f} {size / seconds / MB:7.1f} {best / seconds:6.2f}×")

                for n, seconds in upload.items():
                    row(f"multipart upload, {n} in flight", seconds)
                row("streaming copy, 4 in flight", copy)
                row("filegate store (POST→ready)", elapsed)
                share = best_upload / elapsed
                print(f"(POST /download, with the snapshot, answered in {posted:.2f} s)")
                print(
                    f"GET bytes per archived byte {read / total:.3f}; worker RSS growth {growth / MB:.1f} MB;"
                    f" worker CPU {cpu:.2f} s"
                )
                print(f"goal ≥ 0.8 of (i): {share:.2f}: {'met' if share >= 0.8 else 'MISSED'}")
                if copied:
                    elapsed, read, growth, posted, cpu = min(copied)
                    row("filegate store, server-side copy", elapsed)
                    print(
                        f"(POST {posted:.2f} s) GET bytes per archived byte {read / total:.3f};"
                        f" worker RSS growth {growth / MB:.1f} MB; worker CPU {cpu:.2f} s"
                    )
                print()
        finally:
            service.close()
    print(f"load average {os.getloadavg()[0]:.2f} at the end (above ~0.5, other work shared the cores)")


if __name__ == "__main__":
    main()
