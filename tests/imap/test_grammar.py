"""The command grammar, command by command: the RFC 3501 §6 and RFC 9051 §6 examples, the extension
RFCs' examples, and every form of every command in commands.py (SEARCH and FETCH have their own files)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maildird.imap import commands as c
from maildird.imap.commands import SequenceSet
from maildird.imap.grammar import parse_command, parse_tag
from maildird.imap.raw import RawCommand
from tests.imap.grammar_util import error, parse, wire

ALL = SequenceSet(((1, None),))
MSG310 = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)


def seq(*ranges: tuple[int | None, int | None]) -> SequenceSet:
    return SequenceSet(tuple(ranges))


def tz(hours: int, minutes: int = 0) -> timezone:
    sign = -1 if hours < 0 else 1
    return timezone(timedelta(hours=hours, minutes=sign * minutes))


# (wire bytes, expected command): RFC 3501 §6 examples first, then RFC 9051 §6, then extensions.
RFC_EXAMPLES: list[tuple[bytes, c.Command]] = [
    (b"abcd CAPABILITY", c.Capability("abcd")),
    (b"a002 NOOP", c.Noop("a002")),
    (b"A023 LOGOUT", c.Logout("A023")),
    (b"a002 STARTTLS", c.StartTLS("a002")),
    (b"a004 LOGIN joe password", c.Login("a004", "joe", "password")),
    (b"A001 AUTHENTICATE GSSAPI", c.Authenticate("A001", "GSSAPI")),
    (b"a001 LOGIN SMITH SESAME", c.Login("a001", "SMITH", "SESAME")),
    (b"A142 SELECT INBOX", c.Select("A142", "INBOX")),
    (b"A932 EXAMINE blurdybloop", c.Select("A932", "blurdybloop", readonly=True)),
    (b"A003 CREATE owatagusiam/", c.Create("A003", "owatagusiam/")),
    (b"A004 CREATE owatagusiam/blurdybloop", c.Create("A004", "owatagusiam/blurdybloop")),
    (b"A683 DELETE blurdybloop", c.Delete("A683", "blurdybloop")),
    (b"A685 DELETE foo/bar", c.Delete("A685", "foo/bar")),
    (b'A682 LIST "" *', c.List("A682", "", ("*",))),
    (b'A86 LIST "" %', c.List("A86", "", ("%",))),
    (b"A683 RENAME blurdybloop sarasota", c.Rename("A683", "blurdybloop", "sarasota")),
    (b"Z433 RENAME INBOX old-mail", c.Rename("Z433", "INBOX", "old-mail")),
    (b"A002 SUBSCRIBE #news.comp.mail.mime", c.Subscribe("A002", "#news.comp.mail.mime")),
    (b"A002 UNSUBSCRIBE #news.comp.mail.mime", c.Unsubscribe("A002", "#news.comp.mail.mime")),
    (b'A101 LIST "" ""', c.List("A101", "", ("",))),
    (b'A102 LIST #news.comp.mail.misc ""', c.List("A102", "#news.comp.mail.misc", ("",))),
    (b'A103 LIST /usr/staff/jones ""', c.List("A103", "/usr/staff/jones", ("",))),
    (b"A202 LIST ~/Mail/ %", c.List("A202", "~/Mail/", ("%",))),
    (b'A002 LSUB "#news." "comp.mail.*"', c.List("A002", "#news.", ("comp.mail.*",), lsub=True)),
    (b'A003 LSUB "#news." "comp.%"', c.List("A003", "#news.", ("comp.%",), lsub=True)),
    (b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)", c.Status("A042", "blurdybloop", ("UIDNEXT", "MESSAGES"))),
    (
        b"A003 APPEND saved-messages (\\Seen) {%d}\r\n" % len(MSG310) + MSG310,
        c.Append("A003", "saved-messages", (c.AppendMessage(MSG310, ("\\Seen",)),)),
    ),
    (b"FXXZ CHECK", c.Check("FXXZ")),
    (b"A341 CLOSE", c.Close("A341")),
    (b"A202 EXPUNGE", c.Expunge("A202")),
    (
        b"A003 STORE 2:4 +FLAGS (\\Deleted)",
        c.Store("A003", seq((2, 4)), "add", False, ("\\Deleted",)),
    ),
    (b"A003 COPY 2:4 MEETING", c.Copy("A003", seq((2, 4)), "MEETING")),
    (
        b"A999 UID FETCH 4827313:4828442 FLAGS",
        c.Fetch("A999", seq((4827313, 4828442)), (c.FetchAtt("FLAGS"),), uid=True),
    ),
    # RFC 9051 §6 additions.
    (b"A01 AUTHENTICATE PLAIN", c.Authenticate("A01", "PLAIN")),
    (b"A343 UNSELECT", c.Unselect("A343")),
    (b"A001 NAMESPACE", c.Namespace("A001")),
    (b"t2 ENABLE CONDSTORE X-GOOD-IDEA", c.Enable("t2", ("CONDSTORE", "X-GOOD-IDEA"))),
    (b"t1 ENABLE IMAP4rev2", c.Enable("t1", ("IMAP4REV2",))),
    (b"A003 UID EXPUNGE 3000:3002", c.Expunge("A003", seq((3000, 3002)))),
    (b"a UID MOVE 42:69 foo", c.Move("a", seq((42, 69)), "foo", uid=True)),
    (
        b'A02 LIST (SUBSCRIBED) "" "*"',
        c.List("A02", "", ("*",), frozenset({"SUBSCRIBED"}), extended=True),
    ),
    (
        b'A03 LIST () "" "%" RETURN (CHILDREN)',
        c.List("A03", "", ("%",), return_options=frozenset({"CHILDREN"}), extended=True),
    ),
    (
        b'A05 LIST (REMOTE SUBSCRIBED) "" "*"',
        c.List("A05", "", ("*",), frozenset({"REMOTE", "SUBSCRIBED"}), extended=True),
    ),
    (
        b'A07 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)',
        c.List(
            "A07",
            "",
            ("%",),
            frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}),
            frozenset({"CHILDREN"}),
            extended=True,
        ),
    ),
    (
        b'BBB LIST "" ("INBOX" "Drafts" "Sent/%")',
        c.List("BBB", "", ("INBOX", "Drafts", "Sent/%"), extended=True),
    ),
    (
        b'A06 LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)',
        c.List("A06", "", ("*",), frozenset({"REMOTE"}), frozenset({"SUBSCRIBED"}), extended=True),
    ),
    (
        b'C01 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"',
        c.List("C01", "", ("%",), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}), extended=True),
    ),
    # RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 8438 STATUS=SIZE.
    (
        b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
        c.List(
            "A01",
            "",
            ("%",),
            return_options=frozenset({"STATUS"}),
            status_items=("MESSAGES", "UNSEEN"),
            extended=True,
        ),
    ),
    (b't1 LIST (SPECIAL-USE) "" "*"', c.List("t1", "", ("*",), frozenset({"SPECIAL-USE"}), extended=True)),
    (
        b't3 LIST "" "%" RETURN (SPECIAL-USE)',
        c.List("t3", "", ("%",), return_options=frozenset({"SPECIAL-USE"}), extended=True),
    ),
    (b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))", c.Create("t1", "MySpecial", ("\\Drafts", "\\Sent"))),
    (b"t STATUS INBOX (MESSAGES SIZE UNSEEN)", c.Status("t", "INBOX", ("MESSAGES", "SIZE", "UNSEEN"))),
    # RFC 2971 ID, RFC 4978 COMPRESS, RFC 2177 IDLE, RFC 4959 SASL-IR.
    (
        b'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")',
        c.Id("a023", (("name", "sodr"), ("version", "19.34"), ("vendor", "Pink Floyd Music Limited"))),
    ),
    (b"a042 ID NIL", c.Id("a042", None)),
    (b"a COMPRESS DEFLATE", c.Compress("a", "DEFLATE")),
    (b"A002 IDLE", c.Idle("A002")),
    (b"A01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=", c.Authenticate("A01", "PLAIN", b"test\x00test\x00test")),
    # RFC 7162 CONDSTORE/QRESYNC.
    (b"a1 SELECT INBOX (CONDSTORE)", c.Select("a1", "INBOX", condstore=True)),
    (
        b"A160 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
        c.Select(
            "A160",
            "INBOX",
            qresync=c.QresyncParams(67890007, 20050715194045000, seq((41, 41), (43, 211), (214, 541))),
        ),
    ),
    (
        b"B283 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
        b"15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
        c.Select(
            "B283",
            "INBOX",
            qresync=c.QresyncParams(
                67890007,
                90060115194045000,
                seq((1, 29997)),
                (
                    seq((5000, 5000), (7500, 7500), (9000, 9000), (9990, 9999)),
                    seq(*[(n, n) for n in (15000, 22500, 27000, *range(29970, 29998, 3))]),
                ),
            ),
        ),
    ),
    (
        b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)",
        c.Store("a103", seq((6, 6), (4, 4), (8, 8)), "add", True, ("\\Deleted",), True, 12121230045),
    ),
]


@pytest.mark.parametrize(("data", "expected"), RFC_EXAMPLES, ids=[d[:40].decode() for d, _ in RFC_EXAMPLES])
def test_rfc_examples(data: bytes, expected: c.Command) -> None:
    assert parse(data) == expected


FORMS: list[tuple[bytes, c.Command]] = [
    # Command names and keywords are case-insensitive; tags are kept as sent.
    (b"x.1 capability", c.Capability("x.1")),
    (b"]tag] NoOp", c.Noop("]tag]")),
    (b'a1 LOGIN {3}\r\nfoo {3+}\r\nb"r', c.Login("a1", "foo", 'b"r')),
    (b'a1 LOGIN "joe" "p\\\\w\\"d"', c.Login("a1", "joe", 'p\\w"d')),
    (b'a1 LOGIN "" ""', c.Login("a1", "", "")),
    # Passwords keep every octet (surrogateescape).
    (b"a1 LOGIN joe {2}\r\n\xff\x00", c.Login("a1", "joe", "\udcff\x00")),
    (b'a1 LOGIN "j\xc3\xb6e" {2}\r\n\xc3\xb6', c.Login("a1", "j\u00f6e", "\u00f6")),
    (b"a1 authenticate plain =", c.Authenticate("a1", "PLAIN", b"")),
    (b"a1 AUTHENTICATE XOAUTH2 dXNlcj1h", c.Authenticate("a1", "XOAUTH2", b"user=a")),
    # SELECT/EXAMINE: INBOX any case, mUTF-7, parameters in any case.
    (b"a select inBox", c.Select("a", "INBOX")),
    (b'a examine "INBOX"', c.Select("a", "INBOX", readonly=True)),
    (b"a SELECT Entw&APw-rfe", c.Select("a", "Entw\u00fcrfe")),
    (b"a SELECT &ZeVnLIqe-", c.Select("a", "\u65e5\u672c\u8a9e")),
    (b"a SELECT INBOX.Sent", c.Select("a", "INBOX.Sent")),
    (b"a select x (condstore)", c.Select("a", "x", condstore=True)),
    (
        b"a SELECT x (QRESYNC (1 2))",
        c.Select("a", "x", qresync=c.QresyncParams(1, 2)),
    ),
    (
        b"a SELECT x (QRESYNC (1 2 (3:4 5:6)) CONDSTORE)",
        c.Select("a", "x", False, True, c.QresyncParams(1, 2, None, (seq((3, 4)), seq((5, 6))))),
    ),
    (
        b"a EXAMINE x (QRESYNC (1 2 7:9))",
        c.Select("a", "x", True, qresync=c.QresyncParams(1, 2, seq((7, 9)))),
    ),
    (b"a CREATE {4}\r\nNew!", c.Create("a", "New!")),
    (b"a CREATE Junk (USE (\\junk))", c.Create("a", "Junk", ("\\Junk",))),
    (b"a CREATE X (USE ())", c.Create("a", "X", ())),
    (b"a CREATE X (USE (\\Important))", c.Create("a", "X", ("\\Important",))),
    (b'a RENAME "a b" {3}\r\nc d', c.Rename("a", "a b", "c d")),
    (b"a DELETE inbox", c.Delete("a", "INBOX")),
    # LIST and LSUB.
    (b'a LIST "" INBOX*', c.List("a", "", ("INBOX*",))),
    (b'a LIST "" inbox', c.List("a", "", ("INBOX",))),
    (b'a LIST "" {3}\r\n%/%', c.List("a", "", ("%/%",))),
    (b'a LIST "" "Entw&APw-rfe/*"', c.List("a", "", ("Entw\u00fcrfe/*",))),
    (b'a LSUB "" *', c.List("a", "", ("*",), lsub=True)),
    (
        b'a LIST "" % RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE'
        b" RECENT HIGHESTMODSEQ))",
        c.List(
            "a",
            "",
            ("%",),
            return_options=frozenset({"SUBSCRIBED", "CHILDREN", "STATUS"}),
            status_items=(
                "MESSAGES",
                "UIDNEXT",
                "UIDVALIDITY",
                "UNSEEN",
                "DELETED",
                "SIZE",
                "RECENT",
                "HIGHESTMODSEQ",
            ),
            extended=True,
        ),
    ),
    (b'a LIST "" % RETURN ()', c.List("a", "", ("%",), extended=True)),
    (b"a status inbox (highestmodseq recent)", c.Status("a", "INBOX", ("HIGHESTMODSEQ", "RECENT"))),
    # APPEND: flags, date-time (space-padded day), literal+, literal8, MULTIAPPEND, UTF8 (literal8).
    (b"a APPEND box {3+}\r\nabc", c.Append("a", "box", (c.AppendMessage(b"abc"),))),
    (
        b'a APPEND box () "17-Jul-1996 02:44:25 -0700" {3}\r\nabc',
        c.Append("a", "box", (c.AppendMessage(b"abc", (), datetime(1996, 7, 17, 2, 44, 25, tzinfo=tz(-7))),)),
    ),
    (
        b'a APPEND box " 1-Aug-2002 22:00:00 +0530" ~{3}\r\na\x00c',
        c.Append(
            "a",
            "box",
            (c.AppendMessage(b"a\x00c", (), datetime(2002, 8, 1, 22, 0, tzinfo=tz(5, 30)), True),),
        ),
    ),
    (
        b'A003 APPEND saved-messages (\\Seen) {3}\r\none (\\Seen $Junk) " 1-Aug-2002 22:00:00 +0100" {3}\r\n'
        b"two {5}\r\nthree",
        c.Append(
            "A003",
            "saved-messages",
            (
                c.AppendMessage(b"one", ("\\Seen",)),
                c.AppendMessage(b"two", ("\\Seen", "$Junk"), datetime(2002, 8, 1, 22, 0, tzinfo=tz(1))),
                c.AppendMessage(b"three"),
            ),
        ),
    ),
    (
        b"a APPEND box (\\seen \\FLAGGED \\Answered \\draft \\Deleted) UTF8 (~{2}\r\n\xc3\xa9)",
        c.Append(
            "a",
            "box",
            (
                c.AppendMessage(
                    b"\xc3\xa9", ("\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted"), None, True
                ),
            ),
        ),
    ),
    (b"a APPEND box {0}\r\n", c.Append("a", "box", (c.AppendMessage(b""),))),
    # STORE: all modes, .SILENT, list or space-separated, empty FLAGS list.
    (b"a STORE 1 FLAGS ()", c.Store("a", seq((1, 1)), "replace", False, ())),
    (
        b"a store 1:* -flags.silent \\Seen $Forwarded",
        c.Store("a", ALL, "remove", True, ("\\Seen", "$Forwarded")),
    ),
    (b"a STORE $ +FLAGS \\Deleted", c.Store("a", SequenceSet((), saved=True), "add", False, ("\\Deleted",))),
    (
        b"a UID STORE 1,3:5 (UNCHANGEDSINCE 0) FLAGS.SILENT (\\Seen)",
        c.Store("a", seq((1, 1), (3, 5)), "replace", True, ("\\Seen",), True, 0),
    ),
    (b'a COPY 1:* "Sent Items"', c.Copy("a", ALL, "Sent Items")),
    (b"a UID COPY 5:3 inbox", c.Copy("a", seq((5, 3)), "INBOX", uid=True)),
    (b"a MOVE * Trash", c.Move("a", seq((None, None)), "Trash")),
    (b"a uid expunge 1:*", c.Expunge("a", ALL)),
    (b"a ID ()", c.Id("a", ())),
    (b'a ID ("name" {5}\r\nmutt!)', c.Id("a", (("name", "mutt!"),))),
    (b"a COMPRESS deflate", c.Compress("a", "DEFLATE")),
]


@pytest.mark.parametrize(("data", "expected"), FORMS, ids=[d[:40].decode("latin-1") for d, _ in FORMS])
def test_command_forms(data: bytes, expected: c.Command) -> None:
    assert parse(data) == expected


def test_utf8_mailbox_names_after_enable() -> None:
    # RFC 6855 §3: after ENABLE UTF8=ACCEPT names are UTF-8 and "&" is not special.
    assert parse('a SELECT "Entwürfe & Co"'.encode(), utf8=True) == c.Select("a", "Entwürfe & Co")
    assert parse(b"a SELECT {7}\r\n\xe6\x97\xa5&AA-", utf8=True) == c.Select("a", "\u65e5&AA-")
    assert "UTF-8" in error(b'a SELECT "\xff"', utf8=True).message
    # Without UTF8=ACCEPT the same octets are not a valid name.
    assert "modified UTF-7" in error('a SELECT "Entwürfe"'.encode()).message


def test_parse_tag() -> None:
    assert parse_tag(RawCommand.single(b"a1 FOO")) == "a1"
    assert parse_tag(RawCommand.single(b"+x NOOP")) is None
    assert parse_tag(RawCommand.single(b"a1")) is None
    assert parse_tag(RawCommand.single(b"")) is None
    assert parse_tag(RawCommand.single(b"\xff NOOP")) is None


def test_extension_commands_keep_arguments_as_sent() -> None:
    raw = wire(b"t1 XFOO bar {3}\r\nabc baz")
    assert parse_command(raw, extensions={"XFOO"}) == c.Extension("t1", "XFOO", b"bar {3}\r\nabc baz")
    assert parse_command(RawCommand.single(b"t1 xfoo"), extensions={"XFOO"}) == c.Extension("t1", "XFOO", b"")
    assert error(b"t1 XFOO bar").message == "Unknown command XFOO"


def test_status_appendlimit_item_rfc7889_5() -> None:
    from maildird.imap.commands import Status
    from maildird.imap.grammar import parse_command
    from maildird.imap.raw import RawCommand

    got = parse_command(RawCommand.single(b"a STATUS INBOX (APPENDLIMIT MESSAGES)"))
    assert got == Status("a", "INBOX", ("APPENDLIMIT", "MESSAGES"))
