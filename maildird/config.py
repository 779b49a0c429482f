"""Server configuration: the frozen dataclasses every part of the server reads.

Theory of operation
-------------------
:class:`Config` groups one frozen dataclass per TOML section.  Every limit the server enforces lives in
:class:`Limits`, with its default and the precedent it was taken from written beside it (the style of h11's
``max_incomplete_event_size`` comment).  The sample file ``maildird/data/maildird.toml.sample`` documents the
same keys for administrators; a test keeps them in step.  Reading and validating the TOML file lives in
:mod:`maildird.config_load`; ``load_config`` and ``config_from_dict`` are re-exported here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "AuthConfig",
    "Config",
    "ConfigError",
    "Limits",
    "Listener",
    "LogConfig",
    "MailConfig",
    "ServerConfig",
    "TlsConfig",
    "config_from_dict",
    "default_state_dir",
    "load_config",
    "parse_listen_url",
]

DEFAULT_CONFIG_PATH = Path("/etc/maildird/maildird.toml")
#: Virtual mode keeps its state (and, by default, its Maildirs) here; systemd's StateDirectory=maildird.
SYSTEM_STATE_DIR = Path("/var/lib/maildird")
#: The single-user default listener: loopback only, an unprivileged port next to IMAP's 143.
SINGLE_USER_LISTEN = "127.0.0.1:1430"
#: The control socket's file name inside the state directory when [server] control_socket is not set.
CONTROL_SOCKET_NAME = "control.sock"
#: The built-in plug-ins (maildird.plugins): the users-file authenticator and the Maildir store.
DEFAULT_AUTH_BACKEND = "users-file"
DEFAULT_STORE = "maildir"
#: syslog(3) facilities [log] syslog_facility accepts (logging.handlers.SysLogHandler.facility_names).
SYSLOG_FACILITIES = (
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user", "uucp",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip

Mode = Literal["virtual", "single-user"]
TlsMode = Literal["implicit", "starttls", "none"]
ListenKind = Literal["imap", "ws"]
Layout = Literal["maildir++", "fs"]
Subscriptions = Literal["auto", "file"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogTarget = Literal["stderr", "file", "syslog"]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: RFC 6154 §2 special-use attributes that a folder name can be mapped to.
SPECIAL_USE_ATTRIBUTES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)


class ConfigError(Exception):
    """The configuration cannot be used.  ``str(err)`` is the full report, one problem per line, each naming
    the file and the line or dotted key, and saying how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def default_state_dir(mode: Mode = "single-user") -> Path:
    """``$XDG_STATE_HOME/maildird`` (default ``~/.local/state/maildird``) for single-user mode, per the XDG
    base directory spec; ``$STATE_DIRECTORY`` (set by systemd) or /var/lib/maildird for virtual mode."""
    if mode == "virtual":
        return Path(os.environ.get("STATE_DIRECTORY", str(SYSTEM_STATE_DIR)).split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "maildird"


# --------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """``[server]``.  ``user``/``group``: the account to switch to after binding the listeners and loading
    the certificates when started as root (maildird.privileges); ``allow_root`` must be true to serve mail
    as root.  ``control_socket`` defaults to ``<state_dir>/control.sock`` (:attr:`control_socket_path`).
    ``reverse_lookups`` adds the client's host name to log lines (never used for access decisions).
    ``id_*`` are what the ID command answers (RFC 2971 §3.3 field names name, vendor, support-url)."""

    hostname: str = "localhost"
    mode: Mode = "virtual"
    state_dir: Path = SYSTEM_STATE_DIR
    user: str | None = None
    group: str | None = None
    allow_root: bool = False
    pid_file: Path | None = None
    control_socket: Path | None = None
    reverse_lookups: bool = False
    id_name: str = "maildird"
    id_vendor: str = ""
    id_support_url: str = ""

    @property
    def control_socket_path(self) -> Path:
        return self.control_socket or self.state_dir / CONTROL_SOCKET_NAME


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening socket.  ``kind = "ws"`` serves IMAP over WebSocket at ``path`` (default
    ``/imap``); ``allow``/``deny`` are lists of client networks (CIDR) kept for access control;
    ``allowed_origins`` lists the browser origins (``https://webmail.example.org``, ``"null"``,
    ``"*"``) a WebSocket listener accepts besides its own (RFC 6455 §10.2)."""

    address: str
    port: int
    tls: TlsMode = "implicit"
    kind: ListenKind = "imap"
    path: str = "/"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @property
    def is_loopback(self) -> bool:
        if self.address == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False

    def url(self) -> str:
        secure = self.tls == "implicit"
        scheme = {"imap": "imaps" if secure else "imap", "ws": "wss" if secure else "ws"}[self.kind]
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{scheme}://{host}:{self.port}" + (self.path if self.kind == "ws" else "")


@dataclass(frozen=True, slots=True)
class TlsConfig:
    certificate: Path | None = None  # full chain, PEM
    private_key: Path | None = None  # PEM; may be the same file as the certificate
    min_version: Literal["1.2", "1.3"] = "1.2"  # RFC 8996 deprecates 1.0/1.1; RFC 8314 §4.1 asks for 1.2+


@dataclass(frozen=True, slots=True)
class AuthConfig:
    #: The authenticator plug-in (entry point group ``maildird.auth``); "users-file" is built in.
    backend: str = DEFAULT_AUTH_BACKEND
    users_file: Path | None = None
    failure_delay: float = 2.0  # Dovecot auth_failure_delay = 2 secs
    max_penalty: float = 15.0  # Dovecot anvil: 2 -> 4 -> 8 -> max 15 s per IP
    plaintext_on_loopback: bool = True  # Dovecot treats loopback as secure (10-auth.conf)
    allow_plaintext: bool = False  # RFC 8314 §3: cleartext LOGIN only when the admin insists
    hash_threads: int = 2  # argon2 verifies run at once (64 MiB each); about the core count


@dataclass(frozen=True, slots=True)
class MailConfig:
    """Where Maildirs live.  ``maildir`` is a template: ``%u`` user, ``%n`` local part, ``%d`` domain,
    ``%h`` or a leading ``~`` the user's home (the users-file home field, default ``<root>/<user>``),
    ``%%`` a percent sign.  The default ``%h/Maildir`` gives /var/lib/maildird/<user>/Maildir."""

    #: The store plug-in (entry point group ``maildird.store``); "maildir" is built in.
    store: str = DEFAULT_STORE
    root: Path = SYSTEM_STATE_DIR
    maildir: str = "%h/Maildir"
    layout: Layout = "maildir++"
    subscriptions: Subscriptions = "auto"
    condstore: bool = True
    #: Folder name -> RFC 6154 attribute, overriding the built-in guesses ("Sent Items" -> "\\Sent").
    special_use: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))

    def home_for(self, user: str, home: str | None = None) -> Path:
        return Path(home) if home else self.root / user

    def maildir_for(self, user: str, home: str | None = None) -> Path:
        """Expand the template for ``user`` (already validated: no '/', no leading '.')."""
        local, _, domain = user.partition("@")
        home_path = str(self.home_for(user, home))
        template = self.maildir
        if template == "~" or template.startswith("~/"):
            template = "%h" + template[1:]
        values = {"u": user, "n": local, "d": domain, "h": home_path, "%": "%"}
        expanded = re.sub(r"%(.)", lambda m: values.get(m.group(1), m.group(0)), template)
        return Path(expanded)


# Each limit: default, then the precedent.  Sizes are bytes, durations seconds.
@dataclass(frozen=True, slots=True)
class Limits:
    # Longest command line, excluding literals.  RFC 9051 §4 / RFC 7162 §4 ask servers to take at least
    # 8192 octets; Dovecot's imap_max_line_length is 64k because clients send long UID sets.
    max_line: int = 64 * KiB
    # Largest literal inside a command other than APPEND (search strings, mailbox names, passwords).
    # Same as max_line: such literals stand in for quoted strings that could have been on the line.
    max_literal: int = 64 * KiB
    # Largest non-synchronizing literal {N+}; RFC 7888 §5 (LITERAL-) fixes 4096 for clients.
    max_nonsync_literal: int = 4096
    # Advertise LITERAL- instead of LITERAL+ (RFC 7888 §5): non-synchronizing literals over 4096 octets
    # are refused.  Off by default, as in Dovecot, which advertises LITERAL+.
    literal_minus: bool = False
    # Literals in one command (MULTIAPPEND messages included).  Without it, 8-octet messages let one
    # APPEND carry millions of literals; Dovecot bounds the same through its per-command parameters.
    max_literals: int = 1000
    # Total size of one command with all its literals, APPEND message data excluded.  Bounds the memory a
    # client can pin with many small literals; pymap and Dovecot bound the same thing per line.
    max_command: int = 1 * MiB
    # APPENDLIMIT (RFC 7889).  Postfix's message_size_limit default is 10 240 000; raised here because
    # APPEND is also how users import old archives.
    max_append: int = 50 * MiB
    # Commands allowed before authentication; the seed (Net::IMAP::Server) closes after 10.
    unauth_commands: int = 10
    # Autologout before login.  Dovecot imap-login waits 3 min for auth; the seed used 5 min.
    unauth_idle: float = 300.0
    # Autologout after login.  RFC 9051 §5.4: at least 30 minutes; Dovecot CLIENT_IDLE_TIMEOUT = 30 min.
    auth_idle: float = 1800.0
    # Longest single IDLE before the server ends it.  RFC 2177 §3: clients re-issue IDLE at least every
    # 29 minutes, so 30 min never hurts a conforming client.
    idle_timeout: float = 1800.0
    # Interval of "* OK Still here" during IDLE, keeping NAT state alive.  Dovecot imap_idle_notify_interval.
    idle_keepalive: float = 120.0
    # Give up on a client that cannot take output for this long.  Dovecot CLIENT_OUTPUT_TIMEOUT = 5 min.
    output_timeout: float = 300.0
    # TLS handshake (implicit TLS and STARTTLS) must finish within this.  hypercorn's ssl_handshake_timeout
    # is 60 s; 30 s is ample on any real link.
    tls_handshake_timeout: float = 30.0
    # Bad commands in a row before "* BYE".  Dovecot CLIENT_MAX_BAD_COMMANDS = 20.
    max_bad_commands: int = 20
    # Failed LOGIN/AUTHENTICATE on one connection before it is closed.  operations.md §3: 3 to 5; fail2ban
    # jails count across connections anyway.
    login_failures_before_disconnect: int = 3
    # Seconds sessions get to finish after SIGTERM before being cancelled.  systemd's TimeoutStopSec
    # default is 90 s; hypercorn's graceful_timeout is 3 s.
    shutdown_grace: float = 10.0
    # Simultaneous connections in total.  Dovecot default_client_limit = 1000.
    max_connections: int = 1000
    # Simultaneous authenticated sessions per user.  Gmail allows 15 per account; phones, laptops and
    # sync tools each open several.
    max_connections_per_user: int = 50
    # Simultaneous sessions per user and client IP.  Dovecot mail_max_userip_connections = 10.
    max_connections_per_user_ip: int = 10
    # Simultaneous unauthenticated connections per client IP (operations.md §3).  Postfix's
    # smtpd_client_connection_count_limit is 50; logins are much more expensive than SMTP greetings.
    max_unauth_per_ip: int = 20
    # Full rescan of watched Maildirs, as a backstop to inotify (queue overflow, network filesystems).
    rescan_seconds: float = 60.0
    # Largest WebSocket message accepted.  trio-websocket's max_message_size default is 1 MiB.
    max_ws_message: int = 1 * MiB
    # Deepest parenthesised list in a command (SEARCH, FETCH).  Bounds parser recursion.
    max_list_depth: int = 32
    # Longest mailbox name in octets after mUTF-7 encoding.  Dovecot MAILBOX_LIST_NAME_MAX_LENGTH = 4096;
    # many filesystems cap a path component at 255.
    max_mailbox_name: int = 1024


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``[log]``: ``target`` "stderr" (the journal under systemd), "file" (``file``, reopened after
    logrotate moves it) or "syslog" (/dev/log, ``syslog_facility``)."""

    level: LogLevel = "info"
    target: LogTarget = "stderr"
    file: Path | None = None
    syslog_facility: str = "mail"


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = ServerConfig()
    listeners: tuple[Listener, ...] = ()
    tls: TlsConfig = TlsConfig()
    auth: AuthConfig = AuthConfig()
    mail: MailConfig = MailConfig()
    limits: Limits = Limits()
    log: LogConfig = LogConfig()
    source: Path | None = None  # the file this came from, for messages

    @classmethod
    def default_single_user(
        cls,
        maildir: Path,
        listen: tuple[Listener, ...] | None = None,
        *,
        users_file: Path | None = None,
        state_dir: Path | None = None,
        tls: TlsConfig | None = None,
    ) -> Config:
        """The ``--maildir`` configuration: one Maildir, loopback, no TLS unless a certificate is given.
        Listeners asking for STARTTLS without a certificate are served as plain (operations.md §4: single
        user mode may default to plaintext on 127.0.0.1)."""
        tls = tls or TlsConfig()
        listeners = listen or (parse_listen_url(SINGLE_USER_LISTEN),)
        if tls.certificate is None:
            listeners = tuple(
                dataclasses.replace(lst, tls="none") if lst.tls == "starttls" else lst for lst in listeners
            )
        state = state_dir or default_state_dir("single-user")
        maildir = maildir.expanduser().absolute()
        return cls(
            server=ServerConfig(hostname="localhost", mode="single-user", state_dir=state),
            listeners=listeners,
            tls=tls,
            auth=AuthConfig(users_file=users_file),
            mail=MailConfig(root=maildir.parent, maildir=str(maildir).replace("%", "%%")),
        )


# --------------------------------------------------------------------------------------------------------
# Listen URLs
# --------------------------------------------------------------------------------------------------------

_SCHEMES: dict[str, tuple[ListenKind, TlsMode, int | None]] = {
    "imap": ("imap", "starttls", 143),  # RFC 9051 §2: port 143, STARTTLS offered
    "imaps": ("imap", "implicit", 993),  # RFC 8314 §7.3
    "ws": ("ws", "none", 80),
    "wss": ("ws", "implicit", 443),
}


WS_DEFAULT_PATH = "/imap"
"""Where a WebSocket listener serves IMAP when no path is given (``ws://host:port``)."""


def parse_listen_url(url: str) -> Listener:
    """``imaps://127.0.0.1:993``, ``imap://host:143`` (STARTTLS), ``ws://HOST:PORT/path``, ``wss://...``, or a
    bare ``HOST:PORT`` / ``[::1]:1430`` (IMAP with STARTTLS).  Raises ValueError with a readable reason."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    elif scheme.lower() not in _SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} in {url!r}; use imap://, imaps://, ws:// or wss://")
    kind, tls, default_port = _SCHEMES.get(scheme.lower(), ("imap", "starttls", None))
    hostport, slash, path = rest.partition("/")
    path = "/" + path if slash else "/"
    if path == "/" and kind == "ws":
        path = WS_DEFAULT_PATH
    if slash and kind != "ws":
        raise ValueError(f"a path is only meaningful for ws:// and wss:// listeners: {url!r}")
    if hostport.startswith("["):
        host, bracket, tail = hostport[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"bad IPv6 literal in {url!r}; write it as [::1]:1430")
        port_text = tail[1:] if tail else ""
    else:
        host, _, port_text = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        if ":" in host:
            raise ValueError(f"put IPv6 addresses in brackets: [{host}]:{port_text}")
    if not host:
        raise ValueError(f"no host in {url!r}; write e.g. 127.0.0.1:1430 or [::]:993")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"port must be a number 1-65535 in {url!r}")
        port = int(port_text)
    elif default_port is None:
        raise ValueError(f"no port in {url!r}; write HOST:PORT, e.g. 127.0.0.1:1430")
    else:
        port = default_port
    return Listener(address=host, port=port, tls=tls, kind=kind, path=path)


# Loading lives in maildird.config_load, which imports the dataclasses above; a plain import here would be
# circular when config_load is imported first, so the two loader names resolve lazily (PEP 562).
if TYPE_CHECKING:
    from maildird.config_load import config_from_dict as config_from_dict
    from maildird.config_load import load_config as load_config

_LOADER_NAMES = frozenset({"config_from_dict", "load_config"})


def __getattr__(name: str) -> object:
    if name in _LOADER_NAMES:
        from maildird import config_load

        return getattr(config_load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
