"""``bodystructure.part_bound``: an upper bound, from counting octets, on the MIME entities the BODYSTRUCTURE
walk visits, so FETCH can build the structure of a message with thousands of parts in a worker thread
(session note, stop 10: 10,000 parts held the event loop ~0.6 s). The bound must never be below the real
count, whatever the message looks like; how loose it is only costs a thread hop.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.message.bodystructure import STRUCTURE_IN_THREAD, bodystructure, part_bound, structure_is_costly
from maildird.message.parse import MAX_MIME_PARTS, ParsedMessage, Part

HEAD = b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"


def walked(part: Part) -> int:
    """The entities bodystructure() visits below and including ``part`` (its own recursion)."""
    if part.is_multipart:
        return 1 + sum(walked(child) for child in part.children)
    inner = part.message if part.is_message else None
    return 1 + (walked(inner) if inner is not None else 0)


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
    "rfc822 holding a multipart": HEAD
    + multipart(b"mixed", b"o", [message(multipart(b"mixed", b"i", [leaf()] * 3))]),
}


def test_bound_holds_for_hand_made_shapes() -> None:
    for name, raw in CASES.items():
        msg = ParsedMessage.parse(raw)
        bound = part_bound(msg)
        assert walked(msg.root) <= bound, name
        bodystructure(msg)  # the shapes are valid input for the walk itself


def test_the_common_message_stays_on_the_event_loop() -> None:
    for name in ("plain", "flat", "nested", "digest"):
        assert not structure_is_costly(ParsedMessage.parse(CASES[name])), name


def test_thousands_of_parts_go_to_a_thread() -> None:
    raw = HEAD + multipart(b"mixed", b"b", [leaf(b"%d" % i) for i in range(MAX_MIME_PARTS + 50)])
    msg = ParsedMessage.parse(raw)
    assert structure_is_costly(msg)
    assert part_bound(msg) == 1 + MAX_MIME_PARTS
    assert walked(msg.root) <= part_bound(msg)
    few = ParsedMessage.parse(HEAD + multipart(b"mixed", b"b", [leaf()] * (STRUCTURE_IN_THREAD // 2)))
    assert structure_is_costly(few)  # the bound counts each delimiter twice (digest children)


_BOUNDARIES = st.sampled_from([b"a", b"b", b"ab", b"a-b"])


def _tree() -> st.SearchStrategy[bytes]:
    leaves = st.one_of(
        st.binary(max_size=12).map(lambda t: leaf(t.replace(b"\r", b"").replace(b"\n", b""))),
        st.just(b""),
        st.sampled_from([b"\r\n--a\r\n", b"--b--", b"\r\n--ab\r\n\r\n", b"message/rfc822"]),
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
        )

    return st.recursive(leaves, extend, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(_tree(), st.booleans())
def test_bound_holds_for_generated_trees(tree: bytes, bare_lf: bool) -> None:
    raw = HEAD + tree
    if bare_lf:
        raw = raw.replace(b"\r\n", b"\n")
    msg = ParsedMessage.parse(raw)
    assert walked(msg.root) <= part_bound(msg)
