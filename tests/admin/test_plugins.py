"""maildird.plugins: entry points from a test distribution (in subprocesses, so the test process's
importlib.metadata view stays clean), the built-ins, the error for a missing name, and dispatch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from maildird import plugins
from maildird.config import AuthConfig, Config, MailConfig, ServerConfig
from maildird.handlers.context import Context, Services, TransportInfo
from maildird.imap.commands import Extension
from maildird.imap.errors import No
from maildird.imap.responses import Atom, Response, Tagged, Untagged, serialize
from maildird.store.base import OverQuota
from tests.admin.testdist import PASSWORD, REPO, SUBJECT, USER, environment, write_distribution

#: Hang protection for the subprocesses only.
TIMEOUT = 60


def run_script(site: Path, body: str) -> Any:
    """Run ``body`` (Python; it prints one JSON value last) with ``site`` on sys.path; return that value."""
    script = textwrap.dedent(body)
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=environment(site),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_resolution_from_an_installed_distribution(tmp_path: Path) -> None:
    site = write_distribution(tmp_path / "site")
    got = run_script(
        site,
        f"""
        import json, trio
        from maildird import plugins
        from maildird.config import AuthConfig, Config, MailConfig, ServerConfig

        config = Config(
            server=ServerConfig(state_dir={str(tmp_path / "state")!r}),
            auth=AuthConfig(backend="test-auth"),
            mail=MailConfig(store="mem"),
        )
        auth = plugins.make_authenticator(config)
        store_for = plugins.make_store_factory(config, plugins.StoreEnvironment())

        async def main():
            record = await auth.verify({USER!r}, {PASSWORD!r})
            wrong = await auth.verify({USER!r}, "wrong")
            store = store_for(record)
            box = await store.open("INBOX")
            snap = await box.snapshot()
            data = await box.read_message(snap.messages[0].uid)
            return record.name, wrong, data.decode()

        name, wrong, data = trio.run(main)
        commands = plugins.load_commands()
        print(json.dumps({{
            "auth": sorted(plugins.available(plugins.AUTH_GROUP)),
            "store": sorted(plugins.available(plugins.STORE_GROUP)),
            "auth_type": type(auth).__module__ + "." + type(auth).__name__,
            "loads": auth.loads,
            "name": name,
            "wrong": wrong,
            "message": data,
            "commands": {{k: type(v).__name__ for k, v in commands.items()}},
            "capabilities": plugins.extra_capabilities(commands),
            "builtin_auth": plugins.resolve(plugins.AUTH_GROUP, "users-file").__name__,
            "builtin_store": plugins.resolve(plugins.STORE_GROUP, "maildir").__name__,
        }}))
        """,
    )
    assert got["auth"] == ["test-auth", "users-file"]
    assert got["store"] == ["maildir", "mem"]
    assert got["auth_type"] == "mdtest_plugin.DictAuth"
    assert got["loads"] == 1  # make_authenticator calls load() once
    assert (got["name"], got["wrong"]) == (USER, None)
    assert f"Subject: {SUBJECT}" in got["message"]
    assert got["commands"] == {"XHELLO": "XHello"}  # the class was instantiated; the name upper-cased
    assert got["capabilities"] == ["XHELLO"]
    assert (got["builtin_auth"], got["builtin_store"]) == ("users_file_authenticator", "maildir_store")


def test_missing_and_broken_plugins_are_named(tmp_path: Path) -> None:
    site = write_distribution(tmp_path / "site", broken=True)
    got = run_script(
        site,
        """
        import json
        from maildird import plugins

        out = {}
        for key, group, name in [
            ("missing_auth", plugins.AUTH_GROUP, "ldap"),
            ("missing_store", plugins.STORE_GROUP, "imap-proxy"),
            ("broken_auth", plugins.AUTH_GROUP, "gone"),
        ]:
            try:
                plugins.resolve(group, name)
                out[key] = "resolved?!"
            except plugins.PluginError as exc:
                out[key] = str(exc)
        try:
            plugins.load_commands()
            out["commands"] = "loaded?!"
        except plugins.PluginError as exc:
            out["commands"] = str(exc)
        print(json.dumps(out))
        """,
    )
    assert got["missing_auth"] == (
        "no auth backend plug-in named 'ldap' (entry point group maildird.auth); "
        "installed: gone, test-auth, users-file"
    )
    assert got["missing_store"] == (
        "no store plug-in named 'imap-proxy' (entry point group maildird.store); installed: maildir, mem"
    )
    assert got["broken_auth"].startswith("auth backend plug-in 'gone' (mdtest_broken:does_not_exist) failed")
    assert "ModuleNotFoundError" in got["broken_auth"]
    assert got["commands"] == "command plug-in 'badcmd' could not be created: RuntimeError('cannot start')"


def test_check_config_reports_a_missing_plugin(tmp_path: Path) -> None:
    site = write_distribution(tmp_path / "site")
    config = tmp_path / "maildird.toml"
    config.write_text(
        '[server]\nmode = "single-user"\nuser = "no-such-user-x"\n'
        '[[listen]]\naddress = "127.0.0.1"\nport = 1430\ntls = "none"\n'
        '[auth]\nbackend = "test-auth"\n[mail]\nstore = "nope"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "maildird", "check-config", "--config", str(config)],
        env=environment(site),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 78
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{config}: mail.store: no store plug-in named 'nope' (entry point group maildird.store); "
        "installed: maildir, mem"
    )
    assert "no such user 'no-such-user-x'" in lines[1]
    assert len(lines) == 2  # the auth backend resolved


def test_this_process_sees_only_the_builtins() -> None:
    assert sorted(plugins.available(plugins.AUTH_GROUP)) == ["users-file"]
    assert sorted(plugins.available(plugins.STORE_GROUP)) == ["maildir"]
    assert plugins.load_commands() == {}
    with pytest.raises(plugins.PluginError, match=r"installed: users-file$"):
        plugins.resolve(plugins.AUTH_GROUP, "test-auth")


def test_builtin_users_file_backend(tmp_path: Path) -> None:
    from maildird import auth

    users = tmp_path / "users"
    auth.add_user(users, "u", "p", hasher=auth.make_hasher(time_cost=1, memory_cost=8, parallelism=1))
    made = plugins.make_authenticator(Config(auth=AuthConfig(users_file=users)))
    assert isinstance(made, auth.Authenticator)
    assert made.lookup("u") is not None
    assert plugins.make_authenticator(Config(auth=AuthConfig(users_file=None))) is None


async def test_builtin_maildir_store(tmp_path: Path) -> None:
    from maildird import auth
    from maildird.store.maildir.store import MaildirStore
    from tests.support.maildirs import make_maildir

    maildir = tmp_path / "Maildir"
    make_maildir(maildir, {"INBOX": [{"id": "<a@x>", "subject": "hi"}]})
    watched: list[Path] = []

    async def watch(path: Path) -> None:
        watched.append(path)

    config = Config(server=ServerConfig(state_dir=tmp_path / "state"), mail=MailConfig(root=tmp_path))
    store_for = plugins.make_store_factory(config, plugins.StoreEnvironment(watch=watch))
    store = await store_for(auth.UserRecord("u", "x", extra=(("mail", f"maildir:{maildir}"),)))
    assert isinstance(store, MaildirStore)
    box = await store.open("INBOX")
    assert len((await box.snapshot()).messages) == 1
    await box.close()
    await store.close()
    assert watched == [maildir]


# --------------------------------------------------------------------------------------------------------
# dispatch: a plug-in command runs like a built-in one
# --------------------------------------------------------------------------------------------------------


class Hello:
    name = "XHELLO"

    async def handle(self, ctx: Context, command: Extension) -> Tagged:
        if command.arguments == b"fail":
            raise No("XHELLO refused.")
        if command.arguments == b"quota":
            raise OverQuota("full")
        await ctx.send(Untagged((Atom("XHELLO"), ctx.user, command.arguments.decode())))
        return Tagged(command.tag, "OK", "XHELLO completed.")


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("XHELLO", b"world", [b'* XHELLO "alice" "world"\r\n', b"t1 OK XHELLO completed.\r\n"]),
        ("XHELLO", b"fail", [b"t1 NO XHELLO refused.\r\n"]),
        ("XHELLO", b"quota", [b"t1 NO [OVERQUOTA] full\r\n"]),
        ("XOTHER", b"", [b"t1 BAD [CLIENTBUG] Unknown command XOTHER.\r\n"]),
    ],
)
async def test_dispatch(name: str, arguments: bytes, expected: list[bytes]) -> None:
    sent: list[Response] = []

    async def send(response: Response) -> None:
        sent.append(response)

    transport = TransportInfo("tcp", False, "127.0.0.1:5000", "127.0.0.1:143", True, False)
    ctx = Context(Services(Config(), None, lambda record: None), transport, send)
    ctx.user = "alice"
    commands: dict[str, plugins.CommandPlugin] = {"XHELLO": Hello()}
    assert isinstance(commands["XHELLO"], plugins.CommandPlugin)
    tagged = await plugins.dispatch(ctx, Extension("t1", name, arguments), commands)
    assert [serialize(r) for r in [*sent, tagged]] == expected


def test_pyproject_registers_the_builtins() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    registered = project.get("entry-points", {})
    for group in (plugins.AUTH_GROUP, plugins.STORE_GROUP):
        assert registered.get(group) == dict(plugins.BUILTIN[group])
