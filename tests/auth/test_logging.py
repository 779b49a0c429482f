"""logging_setup: control-character escaping, the fail2ban line, journald priority prefixes."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
from pathlib import Path

import pytest

from maildird.logging_setup import auth_failure_line, journald_stream, safe, setup_logging


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice", "alice"),
        ("jürgen@example.org", "jürgen@example.org"),
        ("a\r\nauth failed: rip=1.2.3.4", "a\\x0d\\x0aauth failed: rip=1.2.3.4"),
        ("tab\there", "tab\\x09here"),
        ("nul\x00", "nul\\x00"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("del\x7f c1\x85", "del\\x7f c1\\x85"),
        ("sep\u2028x", "sep\\u2028x"),
        ("back\\slash", "back\\\\slash"),
        (b"bytes\xff\n", "bytes\\\\xff\\x0a"),
    ],
)
def test_safe(value: str | bytes, expected: str) -> None:
    assert safe(value) == expected


def test_safe_truncates() -> None:
    assert safe("x" * 500, limit=10) == "x" * 10 + "..."


def test_auth_failure_line_format() -> None:
    line = auth_failure_line("2001:db8::1", "192.0.2.10", "PLAIN", "unknown-user", "evil\r\nrip=1.2.3.4")
    assert line == (
        "auth failed: rip=2001:db8::1, lip=192.0.2.10, method=PLAIN, reason=unknown-user, "
        "user=<evil\\x0d\\x0arip=1.2.3.4>"
    )
    assert "\n" not in line
    # The draft fail2ban filter (operations.md §3) extracts the first rip=, which is the real one.
    m = re.search(r"auth failed: rip=(?P<host>\S+?),", line)
    assert m is not None and m.group("host") == "2001:db8::1"


def _emit(stream: io.TextIOBase | object, level: str = "info") -> None:
    setup_logging(level, stream)  # type: ignore[arg-type]
    log = logging.getLogger("maildird.test")
    log.debug("hidden at info")
    log.info("hello %s", safe("x\ny"))
    log.error("bad")


def test_terminal_format_has_timestamp_and_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    path = tmp_path / "log"
    with path.open("w") as f:
        _emit(f)
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO maildird.test: hello x\\x0ay", lines[0])
    assert lines[1].endswith("ERROR maildird.test: bad")


def test_journald_format_when_stream_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log"
    with path.open("w") as f:
        st = os.fstat(f.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert journald_stream(f)
        _emit(f, "debug")
    assert path.read_text().splitlines() == [
        "<7>maildird.test: hidden at info",
        "<6>maildird.test: hello x\\x0ay",
        "<3>maildird.test: bad",
    ]


def test_journal_stream_of_another_file_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.write_text("")
    st = os.stat(other)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    with (tmp_path / "log").open("w") as f:
        assert not journald_stream(f)
    monkeypatch.setenv("JOURNAL_STREAM", "garbage")
    assert not journald_stream(sys.stderr)


def test_setup_replaces_its_own_handler(tmp_path: Path) -> None:
    with (tmp_path / "a").open("w") as a, (tmp_path / "b").open("w") as b:
        setup_logging("info", a)
        setup_logging("info", b)
        logging.getLogger("maildird.x").info("once")
    assert (tmp_path / "a").read_text() == ""
    assert (tmp_path / "b").read_text().count("once") == 1
