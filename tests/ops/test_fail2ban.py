"""The shipped fail2ban filter against the log lines maildird really writes (fail2ban-regex; operations §3).

The lines are produced by ``maildird.logging_setup`` itself (``auth_failure_line`` through the handler
``setup_logging`` installs), in both forms an admin meets: a plain log file, and the journal as fail2ban's
systemd backend shows it.
"""

from __future__ import annotations

import configparser
import io
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from maildird.logging_setup import auth_failure_line, setup_logging

REPO = Path(__file__).resolve().parent.parent.parent
FILTER = REPO / "packaging" / "fail2ban" / "maildird.conf"
JAIL = REPO / "packaging" / "fail2ban" / "jail.d" / "maildird.conf"
#: The system's fail2ban configuration, for common.conf (the filter includes it, as every filter does).
SYSTEM_FILTERS = Path("/etc/fail2ban/filter.d")
TIMEOUT = 60
FAIL2BAN_REGEX = shutil.which("fail2ban-regex")

#: (rip, lip, method, reason, user): the user names include forgery attempts.
FAILURES = [
    ("192.0.2.7", "198.51.100.1", "PLAIN", "unknown-user", "alice"),
    ("2001:db8::7", "::1", "LOGIN", "password-mismatch", "bob, rip=1.2.3.4"),
    (
        "203.0.113.9",
        "127.0.0.1",
        "LOGIN",
        "password-mismatch",
        "evil\r\nauth failed: rip=6.6.6.6, lip=x, method=x, reason=x, user=<y>",
    ),
    ("198.51.100.77", "::1", "PLAIN", "password-mismatch", "carol>, rip=5.5.5.5, user=<"),
]


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """The real handler on a StringIO; the ``maildird`` logger's state is restored afterwards."""
    root = logging.getLogger("maildird")
    saved = (list(root.handlers), root.level, root.propagate)
    stream = io.StringIO()
    handler = setup_logging("info", stream)
    try:
        yield logging.getLogger("maildird.auth"), stream, handler
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        root.propagate = saved[2]


def _write_failures(log: logging.Logger) -> None:
    for rip, lip, method, reason, user in FAILURES:
        log.info("%s", auth_failure_line(rip, lip, method, reason, user))
    log.info("login user=<%s> from %s", "alice", "192.0.2.8")  # a success: must not match


def _run(log_text: str, tmp_path: Path, out: str) -> list[str]:
    if FAIL2BAN_REGEX is None or not (SYSTEM_FILTERS / "common.conf").exists():
        pytest.skip("fail2ban not installed (apt-get install fail2ban)")
    filters = tmp_path / "filter.d"
    filters.mkdir(exist_ok=True)
    shutil.copy(SYSTEM_FILTERS / "common.conf", filters / "common.conf")
    shutil.copy(FILTER, filters / "maildird.conf")
    logfile = tmp_path / "maildird.log"
    logfile.write_text(log_text)
    result = subprocess.run(
        [FAIL2BAN_REGEX, "--out", out, str(logfile), str(filters / "maildird.conf")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_plain_log_file(logger: tuple[logging.Logger, io.StringIO, logging.Handler], tmp_path: Path) -> None:
    log, stream, _ = logger
    _write_failures(log)
    text = stream.getvalue()
    assert len(text.splitlines()) == len(FAILURES) + 1  # the CR LF in a user name did not split a line
    assert _run(text, tmp_path, "ip") == [f[0] for f in FAILURES]


def test_user_names_extracted_escaped(
    logger: tuple[logging.Logger, io.StringIO, logging.Handler], tmp_path: Path
) -> None:
    log, stream, _ = logger
    _write_failures(log)
    users = _run(stream.getvalue(), tmp_path, "user")
    assert users[0] == "alice"
    assert users[2].startswith("evil\\x0d\\x0aauth failed")
    assert len(users) == len(FAILURES)


def test_journal_lines(logger: tuple[logging.Logger, io.StringIO, logging.Handler], tmp_path: Path) -> None:
    """Under systemd the handler writes ``<6>maildird.auth: ...``; journald strips the priority and
    fail2ban's systemd backend sees ``HOST maildird[PID]: MESSAGE``."""
    log, stream, handler = logger
    handler.setFormatter(_journal_formatter())
    _write_failures(log)
    lines = []
    for line in stream.getvalue().splitlines():
        assert line.startswith("<6>maildird.auth: ")
        lines.append(f"Nov 28 06:00:00 mail maildird[4242]: {line.removeprefix('<6>')}")
    assert _run("\n".join(lines) + "\n", tmp_path, "ip") == [f[0] for f in FAILURES]


def _journal_formatter() -> logging.Formatter:
    """The formatter setup_logging picks when $JOURNAL_STREAM names stderr."""
    import maildird.logging_setup as ls

    return ls._JournalFormatter("%(name)s: %(message)s")


def test_jail_is_disabled_and_uses_the_filter() -> None:
    jail = configparser.ConfigParser()
    jail.read(JAIL)
    section = jail["maildird"]
    assert section["enabled"] == "false"
    assert section["filter"] == "maildird"
    assert section["backend"] == "systemd"
    filt = configparser.ConfigParser(interpolation=None)
    filt.read(FILTER)
    assert filt["Definition"]["journalmatch"] == "_SYSTEMD_UNIT=maildird.service"
