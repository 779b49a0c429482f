"""Test helper: a tiny socket-activated service built on maildird.systemd.

Prints one JSON line describing what ``listen_fds_with_names()`` adopted (or the error), then with
``--notify`` sends READY=1, and with ``--greet`` accepts one connection on the first socket and writes
``* OK adopted NAME`` to it, proving the adopted object is the live listening socket.
"""

from __future__ import annotations

import json
import os
import sys

from maildird import systemd


def main() -> int:
    try:
        pairs = systemd.listen_fds_with_names()
    except systemd.SocketActivationError as exc:
        print(json.dumps({"error": str(exc), "env": _listen_env()}), flush=True)
        return 3
    report = {
        "pid": os.getpid(),
        "sockets": [
            {
                "name": name,
                "fd": sock.fileno(),
                "family": sock.family.name,
                "type": sock.type.name,
                "sockname": list(sock.getsockname()[:2]),
                "inheritable": sock.get_inheritable(),
            }
            for name, sock in pairs
        ],
        "env": _listen_env(),
    }
    print(json.dumps(report), flush=True)
    if "--notify" in sys.argv:
        systemd.ready(f"serving {len(pairs)} sockets")
    if "--greet" in sys.argv and pairs:
        name, listener = pairs[0]
        conn, _ = listener.accept()
        with conn:
            conn.sendall(f"* OK adopted {name}\r\n".encode())
    return 0


def _listen_env() -> list[str]:
    return sorted(k for k in os.environ if k.startswith("LISTEN_"))


if __name__ == "__main__":
    sys.exit(main())
