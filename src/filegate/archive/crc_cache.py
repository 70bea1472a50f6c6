"""CRC-32s of pinned sources remembered in Redis, so a later build knows them before it reads.

A ZIP entry left uncompressed needs its CRC-32 in its local header to be stored as it is
(ZipWriter.open_entry); only then can its bytes be placed without passing through the worker
(a server-side copy on S3). Every build remembers the CRC-32 it computed for each streamed
file, under the source's pin (``Storage.content_pin``: an S3 version id or ETag, the local
store's size-mtime-inode token), for ``ttl_seconds``. A pin names immutable bytes, so a CRC-32
found for it is the CRC-32 of the bytes the build will place; a stored entry whose bytes pass
through the worker is checked against it all the same (EntryMismatch).

The cache only ever spares work: Redis not answering means no CRC-32 is known, and a failed
write is logged and forgotten.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import redis
from redis.exceptions import RedisError

from filegate.archive.buffers import CHUNK_SIZE
from filegate.archive.parts import PlannedPart
from filegate.state import keys
from filegate.storage.base import SourceEntry, Storage

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 30 * 86400
STORED_CRC_REQUESTS = 8
"""HEAD requests for the store's own CRC-32s in flight at once."""


def _key(storage: Storage, source: SourceEntry) -> str:
    return keys.source_crc(hashlib.sha256(storage.content_pin(source).encode()).hexdigest())


class CrcCache:
    def __init__(self, client: redis.Redis, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._client = client
        self._ttl_seconds = ttl_seconds

    def known(self, storage: Storage, sources: Iterable[SourceEntry]) -> dict[SourceEntry, int]:
        """The CRC-32s remembered for these sources, in one round trip; the rest are left out."""
        wanted = list(dict.fromkeys(sources))
        if not wanted:
            return {}
        try:
            values = self._client.mget([_key(storage, source) for source in wanted])
        except RedisError as exc:
            log.warning("the CRC-32 cache could not be read: %s", exc)
            return {}
        found: dict[SourceEntry, int] = {}
        for source, value in zip(wanted, values, strict=True):
            if value is not None and str(value).isdigit() and int(value) <= 0xFFFFFFFF:
                found[source] = int(value)
        return found

    def remember(self, storage: Storage, crcs: Mapping[SourceEntry, int]) -> None:
        """Keep each CRC-32 for the TTL from now (one round trip)."""
        if not crcs:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for source, crc in crcs.items():
                    pipe.set(_key(storage, source), crc, ex=self._ttl_seconds)
                pipe.execute()
        except RedisError as exc:
            log.warning("the CRC-32 cache could not be written: %s", exc)


def crcs_before_build(
    storage: Storage, plan: list[PlannedPart], cache: CrcCache | None
) -> dict[SourceEntry, int]:
    """The CRC-32s known before a build of its files that stream (1 MiB and more): from the cache
    in one round trip, then, for those the store might copy, the store's own where it keeps one
    (one request each, up to STORED_CRC_REQUESTS at once; StorageUnavailable if one fails)."""
    sources = [
        entry.source
        for part in plan
        for entry in part.entries
        if not entry.source.is_dir and entry.source.size >= CHUNK_SIZE
    ]
    known = cache.known(storage, sources) if cache is not None else {}
    copied_from = storage.server_copy_min_size
    if copied_from is None:
        return known
    asked = list(dict.fromkeys(s for s in sources if s.size >= copied_from and s not in known))
    if not asked:
        return known
    # One HEAD each, a few at once: a build of many large files waits for one round trip or so.
    with ThreadPoolExecutor(min(STORED_CRC_REQUESTS, len(asked)), thread_name_prefix="filegate-crc") as pool:
        for source, stored in zip(asked, pool.map(storage.stored_crc32, asked), strict=True):
            if stored is not None:
                known[source] = stored
    return known
