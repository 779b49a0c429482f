"""RFC 2971 §3.1/§3.3: the server's ID answer comes from ``[server] id_*`` in the config."""

from __future__ import annotations

import pytest

from tests.conftest import RunningServer


@pytest.mark.server_config(server={"id_name": "mail.example", "id_vendor": "Example Org"})
async def test_id_answer_uses_the_configured_fields(imap_server: RunningServer) -> None:
    import maildird

    c = await imap_server.connect()
    lines = [line.rstrip(b"\r\n") for line in await c.cmd('i1 ID ("name" "pytest")')]
    version = maildird.__version__.encode()
    assert lines == [
        b'* ID ("name" "mail.example" "version" "' + version + b'" "vendor" "Example Org")',
        b"i1 OK ID completed.",
    ]


async def test_default_id_answer(imap_server: RunningServer) -> None:
    c = await imap_server.connect()
    lines = [line.rstrip(b"\r\n") for line in await c.cmd("i1 ID NIL")]
    assert lines[0].startswith(b'* ID ("name" "maildird" "version" "')
    assert b"vendor" not in lines[0]
