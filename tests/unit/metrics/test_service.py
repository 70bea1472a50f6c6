"""Who may scrape GET /metrics: loopback without a token, anyone with it."""

from __future__ import annotations

import pytest

from filegate.auth.service import Unauthorized
from filegate.errors import Forbidden
from filegate.metrics.service import authorize_scrape, is_loopback

TOKEN = "metrics-token-0123456789abcdef0123456789"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_addresses_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", [None, "", "10.0.0.1", "203.0.113.7", "::ffff:10.0.0.1", "2001:db8::1", "x"])
def test_other_addresses_are_not_loopback(host: str | None) -> None:
    assert not is_loopback(host)


def test_without_a_token_only_loopback_may_scrape() -> None:
    authorize_scrape("", None, "127.0.0.1")
    authorize_scrape("", None, "::1")
    with pytest.raises(Forbidden):
        authorize_scrape("", None, "203.0.113.7")
    with pytest.raises(Forbidden):
        authorize_scrape("", f"Bearer {TOKEN}", None)


@pytest.mark.parametrize("authorization", [None, "", "Bearer", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN])
def test_with_a_token_anything_else_answers_401(authorization: str | None) -> None:
    with pytest.raises(Unauthorized):
        authorize_scrape(TOKEN, authorization, "127.0.0.1")


def test_with_a_token_it_is_enough_from_anywhere() -> None:
    authorize_scrape(TOKEN, f"Bearer {TOKEN}", "203.0.113.7")
    authorize_scrape(TOKEN, f"bearer  {TOKEN} ", None)
