"""The ``dovecot-uidlist`` format: its records, parsing and serializing (maildir-format.md §3).

Pure functions on bytes and values; reading and writing the file, under the uidlist lock, is
``uidlist`` (which re-exports these names, so callers import everything from there). The theory of
operation of the file is in ``uidlist``'s docstring.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice, repeat
from operator import itemgetter, lt
from typing import NamedTuple

from maildird.store.base import Corrupt
from maildird.store.maildir.filenames import INFO_SEP

UIDLIST_NAME = "dovecot-uidlist"
TMP_NAME = "dovecot-uidlist.tmp"
BROKEN_PREFIX = "dovecot-uidlist.broken."
VERSION = 3
MAX_UID = 2**32 - 2
"""UIDs are 1 .. 2^32-2 (Dovecot treats 0 and (uint32)-1 as invalid)."""
MAX_UIDVALIDITY = 2**32 - 1
GUID_HEX_LEN = 32

_GUID_RE = re.compile(r"[0-9a-fA-F]{32}")


class UidlistCorrupt(Corrupt):
    """The file cannot be trusted; ``line`` is 1-based (like Dovecot's "Broken file ... line N")."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"dovecot-uidlist line {line}: {reason}")
        self.line = line
        self.reason = reason


class UidlistLowered(ValueError):
    """A rewrite would lower ``N`` (or a UID) for the same UIDVALIDITY (§3.3.1)."""


class UidRecord(NamedTuple):
    """One record: ``uid``, the ``filename`` as stored (Dovecot writes the base name; older
    versions wrote the full name) and the extension fields ``(key, value)`` in file order.
    A ``NamedTuple``: a restart may parse 100,000 of them, and a tuple is cheap to build."""

    uid: int
    filename: str
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def base(self) -> str:
        cut = self.filename.find(INFO_SEP)
        return self.filename if cut < 0 else self.filename[:cut]

    def ext(self, key: str) -> str | None:
        for k, v in self.extensions:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Uidlist:
    """The parsed file.

    ``next_uid`` is the header ``N`` as read; use ``effective_next_uid``. ``guid`` is the mailbox GUID
    (32 hex digits) or None when the header has none. ``header_extra`` keeps unknown header fields.
    ``needs_rewrite`` says that the file should be recreated (version 1, no GUID, dropped invalid
    extension fields or duplicate base names), as Dovecot would.
    """

    uidvalidity: int
    next_uid: int
    guid: str | None
    records: tuple[UidRecord, ...] = ()
    header_extra: tuple[tuple[str, str], ...] = ()
    version: int = VERSION
    needs_rewrite: bool = False

    @property
    def last_uid(self) -> int:
        return self.records[-1].uid if self.records else 0

    @property
    def effective_next_uid(self) -> int:
        return max(self.next_uid, self.last_uid + 1)

    def by_base(self) -> dict[str, UidRecord]:
        recs = self.records
        names = list(map(_NAME_OF, recs))
        if INFO_SEP not in "".join(names):  # every file name is its base (what Dovecot writes)
            return dict(zip(names, recs, strict=True))
        return {r.base: r for r in recs}

    @classmethod
    def new(cls, uidvalidity: int) -> Uidlist:
        """An empty list for a fresh mailbox (or one whose list was lost): N = 1, a new GUID."""
        return cls(uidvalidity=uidvalidity, next_uid=1, guid=new_guid())

    def with_records(self, records: Iterable[UidRecord]) -> Uidlist:
        """The same header with these records (in ascending UID order); ``N`` is kept, not lowered."""
        recs = tuple(records)
        _check_ascending(recs, 0)
        n = max(self.effective_next_uid, (recs[-1].uid + 1) if recs else 1)
        return replace(self, records=recs, next_uid=n, version=VERSION)


def new_guid() -> str:
    """A new 128-bit mailbox/message GUID as 32 lowercase hex digits."""
    return secrets.token_hex(GUID_HEX_LEN // 2)


# --------------------------------------------------------------------------------------------------
# Parsing


def parse_uidlist(data: bytes) -> Uidlist:
    """Parse the bytes of a dovecot-uidlist (v1 or v3); raise ``UidlistCorrupt``.

    Only complete (LF-terminated) lines are used; a trailing fragment is ignored.
    """
    end = data.rfind(b"\n")
    if end < 0:
        raise UidlistCorrupt(1, "Corrupted header (empty file)")
    lines = data[:end].split(b"\n")
    text = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    header = text[0].decode("utf-8", "surrogateescape")
    version_s, _, rest = header.partition(" ")
    if version_s == "3":
        uidlist = _parse_header_v3(rest)
    elif version_s == "1":
        uidlist = _parse_header_v1(rest)
    elif version_s.isdigit():
        raise UidlistCorrupt(1, f"Unsupported version {version_s}")
    else:
        raise UidlistCorrupt(1, "Corrupted header (invalid version number)")
    if uidlist.version == VERSION and b"\r" not in data:
        fast = _plain_records(data[data.find(b"\n") + 1 : end])
        if fast is not None:
            return replace(uidlist, records=fast)
    records: list[UidRecord] = []
    positions: dict[str, int] = {}
    needs_rewrite = uidlist.needs_rewrite
    duplicates = False
    prev = 0
    v3 = uidlist.version == VERSION
    for lineno, raw in enumerate(text[1:], start=2):
        line = raw.decode("utf-8", "surrogateescape")
        if not line:
            continue
        # The common v3 line "<uid> :<base>" is taken apart inline (a restart may read 100,000);
        # anything else (extensions, odd UIDs, v1) goes through the full record parser.
        sp = line.find(" ")
        uid_s = line[:sp]
        filename = line[sp + 2 :]
        if (
            v3
            and line[sp + 1 : sp + 2] == ":"
            and uid_s.isascii()
            and uid_s.isdigit()
            and filename
            and "/" not in filename
            and 0 < (uid := int(uid_s)) <= MAX_UID
        ):
            rec = UidRecord(uid, filename)
        else:  # also raises the precise error for a broken line
            rec, dropped = _parse_record(line, lineno, uidlist.version)
            needs_rewrite |= dropped
            uid, filename = rec.uid, rec.filename
        if uid <= prev:
            raise UidlistCorrupt(lineno, f"UIDs not ordered ({prev} >= {uid})")
        prev = uid
        cut = filename.find(INFO_SEP)
        base = filename if cut < 0 else filename[:cut]
        if base in positions:  # the later line wins (Dovecot "Duplicate file entry")
            records[positions[base]] = UidRecord(0, "")
            needs_rewrite = duplicates = True
        positions[base] = len(records)
        records.append(rec)
    recs = tuple(r for r in records if r.uid) if duplicates else tuple(records)
    return replace(uidlist, records=recs, needs_rewrite=needs_rewrite)


def _plain_records(body: bytes) -> tuple[UidRecord, ...] | None:
    """The records of a v3 body whose every line is ``<uid> :<file name>`` (what Dovecot writes
    unless a message has extensions), checked and built by C-level calls over all lines at once:
    the same records as the line loop of ``parse_uidlist``, which takes anything else (None here:
    extensions, UIDs not ascending or out of range, a name twice, odd lines) and raises its errors.
    A folder of 100,000 messages: ~3 us per line in the loop."""
    lines = [ln for ln in body.decode("utf-8", "surrogateescape").split("\n") if ln]
    if not lines:
        return ()
    parts = [ln.partition(" :") for ln in lines]
    uid_texts = list(map(itemgetter(0), parts))
    names = list(map(itemgetter(2), parts))
    digits = "".join(uid_texts)
    joined = "".join(names)
    if not (all(map(itemgetter(1), parts)) and all(uid_texts) and all(names)):
        return None
    if not (digits.isascii() and digits.isdigit()) or "/" in joined:
        return None
    uids = list(map(int, uid_texts))
    if not (uids[0] > 0 and uids[-1] <= MAX_UID and all(map(lt, uids, islice(uids, 1, None)))):
        return None
    bases = names if INFO_SEP not in joined else [n.partition(INFO_SEP)[0] for n in names]
    if len(set(bases)) != len(bases):
        return None  # a base twice: the loop keeps the later line
    return tuple(map(tuple.__new__, repeat(UidRecord), zip(uids, names, repeat(()))))


def _parse_header_v3(rest: str) -> Uidlist:
    uidvalidity = next_uid = 0
    guid: str | None = None
    extra: list[tuple[str, str]] = []
    for field in rest.split(" "):
        if not field:
            continue
        key, value = field[0], field[1:]
        if key in "VN":
            if not value.isdigit():
                raise UidlistCorrupt(1, f"Broken header field {field!r}")
            if key == "V":
                uidvalidity = int(value)
            else:
                next_uid = int(value)
        elif key == "G":
            if not _GUID_RE.fullmatch(value):
                raise UidlistCorrupt(1, f"Invalid mailbox GUID {value!r}")
            guid = value.lower()
        else:
            extra.append((key, value))
    _check_header(uidvalidity, next_uid)
    return Uidlist(uidvalidity, next_uid, guid, (), tuple(extra), 3, guid is None)


def _parse_header_v1(rest: str) -> Uidlist:
    parts = rest.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UidlistCorrupt(1, "Corrupted header")
    uidvalidity, next_uid = int(parts[0]), int(parts[1])
    _check_header(uidvalidity, next_uid)
    return Uidlist(uidvalidity, next_uid, None, (), (), 1, True)


def _check_header(uidvalidity: int, next_uid: int) -> None:
    if not (0 < uidvalidity <= MAX_UIDVALIDITY) or not (0 < next_uid <= MAX_UID + 1):
        raise UidlistCorrupt(1, "Broken header (uidvalidity = 0 or next_uid = 0)")


def _parse_record(line: str, lineno: int, version: int) -> tuple[UidRecord, bool]:
    uid_s, sep, rest = line.partition(" ")
    if not (uid_s.isascii() and uid_s.isdigit()) or not sep:  # "²".isdigit(), but int() refuses it
        raise UidlistCorrupt(lineno, "Invalid data")
    uid = int(uid_s)
    if not (0 < uid <= MAX_UID):
        raise UidlistCorrupt(lineno, f"Invalid UID {uid}")
    dropped = False
    exts: list[tuple[str, str]] = []
    if version == 1:
        filename = rest
    else:
        while not rest.startswith(":"):
            field, sep, rest = rest.partition(" ")
            if not sep:
                raise UidlistCorrupt(lineno, "Invalid data (no filename)")
            if field and "A" <= field[0] <= "Z":
                exts.append((field[0], field[1:]))
            elif field:
                dropped = True  # Dovecot: "Invalid extension record, removing"
        filename = rest[1:]
    if not filename or "/" in filename:
        raise UidlistCorrupt(lineno, f"Broken filename {filename!r}")
    return UidRecord(uid, filename, tuple(exts)), dropped


def _check_ascending(records: Iterable[UidRecord], after: int) -> None:
    recs = records if isinstance(records, tuple | list) else tuple(records)
    uids = list(map(_UID_OF, recs))
    if not uids or (after < uids[0] and uids[-1] <= MAX_UID and all(map(lt, uids, islice(uids, 1, None)))):
        return  # ascending, in range: checked by C-level calls (a first open writes 100,000)
    prev = after
    for uid in uids:
        if not (prev < uid <= MAX_UID):
            raise ValueError(f"record UIDs must ascend: {prev} then {uid}")
        prev = uid


# --------------------------------------------------------------------------------------------------
# Serializing


def format_record(rec: UidRecord) -> bytes:
    """``<uid>[ <K><value>...] :<base>\\n``. The base name only (Dovecot strips at the first ``:``)."""
    if "/" in rec.filename or "\n" in rec.filename or "\r" in rec.filename or not rec.filename:
        raise ValueError(f"invalid filename for dovecot-uidlist: {rec.filename!r}")
    fields = "".join(f"{k}{v} " for k, v in rec.extensions)
    return f"{rec.uid} {fields}:{rec.base}\n".encode("utf-8", "surrogateescape")


def format_records(records: Sequence[UidRecord]) -> bytes:
    """``b"".join(map(format_record, records))`` (same octets, same errors), in C-level calls when
    no record has extensions and no file name needs a check of its own: a first open writes
    100,000 records. The names are checked all at once in their LF-joined text."""
    if not records:
        return b""
    uids = list(map(_UID_OF, records))
    names = list(map(_NAME_OF, records))
    joined = "\n".join(names)
    if (
        any(map(_EXTS_OF, records))
        or not all(names)
        or joined.count("\n") != len(names) - 1
        or "/" in joined
        or "\r" in joined
        or INFO_SEP in joined
    ):
        return b"".join(map(format_record, records))  # the general way, and its precise error
    return "".join([f"{uid} :{name}\n" for uid, name in zip(uids, names, strict=True)]).encode(
        "utf-8", "surrogateescape"
    )


_UID_OF = itemgetter(0)
_NAME_OF = itemgetter(1)
_EXTS_OF = itemgetter(2)


def serialize_uidlist(uidlist: Uidlist) -> bytes:
    """Version 3 bytes with LF line ends: ``3 V<uv> N<next> G<guid>[ extra]`` then the records.

    The header carries the effective next UID.
    """
    _check_ascending(uidlist.records, 0)
    head = [f"3 V{uidlist.uidvalidity} N{uidlist.effective_next_uid}"]
    if uidlist.guid is not None:
        head.append(f"G{uidlist.guid}")
    head.extend(f"{k}{v}" for k, v in uidlist.header_extra)
    return (" ".join(head) + "\n").encode("utf-8", "surrogateescape") + format_records(uidlist.records)
