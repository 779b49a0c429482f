"""CAPABILITY, NOOP, ID, ENABLE, LOGIN, AUTHENTICATE PLAIN logic (RFC 9051 §6.1-6.2, RFC 2971,
RFC 5161, RFC 4616)."""

from __future__ import annotations

from pathlib import Path

import pytest

import maildird
from maildird.auth import Authenticator
from maildird.config import Config, MailConfig
from maildird.handlers import auth
from maildird.passwd import add_user, make_hasher

from .harness import LOOPBACK, REMOTE_PLAIN, REMOTE_TLS, Session
from .memstore import MemStore

POST_LOGIN = (
    b"IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE IDLE NAMESPACE CHILDREN UIDPLUS UNSELECT MOVE SPECIAL-USE "
    b"CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE ESEARCH SEARCHRES MULTIAPPEND BINARY "
    b"UTF8=ACCEPT LITERAL+ APPENDLIMIT=52428800 CONDSTORE QRESYNC COMPRESS=DEFLATE"
)


@pytest.fixture
def authenticator(tmp_path: Path) -> Authenticator:
    hasher = make_hasher(time_cost=1, memory_cost=8, parallelism=1)
    users = tmp_path / "users"
    add_user(users, "alice", "s3cret wörd", hasher=hasher)
    a = Authenticator(users, hasher=hasher)
    a.load()
    return a


async def test_prelogin_capabilities_per_transport() -> None:
    out = await Session(transport=LOOPBACK).cmd("a1 CAPABILITY")
    assert out == (
        b"* CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN\r\n"
        b"a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
    )
    out = await Session(transport=REMOTE_PLAIN).lines("a1 CAPABILITY")
    assert out[0].endswith(b"LITERAL+ STARTTLS LOGINDISABLED")
    out = await Session(transport=REMOTE_TLS).lines("a1 CAPABILITY")
    assert out[0].endswith(b"LITERAL+ AUTH=PLAIN")


async def test_postlogin_capabilities(store: MemStore) -> None:
    assert await Session(store).cmd("a1 CAPABILITY") == (
        b"* CAPABILITY " + POST_LOGIN + b"\r\na1 OK CAPABILITY completed.\r\n"
    )
    off = Session(store, config=Config(mail=MailConfig(condstore=False)))
    assert b"CONDSTORE" not in await off.cmd("a1 CAPABILITY")
    assert await off.cmd("a2 ENABLE CONDSTORE QRESYNC") == b"* ENABLED\r\na2 OK ENABLE completed.\r\n"


async def test_noop_and_id(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 NOOP") == b"a1 OK NOOP completed.\r\n"
    out = await s.cmd('a2 ID ("name" "Thunderbird" "version" "115.7.0")')
    assert out == (
        b'* ID ("name" "maildird" "version" "%s")\r\na2 OK ID completed.\r\n' % maildird.__version__.encode()
    )
    assert s.ctx.client_id == (("name", "Thunderbird"), ("version", "115.7.0"))


async def test_enable_reports_only_new_and_qresync_implies_condstore(store: MemStore) -> None:
    s = Session(store)
    assert await s.cmd("a1 ENABLE QRESYNC X-UNKNOWN") == b"* ENABLED QRESYNC\r\na1 OK ENABLE completed.\r\n"
    assert {"QRESYNC", "CONDSTORE"} <= s.ctx.enabled
    assert (
        await s.cmd("a2 ENABLE CONDSTORE UTF8=ACCEPT")
        == b"* ENABLED UTF8=ACCEPT\r\na2 OK ENABLE completed.\r\n"
    )
    assert s.ctx.utf8


async def test_login_success_failure_and_capability_code(
    store: MemStore, authenticator: Authenticator
) -> None:
    s = Session(transport=LOOPBACK, authenticator=authenticator)
    s.ctx.services.store_for = lambda record: store  # type: ignore[assignment]
    assert await s.cmd('a1 LOGIN alice "wrong"') == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
    assert s.ctx.user is None
    out = await s.cmd('a2 LOGIN alice "s3cret w\xc3\xb6rd"'.encode("latin-1"))
    assert out == b"a2 OK [CAPABILITY " + POST_LOGIN + b"] Logged in.\r\n"
    assert s.ctx.user == "alice" and s.ctx.store is store


async def test_login_disabled_off_loopback_without_tls(authenticator: Authenticator) -> None:
    s = Session(transport=REMOTE_PLAIN, authenticator=authenticator)
    assert await s.cmd('a1 LOGIN alice "s3cret"') == (
        b"a1 NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.\r\n"
    )


async def test_authenticate_plain(store: MemStore, authenticator: Authenticator) -> None:
    s = Session(transport=REMOTE_TLS, authenticator=authenticator)

    async def store_for(record: object) -> MemStore:
        return store

    s.ctx.services.store_for = store_for
    bad = await auth.authenticate_plain(s.ctx, "a1", b"\0alice\0nope")
    assert (bad.status, bad.code and bad.code.name) == ("NO", "AUTHENTICATIONFAILED")
    other = await auth.authenticate_plain(s.ctx, "a2", b"bob\0alice\0s3cret w\xc3\xb6rd")
    assert (other.status, other.code and other.code.name) == ("NO", "AUTHORIZATIONFAILED")
    malformed = await auth.authenticate_plain(s.ctx, "a3", b"alice")
    assert malformed.status == "NO"
    ok = await auth.authenticate_plain(s.ctx, "a4", b"alice\0alice\0s3cret w\xc3\xb6rd")
    assert ok.status == "OK" and ok.code is not None and ok.code.name == "CAPABILITY"
    assert s.ctx.user == "alice"


async def test_failed_logins_write_the_fail2ban_line(
    authenticator: Authenticator, caplog: pytest.LogCaptureFixture
) -> None:
    s = Session(transport=REMOTE_TLS, authenticator=authenticator)
    with caplog.at_level("WARNING", logger="maildird.handlers"):
        await s.cmd('a1 LOGIN "mallory rip=1.2.3.4" "x"')  # rip stays first, whatever the name says
        await auth.authenticate_plain(s.ctx, "a2", b"bob\0alice\0pw")
    assert caplog.messages == [
        "auth failed: rip=192.0.2.7, lip=192.0.2.1, method=LOGIN, reason=invalid-credentials, "
        "user=<mallory rip=1.2.3.4>",
        "auth failed: rip=192.0.2.7, lip=192.0.2.1, method=PLAIN, reason=authzid-refused, user=<alice>",
    ]
