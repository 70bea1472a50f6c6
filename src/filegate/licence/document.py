"""The licence document: its terms as JSON, signed with Ed25519 by the vendor.

On disk it is one line, ``<payload>.<signature>``, both base64url without
padding; the payload is the UTF-8 JSON of the terms. filegate holds only the
public key (FILEGATE_LICENCE_PUBLIC_KEY, raw 32 bytes in base64).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

FEATURES = ("split", "priorities")
"""What a licence may grant: split archives, and the 'high' priority."""


class LicenceError(Exception):
    """The licence cannot be read or its signature does not hold."""


@dataclass(frozen=True, slots=True)
class Terms:
    licensee: str
    expires: date
    max_concurrent_builds: int
    max_archive_size: int
    features: tuple[str, ...] = field(default=FEATURES)
    licence_id: str = ""
    issued: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "licence_id": self.licence_id,
            "licensee": self.licensee,
            "issued": self.issued.isoformat() if self.issued else None,
            "expires": self.expires.isoformat(),
            "limits": {
                "max_concurrent_builds": self.max_concurrent_builds,
                "max_archive_size": self.max_archive_size,
                "features": list(self.features),
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Terms:
        try:
            limits = data["limits"]
            return cls(
                licensee=str(data["licensee"]),
                expires=date.fromisoformat(data["expires"]),
                max_concurrent_builds=int(limits["max_concurrent_builds"]),
                max_archive_size=int(limits["max_archive_size"]),
                features=tuple(str(feature) for feature in limits["features"]),
                licence_id=str(data.get("licence_id") or ""),
                issued=date.fromisoformat(data["issued"]) if data.get("issued") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LicenceError(f"the licence's terms are incomplete or malformed ({exc})") from None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key_pair() -> tuple[str, str]:
    """(private key, public key), raw bytes in standard base64."""
    private = Ed25519PrivateKey.generate()
    private_raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(private_raw).decode(), base64.b64encode(public_raw).decode()


def sign(terms: Terms, private_key: str) -> str:
    try:
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise LicenceError(f"the private key is not a base64 Ed25519 key ({exc})") from None
    payload = json.dumps(terms.to_json(), sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64encode(payload)}.{_b64encode(key.sign(payload))}"


def verify(text: str, public_key: str) -> Terms:
    """The terms of a licence whose signature holds for ``public_key``; LicenceError otherwise."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise LicenceError(f"FILEGATE_LICENCE_PUBLIC_KEY is not a base64 Ed25519 key ({exc})") from None
    payload_text, dot, signature_text = "".join(text.split()).partition(".")
    if not dot:
        raise LicenceError("the licence is not '<payload>.<signature>'")
    try:
        payload, signature = _b64decode(payload_text), _b64decode(signature_text)
    except (ValueError, binascii.Error):
        raise LicenceError("the licence is not valid base64") from None
    try:
        key.verify(signature, payload)
    except InvalidSignature:
        raise LicenceError(
            "the licence's signature does not match: it was altered or not issued for this key"
        ) from None
    try:
        data = json.loads(payload)
    except ValueError:
        raise LicenceError("the licence's terms are not JSON") from None
    if not isinstance(data, dict):
        raise LicenceError("the licence's terms are not a JSON object")
    return Terms.from_json(data)
