"""The dovecot-uidvalidity counter (maildir-format.md §3.5, Appendix A)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from maildird.store.maildir.uidvalidity import UIDVALIDITY_NAME, next_uidvalidity


def counters(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(UIDVALIDITY_NAME + "."))


def test_continues_dovecot_counter(tmp_path: Path) -> None:
    # Appendix A: b'6b0a4a30' and an empty 0444 file .6b0a4a30
    (tmp_path / UIDVALIDITY_NAME).write_bytes(b"6b0a4a30")
    counter = tmp_path / "dovecot-uidvalidity.6b0a4a30"
    counter.touch(mode=0o444)
    assert next_uidvalidity(tmp_path) == 0x6B0A4A31 == 1795836465
    assert (tmp_path / UIDVALIDITY_NAME).read_bytes() == b"6b0a4a31"
    assert counters(tmp_path) == ["dovecot-uidvalidity.6b0a4a31"]
    assert next_uidvalidity(tmp_path) == 0x6B0A4A32
    assert next_uidvalidity(tmp_path) == 0x6B0A4A33
    assert counters(tmp_path) == ["dovecot-uidvalidity.6b0a4a33"]
    assert os.stat(tmp_path / "dovecot-uidvalidity.6b0a4a33").st_size == 0


def test_fresh_root_starts_from_time(tmp_path: Path) -> None:
    before = int(time.time())
    first = next_uidvalidity(tmp_path)
    assert first >= before
    name = f"dovecot-uidvalidity.{first:08x}"
    assert counters(tmp_path) == [name]
    assert os.stat(tmp_path / name).st_mode & 0o777 == 0o444
    assert (tmp_path / UIDVALIDITY_NAME).read_bytes() == f"{first:08x}".encode()
    assert next_uidvalidity(tmp_path) == first + 1


def test_stale_hint_and_missing_hint(tmp_path: Path) -> None:
    (tmp_path / "dovecot-uidvalidity.00000100").touch(mode=0o444)
    (tmp_path / UIDVALIDITY_NAME).write_bytes(b"000000f0")  # an old hint: ENOENT steps forward
    assert next_uidvalidity(tmp_path) == 0x101
    (tmp_path / UIDVALIDITY_NAME).unlink()
    assert next_uidvalidity(tmp_path) == 0x102  # rescan finds the counter
    (tmp_path / UIDVALIDITY_NAME).write_bytes(b"garbage!")
    assert next_uidvalidity(tmp_path) == 0x103
    assert (tmp_path / UIDVALIDITY_NAME).read_bytes() == b"00000103"


def test_duplicate_counters_keep_the_maximum(tmp_path: Path) -> None:
    (tmp_path / "dovecot-uidvalidity.00000010").touch()
    (tmp_path / "dovecot-uidvalidity.00000020").touch()
    assert next_uidvalidity(tmp_path) == 0x21
    assert counters(tmp_path) == ["dovecot-uidvalidity.00000021"]


def test_wraps_past_zero(tmp_path: Path) -> None:
    (tmp_path / "dovecot-uidvalidity.ffffffff").touch()
    (tmp_path / UIDVALIDITY_NAME).write_bytes(b"ffffffff")
    assert next_uidvalidity(tmp_path) == 1


CHILD = """
import sys
from pathlib import Path
from maildird.store.maildir.uidvalidity import next_uidvalidity
print(" ".join(str(next_uidvalidity(Path(sys.argv[1]))) for _ in range(50)))
"""


def test_concurrent_processes_get_distinct_values(tmp_path: Path) -> None:
    (tmp_path / UIDVALIDITY_NAME).write_bytes(b"00001000")
    (tmp_path / "dovecot-uidvalidity.00001000").touch()
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    values: list[int] = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        values.extend(int(v) for v in out.split())
    assert len(values) == 200
    assert len(set(values)) == 200
    # Under load a process may find the hint too far behind and rescan while others rename (the
    # readdir race): like Dovecot it may then start a second, clock-based counter, and the older one is
    # only removed by a later rescan. What must hold: the highest value handed out is the live
    # counter, and the next allocation goes above everything.
    assert f"dovecot-uidvalidity.{max(values):08x}" in counters(tmp_path)
    assert next_uidvalidity(tmp_path) > max(values)
