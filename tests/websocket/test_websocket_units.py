"""Table tests for the WebSocket handshake policy: origins, subprotocols, request heads, plain HTTP."""

from __future__ import annotations

import pytest

from maildird.transports.peer import is_loopback
from maildird.transports.ws_http import (
    OriginPolicy,
    UnsupportedSubprotocol,
    choose_subprotocol,
    http_response,
    is_upgrade,
    page_bytes,
    parse_origin,
    plain_http_answer,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://127.0.0.1:8143", ("http", "127.0.0.1", 8143)),
        ("HTTP://LocalHost:8143", ("http", "localhost", 8143)),
        ("https://webmail.example.org", ("https", "webmail.example.org", 443)),
        ("http://example.org", ("http", "example.org", 80)),
        ("http://[::1]:8143", ("http", "::1", 8143)),
        ("https://example.org/", ("https", "example.org", 443)),
        ("null", None),
        ("", None),
        ("example.org", None),
        ("http://example.org/path", None),
        ("http://example.org:99999", None),
        ("chrome-extension://abcdef", None),  # no default port: never matches a listed http(s) origin
    ],
)
def test_parse_origin(text: str, expected: object) -> None:
    assert parse_origin(text) == expected


LOCAL = ("127.0.0.1", 8143)


@pytest.mark.parametrize(
    ("allowed", "secure", "origin", "local", "verdict"),
    [
        # Non-browser clients send no Origin: allowed.
        ((), False, None, LOCAL, True),
        # The listener's own page, by IP or localhost (loopback only), with the listener's scheme.
        ((), False, "http://127.0.0.1:8143", LOCAL, True),
        ((), False, "http://localhost:8143", LOCAL, True),
        ((), False, "http://[::1]:8143", LOCAL, True),
        ((), False, "https://127.0.0.1:8143", LOCAL, False),
        ((), True, "https://localhost:8143", LOCAL, True),
        ((), True, "http://localhost:8143", LOCAL, False),
        ((), False, "http://127.0.0.1:8144", LOCAL, False),
        ((), False, "http://192.0.2.7:8143", ("192.0.2.7", 8143), True),
        ((), False, "http://localhost:8143", ("192.0.2.7", 8143), False),
        # DNS rebinding: a name resolving to us is still a foreign origin.
        ((), False, "http://rebind.example:8143", LOCAL, False),
        ((), False, "https://evil.example", LOCAL, False),
        ((), False, "null", LOCAL, False),
        ((), False, "garbage", LOCAL, False),
        # Configured entries.
        (("https://webmail.example.org",), False, "https://webmail.example.org", LOCAL, True),
        (("https://webmail.example.org",), False, "https://WEBMAIL.example.org:443", LOCAL, True),
        (("https://webmail.example.org",), False, "http://webmail.example.org", LOCAL, False),
        (("https://webmail.example.org",), False, "https://webmail.example.org.evil", LOCAL, False),
        (("null",), False, "null", LOCAL, True),
        (("*",), False, "https://anything.example", LOCAL, True),
        (("*",), False, "null", LOCAL, True),
    ],
)
def test_origin_policy(
    allowed: tuple[str, ...], secure: bool, origin: str | None, local: tuple[str, int], verdict: bool
) -> None:
    assert OriginPolicy(allowed, secure=secure).allows(origin, *local) is verdict


@pytest.mark.parametrize("entry", ["example.org", "http://example.org/path", "ftp:/x"])
def test_origin_policy_rejects_malformed_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        OriginPolicy([entry], secure=False)


@pytest.mark.parametrize(
    ("proposed", "chosen"),
    [
        ((), None),
        (("imap",), "imap"),
        (("binary",), "binary"),
        (("binary", "imap"), "imap"),
        (("base64", "binary"), "binary"),
        ((" IMAP ",), "imap"),
    ],
)
def test_choose_subprotocol(proposed: tuple[str, ...], chosen: str | None) -> None:
    assert choose_subprotocol(proposed) == chosen


def test_only_foreign_subprotocols_are_refused() -> None:
    with pytest.raises(UnsupportedSubprotocol):
        choose_subprotocol(["base64", "jmap"])


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"GET /imap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", ("GET", "/imap", True)),
        (b"GET /imap HTTP/1.1\r\nupgrade: WebSocket\r\n\r\n", ("GET", "/imap", True)),
        (b"GET /imap HTTP/1.1\r\nUpgrade: h2c, websocket/13\r\n\r\n", ("GET", "/imap", True)),
        (b"GET /imap HTTP/1.1\r\nUpgrade: h2c\r\n\r\n", ("GET", "/imap", False)),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nUpgrade: websocket\r\n", ("GET", "/", False)),  # body, not head
        (b"\r\n\r\n", ("", "", False)),
    ],
)
def test_is_upgrade(head: bytes, expected: tuple[str, str, bool]) -> None:
    assert is_upgrade(head) == expected


@pytest.mark.parametrize(
    ("method", "target", "ws_path", "status"),
    [
        ("GET", "/imap", "/imap", b"200"),
        ("GET", "/imap?ws=ws://x/imap", "/imap", b"200"),
        ("HEAD", "/imap", "/imap", b"200"),
        ("GET", "/", "/imap", b"303"),
        ("GET", "/", "/", b"200"),
        ("GET", "/index.html", "/imap", b"404"),
        ("PUT", "/imap", "/imap", b"405"),
    ],
)
def test_plain_http_answer(method: str, target: str, ws_path: str, status: bytes) -> None:
    answer = plain_http_answer(method, target, ws_path)
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in head + b"\r\n"
    if method == "HEAD":
        assert body == b""
        assert f"Content-Length: {len(page_bytes())}".encode() in head
    elif status == b"200":
        assert body == page_bytes()
        assert b"frame-ancestors 'none'" in head


def test_http_response_counts_the_body() -> None:
    assert http_response(404, "Not Found", b"abc") == (
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nabc"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:192.0.2.1", False),
        ("192.0.2.1", False),
        ("fe80::1%eth0", False),
        ("?", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
