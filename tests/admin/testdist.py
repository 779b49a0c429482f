"""A small plug-in distribution for the tests, written to a directory as an installed package would be:
the module ``mdtest_plugin`` and ``mdtest_plugin-1.0.dist-info`` with ``METADATA`` and
``entry_points.txt`` (PyPA core metadata and entry points specifications), so that
``importlib.metadata`` finds its entry points once the directory is on ``sys.path``.

It provides an auth backend ``test-auth`` (two users in a dict), an in-memory store ``mem`` (the
handlers' MemStore, one per user, INBOX holding one message) and the command ``XHELLO``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "tester", "secret"
SUBJECT = "hello from memory"

MODULE = textwrap.dedent(
    f'''
    """maildird test plug-ins (tests/admin/testdist.py)."""

    from __future__ import annotations

    from dataclasses import dataclass

    from maildird.imap.errors import No
    from maildird.imap.responses import Atom, Tagged, Untagged
    from maildird.store.base import PermissionDenied
    from tests.handlers.memstore import MemStore

    USERS = {{{USER!r}: {PASSWORD!r}, "other": "pw2"}}


    @dataclass(frozen=True)
    class Record:
        name: str


    class DictAuth:
        def __init__(self, config) -> None:
            self.config = config
            self.loads = 0

        def load(self) -> None:
            self.loads += 1

        async def verify(self, user, password):
            return Record(user) if USERS.get(user) == password else None


    def make_auth(config):
        return DictAuth(config)


    STORES: dict = {{}}


    def make_store(config, env):
        def store_for(record):
            store = STORES.get(record.name)
            if store is None:
                store = STORES[record.name] = MemStore()
                store.add("INBOX", b"From: a@example.org\\r\\nSubject: {SUBJECT}\\r\\n\\r\\nbody\\r\\n")
            return store

        return store_for


    class XHello:
        """XHELLO [text]: answers * XHELLO user text; "fail" -> NO, "perm" -> a StoreError."""

        name = "xhello"
        capabilities = ("XHELLO",)

        async def handle(self, ctx, command):
            if command.arguments == b"fail":
                raise No("XHELLO refused.")
            if command.arguments == b"perm":
                raise PermissionDenied("not yours")
            await ctx.send(Untagged((Atom("XHELLO"), ctx.user, command.arguments.decode())))
            return Tagged(command.tag, "OK", "XHELLO completed.")


    def broken():
        raise RuntimeError("cannot start")
    '''
)

ENTRY_POINTS = """\
[maildird.auth]
test-auth = mdtest_plugin:make_auth

[maildird.store]
mem = mdtest_plugin:make_store

[maildird.commands]
xhello = mdtest_plugin:XHello
"""

BROKEN_ENTRY_POINTS = """\
[maildird.auth]
gone = mdtest_broken:does_not_exist

[maildird.commands]
badcmd = mdtest_plugin:broken
"""


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def write_distribution(site: Path, *, broken: bool = False) -> Path:
    """Write the test distribution (and with ``broken`` a second one with bad entry points) into ``site``."""
    package = site / "mdtest_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(MODULE)
    _dist(site, "mdtest_plugin", ENTRY_POINTS)
    if broken:
        _dist(site, "mdtest_broken", BROKEN_ENTRY_POINTS)
    return site


def environment(site: Path) -> dict[str, str]:
    """Environment for a subprocess that sees the distribution (and the repository's tests package)."""
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env
