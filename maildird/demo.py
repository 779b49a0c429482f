"""A demo Maildir, so that ``maildird serve`` with no arguments has something to show.

The tree is ordinary Maildir++ as Dovecot writes it (maildir-format.md §2): INBOX is the root with
``cur/ new/ tmp/``, folders are ``.Sent`` and ``.Archive`` with an empty ``maildirfolder`` file, and a
version-2 ``subscriptions`` file lists them.  Messages read so far sit in ``cur/`` with ``:2,<flags>``
(flag letters in ASCII order), unread new mail in ``new/``; each file's mtime is the message's Date, which
is what Dovecot reports as INTERNALDATE.  File names follow the Maildir convention
``<seconds>.M<usec>P<pid>.<host>,S=<size>`` (cr.yp.to/proto/maildir.html, Dovecot's ``S=`` size).
"""

from __future__ import annotations

import email.policy
import os
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

__all__ = ["create_demo_maildir", "demo_messages"]

#: The host part of the demo file names (a real delivery agent uses the host name).
DEMO_HOST = "maildird-demo"
_POLICY = email.policy.default.clone(linesep="\n")  # Maildir files use LF, like Dovecot writes them
_BASE = datetime(2026, 11, 2, 9, 14, tzinfo=timezone(timedelta(hours=1)))


def _message(
    sender: str, to: str, subject: str, body: str, when: datetime, msgid: str, **headers: str
) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msgid
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def demo_messages(user: str = "you") -> dict[str, list[tuple[str, str, EmailMessage]]]:
    """Folder ("" = INBOX) -> [(subdir, flags, message)]."""
    me = f"{user} <{user}@example.org>"
    t = _BASE
    welcome = _message(
        "maildird <postmaster@example.org>",
        me,
        "Welcome to maildird",
        "This Maildir was made by `maildird serve` because no configuration was given.\n\n"
        "Point your mail client at the address printed on the terminal, log in with the user\n"
        "name and the password from the file it names, and try moving, flagging and deleting\n"
        "these messages: they are ordinary files under cur/ and new/.\n",
        t,
        make_msgid("welcome", "example.org"),
    )
    report = _message(
        "Dana Whitfield <dana@example.com>",
        me,
        "Q3 figures",
        "Hi,\n\nthe Q3 numbers are attached as CSV. Revenue is up 4% on Q2.\n\nDana\n",
        t + timedelta(hours=2, minutes=5),
        make_msgid("q3", "example.com"),
    )
    report.add_attachment(
        b"region,q2,q3\nnorth,1200,1260\nsouth,980,1015\n",
        maintype="text",
        subtype="csv",
        filename="q3-figures.csv",
    )
    cafe = _message(
        "José Müller <jose@example.net>",
        me,
        "Café am Freitag? Größere Runde 🎉",
        "Hallo!\n\nWir treffen uns Freitag um 15 Uhr im Café Fröhlich. Kommst du mit?\n\nJosé\n",
        t + timedelta(days=1, hours=1),
        make_msgid("cafe", "example.net"),
    )
    lunch_id = make_msgid("lunch", "example.org")
    lunch = _message(
        me,
        "Sam Okafor <sam@example.com>",
        "Lunch on Friday?",
        "Are you free for lunch on Friday?\n",
        t + timedelta(days=1, hours=3),
        lunch_id,
    )
    reply = _message(
        "Sam Okafor <sam@example.com>",
        me,
        "Re: Lunch on Friday?",
        "Friday works. The usual place at 12:30?\n\n> Are you free for lunch on Friday?\n",
        t + timedelta(days=1, hours=4),
        make_msgid("re-lunch", "example.com"),
        In_Reply_To=lunch_id,
        References=lunch_id,
    )
    newsletter = _message(
        "Example Weekly <news@example.com>",
        me,
        "This week: three things worth reading",
        "1. Maildir turns 30\n2. IMAP IDLE explained\n3. Why fsync matters\n",
        t + timedelta(days=2),
        make_msgid("weekly", "example.com"),
        List_Id="Example Weekly <weekly.example.com>",
    )
    newsletter.add_alternative(
        "<html><body><ol><li>Maildir turns 30</li><li>IMAP IDLE explained</li>"
        "<li>Why fsync matters</li></ol></body></html>\n",
        subtype="html",
    )
    old = _message(
        "Ana Lima <ana@example.org>",
        me,
        "Trip photos",
        "The photos from the trip are on the shared drive.\n",
        t - timedelta(days=200),
        make_msgid("trip", "example.org"),
    )
    return {
        "": [
            ("cur", "S", welcome),
            ("cur", "FS", cafe),
            ("cur", "RS", reply),
            ("new", "", report),
            ("new", "", newsletter),
        ],
        "Sent": [("cur", "S", lunch)],
        "Archive": [("cur", "S", old)],
    }


def _deliver(folder: Path, subdir: str, flags: str, msg: EmailMessage, n: int) -> Path:
    data = msg.as_bytes(policy=_POLICY)
    when = datetime.strptime(str(msg["Date"]), "%a, %d %b %Y %H:%M:%S %z").timestamp()
    base = f"{int(when)}.M{n:06d}P{os.getpid()}.{DEMO_HOST},S={len(data)}"
    name = base + (f":2,{''.join(sorted(flags))}" if subdir == "cur" else "")
    tmp = folder / "tmp" / base
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # mail is private, as Dovecot writes it
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.utime(tmp, (when, when))
    final = folder / subdir / name
    os.rename(tmp, final)  # tmp -> new/cur, the Maildir delivery protocol
    return final


def _make_folder(path: Path, *, is_inbox: bool) -> None:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, mode=0o700, exist_ok=True)
    if not is_inbox:
        (path / "maildirfolder").touch(mode=0o600)


def create_demo_maildir(path: Path, user: str = "you") -> Path:
    """Create the demo Maildir at ``path`` unless it already exists (then it is left alone)."""
    if (path / "cur").is_dir():
        return path
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    staging = path.with_name(path.name + ".creating")
    n = 0
    for folder, messages in demo_messages(user).items():
        target = staging / f".{folder}" if folder else staging
        _make_folder(target, is_inbox=not folder)
        for subdir, flags, msg in messages:
            n += 1
            _deliver(target, subdir, flags, msg, n)
    (staging / "subscriptions").write_text("V\t2\n\nINBOX\nSent\nArchive\n")
    os.rename(staging, path)  # appear complete or not at all
    return path
