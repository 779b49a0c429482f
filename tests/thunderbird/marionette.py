"""A raw Marionette client (trio): just enough of Mozilla's remote protocol to run chrome-context scripts.

Theory of operation
-------------------
Marionette speaks JSON over TCP with ``<decimal byte length>:<JSON>`` framing. On connect the server sends
one unframed-by-request hello (``{"applicationType": "gecko", "marionetteProtocol": 3}``). A command is
the array ``[0, id, name, params]``; its response is ``[1, id, error, result]`` where ``error`` is
``null`` or ``{"error", "message", "stacktrace"}``. We send one command at a time and match the id.

Scripts run in the chrome context (``Marionette:SetContext`` ``{"value": "chrome"}``), which Thunderbird
allows only when started with ``-remote-allow-system-access``. ``WebDriver:ExecuteAsyncScript`` passes a
resolve callback as the last argument; ``run_chrome`` wraps the caller's async function body so a thrown
error comes back as ``{"__error": text}`` and is raised here as ``MarionetteError`` with the JS message.
Only 127.0.0.1 is ever dialled.
"""

from __future__ import annotations

import json
from typing import Any

import trio

LOOPBACK = "127.0.0.1"
RECEIVE_CHUNK = 65536
# Longest length prefix we accept before the ':' (Marionette messages are far below 10**12 bytes).
MAX_LENGTH_DIGITS = 12
# Seconds one Marionette command may take (scripts have their own, shorter, script timeout).
DEFAULT_COMMAND_TIMEOUT = 60.0

# The caller's script is the body of an async function; its return value is JSON-serialised back.
_ASYNC_WRAPPER = """
const __done = arguments[arguments.length - 1];
const __args = Array.prototype.slice.call(arguments, 0, arguments.length - 1);
(async function () {
%s
}).apply(null, __args).then(
  (value) => __done(value === undefined ? null : value),
  (error) => __done({__error: String(error) + (error && error.stack ? "\\n" + error.stack : "")})
);
"""


class MarionetteError(RuntimeError):
    """Marionette answered a command with an error, or a chrome script threw."""


class MarionetteClient:
    """One Marionette connection; use ``await MarionetteClient.connect(port)``."""

    def __init__(self, stream: trio.SocketStream, hello: dict[str, Any]) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._next_id = 1
        self.hello = hello

    @classmethod
    async def connect(cls, port: int) -> MarionetteClient:
        stream = await trio.open_tcp_stream(LOOPBACK, port)
        client = cls(stream, {})
        client.hello = await client._read_message()
        return client

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def _read_message(self) -> Any:
        while True:
            colon = self._buffer.find(b":")
            if colon > MAX_LENGTH_DIGITS or (colon < 0 and len(self._buffer) > MAX_LENGTH_DIGITS):
                raise MarionetteError(f"bad Marionette framing: {bytes(self._buffer[:40])!r}")
            if colon >= 0:
                length = int(self._buffer[:colon])
                end = colon + 1 + length
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[colon + 1 : end])
                    del self._buffer[:end]
                    return json.loads(body)
            chunk = await self._stream.receive_some(RECEIVE_CHUNK)
            if not chunk:
                raise MarionetteError("Marionette closed the connection")
            self._buffer += chunk

    async def command(
        self, name: str, params: dict[str, Any] | None = None, *, timeout: float = DEFAULT_COMMAND_TIMEOUT
    ) -> Any:
        """Send one command and return its result (the ``value`` member is unwrapped when alone)."""
        message_id = self._next_id
        self._next_id += 1
        body = json.dumps([0, message_id, name, params or {}]).encode()
        with trio.fail_after(timeout):
            await self._stream.send_all(str(len(body)).encode() + b":" + body)
            while True:
                reply = await self._read_message()
                if isinstance(reply, list) and len(reply) == 4 and reply[0] == 1 and reply[1] == message_id:
                    break
        _, _, error, result = reply
        if error is not None:
            raise MarionetteError(f"{name}: {error.get('error')}: {error.get('message')}")
        if isinstance(result, dict) and set(result) == {"value"}:
            return result["value"]
        return result

    async def start_chrome_session(self, *, script_timeout: float) -> None:
        """New session, chrome context, and the script timeout for ``run_chrome``."""
        await self.command("WebDriver:NewSession", {"capabilities": {}})
        await self.command("Marionette:SetContext", {"value": "chrome"})
        await self.command("WebDriver:SetTimeouts", {"script": int(script_timeout * 1000)})

    async def run_chrome(self, body: str, *args: Any, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> Any:
        """Run ``body`` as an async function body in the chrome context with ``args``; return its value."""
        result = await self.command(
            "WebDriver:ExecuteAsyncScript",
            {"script": _ASYNC_WRAPPER % body, "args": list(args), "newSandbox": False},
            timeout=timeout,
        )
        if isinstance(result, dict) and "__error" in result:
            raise MarionetteError(f"chrome script failed: {result['__error']}")
        return result
