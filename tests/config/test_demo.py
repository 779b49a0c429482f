"""demo.py: a realistic Maildir++ tree for `maildird serve` without configuration."""

from __future__ import annotations

import email
import email.policy
import email.utils
import stat
from email.message import EmailMessage
from pathlib import Path

from maildird.demo import create_demo_maildir


def messages(folder: Path) -> dict[str, EmailMessage]:
    out: dict[str, EmailMessage] = {}
    for sub in ("cur", "new"):
        for path in sorted((folder / sub).iterdir()):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out[f"{sub}/{path.name}"] = msg
    return out


def test_layout_and_messages(tmp_path: Path) -> None:
    root = create_demo_maildir(tmp_path / "state" / "demo" / "Maildir", "sam")
    for folder in (root, root / ".Sent", root / ".Archive"):
        assert all((folder / sub).is_dir() for sub in ("cur", "new", "tmp"))
        assert not list((folder / "tmp").iterdir())
    assert not (root / "maildirfolder").exists()
    assert (root / ".Sent" / "maildirfolder").read_bytes() == b""
    assert (root / "subscriptions").read_text() == "V\t2\n\nINBOX\nSent\nArchive\n"
    assert not (tmp_path / "state" / "demo" / "Maildir.creating").exists()

    inbox = messages(root)
    assert len(inbox) == 5
    names = list(inbox)
    assert sum(n.startswith("new/") for n in names) == 2
    assert all(":2," not in n for n in names if n.startswith("new/"))
    assert sorted(n.rsplit(":2,", 1)[1] for n in names if n.startswith("cur/")) == ["FS", "RS", "S"]
    for name in names:
        path = root / name
        size = int(name.split(",S=")[1].split(":")[0])
        assert size == path.stat().st_size
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"\r\n" not in path.read_bytes()  # LF on disk, like Dovecot
        assert (
            abs(path.stat().st_mtime - email.utils.parsedate_to_datetime(inbox[name]["Date"]).timestamp()) < 1
        )

    subjects = {str(m["Subject"]): m for m in inbox.values()}
    assert "Café am Freitag? Größere Runde 🎉" in subjects
    raw = (
        root / next(n for n in names if inbox[n] is subjects["Café am Freitag? Größere Runde 🎉"])
    ).read_bytes()
    assert b"Subject: =?utf-8?" in raw  # RFC 2047 encoded word on disk
    report = subjects["Q3 figures"]
    assert report.get_content_type() == "multipart/mixed"
    (attachment,) = list(report.iter_attachments())
    assert attachment.get_filename() == "q3-figures.csv"
    assert attachment.get_content().startswith("region,q2,q3")
    reply = subjects["Re: Lunch on Friday?"]
    (sent,) = messages(root / ".Sent").values()
    assert reply["In-Reply-To"] == sent["Message-ID"]
    assert "sam@example.org" in str(sent["From"])
    assert len(messages(root / ".Archive")) == 1


def test_existing_maildir_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    assert create_demo_maildir(root) == root
    assert not list((root / "cur").iterdir())
    assert not (root / ".Sent").exists()
