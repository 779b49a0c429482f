"""``bodystructure(msg, limit=N)``: gives up with StructureTooLarge after N units of work (a MIME entity,
or ADDRESS_OCTETS_PER_ENTITY octets of an encapsulated message's address fields), so FETCH can walk on
the event loop and move only the rare message with thousands of parts to a worker thread (session note,
stop 10: 10,000 parts held the event loop ~0.6 s). ``envelope(msg, limit=N)`` likewise for huge address
fields (20,000 addresses: ~2 s). Under the limit the answer is the
unlimited one; after a give-up, the retry on the same (partly parsed, lazily cached) message gives the
same bytes as a fresh parse.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.imap.responses import Value, serialize_value
from maildird.message.bodystructure import STRUCTURE_IN_THREAD, StructureTooLarge, bodystructure
from maildird.message.envelope import ADDRESS_OCTETS_PER_ENTITY, envelope, envelope_cost
from maildird.message.parse import MAX_MIME_PARTS, ParsedMessage, Part

HEAD = b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
ADDRESSES = b", ".join(b"User %d <user%d@example.org>" % (i, i) for i in range(300))


def walked(part: Part) -> int:
    """What bodystructure() spends below and including ``part``, in its units (its own recursion): one
    per entity, plus each encapsulated message's envelope_cost."""
    if part.is_multipart:
        return 1 + sum(walked(child) for child in part.children)
    inner = part.message if part.is_message else None
    return 1 + (envelope_cost(inner) + walked(inner) if inner is not None else 0)


def multipart(subtype: bytes, boundary: bytes, parts: list[bytes], *, eol: bytes = b"\r\n") -> bytes:
    body = b"".join(b"--" + boundary + eol + p + eol for p in parts) + b"--" + boundary + b"--" + eol
    return b"Content-Type: multipart/" + subtype + b"; boundary=" + boundary + eol + eol + body


def leaf(text: bytes = b"hi") -> bytes:
    return b"Content-Type: text/plain\r\n\r\n" + text


def message(inner: bytes, declared: bytes = b"message/rfc822") -> bytes:
    return b"Content-Type: " + declared + b"\r\n\r\n" + HEAD + inner


CASES = {
    "plain": HEAD + b"\r\nhello\r\n",
    "no header at all": b"\r\nbody only\r\n",
    "flat": HEAD + multipart(b"mixed", b"b", [leaf() for _ in range(5)]),
    "nested": HEAD + multipart(b"mixed", b"o", [leaf(), multipart(b"alternative", b"i", [leaf(), leaf()])]),
    "empty parts": HEAD
    + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b\r\n\r\n--b--\r\n",
    "digest": HEAD + multipart(b"digest", b"d", [HEAD + b"\r\nm1", HEAD + b"\r\nm2", HEAD + b"\r\nm3"]),
    "rfc822 chain": HEAD + message(message(message(leaf()))),
    "odd case and comment": HEAD + message(leaf(), b"MeSsAgE (why) / RFC822"),
    "bare LF on disk": (HEAD + multipart(b"mixed", b"b", [b"\n" + b"x"] * 4, eol=b"\n")).replace(
        b"\r\n", b"\n"
    ),
    "longer boundaries inside": HEAD + multipart(b"mixed", b"b", [b"\r\n--bX\r\n--bY", b"\r\n--b-"]),
    "rfc822 chain ending in a bare header": HEAD
    + b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\nX-Only: header",
    "digest of empty and headerless parts": HEAD + multipart(b"digest", b"d", [b"", b"\r\nbody", b"\r\n"]),
    "rfc822 with a long address list": HEAD
    + multipart(
        b"mixed", b"o", [b"Content-Type: message/rfc822\r\n\r\n" + HEAD + b"To: " + ADDRESSES + b"\r\n\r\nx"]
    ),
    "rfc822 holding a multipart": HEAD
    + multipart(b"mixed", b"o", [message(multipart(b"mixed", b"i", [leaf()] * 3))]),
}


def wire(value: Value) -> bytes:
    return serialize_value(value)


def fresh(raw: bytes, extensible: bool) -> bytes:
    return wire(bodystructure(ParsedMessage.parse(raw), extensible=extensible))


def check_limit(raw: bytes, limit: int, extensible: bool) -> None:
    """The limited walk answers exactly when the message has at most ``limit`` entities, with the
    unlimited answer; a give-up leaves the message fit for the unlimited retry."""
    msg = ParsedMessage.parse(raw)
    entities = walked(ParsedMessage.parse(raw).root)
    expected = fresh(raw, extensible)
    try:
        got = wire(bodystructure(msg, extensible=extensible, limit=limit))
    except StructureTooLarge:
        assert entities > limit
        assert wire(bodystructure(msg, extensible=extensible)) == expected
    else:
        assert entities <= limit
        assert got == expected


@pytest.mark.parametrize("extensible", [True, False])
def test_limit_is_exact_for_hand_made_shapes(extensible: bool) -> None:
    for name, raw in CASES.items():
        entities = walked(ParsedMessage.parse(raw).root)
        for limit in (entities - 1, entities, entities + 1):
            check_limit(raw, limit, extensible)
        with pytest.raises(StructureTooLarge):
            bodystructure(ParsedMessage.parse(raw), extensible=extensible, limit=entities - 1)
        assert wire(bodystructure(ParsedMessage.parse(raw), extensible=extensible, limit=entities)) == (
            fresh(raw, extensible)
        ), name


def test_the_common_message_stays_on_the_event_loop() -> None:
    for name, raw in CASES.items():
        msg = ParsedMessage.parse(raw)
        assert wire(bodystructure(msg, limit=STRUCTURE_IN_THREAD)) == fresh(raw, True), name


def test_thousands_of_parts_give_up_early_and_the_retry_matches() -> None:
    raw = HEAD + multipart(b"mixed", b"b", [leaf(b"%d" % i) for i in range(MAX_MIME_PARTS + 50)])
    msg = ParsedMessage.parse(raw)
    with pytest.raises(StructureTooLarge):
        bodystructure(msg, limit=STRUCTURE_IN_THREAD)
    retry = wire(bodystructure(msg))
    assert retry == fresh(raw, True)
    assert retry.count(b'("text" "plain"') == MAX_MIME_PARTS  # the parser's own cap still holds


def test_envelope_limit_is_exact_and_the_retry_matches() -> None:
    for raw in (
        HEAD + b"\r\nbody",
        HEAD + b"To: " + ADDRESSES + b"\r\nCc: " + ADDRESSES[:5000] + b"\r\n\r\nbody",
    ):
        cost = envelope_cost(ParsedMessage.parse(raw).root)
        expected = wire(envelope(ParsedMessage.parse(raw)))
        assert wire(envelope(ParsedMessage.parse(raw), limit=cost)) == expected
        msg = ParsedMessage.parse(raw)
        with pytest.raises(StructureTooLarge):
            envelope(msg, limit=cost - 1)
        assert wire(envelope(msg)) == expected


def test_thousands_of_addresses_leave_the_event_loop() -> None:
    many = b", ".join(
        b"<u%d@example.org>" % i for i in range(STRUCTURE_IN_THREAD * ADDRESS_OCTETS_PER_ENTITY // 10)
    )
    msg = ParsedMessage.parse(HEAD + b"To: " + many + b"\r\n\r\nbody")
    with pytest.raises(StructureTooLarge):
        envelope(msg, limit=STRUCTURE_IN_THREAD)
    small = ParsedMessage.parse(HEAD + b"To: " + ADDRESSES[:2000] + b"\r\n\r\nbody")
    assert envelope(small, limit=STRUCTURE_IN_THREAD) == envelope(small)


_BOUNDARIES = st.sampled_from([b"a", b"b", b"ab", b"a-b"])


def _tree() -> st.SearchStrategy[bytes]:
    leaves = st.one_of(
        st.binary(max_size=12).map(lambda t: leaf(t.replace(b"\r", b"").replace(b"\n", b""))),
        st.just(b""),
        st.sampled_from(
            [
                b"\r\n--a\r\n",
                b"--b--",
                b"\r\n--ab\r\n\r\n",
                b"Content-Type: message/rfc822",
                b"Content-Type: message/rfc822\r\n",
                b"\r\n\r\n\r\n",
            ]
        ),
    )

    def extend(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        return st.one_of(
            st.builds(
                multipart,
                st.sampled_from([b"mixed", b"digest", b"alternative"]),
                _BOUNDARIES,
                st.lists(children, max_size=5),
            ),
            st.builds(message, children, st.sampled_from([b"message/rfc822", b"MESSAGE/Rfc822"])),
            st.builds(lambda inner: b"Content-Type: message/rfc822\r\n\r\n" + inner, children),
        )

    return st.recursive(leaves, extend, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_tree(), st.booleans(), st.integers(min_value=0, max_value=30), st.booleans())
def test_limit_for_generated_trees(tree: bytes, bare_lf: bool, limit: int, extensible: bool) -> None:
    raw = HEAD + tree
    if bare_lf:
        raw = raw.replace(b"\r\n", b"\n")
    check_limit(raw, limit, extensible)
