"""The harness's pure parts: response framing, command splitting, Maildir building and reading."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import ImapEndpoint, require_program
from tests.support.maildirs import (
    DuplicateMessageError,
    make_maildir,
    parse_keywords_file,
    read_maildir_messages,
    read_maildir_state,
    sample_message,
)
from tests.support.peers import PeerError, run_in_pty, run_peer
from tests.support.rawclient import ResponseFramer, _with_crlf, command_chunks

FRAMING_CASES = [
    # (chunks fed one by one, expected lines)
    ([b"* OK ready\r\n"], [b"* OK ready\r\n"]),
    ([b"* OK a\r\n* OK b\r\n"], [b"* OK a\r\n", b"* OK b\r\n"]),
    ([b"* OK par", b"tial\r\n"], [b"* OK partial\r\n"]),
    ([b"* 1 FETCH (BODY[] {5}\r\nhello)\r\n"], [b"* 1 FETCH (BODY[] {5}\r\nhello)\r\n"]),
    # A literal containing CRLF and a fake literal marker stays inside its line.
    ([b"* 1 FETCH (BODY[] {9}\r\na\r\n{3}\r\nb)\r\n"], [b"* 1 FETCH (BODY[] {9}\r\na\r\n{3}\r\nb)\r\n"]),
    # Split in the middle of the literal, then two literals in one line.
    (
        [b"* 2 FETCH (X {3}\r\nab", b"c Y {2}\r\nde)\r\na OK\r\n"],
        [b"* 2 FETCH (X {3}\r\nabc Y {2}\r\nde)\r\n", b"a OK\r\n"],
    ),
    # Binary literal (RFC 3516) and an empty literal.
    (
        [b"* 3 FETCH (BINARY[] ~{2}\r\n\x00\x01 Z {0}\r\n)\r\n"],
        [b"* 3 FETCH (BINARY[] ~{2}\r\n\x00\x01 Z {0}\r\n)\r\n"],
    ),
    # Braces not at the end of the line are not literals.
    ([b"* OK {5} is text\r\n"], [b"* OK {5} is text\r\n"]),
]


@pytest.mark.parametrize(("chunks", "expected"), FRAMING_CASES)
def test_response_framer(chunks: list[bytes], expected: list[bytes]) -> None:
    framer = ResponseFramer()
    lines: list[bytes] = []
    for chunk in chunks:
        framer.feed(chunk)
        while (line := framer.next_line()) is not None:
            lines.append(line)
    assert lines == expected
    assert framer.pending == b""


def test_response_framer_waits_for_the_whole_literal() -> None:
    framer = ResponseFramer()
    framer.feed(b"* 1 FETCH (BODY[] {10}\r\nshort\r\n")
    assert framer.next_line() is None
    framer.feed(b"xyz)\r\n")
    assert framer.next_line() == b"* 1 FETCH (BODY[] {10}\r\nshort\r\nxyz)\r\n"


CHUNK_CASES = [
    (b"a NOOP\r\n", [(b"a NOOP\r\n", False)]),
    (b"a APPEND X {3}\r\nabc\r\n", [(b"a APPEND X {3}\r\n", True), (b"abc\r\n", False)]),
    (b"a APPEND X {3+}\r\nabc\r\n", [(b"a APPEND X {3+}\r\nabc\r\n", False)]),
    (
        b"a LOGIN {1}\r\nu {2}\r\npw\r\n",
        [(b"a LOGIN {1}\r\n", True), (b"u {2}\r\n", True), (b"pw\r\n", False)],
    ),
    # A literal whose bytes look like a literal announcement is not split again.
    (b"a APPEND X {5}\r\n{1}\r\n\r\n", [(b"a APPEND X {5}\r\n", True), (b"{1}\r\n\r\n", False)]),
]


@pytest.mark.parametrize(("command", "expected"), CHUNK_CASES)
def test_command_chunks(command: bytes, expected: list[tuple[bytes, bool]]) -> None:
    assert command_chunks(command) == expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("a NOOP", b"a NOOP\r\n"),
        (b"a NOOP\r\n", b"a NOOP\r\n"),
        # The message ends with CRLF, but that CRLF is the literal's: the command still needs its own.
        (b"a APPEND X {4}\r\nab\r\n", b"a APPEND X {4}\r\nab\r\n\r\n"),
        (b"a APPEND X {4}\r\nab\r\n\r\n", b"a APPEND X {4}\r\nab\r\n\r\n"),
    ],
)
def test_command_line_termination(command: bytes | str, expected: bytes) -> None:
    assert _with_crlf(command) == expected


@pytest.mark.parametrize("line_ending", ["\r\n", "\n"])
def test_sample_message_line_endings(line_ending: str) -> None:
    data = sample_message(message_id="<x@example.org>", subject="Hi", line_ending=line_ending)
    assert b"Message-ID: <x@example.org>" + line_ending.encode() in data
    assert data.endswith(line_ending.encode())
    if line_ending == "\n":
        assert b"\r" not in data
    else:
        assert data.count(b"\n") == data.count(b"\r\n")
    header, _, body = data.partition(line_ending.encode() * 2)
    assert b"Subject: Hi" in header
    assert b"this is 'Hi'." in body


def test_make_maildir_layout_and_names(tmp_path: Path) -> None:
    root = make_maildir(
        tmp_path / "Maildir",
        {
            "INBOX": [
                {"id": "<a@x>", "flags": "SF", "keywords": ["Work", "$Label1"]},
                {"id": "<b@x>", "new": True},
            ],
            "Sent Items": [{"id": "<c@x>", "flags": ["\\Seen", "\\Answered"], "keywords": ["$Label1"]}],
            "Deep.A.B": {"messages": [], "uidlist": b"3 V1 N1 G0\n", "files": {"extra": b"x"}},
        },
        subscriptions=["INBOX", "Deep.A.B"],
    )
    names = sorted(p.name for p in (root / "cur").iterdir())
    assert len(names) == 1 and names[0].endswith(":2,FSab")
    assert [p.name.count(":") for p in (root / "new").iterdir()] == [0]
    assert (root / "dovecot-keywords").read_bytes() == b"0 Work\n1 $Label1\n"
    # Keyword letters are per folder: $Label1 is "a" in Sent Items.
    assert (root / ".Sent Items" / "dovecot-keywords").read_bytes() == b"0 $Label1\n"
    assert next((root / ".Sent Items" / "cur").iterdir()).name.endswith(":2,RSa")
    assert (root / ".Deep.A.B" / "maildirfolder").read_bytes() == b""
    assert (root / ".Deep.A.B" / "dovecot-uidlist").read_bytes() == b"3 V1 N1 G0\n"
    assert (root / ".Deep.A.B" / "extra").read_bytes() == b"x"
    assert not (root / "maildirfolder").exists()
    assert (root / "subscriptions").read_bytes() == b"V\t2\n\nINBOX\nDeep\tA\tB\n"
    assert all(not any((root / d / "tmp").iterdir()) for d in (".", ".Sent Items"))
    assert read_maildir_state(root) == {
        "INBOX": {"<a@x>": frozenset({"\\Seen", "\\Flagged", "Work", "$Label1"}), "<b@x>": frozenset()},
        "Sent Items": {"<c@x>": frozenset({"\\Seen", "\\Answered", "$Label1"})},
        "Deep.A.B": {},
    }
    assert read_maildir_state(root, keywords=False)["INBOX"]["<a@x>"] == frozenset({"\\Seen", "\\Flagged"})


def test_make_maildir_with_given_keywords_file(tmp_path: Path) -> None:
    root = make_maildir(
        tmp_path / "M",
        {"INBOX": {"messages": [{"id": "<a@x>", "keywords": ["NonJunk"]}], "keywords_file": b"2 NonJunk\n"}},
    )
    assert next((root / "cur").iterdir()).name.endswith(":2,c")
    assert read_maildir_state(root)["INBOX"]["<a@x>"] == frozenset({"NonJunk"})


def test_read_maildir_state_flag_rules(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "M", {"INBOX": []})
    (root / "dovecot-keywords").write_bytes(b"0 Work\nno-space-line\n30 too-big\n")
    cur = root / "cur"
    for name, message_id in [
        ("1.a.h:2,PTa", "<p@x>"),  # P is $Forwarded, T is \Deleted, a is Work
        ("2.b.h:2,Sq", "<q@x>"),  # q has no keyword entry
        ("3.c.h:1,S", "<one@x>"),  # experimental 1, info carries no flags
        ("4.d.h:2,S:2,D", "<last@x>"),  # flags come from the last info
        ("5.e.h:2,F,XYZ", "<comma@x>"),  # a comma ends the flags
    ]:
        (cur / name).write_bytes(sample_message(message_id=message_id))
    state = read_maildir_state(root)["INBOX"]
    assert state == {
        "<p@x>": frozenset({"$Forwarded", "\\Deleted", "Work"}),
        "<q@x>": frozenset({"\\Seen", "?q"}),
        "<one@x>": frozenset(),
        "<last@x>": frozenset({"\\Draft"}),
        "<comma@x>": frozenset({"\\Flagged"}),
    }
    assert parse_keywords_file(b"0 Work\nno-space-line\n30 too-big\n1 \n") == {0: "Work"}


def test_read_maildir_state_rejects_duplicates(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "M", {"INBOX": [{"id": "<same@x>"}, {"id": "<same@x>", "flags": "S"}]})
    with pytest.raises(DuplicateMessageError):
        read_maildir_state(root)
    assert len(read_maildir_messages(root)["INBOX"]) == 2


def test_read_verbatim_layout(tmp_path: Path) -> None:
    # mbsync SubFolders Verbatim: Path/Archive/2024 nested; Inbox at Path/INBOX; offlineimap: flat A.B.
    root = tmp_path / "local"
    layout = [("INBOX", "1.x:2,S"), ("Archive", "2.x:2,"), ("Archive/2024", "3.x:2,F"), ("A.B", "4.x")]
    for relative, name in layout:
        for sub in ("cur", "new", "tmp"):
            (root / relative / sub).mkdir(parents=True, exist_ok=True)
        subdir = "new" if ":" not in name else "cur"
        (root / relative / subdir / name).write_bytes(sample_message(message_id=f"<{relative}@x>"))
    (root / "INBOX" / ".mbsyncstate").write_bytes(b"state")
    assert read_maildir_state(root, layout="verbatim") == {
        "INBOX": {"<INBOX@x>": frozenset({"\\Seen"})},
        "Archive": {"<Archive@x>": frozenset()},
        "Archive.2024": {"<Archive/2024@x>": frozenset({"\\Flagged"})},
        "A.B": {"<A.B@x>": frozenset()},
    }
    messages = read_maildir_messages(root, layout="verbatim")
    assert [m.subdir for m in messages["A.B"]] == ["new"]


def test_make_maildir_rejects_bad_specs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keywords"):
        make_maildir(tmp_path / "a", {"INBOX": [{"id": "<a@x>", "flags": "\\Work"}]})
    with pytest.raises(ValueError, match="new/"):
        make_maildir(tmp_path / "b", {"INBOX": [{"id": "<a@x>", "new": True, "flags": "S"}]})
    with pytest.raises(ValueError, match="unknown message spec keys"):
        make_maildir(tmp_path / "c", {"INBOX": [{"id": "<a@x>", "flag": "S"}]})
    too_many = [{"id": f"<{i}@x>", "keywords": [f"k{i}"]} for i in range(27)]
    with pytest.raises(ValueError, match="26"):
        make_maildir(tmp_path / "d", {"INBOX": too_many})


def test_endpoint_url() -> None:
    assert ImapEndpoint("127.0.0.1", 143, "u", "p", Path("/m")).url == "imap://u:p@127.0.0.1:143/"
    assert ImapEndpoint("::1", 1143, "u", "p", Path("/m")).url == "imap://u:p@[::1]:1143/"


def test_make_maildir_sets_deterministic_mtimes(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "M", {"INBOX": [{"id": "<a@x>", "flags": "S"}]})
    path = next((root / "cur").iterdir())
    assert int(os.stat(path).st_mtime) == int(path.name.split(".", 1)[0])


TRANSCRIPT = [
    b"* OK [CAPABILITY IMAP4rev1] ready\r\n",
    b"* 1 FETCH (UID 7 BODY[] {11}\r\nab\r\n{3}\r\ncd FLAGS (\\Seen))\r\n",
    b"* 2 FETCH (BINARY[1] ~{3}\r\n\x00\r\n)\r\n",
    b"a1 OK done\r\n",
]


@given(st.lists(st.integers(min_value=0, max_value=sum(map(len, TRANSCRIPT))), max_size=12))
def test_response_framer_is_independent_of_chunking(cuts: list[int]) -> None:
    data = b"".join(TRANSCRIPT)
    points = sorted({0, len(data), *cuts})
    framer = ResponseFramer()
    lines: list[bytes] = []
    for start, end in itertools.pairwise(points):
        framer.feed(data[start:end])
        while (line := framer.next_line()) is not None:
            lines.append(line)
    assert lines == TRANSCRIPT


def test_require_program_skips_locally_and_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-peer-program"):
        require_program("no-such-peer-program")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/run must install it"):
        require_program("no-such-peer-program", package="nothing")
    assert require_program("sh").endswith("/sh")


def test_run_peer_raises_with_the_output(tmp_path: Path) -> None:
    with pytest.raises(PeerError) as failed:
        run_peer(["sh", "-c", "echo out; echo err >&2; exit 3"], home=tmp_path)
    assert failed.value.returncode == 3
    assert "out" in failed.value.output and "err" in failed.value.output
    with pytest.raises(PeerError) as slow:
        run_peer(["sh", "-c", "echo started; exec sleep 30"], home=tmp_path, timeout=0.5)
    assert slow.value.returncode is None
    assert run_peer(["sh", "-c", "echo $HOME"], home=tmp_path).stdout.strip() == str(tmp_path)


def test_run_in_pty_gives_the_program_a_terminal(tmp_path: Path) -> None:
    result = run_in_pty(["sh", "-c", "test -t 0 && test -t 1 && stty size"], home=tmp_path)
    assert "30 100" in result.stdout
    with pytest.raises(PeerError):
        run_in_pty(["sh", "-c", "exit 4"], home=tmp_path)
