"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3): known spellings, strict decoding, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.imap import modutf7

KNOWN = [
    ("INBOX", "INBOX"),
    ("", ""),
    ("a&b", "a&-b"),
    ("&", "&-"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("日本語", "&ZeVnLIqe-"),
    # RFC 3501 §5.1.3's own example.
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("☺!", "&Jjo-!"),
    ("x\x01y", "x&AAE-y"),
    ("\U0001f600", "&2D3eAA-"),  # a surrogate pair in UTF-16
]


@pytest.mark.parametrize(("text", "encoded"), KNOWN)
def test_known_spellings(text: str, encoded: str) -> None:
    assert modutf7.encode(text) == encoded
    assert modutf7.decode(encoded) == text


BAD = [
    ("&", "ampersand never closed"),
    ("&Jjo", "shift never closed"),
    ("a&ZeVn", "shift never closed at the end"),
    ("&AGE-", "encoded printable ASCII 'a'"),
    ("&ACY-", "encoded '&' must be &-"),
    ("&U,BTFw-&ZeVnLIqe-", "two adjacent encoded runs (non-minimal)"),
    ("&U,BTFx-", "non-zero leftover bits"),
    ("&2D3-", "lone high surrogate / odd octets"),
    ("&2D0-", "odd number of octets"),
    ("&3gA-", "lone low surrogate"),
    ("&A-", "one base64 char is never valid"),
    ("&Jj*-", "character outside modified base64"),
    ("&Jj/-", "standard base64 '/' instead of ','"),
    ("é", "raw 8-bit character"),
    ("a\x7f", "DEL unencoded"),
    ("a\tb", "control character unencoded"),
    ("&Jjo=-", "padding is not allowed"),
]


@pytest.mark.parametrize(("encoded", "why"), BAD)
def test_strict_decode_rejects(encoded: str, why: str) -> None:
    with pytest.raises(ValueError):
        modutf7.decode(encoded)


def test_encode_rejects_lone_surrogate() -> None:
    with pytest.raises(ValueError):
        modutf7.encode("a\ud800b")


_chars = st.characters(blacklist_categories=("Cs",))


@given(st.text(_chars))
def test_round_trip(text: str) -> None:
    encoded = modutf7.encode(text)
    assert encoded.isascii()
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert modutf7.decode(encoded) == text


@given(st.text(alphabet="&-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,/=x é"))
def test_decode_is_canonical_or_raises(encoded: str) -> None:
    """Whatever decode accepts, encode spells back identically: one spelling per name."""
    try:
        text = modutf7.decode(encoded)
    except ValueError:
        return
    assert modutf7.encode(text) == encoded
