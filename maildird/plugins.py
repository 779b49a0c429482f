"""Plug-ins: user databases, message stores and extra IMAP commands from other packages (issue 9).

Theory of operation
-------------------
The seed let integrators pass ``auth_class`` and ``model_class`` and call ``add_command``
(peers.md §1.3-1.5).  maildird does the same through Python entry points (PyPA "Entry points
specification"), read with :mod:`importlib.metadata`, in three groups:

``maildird.auth`` (chosen by ``[auth] backend``, default ``"users-file"``)
    The entry point is a callable ``make(config: Config) -> Authenticator | None``.  The
    authenticator has ``async def verify(user: str, password: str) -> record | None``: a record
    for a right password, None otherwise (take as long for an unknown user as for a wrong
    password).  The record is any object with a ``name`` attribute (the canonical user name, used in
    logs, limits and ``maildird status``); the store factory receives it.  An optional ``load()``
    is called at start-up and on every reload (SIGHUP, ``maildird reload``).

``maildird.store`` (chosen by ``[mail] store``, default ``"maildir"``)
    The entry point is a callable ``make(config: Config, env: StoreEnvironment) -> store_for``;
    ``store_for(record)`` returns (or returns an awaitable of) that user's
    ``maildird.store.base.Store``, whose mailboxes implement ``maildird.store.base.Mailbox``.  Raise
    ``StoreError`` subclasses: their RFC 5530 code becomes the tagged ``NO [CODE]``.  ``env`` holds
    the server's shared-mailbox ``registry``, the change ``hub`` (``Mailbox.watch_key`` names a key
    in it; ``hub.mark_dirty(key)`` wakes IDLE sessions) and ``watch(path)``, which starts the
    filesystem watcher for a directory tree (None in tests).

``maildird.commands`` (every installed one is loaded)
    The entry point is an object with ``name`` (an IMAP atom: the command name) and
    ``async def handle(ctx: Context, command: Extension) -> Tagged``, or a class or function that
    returns one when called with no arguments.  ``command.arguments`` is the rest of the command
    line as sent, literals inlined (``maildird.imap.commands.Extension``); parse it yourself.
    Untagged responses go out with ``await ctx.send(Untagged(...))``; raise ``maildird.imap.errors``
    ``No``/``Bad`` (or a ``StoreError``) for a tagged NO/BAD.  ``ctx.user``, ``ctx.store`` and
    ``ctx.selected`` describe the session (``maildird.handlers.context``).  Plug-in commands run only
    after login (the session table's rule).  An optional ``capabilities`` tuple names capabilities
    to advertise after login.  A name that is already an IMAP command is refused.

A missing name is a :class:`PluginError` naming it and the installed ones.  The two built-ins are
registered as entry points in maildird's own ``pyproject.toml``; because an editable or unpacked
tree may run with stale metadata, :data:`BUILTIN` also resolves them without it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from maildird.config import Config

if TYPE_CHECKING:
    from maildird.handlers.context import Context
    from maildird.imap.commands import Extension
    from maildird.imap.responses import Tagged
    from maildird.store.base import Store

__all__ = [
    "AUTH_GROUP",
    "BUILTIN",
    "COMMANDS_GROUP",
    "STORE_GROUP",
    "CommandPlugin",
    "PluginError",
    "StoreEnvironment",
    "available",
    "dispatch",
    "extra_capabilities",
    "load_commands",
    "make_authenticator",
    "make_store_factory",
    "resolve",
]

log = logging.getLogger("maildird.plugins")

AUTH_GROUP = "maildird.auth"
STORE_GROUP = "maildird.store"
COMMANDS_GROUP = "maildird.commands"

#: The built-ins, as they appear in pyproject.toml's [project.entry-points."maildird.*"] tables.
BUILTIN: Mapping[str, Mapping[str, str]] = {
    AUTH_GROUP: {"users-file": "maildird.plugins:users_file_authenticator"},
    STORE_GROUP: {"maildir": "maildird.plugins:maildir_store"},
    COMMANDS_GROUP: {},
}
_KIND = {AUTH_GROUP: "auth backend", STORE_GROUP: "store", COMMANDS_GROUP: "command"}
#: An IMAP command name: an atom (RFC 9051 §9 ``atom``), letters, digits and a few marks in practice.
_COMMAND_NAME = re.compile(r"^[A-Z][A-Z0-9._-]*$")

StoreFactory = Callable[[Any], "Store | Awaitable[Store]"]


class PluginError(Exception):
    """A plug-in is missing, fails to load, or does not fit its interface."""


@dataclass(frozen=True, slots=True)
class StoreEnvironment:
    """What the server lends a store plug-in (module docstring)."""

    registry: Any = None
    hub: Any = None
    watch: Callable[[Path], Awaitable[None]] | None = None


@runtime_checkable
class CommandPlugin(Protocol):
    """An extra IMAP command (the seed's ``add_command``)."""

    name: str

    async def handle(self, ctx: Context, command: Extension) -> Tagged: ...


# --------------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------------


def available(group: str) -> dict[str, EntryPoint]:
    """Every plug-in of ``group`` by name: the installed entry points, plus the built-ins the installed
    metadata lacks.  When two distributions register one name, the first found wins (and is logged)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        if ep.name in found and found[ep.name].value != ep.value:
            first = found[ep.name].value
            log.warning(
                "%s plug-in %r registered twice (%s, %s); using the first", group, ep.name, first, ep.value
            )
            continue
        found.setdefault(ep.name, ep)
    for name, value in BUILTIN.get(group, {}).items():
        found.setdefault(name, EntryPoint(name=name, value=value, group=group))
    return found


def resolve(group: str, name: str) -> Any:
    """Load the plug-in ``name`` of ``group``; PluginError names the missing one and the installed ones."""
    table = available(group)
    ep = table.get(name)
    if ep is None:
        installed = ", ".join(sorted(table)) or "none"
        raise PluginError(
            f"no {_KIND.get(group, group)} plug-in named {name!r} (entry point group {group}); "
            f"installed: {installed}"
        )
    try:
        return ep.load()
    except Exception as exc:
        raise PluginError(f"{_KIND.get(group, group)} plug-in {name!r} ({ep.value}) failed to load: {exc!r}")


def make_authenticator(config: Config) -> Any:
    """The authenticator for ``[auth] backend``, loaded (``load()``) once; None when the backend has
    nothing to offer (the users-file backend without a users file)."""
    factory = resolve(AUTH_GROUP, config.auth.backend)
    authenticator = factory(config)
    if authenticator is None:
        return None
    if not callable(getattr(authenticator, "verify", None)):
        raise PluginError(f"auth backend {config.auth.backend!r} has no verify(user, password) method")
    load = getattr(authenticator, "load", None)
    if callable(load):
        load()
    return authenticator


def make_store_factory(config: Config, env: StoreEnvironment) -> StoreFactory:
    """``store_for(record)`` for ``[mail] store``."""
    factory = resolve(STORE_GROUP, config.mail.store)
    store_for = factory(config, env)
    if not callable(store_for):
        raise PluginError(f"store plug-in {config.mail.store!r} did not return a store_for(record) callable")
    return store_for  # type: ignore[no-any-return]


def _command_object(name: str, loaded: Any) -> CommandPlugin:
    obj = loaded
    if not isinstance(obj, CommandPlugin) or isinstance(obj, type):
        try:
            obj = loaded()
        except Exception as exc:
            raise PluginError(f"command plug-in {name!r} could not be created: {exc!r}")
    if not isinstance(obj, CommandPlugin):
        raise PluginError(f"command plug-in {name!r} has no name attribute and handle(ctx, command) method")
    return obj


def load_commands() -> dict[str, CommandPlugin]:
    """Every installed ``maildird.commands`` plug-in by upper-case IMAP command name."""
    from maildird.imap.grammar import COMMANDS

    commands: dict[str, CommandPlugin] = {}
    for ep_name in sorted(available(COMMANDS_GROUP)):
        plugin = _command_object(ep_name, resolve(COMMANDS_GROUP, ep_name))
        command = str(plugin.name).upper()
        if not _COMMAND_NAME.match(command):
            raise PluginError(f"command plug-in {ep_name!r}: {plugin.name!r} is not an IMAP command name")
        if command in COMMANDS or command in ("UID", "AUTHENTICATE", "DONE"):
            raise PluginError(f"command plug-in {ep_name!r}: {command} is a built-in IMAP command")
        if command in commands:
            raise PluginError(f"command plug-in {ep_name!r}: {command} is registered twice")
        commands[command] = plugin
        log.info("plug-in command %s from %s", command, ep_name)
    return commands


def extra_capabilities(commands: Mapping[str, CommandPlugin]) -> list[str]:
    """Capabilities the command plug-ins ask to advertise after login, in load order, no duplicates."""
    seen: dict[str, None] = {}
    for plugin in commands.values():
        for cap in getattr(plugin, "capabilities", ()) or ():
            seen.setdefault(str(cap), None)
    return list(seen)


async def dispatch(ctx: Context, command: Extension, commands: Mapping[str, CommandPlugin]) -> Tagged:
    """Run a plug-in command as ``handlers.handle`` runs a built-in one: errors mapped to the tagged
    reply in one place (ImapError -> its response, StoreError -> ``NO [code]``), the selected
    mailbox's pending updates sent before the tagged reply (RFC 9051 §7.5.1).  ``Bye`` propagates."""
    from maildird.handlers import updates
    from maildird.imap.errors import Bye, ImapError
    from maildird.imap.responses import Code, Tagged
    from maildird.store.base import StoreError

    plugin = commands.get(command.name)
    if plugin is None:
        return Tagged(command.tag, "BAD", f"Unknown command {command.name}.", Code("CLIENTBUG"))
    try:
        result = await plugin.handle(ctx, command)
    except Bye:
        raise
    except ImapError as exc:
        response = exc.to_response(command.tag)
        assert isinstance(response, Tagged)
        result = response
    except StoreError as exc:
        result = Tagged(command.tag, "NO", exc.message, Code(exc.code))
    if ctx.selected is not None:
        try:
            await updates.flush(ctx)
        except StoreError as exc:
            ctx.log.warning("could not refresh %s: %s", ctx.selected.name if ctx.selected else "?", exc)
    return result


# --------------------------------------------------------------------------------------------------------
# The built-ins, registered like any plug-in
# --------------------------------------------------------------------------------------------------------


def users_file_authenticator(config: Config) -> Any:
    """``[auth] backend = "users-file"``: the Dovecot passwd-file of ``[auth] users_file``
    (maildird.auth; maildird-passwd(5))."""
    if config.auth.users_file is None:
        return None
    from maildird.auth import Authenticator

    return Authenticator.from_config(config)


def maildir_store(config: Config, env: StoreEnvironment) -> StoreFactory:
    """``[mail] store = "maildir"``: each user's Maildir (``[mail] maildir`` or the users-file
    ``mail=`` field), with its index under ``<state_dir>/index/<user>``."""
    from maildird.store.maildir.store import MaildirStore

    async def store_for(record: Any) -> Store:
        maildir = record.resolve_maildir(config.mail)
        store = MaildirStore(
            maildir,
            state_dir=config.server.state_dir / "index" / record.name,
            layout=config.mail.layout,
            special_use=dict(config.mail.special_use),
            subscriptions=config.mail.subscriptions,
            registry=env.registry,
        )
        if env.watch is not None:
            await env.watch(maildir)
        return store

    return store_for
