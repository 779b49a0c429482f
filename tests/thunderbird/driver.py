"""Start a headless Thunderbird on a prepared profile and drive it through Marionette chrome scripts.

Theory of operation
-------------------
``running_thunderbird(binary, profile, work)`` starts ``thunderbird --headless --marionette
-remote-allow-system-access --no-remote --profile P`` in its own session (process group) with ``HOME`` in
the test's work directory and Thunderbird's IMAP log (``MOZ_LOG=IMAP:5``) written to ``work/tb-imap.log``.
With ``marionette.port = 0`` Marionette binds a free loopback port and writes it to
``<profile>/MarionetteActivePort``; we wait (bounded) for that file, connect, open a chrome-context
session, and yield a ``Thunderbird`` handle. On exit the process group is killed by the process id we
started (never by name), whatever happened.

``Thunderbird`` methods are thin wrappers over chrome scripts (``JS_*`` below) that talk to Thunderbird's
own services: ``MailServices.imap.selectFolder`` opens a folder the way clicking it does (LIST/LSUB
discovery on the first connection, SELECT, UID FETCH of flags and headers); ``folder.messages`` lists the
message database; ``folder.markMessagesFlagged`` issues a UID STORE. Every wait is bounded and its
failure names what was awaited and what was seen, and points at the IMAP log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from tests.thunderbird.marionette import MarionetteClient, MarionetteError
from tests.thunderbird.profile import IMAP_SERVER_KEY

# Seconds Thunderbird may take to start and open Marionette (about 5-10 s on a cold start).
STARTUP_TIMEOUT = 60.0
# Seconds one chrome script (one IMAP URL, e.g. a folder select with header download) may run.
SCRIPT_TIMEOUT = 45.0
# Seconds between polls of Thunderbird's state or of the Maildir while waiting for a change.
POLL_INTERVAL = 0.25
# Seconds to wait for Thunderbird to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 5.0
IMAP_LOG_NAME = "tb-imap.log"
# How much of the IMAP log's tail goes into a failure message.
LOG_TAIL_CHARS = 6000

# Shared JS: the IMAP server, folders by IMAP name, a promise around an nsIUrlListener, flag decoding.
_JS_PRELUDE = """
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const server = MailServices.accounts.getIncomingServer("__SERVER_KEY__");
const root = server.rootFolder;
function runUrl(start) {
  return new Promise((resolve, reject) => {
    const listener = {
      QueryInterface: ChromeUtils.generateQI(["nsIUrlListener"]),
      OnStartRunningUrl() {},
      OnStopRunningUrl(url, status) {
        if (Components.isSuccessCode(status)) resolve(null);
        else reject(new Error(`${url.spec} failed: 0x${(status >>> 0).toString(16)}`));
      },
    };
    start(listener);
  });
}
function allFolders() {
  return root.descendants.map((f) => f.QueryInterface(Ci.nsIMsgImapMailFolder) && f);
}
function onlineName(f) {
  return f.QueryInterface(Ci.nsIMsgImapMailFolder).onlineName;
}
function folderNamed(name) {
  for (const f of allFolders()) {
    if (onlineName(f) === name || (name === "INBOX" && f.getFlag(Ci.nsMsgFolderFlags.Inbox))) return f;
  }
  return null;
}
function describe(hdr) {
  const F = Ci.nsMsgMessageFlags;
  return {
    uid: hdr.messageKey,
    messageId: hdr.messageId,
    // Thunderbird stores "Re: x" as "x" plus the HasRe flag.
    subject: (hdr.flags & F.HasRe ? "Re: " : "") + hdr.mime2DecodedSubject,
    read: Boolean(hdr.flags & F.Read),
    flagged: Boolean(hdr.flags & F.Marked),
    replied: Boolean(hdr.flags & F.Replied),
    offline: Boolean(hdr.flags & F.Offline),
  };
}
""".replace("__SERVER_KEY__", IMAP_SERVER_KEY)

JS_STORE_LOGIN = """
const [origin, user, password] = __args;
const info = Cc["@mozilla.org/login-manager/loginInfo;1"].createInstance(Ci.nsILoginInfo);
info.init(origin, null, origin, user, password, "", "");
await Services.logins.addLoginAsync(info);
const found = await Services.logins.searchLoginsAsync({ origin });
return found.map((l) => l.username);
"""

JS_DISCOVER = (
    _JS_PRELUDE
    + """
await runUrl((l) => MailServices.imap.discoverAllFolders(root, l, null));
return allFolders().map(onlineName);
"""
)

JS_FOLDERS = (
    _JS_PRELUDE
    + """
// The special-use roles Thunderbird gave each folder (from LIST ... RETURN (SPECIAL-USE), RFC 6154).
const ROLES = ["Inbox", "SentMail", "Drafts", "Trash", "Junk", "Archive", "Templates", "ImapNoselect"];
return allFolders().map((f) => ({
  name: onlineName(f),
  roles: ROLES.filter((r) => f.getFlag(Ci.nsMsgFolderFlags[r])),
}));
"""
)

JS_SELECT = (
    _JS_PRELUDE
    + """
const [name] = __args;
const folder = folderNamed(name);
if (!folder) throw new Error(`no folder ${name}; have ${allFolders().map(onlineName)}`);
await runUrl((l) => MailServices.imap.selectFolder(folder, l, null));
return [...folder.messages].map(describe);
"""
)

JS_MESSAGES = (
    _JS_PRELUDE
    + """
const [name] = __args;
const folder = folderNamed(name);
if (!folder) throw new Error(`no folder ${name}`);
return [...folder.messages].map(describe);
"""
)

JS_MARK = (
    _JS_PRELUDE
    + """
const [name, messageId, what, value] = __args;
const folder = folderNamed(name);
const hdr = [...folder.messages].find((h) => h.messageId === messageId);
if (!hdr) throw new Error(`no message <${messageId}> in ${name}`);
if (what === "flagged") folder.markMessagesFlagged([hdr], value);
else if (what === "read") folder.markMessagesRead([hdr], value);
else throw new Error(`unknown mark ${what}`);
return describe(hdr);
"""
)

JS_OFFLINE_BODY = (
    _JS_PRELUDE
    + """
const [name, messageId] = __args;
const folder = folderNamed(name);
const hdr = [...folder.messages].find((h) => h.messageId === messageId);
if (!hdr) throw new Error(`no message <${messageId}> in ${name}`);
if (!folder.hasMsgOffline(hdr.messageKey)) throw new Error(`<${messageId}> has no offline copy`);
const { NetUtil } = ChromeUtils.importESModule("resource://gre/modules/NetUtil.sys.mjs");
const stream = folder.getMsgInputStream(hdr);
// available() counts only what can be read without blocking; a local file stream ends with 0 or throws.
let text = "";
try {
  for (let n = stream.available(); n > 0; n = stream.available()) {
    text += NetUtil.readInputStreamToString(stream, n);
  }
} catch (e) {
  if (e.result !== Cr.NS_BASE_STREAM_CLOSED) throw e;
} finally {
  stream.close();
}
return text;
"""
)

JS_MOVE = (
    _JS_PRELUDE
    + """
const [name, messageId, destName] = __args;
const folder = folderNamed(name);
const dest = folderNamed(destName);
const hdr = [...folder.messages].find((h) => h.messageId === messageId);
if (!hdr || !dest) throw new Error(`no message <${messageId}> in ${name} or no folder ${destName}`);
await new Promise((resolve, reject) => {
  const stop = (status) =>
    Components.isSuccessCode(status)
      ? resolve(null)
      : reject(new Error(`move failed: 0x${(status >>> 0).toString(16)}`));
  const listener = {
    QueryInterface: ChromeUtils.generateQI(["nsIMsgCopyServiceListener"]),
    onStartCopy() {}, onProgress() {}, setMessageKey() {}, getMessageId() { return null; }, onStopCopy: stop,
    OnStartCopy() {}, OnProgress() {}, SetMessageKey() {}, GetMessageId() { return null; }, OnStopCopy: stop,
  };
  MailServices.copy.copyMessages(folder, [hdr], dest, true, listener, null, false);
});
return [...folder.messages].map(describe);
"""
)

JS_ADD_KEYWORD = (
    _JS_PRELUDE
    + """
const [name, messageId, keyword] = __args;
const folder = folderNamed(name);
const hdr = [...folder.messages].find((h) => h.messageId === messageId);
if (!hdr) throw new Error(`no message <${messageId}> in ${name}`);
folder.addKeywordsToMessages([hdr], keyword);
return hdr.getStringProperty("keywords");
"""
)


class ThunderbirdError(AssertionError):
    """Thunderbird did not do what the test waited for; the message holds the IMAP log's tail."""


@dataclass
class Thunderbird:
    """A running Thunderbird and its Marionette connection."""

    process: subprocess.Popen[bytes]
    marionette: MarionetteClient
    profile: Path
    imap_log: Path

    def log_tail(self) -> str:
        logs = sorted(self.imap_log.parent.glob(self.imap_log.name + "*"))
        text = "".join(p.read_text(errors="replace") for p in logs)
        return text[-LOG_TAIL_CHARS:]

    async def run(self, script: str, *args: Any) -> Any:
        try:
            return await self.marionette.run_chrome(script, *args, timeout=SCRIPT_TIMEOUT + 10)
        except (MarionetteError, trio.TooSlowError) as error:
            raise ThunderbirdError(
                f"{error}\n--- Thunderbird IMAP log (tail) ---\n{self.log_tail()}"
            ) from error

    async def store_login(self, origin: str, user: str, password: str) -> list[str]:
        result: list[str] = await self.run(JS_STORE_LOGIN, origin, user, password)
        return result

    async def discover_folders(self) -> list[str]:
        result: list[str] = await self.run(JS_DISCOVER)
        return result

    async def folders(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.run(JS_FOLDERS)
        return result

    async def select(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.run(JS_SELECT, name)
        return result

    async def messages(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.run(JS_MESSAGES, name)
        return result

    async def mark(self, name: str, message_id: str, what: str, value: bool) -> dict[str, Any]:
        """Set or clear ``what`` ("flagged" or "read") like the star and read buttons do (UID STORE)."""
        result: dict[str, Any] = await self.run(JS_MARK, name, message_id, what, value)
        return result

    async def add_keyword(self, name: str, message_id: str, keyword: str) -> str:
        """Tag a message (Thunderbird's tags are IMAP keywords, e.g. ``$label1`` = Important)."""
        result: str = await self.run(JS_ADD_KEYWORD, name, message_id, keyword)
        return result

    async def offline_body(self, name: str, message_id: str) -> str:
        """The message as Thunderbird stored it for offline use (its local copy, not the server's)."""
        result: str = await self.run(JS_OFFLINE_BODY, name, message_id)
        return result

    async def move(self, name: str, message_id: str, dest: str) -> list[dict[str, Any]]:
        """Move one message like drag and drop does (MOVE when the server has it); INBOX's rest after."""
        result: list[dict[str, Any]] = await self.run(JS_MOVE, name, message_id, dest)
        return result

    async def wait_for_messages(
        self, name: str, predicate: Callable[[list[dict[str, Any]]], bool], *, what: str, timeout: float
    ) -> list[dict[str, Any]]:
        """Poll ``folder.messages`` until ``predicate`` holds; fail with the last state and the IMAP log."""
        deadline = trio.current_time() + timeout
        seen: list[dict[str, Any]] = []
        while trio.current_time() < deadline:
            seen = await self.messages(name)
            if predicate(seen):
                return seen
            await trio.sleep(POLL_INTERVAL)
        raise ThunderbirdError(
            f"Thunderbird did not show {what} in {name} within {timeout} s; it has {seen}\n"
            f"--- Thunderbird IMAP log (tail) ---\n{self.log_tail()}"
        )


async def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the Thunderbird we started: its process group is led by its pid (start_new_session).

    Waiting polls with trio.sleep (shielded, so it runs during cancellation too) instead of blocking,
    because the maildird under test runs in this same Trio loop and Thunderbird may log out on SIGTERM.
    """
    with trio.CancelScope(shield=True):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with trio.move_on_after(STOP_TIMEOUT):
                while process.poll() is None:
                    await trio.sleep(POLL_INTERVAL)
        # Children (content, socket processes) share the group; make sure none outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


async def _wait_for_marionette_port(process: subprocess.Popen[bytes], profile: Path, output: Path) -> int:
    port_file = profile / "MarionetteActivePort"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ThunderbirdError(
                f"Thunderbird exited {process.returncode} before Marionette started:\n"
                f"{output.read_text(errors='replace')[-LOG_TAIL_CHARS:]}"
            )
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text.isdigit():
            return int(text)
        await trio.sleep(POLL_INTERVAL)
    raise ThunderbirdError(
        f"Marionette did not write {port_file} within {STARTUP_TIMEOUT} s; Thunderbird said:\n"
        f"{output.read_text(errors='replace')[-LOG_TAIL_CHARS:]}"
    )


@contextlib.asynccontextmanager
async def running_thunderbird(binary: str, profile: Path, work: Path) -> AsyncIterator[Thunderbird]:
    """Start Thunderbird headless with Marionette on ``profile``; always kill it by pid on exit."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    imap_log = work / IMAP_LOG_NAME
    output = work / "thunderbird.out"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
        "MOZ_LOG": "IMAP:5,sync,timestamp",
        "MOZ_LOG_FILE": str(imap_log),
    }
    args = [binary, "--headless", "--marionette", "-remote-allow-system-access", "--no-remote"]
    args += ["--profile", str(profile)]
    with output.open("wb") as out:
        process = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client: MarionetteClient | None = None
    try:
        port = await _wait_for_marionette_port(process, profile, output)
        client = await MarionetteClient.connect(port)
        await client.start_chrome_session(script_timeout=SCRIPT_TIMEOUT)
        yield Thunderbird(process, client, profile, imap_log)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
        await _stop(process)
