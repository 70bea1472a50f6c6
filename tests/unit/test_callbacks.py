from __future__ import annotations

import ipaddress

import pytest

from filegate.callbacks import (
    MAX_URL_LENGTH,
    RefusedCallback,
    check_callback,
    is_public,
    literal_address,
    parse_allowed_hosts,
    resolve_callback,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://127.0.0.1:8443/",
        "https://0.0.0.0/",
        "https://192.168.1.20/",
        "https://172.16.0.1/",
        "https://100.64.0.1/",
        "https://224.0.0.1/",
        "https://240.0.0.1/",
        "https://[fe80::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::]/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://127.1/",
    ],
)
def test_a_non_public_literal_address_is_refused(url: str) -> None:
    with pytest.raises(RefusedCallback, match="non-public address"):
        check_callback(url, ())


def test_a_public_https_url_is_taken_apart_for_the_attempt() -> None:
    callback = check_callback("https://Hooks.Example.com:8443/in?x=1", ())
    assert (callback.host, callback.port, callback.target) == ("hooks.example.com", 8443, "/in?x=1")
    assert callback.host_header == "hooks.example.com:8443"
    assert not callback.is_listed
    assert check_callback("https://93.184.216.34", ()).target == "/"


def test_plain_http_needs_a_listed_host() -> None:
    with pytest.raises(RefusedCallback, match="must use https"):
        check_callback("http://hooks.example.com/", ())
    assert check_callback("http://hooks.example.com/", ("hooks.example.com",)).is_listed


def test_a_listed_host_may_be_private() -> None:
    listed = parse_allowed_hosts("127.0.0.1, [::1]")
    assert check_callback("http://127.0.0.1:9000/x", listed).port == 9000
    assert check_callback("http://[::1]:9000/x", listed).host_header == "[::1]:9000"
    # A listed address is the same address however it is written.
    assert check_callback("http://127.000.000.001:9000/x", listed).is_listed
    with pytest.raises(RefusedCallback):
        check_callback("http://127.0.0.2/", listed)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://token@hooks.example.com/", "user name or password"),
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("hooks.example.com/in", "http:// or https://"),
        ("https:///path", "http:// or https://"),
        ("https://hooks.example.com/a b", "spaces or control"),
        ("https://hooks.example.com:99999/", "cannot be read"),
        ("https://hooks.example.com/" + "a" * MAX_URL_LENGTH, "longer than"),
    ],
)
def test_a_malformed_url_is_refused_saying_why(url: str, reason: str) -> None:
    with pytest.raises(RefusedCallback, match=reason):
        check_callback(url, ())


def test_old_ipv4_forms_are_read_as_addresses_and_names_are_not() -> None:
    assert literal_address("2130706433") == ipaddress.IPv4Address("127.0.0.1")
    assert literal_address("0x7f.0.0.1") == ipaddress.IPv4Address("127.0.0.1")
    assert literal_address("1.example") is None
    assert literal_address("hooks.example.com") is None


def test_ipv4_mapped_addresses_are_judged_as_ipv4() -> None:
    assert not is_public(ipaddress.IPv6Address("::ffff:10.0.0.1"))
    assert is_public(ipaddress.IPv6Address("::ffff:93.184.216.34"))
    assert is_public(ipaddress.IPv6Address("2606:4700::1111"))


def test_allowed_hosts_refuse_urls() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        parse_allowed_hosts("https://hooks.example.com/")


def test_a_name_resolving_to_loopback_is_refused_at_delivery() -> None:
    # 'localhost' passes the check made when the URL is given (it is a name)...
    callback = check_callback("https://localhost/hook", ())
    # ...and is refused once resolved, as a name rebound to a private address would be.
    with pytest.raises(RefusedCallback, match="resolves to"):
        resolve_callback(callback)


def test_a_listed_name_resolves_to_its_address() -> None:
    callback = check_callback("http://localhost:8080/", ("localhost",))
    assert resolve_callback(callback).is_loopback
