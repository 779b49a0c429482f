"""The octet fast path's quoted-printable decoding (``search_octets._qp_words``) against
``decode.qp_text``: the same words, so a word absent from one is absent from the other."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maildird.message.decode import qp_text
from maildird.message.search_octets import _qp_words

_ALPHABET = [b"=", b" ", b"\t", b"\r", b"\n", b"\r\n", b"A", b"3", b"D", b"q", b"k", b"=3D", b"=20", b"\xc3"]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=40))
def test_same_words_as_qp_text(pieces: list[bytes]) -> None:
    region = b"".join(pieces)
    assert _qp_words(region).split() == qp_text(region).split()
    assert _qp_words(region).isascii() == qp_text(region).isascii()


def test_padded_soft_break_joins_the_word() -> None:
    for region in (b"quok= \nkasaurus\n", b"quok=\t \r\nkasaurus", b"quok=\nkasaurus  \n"):
        assert b"quokkasaurus" in _qp_words(region)
    assert _qp_words(b"quokka  \nsaurus=20\n") == b"quokka  \nsaurus \n"
