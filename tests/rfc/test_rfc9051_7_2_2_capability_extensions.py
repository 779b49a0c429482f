"""RFC 9051 §7.2.2 CAPABILITY (and §7.1 ``[CAPABILITY]`` in a login's tagged OK): after login maildird lists
every extension of design/capabilities.md's tables, so clients that decide from the capability list
(Thunderbird, mbsync, imapclient) use them. AUTH=PLAIN (RFC 4616) belongs to the pre-login list (RFC 9051
§6.2.2: AUTH= is advertised where AUTHENTICATE is allowed), SASL-IR (RFC 4959 §3) to both.
"""

from __future__ import annotations

import re

from tests.conftest import RunningServer

# Every extension capabilities.md asks for, by the name its RFC registers.
EXTENSIONS = {
    "IMAP4rev1",  # RFC 3501
    "IMAP4rev2",  # RFC 9051
    "IDLE",  # RFC 2177
    "NAMESPACE",  # RFC 2342
    "ID",  # RFC 2971
    "ENABLE",  # RFC 5161
    "UNSELECT",  # RFC 3691
    "CHILDREN",  # RFC 3348
    "UIDPLUS",  # RFC 4315
    "MOVE",  # RFC 6851
    "SASL-IR",  # RFC 4959
    "SPECIAL-USE",  # RFC 6154
    "CREATE-SPECIAL-USE",  # RFC 6154
    "LIST-EXTENDED",  # RFC 5258
    "LIST-STATUS",  # RFC 5819
    "STATUS=SIZE",  # RFC 8438
    "ESEARCH",  # RFC 4731
    "SEARCHRES",  # RFC 5182
    "MULTIAPPEND",  # RFC 3502
    "BINARY",  # RFC 3516
    "COMPRESS=DEFLATE",  # RFC 4978
    "UTF8=ACCEPT",  # RFC 6855
    "CONDSTORE",  # RFC 7162
    "QRESYNC",  # RFC 7162
}
# RFC 7888: LITERAL+ (any size) or LITERAL- (at most 4096 octets); a server advertises one of them.
LITERAL_CAPABILITIES = {"LITERAL+", "LITERAL-"}
APPENDLIMIT = re.compile(r"APPENDLIMIT=(\d+)")  # RFC 7889 §2: the number is the limit in octets


def capability_atoms(line: bytes, prefix: bytes) -> list[str]:
    assert line.startswith(prefix), line
    return line[len(prefix) :].split(b"]", 1)[0].decode().split()


async def test_capability_after_login_lists_every_extension(imap_server: RunningServer) -> None:
    c = await imap_server.login()
    lines = await c.cmd("c1 CAPABILITY")
    assert len(lines) == 2 and lines[1] == b"c1 OK CAPABILITY completed.\r\n", lines
    caps = capability_atoms(lines[0].rstrip(b"\r\n"), b"* CAPABILITY ")
    assert caps[0] == "IMAP4rev1"
    assert EXTENSIONS - set(caps) == set()
    assert len(LITERAL_CAPABILITIES & set(caps)) == 1, caps
    limits = [m for c in caps if (m := APPENDLIMIT.fullmatch(c))]
    assert len(limits) == 1 and int(limits[0].group(1)) == imap_server.config.limits.max_append
    assert len(caps) == len(set(caps)), "no capability twice"


async def test_login_ok_carries_the_same_capabilities(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = await c.cmd(f'L1 LOGIN {imap_server.user} "{imap_server.password}"')
    assert re.fullmatch(rb"L1 OK \[CAPABILITY [^\]]+\] Logged in\.\r\n", lines[-1]), lines
    in_code = capability_atoms(lines[-1], b"L1 OK [CAPABILITY ")
    listed = capability_atoms((await c.cmd("c1 CAPABILITY"))[0].rstrip(b"\r\n"), b"* CAPABILITY ")
    assert in_code == listed


async def test_pre_login_capabilities_offer_sasl_ir_and_auth_plain(imap_server: RunningServer) -> None:
    for tls in (False, True):  # loopback plaintext is allowed by default, TLS always
        c = await imap_server.connect(tls=tls)
        lines = await c.cmd("c1 CAPABILITY")
        caps = set(capability_atoms(lines[0].rstrip(b"\r\n"), b"* CAPABILITY "))
        assert {"IMAP4rev1", "IMAP4rev2", "SASL-IR", "AUTH=PLAIN", "ID", "ENABLE", "IDLE"} <= caps, caps
        assert ("STARTTLS" in caps) is not tls
        assert "LOGINDISABLED" not in caps
