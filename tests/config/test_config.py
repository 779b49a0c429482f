"""maildird.config: loading, every error path, the sample file, listen URLs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from maildird.config import (
    DEFAULT_CONFIG_PATH,
    Config,
    ConfigError,
    Limits,
    Listener,
    MailConfig,
    parse_listen_url,
)
from maildird.config_load import load_config

SAMPLE = Path(__file__).resolve().parents[2] / "maildird" / "data" / "maildird.toml.sample"

MINIMAL = """\
[server]
hostname = "mail.example.org"

[[listen]]
address = "127.0.0.1"
port = 1430
tls = "none"

[auth]
users_file = "/etc/maildird/passwd"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "maildird.toml"
    path.write_text(text)
    return path


def errors(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_default_path() -> None:
    assert Path("/etc/maildird/maildird.toml") == DEFAULT_CONFIG_PATH


def test_minimal_loads_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    config = load_config(path)
    assert config.source == path
    assert config.server.hostname == "mail.example.org"
    assert config.server.mode == "virtual"
    assert config.listeners == (Listener("127.0.0.1", 1430, "none"),)
    assert config.auth.users_file == Path("/etc/maildird/passwd")
    assert config.auth.failure_delay == 2.0
    assert config.auth.max_penalty == 15.0
    assert config.limits == Limits()
    assert config.limits.auth_idle >= 1800  # RFC 9051 §5.4
    assert config.limits.unauth_commands == 10
    assert config.limits.max_connections_per_user_ip == 10
    assert config.mail.maildir_for("alice") == Path("/var/lib/maildird/alice/Maildir")


def test_sample_config_loads(tmp_path: Path) -> None:
    config = load_config(SAMPLE)
    assert [lst.url() for lst in config.listeners] == [
        "imaps://[::]:993",
        "imaps://0.0.0.0:993",
        "imap://[::]:143",
        "imap://0.0.0.0:143",
    ]
    assert config.tls.certificate == Path("/etc/maildird/tls/fullchain.pem")
    assert dict(config.mail.special_use) == {
        "Sent Items": "\\Sent",
        "Deleted Items": "\\Trash",
        "Old Mail": "\\Archive",
    }
    # The sample spells out every default: loading it must give exactly the defaults.
    assert config.limits == Limits()


def test_sample_documents_every_limit() -> None:
    text = SAMPLE.read_text()
    for f in dataclasses.fields(Limits):
        assert re.search(rf"^{f.name} = ", text, re.MULTILINE), f"sample lacks [limits] {f.name}"


def test_sizes_and_durations(tmp_path: Path) -> None:
    text = MINIMAL + '[limits]\nmax_line = "8KiB"\nmax_append = "2MiB"\nauth_idle = "1h"\nunauth_idle = 60\n'
    limits = load_config(write(tmp_path, text)).limits
    assert (limits.max_line, limits.max_append) == (8192, 2 * 1024 * 1024)
    assert (limits.auth_idle, limits.unauth_idle) == (3600.0, 60.0)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (problem,) = errors(tmp_path, MINIMAL + "\n[limits]\nmax_line = = 3\n")
    assert problem.startswith(f"{tmp_path / 'maildird.toml'}:13: TOML syntax error")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml")
    problem = str(info.value)
    assert problem.startswith(f"{tmp_path / 'absent.toml'}: cannot read")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "maildird.toml"
    path.write_bytes(b'[server]\nhostname = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# (appended text, expected "line: key" prefix after the file name, fragment of the message)
SEMANTIC_CASES = [
    ("[limits]\nmax_lien = 5\n", ":13: limits.max_lien", "did you mean 'max_line'"),
    ('[limits]\nmax_line = "big"\n', ":13: limits.max_line", "expected an integer"),
    ("[limits]\nmax_line = 0\n", ":13: limits.max_line", "from 1 to"),
    ("[limits]\nauth_idle = 60\n", ":13: limits.auth_idle", "RFC 9051"),
    ('[limits]\nshutdown_grace = "soon"\n', ":13: limits.shutdown_grace", "duration"),
    ('[log]\nlevel = "loud"\n', ":13: log.level", 'one of "debug"'),
    ('[mail]\nlayout = "mbox"\n', ":13: mail.layout", '"maildir++", "fs"'),
    ('[mail]\ncondstore = "yes"\n', ":13: mail.condstore", "true or false"),
    ('[mail]\nmaildir = "relative/%u"\n', ":13: mail.maildir", "absolute"),
    ('[mail]\nmaildir = "/srv/mail"\n', ":13: mail.maildir", "include %u"),
    ('[mail]\nmaildir = "/srv/%u/%x"\n', ":13: mail.maildir", "unknown escape"),
    ('[mail.special_use]\nStuff = "\\\\Nonsense"\n', ":13: mail.special_use.Stuff", "RFC 6154"),
    ('[mail]\nroot = "var/mail"\n', ":13: mail.root", "absolute path"),
    ('[tls]\ncertificate = "/c.pem"\n', ":12: tls.private_key", "set both"),
    ('[tls]\nmin_version = "1.1"\n', ":13: tls.min_version", '"1.2", "1.3"'),
    ("failure_delay = -1\n", ":12: auth.failure_delay", "from 0"),
    ('[logging]\nlevel = "info"\n', ":12: logging", "did you mean 'log'"),
]


@pytest.mark.parametrize(("extra", "where", "fragment"), SEMANTIC_CASES)
def test_semantic_error_names_file_line_key(tmp_path: Path, extra: str, where: str, fragment: str) -> None:
    problems = errors(tmp_path, MINIMAL + "\n" + extra)
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(tmp_path / "maildird.toml") + where), problems[0]
    assert fragment in problems[0]


LISTEN_HEAD = '[auth]\nusers_file = "/p"\n[tls]\ncertificate = "/c"\nprivate_key = "/k"\n'

LISTEN_CASES = [
    # second [[listen]] table (index 1) starts at line 11
    ('address = "::"\nport = "993"\n', "listen[1].port", 13, 'got string "993"'),
    ('address = "::"\nport = 70000\n', "listen[1].port", 13, "1 to 65535"),
    ('address = "::"\n', "listen[1].port", 11, "missing"),
    ("port = 993\n", "listen[1].address", 11, "missing"),
    ('address = "::"\nport = 993\ntls = "ssl"\n', "listen[1].tls", 14, '"implicit", "starttls", "none"'),
    ('address = "::"\nport = 993\nprot = 1\n', "listen[1].prot", 14, "did you mean 'port'"),
    ('address = "0.0.0.0"\nport = 143\ntls = "none"\n', "listen[1].tls", 14, "allow_plaintext"),
    ('address = "::"\nport = 8443\nkind = "ws"\ntls = "starttls"\n', "listen[1].tls", 15, "WebSocket"),
    ('address = "::"\nport = 8443\nkind = "ws"\npath = "imap"\n', "listen[1].path", 15, "starting with"),
    ('address = "::"\nport = 993\nallow = ["10.0.0.0/33"]\n', "listen[1].allow", 14, "not an IP network"),
    ('address = "::"\nport = 993\ndeny = "10.0.0.0/8"\n', "listen[1].deny", 14, "array of strings"),
]


@pytest.mark.parametrize(("body", "key", "line", "fragment"), LISTEN_CASES)
def test_listen_errors_use_dotted_index(
    tmp_path: Path, body: str, key: str, line: int, fragment: str
) -> None:
    text = LISTEN_HEAD + '\n[[listen]]\naddress = "::"\nport = 993\n\n[[listen]]\n' + body
    problems = errors(tmp_path, text)
    assert problems == [p for p in problems if p.startswith(f"{tmp_path / 'maildird.toml'}:{line}: {key}: ")]
    assert len(problems) == 1
    assert fragment in problems[0].replace("string '993'", 'string "993"')


def test_tls_listener_needs_certificate(tmp_path: Path) -> None:
    text = '[auth]\nusers_file = "/p"\n[[listen]]\naddress = "::"\nport = 993\n'
    (problem,) = errors(tmp_path, text)
    assert problem.startswith(f"{tmp_path / 'maildird.toml'}:3: listen[0].tls: ")
    assert "[tls] certificate" in problem


def test_no_listeners_and_no_users_file_both_reported(tmp_path: Path) -> None:
    problems = errors(tmp_path, '[server]\nhostname = "x"\n')
    assert any(": listen: no listeners" in p for p in problems)
    assert any(": auth.users_file: virtual mode needs a users file" in p for p in problems)
    assert len(problems) == 2


def test_listen_must_be_array_of_tables(tmp_path: Path) -> None:
    (problem,) = errors(tmp_path, 'listen = "127.0.0.1:143"\n[auth]\nusers_file = "/p"\n')
    assert problem.startswith(f"{tmp_path / 'maildird.toml'}:1: listen: expected [[listen]] tables")


def test_section_of_wrong_type(tmp_path: Path) -> None:
    (problem,) = errors(tmp_path, MINIMAL.replace("[server]\n", "limits = 3\n[server]\n"))
    assert problem.startswith(f"{tmp_path / 'maildird.toml'}:1: limits: expected a table")


def test_single_user_mode_allows_fixed_maildir(tmp_path: Path) -> None:
    text = '[server]\nmode = "single-user"\n[mail]\nmaildir = "/home/a/Maildir"\n'
    text += '[[listen]]\naddress = "127.0.0.1"\nport = 1430\ntls = "none"\n'
    config = load_config(write(tmp_path, text))
    assert config.mail.maildir_for("a") == Path("/home/a/Maildir")
    assert config.auth.users_file is None


def test_default_single_user() -> None:
    config = Config.default_single_user(Path("/home/a/Mail%dir"), state_dir=Path("/tmp/s"))
    assert config.server.mode == "single-user"
    assert config.server.state_dir == Path("/tmp/s")
    assert config.listeners == (Listener("127.0.0.1", 1430, "none"),)
    assert config.mail.maildir_for("anyone") == Path("/home/a/Mail%dir")


def test_default_single_user_keeps_implicit_tls_listener() -> None:
    lst = (parse_listen_url("imaps://127.0.0.1:9993"), parse_listen_url("127.0.0.1:1430"))
    config = Config.default_single_user(Path("/m"), lst)
    assert [x.tls for x in config.listeners] == ["implicit", "none"]


@pytest.mark.parametrize(
    ("template", "user", "home", "expected"),
    [
        ("%h/Maildir", "bob", None, "/var/lib/maildird/bob/Maildir"),
        ("%h/Maildir", "bob", "/home/bob", "/home/bob/Maildir"),
        ("~/Mail", "bob", "/home/bob", "/home/bob/Mail"),
        ("/srv/%d/%n/Maildir", "bob@example.org", None, "/srv/example.org/bob/Maildir"),
        ("/srv/%u/100%%", "bob", None, "/srv/bob/100%"),
    ],
)
def test_maildir_template(template: str, user: str, home: str | None, expected: str) -> None:
    assert MailConfig(maildir=template).maildir_for(user, home) == Path(expected)


LISTEN_URLS = [
    ("imaps://127.0.0.1:993", Listener("127.0.0.1", 993, "implicit", "imap")),
    ("imaps://example.org", Listener("example.org", 993, "implicit", "imap")),
    ("imap://127.0.0.1:143", Listener("127.0.0.1", 143, "starttls", "imap")),
    ("imap://[::1]", Listener("::1", 143, "starttls", "imap")),
    ("127.0.0.1:1430", Listener("127.0.0.1", 1430, "starttls", "imap")),
    ("[::1]:1430", Listener("::1", 1430, "starttls", "imap")),
    ("localhost:1430", Listener("localhost", 1430, "starttls", "imap")),
    ("ws://127.0.0.1:8080/imap", Listener("127.0.0.1", 8080, "none", "ws", "/imap")),
    ("ws://127.0.0.1:8080", Listener("127.0.0.1", 8080, "none", "ws", "/imap")),  # the default path
    ("wss://[::]:8443/a/b", Listener("::", 8443, "implicit", "ws", "/a/b")),
    ("IMAPS://h:1", Listener("h", 1, "implicit", "imap")),
]


@pytest.mark.parametrize(("url", "expected"), LISTEN_URLS)
def test_parse_listen_url(url: str, expected: Listener) -> None:
    assert parse_listen_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://h:80", "unknown scheme"),
        ("127.0.0.1", "no port"),
        ("127.0.0.1:0", "1-65535"),
        ("127.0.0.1:99999", "1-65535"),
        ("h:abc", "1-65535"),
        ("::1:1430", "brackets"),
        ("[::1:1430", "IPv6"),
        ("imap://h:143/path", "only meaningful"),
        (":1430", "no host"),
    ],
)
def test_parse_listen_url_errors(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_listen_url(url)


@pytest.mark.parametrize(
    ("listener", "loopback", "url"),
    [
        (Listener("127.0.0.1", 1430, "none"), True, "imap://127.0.0.1:1430"),
        (Listener("::1", 993), True, "imaps://[::1]:993"),
        (Listener("localhost", 143, "starttls"), True, "imap://localhost:143"),
        (Listener("0.0.0.0", 993), False, "imaps://0.0.0.0:993"),
        (Listener("example.org", 443, "implicit", "ws", "/x"), False, "wss://example.org:443/x"),
    ],
)
def test_listener_properties(listener: Listener, loopback: bool, url: str) -> None:
    assert listener.is_loopback is loopback
    assert listener.url() == url


def test_websocket_listener_origins_and_default_path(tmp_path: Path) -> None:
    """Issue 7: the origin allow-list and the /imap default path come from the config."""
    from maildird.config_load import config_from_dict

    base = {"auth": {"users_file": str(tmp_path / "users")}, "server": {"state_dir": str(tmp_path)}}
    good = config_from_dict(
        {**base, "listen": [{"address": "127.0.0.1", "port": 8143, "kind": "ws", "tls": "none",
                             "allowed_origins": ["https://webmail.example.org", "null"]}]},
        tmp_path / "m.toml",
    )  # fmt: skip
    (lst,) = good.listeners
    assert lst.path == "/imap"
    assert lst.allowed_origins == ("https://webmail.example.org", "null")
    with pytest.raises(ConfigError) as err:
        config_from_dict(
            {**base, "listen": [{"address": "127.0.0.1", "port": 8143, "kind": "ws", "tls": "none",
                                 "allowed_origins": ["webmail.example.org/path"]}]},
            tmp_path / "m.toml",
        )  # fmt: skip
    assert "listen[0].allowed_origins" in str(err.value) and "https://webmail.example.org" in str(err.value)
