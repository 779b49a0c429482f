"""What every differential scenario shares: the check, literal helper and the triage notes used in
several files."""

from __future__ import annotations

from collections.abc import Sequence

from tests.conformance.conftest import Differential
from tests.conformance.harness import Step, steps
from tests.conformance.normalize import modseq_problems

# Lines left out of every scenario but the one about them (none at present; a known maildird bug can be
# hidden here while its fix is pending, with its own xfail transcript test under tests/rfc/).
HIDE_KNOWN: tuple[str, ...] = ()


# Edge message 2's part 4.2 is a message/rfc822 whose header has no blank line after it and no body.
# The CRLF before the next boundary belongs to the boundary (RFC 2046 §5.1.1): maildird gives the part 35
# octets, Dovecot 37 (it counts that CRLF as the end of the inner header), and so BODYSTRUCTURE differs.
RFC822_CRLF = "RFC 2046 §5.1.1: the CRLF before a boundary is the boundary's; maildird is right"


def lit(text: str) -> str:
    """``text`` as a synchronizing literal (octet count of its UTF-8 form)."""
    return f"{{{len(text.encode())}}}\r\n{text}"


async def check(
    differential: Differential,
    script: Sequence[str | Step],
    *,
    warm: bool = True,
    drop_recent: bool = False,
    hide: tuple[str, ...] = HIDE_KNOWN,
) -> None:
    """Play ``script`` on both servers; fail on any untriaged difference or a modseq going backwards."""
    result = await differential.run(steps(*script), warm=warm, drop_recent=drop_recent, hide=hide)
    assert not result.diffs, result.report()
    assert not modseq_problems(result.subject.state), (
        modseq_problems(result.subject.state),
        result.subject.text(),
    )
