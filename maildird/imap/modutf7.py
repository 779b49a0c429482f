"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3).

Printable US-ASCII (0x20-0x7E) stands for itself, except ``&`` which is written ``&-``. Every other
run of characters is UTF-16BE, base64-encoded with ``,`` in place of ``/`` and no padding, between
``&`` and ``-``. The RFC adds that the shortest form must be used: no encoded printable ASCII, no
two encoded runs side by side, no leftover bits. ``decode`` is strict: it accepts only the one
canonical spelling of a name, so two spellings can never name the same mailbox (the check is
simply ``encode(decode(s)) == s``), and it raises ``ValueError`` on anything else.
"""

from __future__ import annotations

import binascii
import re

__all__ = ["decode", "encode"]

_PRINTABLE_FIRST = 0x20
_PRINTABLE_LAST = 0x7E
_B64_STD = b"+/"
_B64_MOD = b"+,"
_TO_MOD = bytes.maketrans(_B64_STD, _B64_MOD)
_FROM_MOD = bytes.maketrans(_B64_MOD, _B64_STD)

# Runs of characters that must be base64-encoded: anything outside printable ASCII.
_NEEDS_ENCODING = re.compile(r"[^\x20-\x7e]+")
# One token of an encoded name: a shifted run "&...-" or a run of plain printable ASCII but "&".
_TOKEN = re.compile(r"&([A-Za-z0-9+,]*)-|[\x20-\x25\x27-\x7e]+")


def _encode_run(run: str) -> str:
    # UnicodeEncodeError (a ValueError) for lone surrogates, which are not characters.
    utf16 = run.encode("utf-16-be")
    b64 = binascii.b2a_base64(utf16, newline=False).rstrip(b"=").translate(_TO_MOD)
    return "&" + b64.decode("ascii") + "-"


def encode(name: str) -> str:
    """Encode a Unicode mailbox name to modified UTF-7 (RFC 3501 §5.1.3)."""
    if name.isascii() and name.isprintable():
        # Fast path for the common case; ``isprintable`` is False for all ASCII controls.
        return name.replace("&", "&-")
    out: list[str] = []
    pos = 0
    for match in _NEEDS_ENCODING.finditer(name):
        out.append(name[pos : match.start()].replace("&", "&-"))
        out.append(_encode_run(match.group()))
        pos = match.end()
    out.append(name[pos:].replace("&", "&-"))
    return "".join(out)


def _decode_run(b64: str) -> str:
    if not b64:
        return "&"
    data = b64.encode("ascii").translate(_FROM_MOD)
    data += b"=" * (-len(data) % 4)
    try:
        utf16 = binascii.a2b_base64(data, strict_mode=True)
        return utf16.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"bad modified base64 in mailbox name: &{b64}-") from exc


def decode(name: str) -> str:
    """Decode a modified UTF-7 mailbox name (RFC 3501 §5.1.3); raises ValueError unless canonical."""
    if "&" not in name:
        if not (name.isascii() and name.isprintable()):
            raise ValueError("mailbox name has characters outside printable US-ASCII")
        return name
    out: list[str] = []
    pos = 0
    length = len(name)
    while pos < length:
        match = _TOKEN.match(name, pos)
        if match is None:
            raise ValueError(f"invalid modified UTF-7 at offset {pos}")
        b64 = match.group(1)
        out.append(match.group() if b64 is None else _decode_run(b64))
        pos = match.end()
    result = "".join(out)
    # The RFC's shortest-form rules (no encoded printable ASCII, no adjacent runs, no stray bits)
    # all amount to: re-encoding gives back exactly what was sent.
    if encode(result) != name:
        raise ValueError("mailbox name is not in canonical modified UTF-7 form")
    return result
