"""The commands Thunderbird sends (peers.md §5), in its order, over a real Maildir.

Each step checks what Thunderbird relies on: UID first, exact HEADER.FIELDS, chunked bodies labelled
by origin that add up to RFC822.SIZE, keywords kept, MOVE to Trash with COPYUID, SPECIAL-USE in LIST.
"""

from __future__ import annotations

import re
from pathlib import Path

from maildird.store.maildir.store import MaildirStore
from tests.support.maildirs import make_maildir

from .harness import Session

TB_HEADERS = (
    "From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To "
    "Content-Type Reply-To"
)
BODY = "".join(f"line {i} of a long body\n" for i in range(400))


async def test_thunderbird_session(tmp_path: Path) -> None:
    maildir = make_maildir(
        tmp_path / "Maildir",
        {
            "INBOX": [
                {"id": "<a@x>", "flags": "S", "subject": "Seen one"},
                {"id": "<b@x>", "new": True, "subject": "Long one", "body": BODY},
            ],
            "Trash": [],
            "Sent": [],
        },
    )
    s = Session(MaildirStore(maildir, state_dir=tmp_path / "state", fsync=False))
    out = await s.lines('t1 ID ("name" "Thunderbird" "version" "128.0")')
    assert out[0].startswith(b'* ID ("name" "maildird"')
    assert await s.lines("t2 ENABLE UTF8=ACCEPT") == [b"* ENABLED UTF8=ACCEPT", b"t2 OK ENABLE completed."]
    assert await s.lines('t3 LIST (SPECIAL-USE) "" "*"') == [
        b'* LIST (\\HasNoChildren \\Sent) "." Sent',
        b'* LIST (\\HasNoChildren \\Trash) "." Trash',
        b"t3 OK LIST completed.",
    ]
    assert (await s.lines('t4 LSUB "" "*"'))[-1] == b"t4 OK LSUB completed."
    out = await s.lines("t5 SELECT INBOX")
    assert b"* 2 EXISTS" in out and b"* 1 RECENT" in out
    out = await s.lines("t6 UID fetch 1:* (FLAGS)")
    assert out[:2] == [b"* 1 FETCH (UID 1 FLAGS (\\Seen))", b"* 2 FETCH (UID 2 FLAGS (\\Recent))"]

    out = await s.cmd(f"t7 UID fetch 2 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({TB_HEADERS})])")
    m = re.match(
        rb"\* 2 FETCH \(UID 2 RFC822\.SIZE (\d+) FLAGS \(\\Recent\) BODY\[HEADER\.FIELDS \(FROM TO", out
    )
    assert m is not None, out
    size = int(m.group(1))
    assert b"Subject: Long one\r\n" in out
    assert b"\r\nt7 OK UID FETCH completed.\r\n" in out

    # Bodies in 4096-octet chunks: labels name the origin only, and the chunks add up to RFC822.SIZE.
    whole = b""
    origin = 0
    while origin < size:
        out = await s.cmd(f"t8 UID fetch 2 (UID RFC822.SIZE BODY.PEEK[]<{origin}.4096>)")
        m = re.match(rb"\* 2 FETCH \(UID 2 RFC822\.SIZE (\d+) BODY\[\]<(\d+)> \{(\d+)\}\r\n", out)
        assert m is not None, out[:80]
        assert int(m.group(1)) == size and int(m.group(2)) == origin
        chunk = out[m.end() : m.end() + int(m.group(3))]
        assert 0 < len(chunk) <= 4096
        whole += chunk
        origin += len(chunk)
    assert len(whole) == size
    assert b"line 399 of a long body\r\n" in whole

    out = await s.lines("t9 UID STORE 2 +FLAGS ($label1 \\Seen)")
    assert out[0].startswith(b"* FLAGS (") and out[0].endswith(b" $label1)")  # new keyword first
    assert out[2] == b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent $label1))"
    out = await s.lines('t10 STATUS "Sent" (UIDNEXT MESSAGES UNSEEN RECENT)')
    assert out[0] == b"* STATUS Sent (UIDNEXT 1 MESSAGES 0 UNSEEN 0 RECENT 0)"
    out = await s.lines("t11 UID MOVE 2 Trash")
    assert re.fullmatch(rb"\* OK \[COPYUID \d+ 2 1\] Moved UIDs\.", out[0])
    assert out[1:] == [b"* 2 EXPUNGE", b"t11 OK UID MOVE completed."]
    assert await s.lines("t12 NOOP") == [b"t12 OK NOOP completed."]
