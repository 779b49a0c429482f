"""Config writers and one-shot runners for real IMAP clients: mbsync, offlineimap, neomutt, fetchmail.

Theory of operation
-------------------
Every runner writes a config file into a work directory the test owns (also used as ``HOME`` so no peer
touches the real home directory), runs the program once against an ``ImapEndpoint`` on loopback with
plaintext authentication (no TLS: these are loopback tests), and returns the ``CompletedProcess``. A
non-zero exit or a timeout raises ``PeerError`` carrying the peer's full output. A missing program skips
the test, or fails it under ``CI=true`` (``require_program``).

* mbsync (isync 1.4): ``mbsync -c <rc> -a`` syncs one channel ``Patterns *`` between an IMAPStore
  (``SSLType None``, ``AuthMechs LOGIN PLAIN``) and a MaildirStore (``SubFolders Verbatim`` with
  ``Inbox <local>/INBOX``, or ``Maildir++`` with the INBOX at the root); ``SyncState *`` keeps its state
  inside the local Maildirs.
* offlineimap (offlineimap3): ``offlineimap -c <conf> -o -u basic``, one account, ``ssl = no``,
  ``starttls = no``, a local Maildir repository with ``sep = .`` (folder ``A.B`` is directory ``A.B``).
* neomutt: a curses program with no headless mode that can change flags, so it runs in a pseudo-terminal
  with ``-e 'push <keys>'``; the keys end in ``<sync-mailbox><quit>`` so the server sees a STORE and
  neomutt exits. ``neomutt_set_flag`` limits the index to one Message-ID and sets/clears one flag.
* fetchmail: ``fetchmail -f <rc>`` with ``proto IMAP``, ``sslproto ''`` (no opportunistic STARTTLS),
  ``fetchall keep``, and an MDA that writes each message into ``<out>/msg.XXXXXX``.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from tests.support import DEFAULT_PEER_TIMEOUT, ImapEndpoint, require_program

PTY_COLUMNS = 100
PTY_ROWS = 30
# Seconds between reads of a pseudo-terminal while waiting for its program to exit.
PTY_POLL_INTERVAL = 0.1
PTY_READ_CHUNK = 65536


class PeerError(RuntimeError):
    """A peer program failed or timed out; ``output`` is everything it printed."""

    def __init__(self, program: str, returncode: int | None, output: str) -> None:
        status = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"{program} {status}:\n{output}")
        self.program = program
        self.returncode = returncode
        self.output = output


def peer_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment with ``HOME`` in the test's work directory (peers write state there)."""
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "vt100",
        "TMPDIR": str(home),
    }
    env.update(extra or {})
    return env


def run_peer(
    args: Sequence[str],
    *,
    home: Path,
    timeout: float = DEFAULT_PEER_TIMEOUT,
    ok_codes: Sequence[int] = (0,),
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one peer command to completion; PeerError on timeout or an exit code outside ``ok_codes``."""
    try:
        result = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=peer_env(home, env),
            cwd=home,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise PeerError(shlex.join(args), None, output) from exc
    if result.returncode not in ok_codes:
        raise PeerError(shlex.join(args), result.returncode, result.stdout + result.stderr)
    return result


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.decode(errors="replace")


def _quote(value: str) -> str:
    """A double-quoted string for mbsync/fetchmail/neomutt config files."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- mbsync ---------------------------------------------------------------------------------------------

MbsyncSubfolders = Literal["Verbatim", "Maildir++"]


def mbsync_config(
    endpoint: ImapEndpoint,
    local: Path,
    *,
    subfolders: MbsyncSubfolders = "Verbatim",
    sync: str = "All",
    expunge: str = "None",
    create: str = "Both",
) -> str:
    """An isync 1.4 ``mbsyncrc`` for one channel between ``endpoint`` and the Maildir tree ``local``."""
    if subfolders == "Verbatim":
        store_paths = f"Path {_quote(str(local) + '/')}\nInbox {_quote(str(local / 'INBOX'))}\n"
    else:
        store_paths = f"Inbox {_quote(str(local))}\n"
    return f"""\
IMAPAccount remote
Host {endpoint.host}
Port {endpoint.port}
User {_quote(endpoint.user)}
Pass {_quote(endpoint.password)}
SSLType None
AuthMechs LOGIN PLAIN
Timeout 30

IMAPStore remote
Account remote

MaildirStore local
{store_paths}SubFolders {subfolders}

Channel sync
Far :remote:
Near :local:
Patterns *
Create {create}
Remove None
Expunge {expunge}
Sync {sync}
SyncState *
CopyArrivalDate yes
"""


def run_mbsync(
    endpoint: ImapEndpoint,
    local: Path,
    workdir: Path,
    *,
    subfolders: MbsyncSubfolders = "Verbatim",
    timeout: float = DEFAULT_PEER_TIMEOUT,
    extra_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``mbsync -c <rc> -a``: a full two-way sync of every folder."""
    program = require_program("mbsync", package="isync")
    workdir.mkdir(parents=True, exist_ok=True)
    local.mkdir(parents=True, exist_ok=True)
    rc = workdir / "mbsyncrc"
    rc.write_text(mbsync_config(endpoint, local, subfolders=subfolders))
    rc.chmod(0o600)
    return run_peer([program, "-c", str(rc), *extra_args, "-a"], home=workdir, timeout=timeout)


# --- offlineimap ----------------------------------------------------------------------------------------


def offlineimap_config(endpoint: ImapEndpoint, local: Path, metadata: Path) -> str:
    """An offlineimap3 config: one account, plaintext IMAP on loopback, a local Maildir with ``sep = .``."""
    return f"""\
[general]
accounts = test
metadata = {metadata}
maxsyncaccounts = 1
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}
sep = .

[Repository remote]
type = IMAP
remotehost = {endpoint.host}
remoteport = {endpoint.port}
remoteuser = {endpoint.user}
remotepass = {endpoint.password}
ssl = no
starttls = no
auth_mechanisms = PLAIN, LOGIN
maxconnections = 1
holdconnectionopen = no
"""


def run_offlineimap(
    endpoint: ImapEndpoint, local: Path, workdir: Path, *, timeout: float = DEFAULT_PEER_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``offlineimap -c <conf> -o -u basic``: one sync of every folder, then exit."""
    program = require_program("offlineimap", package="offlineimap")
    workdir.mkdir(parents=True, exist_ok=True)
    local.mkdir(parents=True, exist_ok=True)
    conf = workdir / "offlineimaprc"
    conf.write_text(offlineimap_config(endpoint, local, workdir / "offlineimap-metadata"))
    result = run_peer([program, "-c", str(conf), "-o", "-u", "basic"], home=workdir, timeout=timeout)
    # offlineimap exits 0 even when a folder failed; its errors are reported at the end of the run.
    combined = result.stdout + result.stderr
    if re.search(r"^ERROR:|Traceback \(most recent call last\)", combined, re.MULTILINE):
        raise PeerError(f"{program} -c {conf}", result.returncode, combined)
    return result


# --- neomutt --------------------------------------------------------------------------------------------

NeomuttFlag = Literal["flagged", "unflagged", "seen", "unseen", "deleted", "replied"]
# neomutt functions (index menu) that change one flag, see neomuttrc(5) "set-flag"/"clear-flag".
_NEOMUTT_FLAG_KEYS: Mapping[str, str] = {
    "flagged": "<set-flag>!",
    "unflagged": "<clear-flag>!",
    "seen": "<clear-flag>N",
    "unseen": "<set-flag>N",
    "deleted": "<set-flag>D",
    "replied": "<set-flag>r",
}


def neomutt_config(endpoint: ImapEndpoint, workdir: Path) -> str:
    """A neomuttrc for plaintext IMAP on loopback with every cache, prompt and side effect turned off."""
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"""\
set imap_user = {_quote(endpoint.user)}
set imap_pass = {_quote(endpoint.password)}
set folder = {_quote(f"imap://{host}:{endpoint.port}/")}
set spoolfile = "+INBOX"
set ssl_starttls = no
set ssl_force_tls = no
set imap_check_subscribed = no
set imap_passive = yes
set header_cache = ""
set message_cachedir = ""
set record = ""
set postponed = ""
set mbox = ""
set move = no
set delete = yes
set quit = yes
set confirmappend = no
set mark_old = no
set wait_key = no
set beep = no
set help = no
set mail_check_stats = no
set tmpdir = {_quote(str(workdir))}
set sort = date
"""


def run_neomutt(
    endpoint: ImapEndpoint,
    keys: str,
    workdir: Path,
    *,
    folder: str = "INBOX",
    timeout: float = DEFAULT_PEER_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Open ``folder`` in neomutt (in a pseudo-terminal) and ``push`` ``keys``; they must end by quitting.

    Returns a CompletedProcess with the terminal output as ``stdout``.
    """
    program = require_program("neomutt", package="neomutt")
    workdir.mkdir(parents=True, exist_ok=True)
    rc = workdir / "neomuttrc"
    rc.write_text(neomutt_config(endpoint, workdir))
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    mailbox = f"imap://{endpoint.user}@{host}:{endpoint.port}/{folder}"
    args = [program, "-n", "-F", str(rc), "-f", mailbox, "-e", f"push {_quote(keys)}"]
    return run_in_pty(args, home=workdir, timeout=timeout)


def neomutt_set_flag(
    endpoint: ImapEndpoint,
    message_id: str,
    flag: NeomuttFlag,
    workdir: Path,
    *,
    folder: str = "INBOX",
    timeout: float = DEFAULT_PEER_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Set or clear one flag on the message with ``message_id`` through neomutt's index, then sync."""
    # ~i matches the Message-ID header by regex; the angle brackets are left out and dots escaped.
    pattern = re.escape(message_id.strip("<>")).replace("\\@", "@")
    keys = f"<limit>~i {pattern}<enter><first-entry>{_NEOMUTT_FLAG_KEYS[flag]}<sync-mailbox><quit>"
    return run_neomutt(endpoint, keys, workdir, folder=folder, timeout=timeout)


def run_in_pty(
    args: Sequence[str], *, home: Path, timeout: float = DEFAULT_PEER_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a terminal program with a pseudo-terminal as its stdin/stdout/stderr; collect what it drew."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", PTY_ROWS, PTY_COLUMNS, 0, 0))
    env = peer_env(home, {"COLUMNS": str(PTY_COLUMNS), "LINES": str(PTY_ROWS)})
    output = bytearray()
    try:
        process = subprocess.Popen(
            list(args), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=home, start_new_session=True
        )
    finally:
        os.close(slave)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], PTY_POLL_INTERVAL)
            if ready:
                try:
                    chunk = os.read(master, PTY_READ_CHUNK)
                except OSError:  # EIO: the program closed the terminal
                    chunk = b""
                output += chunk
                if not chunk and process.poll() is not None:
                    break
            elif process.poll() is not None:
                break
        returncode = process.poll()
        if returncode is None:
            raise PeerError(shlex.join(args), None, output.decode(errors="replace"))
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)
    text = output.decode(errors="replace")
    if returncode != 0:
        raise PeerError(shlex.join(args), returncode, text)
    return subprocess.CompletedProcess(list(args), returncode, text, "")


# --- fetchmail ------------------------------------------------------------------------------------------


def fetchmail_config(endpoint: ImapEndpoint, mda: Path, *, folder: str = "INBOX") -> str:
    """A fetchmailrc polling ``endpoint`` over plaintext IMAP and handing each message to ``mda``."""
    return f"""\
set no syslog
set no bouncemail
poll {endpoint.host} with proto IMAP service {endpoint.port} timeout 30
  auth password
  user {_quote(endpoint.user)} there with password {_quote(endpoint.password)}
  folder {_quote(folder)}
  sslproto ''
  fetchall
  keep
  mda {_quote(str(mda))}
"""


def file_mda(script: Path, outdir: Path) -> Path:
    """Write an MDA script that stores the message on stdin as ``<outdir>/msg.XXXXXXXX``; returns it.

    fetchmail runs the MDA through /bin/sh once per message; mktemp gives every message its own file.
    A script keeps shell quoting out of fetchmail's rc-file string syntax.
    """
    script.write_text(f'#!/bin/sh\nexec cat > "$(mktemp {shlex.quote(str(outdir))}/msg.XXXXXXXX)"\n')
    script.chmod(0o755)
    return script


def run_fetchmail(
    endpoint: ImapEndpoint,
    outdir: Path,
    workdir: Path,
    *,
    folder: str = "INBOX",
    timeout: float = DEFAULT_PEER_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``fetchmail -f <rc>``: fetch every message of ``folder`` (kept on the server) into ``outdir``.

    Exit code 1 ("no mail") counts as success: an empty folder is not a peer failure.
    """
    program = require_program("fetchmail", package="fetchmail")
    workdir.mkdir(parents=True, exist_ok=True)
    outdir.mkdir(parents=True, exist_ok=True)
    rc = workdir / "fetchmailrc"
    mda = file_mda(workdir / "deliver.sh", outdir)
    rc.write_text(fetchmail_config(endpoint, mda, folder=folder))
    # fetchmail refuses an rc file others can read (it holds a password).
    rc.chmod(0o600)
    args = [
        program,
        "-f",
        str(rc),
        "--idfile",
        str(workdir / "fetchids"),
        "--pidfile",
        str(workdir / "fetchmail.pid"),
        "--nodetach",
        "--verbose",
    ]
    return run_peer(args, home=workdir, timeout=timeout, ok_codes=(0, 1))


def fetched_message_ids(outdir: Path) -> list[str]:
    """Message-IDs of the messages fetchmail delivered into ``outdir``, sorted."""
    from email.parser import BytesHeaderParser

    ids: list[str] = []
    for path in sorted(outdir.glob("msg.*")):
        headers = BytesHeaderParser().parsebytes(path.read_bytes())
        value = headers.get("Message-ID")
        if value is not None:
            ids.append(str(value).strip())
    return sorted(ids)
