"""Layer rule (architecture.md §4.2): the sans-IO core imports the standard library only."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import maildird.imap

FORBIDDEN = (
    "trio",
    "watchdog",
    "maildird.store",
    "maildird.handlers",
    "maildird.connection",
    "maildird.server",
)


def test_imap_core_loads_no_io_layers() -> None:
    modules = sorted(f"maildird.imap.{m.name}" for m in pkgutil.iter_modules(maildird.imap.__path__))
    assert "maildird.imap.session" in modules and "maildird.imap.grammar" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    assert "maildird.imap.session" in loaded
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
