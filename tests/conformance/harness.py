"""Differential harness: run one scripted IMAP conversation against Dovecot and maildird, compare answers.

Theory of operation
-------------------
A ``Script`` is a list of ``Step``s. Each step names a session (``"a"``, ``"b"``... every session logs in on
first use) and a command template; ``{name}`` placeholders are filled from values captured earlier *on the
same server* (``capture={"hms": rb"HIGHESTMODSEQ (\\d+)"}`` stores group 1 of the first match in the step's
response), because UIDVALIDITY and modseq values differ between servers and the next command must quote
the server's own. ``run_script`` plays the script against one endpoint with ``RawClient`` and returns a
``Transcript``: per step, the raw lines and their normalised form (``tests.conformance.normalize``).
``compare`` lines up two transcripts and returns one ``Difference`` per step whose normalised answers differ,
with both raw answers for the report.

Both servers serve byte-identical copies of one Maildir (``copy_maildir``: ``shutil.copytree`` keeps the
file names and modification times, so UID order and INTERNALDATE agree).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.conformance.normalize import NormState, modseq_problems, normalize_response
from tests.support.rawclient import RawClient

LOGIN_TAG = "L0"


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


# Normalised lines dropped on both sides before comparing, each with the reason it may differ.
IGNORED_LINES: dict[str, str] = {
    # RFC 7162 §3.1.2.1: a server with persistent modseqs MUST send HIGHESTMODSEQ on every SELECT/EXAMINE;
    # Dovecot 2.3 sends it only once CONDSTORE is enabled. maildird follows the RFC.
    r"\* OK \[HIGHESTMODSEQ M\]": "HIGHESTMODSEQ on SELECT without CONDSTORE enabled",
}
_IGNORED = [re.compile(pattern + r"\Z") for pattern in IGNORED_LINES]


def _kept(lines: list[str]) -> list[str]:
    return [line for line in lines if not any(p.match(line) for p in _IGNORED)]


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
        lines += ["  dovecot (normalised):"] + [f"    {x}" for x in self.reference]
        lines += ["  maildird (normalised):"] + [f"    {x}" for x in self.subject]
        lines += ["  dovecot (raw):"] + [f"    {x!r}" for x in self.reference_raw]
        lines += ["  maildird (raw):"] + [f"    {x!r}" for x in self.subject_raw]
        return "\n".join(lines)


def copy_maildir(source: Path, target: Path) -> Path:
    """A byte-identical copy (names, contents, mtimes) of the Maildir tree ``source``."""
    shutil.copytree(source, target, symlinks=True)
    return target


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def run_script(endpoint: Endpoint, script: Sequence[Step]) -> Transcript:
    """Play ``script`` against ``endpoint``; every session is logged out and closed at the end."""
    sessions: dict[str, RawClient] = {}
    values: dict[str, str] = {}
    state = NormState()
    exchanges: list[Exchange] = []
    try:
        for step in script:
            client = sessions.get(step.session)
            if client is None:
                client = await RawClient.connect(endpoint.host, endpoint.port)
                login = await client.cmd(f"{LOGIN_TAG} LOGIN {endpoint.user} {_quote(endpoint.password)}")
                if not login[-1].startswith(f"{LOGIN_TAG} OK".encode()):
                    raise AssertionError(f"{endpoint.name}: login failed: {login!r}")
                sessions[step.session] = client
            command = step.command.format(**values) if "{" in step.command and values else step.command
            raw = await client.cmd(command.encode("utf-8") if isinstance(command, str) else command)
            joined = b"".join(raw)
            for name, pattern in step.capture.items():
                match = re.search(pattern, joined)
                if match is None:
                    raise AssertionError(f"{endpoint.name}: no {pattern!r} in {raw!r} to capture {name}")
                values[name] = match.group(1).decode()
            exchanges.append(Exchange(step, command, raw, normalize_response(raw, state)))
    finally:
        for client in sessions.values():
            try:
                await client.cmd("ZZ LOGOUT")
            except Exception:
                pass
            await client.aclose()
    return Transcript(endpoint.name, exchanges, state)


def compare(reference: Transcript, subject: Transcript) -> list[Difference]:
    """One Difference per step whose normalised responses differ (reference = Dovecot)."""
    diffs = []
    for i, (ref, sub) in enumerate(zip(reference.exchanges, subject.exchanges, strict=True)):
        if _kept(ref.normalized) != _kept(sub.normalized) and not sub.step.legit:
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
