"""decode: RFC 2047 encoded words, transfer encodings, charsets and search normalisation."""

from __future__ import annotations

import pytest

from maildird.message.decode import (
    UnknownTransferEncoding,
    decode_charset,
    decode_header,
    decode_transfer,
    lookup_charset,
    normalize,
)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"plain ascii", "plain ascii"),
        (b"=?utf-8?q?caf=C3=A9?=", "café"),
        (b"=?ISO-8859-1?Q?Andr=E9_Pirard?=", "André Pirard"),  # RFC 2047 §8 example; "_" is a space
        (b"=?utf-8?b?w5xiZXJ3ZWlzdW5n?=", "Überweisung"),
        (b"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 §6.2: blanks between adjacent words vanish
        (b"=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        (b"=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
        (b"=?x-no-such-charset?q?abc?= tail", "=?x-no-such-charset?q?abc?= tail"),  # unknown: kept raw
        (b"=?utf-8*en?q?lang?=", "lang"),  # RFC 2231 §5 language suffix
        (b"=?utf-8?q?broken", "=?utf-8?q?broken"),
        (b"raw 8-bit caf\xc3\xa9", "raw 8-bit café"),
        (b"=?gb2312?b?wO7A1w==?=", "李雷"),
    ],
)
def test_decode_header(raw: bytes, text: str) -> None:
    assert decode_header(raw) == text


@pytest.mark.parametrize(
    ("body", "cte", "decoded"),
    [
        (b"abc", None, b"abc"),
        (b"abc", b"7BIT", b"abc"),
        (b"a\x00b", "binary", b"a\x00b"),
        (b"QUJD\r\nREVG\r\n", "base64", b"ABCDEF"),
        (b"QUJ D\r\n!!REVG", " Base64 ", b"ABCDEF"),  # junk characters ignored
        (b"QUJDRA", "base64", b"ABCD"),  # missing padding supplied
        (b"caf=C3=A9 =\r\nol=C3=A9   \r\nnext", "quoted-printable", "café olé\r\nnext".encode()),
        (b"a=zzb", "quoted-printable", b"a=zzb"),  # malformed escape kept
    ],
)
def test_decode_transfer(body: bytes, cte: bytes | str | None, decoded: bytes) -> None:
    assert decode_transfer(body, cte) == decoded


def test_unknown_transfer_encoding() -> None:
    with pytest.raises(UnknownTransferEncoding) as info:
        decode_transfer(b"begin 644 x", b"X-UUENCODE")
    assert info.value.encoding == "x-uuencode"


@pytest.mark.parametrize(
    ("data", "label", "text"),
    [
        (b"caf\xe9", "iso-8859-1", "café"),
        (b"caf\xc3\xa9", '"UTF-8"', "café"),
        (b"caf\xc3\xa9", "us-ascii", "café"),  # mislabelled 8-bit read as UTF-8
        (b"caf\xc3\xa9", "x-unknown-label", "café"),
        ("似".encode("shift_jis"), "Shift_JIS", "似"),
        (b"caf\xe9", None, "caf\ufffd"),
    ],
)
def test_decode_charset(data: bytes, label: str | None, text: str) -> None:
    assert decode_charset(data, label) == text


def test_lookup_charset() -> None:
    assert lookup_charset("UTF8") == "utf-8"
    assert lookup_charset(b"unknown-8bit") == "iso8859-1"
    assert lookup_charset("no-such") is None


def test_normalize_is_casefold_with_collapsed_whitespace() -> None:
    assert normalize("Straße\r\n  GRÜSSE\tx") == "strasse grüsse x"
    assert normalize("ÉCOLE") == normalize("école")
