"""transports.tls: server contexts from [tls] files, and reload that keeps the old context on failure."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trustme

from maildird.config import TlsConfig
from maildird.transports.tls import TlsContextHolder, TlsSetupError, make_server_context, start_tls


def issue(tmp_path: Path, name: str, host: str = "localhost") -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert(host)
    cert, key = tmp_path / f"{name}-cert.pem", tmp_path / f"{name}-key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return ca, cert, key


def test_context_settings(tmp_path: Path) -> None:
    _, cert, key = issue(tmp_path, "a")
    ctx = make_server_context(cert, key)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 and all("GCM" in n or "CHACHA20" in n for n in tls12)
    assert make_server_context(cert, key, "1.3").minimum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("problem", ["missing", "mismatch", "garbage"])
def test_bad_files_name_the_file(tmp_path: Path, problem: str) -> None:
    _, cert, key = issue(tmp_path, "a")
    _, _, other_key = issue(tmp_path, "b")
    if problem == "missing":
        key = tmp_path / "absent.pem"
    elif problem == "mismatch":
        key = other_key
    else:
        cert.write_text("not a certificate\n")
    with pytest.raises(TlsSetupError) as info:
        make_server_context(cert, key)
    assert str(key if problem == "missing" else cert) in str(info.value)


def test_unsupported_min_version(tmp_path: Path) -> None:
    _, cert, key = issue(tmp_path, "a")
    with pytest.raises(TlsSetupError, match=r"1\.1"):
        make_server_context(cert, key, "1.1")


async def served_subject(holder: TlsContextHolder, ca: trustme.CA) -> str:
    """Handshake over a real loopback socket and return the certificate's host name as the client saw it."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    seen: list[str] = []
    async with trio.open_nursery() as nursery:

        async def server() -> None:
            stream = await listeners[0].accept()
            tls = await start_tls(stream, holder.context, timeout=10)
            await tls.send_all(b"* OK\r\n")
            await tls.aclose()

        nursery.start_soon(server)
        client = trio.SSLStream(
            await trio.open_tcp_stream("127.0.0.1", port), client_ctx, server_hostname="localhost"
        )
        assert await client.receive_some(100) == b"* OK\r\n"
        cert = client.getpeercert()
        assert cert is not None
        seen.append(str(cert["serialNumber"]))
        await client.aclose()
    await listeners[0].aclose()
    return seen[0]


async def test_reload_swaps_and_bad_reload_keeps_old(tmp_path: Path) -> None:
    ca, cert, key = issue(tmp_path, "live")
    holder = TlsContextHolder.from_config(TlsConfig(certificate=cert, private_key=key))
    assert holder is not None
    first = await served_subject(holder, ca)

    leaf = ca.issue_cert("localhost")  # renewal: same CA, new certificate
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    assert holder.reload() is True
    second = await served_subject(holder, ca)
    assert second != first

    key.write_text("broken\n")
    old = holder.context
    assert holder.reload() is False
    assert holder.context is old
    assert await served_subject(holder, ca) == second


def test_no_certificate_no_holder() -> None:
    assert TlsContextHolder.from_config(TlsConfig()) is None
