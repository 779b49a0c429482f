"""The tagged reply's wire form from ``serialize``'s cache of completions is byte for byte what the
general writer makes (``serialize_many``), for every status and text, with and without UTF-8, and
after the cache has been emptied for being full."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.imap import responses
from maildird.imap.responses import Code, Tagged, serialize, serialize_many

TEXTS = ["NOOP completed.", "FETCH completed.", "", "Entwürfe da", "a\r\nb1 OK forged", "nul\0here", "ü"]


@pytest.mark.parametrize("utf8", [False, True])
@pytest.mark.parametrize("status", ["OK", "NO", "BAD"])
@pytest.mark.parametrize("text", TEXTS)
def test_cached_completion_is_the_general_form(status: str, text: str, utf8: bool) -> None:
    reply = Tagged("a1", status, text)  # type: ignore[arg-type]
    first = serialize(reply, utf8=utf8)  # fills the cache
    again = serialize(Tagged("b22", status, text), utf8=utf8)  # type: ignore[arg-type]
    assert first == serialize_many([reply], utf8)
    assert again == b"b22" + first[2:]
    assert b"\r\n" not in first[:-2] and first.endswith(b"\r\n")


def test_utf8_and_ascii_forms_are_kept_apart() -> None:
    assert serialize(Tagged("a", "OK", "ü"), utf8=True) == "a OK ü\r\n".encode()
    assert serialize(Tagged("a", "OK", "ü"), utf8=False) == b"a OK ?\r\n"
    assert serialize(Tagged("a", "OK", "ü"), utf8=True) == "a OK ü\r\n".encode()


def test_a_full_cache_starts_again() -> None:
    for n in range(responses._COMPLETION_CACHE_SIZE + 5):
        assert serialize(Tagged("t", "OK", f"text {n}")) == b"t OK text %d\r\n" % n
    assert len(responses._COMPLETIONS[False]) <= responses._COMPLETION_CACHE_SIZE
    assert serialize(Tagged("t", "OK", "text 0")) == b"t OK text 0\r\n"


def test_a_reply_with_a_code_takes_the_general_path() -> None:
    reply = Tagged("a1", "OK", "done", Code("READ-WRITE"))
    assert serialize(reply) == b"a1 OK [READ-WRITE] done\r\n" == serialize_many([reply])


@given(st.text(max_size=30), st.sampled_from(["OK", "NO", "BAD"]), st.booleans())
def test_any_text(text: str, status: str, utf8: bool) -> None:
    reply = Tagged("x1", status, text)  # type: ignore[arg-type]
    assert serialize(reply, utf8=utf8) == serialize_many([reply], utf8) == serialize(reply, utf8=utf8)
