"""Loading the TOML configuration file into :class:`maildird.config.Config`, with readable errors.

Theory of operation
-------------------
``load_config(path)`` parses the file with :mod:`tomllib`, then walks the resulting dicts with a small
hand-written validator (:class:`maildird.config_table.Table`).  Every value is checked for type and
range, every key that is not known is an error, and every problem is reported with the file name, the
line (tomllib's own message for syntax errors; a best-effort scan of the text for semantic errors) and
the dotted key such as ``listen[1].port``, plus a hint at the fix.  All problems found are collected and
raised together in one :class:`~maildird.config.ConfigError`, so ``maildird check-config`` lists them
all at once.  This module holds the file reading and one loader per section; the validator itself is
in :mod:`maildird.config_table`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from maildird.config import (
    DEFAULT_AUTH_BACKEND,
    SPECIAL_USE_ATTRIBUTES,
    SYSLOG_FACILITIES,
    WS_DEFAULT_PATH,
    AuthConfig,
    Config,
    ConfigError,
    Layout,
    Limits,
    Listener,
    ListenKind,
    LogConfig,
    LogLevel,
    LogTarget,
    MailConfig,
    Mode,
    ServerConfig,
    Subscriptions,
    TlsConfig,
    TlsMode,
    default_state_dir,
)
from maildird.config_table import Problems, Table

__all__ = ["config_from_dict", "load_config"]

#: Plug-in names: what an entry point name may look like (PEP 621 entry point names are free-form,
#: but a name that fits in a config file without quoting surprises is kinder to admins).
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")

#: Limits that are byte counts and so may be written as "64KiB" / "50MiB".
_SIZE_LIMITS = frozenset(
    {"max_line", "max_literal", "max_nonsync_literal", "max_command", "max_append", "max_ws_message"}
)

_SECTIONS = ("server", "listen", "tls", "auth", "mail", "limits", "log")


def load_config(path: Path | str) -> Config:
    """Read and validate ``path``.  Raises ConfigError listing every problem found (file:line: key: fix)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the configuration file: {exc.strerror or exc}"])
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start}); TOML files must be UTF-8"])
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno (added in 3.14): parse it from the message.
        message = str(exc)
        m = _TOML_POS.search(message)
        where = f"{path}:{m.group(1)}" if m else str(path)
        reason = _TOML_POS.sub("", message).strip()
        raise ConfigError([f"{where}: TOML syntax error: {reason} (column {m.group(2) if m else '?'})"])
    return config_from_dict(data, path, text)


def config_from_dict(data: Mapping[str, Any], path: Path, text: str = "") -> Config:
    problems = Problems(path, text)
    top = Table(data, "", problems)

    s = top.table("server")
    mode = cast(Mode, s.string("mode", "virtual", ("virtual", "single-user")))
    sd = ServerConfig()
    server = ServerConfig(
        hostname=s.string("hostname", "localhost"),
        mode=mode,
        state_dir=s.path("state_dir", None) or default_state_dir(mode),
        user=s.string("user", "") or None,
        group=s.string("group", "") or None,
        allow_root=s.boolean("allow_root", sd.allow_root),
        pid_file=s.path("pid_file", None),
        control_socket=s.path("control_socket", None),
        reverse_lookups=s.boolean("reverse_lookups", sd.reverse_lookups),
        id_name=s.string("id_name", sd.id_name),
        id_vendor=s.string("id_vendor", sd.id_vendor),
        id_support_url=s.string("id_support_url", sd.id_support_url),
    )
    if server.group is not None and server.user is None:
        s.bad("group", 'a group without a user changes nothing; add user = "maildird" or remove group')
    if not server.id_name:
        s.bad("id_name", 'must not be empty; the default is "maildird"')
    s.finish()

    t = top.table("tls")
    tls = TlsConfig(
        certificate=t.path("certificate", None),
        private_key=t.path("private_key", None),
        min_version=cast(Literal["1.2", "1.3"], t.string("min_version", "1.2", ("1.2", "1.3"))),
    )
    if (tls.certificate is None) != (tls.private_key is None):
        t.bad(
            "private_key" if tls.private_key is None else "certificate",
            "set both certificate and private_key",
        )
    t.finish()

    a = top.table("auth")
    defaults = AuthConfig()
    auth = AuthConfig(
        backend=_plugin_name(a, "backend", defaults.backend),
        users_file=a.path("users_file", None),
        failure_delay=a.seconds("failure_delay", defaults.failure_delay, 0.0, 60.0),
        max_penalty=a.seconds("max_penalty", defaults.max_penalty, 0.0, 3600.0),
        plaintext_on_loopback=a.boolean("plaintext_on_loopback", defaults.plaintext_on_loopback),
        allow_plaintext=a.boolean("allow_plaintext", defaults.allow_plaintext),
        hash_threads=a.integer("hash_threads", defaults.hash_threads, 1, 64),
    )
    a.finish()
    if auth.users_file is None and mode == "virtual" and auth.backend == DEFAULT_AUTH_BACKEND:
        a.bad("users_file", 'virtual mode needs a users file; add users_file = "/etc/maildird/passwd"')

    mail = _load_mail(top.table("mail"), mode)
    listeners = _load_listeners(top, tls, auth)
    limits = _load_limits(top.table("limits"))

    log = _load_log(top.table("log"))

    top.finish(_SECTIONS)
    if problems.items:
        raise ConfigError(problems.items)
    return Config(server, listeners, tls, auth, mail, limits, log, source=path)


def _load_mail(m: Table, mode: Mode) -> MailConfig:
    d = MailConfig()
    template = m.string("maildir", d.maildir)
    if not template.startswith(("/", "%h", "~")):
        m.bad("maildir", f'expected an absolute path template such as "%h/Maildir", got {template!r}')
    bad_escape = re.search(r"%[^undh%]", template)
    if bad_escape:
        m.bad("maildir", f"unknown escape {bad_escape.group(0)!r}; use %u, %n, %d, %h or %%")
    if mode == "virtual" and not re.search(r"%[und]|%h|^~", template):
        m.bad("maildir", "in virtual mode every user needs their own Maildir; include %u or %h")
    overrides: dict[str, str] = {}
    su = m.table("special_use")
    for name in list(su.data):
        value = su.string(name, "")
        attr = "\\" + value.lstrip("\\").capitalize()
        if attr not in SPECIAL_USE_ATTRIBUTES:
            su.bad(
                name, f"expected one of {', '.join(sorted(SPECIAL_USE_ATTRIBUTES))} (RFC 6154), got {value!r}"
            )
            continue
        overrides[name] = attr
    mail = MailConfig(
        store=_plugin_name(m, "store", d.store),
        root=m.path("root", d.root) or d.root,
        maildir=template,
        layout=cast(Layout, m.string("layout", d.layout, ("maildir++", "fs"))),
        subscriptions=cast(Subscriptions, m.string("subscriptions", d.subscriptions, ("auto", "file"))),
        condstore=m.boolean("condstore", d.condstore),
        special_use=types.MappingProxyType(overrides),
    )
    m.finish()
    return mail


def _plugin_name(t: Table, name: str, default: str) -> str:
    value = t.string(name, default)
    if not _PLUGIN_NAME.match(value):
        t.bad(name, f"expected a plug-in name such as {default!r} (letters, digits, - _ . +), got {value!r}")
        return default
    return value


def _load_log(lg: Table) -> LogConfig:
    d = LogConfig()
    log = LogConfig(
        level=cast(LogLevel, lg.string("level", d.level, ("debug", "info", "warning", "error"))),
        target=cast(LogTarget, lg.string("target", d.target, ("stderr", "file", "syslog"))),
        file=lg.path("file", None),
        syslog_facility=lg.string("syslog_facility", d.syslog_facility, SYSLOG_FACILITIES),
    )
    if log.target == "file" and log.file is None:
        lg.bad("file", 'target = "file" needs file = "/var/log/maildird/maildird.log"')
    lg.finish()
    return log


_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
"""An RFC 6454 serialised origin (scheme, host, optional port; no path)."""


def _load_listeners(top: Table, tls: TlsConfig, auth: AuthConfig) -> tuple[Listener, ...]:
    raw = top.get("listen")
    if raw is None:
        top.bad(
            "listen", 'no listeners; add [[listen]] with address = "0.0.0.0", port = 993, tls = "implicit"'
        )
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        top.bad("listen", "expected [[listen]] tables (an array of tables), one per socket")
        return ()
    listeners: list[Listener] = []
    for i, item in enumerate(raw):
        t = Table(item, f"listen[{i}]", top.problems)
        address = t.string("address", "")
        if not address:
            t.bad("address", 'missing; add address = "127.0.0.1" (or "::" for all addresses)')
        port = t.integer("port", 0, 1, 65535)
        if "port" not in item:
            t.bad("port", "missing; add port = 993 (or another number 1-65535)")
        kind = cast(ListenKind, t.string("kind", "imap", ("imap", "ws")))
        mode = cast(TlsMode, t.string("tls", "implicit", ("implicit", "starttls", "none")))
        path = t.string("path", WS_DEFAULT_PATH if kind == "ws" else "/")
        if not path.startswith("/"):
            t.bad("path", f'expected a URL path starting with "/", got {path!r}')
        origins = t.strings("allowed_origins")
        for origin in origins:
            if origin not in ("*", "null") and not _ORIGIN_RE.fullmatch(origin):
                t.bad(
                    "allowed_origins",
                    f'{origin!r} is not an origin; write e.g. "https://webmail.example.org", "null" or "*"',
                )
        nets = {name: t.strings(name) for name in ("allow", "deny")}
        for name, values in nets.items():
            for net in values:
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    t.bad(name, f"{net!r} is not an IP network; write e.g. 192.0.2.0/24 or 2001:db8::/32")
        lst = Listener(address, port, mode, kind, path, nets["allow"], nets["deny"], origins)
        if mode != "none" and tls.certificate is None:
            t.bad("tls", f'tls = "{mode}" needs [tls] certificate and private_key, or set tls = "none"')
        if mode == "starttls" and kind == "ws":
            t.bad("tls", 'WebSocket listeners cannot use STARTTLS; use "implicit" (wss) or "none"')
        if mode == "none" and address and not lst.is_loopback and not auth.allow_plaintext:
            t.bad(
                "tls",
                'tls = "none" on a non-loopback address exposes passwords (RFC 8314); listen on '
                "127.0.0.1, use TLS, or set [auth] allow_plaintext = true behind a TLS proxy",
            )
        t.finish()
        listeners.append(lst)
    return tuple(listeners)


def _load_limits(t: Table) -> Limits:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Limits):
        default = f.default
        if isinstance(default, bool):
            values[f.name] = t.boolean(f.name, default)
        elif isinstance(default, float):
            values[f.name] = t.seconds(f.name, default)
        else:
            assert isinstance(default, int)
            values[f.name] = t.integer(f.name, default, 1, 1 << 40, size=f.name in _SIZE_LIMITS)
    if values["auth_idle"] < Limits().auth_idle and "auth_idle" in t.data:
        t.bad("auth_idle", "RFC 9051 §5.4 requires at least 1800 seconds (30 minutes) after login")
    if values["max_nonsync_literal"] > values["max_literal"]:
        t.bad("max_nonsync_literal", "must not exceed max_literal")
    t.finish()
    return Limits(**values)
