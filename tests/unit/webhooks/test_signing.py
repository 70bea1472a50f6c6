from __future__ import annotations

import base64
import hashlib
import hmac

from filegate.webhooks.signing import TOLERANCE_SECONDS, is_valid, secret_key, signature, signed_headers

SECRET = "a-webhook-secret-of-thirty-two-chars"


def test_the_signature_is_the_standard_webhooks_hmac() -> None:
    body = b'{"type":"ticket.ready"}'
    expected = hmac.new(SECRET.encode(), b"msg_1.1700000000." + body, hashlib.sha256).digest()
    assert signature(SECRET, "msg_1", 1700000000, body) == "v1," + base64.b64encode(expected).decode()


def test_a_whsec_secret_is_its_base64_bytes() -> None:
    key = b"\x00\x01raw-key-bytes"
    assert secret_key("whsec_" + base64.b64encode(key).decode()) == key
    # The example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_receiver_accepts_the_headers_sent_and_nothing_altered() -> None:
    body = b'{"type":"ticket.failed"}'
    headers = signed_headers(SECRET, "t1.failed", 1700000000, body)
    assert is_valid(SECRET, headers, body, now=1700000010)
    assert not is_valid(SECRET, headers, body + b" ", now=1700000010)
    assert not is_valid("another-secret", headers, body, now=1700000010)
    assert not is_valid(SECRET, {**headers, "webhook-id": "t2.failed"}, body, now=1700000010)
    assert not is_valid(SECRET, headers, body, now=1700000000 + TOLERANCE_SECONDS + 1)
    # Several signatures (a secret being rotated): one matching is enough.
    rotated = {**headers, "webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    assert is_valid(SECRET, rotated, body, now=1700000000)
    assert not is_valid(SECRET, {}, body, now=1700000000)
