"""The Maildir both servers serve in the differential tests: folders, flags, keywords, MIME, non-ASCII."""

from __future__ import annotations

from typing import Any

from tests.support.maildirs import sample_message

CRLF = "\r\n"


def _join(lines: list[str]) -> bytes:
    return (CRLF.join(lines) + CRLF).encode("utf-8")


ALTERNATIVE = _join(
    [
        "Date: Tue, 14 Nov 2023 22:13:20 +0000",
        'From: "Carol, the Tester" <carol@example.org>',
        "To: Bob Example <bob@example.org>, dave@example.net",
        "Cc: undisclosed-recipients:;",
        "Reply-To: replies@example.org",
        "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=",
        "Message-ID: <alt@example.org>",
        "In-Reply-To: <m1@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="BOUNDARY-ALT"',
        "",
        "This is a multi-part message in MIME format.",
        "--BOUNDARY-ALT",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Gr=C3=BC=C3=9Fe aus K=C3=B6ln, with a searchable word: zebrafish.",
        "--BOUNDARY-ALT",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "<p>Grüße aus Köln</p>",
        "--BOUNDARY-ALT--",
        "",
    ]
)

MIXED = _join(
    [
        "Date: Wed, 15 Nov 2023 08:00:00 +0100",
        "From: Dave <dave@example.net>",
        "To: alice@example.org",
        "Subject: Report with attachment",
        "Message-ID: <mixed@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=outer",
        "",
        "--outer",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "See the attached report and the forwarded note.",
        "--outer",
        'Content-Type: application/octet-stream; name="report.bin"',
        'Content-Disposition: attachment; filename="report.bin"',
        "Content-Transfer-Encoding: base64",
        "Content-Language: en",
        "Content-ID: <part2@example.org>",
        "Content-Description: binary report",
        "",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "--outer",
        "Content-Type: message/rfc822",
        "",
        "Date: Mon, 13 Nov 2023 10:00:00 +0000",
        "From: Eve <eve@example.com>",
        "To: dave@example.net",
        "Subject: Forwarded note",
        "Message-ID: <inner@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative; boundary=inner",
        "",
        "--inner",
        "Content-Type: text/plain",
        "",
        "Inner plain text.",
        "--inner",
        "Content-Type: text/enriched",
        "",
        "<bold>Inner</bold> enriched.",
        "--inner--",
        "",
        "--outer--",
        "",
    ]
)

NON_ASCII = _join(
    [
        "Date: Thu, 16 Nov 2023 12:30:00 -0500",
        "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>",
        "To: =?UTF-8?B?SsO2cmc=?= <joerg@example.de>",
        "Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?= and plain",
        "Message-ID: <utf8@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: base64",
        "",
        "Q2Fm6SBjcuhtZSBici9s6WUK",
        "",
    ]
)

NO_HEADERS_BODY = b"Subject: bare\r\n\r\n"

# Edge cases for ENVELOPE, BODYSTRUCTURE and sections: address syntax, folding, raw 8-bit headers,
# RFC 2231 parameters, extension fields, odd MIME structure, obsolete dates.
EDGE_ADDRESSES = _join(
    [
        "Date: Tue, 14 Nov 23 10:00:00 EST",
        'From: "Doe, John" <john@example.com> (the boss)',
        "Sender: sender@example.org",
        'To: team: anna@example.org, "Bo B." <bo@example.org>;, plain@example.org',
        "Cc: <route@example.net>, Ünïcode Näme <uni@example.org>",
        "Bcc: undisclosed-recipients: ;",
        "Subject: folded",
        "\tsubject line",
        "  with spaces",
        "Message-ID: no-angle-brackets@example.org",
        "In-Reply-To: <a@example.org> <b@example.org>",
        "",
        "Body.",
    ]
)

EDGE_PARAMS = _join(
    [
        "Date: 5 Nov 2023 10:00 GMT",
        "From: params@example.org",
        "Subject: Räw 8-bit subject",
        "MIME-Version: 1.0",
        'Content-Type: MULTIPART/Mixed; boundary="=_b1"; charset=x',
        "",
        "preamble text",
        "--=_b1",
        'Content-Type: TEXT/PLAIN; CHARSET="UTF-8"; format=flowed',
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Disposition: inline; filename*=utf-8''na%C3%AFve.txt",
        "Content-Location: http://example.org/naive.txt",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
        "Content-Language: en, de",
        "",
        "Soft =",
        "break and =C3=A9.",
        "--=_b1",
        'Content-Type: image/png; name*0="long"; name*1="name.png"',
        "Content-Transfer-Encoding: BASE64",
        "",
        "iVBORw0KGgo=",
        "--=_b1",
        "",
        "A part without headers.",
        "--=_b1",
        'Content-Type: multipart/related; boundary=inner; type="text/html"',
        "",
        "--inner",
        "Content-Type: text/html",
        "",
        "<p>html</p>",
        "--inner",
        "Content-Type: message/rfc822",
        "Content-Transfer-Encoding: 7bit",
        "",
        "Subject: inner message without body",
        "--inner--",
        "epilogue",
        "--=_b1--",
        "trailing epilogue",
    ]
)

EDGE_TRUNCATED = _join(
    [
        "From: trunc@example.org",
        "Subject: no final boundary",
        "Content-Type: multipart/alternative; boundary=zz",
        "",
        "--zz",
        "Content-Type: text/plain",
        "",
        "first",
        "--zz",
        "Content-Type: text/html",
        "",
        "<b>second, never closed</b>",
    ]
)

EDGE_HEADER_ONLY = b"From: only@example.org\r\nSubject: no body at all\r\n"

EDGE_BAD_ENCODINGS = _join(
    [
        "From: =?UTF-8?B?broken?= <b@example.org>",
        "To: =?unknown-charset?Q?x?= <x@example.org>",
        "Subject: =?UTF-8?Q?split_?= =?UTF-8?Q?words?= and =?utf-8?q?=E2=82=AC?=",
        "Date: not a date",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: x-unknown",
        "",
        "body with unknown CTE",
    ]
)


def plain(message_id: str, subject: str, **kwargs: Any) -> bytes:
    return sample_message(message_id=message_id, subject=subject, **kwargs)


SPEC: dict[str, Any] = {
    "INBOX": {
        "messages": [
            {"id": "<m1@example.org>", "flags": "S", "raw": plain("<m1@example.org>", "First message")},
            {"id": "<alt@example.org>", "flags": "", "keywords": ["$Work"], "raw": ALTERNATIVE},
            {"id": "<mixed@example.org>", "flags": "FS", "keywords": ["$Work", "Later"], "raw": MIXED},
            {"id": "<utf8@example.org>", "flags": "R", "raw": NON_ASCII},
            {
                "id": "<m5@example.org>",
                "flags": "ST",
                "raw": plain("<m5@example.org>", "Deleted already", line_ending="\n"),
            },
            {"id": "<bare@example.org>", "flags": "D", "raw": NO_HEADERS_BODY},
            {"id": "<m7@example.org>", "new": True, "raw": plain("<m7@example.org>", "Fresh in new")},
        ],
        "files": {"subscriptions": b"V\t2\n\nINBOX\nSent\nWork\nWork\tProjects\nGone\n"},
    },
    "Sent": [{"id": "<s1@example.org>", "flags": "S", "raw": plain("<s1@example.org>", "Sent one")}],
    "Trash": [],
    "Work": [
        {"id": "<w1@example.org>", "flags": "", "raw": plain("<w1@example.org>", "Work one")},
        {"id": "<w2@example.org>", "flags": "S", "raw": plain("<w2@example.org>", "Work two")},
    ],
    "Work.Projects": [{"id": "<p1@example.org>", "flags": "F", "raw": plain("<p1@example.org>", "Project")}],
    "Caf&AOk-": [{"id": "<c1@example.org>", "flags": "", "raw": plain("<c1@example.org>", "Cafe")}],
    "Edge": [
        {"id": "<e1@x>", "raw": EDGE_ADDRESSES},
        {"id": "<e2@x>", "raw": EDGE_PARAMS},
        {"id": "<e3@x>", "raw": EDGE_TRUNCATED},
        {"id": "<e4@x>", "raw": EDGE_HEADER_ONLY},
        {"id": "<e5@x>", "raw": EDGE_BAD_ENCODINGS},
    ],
}

# Dovecot gets the special-use attributes maildird derives from these folder names (RFC 6154).
DOVECOT_EXTRA = """\
namespace inbox {
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
}
"""
