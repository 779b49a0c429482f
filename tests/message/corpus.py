"""A deterministic corpus of realistic messages built with the stdlib ``email`` package (what mail clients
produce): alternatives, related HTML with inline images, attachments with non-ASCII names, forwarded
messages, encoded headers, 8-bit and quoted-printable bodies. Used to compare maildird with Dovecot."""

from __future__ import annotations

import random
from email.message import EmailMessage
from email.policy import SMTP, default

NAMES = ["Alice Example", "Bjørn Ærø", "Zoë O'Brien", "李雷", "Smith, John", "plain"]
SUBJECTS = ["Quarterly report", "Grüße aus Köln", "Re: [list] a very long subject " * 3, "日本語の件名", ""]
TEXTS = [
    "Hello,\n\nsee attached.\n",
    "Café olé — naïve façade\nsecond line\n",
    "x" * 200 + "\n" + "short\n",
    "line with trailing spaces   \n\tindented\n",
]


def _addr(rng: random.Random, domain: str) -> str:
    name = rng.choice(NAMES)
    local = f"user{rng.randrange(100)}"
    return local + "@" + domain if name == "plain" else f"{name} <{local}@{domain}>"


def make_message(rng: random.Random, depth: int = 0) -> EmailMessage:
    msg = EmailMessage(policy=default)
    msg["From"] = _addr(rng, "example.com")
    msg["To"] = ", ".join(_addr(rng, "example.org") for _ in range(rng.randrange(1, 4)))
    if rng.random() < 0.4:
        msg["Cc"] = _addr(rng, "example.net")
    msg["Subject"] = rng.choice(SUBJECTS)
    zone = rng.choice(["+0200", "-0700", "+0000"])
    msg["Date"] = f"Tue, 1 Apr 2025 {rng.randrange(24):02d}:{rng.randrange(60):02d}:00 {zone}"
    msg["Message-ID"] = f"<{depth}.{rng.randrange(10**6)}@example.com>"
    kind = rng.randrange(6 if depth < 2 else 3)
    text = rng.choice(TEXTS)
    cte = rng.choice([None, "quoted-printable", "base64", "8bit"])
    if kind == 0:
        msg.set_content(text, cte=cte) if cte else msg.set_content(text)
    elif kind == 1:
        msg.set_content(text)
        msg.add_alternative(f"<html><body><p>{text}</p></body></html>\n", subtype="html")
    elif kind == 2:
        msg.set_content(text)
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        name = rng.choice(["report.pdf", "Übersicht 2025.xlsx", "a very long file name " * 4 + ".bin"])
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    elif kind == 3:
        msg.set_content(text)
        msg.add_alternative("<html><body><img src='cid:img1'></body></html>\n", subtype="html")
        html = msg.get_payload()[1]
        html.add_related(b"\x89PNG\r\n\x1a\n" + bytes(50), maintype="image", subtype="png", cid="<img1>")
    elif kind == 4:
        msg.set_content("Forwarded message below.\n")
        msg.add_attachment(make_message(rng, depth + 1))
    else:
        msg.set_content(text)
        msg.add_attachment("col1,col2\n1,2\n", subtype="csv", filename="data.csv")
        msg.add_attachment(make_message(rng, depth + 1))
    return msg


def corpus(count: int, seed: int = 20250401) -> list[bytes]:
    """``count`` messages as they would be stored: LF line ends, like many Maildir deliveries."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        raw = make_message(rng).as_bytes(policy=SMTP)
        out.append(raw.replace(b"\r\n", b"\n") if rng.random() < 0.5 else raw)
    return out
