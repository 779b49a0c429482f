"""The benchmark runner works end to end on the tiny preset (CI runs it once; no timing is asserted).

It starts a private Dovecot and a maildird subprocess on loopback, so it is an interop test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_program
from tests.support.dovecot import DOVECOT_PACKAGE, DOVECOT_PROGRAM

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
# Seconds the whole tiny run may take (about a minute on an idle 2-core machine) before the test fails.
RUN_TIMEOUT = 900


def test_runner_prints_a_ratio_row_for_every_step(tmp_path: Path) -> None:
    require_program(DOVECOT_PROGRAM, package=DOVECOT_PACKAGE)
    from benchmarks.run import SCALES, STEPS, label

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--preset",
            "tiny",
            "--cache",
            str(tmp_path / "cache"),
            "--work",
            str(tmp_path / "work"),
            "--json",
            str(tmp_path / "results.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("| step ") and "ratio" in line for line in lines), result.stdout
    for step in STEPS:
        name = label(step, SCALES["tiny"])
        rows = [line for line in lines if line.startswith(f"| {name} ")]
        assert len(rows) == 1, (name, result.stdout)
        cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
        # label, unit, dovecot cold, maildird cold, ratio, dovecot warm, maildird warm, ratio
        assert len(cells) == 8, rows[0]
        ratios = [cells[4], cells[7]] if step.cold else [cells[7]]
        if step.key == "first_select":
            ratios = [cells[4]]
        for ratio in ratios:
            # A number; memory deltas of a handful of connections may round to 0 (or dip below it).
            assert ratio.endswith("x"), rows[0]
            float(ratio[:-1])
    assert (tmp_path / "results.json").exists()
    # Everything was stopped: no leftover work directory processes (the run removes its work dir).
    assert not (tmp_path / "work").exists()
