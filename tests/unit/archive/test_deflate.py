"""Deflate streams made on a pool of threads, and stored blocks, inflate to their input."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.archive.deflate import FINAL_STORED_BLOCK, ParallelDeflate, StoredBlocks, deflate_whole

TEXT = b"".join(b"%d: the quick brown fox jumps over the lazy dog %d\n" % (n, n % 7) for n in range(40_000))


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def _stream(compressor: ParallelDeflate | StoredBlocks, data: bytes, chunk: int) -> bytes:
    out = [compressor.compress(data[start : start + chunk]) for start in range(0, len(data), chunk)]
    return b"".join(out) + compressor.flush()


def test_chunks_deflated_at_once_join_into_one_stream(pool: ThreadPoolExecutor) -> None:
    stream = _stream(ParallelDeflate(pool, in_flight=3), TEXT, 256 * 1024)
    assert zlib.decompress(stream, -15) == TEXT
    assert stream.endswith(FINAL_STORED_BLOCK)


def test_each_chunk_sees_the_window_before_it(pool: ThreadPoolExecutor) -> None:
    """Primed with the 32 KiB before it, a chunk costs hardly more than inside one stream."""
    chunked = _stream(ParallelDeflate(pool, in_flight=3), TEXT, 64 * 1024)
    whole = deflate_whole(TEXT)
    assert len(chunked) <= len(whole) * 1.01 + 16 * (len(TEXT) // (64 * 1024))
    unprimed = sum(
        len(deflate_whole(TEXT[start : start + 64 * 1024])) for start in range(0, len(TEXT), 64 * 1024)
    )
    assert len(chunked) < unprimed


def test_an_empty_entry_is_one_empty_final_block(pool: ThreadPoolExecutor) -> None:
    assert ParallelDeflate(pool, in_flight=2).flush() == FINAL_STORED_BLOCK
    assert StoredBlocks().flush() == FINAL_STORED_BLOCK
    assert zlib.decompress(FINAL_STORED_BLOCK, -15) == b""


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300_000), st.integers(1, 100_000), st.booleans())
def test_any_bytes_in_any_chunks_inflate_back(data: bytes, chunk: int, stored: bool) -> None:
    with ThreadPoolExecutor(2) as executor:
        compressor = StoredBlocks() if stored else ParallelDeflate(executor, in_flight=2)
        assert zlib.decompress(_stream(compressor, data, chunk), -15) == data


def test_noise_in_stored_blocks_keeps_its_bytes_as_they_are() -> None:
    noise = random.Random(7).randbytes(200_000)
    stream = _stream(StoredBlocks(), noise, 100_000)
    assert noise[:65_535] == stream[5 : 5 + 65_535]
    assert len(stream) == len(noise) + 5 * 4 + 5  # two blocks per 100,000 bytes, and the final one


def test_chunks_that_do_not_shrink_go_as_stored_blocks_between_deflated_ones(
    pool: ThreadPoolExecutor,
) -> None:
    """Random bytes between text: the text is deflated, the noise stored (5 bytes a 64 KiB block),
    and the stream inflates to all of it."""
    noise = random.Random(11).randbytes(1024 * 1024)
    text = TEXT[: 1024 * 1024]
    data = text + noise + text
    stream = _stream(ParallelDeflate(pool, in_flight=2), data, 1024 * 1024)
    assert zlib.decompress(stream, -15) == data
    deflated_text = len(_stream(ParallelDeflate(pool, in_flight=2), text, 1024 * 1024))
    assert len(noise) < len(stream) - 2 * deflated_text <= len(noise) + 5 * 17 + 64
    assert noise[:65_535] in stream  # stored as it is


def test_a_whole_file_that_does_not_shrink_is_stored_blocks() -> None:
    noise = random.Random(13).randbytes(300_000)
    stream = deflate_whole(noise)
    assert zlib.decompress(stream, -15) == noise
    assert len(stream) == len(noise) + 5 * 5 + 5
    assert len(deflate_whole(TEXT)) < len(TEXT) / 5
