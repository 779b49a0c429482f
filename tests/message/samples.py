"""Hand-written messages shared by the message tests, in LF form (the tests derive the CRLF variant)."""

from __future__ import annotations

PLAIN = b"""From: "Doe, John" <john@example.com>
To: Mary Smith <mary@example.net>
Subject: Hello there
Date: Mon, 7 Feb 1994 21:52:25 -0800
Message-ID: <1234@local.machine.example>
X-Folded: first part
  second part

Hi Mary,
this is the body.
"""

ALTERNATIVE = b"""From: a@example.com
To: b@example.com
Subject: alt
Content-Type: multipart/alternative; boundary="XX"

This is a preamble.
--XX
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9 ol=
=C3=A9
--XX
Content-Type: text/html; charset=utf-8

<p>caf\xc3\xa9</p>
--XX--
epilogue
"""

MIXED = b"""From: a@example.com
Subject: mixed
Content-Type: multipart/mixed; boundary=outer
Content-Language: en, fr
Content-Disposition: inline

--outer
Content-Type: text/plain
Content-ID: <id1@example.com>
Content-Description: the text

body one
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64
Content-Location: http://example.com/report.pdf
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

JVBERi0xLjQK
AAEC/w==
--outer
Content-Type: message/rfc822

From: Inner Sender <inner@example.org>
Subject: inner
Content-Type: multipart/alternative; boundary=inner

--inner

plain inner
--inner
Content-Type: text/html

<b>inner</b>
--inner--
--outer
Content-Type: application/x-weird
Content-Transfer-Encoding: x-uuencode

begin 644 x
--outer--
"""

NO_TYPE = b"""Subject: no content type

just text
"""

HEADER_ONLY = b"Subject: only a header"
