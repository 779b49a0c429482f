"""TLS through the raw clients against a private Dovecot with a trustme certificate; async start/stop."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import trio

from tests.interop.corpus import CORPUS
from tests.support import LOOPBACK_V6
from tests.support.dovecot import DovecotServer
from tests.support.maildirs import make_maildir
from tests.support.rawclient import RawClient, SyncRawClient, tls_pair

pytestmark = pytest.mark.interop


async def test_implicit_tls_and_starttls_with_trio_client(tmp_path: Path) -> None:
    pair = tls_pair()
    maildir = make_maildir(tmp_path / "Maildir", CORPUS)
    async with DovecotServer(maildir, tls_ca=pair.ca) as server:
        async with await RawClient.connect(
            server.host, server.tls_port, ssl_context=pair.client_context
        ) as client:
            assert client.greeting.startswith(b"* OK")
            assert isinstance(client.stream, trio.SSLStream)
            assert (await client.cmd("a1 LOGIN alice secret"))[-1].startswith(b"a1 OK")
            assert b"* 4 EXISTS\r\n" in await client.cmd("a2 SELECT INBOX")
        async with await RawClient.connect(server.host, server.port) as client:
            assert b"STARTTLS" in client.greeting
            lines = await client.starttls(pair.client_context)
            assert lines[-1].startswith(b"tls1 OK"), lines
            capability = await client.cmd("a1 CAPABILITY")
            assert b"STARTTLS" not in capability[0]
            assert (await client.cmd("a2 LOGIN alice secret"))[-1].startswith(b"a2 OK")
    assert server.process is None


def test_implicit_tls_rejects_an_untrusted_certificate(tmp_path: Path) -> None:
    pair = tls_pair()
    other = tls_pair()
    maildir = make_maildir(tmp_path / "Maildir", {"INBOX": []})
    with DovecotServer(maildir, tls_ca=pair.ca) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            SyncRawClient.connect(server.host, server.tls_port, ssl_context=other.client_context)
        with SyncRawClient.connect(server.host, server.tls_port, ssl_context=pair.client_context) as client:
            assert client.cmd("a1 LOGIN alice secret")[-1].startswith(b"a1 OK")


def _ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK_V6, 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_available(), reason="no IPv6 loopback on this host")
def test_dovecot_on_ipv6_loopback_with_argon2id_password(tmp_path: Path) -> None:
    maildir = make_maildir(tmp_path / "Maildir", CORPUS)
    with DovecotServer(maildir, host=LOOPBACK_V6, scheme="ARGON2ID", password="correct horse") as server:
        assert server.endpoint.url.startswith(f"imap://alice:correct horse@[::1]:{server.port}/")
        assert server.base_dir is not None
        assert "{ARGON2ID}$argon2id$" in (server.base_dir / "passwd").read_text()
        with SyncRawClient.connect(server.host, server.port) as client:
            assert client.cmd('a1 LOGIN alice "correct horse"')[-1].startswith(b"a1 OK")
        with SyncRawClient.connect(server.host, server.port) as client:
            assert client.cmd('a1 LOGIN alice "wrong horse"')[-1].startswith(b"a1 NO")
