"""Test helper: exec a command the way systemd hands over sockets (sd_listen_fds(3)).

    python fdexec.py --fds 11,12 [--names imap:imaps] [--pid self|other] -- COMMAND ...

The descriptors given (open in this process, e.g. through subprocess's ``pass_fds``) are moved to 3, 4, ...
and LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES are set; ``exec`` keeps the pid, so ``--pid self`` names the
command's own process, as systemd does.  ``--pid other`` names the parent instead (a process the
sockets were not meant for).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys

#: Park the descriptors above this while moving them, so none is overwritten before it is copied.
PARK_FD = 100


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fds", required=True)
    parser.add_argument("--names")
    parser.add_argument("--pid", choices=("self", "other"), default="self")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    fds = [int(x) for x in args.fds.split(",") if x]
    parked = [fcntl.fcntl(fd, fcntl.F_DUPFD, PARK_FD) for fd in fds]
    for offset, fd in enumerate(parked):
        os.dup2(fd, 3 + offset, inheritable=True)
        os.close(fd)
    os.environ["LISTEN_FDS"] = str(len(fds))
    os.environ["LISTEN_PID"] = str(os.getpid() if args.pid == "self" else os.getppid())
    if args.names is not None:
        os.environ["LISTEN_FDNAMES"] = args.names
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
