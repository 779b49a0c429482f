"""Build Maildirs from small dicts, and read a Maildir tree's state back for comparison assertions.

Theory of operation
-------------------
``make_maildir(root, spec)`` writes a Maildir++ tree (design/maildir-format.md §2.1): the root is INBOX,
folder ``A.B`` is the sibling directory ``<root>/.A.B`` with ``tmp/new/cur`` and an empty
``maildirfolder``. ``spec`` maps folder names to either a list of messages or a dict
``{"messages": [...], "uidlist": bytes, "keywords_file": bytes, "files": {name: bytes}}``. A message is a
``MessageSpec`` or a dict of its fields (``{"id": "<a@x>", "flags": "FS", "keywords": ["Work"]}``).
Messages with ``new=True`` go to ``new/`` without an info suffix; the rest go to ``cur/`` as
``<base>:2,<flags><keyword letters>`` (flags in ASCII order, §1.5). Keyword letters are allocated per
folder in order of first use and written to ``dovecot-keywords`` (§4.1) unless ``keywords_file`` is
given, in which case its mapping is used as is.

``read_maildir_state(root)`` returns ``{folder: {message_id: frozenset(flags)}}`` with IMAP flag names
(``\\Seen``, ``\\Answered``... ``P`` as ``$Forwarded`` like mbsync, §1.5) plus keyword names from the
folder's ``dovecot-keywords`` (an unmapped letter shows as ``?<letter>``). It reads two layouts:
``maildir++`` (the root is INBOX, ``.X`` is folder X) and ``verbatim`` (every Maildir below the root is a
folder, nested names joined with ``.``; a directory named ``INBOX`` is INBOX), which covers mbsync's
``SubFolders Verbatim`` and offlineimap's ``sep = .``. Only ``cur/`` and ``new/`` regular files count as
messages; a Message-ID seen twice in one folder raises ``DuplicateMessageError`` (a sync that duplicates
mail must fail the test). ``read_maildir_messages`` returns the detailed per-file view.
"""

from __future__ import annotations

import email.utils
import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Literal

INBOX = "INBOX"
HOSTNAME = "maildird-test"
# Base names use a fixed clock so trees are reproducible; each message gets the next second.
BASE_TIME = 1_700_000_000
MAILDIR_SUBDIRS = ("tmp", "new", "cur")
# Maildir info letters and the IMAP flags they stand for (design/maildir-format.md §1.5).
FLAG_LETTERS: Mapping[str, str] = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
LETTER_OF_FLAG: Mapping[str, str] = {flag.lower(): letter for letter, flag in FLAG_LETTERS.items()}
MAX_KEYWORD_LETTERS = 26
KEYWORDS_FILE = "dovecot-keywords"
UIDLIST_FILE = "dovecot-uidlist"

Layout = Literal["maildir++", "verbatim"]
# Delivery counter for unique base names across make_maildir calls in one process (Q<n>, [DJB]).
_SEQUENCE = itertools.count(1)


class DuplicateMessageError(ValueError):
    """The same Message-ID appears twice in one folder."""


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One message to put into a Maildir; ``flags`` are Maildir letters (``"FS"``) or IMAP names."""

    message_id: str
    flags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    new: bool = False
    subject: str | None = None
    body: str | None = None
    raw: bytes | None = None
    line_ending: str = "\n"
    base: str | None = None


@dataclass(frozen=True, slots=True)
class MaildirMessage:
    """One message file as found on disk."""

    folder: str
    path: Path
    subdir: str
    base: str
    message_id: str
    flags: frozenset[str]


@dataclass(slots=True)
class _FolderSpec:
    messages: list[MessageSpec] = field(default_factory=list)
    uidlist: bytes | None = None
    keywords_file: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)


def sample_message(
    *,
    message_id: str,
    subject: str = "Test message",
    sender: str = "Alice Example <alice@example.org>",
    to: str = "Bob Example <bob@example.org>",
    date: str | None = None,
    body: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    line_ending: str = "\r\n",
) -> bytes:
    """A realistic RFC 5322 message (§3.6 header fields, 7-bit body) with the given line ending."""
    if line_ending not in ("\r\n", "\n"):
        raise ValueError("line_ending must be CRLF or LF")
    headers = {
        "Return-Path": f"<{email.utils.parseaddr(sender)[1]}>",
        "Date": date or email.utils.formatdate(BASE_TIME, localtime=False),
        "From": sender,
        "To": to,
        "Subject": subject,
        "Message-ID": message_id,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=us-ascii",
        "Content-Transfer-Encoding": "7bit",
    }
    headers.update(extra_headers or {})
    text = body if body is not None else f"Hello,\n\nthis is {subject!r}.\n\n-- \nAlice\n"
    lines = [f"{name}: {value}" for name, value in headers.items()]
    lines.append("")
    lines.extend(text.splitlines())
    return (line_ending.join(lines) + line_ending).encode("ascii")


def _message_spec(value: MessageSpec | Mapping[str, Any]) -> MessageSpec:
    if isinstance(value, MessageSpec):
        return value
    known = {
        "id": "message_id",
        "message_id": "message_id",
        "flags": "flags",
        "keywords": "keywords",
        "new": "new",
        "subject": "subject",
        "body": "body",
        "raw": "raw",
        "line_ending": "line_ending",
        "base": "base",
    }
    unknown = set(value) - set(known)
    if unknown:
        raise ValueError(f"unknown message spec keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {known[k]: v for k, v in value.items()}
    flags = kwargs.get("flags", ())
    kwargs["flags"] = tuple(flags) if not isinstance(flags, str) else _letters_or_names(flags)
    kwargs["keywords"] = tuple(kwargs.get("keywords", ()))
    return MessageSpec(**kwargs)


def _letters_or_names(flags: str) -> tuple[str, ...]:
    """``"FS"`` → ``("F", "S")``; ``"\\Seen \\Flagged"`` → ``("\\Seen", "\\Flagged")``."""
    if "\\" in flags or "$" in flags or " " in flags:
        return tuple(flags.split())
    return tuple(flags)


def _folder_spec(value: Iterable[Any] | Mapping[str, Any]) -> _FolderSpec:
    if isinstance(value, Mapping):
        unknown = set(value) - {"messages", "uidlist", "keywords_file", "files"}
        if unknown:
            raise ValueError(f"unknown folder spec keys {sorted(unknown)}")
        return _FolderSpec(
            messages=[_message_spec(m) for m in value.get("messages", ())],
            uidlist=value.get("uidlist"),
            keywords_file=value.get("keywords_file"),
            files=dict(value.get("files", {})),
        )
    items: Iterable[Any] = value
    return _FolderSpec(messages=[_message_spec(m) for m in items])


def _flag_letter(flag: str) -> str:
    if len(flag) == 1 and flag in FLAG_LETTERS:
        return flag
    letter = LETTER_OF_FLAG.get(flag.lower())
    if letter is None:
        raise ValueError(f"{flag!r} is not a Maildir flag letter or system flag; put it in keywords")
    return letter


def parse_keywords_file(data: bytes) -> dict[int, str]:
    """``dovecot-keywords`` → {index: name} (lines ``<n> <name>``; bad lines skipped, §4.1)."""
    mapping: dict[int, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        index, sep, name = line.partition(" ")
        if sep and index.isdigit() and int(index) < MAX_KEYWORD_LETTERS and name:
            mapping[int(index)] = name
    return mapping


def folder_path(root: Path, folder: str) -> Path:
    """Maildir++ directory of ``folder`` (``INBOX`` is the root)."""
    return root if folder.upper() == INBOX else root / f".{folder}"


def _create_maildir(path: Path, *, is_subfolder: bool) -> None:
    for sub in MAILDIR_SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    if is_subfolder:
        (path / "maildirfolder").touch()


FolderSpecValue = Iterable[Any] | Mapping[str, Any]


def make_maildir(
    root: Path, spec: Mapping[str, FolderSpecValue], *, subscriptions: Iterable[str] | None = None
) -> Path:
    """Create (or add to) the Maildir++ tree at ``root`` from ``spec``; returns ``root``.

    INBOX always exists afterwards. ``subscriptions`` writes the root ``subscriptions`` file (Dovecot's
    version-2 format: ``V\\t2`` and an empty line, then one name per line with the hierarchy separator
    written as TAB, maildir-format.md §2.5).
    """
    root = Path(root)
    _create_maildir(root, is_subfolder=False)
    for folder, value in spec.items():
        fspec = _folder_spec(value)
        path = folder_path(root, folder)
        _create_maildir(path, is_subfolder=path != root)
        if fspec.keywords_file is not None:
            mapping = {name: index for index, name in parse_keywords_file(fspec.keywords_file).items()}
            (path / KEYWORDS_FILE).write_bytes(fspec.keywords_file)
        else:
            mapping = {}
            for message in fspec.messages:
                for keyword in message.keywords:
                    mapping.setdefault(keyword, len(mapping))
            if len(mapping) > MAX_KEYWORD_LETTERS:
                raise ValueError(f"{folder}: more than {MAX_KEYWORD_LETTERS} keywords")
            if mapping:
                lines = "".join(f"{index} {name}\n" for name, index in mapping.items())
                (path / KEYWORDS_FILE).write_bytes(lines.encode())
        for message in fspec.messages:
            _write_message(path, message, mapping, next(_SEQUENCE))
        if fspec.uidlist is not None:
            (path / UIDLIST_FILE).write_bytes(fspec.uidlist)
        for name, data in fspec.files.items():
            (path / name).write_bytes(data)
    if subscriptions is not None:
        names = "".join(name.replace(".", "\t") + "\n" for name in subscriptions)
        (root / "subscriptions").write_text(f"V\t2\n\n{names}")
    return root


def _write_message(path: Path, message: MessageSpec, keyword_index: Mapping[str, int], counter: int) -> None:
    data = message.raw
    if data is None:
        data = sample_message(
            message_id=message.message_id,
            subject=message.subject or f"Message {counter}",
            body=message.body,
            line_ending=message.line_ending,
        )
    unique = f"{BASE_TIME + counter}.M{counter}P{os.getpid()}Q{counter}.{HOSTNAME}"
    base = message.base or f"{unique},S={len(data)}"
    if message.new:
        if message.flags or message.keywords:
            raise ValueError(f"{message.message_id}: messages in new/ carry no flags")
        target = path / "new" / base
    else:
        letters = sorted({_flag_letter(f) for f in message.flags})
        letters += sorted(chr(ord("a") + keyword_index[k]) for k in message.keywords)
        target = path / "cur" / f"{base}:2,{''.join(letters)}"
    temporary = path / "tmp" / base
    temporary.write_bytes(data)
    os.utime(temporary, (BASE_TIME + counter, BASE_TIME + counter))
    temporary.rename(target)


def _maildir_folders(root: Path, layout: Layout) -> dict[str, Path]:
    folders: dict[str, Path] = {}
    if layout == "maildir++":
        if (root / "cur").is_dir() or (root / "new").is_dir():
            folders[INBOX] = root
        for entry in sorted(root.iterdir()):
            name = entry.name
            if name.startswith(".") and not name.startswith("..") and entry.is_dir() and name != ".":
                folders[name[1:]] = entry
        return folders
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in MAILDIR_SUBDIRS)
        here = Path(dirpath)
        if (here / "cur").is_dir():
            relative = here.relative_to(root).parts
            name = ".".join(relative) if relative else INBOX
            folders[INBOX if name.upper() == INBOX else name] = here
    return folders


def _message_id(path: Path) -> str:
    with path.open("rb") as handle:
        headers = BytesHeaderParser().parse(handle)
    value = headers.get("Message-ID")
    return str(value).strip() if value is not None else f"<no-message-id:{path.name}>"


def _flags_of(name: str, keywords: Mapping[int, str]) -> frozenset[str]:
    # Flags come from the info after the last ':' and only for the "2," kind (§1.5).
    _, colon, info = name.rpartition(":")
    if not colon or not info.startswith("2,"):
        return frozenset()
    letters = info[2:].split(",", 1)[0]
    flags: set[str] = set()
    for letter in letters:
        if letter in FLAG_LETTERS:
            flags.add(FLAG_LETTERS[letter])
        elif "a" <= letter <= "z":
            flags.add(keywords.get(ord(letter) - ord("a"), f"?{letter}"))
    return frozenset(flags)


def read_maildir_messages(root: Path, *, layout: Layout = "maildir++") -> dict[str, list[MaildirMessage]]:
    """Every message file under ``root``, per folder, sorted by Message-ID."""
    result: dict[str, list[MaildirMessage]] = {}
    for folder, path in _maildir_folders(Path(root), layout).items():
        keywords_path = path / KEYWORDS_FILE
        keywords = parse_keywords_file(keywords_path.read_bytes()) if keywords_path.exists() else {}
        messages: list[MaildirMessage] = []
        for subdir in ("new", "cur"):
            directory = path / subdir
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                if not entry.is_file() or entry.name.startswith("."):
                    continue
                messages.append(
                    MaildirMessage(
                        folder=folder,
                        path=entry,
                        subdir=subdir,
                        base=entry.name.split(":", 1)[0],
                        message_id=_message_id(entry),
                        flags=_flags_of(entry.name, keywords),
                    )
                )
        result[folder] = sorted(messages, key=lambda m: m.message_id)
    return result


def read_maildir_state(
    root: Path, *, layout: Layout = "maildir++", keywords: bool = True
) -> dict[str, dict[str, frozenset[str]]]:
    """``{folder: {message_id: flags}}`` for comparison; ``keywords=False`` keeps only system flags."""
    state: dict[str, dict[str, frozenset[str]]] = {}
    for folder, messages in read_maildir_messages(root, layout=layout).items():
        by_id: dict[str, frozenset[str]] = {}
        for message in messages:
            if message.message_id in by_id:
                raise DuplicateMessageError(f"{folder}: {message.message_id} appears twice")
            flags = message.flags
            if not keywords:
                flags = frozenset(f for f in flags if f.startswith("\\") or f in FLAG_LETTERS.values())
            by_id[message.message_id] = flags
        state[folder] = by_id
    return state
