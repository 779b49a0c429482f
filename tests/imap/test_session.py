"""ServerConnection: the state table, transitions, substates, STARTTLS safety, errors, API misuse."""

from __future__ import annotations

import binascii

import pytest
from core_driver import SMALL, Driver, bytewise, client_packets, run

from maildird.imap import commands as c
from maildird.imap import grammar
from maildird.imap.errors import LocalProtocolError
from maildird.imap.events import (
    NEED_DATA,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    IdleDone,
    LiteralRequest,
    ProtocolViolation,
    Rejected,
    TooManyBadCommands,
)
from maildird.imap.raw import RawCommand
from maildird.imap.responses import Atom, Code, Continuation, Status, Tagged, Untagged
from maildird.imap.session import Limits, ServerConnection, State, Substate

# -- the state table, with a stand-in parser: "<tag> <ClassName>" -> ClassName(tag) -------------------

ALL_COMMANDS: list[type[c.Command]] = [
    *c.ANY_STATE,
    *c.NOT_AUTHENTICATED,
    *c.AUTHENTICATED,
    *c.SELECTED,
    c.Extension,
]
BY_NAME = {cls.__name__.upper(): cls for cls in ALL_COMMANDS}


def stand_in_parser(raw: RawCommand, *, utf8: bool = False, extensions: object = ()) -> c.Command:
    tag, name = raw.lines[0].decode().split(" ", 1)
    cls = BY_NAME.get(name.upper())
    if cls is None:
        raise grammar.ParseError(f"Unknown command {name}", tag=tag)
    return cls(tag)


# Written out by hand from RFC 9051 §9 and RFC 5161 §3.1, not derived from session.ALLOWED.
ANY = {c.Capability, c.Noop, c.Logout, c.Id}
EXPECTED_ALLOWED: dict[State, set[type[c.Command]]] = {
    State.NOT_AUTHENTICATED: ANY | {c.StartTLS, c.Authenticate, c.Login},
    State.AUTHENTICATED: ANY
    | {c.Enable, c.Extension, c.Compress}  # COMPRESS is command-auth (RFC 4978 §5)
    | {c.Select, c.Create, c.Delete, c.Rename, c.Subscribe, c.Unsubscribe, c.List, c.Namespace, c.Status}
    | {c.Append, c.Idle},
}
EXPECTED_ALLOWED[State.SELECTED] = EXPECTED_ALLOWED[State.AUTHENTICATED] | {
    c.Check,
    c.Close,
    c.Unselect,
    c.Expunge,
    c.Search,
    c.Fetch,
    c.Store,
    c.Copy,
    c.Move,
}


def connection_in(state: State) -> ServerConnection:
    conn = ServerConnection(SMALL, preauth=state is not State.NOT_AUTHENTICATED, parser=stand_in_parser)
    if state is State.SELECTED:
        conn.receive_data(b"s0 select\r\n")
        ev = conn.next_event()
        assert isinstance(ev, CommandReceived)
        conn.send(Tagged("s0", "OK", "selected"))
    if state is State.LOGOUT:
        conn.send(Status("BYE", "going"))
    assert conn.state is state
    return conn


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("cls", ALL_COMMANDS, ids=lambda cls: cls.__name__)
def test_state_table(state: State, cls: type[c.Command]) -> None:
    conn = connection_in(state)
    conn.receive_data(f"t1 {cls.__name__}\r\n".encode())
    ev = conn.next_event()
    if state is State.LOGOUT:
        assert ev == ConnectionClosed()
    elif cls in EXPECTED_ALLOWED[state]:
        assert ev == CommandReceived(cls("t1"))
        assert conn.in_flight == cls("t1")
    else:
        assert isinstance(ev, Rejected)
        assert isinstance(ev.response, Tagged)
        assert (ev.response.tag, ev.response.status, ev.response.code) == ("t1", "BAD", Code("CLIENTBUG"))
        assert "not allowed now" in ev.response.text or ev.response.text == "No mailbox selected."
        assert conn.send(ev.response).startswith(b"t1 BAD [CLIENTBUG] ")
        assert conn.state is state


# -- transitions --------------------------------------------------------------------------------------

TRANSITIONS = [
    (State.NOT_AUTHENTICATED, "login", "OK", State.AUTHENTICATED),
    (State.NOT_AUTHENTICATED, "login", "NO", State.NOT_AUTHENTICATED),
    (State.NOT_AUTHENTICATED, "login", "BAD", State.NOT_AUTHENTICATED),
    (State.NOT_AUTHENTICATED, "authenticate", "OK", State.AUTHENTICATED),
    (State.NOT_AUTHENTICATED, "authenticate", "NO", State.NOT_AUTHENTICATED),
    (State.NOT_AUTHENTICATED, "starttls", "OK", State.NOT_AUTHENTICATED),
    (State.AUTHENTICATED, "select", "OK", State.SELECTED),
    (State.AUTHENTICATED, "select", "NO", State.AUTHENTICATED),
    (State.SELECTED, "select", "OK", State.SELECTED),
    (State.SELECTED, "select", "NO", State.AUTHENTICATED),
    (State.SELECTED, "select", "BAD", State.AUTHENTICATED),
    (State.SELECTED, "close", "OK", State.AUTHENTICATED),
    (State.SELECTED, "close", "NO", State.SELECTED),
    (State.SELECTED, "unselect", "OK", State.AUTHENTICATED),
    (State.SELECTED, "fetch", "OK", State.SELECTED),
    (State.SELECTED, "expunge", "NO", State.SELECTED),
    (State.NOT_AUTHENTICATED, "logout", "OK", State.LOGOUT),
    (State.AUTHENTICATED, "logout", "OK", State.LOGOUT),
    (State.SELECTED, "logout", "OK", State.LOGOUT),
    (State.AUTHENTICATED, "create", "OK", State.AUTHENTICATED),
]


@pytest.mark.parametrize(("start", "command", "status", "end"), TRANSITIONS)
def test_transitions(start: State, command: str, status: str, end: State) -> None:
    conn = connection_in(start)
    conn.receive_data(f"t1 {command}\r\n".encode())
    assert isinstance(conn.next_event(), CommandReceived)
    assert conn.send(Tagged("t1", status, "x")) == f"t1 {status} x\r\n".encode()  # type: ignore[arg-type]
    assert conn.state is end
    assert conn.in_flight is None


def test_bye_and_preauth() -> None:
    conn = ServerConnection(SMALL)
    assert conn.send(Status("PREAUTH", "welcome")) == b"* PREAUTH welcome\r\n"
    assert conn.state is State.AUTHENTICATED
    with pytest.raises(LocalProtocolError):
        conn.send(Status("PREAUTH", "again"))
    conn.receive_data(b"a NOOP\r\n")
    assert conn.send(Status("BYE", "shutting down")) == b"* BYE shutting down\r\n"
    assert conn.state is State.LOGOUT
    assert conn.next_event() == ConnectionClosed()  # the buffered NOOP is never parsed
    assert conn.next_event() == ConnectionClosed()


def test_logout_then_closed_forever() -> None:
    d = run(b"a LOGOUT\r\nb NOOP\r\n", limits=Limits())
    assert [type(e) for e in d.log] == [CommandReceived, ConnectionClosed]
    assert bytes(d.out) == b"* BYE bye\r\na OK LOGOUT completed\r\n"
    assert d.conn.next_event() == ConnectionClosed()


def test_eof_closes_forever() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a NO")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is State.LOGOUT


# -- one command at a time ----------------------------------------------------------------------------


def test_pipelined_commands_wait_for_the_tagged_response() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a LOGIN u p\r\nb SELECT INBOX\r\n")
    assert conn.next_event() == CommandReceived(c.Login("a", "u", "p"))
    assert conn.next_event() is NEED_DATA  # SELECT is not parsed in the wrong state
    assert conn.send(Untagged((1, "x"))) == b'* 1 "x"\r\n'
    conn.send(Tagged("a", "OK", "in"))
    assert conn.next_event() == CommandReceived(c.Select("b", "INBOX"))


def test_utf8_mode_reaches_the_parser() -> None:
    conn = ServerConnection(SMALL, preauth=True)
    conn.receive_data('a SELECT "Entwürfe"\r\nb SELECT "Entwürfe"\r\n'.encode())
    ev = conn.next_event()
    assert isinstance(ev, Rejected) and isinstance(ev.response, Tagged) and ev.response.status == "BAD"
    conn.send(ev.response)
    conn.utf8 = True  # after ENABLE UTF8=ACCEPT
    assert conn.next_event() == CommandReceived(c.Select("b", "Entwürfe"))


# -- parse errors and the BAD counter --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "response"),
    [
        (b"a1 FROB\r\n", Tagged("a1", "BAD", "Unknown command FROB", Code("PARSE"))),
        (b"\r\n", None),
        (b"+x NOOP\r\n", None),
        (b"a2 NOOP extra\r\n", "a2"),
        (b"a3 SELECT\r\n", "a3"),
    ],
)
def test_parse_errors(line: bytes, response: object) -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(line)
    ev = conn.next_event()
    assert isinstance(ev, Rejected)
    if isinstance(response, Tagged):
        assert ev.response == response
    elif response is None:
        assert isinstance(ev.response, Status) and ev.response.status == "BAD"
        assert conn.send(ev.response).startswith(b"* BAD [")
    else:
        assert isinstance(ev.response, Tagged) and ev.response.tag == response
        assert ev.response.status == "BAD" and ev.response.code is not None
        assert ev.response.code.name in ("PARSE", "CLIENTBUG")


def test_too_many_bad_commands() -> None:
    limits = Limits(max_bad_commands=3)
    d = run(
        b"a X\r\nb NOOP\r\n" + b"c X\r\n" * 3 + b"d NOOP\r\n" + b"e X\r\n" * 4 + b"f NOOP\r\n", limits=limits
    )
    kinds = [type(e).__name__ for e in d.log]
    # three BADs in a row are tolerated; the OK for d resets the count; a fourth in a row is one too many
    assert kinds == ["Rejected", "CommandReceived"] + ["Rejected"] * 3 + ["CommandReceived"] + [
        "Rejected"
    ] * 4 + ["TooManyBadCommands"]
    assert d.out.endswith(b"* BYE Too many invalid IMAP commands.\r\n")
    assert d.conn.next_event() == ConnectionClosed()
    assert c.Noop("f") not in [getattr(e, "command", None) for e in d.log]


def test_bad_from_handlers_counts_too() -> None:
    d = run(b"a NOOP\r\n" * 3, limits=Limits(max_bad_commands=2), tagged_status=lambda _: "BAD")
    assert isinstance(d.log[-1], TooManyBadCommands)


# -- literals through the session ---------------------------------------------------------------------


def test_literal_request_accept() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a LOGIN {3}\r\n")
    assert conn.next_event() == LiteralRequest("a", 3, False, "LOGIN")
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    assert conn.accept_literal() == b"+ Ready\r\n"
    conn.receive_data(b"bob {2}\r\n")
    assert conn.next_event() == LiteralRequest("a", 2, False, "LOGIN")
    conn.accept_literal()
    conn.receive_data(b'p"\r\n')
    assert conn.next_event() == CommandReceived(c.Login("a", "bob", 'p"'))


def test_literal_request_reject() -> None:
    conn = ServerConnection(SMALL, preauth=True)
    conn.receive_data(b"a APPEND Nope {40}\r\n")
    assert conn.next_event() == LiteralRequest("a", 40, False, "APPEND")
    with pytest.raises(LocalProtocolError):
        conn.reject_literal(Tagged("zz", "NO", "wrong tag"))
    out = conn.reject_literal(Tagged("a", "NO", "No such mailbox", Code("TRYCREATE")))
    assert out == b"a NO [TRYCREATE] No such mailbox\r\n"
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"b NOOP\r\n")
    assert conn.next_event() == CommandReceived(c.Noop("b"))


def test_oversized_literal_rejected_by_core() -> None:
    d = run([b"a LOGIN {17}\r\n", b"b NOOP\r\n"])
    assert d.log[0] == Rejected(Tagged("a", "NO", "Literal too large", Code("TOOBIG")))
    assert d.log[1] == CommandReceived(c.Noop("b"))
    assert bytes(d.out) == b"a NO [TOOBIG] Literal too large\r\nb OK done\r\n"


@pytest.mark.parametrize("core_refuses", [True, False])
def test_literal_sent_without_waiting_is_never_run(core_refuses: bool) -> None:
    """A client that sends a synchronizing literal's octets before '+' and is refused: the octets
    already received must not run as commands (literal injection)."""
    size = 17 if core_refuses else 5
    data = b"a APPEND INBOX {%d}\r\n" % size + b"x LOGOUT\r\n" + b"y" * (size - 10) + b"\r\n"
    parser = RecordingParser()
    d = Driver(ServerConnection(Limits(max_literal=16, max_append=16), preauth=True, parser=parser))
    d.accept = lambda _: False
    d.feed_all([data])
    assert isinstance(d.log[-1], ProtocolViolation)
    assert parser.seen == []


def test_literal_minus_swallow_never_runs_the_octets() -> None:
    limits = Limits(literal_minus=True)
    payload = b"x LOGOUT\r\n" * 500  # 5000 octets > 4096
    data = b"a LOGIN {5000+}\r\n" + payload + b" rest\r\nb NOOP\r\n"
    for chunks in ([data], bytewise(data)):
        d = run(chunks, limits=limits)
        assert d.log[0] == Rejected(
            Tagged("a", "BAD", "Non-synchronizing literal too large (LITERAL-)", Code("TOOBIG"))
        )
        assert d.log[1:] == [CommandReceived(c.Noop("b")), ConnectionClosed()]
        assert d.max_held <= limits.max_line + 1


def test_append_limit_is_separate() -> None:
    limits = Limits(max_literal=10, max_append=100)
    d = Driver(ServerConnection(limits, preauth=True))
    d.feed_all(
        client_packets(
            b"a LOGIN {11}\r\nb APPEND INBOX {100}\r\n" + b"m" * 100 + b"\r\nc APPEND INBOX {101}\r\n"
        )
    )
    assert d.log == [
        Rejected(Tagged("a", "NO", "Literal too large", Code("TOOBIG"))),
        LiteralRequest("b", 100, False, "APPEND"),
        CommandReceived(c.Append("b", "INBOX", (c.AppendMessage(b"m" * 100),))),
        Rejected(Tagged("c", "NO", "Message too large", Code("TOOBIG"))),
        ConnectionClosed(),
    ]


# -- STARTTLS injection -----------------------------------------------------------------------------------


class RecordingParser:
    def __init__(self) -> None:
        self.seen: list[RawCommand] = []

    def __call__(self, raw: RawCommand, **kwargs: object) -> c.Command:
        self.seen.append(raw)
        return grammar.parse_command(raw, **kwargs)  # type: ignore[arg-type]


def test_starttls_injection_is_never_parsed() -> None:
    parser = RecordingParser()
    conn = ServerConnection(SMALL, parser=parser)
    conn.receive_data(b"a STARTTLS\r\nb LOGIN x y\r\n")
    assert conn.next_event() == CommandReceived(c.StartTLS("a"))
    assert conn.next_event() is NEED_DATA
    assert conn.send(Tagged("a", "OK", "Begin TLS negotiation now")) == b"a OK Begin TLS negotiation now\r\n"
    ev = conn.next_event()
    assert isinstance(ev, ProtocolViolation)
    assert conn.next_event() == ConnectionClosed()
    assert parser.seen == [RawCommand.single(b"a STARTTLS")]
    assert conn.state is not State.AUTHENTICATED


def test_starttls_injection_split_anywhere() -> None:
    # However the injected bytes arrive, as long as they arrive before the OK they are refused.
    data = b"a STARTTLS\r\nb LOGIN x y\r\n"
    for cut in range(len(b"a STARTTLS\r\n"), len(data)):
        parser = RecordingParser()
        conn = ServerConnection(SMALL, parser=parser)
        conn.receive_data(data[:cut])
        assert isinstance(conn.next_event(), CommandReceived)
        conn.receive_data(data[cut:])
        assert conn.next_event() is NEED_DATA
        conn.send(Tagged("a", "OK", "go"))
        assert isinstance(conn.next_event(), ProtocolViolation)
        assert len(parser.seen) == 1


def test_starttls_clean_then_commands_after_handshake() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a STARTTLS\r\n")
    assert conn.next_event() == CommandReceived(c.StartTLS("a"))
    conn.send(Tagged("a", "OK", "go"))
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"b LOGIN x y\r\n")  # decrypted bytes after the handshake
    assert conn.next_event() == CommandReceived(c.Login("b", "x", "y"))


def test_starttls_refused_keeps_the_pipeline() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a STARTTLS\r\nb NOOP\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    conn.send(Tagged("a", "NO", "no TLS here"))
    assert conn.next_event() == CommandReceived(c.Noop("b"))


def test_compress_hands_over_the_rest() -> None:
    conn = ServerConnection(SMALL, preauth=True)
    conn.receive_data(b"a COMPRESS DEFLATE\r\n\x78\x9c\x00")
    assert conn.next_event() == CommandReceived(c.Compress("a", "DEFLATE"))
    assert conn.next_event() is NEED_DATA
    conn.send(Tagged("a", "OK", "DEFLATE active"))
    assert conn.take_unprocessed() == b"\x78\x9c\x00"
    conn.receive_data(b"b NOOP\r\n")  # inflated by the driver
    assert conn.next_event() == CommandReceived(c.Noop("b"))


# -- IDLE --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("done", [b"DONE\r\n", b"done\n", b"DoNe\r\n"])
def test_idle(done: bytes) -> None:
    conn = ServerConnection(SMALL, preauth=True)
    conn.receive_data(b"a IDLE\r\n" + done + b"b NOOP\r\n")
    assert conn.next_event() == CommandReceived(c.Idle("a"))
    assert conn.next_event() is NEED_DATA  # DONE is not read before "+ idling"
    assert conn.send(Continuation("idling")) == b"+ idling\r\n"
    assert conn.substate is Substate.IDLE
    assert conn.send(Untagged((3, Atom("EXISTS")))) == b"* 3 EXISTS\r\n"
    assert conn.next_event() == IdleDone()
    assert conn.next_event() is NEED_DATA
    assert conn.send(Tagged("a", "OK", "IDLE terminated")) == b"a OK IDLE terminated\r\n"
    assert conn.substate is Substate.NONE
    assert conn.next_event() == CommandReceived(c.Noop("b"))


@pytest.mark.parametrize("garbage", [b"b NOOP\r\n", b"DONE extra\r\n", b"x {5+}\r\n", b"D" * 100 + b"\r\n"])
def test_idle_garbage_ends_idle(garbage: bytes) -> None:
    conn = ServerConnection(SMALL, preauth=True)
    conn.receive_data(b"a IDLE\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    conn.send(Continuation("idling"))
    conn.receive_data(garbage + b"c NOOP\r\n")
    ev = conn.next_event()
    assert ev == Rejected(Tagged("a", "BAD", "Expected DONE."))
    assert conn.next_event() is NEED_DATA
    assert conn.send(ev.response) == b"a BAD Expected DONE.\r\n"
    assert conn.substate is Substate.NONE
    assert conn.next_event() == CommandReceived(c.Noop("c"))


# -- AUTHENTICATE ------------------------------------------------------------------------------------------

PLAIN = binascii.b2a_base64(b"\0bob\0pw", newline=False)


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (PLAIN, AuthResponse(b"\0bob\0pw")),
        (b"", AuthResponse(b"")),
        (b"*", AuthResponse(None)),
        (b"!!!!", Rejected(Tagged("a", "BAD", "Invalid base64 data in AUTHENTICATE response."))),
        (b"AGJvYgBwdw", Rejected(Tagged("a", "BAD", "Invalid base64 data in AUTHENTICATE response."))),
        (b"x" * 200, Rejected(Tagged("a", "BAD", "Invalid base64 data in AUTHENTICATE response."))),
    ],
)
def test_authenticate(line: bytes, event: object) -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a AUTHENTICATE PLAIN\r\n" + line + b"\r\nb NOOP\r\n")
    assert conn.next_event() == CommandReceived(c.Authenticate("a", "PLAIN"))
    assert conn.next_event() is NEED_DATA
    assert conn.send(Continuation(data=b"")) == b"+ \r\n"
    assert conn.substate is Substate.AUTHENTICATE
    assert conn.next_event() == event
    assert conn.next_event() is NEED_DATA  # one line per continuation
    ok = isinstance(event, AuthResponse) and event.data == b"\0bob\0pw"
    conn.send(Tagged("a", "OK" if ok else "NO", "x"))
    assert conn.substate is Substate.NONE
    assert conn.state is (State.AUTHENTICATED if ok else State.NOT_AUTHENTICATED)
    assert conn.next_event() == CommandReceived(c.Noop("b"))


def test_authenticate_multi_step() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a AUTHENTICATE X\r\nb25l\r\ndHdv\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    conn.send(Continuation(data=b"first"))
    assert conn.next_event() == AuthResponse(b"one")
    conn.send(Continuation(data=b"second"))
    assert conn.next_event() == AuthResponse(b"two")
    conn.send(Tagged("a", "OK", "in"))
    assert conn.state is State.AUTHENTICATED


def test_authenticate_with_initial_response_needs_no_continuation() -> None:
    conn = ServerConnection(SMALL)
    conn.receive_data(b"a AUTHENTICATE PLAIN " + PLAIN + b"\r\n")
    assert conn.next_event() == CommandReceived(c.Authenticate("a", "PLAIN", b"\0bob\0pw"))
    conn.send(Tagged("a", "OK", "in"))
    assert conn.state is State.AUTHENTICATED and conn.substate is Substate.NONE


# -- API misuse is our bug, not the client's ------------------------------------------------------------


def test_local_protocol_errors() -> None:
    conn = ServerConnection(SMALL)
    with pytest.raises(LocalProtocolError):
        conn.send(Tagged("nope", "OK", "x"))
    with pytest.raises(LocalProtocolError):
        conn.send(Continuation("x"))
    with pytest.raises(LocalProtocolError):
        conn.accept_literal()
    with pytest.raises(LocalProtocolError):
        conn.reject_literal(Tagged("a", "NO", "x"))
    conn.receive_data(b"a NOOP\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    with pytest.raises(LocalProtocolError):
        conn.send(Continuation("x"))  # NOOP takes no continuation
    with pytest.raises(LocalProtocolError):
        conn.send(Tagged("b", "OK", "x"))
    conn.send(Tagged("a", "OK", "x"))
    with pytest.raises(LocalProtocolError):
        conn.send(Tagged("a", "OK", "twice"))


def test_reading_ahead_is_bounded() -> None:
    limits = Limits(max_line=64, max_command=128)
    conn = ServerConnection(limits)
    conn.receive_data(b"a NOOP\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    for _ in range(10):
        conn.receive_data(b"b NOOP\r\n" * 10)
    assert isinstance(conn.next_event(), ProtocolViolation)


def test_driver_transcript() -> None:
    d = run(
        b"a1 CAPABILITY\r\na2 LOGIN {3}\r\nbob pw\r\na3 SELECT INBOX\r\na4 FETCH 1:* (FLAGS)\r\n"
        b"a5 IDLE\r\nDONE\r\na6 LOGOUT\r\n",
        limits=Limits(),
    )
    assert bytes(d.out) == (
        b"a1 OK done\r\n+ Ready\r\na2 OK done\r\na3 OK done\r\na4 OK done\r\n"
        b"+ idling\r\na5 OK done\r\n* BYE bye\r\na6 OK LOGOUT completed\r\n"
    )
    assert d.conn.state is State.LOGOUT
    assert isinstance(d.log[-1], ConnectionClosed)


def test_driver_rejects_literal() -> None:
    d = Driver(accept=lambda _: False).feed_all([b"a LOGIN {3}\r\n", b"b NOOP\r\n"])
    assert bytes(d.out) == b"a NO refused\r\nb OK done\r\n"


def test_send_many_applies_the_same_rules() -> None:
    conn = ServerConnection(SMALL, preauth=True)
    conn.receive_data(b"a SELECT INBOX\r\n")
    assert isinstance(conn.next_event(), CommandReceived)
    burst = [Untagged((n, Atom("EXISTS"))) for n in range(3)] + [Tagged("a", "OK", "selected")]
    assert conn.send_many(burst) == b"* 0 EXISTS\r\n* 1 EXISTS\r\n* 2 EXISTS\r\na OK selected\r\n"
    assert conn.state is State.SELECTED
    with pytest.raises(LocalProtocolError):
        conn.send_many([Untagged((1, Atom("EXISTS"))), Tagged("a", "OK", "again")])
