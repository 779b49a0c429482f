"""Differential harness: run one scripted IMAP conversation against Dovecot and maildird, compare answers.

Theory of operation
-------------------
A ``Script`` is a list of ``Step``s. Each step names a session (``"a"``, ``"b"``... every session logs in
on first use, except those named ``_...``, which start unauthenticated; ``{user}``, ``{password}`` and
``{plain}`` fill in each server's credentials) and a command template; ``{name}`` placeholders are filled
from values captured earlier *on the same server* (``capture={"hms": rb"HIGHESTMODSEQ (\\d+)"}`` stores
group 1 of the first match in the step's response), because UIDVALIDITY and modseq values differ between
servers and the next command must quote the server's own. ``run_script`` plays the script against one
endpoint with ``RawClient`` and returns a ``Transcript``: per step, the raw lines and their normalised form
(``tests.conformance.normalize``). ``compare`` lines up two transcripts and returns one ``Difference`` per
step whose normalised answers differ (``lines_agree`` allows what a server may add: RFC 5530 codes,
CHILDREN and special-use attributes, an unrequested UID), with both raw answers for the report. A step
may be marked ``legit`` (a triaged difference where maildird is right or the RFC leaves room) or
``ignore`` some lines. A connection the server closes shows as ``<connection closed>``.

Both servers serve byte-identical copies of one Maildir (``copy_maildir``: ``shutil.copytree`` keeps the
file names and modification times, so UID order and INTERNALDATE agree).
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import trio

from tests.conformance.normalize import NormState, modseq_problems, normalize_response
from tests.support.rawclient import RawClient, RawClientError

LOGIN_TAG = "L0"
# Sessions named with this prefix start unauthenticated (the script logs in itself, if at all).
UNAUTHENTICATED_PREFIX = "_"
# A session whose connection the server closed; its later steps all get CLOSED_LINE.
CLOSED_SESSION = cast(RawClient, object())
CLOSED_LINE = b"<connection closed>\r\n"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to connect and how to log in."""

    name: str
    host: str
    port: int
    user: str
    password: str


@dataclass(frozen=True, slots=True)
class Step:
    """One command; ``legit`` names a triaged difference at this step that is not a maildird bug."""

    command: str
    session: str = "a"
    capture: dict[str, bytes] = field(default_factory=dict)
    legit: str = ""
    # Regular expressions for normalised lines not compared at this step (each a triaged difference).
    ignore: tuple[str, ...] = ()


# Normalised lines dropped on both sides before comparing, each with the reason it may differ.
IGNORED_LINES: dict[str, str] = {
    # RFC 7162 §3.1.2.1: a server with persistent modseqs MUST send HIGHESTMODSEQ on every SELECT/EXAMINE;
    # Dovecot 2.3 sends it only once CONDSTORE is enabled. maildird follows the RFC.
    r"\* OK \[HIGHESTMODSEQ M\]": "HIGHESTMODSEQ on SELECT without CONDSTORE enabled",
}
_IGNORED = [re.compile(pattern + r"\Z") for pattern in IGNORED_LINES]


# Response codes dropped from tagged lines on both sides: HIGHESTMODSEQ in a tagged OK is an optional hint
# (RFC 7162 §6: the client uses it when present); Dovecot adds it after expunges under QRESYNC.
# Dovecot's OK [CLIENTBUG] for STATUS on the selected mailbox is a hint (RFC 9051 §6.3.11: SHOULD NOT).
_IGNORED_TAGGED_CODE = re.compile(r"\A(\S+ OK) \[(?:HIGHESTMODSEQ M|CLIENTBUG)\]\Z")


def _kept(lines: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    patterns = _IGNORED + [re.compile(p + r"\Z") for p in extra]
    kept = [line for line in lines if not any(p.match(line) for p in patterns)]
    return [_IGNORED_TAGGED_CODE.sub(r"\1", line) for line in kept]


_STATUS_LINE = re.compile(r"(\S+ (?:OK|NO|BAD|BYE))(?: (\[.*\]))?\Z")
_LIST_LINE = re.compile(r"\* (LIST|LSUB) (\(.*?\)) (.*)\Z")
# Attributes a server may add to LIST responses unasked: CHILDREN (RFC 5258 §4: "a server MAY provide it
# even if the option is not specified") and special-use (RFC 6154 §2); LSUB need not carry special-use.
OPTIONAL_LIST_ATTRIBUTES = frozenset(
    {"\\HasChildren", "\\HasNoChildren", "\\Sent", "\\Trash", "\\Drafts", "\\Junk", "\\Archive", "\\All"}
)


def _attributes(text: str) -> set[str]:
    return set(text.strip("()").split())


def lines_agree(reference: str, subject: str) -> bool:
    """``subject`` says what ``reference`` says, allowing what a server may add (see the rules inside)."""
    if reference == subject:
        return True
    ref_status, sub_status = _STATUS_LINE.match(reference), _STATUS_LINE.match(subject)
    if ref_status and sub_status:
        # RFC 5530 codes are optional: a code maildird adds where Dovecot sends none is not a difference;
        # two different codes are.
        return ref_status.group(1) == sub_status.group(1) and (
            ref_status.group(2) is None or ref_status.group(2) == sub_status.group(2)
        )
    ref_list, sub_list = _LIST_LINE.match(reference), _LIST_LINE.match(subject)
    if ref_list and sub_list and ref_list.group(1, 3) == sub_list.group(1, 3):
        ref_attrs, sub_attrs = _attributes(ref_list.group(2)), _attributes(sub_list.group(2))
        optional = OPTIONAL_LIST_ATTRIBUTES
        if ref_list.group(1) == "LSUB":
            # A subscribed name with no mailbox behind it: maildird says \Noselect (it cannot be
            # selected; RFC 9051 §6.3.9 gives it \NonExistent, which implies \Noselect), Dovecot says ().
            optional = optional | {"\\Noselect"}
        return (ref_attrs ^ sub_attrs) <= optional
    # Data items a server may add to a FETCH response (RFC 9051 §7.5.2 lets the client receive any):
    # maildird adds UID to the FETCH answering STORE under CONDSTORE.
    if reference.startswith("* ") and " FETCH (" in reference:
        return re.sub(r" UID \d+\)\Z", ")", subject) == reference
    return False


def responses_agree(reference: list[str], subject: list[str]) -> bool:
    return len(reference) == len(subject) and all(map(lines_agree, reference, subject))


def steps(*commands: str | Step, session: str = "a") -> list[Step]:
    """Steps from plain command strings (one session) or ready Steps."""
    return [c if isinstance(c, Step) else Step(c, session) for c in commands]


@dataclass(slots=True)
class Exchange:
    step: Step
    command: str
    raw: list[bytes]
    normalized: list[str]


@dataclass(slots=True)
class Transcript:
    server: str
    exchanges: list[Exchange]
    state: NormState

    def text(self) -> str:
        out = []
        for ex in self.exchanges:
            out.append(f"[{ex.step.session}] C: {ex.command}")
            out.extend(f"    S: {line!r}" for line in ex.raw)
        return "\n".join(out)


@dataclass(frozen=True, slots=True)
class Difference:
    index: int
    command: str
    session: str
    reference: list[str]
    subject: list[str]
    reference_raw: list[bytes]
    subject_raw: list[bytes]

    def describe(self) -> str:
        lines = [f"step {self.index} [{self.session}] {self.command}"]
        lines += [f"  - dovecot only: {x}" for x in self.reference if x not in self.subject]
        lines += [f"  + maildird only: {x}" for x in self.subject if x not in self.reference]
        lines += ["  dovecot (normalised):"] + [f"    {x}" for x in self.reference]
        lines += ["  maildird (normalised):"] + [f"    {x}" for x in self.subject]
        lines += ["  dovecot (raw):"] + [f"    {x!r}" for x in self.reference_raw]
        lines += ["  maildird (raw):"] + [f"    {x!r}" for x in self.subject_raw]
        return "\n".join(lines)


def copy_maildir(source: Path, target: Path) -> Path:
    """A byte-identical copy (names, contents, mtimes) of the Maildir tree ``source``."""
    shutil.copytree(source, target, symlinks=True)
    return target


_MAILBOX_COMMAND = re.compile(
    r"\S+ (?:(?:SELECT|EXAMINE|APPEND) (\S+)|(?:UID )?(?:COPY|MOVE) \S+ (\S+)\Z)", re.IGNORECASE
)


def command_mailbox(command: str) -> str | None:
    """The mailbox a SELECT/EXAMINE/APPEND/COPY/MOVE command names (as rendered by normalize.render)."""
    match = _MAILBOX_COMMAND.match(command.split("\r\n", 1)[0])
    if match is None:
        return None
    name = (match.group(1) or match.group(2)).strip('"')
    return '"' + ("INBOX" if name.upper() == "INBOX" else name) + '"'


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def run_script(endpoint: Endpoint, script: Sequence[Step], *, drop_recent: bool = False) -> Transcript:
    """Play ``script`` against ``endpoint``; every session is logged out and closed at the end."""
    sessions: dict[str, RawClient] = {}
    # {user}, {password} (quoted) and {plain} (SASL PLAIN initial response) for scripts that log in.
    plain = base64.b64encode(f"\0{endpoint.user}\0{endpoint.password}".encode()).decode()
    values: dict[str, str] = {"user": endpoint.user, "password": _quote(endpoint.password), "plain": plain}
    state = NormState(drop_recent=drop_recent)
    exchanges: list[Exchange] = []
    try:
        for step in script:
            client = sessions.get(step.session)
            if client is None:
                client = await RawClient.connect(endpoint.host, endpoint.port)
                if not step.session.startswith(UNAUTHENTICATED_PREFIX):
                    login = await client.cmd(f"{LOGIN_TAG} LOGIN {endpoint.user} {_quote(endpoint.password)}")
                    if not login[-1].startswith(f"{LOGIN_TAG} OK".encode()):
                        raise AssertionError(f"{endpoint.name}: login failed: {login!r}")
                sessions[step.session] = client
            # {name} placeholders only: literal announcements such as {46} are left alone.
            command = _PLACEHOLDER.sub(lambda m: values[m.group(1)], step.command)
            if client is CLOSED_SESSION:
                raw = [CLOSED_LINE]
            else:
                try:
                    raw = await client.cmd(command.encode("utf-8"))
                except (RawClientError, trio.BrokenResourceError) as exc:
                    # The server closed the connection (after a BYE, say): that is the answer.
                    lines = exc.lines if isinstance(exc, RawClientError) else []
                    raw = [line for line in lines if line] + [CLOSED_LINE]
                    await client.aclose()
                    sessions[step.session] = CLOSED_SESSION
            joined = b"".join(raw)
            for name, pattern in step.capture.items():
                match = re.search(pattern, joined)
                if match is None:
                    raise AssertionError(f"{endpoint.name}: no {pattern!r} in {raw!r} to capture {name}")
                values[name] = match.group(1).decode()
            state.context = command_mailbox(command) or state.context
            if re.match(r"\S+ (SELECT|EXAMINE) ", command, re.IGNORECASE):
                state.selected = state.context
            exchanges.append(Exchange(step, command, raw, normalize_response(raw, state)))
    finally:
        for client in sessions.values():
            if client is CLOSED_SESSION:
                continue
            try:
                await client.cmd("ZZ LOGOUT")
            except Exception:
                pass
            await client.aclose()
    return Transcript(endpoint.name, exchanges, state)


def compare(reference: Transcript, subject: Transcript, *, hide: tuple[str, ...] = ()) -> list[Difference]:
    """One Difference per step whose normalised responses differ (reference = Dovecot); lines matching
    ``hide`` (known differences covered by a test of their own) are left out everywhere."""
    diffs = []
    for i, (ref, sub) in enumerate(zip(reference.exchanges, subject.exchanges, strict=True)):
        ignore = sub.step.ignore + hide
        if (
            not responses_agree(_kept(ref.normalized, ignore), _kept(sub.normalized, ignore))
            and not sub.step.legit
        ):
            diffs.append(
                Difference(i, sub.command, sub.step.session, ref.normalized, sub.normalized, ref.raw, sub.raw)
            )
    return diffs


def report(diffs: list[Difference], reference: Transcript, subject: Transcript) -> str:
    parts = [d.describe() for d in diffs]
    for t in (reference, subject):
        for problem in modseq_problems(t.state):
            parts.append(f"{t.server}: modseq problem: {problem}")
    return "\n\n".join(parts)
