"""The opaque cursor of GET /browse: where a page stopped, in the folder it belongs to."""

from __future__ import annotations

import base64
import hashlib

from filegate.errors import InvalidRequest
from filegate.storage.base import FolderPosition, ListingPhase

_LETTERS = {ListingPhase.FOLDERS: b"d", ListingPhase.FILES: b"f"}
_PHASES = {letter: phase for phase, letter in _LETTERS.items()}
_TAG_LENGTH = 8
MAX_NAME_BYTES = 1024
"""No name is longer: S3 keys are at most 1,024 bytes, local names 255."""
_MAX_PAYLOAD_BYTES = _TAG_LENGTH + 1 + MAX_NAME_BYTES


def _folder_tag(folder: str) -> bytes:
    # Ties a cursor to its folder, so one handed to another folder is refused, not misread.
    return hashlib.sha256(folder.encode()).hexdigest()[:_TAG_LENGTH].encode()


def encode_cursor(folder: str, position: FolderPosition) -> str:
    """URL-safe base64, without padding, of the folder's tag, the phase and the last name."""
    payload = _folder_tag(folder) + _LETTERS[position.phase] + position.name.encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(folder: str, cursor: str) -> FolderPosition:
    """The position a cursor of ``folder`` holds; InvalidRequest naming ``cursor`` otherwise."""
    if len(cursor) > 4 * _MAX_PAYLOAD_BYTES // 3 + 4:
        raise InvalidRequest("the cursor is longer than any this API makes", field="cursor")
    try:
        payload = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        tag, letter = payload[:_TAG_LENGTH], payload[_TAG_LENGTH : _TAG_LENGTH + 1]
        name = payload[_TAG_LENGTH + 1 :].decode()
    except ValueError:  # not base64 (binascii.Error is a ValueError), or the name is not UTF-8
        raise InvalidRequest("the cursor is not one this API made", field="cursor") from None
    phase = _PHASES.get(letter)
    if (
        phase is None
        or len(payload) > _MAX_PAYLOAD_BYTES
        or "/" in name
        or "\x00" in name
        or (not name and phase is ListingPhase.FOLDERS)
    ):
        raise InvalidRequest("the cursor is not one this API made", field="cursor")
    if tag != _folder_tag(folder):
        raise InvalidRequest("the cursor belongs to another folder's listing", field="cursor")
    return FolderPosition(phase, name)
