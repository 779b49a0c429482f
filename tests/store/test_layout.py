"""Folder layouts (maildir-format.md §2) on real temporary Maildirs, against Dovecot's directory names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildird.store.maildir import layout as layoutmod
from maildird.store.maildir.layout import (
    FsLayout,
    InboxNotAllowed,
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MaildirPlusPlus,
    ensure_maildir,
    make_layout,
)


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "Maildir"
    root.mkdir(mode=0o700)
    ensure_maildir(root)
    return root


# -- modified UTF-7 (RFC 3501 §5.1.3) ---------------------------------------------------------------

MUTF7 = [
    ("Tä st", "T&AOQ- st"),  # Appendix A
    ("a&b", "a&-b"),
    ("Sent Items", "Sent Items"),
    ("台北", "&U,BTFw-"),  # RFC 3501 §5.1.3 example
    ("日本語", "&ZeVnLIqe-"),
    ("~peter", "~peter"),
    ("😀", "&2D3eAA-"),
]


@pytest.mark.parametrize(("text", "encoded"), MUTF7)
def test_mutf7_table(text: str, encoded: str) -> None:
    assert layoutmod._mutf7_encode(text) == encoded
    assert layoutmod._mutf7_decode(encoded) == text


@pytest.mark.parametrize("bad", ["&", "&Jjo", "&AGE-", "&U,BTFw-&ZeVnLIqe-", "ä", "&A-", "&!!-"])
def test_mutf7_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        layoutmod._mutf7_decode(bad)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_mutf7_roundtrip(text: str) -> None:
    assert layoutmod._mutf7_decode(layoutmod._mutf7_encode(text)) == text


# -- Maildir++ --------------------------------------------------------------------------------------


def test_paths(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root)
    assert lay.delimiter == "."
    assert lay.path_for("INBOX") == root
    assert lay.path_for("inbox") == root
    assert lay.path_for("Foo.Bar") == root / ".Foo.Bar"
    assert lay.path_for("Tä st") == root / ".T&AOQ- st"
    assert lay.path_for("a&b") == root / ".a&-b"
    assert lay.path_for("inbox.sub") == root / ".INBOX.sub"
    assert MaildirPlusPlus(root, utf8_names=True).path_for("Täst.sub") == root / ".Täst.sub"


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "a..b", ".a", "a.", "a\x00b", "a\tb", "a\x7fb", "a\x85b", "x" * 300],
)
def test_invalid_names(tmp_path: Path, name: str) -> None:
    lay = MaildirPlusPlus(make_root(tmp_path))
    with pytest.raises(InvalidMailboxName):
        lay.path_for(name)
    with pytest.raises(InvalidMailboxName):
        lay.create(name)
    assert sorted(os.listdir(lay.root)) == ["cur", "new", "tmp"]


def test_create_like_dovecot(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root)
    path = lay.create("Foo")
    assert path == root / ".Foo"
    assert sorted(os.listdir(path)) == ["cur", "maildirfolder", "new", "tmp"]
    assert (path / "maildirfolder").read_bytes() == b""
    assert os.stat(path / "maildirfolder").st_mode & 0o777 == 0o600  # E3a
    assert os.stat(path).st_mode & 0o777 == 0o700
    lay.create("Tä st")
    lay.create("Sent Items")
    lay.create("a&b")
    assert (root / ".T&AOQ- st").is_dir() and (root / ".a&-b").is_dir()
    with pytest.raises(MailboxExists):
        lay.create("Foo")
    with pytest.raises(MailboxExists):
        lay.create("inbox")
    assert lay.list_folders() == ["INBOX", "Foo", "Sent Items", "Tä st", "a&b"]
    assert lay.exists("Foo") and lay.exists("INBOX") and not lay.exists("Nope")


def test_parents_never_materialise(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root)
    lay.create("Deep.A.B")
    assert sorted(p for p in os.listdir(root) if p.startswith(".")) == [".Deep.A.B"]
    assert lay.list_folders() == ["INBOX", "Deep.A.B"]
    with pytest.raises(MailboxNotFound):
        lay.delete("Deep")  # E3g: NONEXISTENT
    assert not lay.exists("Deep")


def test_listing_skips_what_dovecot_skips(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / ".uidvalidity").write_bytes(b"1\n2\n")  # mbsync
    (root / ".mbsyncstate").write_bytes(b"")
    (root / "..DOVECOT-TRASHED").mkdir()
    (root / ".INBOX").mkdir()
    (root / "..sub").mkdir()
    (root / ".a..b").mkdir()
    (root / "dovecot-uidlist").write_bytes(b"3 V1 N1\n")
    (root / "subdir").mkdir()
    (root / ".INBOX.child").mkdir()
    (root / ".Täst").mkdir()  # raw UTF-8 from Courier 5 / mbsync
    (root / ".x&y").mkdir()  # invalid mUTF-7: listed literally
    lay = MaildirPlusPlus(root)
    assert lay.list_folders() == ["INBOX", "INBOX.child", "Täst", "x&y"]
    assert lay.path_for("Täst") == root / ".Täst"
    assert lay.path_for("x&y") == root / ".x&y"
    with pytest.raises(MailboxExists):
        lay.create("Täst")
    mb = MaildirPlusPlus(root, mbsync_inbox_children=True)
    assert mb.list_folders() == ["INBOX", "INBOX.child", "INBOX.sub", "Täst", "x&y"]
    assert mb.path_for("INBOX.sub") == root / "..sub"
    assert mb.create("INBOX.new") == root / "..new"


def test_utf8_names(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root, utf8_names=True)
    lay.create("Täst.sub")
    assert (root / ".Täst.sub").is_dir()
    assert lay.list_folders() == ["INBOX", "Täst.sub"]


def test_delete(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root)
    lay.create("Foo")
    lay.create("Foo.Bar")
    (root / ".Foo" / "cur" / "1.M1P1.h:2,S").write_bytes(b"x")
    (root / "..DOVECOT-TRASHED").mkdir()  # a leftover of an interrupted delete
    (root / "..DOVECOT-TRASHED" / "junk").write_bytes(b"")
    lay.delete("Foo")
    assert not (root / ".Foo").exists()
    assert not (root / "..DOVECOT-TRASHED").exists()
    assert lay.list_folders() == ["INBOX", "Foo.Bar"]  # children stay
    with pytest.raises(MailboxNotFound):
        lay.delete("Foo")
    with pytest.raises(InboxNotAllowed):
        lay.delete("INBOX")


def test_rename_moves_children(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root)
    lay.create("Foo")
    lay.create("Foo.Bar")
    lay.create("Foo.Bar.Baz")
    lay.create("Foobar")
    (root / ".Foo.Bar" / "cur" / "m:2,S").write_bytes(b"x")
    lay.rename("Foo", "Quux.Q")
    assert lay.list_folders() == ["INBOX", "Foobar", "Quux.Q", "Quux.Q.Bar", "Quux.Q.Bar.Baz"]
    assert (root / ".Quux.Q.Bar" / "cur" / "m:2,S").read_bytes() == b"x"
    with pytest.raises(MailboxExists):
        lay.rename("Foobar", "Quux.Q")
    with pytest.raises(MailboxNotFound):
        lay.rename("Nope", "Other")
    with pytest.raises(InvalidMailboxName):
        lay.rename("Foobar", "Foobar.x")
    with pytest.raises(MailboxExists):
        lay.rename("Foobar", "INBOX")
    # a conflict with a child target changes nothing
    lay.create("Z")
    lay.create("Z.Bar")
    lay.create("Y.Bar")
    with pytest.raises(MailboxExists):
        lay.rename("Z", "Y")
    assert lay.exists("Z") and lay.exists("Z.Bar")


def test_rename_inbox_moves_messages(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = MaildirPlusPlus(root)
    (root / "new" / "1.M1P1.h").write_bytes(b"a")
    (root / "cur" / "2.M2P1.h:2,Sa").write_bytes(b"b")
    (root / "dovecot-keywords").write_bytes(b"0 Junk\n")
    lay.create("INBOX.child")
    lay.rename("INBOX", "Old")
    assert os.listdir(root / "new") == [] and os.listdir(root / "cur") == []
    assert (root / ".Old" / "new" / "1.M1P1.h").read_bytes() == b"a"
    assert (root / ".Old" / "cur" / "2.M2P1.h:2,Sa").read_bytes() == b"b"
    assert (root / ".Old" / "dovecot-keywords").read_bytes() == b"0 Junk\n"  # letters keep meaning
    assert not (root / "dovecot-uidlist.lock").exists()
    assert lay.list_folders() == ["INBOX", "INBOX.child", "Old"]  # INBOX's children stay


# -- LAYOUT=fs --------------------------------------------------------------------------------------


def test_fs_layout(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = FsLayout(root)
    assert lay.delimiter == "/"
    assert lay.path_for("Foo/Bar") == root / "Foo" / "Bar"
    lay.create("Foo/Bar")
    lay.create("a.b")
    lay.create("Tä st")
    assert sorted(os.listdir(root / "Foo" / "Bar")) == ["cur", "new", "tmp"]  # no maildirfolder
    assert (root / "T&AOQ- st").is_dir()
    assert lay.list_folders() == ["INBOX", "Foo/Bar", "Tä st", "a.b"]
    assert lay.noselect_folders() == ["Foo"]
    assert not lay.exists("Foo") and lay.exists("Foo/Bar")
    lay.create("Foo")  # a \Noselect parent can become a mailbox
    assert lay.exists("Foo") and lay.noselect_folders() == []
    with pytest.raises(MailboxExists):
        lay.create("Foo/Bar")


@pytest.mark.parametrize("name", ["a/cur", "new", "a//b", "/a", "a/", "a/../b", "a/.hidden", "a\x00"])
def test_fs_invalid_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidMailboxName):
        FsLayout(make_root(tmp_path)).create(name)


def test_fs_delete_and_rename(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    lay = FsLayout(root)
    lay.create("Foo")
    lay.create("Foo/Bar")
    (root / "Foo" / "cur" / "m:2,S").write_bytes(b"x")
    (root / "Foo" / "dovecot-uidlist").write_bytes(b"3 V1 N2\n")
    lay.delete("Foo")  # has a child: becomes \Noselect
    assert sorted(os.listdir(root / "Foo")) == ["Bar"]
    assert lay.list_folders() == ["INBOX", "Foo/Bar"] and lay.noselect_folders() == ["Foo"]
    with pytest.raises(MailboxNotFound):
        lay.delete("Foo")
    lay.rename("Foo", "New/Place")
    assert lay.list_folders() == ["INBOX", "New/Place/Bar"]
    lay.delete("New/Place/Bar")
    assert lay.list_folders() == ["INBOX"]
    assert not (root / "..DOVECOT-TRASHED").exists()


def test_make_layout(tmp_path: Path) -> None:
    assert isinstance(make_layout(tmp_path), MaildirPlusPlus)
    assert isinstance(make_layout(tmp_path, "fs"), FsLayout)
    with pytest.raises(ValueError):
        make_layout(tmp_path, "mh")
