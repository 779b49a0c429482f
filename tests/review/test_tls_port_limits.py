"""Hostile review: the implicit-TLS port must count connections before the TLS handshake.

``server.handle`` ran the TLS handshake (up to ``tls_handshake_timeout``, 30 s) *before*
``handle_stream`` applied the listener's access list and ``ConnectionLimits.try_acquire``. A client
that opens TCP connections to port 993 and never sends a ClientHello is therefore counted by no
limit (``max_unauth_per_ip``, ``max_connections``) and can hold as many descriptors as it likes
until the process hits EMFILE and stops accepting anyone; a denied address also gets a full
handshake first. On the STARTTLS port the same client is refused at once.
"""

from __future__ import annotations

import ssl

import pytest
import trio

from tests.support.rawclient import RawClient

HANG_GUARD = 20


@pytest.mark.server_config(max_unauth_per_ip=2, tls_handshake_timeout=120.0)
async def test_connections_waiting_in_the_tls_handshake_count_against_the_per_ip_limit(imap_server) -> None:  # type: ignore[no-untyped-def]
    silent = [await trio.open_tcp_stream(imap_server.host, imap_server.tls_port) for _ in range(2)]
    try:
        with trio.fail_after(HANG_GUARD):  # hang guard only
            try:
                third = await RawClient.connect(
                    imap_server.host,
                    imap_server.tls_port,
                    ssl_context=imap_server.client_ssl_context(),
                    server_hostname="localhost",
                )
            except (trio.BrokenResourceError, ssl.SSLError, OSError):
                return  # refused before the handshake: closed at once
        # Refused after a handshake: the greeting is the limit's BYE, not a session.
        assert third.greeting.startswith(b"* BYE [UNAVAILABLE]"), third.greeting
        await third.aclose()
    finally:
        for stream in silent:
            await stream.aclose()


@pytest.mark.server_config(max_unauth_per_ip=2, tls_handshake_timeout=120.0)
async def test_starttls_port_refuses_the_third_silent_connection(imap_server) -> None:  # type: ignore[no-untyped-def]
    """The plain port already does it (passes today): the reference behaviour for the TLS port."""
    silent = [await imap_server.connect() for _ in range(2)]
    third = await imap_server.connect()
    assert third.greeting.startswith(b"* BYE [UNAVAILABLE]"), third.greeting
    for client in (*silent, third):
        await client.aclose()
