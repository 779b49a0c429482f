"""A deterministic generator of realistic Maildir++ trees for the benchmarks.

Theory of operation
-------------------
Everything comes from one ``random.Random(seed)`` and a fixed clock (``BASE_TIME``), so the same preset and
seed give byte-identical messages, names and mtimes on every machine. Messages are made in date order
(UIDs then follow dates, as on a real server). Per message:

* body text size log-normal around ``BODY_MEDIAN`` characters (a few KB), words from a fixed vocabulary;
* a tenth carry an attachment (multipart/mixed, base64, log-normal around ``ATTACHMENT_MEDIAN`` bytes),
  about a third are multipart/alternative (text/plain + text/html, some quoted-printable);
* about a third are replies, with ``In-Reply-To`` and a ``References`` chain to earlier messages;
* some senders and subjects are non-ASCII, RFC 2047 encoded (Q and B);
* realistic header blocks (Received, Return-Path, DKIM-Signature, List-Id for list mail) so header
  parsing costs what it costs in real mail;
* flags mixed (\\Seen most, \\Flagged, \\Answered, a few \\Deleted); a tenth are unseen in ``new/``;
* most file names carry Dovecot's ``,S=`` and ``,W=`` sizes (as Dovecot's LDA writes them), some do not
  (mail delivered by other MDAs), so both servers must read some files to learn RFC822.SIZE.

A rare word (``RARE_WORD``) sits in about 1 % of bodies for ``SEARCH TEXT``; ``FREQUENT_SENDER`` sends
about 5 % of the mail for ``SEARCH FROM``. ``generate`` writes ``manifest.json`` beside the Maildir with the
counts and the search terms; the runner reads it. The tree is LF line ended, like mail delivered on Unix.

Usage: ``python -m benchmarks.generate --preset 10k --out DIR`` (the Maildir is ``DIR/Maildir``).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import quopri
import random
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path

#: Bump when the output changes, so cached trees are regenerated.
GENERATOR_VERSION = 2
DEFAULT_SEED = 20240901
#: 2023-01-02 00:00:00 UTC: the first message's date; later ones follow at ``MEAN_GAP_SECONDS`` on average.
BASE_TIME = 1_672_617_600
MEAN_GAP_SECONDS = 1_800
BODY_MEDIAN = 2_200
BODY_SIGMA = 0.9
BODY_MIN, BODY_MAX = 120, 300_000
ATTACHMENT_MEDIAN = 40_000
ATTACHMENT_SIGMA = 1.1
ATTACHMENT_MIN, ATTACHMENT_MAX = 1_000, 4_000_000
ATTACHMENT_SHARE = 0.10
ALTERNATIVE_SHARE = 0.33
REPLY_SHARE = 0.35
NON_ASCII_SHARE = 0.15
NEW_SHARE = 0.10
UNSEEN_IN_CUR_SHARE = 0.04
FLAGGED_SHARE = 0.06
ANSWERED_SHARE = 0.20
DELETED_SHARE = 0.005
SIZE_IN_NAME_SHARE = 0.80
RARE_WORD_SHARE = 0.01
FREQUENT_SENDER_SHARE = 0.05
MAX_REFERENCES = 12
PEOPLE = 400
RARE_WORD = "quokkasaurus"
USER_ADDRESS = "Alice Example <alice@example.org>"
HOSTNAME = "mx.bench.example"
LF = b"\n"

FIRST_NAMES = (
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Karin",
    "Lukas",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Simon",
    "Tara",
    "Uwe",
    "Vera",
    "Walter",
    "Yara",
    "Zoe",
)
NON_ASCII_FIRST = ("José", "Zoë", "Łukasz", "Ørjan", "Søren", "Renée", "Jürgen", "Çağla", "Дмитрий", "李雷")
LAST_NAMES = (
    "Adams",
    "Berger",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanov",
    "Jensen",
    "Keller",
    "Lopez",
    "Meyer",
    "Novak",
    "Olsen",
    "Petit",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
)
NON_ASCII_LAST = ("Müller", "Núñez", "Østergård", "Wiśniewski", "Šimek", "Y\u0131lmaz", "Ångström")
DOMAINS = ("example.com", "example.net", "mail.example.org", "lists.example.org", "corp.example")
WORDS = [
    "the",
    "be",
    "to",
    "of",
    "and",
    "a",
    "in",
    "that",
    "have",
    "it",
    "for",
    "not",
    "on",
    "with",
    "he",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "his",
    "by",
    "from",
    "they",
    "we",
    "say",
    "her",
    "she",
    "or",
    "an",
    "will",
    "my",
    "one",
    "all",
    "would",
    "there",
    "their",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "me",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "him",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "its",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
    "us",
    "meeting",
    "report",
    "budget",
    "release",
    "server",
    "mailbox",
    "folder",
    "project",
    "schedule",
    "invoice",
    "review",
    "draft",
    "attached",
    "please",
    "thanks",
    "regards",
    "update",
    "question",
    "answer",
    "deadline",
    "team",
    "customer",
    "issue",
    "patch",
    "build",
    "deploy",
    "test",
    "result",
    "kernel",
    "network",
    "storage",
    "backup",
]
SUBJECT_WORDS = (
    "Quarterly",
    "report",
    "meeting",
    "notes",
    "Re-scheduled",
    "budget",
    "review",
    "invoice",
    "release",
    "plan",
    "draft",
    "question",
    "about",
    "the",
    "server",
    "migration",
    "holiday",
    "photos",
    "weekly",
    "status",
    "project",
    "update",
    "urgent",
    "lunch",
    "on",
    "Friday",
    "patch",
    "for",
    "backup",
)
NON_ASCII_SUBJECTS = (
    "Grüße aus München",
    "Réunion demain",
    "Año nuevo",
    "Встреча в пятницу",
    "会议记录",
    "Ærlig talt",
)
LISTS = ("python-dev", "dovecot", "debian-devel")

#: Folders besides INBOX and their share of the INBOX count (Maildir++: ``.Name`` directories).
FOLDERS: tuple[tuple[str, float], ...] = (
    ("Sent", 0.05),
    ("Drafts", 0.001),
    ("Trash", 0.01),
    ("Archive", 0.02),
    ("Archive.2023", 0.02),
    ("Lists", 0.0),
    ("Lists.python-dev", 0.04),
    ("Lists.debian-devel", 0.02),
)


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    inbox: int


PRESETS = {p.name: p for p in (Preset("tiny", 300), Preset("10k", 10_000), Preset("100k", 100_000))}


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the runner needs to know about a generated tree (written as manifest.json)."""

    version: int
    preset: str
    seed: int
    inbox: int
    folders: dict[str, int]
    bytes_total: int
    rare_word: str
    rare_word_hits: int
    frequent_sender: str
    since: str  # IMAP date (RFC 9051 date-text) at the middle of INBOX's date range

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text())
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str
    non_ascii: bool

    def header(self) -> str:
        if not self.non_ascii:
            return f'"{self.name}" <{self.address}>' if "." in self.name else f"{self.name} <{self.address}>"
        encoding = "Q" if len(self.address) % 2 else "B"
        return f"{_encode_word(self.name, encoding)} <{self.address}>"


def _encode_word(text: str, encoding: str) -> str:
    """An RFC 2047 encoded-word (``=?UTF-8?Q?...?=`` or ``?B?``)."""
    if encoding == "B":
        return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
    return Header(text, "utf-8").encode(maxlinelen=998)


def _people(rng: random.Random) -> list[Person]:
    people = []
    for i in range(PEOPLE):
        non_ascii = rng.random() < NON_ASCII_SHARE
        first = rng.choice(NON_ASCII_FIRST if non_ascii else FIRST_NAMES)
        last = rng.choice(NON_ASCII_LAST if non_ascii and rng.random() < 0.5 else LAST_NAMES)
        local = f"{FIRST_NAMES[i % len(FIRST_NAMES)].lower()}.{LAST_NAMES[i % len(LAST_NAMES)].lower()}{i}"
        people.append(Person(f"{first} {last}", f"{local}@{rng.choice(DOMAINS)}", non_ascii))
    return people


def _lognormal(rng: random.Random, median: float, sigma: float, low: int, high: int) -> int:
    return max(low, min(high, int(rng.lognormvariate(math.log(median), sigma))))


def _text(rng: random.Random, size: int, rare: bool) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    if rare:
        words.insert(rng.randrange(len(words)), RARE_WORD)
    lines, line = [], ""
    for word in words:
        if len(line) + len(word) + 1 > 72:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines) + "\n"


def _fmt_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


class _Writer:
    """Makes the messages of one folder, in date order, and writes them into ``cur/`` or ``new/``."""

    def __init__(self, rng: random.Random, people: Sequence[Person], frequent: Person) -> None:
        self.rng, self.people, self.frequent = rng, people, frequent
        self.sent_ids: list[tuple[str, str, tuple[str, ...]]] = []  # (message-id, subject, references)
        self.counter = 0
        self.rare_hits = 0
        self.bytes_total = 0

    def message(self, folder: str, index: int, ts: int) -> bytes:
        rng = self.rng
        self.counter += 1
        sender = self.frequent if rng.random() < FREQUENT_SENDER_SHARE else rng.choice(self.people)
        if folder == "Sent":
            from_header, to_header = USER_ADDRESS, sender.header()
        else:
            from_header, to_header = sender.header(), USER_ADDRESS
        message_id = f"<{self.counter}.{rng.getrandbits(40):010x}@{sender.address.split('@')[1]}>"
        reply = self.sent_ids and rng.random() < REPLY_SHARE
        references: tuple[str, ...] = ()
        if reply:
            parent_id, parent_subject, parent_refs = rng.choice(self.sent_ids[-500:])
            subject = parent_subject if parent_subject.startswith("Re: ") else "Re: " + parent_subject
            references = (*parent_refs, parent_id)[-MAX_REFERENCES:]
        elif rng.random() < NON_ASCII_SHARE:
            subject = rng.choice(NON_ASCII_SUBJECTS) + f" #{index}"
        else:
            subject = " ".join(rng.choice(SUBJECT_WORDS) for _ in range(rng.randint(2, 7)))
        self.sent_ids.append((message_id, subject, references))
        subject_header = subject if subject.isascii() else _encode_word(subject, rng.choice("QB"))
        list_name = folder.split(".", 1)[1] if folder.startswith("Lists.") else None
        headers = [
            f"Return-Path: <{sender.address}>",
            "Delivered-To: alice@example.org",
            f"Received: from {HOSTNAME} (localhost [127.0.0.1])\n\tby {HOSTNAME} (Postfix) with ESMTP id "
            f"{rng.getrandbits(36):09X}\n\tfor <alice@example.org>; {_fmt_date(ts)}",
            f"Received: from [192.0.2.{rng.randrange(1, 255)}] (unknown [192.0.2.{rng.randrange(1, 255)}])\n"
            f"\tby relay.example.net with ESMTPSA; {_fmt_date(ts - rng.randrange(1, 60))}",
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender.address.split('@')[1]};\n"
            f"\ts=mail; t={ts}; bh={base64.b64encode(rng.randbytes(32)).decode()};\n"
            f"\th=From:To:Subject:Date:Message-ID;\n\tb={base64.b64encode(rng.randbytes(96)).decode()}",
            f"From: {from_header}",
            f"To: {to_header}",
        ]
        if rng.random() < 0.2:
            cc = ", ".join(rng.choice(self.people).header() for _ in range(rng.randint(1, 4)))
            headers.append(f"Cc: {cc}")
        headers += [f"Subject: {subject_header}", f"Date: {_fmt_date(ts)}", f"Message-ID: {message_id}"]
        if references:
            headers.append(f"In-Reply-To: {references[-1]}")
            headers.append("References: " + "\n ".join(references))
        if list_name:
            headers.append(f"List-Id: <{list_name}.lists.example.org>")
        headers += ["MIME-Version: 1.0", f"X-Mailer: BenchMail {1 + index % 5}.{index % 10}"]
        rare = rng.random() < RARE_WORD_SHARE
        self.rare_hits += rare
        text = _text(rng, _lognormal(rng, BODY_MEDIAN, BODY_SIGMA, BODY_MIN, BODY_MAX), rare)
        roll = rng.random()
        if roll < ATTACHMENT_SHARE:
            body_headers, body = self._mixed(text)
        elif roll < ATTACHMENT_SHARE + ALTERNATIVE_SHARE:
            body_headers, body = self._alternative(text)
        elif roll < ATTACHMENT_SHARE + ALTERNATIVE_SHARE + 0.05:
            body_headers = [
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: quoted-printable",
            ]
            body = quopri.encodestring(text.replace("the", "thé").encode("latin-1")).decode()
        else:
            body_headers = [
                "Content-Type: text/plain; charset=utf-8; format=flowed",
                "Content-Transfer-Encoding: 8bit",
            ]
            body = text
        raw = ("\n".join(headers + body_headers) + "\n\n" + body).encode("utf-8")
        self.bytes_total += len(raw)
        return raw

    def _boundary(self) -> str:
        return f"=_bench_{self.rng.getrandbits(48):012x}"

    def _alternative(self, text: str) -> tuple[list[str], str]:
        boundary = self._boundary()
        html = "<html><body><p>" + text.replace("\n\n", "</p><p>").replace("\n", " ") + "</p></body></html>\n"
        qp = self.rng.random() < 0.5
        html_part = quopri.encodestring(html.encode()).decode() if qp else html
        cte = "quoted-printable" if qp else "7bit"
        body = (
            f"This is a multi-part message in MIME format.\n--{boundary}\n"
            f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n{text}\n"
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n"
            f"{html_part}\n--{boundary}--\n"
        )
        return [f'Content-Type: multipart/alternative; boundary="{boundary}"'], body

    def _mixed(self, text: str) -> tuple[list[str], str]:
        rng = self.rng
        boundary = self._boundary()
        size = _lognormal(rng, ATTACHMENT_MEDIAN, ATTACHMENT_SIGMA, ATTACHMENT_MIN, ATTACHMENT_MAX)
        kind, name = rng.choice(
            (("application/pdf", "report.pdf"), ("image/png", "photo.png"), ("application/zip", "logs.zip"))
        )
        data = base64.encodebytes(rng.randbytes(size)).decode()
        if rng.random() < 0.5:
            inner_headers, inner = self._alternative(text)
            first = "\n".join(inner_headers) + "\n\n" + inner
        else:
            first = f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n{text}"
        body = (
            f"This is a multi-part message in MIME format.\n--{boundary}\n{first}\n--{boundary}\n"
            f'Content-Type: {kind}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\n'
            f"Content-Transfer-Encoding: base64\n\n{data}\n--{boundary}--\n"
        )
        return [f'Content-Type: multipart/mixed; boundary="{boundary}"'], body

    def flags(self) -> str | None:
        """Maildir info letters (ASCII order), or None for an unseen message in new/."""
        rng = self.rng
        if rng.random() < NEW_SHARE:
            return None
        letters = set()
        if rng.random() >= UNSEEN_IN_CUR_SHARE:
            letters.add("S")
        if rng.random() < FLAGGED_SHARE:
            letters.add("F")
        if rng.random() < ANSWERED_SHARE:
            letters.add("R")
        if rng.random() < DELETED_SHARE:
            letters.add("T")
        return "".join(sorted(letters))


def _write_folder(path: Path, writer: _Writer, folder: str, count: int, start: int, sequence: int) -> int:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if folder != "INBOX":
        (path / "maildirfolder").touch()
    rng = writer.rng
    ts = start
    for i in range(count):
        ts += 1 + int(rng.expovariate(1 / MEAN_GAP_SECONDS))
        raw = writer.message(folder, i, ts)
        flags = writer.flags()
        sequence += 1
        base = f"{ts}.M{rng.randrange(1_000_000)}P{sequence}.bench"
        if rng.random() < SIZE_IN_NAME_SHARE:
            base += f",S={len(raw)},W={len(raw) + raw.count(LF)}"
        target = path / ("new" if flags is None else "cur") / (base if flags is None else f"{base}:2,{flags}")
        target.write_bytes(raw)
        os.utime(target, (ts, ts))
    return sequence


def _imap_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d-%b-%Y")


def generate(out: Path, preset: Preset, seed: int = DEFAULT_SEED) -> Manifest:
    """Write ``out/Maildir`` and ``out/manifest.json`` for ``preset``; replaces an existing ``out``."""
    if out.exists():
        shutil.rmtree(out)
    maildir = out / "Maildir"
    rng = random.Random(seed)
    people = _people(rng)
    frequent = Person("Frank Frequent", "frank.frequent@example.com", False)
    writer = _Writer(rng, people, frequent)
    sequence = _write_folder(maildir, writer, "INBOX", preset.inbox, BASE_TIME, 0)
    inbox_rare = writer.rare_hits
    inbox_end = BASE_TIME + preset.inbox * MEAN_GAP_SECONDS
    counts = {"INBOX": preset.inbox}
    for name, share in FOLDERS:
        count = max(1, int(preset.inbox * share)) if share else 0
        sequence = _write_folder(maildir / f".{name}", writer, name, count, BASE_TIME, sequence)
        counts[name] = count
    manifest = Manifest(
        version=GENERATOR_VERSION,
        preset=preset.name,
        seed=seed,
        inbox=preset.inbox,
        folders=counts,
        bytes_total=writer.bytes_total,
        rare_word=RARE_WORD,
        rare_word_hits=inbox_rare,
        frequent_sender=frequent.address,
        since=_imap_date((BASE_TIME + inbox_end) // 2),
    )
    (out / "manifest.json").write_text(manifest.to_json())
    return manifest


def ensure_generated(cache: Path, preset: Preset, seed: int = DEFAULT_SEED) -> tuple[Path, Manifest]:
    """The cached tree for (preset, seed) under ``cache``, generated if missing or from an older version."""
    out = cache / f"{preset.name}-s{seed}"
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        manifest = Manifest.load(manifest_path)
        if manifest.version == GENERATOR_VERSION:
            return out / "Maildir", manifest
    return out / "Maildir", generate(out, preset, seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="output directory (replaced)")
    args = parser.parse_args(argv)
    manifest = generate(args.out, PRESETS[args.preset], args.seed)
    print(manifest.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
