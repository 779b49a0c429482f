"""Arguments of the authenticated-state mailbox commands (RFC 9051 §6.3): SELECT/EXAMINE with
CONDSTORE/QRESYNC (RFC 7162 §3.1.8, §3.2.5), CREATE with USE (RFC 6154 §3), RENAME, LIST with
LIST-EXTENDED/LIST-STATUS (RFC 5258, RFC 5819) and LSUB, STATUS (RFC 8438 SIZE), and APPEND with
MULTIAPPEND, literal8 and UTF8 (RFC 3502, RFC 3516, RFC 6855 §4)."""

from __future__ import annotations

from collections.abc import Callable

from maildird.imap import commands as c
from maildird.imap.grammar_tokens import NUMBER64_MAX, Reader
from maildird.imap.grammar_values import datetime_value, decode_mailbox, flag_list, mailbox, sequence_set

__all__ = [
    "LIST_RETURN",
    "LIST_SELECT",
    "STATUS_ITEMS",
    "append",
    "create",
    "list_command",
    "rename",
    "select",
    "status",
    "word_list",
]

Parser = Callable[[Reader], c.Command]

_SPECIAL_USE = {
    f.lower(): f for f in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
}
"""RFC 6154 §2 use-attr values, by lower-case spelling, to their canonical case."""
STATUS_ITEMS = frozenset(
    {
        "MESSAGES",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",
        "SIZE",
        "RECENT",
        "HIGHESTMODSEQ",
        "APPENDLIMIT",
    }
)
"""RFC 9051 §6.3.11 items, RFC 7162 §3.1.7 HIGHESTMODSEQ, RFC 8438 SIZE, RFC 7889 §5 APPENDLIMIT."""
LIST_SELECT = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})


def word_list(r: Reader, what: str, *, empty_ok: bool = True) -> list[str]:
    """``"(" [atom *(SP atom)] ")"``, upper-cased; the cursor is on the "("."""
    r.expect(0x28, f"'(' to open the {what}")
    words: list[str] = []
    if r.try_char(0x29):
        if not empty_ok:
            raise r.fail(f"The {what} may not be empty")
        return words
    while True:
        words.append(r.word(what))
        if r.try_char(0x29):
            return words
        r.sp()


def _qresync(r: Reader) -> c.QresyncParams:
    """``"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"``
    (RFC 7162 §3.2.5 and §7)."""
    r.expect(0x28, "'(' after QRESYNC")
    uidvalidity = r.number("a UIDVALIDITY", low=1)
    r.sp()
    modseq = r.number("a mod-sequence", low=1, high=NUMBER64_MAX)
    known: c.SequenceSet | None = None
    match: tuple[c.SequenceSet, c.SequenceSet] | None = None
    if r.try_sp():
        if r.peek() != 0x28:
            known = sequence_set(r, saved=False, star=False)
            if r.try_sp() and r.peek() != 0x28:
                raise r.fail(f"Expected '(' before the sequence match data, got {r.rest()}")
        if r.try_char(0x28):
            seqs = sequence_set(r, saved=False, star=False)
            r.sp()
            uids = sequence_set(r, saved=False, star=False)
            r.expect(0x29, "')' after the sequence match data")
            match = (seqs, uids)
    r.expect(0x29, "')' to close the QRESYNC parameters")
    return c.QresyncParams(uidvalidity, modseq, known, match)


def select(readonly: bool) -> Parser:
    """``("SELECT" / "EXAMINE") SP mailbox [SP "(" select-param *(SP select-param) ")"]``."""

    def parse(r: Reader) -> c.Command:
        r.sp()
        name = mailbox(r)
        condstore = False
        qresync: c.QresyncParams | None = None
        if not r.at_end():
            r.sp()
            r.expect(0x28, "'(' to open the SELECT parameters")
            while True:
                word = r.word("a SELECT parameter")
                if word == "CONDSTORE" and not condstore:
                    condstore = True
                elif word == "QRESYNC" and qresync is None:
                    r.sp()
                    qresync = _qresync(r)
                else:
                    raise r.fail(f"Unknown or repeated SELECT parameter {word}")
                if r.try_char(0x29):
                    break
                r.sp()
        r.end()
        return c.Select(r.tag or "", name, readonly, condstore, qresync)

    return parse


def create(r: Reader) -> c.Command:
    """``"CREATE" SP mailbox [SP "(" "USE" SP "(" [use-attr *(SP use-attr)] ")" ")"]`` (RFC 6154 §6)."""
    r.sp()
    name = mailbox(r)
    uses: list[str] = []
    if not r.at_end():
        r.sp()
        r.expect(0x28, "'(' to open the CREATE parameters")
        word = r.word("a CREATE parameter")
        if word != "USE":
            raise r.fail(f"Unknown CREATE parameter {word}")
        r.sp()
        r.expect(0x28, "'(' after USE")
        while not r.try_char(0x29):
            if uses:
                r.sp()
            r.expect(0x5C, "a special-use attribute like \\Sent")
            attr = "\\" + r.atom("a special-use attribute").decode("ascii")
            uses.append(_SPECIAL_USE.get(attr.lower(), attr))
        r.expect(0x29, "')' to close the CREATE parameters")
    r.end()
    return c.Create(r.tag or "", name, tuple(uses))


def rename(r: Reader) -> c.Command:
    r.sp()
    old = mailbox(r)
    r.sp()
    new = mailbox(r)
    r.end()
    return c.Rename(r.tag or "", old, new)


def _list_selection(r: Reader) -> list[str]:
    words = word_list(r, "LIST selection options")
    for word in words:
        if word not in LIST_SELECT:
            raise r.fail(f"Unknown LIST selection option {word}")
    return words


def list_command(lsub: bool) -> Parser:
    """LIST (RFC 9051 §6.3.9, RFC 5258 §6 LIST-EXTENDED, RFC 5819 LIST-STATUS) and LSUB."""

    def parse(r: Reader) -> c.Command:
        r.sp()
        extended = False
        selection: list[str] = []
        if not lsub and r.peek() == 0x28:
            extended = True
            selection = _list_selection(r)
            if selection == ["RECURSIVEMATCH"] or set(selection) == {"RECURSIVEMATCH", "REMOTE"}:
                raise r.fail(
                    "RECURSIVEMATCH needs another selection option (RFC 5258 section 3)", "CLIENTBUG"
                )
            r.sp()
        reference = decode_mailbox(r, r.astring("a reference name"), inbox=False)
        r.sp()
        patterns: list[str] = []
        if not lsub and r.try_char(0x28):
            extended = True
            while True:
                patterns.append(decode_mailbox(r, r.list_mailbox()))
                if r.try_char(0x29):
                    break
                r.sp()
        else:
            patterns.append(decode_mailbox(r, r.list_mailbox()))
        returns: list[str] = []
        status: list[str] = []
        if not lsub and not r.at_end():
            extended = True
            r.sp()
            if r.word("RETURN") != "RETURN":
                raise r.fail("Expected RETURN after the LIST patterns")
            r.sp()
            r.expect(0x28, "'(' after RETURN")
            while not r.try_char(0x29):
                if returns:
                    r.sp()
                word = r.word("a LIST return option")
                if word not in LIST_RETURN:
                    raise r.fail(f"Unknown LIST return option {word}")
                returns.append(word)
                if word == "STATUS":
                    r.sp()
                    status = _status_items(r)
        r.end()
        return c.List(
            r.tag or "",
            reference,
            tuple(patterns),
            frozenset(selection),
            frozenset(returns),
            tuple(status),
            lsub=lsub,
            extended=extended,
        )

    return parse


def _status_items(r: Reader) -> list[str]:
    items = word_list(r, "STATUS item list", empty_ok=False)
    for item in items:
        if item not in STATUS_ITEMS:
            raise r.fail(f"Unknown STATUS item {item}")
    return items


def status(r: Reader) -> c.Command:
    """``"STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`` (RFC 9051 §6.3.11)."""
    r.sp()
    name = mailbox(r)
    r.sp()
    items = _status_items(r)
    r.end()
    return c.Status(r.tag or "", name, tuple(items))


def _append_message(r: Reader) -> c.AppendMessage:
    """``[SP flag-list] [SP date-time] SP (literal / literal8 / "UTF8" SP "(" literal8 ")")``
    (RFC 3502 §6.3.11, RFC 3516 §4.1, RFC 6855 §4); the cursor is on the leading SP."""
    r.sp()
    flags: tuple[str, ...] = ()
    when = None
    if r.peek() == 0x28:
        flags = flag_list(r)
        r.sp()
    if r.peek() == 0x22:
        when = datetime_value(r)
        r.sp()
    if r.peek() in (0x55, 0x75) and r.peek_word() == "UTF8":
        r.word()
        r.sp()
        r.expect(0x28, "'(' after UTF8")
        data, _ = r.literal(binary_ok=True)
        r.expect(0x29, "')' after the UTF8 literal")
        return c.AppendMessage(data, flags, when, True)
    data, binary = r.literal(binary_ok=True)
    return c.AppendMessage(data, flags, when, binary)


def append(r: Reader) -> c.Command:
    """``"APPEND" SP mailbox 1*append-message`` (RFC 3502 MULTIAPPEND)."""
    r.sp()
    name = mailbox(r)
    messages = [_append_message(r)]
    while not r.at_end():
        messages.append(_append_message(r))
    return c.Append(r.tag or "", name, tuple(messages))
