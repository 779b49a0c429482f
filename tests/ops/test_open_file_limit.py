"""``maildird serve`` raises its soft open-file limit (each open folder holds 15 descriptors): up to
``OPEN_FILES_WANTED`` within the hard limit, never down."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import resource, sys
from maildird.cli_serve import raise_open_file_limit
soft, hard = int(sys.argv[1]), int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
raise_open_file_limit(int(sys.argv[3]))
print(*resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def limits_after(soft: int, hard: int, wanted: int) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(soft), str(hard), str(wanted)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_the_soft_limit_is_raised_within_the_hard_one() -> None:
    assert limits_after(256, 4096, 65536) == (4096, 4096)  # capped by the hard limit
    assert limits_after(256, 4096, 1024) == (1024, 4096)  # as far as wanted
    assert limits_after(2048, 4096, 1024) == (2048, 4096)  # never lowered
