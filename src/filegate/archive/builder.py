"""Building an archive: each pinned source streamed into a ZIP and straight into the output."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from filegate.archive.compression import should_deflate
from filegate.archive.zipwriter import ZipWriter
from filegate.snapshot.manifest import Manifest
from filegate.storage.base import OutputWriter, Storage
from filegate.tickets.record import Part

CHUNK_SIZE = 1024 * 1024


@dataclass(slots=True)
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int

    def to_dict(self) -> dict[str, int | float]:
        percent = 100.0 if self.bytes_total == 0 else round(100 * self.bytes_done / self.bytes_total, 1)
        return {
            "files_done": self.files_done,
            "files_total": self.files_total,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "percent": percent,
        }


ProgressCallback = Callable[[Progress], None]


class _HashingSink:
    """Passes bytes to the output while computing their SHA-256: no second read."""

    def __init__(self, output: OutputWriter) -> None:
        self._output = output
        self.sha256 = hashlib.sha256()

    def __call__(self, data: bytes) -> None:
        self.sha256.update(data)
        self._output.write(data)


def build_zip(
    storage: Storage,
    manifest: Manifest,
    output_key: str,
    download_name: str,
    compression: str,
    on_progress: ProgressCallback,
) -> Part:
    """Write the manifest's entries as one ZIP to ``output_key``; nothing is left on failure."""
    progress = Progress(0, manifest.file_count, 0, manifest.total_size)
    with storage.create_output(output_key) as output:
        sink = _HashingSink(output)
        writer = ZipWriter(sink)
        for entry in manifest.entries:
            source = entry.source
            if source.is_dir:
                writer.add_dir(entry.name, source.modified)
                continue
            target = writer.open_entry(
                entry.name, source.modified, source.size, should_deflate(entry.name, compression)
            )
            with storage.open_source(source) as stream:
                for chunk in stream.chunks(CHUNK_SIZE):
                    target.write(chunk)
                    progress.bytes_done += len(chunk)
                    on_progress(progress)
                stream.verify()
            target.close()
            progress.files_done += 1
            on_progress(progress)
        size = writer.close()
        output.commit()
    return Part(name=download_name, key=output_key, size=size, sha256=sink.sha256.hexdigest())
