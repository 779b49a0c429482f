"""Interop with the real Dovecot ``imap`` binary (PREAUTH over a pipe, no network): Dovecot writes a
Maildir, our format modules read it; our modules write, Dovecot reads it back (maildir-format.md §8).

Skipped when Debian's dovecot-imapd is not installed.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildird.store.maildir.filenames import new_base_name, parse_name, with_flags
from maildird.store.maildir.keywords import Keywords
from maildird.store.maildir.lock import UidlistLock
from maildird.store.maildir.maildirpp import MaildirPlusPlus
from maildird.store.maildir.subscriptions import read_subscriptions, update_subscriptions
from maildird.store.maildir.uidlist import Uidlist, UidRecord, append_records, read_uidlist, rewrite_uidlist
from maildird.store.maildir.uidvalidity import next_uidvalidity

IMAP_BIN = Path("/usr/lib/dovecot/imap")
RUN_AS = "nobody"  # Dovecot refuses to serve mail as root

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not IMAP_BIN.exists(), reason="Dovecot's imap binary is not installed"),
]

CONFIG = """\
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = .
}
log_path = /dev/stderr
ssl = no
first_valid_uid = 1
first_valid_gid = 1
"""


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def dovecot(home: Path, commands: list[str]) -> str:
    """Run one PREAUTH session; each item is a command line (CRLF added; a literal may be inside)."""
    conf = home.parent / "dovecot.conf"
    conf.write_text(CONFIG)
    cmd = [str(IMAP_BIN), "-c", str(conf)]
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        pw = pwd.getpwnam(RUN_AS)
        _chown_tree(home, pw.pw_uid, pw.pw_gid)
        os.chmod(conf, 0o644)
        cmd = [setpriv, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]
        user = RUN_AS
    env = {"USER": user, "HOME": str(home), "MAIL": f"maildir:{home}/Maildir", "PATH": "/usr/bin:/bin"}
    data = "".join(item + "\r\n" for item in commands)
    proc = subprocess.run(cmd, input=data.encode(), capture_output=True, env=env, timeout=60, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out + proc.stderr.decode("utf-8", "replace")
    assert "BAD" not in out.split("* BYE")[0], out
    return out


@pytest.fixture
def home() -> Iterator[Path]:
    # pytest's tmp_path lives under a 0700 root-owned directory that Dovecot (as nobody) cannot reach
    work = Path(tempfile.mkdtemp(prefix="maildird-dovecot-"))
    os.chmod(work, 0o755)
    (work / "home").mkdir()
    try:
        yield work / "home"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_dovecot_writes_we_read_we_write_dovecot_reads(home: Path) -> None:
    msg1 = "Subject: one\r\n\r\nbody 1\r\n"
    msg2 = "Subject: two\r\n\r\nbody 2\r\n"
    out = dovecot(
        home,
        [
            "a1 CREATE Foo",
            'a2 CREATE "T&AOQ- st"',
            "a3 CREATE Deep.A.B",
            "a4 SUBSCRIBE Foo",
            'a5 SUBSCRIBE "T&AOQ- st"',
            f"a6 APPEND INBOX (\\Seen $Label1 Junk) {{{len(msg1)}+}}\r\n{msg1}",
            f"a7 APPEND INBOX () {{{len(msg2)}+}}\r\n{msg2}",
            "a8 SELECT INBOX",
            "a9 STORE 2 +FLAGS (\\Flagged NonJunk)",
            "z LOGOUT",
        ],
    )
    uidvalidity = int(re.search(r"APPENDUID (\d+) 1\]", out).group(1))  # type: ignore[union-attr]
    root = home / "Maildir"

    # -- what Dovecot wrote, read by our modules ----------------------------------------------------
    layout = MaildirPlusPlus(root)
    assert layout.list_folders() == ["INBOX", "Deep.A.B", "Foo", "Tä st"]
    assert read_subscriptions(root) == {"Foo", "Tä st"}
    uidlist = read_uidlist(root)
    assert uidlist is not None
    assert uidlist.uidvalidity == uidvalidity
    assert [r.uid for r in uidlist.records] == [1, 2]
    names = {parse_name(n).base: parse_name(n) for n in os.listdir(root / "cur")}
    assert set(names) == {r.base for r in uidlist.records}
    kw = Keywords.load(root)
    assert kw.by_index == {0: "$Label1", 1: "Junk", 2: "NonJunk"}
    first, second = (names[r.base] for r in uidlist.records)
    assert first.system_flags == {"\\Seen"} and {kw.name_for(c) for c in first.keyword_letters} == {
        "$Label1",
        "Junk",
    }
    assert second.system_flags == {"\\Flagged"} and {kw.name_for(c) for c in second.keyword_letters} == {
        "NonJunk"
    }
    assert (first.size, first.vsize) == (len(msg1.replace("\r\n", "\n")), len(msg1))
    folder_uvs = [read_uidlist(layout.path_for(n)) for n in ("Foo", "Tä st", "Deep.A.B")]
    assert all(u is not None for u in folder_uvs)

    # -- we write: a new message, a new keyword, a flag change, a folder, a subscription ------------
    body = b"Subject: three\n\nbody 3\n"
    with UidlistLock(root):
        current = read_uidlist(root)
        assert current is not None
        kw = Keywords.load(root)
        later = kw.letter_for("Later", allocate=True)
        assert later == "d"
        kw.save(root)
        base = new_base_name(len(body), len(body.replace(b"\n", b"\r\n")))
        final = with_flags(parse_name(base), frozenset({"\\Answered"}), frozenset({later}))
        (root / "tmp" / base).write_bytes(body)
        os.rename(root / "tmp" / base, root / "cur" / final)
        new_uid = current.effective_next_uid
        append_records(root, [UidRecord(new_uid, base)])
        old_name = next(n for n in os.listdir(root / "cur") if parse_name(n).base == first.base)
        flagged = with_flags(parse_name(old_name), first.system_flags | {"\\Flagged"}, first.keyword_letters)
        os.rename(root / "cur" / old_name, root / "cur" / flagged)
    bar = layout.create("Bar")
    bar_uv = next_uidvalidity(root)
    with UidlistLock(bar):
        rewrite_uidlist(bar, Uidlist.new(bar_uv))
    update_subscriptions(root, add=["Bar"])

    out = dovecot(
        home,
        [
            "b1 SELECT INBOX",
            "b2 UID FETCH 1:* (FLAGS)",
            'b3 LSUB "" "*"',
            "b4 STATUS Bar (UIDVALIDITY MESSAGES)",
            "z LOGOUT",
        ],
    )
    assert f"OK [UIDVALIDITY {uidvalidity}]" in out
    flags = {
        int(m.group(1)): set(m.group(2).split()) for m in re.finditer(r"UID (\d+) FLAGS \(([^)]*)\)", out)
    }
    flags = flags or {
        int(m.group(2)): set(m.group(1).split()) for m in re.finditer(r"FLAGS \(([^)]*)\) UID (\d+)", out)
    }
    assert flags[1] == {"\\Seen", "\\Flagged", "$Label1", "Junk"}
    assert flags[2] == {"\\Flagged", "NonJunk"}
    assert flags[new_uid] == {"\\Answered", "Later"}
    assert new_uid == 3
    assert '"." Bar' in out
    assert re.search(rf"STATUS Bar \((?=.*UIDVALIDITY {bar_uv})(?=.*MESSAGES 0)", out), out
    assert bar_uv > max(uidvalidity, *(u.uidvalidity for u in folder_uvs if u is not None))
    # Dovecot's own next folder continues our counter step
    out = dovecot(home, ["c1 CREATE Baz", "c2 STATUS Baz (UIDVALIDITY)", "z LOGOUT"])
    assert f"UIDVALIDITY {bar_uv + 1})" in out
