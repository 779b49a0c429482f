"""The man pages: lint clean, and complete against the code they document.

The lists come from the code, never from this file: subcommands from ``maildird.cli.build_parser()``,
their options from ``python -m maildird ... --help`` run as a user would, config keys from the dataclasses
in ``maildird.config`` and from the shipped sample.  maildird.toml(5) states each default in TOML syntax
("Default: VALUE."); each one is loaded through the real config loader and compared with the dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from maildird import auth, config, config_load
from maildird.cli import build_parser

REPO = Path(__file__).resolve().parent.parent.parent
MAN = REPO / "man"
PAGES = sorted(MAN.glob("*.[1-8]"))
DAEMON_PAGE = MAN / "maildird.8"
CONFIG_PAGE = MAN / "maildird.toml.5"
PASSWD_PAGE = MAN / "maildird-passwd.5"
SAMPLE = REPO / "maildird" / "data" / "maildird.toml.sample"
#: Wide enough that no paragraph of maildird.toml(5) wraps, so one rendered line is one paragraph.
RENDER_WIDTH = 400
#: Hang protection for subprocesses only.
TIMEOUT = 60

MANDOC = shutil.which("mandoc")
needs_mandoc = pytest.mark.skipif(MANDOC is None, reason="mandoc not installed (apt-get install mandoc)")


def test_the_three_pages_exist() -> None:
    assert [p.name for p in PAGES] == ["maildird-passwd.5", "maildird.8", "maildird.toml.5"]


# ----------------------------------------------------------------------------------------------------------
# Lint
# ----------------------------------------------------------------------------------------------------------


def _mandoc_messages(*args: str) -> list[str]:
    assert MANDOC is not None
    result = subprocess.run([MANDOC, *args], capture_output=True, text=True, timeout=TIMEOUT)
    lines = (result.stdout + result.stderr).splitlines()
    # The system's mandoc.db being stale is about this machine, not our pages.
    return [line for line in lines if "outdated mandoc.db" not in line]


@needs_mandoc
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_mandoc_lint_warning_level_clean(page: Path) -> None:
    assert _mandoc_messages("-T", "lint", "-W", "warning", str(page)) == []


@needs_mandoc
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_mandoc_lint_style_only_missing_references(page: Path) -> None:
    """All levels: the only message allowed is an Xr to a page not installed on this machine (our own
    pages before installation, systemd's or fail2ban's where absent)."""
    messages = _mandoc_messages("-T", "lint", str(page))
    assert [m for m in messages if "STYLE: referenced manual not found" not in m] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_lintian_groff_check(page: Path) -> None:
    """What lintian's manual-page check runs (operations.md §5); any groff message is a lintian tag."""
    if shutil.which("man") is None or shutil.which("groff") is None:
        pytest.skip("man-db / groff not installed")
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANROFFSEQ": ""}
    argv = ["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(page)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert result.returncode == 0
    assert result.stderr == ""


# ----------------------------------------------------------------------------------------------------------
# maildird(8) against the CLI
# ----------------------------------------------------------------------------------------------------------


def _command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every runnable command path: ("serve",), ("user", "add"), ... (leaves of the subparser tree)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from _command_paths(child, (*prefix, name))


def _subparser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


COMMANDS = sorted(_command_paths(build_parser()))
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _help_options(path: tuple[str, ...]) -> set[str]:
    """Long options in ``maildird PATH --help``, run as a separate process as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "maildird", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: maildird {' '.join(path)}".rstrip())
    return set(LONG_OPTION.findall(result.stdout)) - {"--help"}


def _daemon_source() -> str:
    return DAEMON_PAGE.read_text()


def _subsections(source: str) -> dict[str, str]:
    """``.Ss maildird X`` subsection name -> its source, up to the next .Ss or .Sh."""
    parts = re.split(r"^(\.S[sh] .*)$", source, flags=re.MULTILINE)
    out: dict[str, str] = {}
    for header, body in zip(parts[1::2], parts[2::2], strict=True):
        m = re.fullmatch(r"\.Ss maildird (.+)", header)
        if m:
            out[m.group(1)] = body
    return out


def _synopsis(source: str) -> str:
    m = re.search(r"^\.Sh SYNOPSIS$(.*?)^\.Sh ", source, flags=re.MULTILINE | re.DOTALL)
    assert m
    return m.group(1)


def test_cli_has_the_documented_commands() -> None:
    assert {" ".join(p) for p in COMMANDS} >= {
        "serve",
        "check-config",
        "user add",
        "hash-password",
        "version",
    }


def test_every_command_has_a_subsection_and_nothing_else_does() -> None:
    documented = set(_subsections(_daemon_source()))
    assert documented == {" ".join(p) for p in COMMANDS}


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_every_option_documented_under_its_command(path: tuple[str, ...]) -> None:
    source = _daemon_source()
    body = _subsections(source)[" ".join(path)]
    options = _help_options(path)
    documented = {"--" + o for o in re.findall(r"\bFl -([a-z][a-z0-9-]*)", body)}
    assert options <= documented, f"missing in maildird.8 under 'maildird {' '.join(path)}'"
    assert documented <= options, f"maildird.8 documents options 'maildird {' '.join(path)}' lacks"
    synopsis = {"--" + o for o in re.findall(r"\bFl -([a-z][a-z0-9-]*)", _synopsis(source))}
    assert options <= synopsis, "missing in SYNOPSIS"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_positional_arguments_documented(path: tuple[str, ...]) -> None:
    body = _subsections(_daemon_source())[" ".join(path)]
    for action in _subparser(path)._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            assert f"Ar {action.metavar or action.dest}" in body


def test_top_level_help_lists_only_documented_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "maildird", "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=REPO,
    )
    assert result.returncode == 0
    assert set(LONG_OPTION.findall(result.stdout)) == {"--help"}
    top = {p[0] for p in COMMANDS}
    for name in top:
        assert re.search(rf"^\s+{re.escape(name)}\b", result.stdout, re.MULTILINE)
        assert re.search(rf"\bCm {re.escape(name)}\b", _synopsis(_daemon_source()))


def test_exit_statuses_documented() -> None:
    from maildird import cli

    source = _daemon_source()
    m = re.search(r"^\.Sh EXIT STATUS$(.*?)^\.Sh ", source, flags=re.MULTILINE | re.DOTALL)
    assert m
    documented = {int(n) for n in re.findall(r"^\.It (\d+)$", m.group(1), flags=re.MULTILINE)}
    assert {cli.EX_OK, cli.EX_FAILURE, cli.EX_USAGE, cli.EX_CONFIG} <= documented


# ----------------------------------------------------------------------------------------------------------
# maildird.toml(5) against maildird/config.py (loaded by config_load.py) and the sample
# ----------------------------------------------------------------------------------------------------------

#: Config field -> TOML table name.
SECTIONS = {
    "server": "server",
    "listeners": "listen",
    "tls": "tls",
    "auth": "auth",
    "mail": "mail",
    "limits": "limits",
    "log": "log",
}
ITEM = re.compile(r"^     ([a-z_]+) \(([a-z ]+)\)$")
BASE: dict[str, Any] = {
    "listen": [{"address": "127.0.0.1", "port": 1430, "tls": "none"}],
    "tls": {"certificate": "/etc/maildird/tls/fullchain.pem", "private_key": "/etc/maildird/tls/privkey.pem"},
    "auth": {"users_file": "/etc/maildird/passwd"},
}


@dataclasses.dataclass
class Item:
    key: str
    type: str
    text: str
    default: str | None  # the TOML text after "Default:", None for "none"


def _rendered(page: Path) -> str:
    assert MANDOC is not None
    result = subprocess.run(
        [MANDOC, "-T", "ascii", "-O", f"width={RENDER_WIDTH}", str(page)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return re.sub(r".\x08", "", result.stdout)


def _documented_keys() -> dict[str, dict[str, Item]]:
    """Rendered maildird.toml(5): table name -> key -> item."""
    sections: dict[str, dict[str, Item]] = {}
    current: dict[str, Item] | None = None
    item: Item | None = None
    for line in _rendered(CONFIG_PAGE).splitlines():
        header = re.fullmatch(r"   \[\[?([a-z_.]+)\]\]?", line)
        if header:
            current = sections.setdefault(header.group(1), {})
            item = None
            continue
        if re.fullmatch(r"[A-Z][A-Z ]*", line):  # a new .Sh
            current, item = None, None
            continue
        m = ITEM.fullmatch(line)
        if m and current is not None:
            item = Item(m.group(1), m.group(2), "", None)
            assert item.key not in current, f"{item.key} documented twice"
            current[item.key] = item
            continue
        if item is not None:
            d = re.fullmatch(r"\s+Default: (.*)\.", line)
            if d:
                item.default = None if d.group(1) == "none" else d.group(1)
                item = None
            else:
                item.text += line.strip() + " "
    return sections


def _expected_type(cls: type, f: dataclasses.Field[Any]) -> str:
    annotation = str(f.type)
    if "Path" in annotation:
        return "path"
    if annotation == "bool":
        return "boolean"
    if annotation == "float":
        return "duration"
    if annotation == "int":
        return "size" if cls is config.Limits and _accepts_size(f.name) else "integer"
    if annotation.startswith("tuple"):
        return "array of strings"
    if annotation.startswith("Mapping"):
        return "table"
    return "string"


def _accepts_size(key: str) -> bool:
    try:
        config_load.config_from_dict({**BASE, "limits": {key: "4KiB"}}, Path("probe.toml"))
    except config.ConfigError:
        return False
    return True


def _schema() -> Iterator[tuple[str, type, dataclasses.Field[Any]]]:
    for top in dataclasses.fields(config.Config):
        if top.name == "source":
            continue
        table = SECTIONS[top.name]
        cls = config.Listener if top.name == "listeners" else type(getattr(config.Config(), top.name))
        for f in dataclasses.fields(cls):
            yield table, cls, f


SCHEMA = list(_schema())


def test_config_sections_mapped() -> None:
    assert set(SECTIONS) == {f.name for f in dataclasses.fields(config.Config)} - {"source"}


@needs_mandoc
def test_every_documented_key_exists() -> None:
    known = {(t, f.name) for t, _, f in SCHEMA}
    documented = {(t, k) for t, items in _documented_keys().items() if t != "mail.special_use" for k in items}
    assert documented <= known
    assert "mail.special_use" in _documented_keys()


@needs_mandoc
@pytest.mark.parametrize(("table", "cls", "field"), SCHEMA, ids=[f"{t}.{f.name}" for t, _, f in SCHEMA])
def test_config_key_documented_with_type_and_default(
    table: str, cls: type, field: dataclasses.Field[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    item = _documented_keys().get(table, {}).get(field.name)
    assert item is not None, f"[{table}] {field.name} missing from maildird.toml(5)"
    assert item.type == _expected_type(cls, field)
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        assert item.default is None and "Required." in item.text
        return
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
    if item.default is None:
        assert default is None
        return
    value = tomllib.loads(f"v = {item.default}")["v"]
    data = {k: (list(v) if isinstance(v, list) else dict(v)) for k, v in BASE.items()}
    if table == "listen":
        data["listen"] = [{**data["listen"][0], field.name: value}]
    else:
        data[table] = {**data.get(table, {}), field.name: value}
    loaded = config_load.config_from_dict(data, Path("doc.toml"))
    section = (
        loaded.listeners[0]
        if table == "listen"
        else getattr(loaded, next(k for k, v in SECTIONS.items() if v == table))
    )
    assert getattr(section, field.name) == default, f"documented default {item.default} loads differently"


def _sample_keys(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in data.items():
        if isinstance(value, dict) and prefix + key != "mail.special_use":
            yield from _sample_keys(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for entry in value:
                yield from _sample_keys(entry, f"{prefix}{key}.")
        else:
            yield prefix.rstrip("."), key


@needs_mandoc
def test_every_sample_key_documented() -> None:
    documented = _documented_keys()
    keys = set(_sample_keys(tomllib.loads(SAMPLE.read_text())))
    assert ("listen", "port") in keys and ("limits", "max_line") in keys
    missing = {(t, k) for t, k in keys if k not in documented.get(t, {})}
    assert missing == set()


# ----------------------------------------------------------------------------------------------------------
# maildird-passwd(5) against maildird/auth.py
# ----------------------------------------------------------------------------------------------------------


def test_passwd_page_example_parses(tmp_path: Path) -> None:
    source = PASSWD_PAGE.read_text()
    m = re.search(
        r"^\.Sh EXAMPLES$.*?^\.Bd -literal -offset indent$(.*?)^\.Ed$", source, re.MULTILINE | re.DOTALL
    )
    assert m
    text = m.group(1).strip("\n").replace("\\e\n", "").replace("\\e", "\\")
    users = auth.parse_users(tmp_path / "passwd", text + "\n")
    assert sorted(users) == ["alice", "bob"]
    assert users["alice"].maildir is None
    assert users["alice"].resolve_maildir(config.MailConfig()) == Path("/var/lib/maildird/alice/Maildir")
    assert users["bob"].resolve_maildir(config.MailConfig()) == Path("/srv/mail/bob/Maildir")


def test_passwd_page_states_the_hash_parameters() -> None:
    p = auth.ARGON2_PARAMETERS
    source = PASSWD_PAGE.read_text()
    assert f"m={p['memory_cost']},t={p['time_cost']},p={p['parallelism']}" in source
    assert (
        f"{p['time_cost']} passes, {p['memory_cost'] // 1024} MiB of memory, {p['parallelism']} lanes"
        in source
    )
    assert f"{p['salt_len']}-byte random salt and a {p['hash_len']}-byte tag" in source
