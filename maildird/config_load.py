"""Loading the TOML configuration file into :class:`maildird.config.Config`, with readable errors.

Theory of operation
-------------------
``load_config(path)`` parses the file with :mod:`tomllib`, then walks the resulting dicts with a small
hand-written validator (:class:`_Table`).  Every value is checked for type and range, every key that is not
known is an error, and every problem is reported with the file name, the line (tomllib's own message for
syntax errors; a best-effort scan of the text for semantic errors) and the dotted key such as
``listen[1].port``, plus a hint at the fix.  All problems found are collected and raised together in one
:class:`~maildird.config.ConfigError`, so ``maildird check-config`` lists them all at once.
"""

from __future__ import annotations

import dataclasses
import difflib
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
    GiB,
    KiB,
    Layout,
    Limits,
    Listener,
    ListenKind,
    LogConfig,
    LogLevel,
    LogTarget,
    MailConfig,
    MiB,
    Mode,
    ServerConfig,
    Subscriptions,
    TlsConfig,
    TlsMode,
    default_state_dir,
)

__all__ = ["config_from_dict", "load_config"]

#: Plug-in names: what an entry point name may look like (PEP 621 entry point names are free-form,
#: but a name that fits in a config file without quoting surprises is kinder to admins).
_PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]i?B?|B)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hours?)?\s*$", re.IGNORECASE)
_HEADER = re.compile(r"\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?")
_KEY = re.compile(r"""^(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")
_UNIT = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB}
_SECONDS = {
    "": 1,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}
#: Limits that are byte counts and so may be written as "64KiB" / "50MiB".
_SIZE_LIMITS = frozenset(
    {"max_line", "max_literal", "max_nonsync_literal", "max_command", "max_append", "max_ws_message"}
)


class _Problems:
    """Collects problems with the file name and (best effort) line prefix."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines, self.items = path, text.splitlines(), list[str]()

    def add(self, key: str, message: str) -> None:
        line = self.locate(key)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        self.items.append(f"{where}: {key}: {message}")

    def locate(self, key: str) -> int | None:
        """Best-effort line of ``table.key`` / ``listen[i].key``: scan the headers, then the keys below the
        matching one.  None when not found (inline tables, dotted keys)."""
        m = re.fullmatch(r"([^.\[]+)\[(\d+)\](?:\.(.+))?", key)
        if m:
            table, index, leaf = m.group(1), int(m.group(2)), m.group(3)
        else:
            table, _, leaf = key.rpartition(".")
            index = 0
        current, seen, header_line = "", 0 if table == "" else -1, None
        for n, raw in enumerate(self.lines, 1):
            line = raw.strip()
            h = _HEADER.fullmatch(line)
            if h:
                current = re.sub(r"\s+|\"", "", h.group(1))
                if current == table:
                    seen += 1
                    if seen == index:
                        header_line = n
                elif not table and header_line is None and current.split(".")[0] == leaf:
                    header_line = n  # an unknown or misplaced section
                continue
            k = _KEY.match(line)
            if leaf and k and current == table and seen == index and leaf in k.groups():
                return n
        return header_line


def _type_name(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


class _Table:
    """One TOML table under validation; records which keys were read so unknown ones can be reported."""

    def __init__(self, data: Mapping[str, Any], prefix: str, problems: _Problems) -> None:
        self.data, self.prefix, self.problems, self.used = data, prefix, problems, set[str]()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def bad(self, name: str, message: str) -> None:
        self.problems.add(self.key(name), message)

    def get(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def string(self, name: str, default: str, choices: tuple[str, ...] | None = None) -> str:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self.bad(name, f"expected a string, got {_type_name(value)} {value!r}; put it in double quotes")
            return default
        if choices is not None and value not in choices:
            options = ", ".join(f'"{c}"' for c in choices)
            self.bad(name, f"expected one of {options}, got {value!r}")
            return default
        return value

    def path(self, name: str, default: Path | None) -> Path | None:
        value = self.string(name, "")
        if not value:
            return default
        path = Path(value).expanduser()
        if not path.is_absolute():
            self.bad(name, f"expected an absolute path, got {value!r}; write the full path starting with /")
            return default
        return path

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(name, f"expected true or false (no quotes), got {_type_name(value)} {value!r}")
            return default
        return value

    def integer(self, name: str, default: int, low: int, high: int, *, size: bool = False) -> int:
        value = self.get(name)
        if value is None:
            return default
        if size and isinstance(value, str) and (m := _SIZE.match(value)):
            value = int(m.group(1)) * _UNIT[(m.group(2) or "")[:1].lower()]
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ' or a size such as "64KiB"' if size else ""
            self.bad(name, f"expected an integer{hint}, got {_type_name(value)} {value!r}")
            return default
        if not low <= value <= high:
            self.bad(name, f"expected an integer from {low} to {high}, got {value}")
            return default
        return value

    def seconds(self, name: str, default: float, low: float = 0.0, high: float = 7 * 86400.0) -> float:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, str) and (m := _DURATION.match(value)):
            value = float(m.group(1)) * _SECONDS[(m.group(2) or "").lower()]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(name, f'expected seconds as a number or a duration such as "30m", got {value!r}')
            return default
        if not low <= value <= high:
            self.bad(name, f"expected seconds from {low:g} to {high:g}, got {value:g}")
            return default
        return float(value)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(name, f'expected an array of strings such as ["10.0.0.0/8"], got {value!r}')
            return ()
        return tuple(value)

    def table(self, name: str) -> _Table:
        value = self.get(name)
        if value is None:
            value = {}
        elif not isinstance(value, dict):
            self.bad(name, f"expected a table [{self.key(name)}], got {_type_name(value)}")
            value = {}
        return _Table(value, self.key(name), self.problems)

    def finish(self, known: tuple[str, ...] | None = None) -> None:
        for name in self.data:
            if name in self.used:
                continue
            close = difflib.get_close_matches(name, list(known if known is not None else self.used), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            self.bad(name, f"unknown key; {hint}")


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
    problems = _Problems(path, text)
    top = _Table(data, "", problems)

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


def _load_mail(m: _Table, mode: Mode) -> MailConfig:
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


def _plugin_name(t: _Table, name: str, default: str) -> str:
    value = t.string(name, default)
    if not _PLUGIN_NAME.match(value):
        t.bad(name, f"expected a plug-in name such as {default!r} (letters, digits, - _ . +), got {value!r}")
        return default
    return value


def _load_log(lg: _Table) -> LogConfig:
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


def _load_listeners(top: _Table, tls: TlsConfig, auth: AuthConfig) -> tuple[Listener, ...]:
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
        t = _Table(item, f"listen[{i}]", top.problems)
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


def _load_limits(t: _Table) -> Limits:
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
