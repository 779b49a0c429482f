"""The subscriptions file (maildir-format.md §2.5) against the bytes Dovecot wrote (E3c, E3i, E6)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.store.maildir.lock import LockTimeout
from maildird.store.maildir.subscriptions import (
    LOCK_NAME,
    LOCK_STALE_SECS,
    SUBSCRIPTIONS_NAME,
    parse_subscriptions,
    read_subscriptions,
    serialize_subscriptions,
    update_subscriptions,
)

E3C = b"V\t2\n\nINBOX\nFoo\nFoo\tBar\nT&AOQ- st\nSent Items\n"
E3I = b"V\t2\n\nINBOX\nFoo\nT&AOQ- st\nSent Items\n"
E3C_NAMES = {"INBOX", "Foo", "Foo.Bar", "Tä st", "Sent Items"}


def test_parse_dovecot_v2() -> None:
    assert parse_subscriptions(E3C) == (2, E3C_NAMES)
    assert serialize_subscriptions(E3C_NAMES) == b"V\t2\n\nFoo\nFoo\tBar\nINBOX\nSent Items\nT&AOQ- st\n"
    assert parse_subscriptions(b"V\t2\n\nT\xc3\xa4st\tsub\n", utf8_names=True) == (2, {"Täst.sub"})
    assert serialize_subscriptions({"Täst.sub"}, utf8_names=True) == b"V\t2\n\nT\xc3\xa4st\tsub\n"
    # LAYOUT=fs (E6): same format, '/' delimiter
    assert parse_subscriptions(b"V\t2\n\nFoo\tBar\n", delimiter="/") == (2, {"Foo/Bar"})


def test_v1_and_crlf() -> None:
    assert parse_subscriptions(b"INBOX\nFoo.Bar\r\ninbox.x\n") == (1, {"INBOX", "Foo.Bar", "INBOX.x"})
    assert serialize_subscriptions({"Foo.Bar", "Tä"}, version=1) == b"Foo.Bar\nT&AOQ-\n"


def test_tab_escaping() -> None:
    # mUTF-7 already encodes control characters; raw UTF-8 names need the TAB escapes
    assert serialize_subscriptions({"a\tb.c"}) == b"V\t2\n\na&AAk-b\tc\n"
    data = serialize_subscriptions({"a\tb.c\x01\n"}, utf8_names=True)
    assert data == b"V\t2\n\na\x01tb\tc\x011\x01n\n"
    assert parse_subscriptions(data, utf8_names=True)[1] == {"a\tb.c\x01\n"}


def test_read_missing(tmp_path: Path) -> None:
    assert read_subscriptions(tmp_path) is None


def test_update_like_dovecot(tmp_path: Path) -> None:
    assert update_subscriptions(tmp_path, add=["INBOX", "Foo", "Foo.Bar", "Tä st", "Sent Items"]) == E3C_NAMES
    assert sorted((tmp_path / SUBSCRIPTIONS_NAME).read_bytes().split(b"\n")) == sorted(E3C.split(b"\n"))
    assert update_subscriptions(tmp_path, remove=["Foo.Bar"]) == E3C_NAMES - {"Foo.Bar"}
    assert parse_subscriptions((tmp_path / SUBSCRIPTIONS_NAME).read_bytes()) == parse_subscriptions(E3I)
    assert read_subscriptions(tmp_path) == E3C_NAMES - {"Foo.Bar"}
    assert not (tmp_path / LOCK_NAME).exists()
    # unchanged content: the file is not replaced
    ino = os.stat(tmp_path / SUBSCRIPTIONS_NAME).st_ino
    update_subscriptions(tmp_path, add=["inbox"])
    assert os.stat(tmp_path / SUBSCRIPTIONS_NAME).st_ino == ino
    assert not (tmp_path / LOCK_NAME).exists()
    # subscriptions to names that don't exist are kept
    assert "Ghost" in update_subscriptions(tmp_path, add=["Ghost"])


def test_update_keeps_v1(tmp_path: Path) -> None:
    (tmp_path / SUBSCRIPTIONS_NAME).write_bytes(b"Foo\n")
    update_subscriptions(tmp_path, add=["Bar.Baz"])
    assert (tmp_path / SUBSCRIPTIONS_NAME).read_bytes() == b"Bar.Baz\nFoo\n"


def test_live_lock_times_out_and_stale_lock_is_removed(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_bytes(b"")
    with pytest.raises(LockTimeout):
        update_subscriptions(tmp_path, add=["Foo"], timeout=0.2)
    assert not (tmp_path / SUBSCRIPTIONS_NAME).exists()
    old = time.time() - LOCK_STALE_SECS - 5
    os.utime(tmp_path / LOCK_NAME, (old, old))
    assert update_subscriptions(tmp_path, add=["Foo"], timeout=0.2) == {"Foo"}
    assert not (tmp_path / LOCK_NAME).exists()


CHILD = """
import sys
from pathlib import Path
from maildird.store.maildir.subscriptions import update_subscriptions
for i in range(30):
    update_subscriptions(Path(sys.argv[1]), add=[f"{sys.argv[2]}{i}"])
"""


def test_concurrent_updates_lose_nothing(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), p]) for p in "abc"]
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert read_subscriptions(tmp_path) == {f"{p}{i}" for p in "abc" for i in range(30)}


# Components as maildird accepts them: no delimiter, no surrogates, and no control characters (the
# grammar and the layout refuse those; TAB is the V2 file's own separator, so "V\t" would read back as
# the version header).
_comp = st.text(
    alphabet=st.characters(blacklist_characters=".", blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=8,
).filter(lambda s: s.upper() != "INBOX")


@given(st.sets(st.lists(_comp, min_size=1, max_size=3).map(".".join), max_size=8), st.booleans())
def test_roundtrip(names: set[str], utf8: bool) -> None:
    for version in (1, 2):
        if version == 1 and any(c in n for n in names for c in "\r\n"):
            continue  # V1 cannot hold line breaks
        data = serialize_subscriptions(names, version=version, utf8_names=utf8)
        assert parse_subscriptions(data, utf8_names=utf8) == (version, names)
