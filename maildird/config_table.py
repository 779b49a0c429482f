"""The validator the configuration loader walks TOML tables with: typed getters that report, never raise.

Theory of operation
-------------------
:class:`Table` wraps one TOML table (a dict from :mod:`tomllib`) with the dotted prefix it sits at
(``limits``, ``listen[1]``).  Each getter (``string``, ``path``, ``boolean``, ``integer``, ``seconds``,
``strings``, ``table``) returns the value when it is well-formed and in range, else records a problem and
returns the default, so one pass finds every mistake in a file.  Sizes may be written ``"64KiB"`` and
durations ``"30m"``.  ``finish`` reports the keys nobody read as unknown, with the closest known name as a
hint.  :class:`Problems` collects the messages as ``file:line: key: fix``; the line is a best-effort scan of
the text (headers, then keys below them), since :mod:`tomllib` keeps no positions.
:mod:`maildird.config_load` builds :class:`~maildird.config.Config` with it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maildird.config import GiB, KiB, MiB

__all__ = ["Problems", "Table", "type_name"]

_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]i?B?|B)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hours?)?\s*$", re.IGNORECASE)
_HEADER = re.compile(r"\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?")
_KEY = re.compile(r"""^(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")
_UNIT = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB}
_SECONDS = {
    "": 1,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}


class Problems:
    """Collects problems with the file name and (best effort) line prefix."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines, self.items = path, text.splitlines(), list[str]()

    def add(self, key: str, message: str) -> None:
        line = self.locate(key)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        self.items.append(f"{where}: {key}: {message}")

    def locate(self, key: str) -> int | None:
        """Best-effort line of ``table.key`` / ``listen[i].key``: scan the headers, then the keys below the
        matching one.  None when not found (inline tables, dotted keys)."""
        m = re.fullmatch(r"([^.\[]+)\[(\d+)\](?:\.(.+))?", key)
        if m:
            table, index, leaf = m.group(1), int(m.group(2)), m.group(3)
        else:
            table, _, leaf = key.rpartition(".")
            index = 0
        current, seen, header_line = "", 0 if table == "" else -1, None
        for n, raw in enumerate(self.lines, 1):
            line = raw.strip()
            h = _HEADER.fullmatch(line)
            if h:
                current = re.sub(r"\s+|\"", "", h.group(1))
                if current == table:
                    seen += 1
                    if seen == index:
                        header_line = n
                elif not table and header_line is None and current.split(".")[0] == leaf:
                    header_line = n  # an unknown or misplaced section
                continue
            k = _KEY.match(line)
            if leaf and k and current == table and seen == index and leaf in k.groups():
                return n
        return header_line


def type_name(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


class Table:
    """One TOML table under validation; records which keys were read so unknown ones can be reported."""

    def __init__(self, data: Mapping[str, Any], prefix: str, problems: Problems) -> None:
        self.data, self.prefix, self.problems, self.used = data, prefix, problems, set[str]()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def bad(self, name: str, message: str) -> None:
        self.problems.add(self.key(name), message)

    def get(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def string(self, name: str, default: str, choices: tuple[str, ...] | None = None) -> str:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self.bad(name, f"expected a string, got {type_name(value)} {value!r}; put it in double quotes")
            return default
        if choices is not None and value not in choices:
            options = ", ".join(f'"{c}"' for c in choices)
            self.bad(name, f"expected one of {options}, got {value!r}")
            return default
        return value

    def path(self, name: str, default: Path | None) -> Path | None:
        value = self.string(name, "")
        if not value:
            return default
        path = Path(value).expanduser()
        if not path.is_absolute():
            self.bad(name, f"expected an absolute path, got {value!r}; write the full path starting with /")
            return default
        return path

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(name, f"expected true or false (no quotes), got {type_name(value)} {value!r}")
            return default
        return value

    def integer(self, name: str, default: int, low: int, high: int, *, size: bool = False) -> int:
        value = self.get(name)
        if value is None:
            return default
        if size and isinstance(value, str) and (m := _SIZE.match(value)):
            value = int(m.group(1)) * _UNIT[(m.group(2) or "")[:1].lower()]
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ' or a size such as "64KiB"' if size else ""
            self.bad(name, f"expected an integer{hint}, got {type_name(value)} {value!r}")
            return default
        if not low <= value <= high:
            self.bad(name, f"expected an integer from {low} to {high}, got {value}")
            return default
        return value

    def seconds(self, name: str, default: float, low: float = 0.0, high: float = 7 * 86400.0) -> float:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, str) and (m := _DURATION.match(value)):
            value = float(m.group(1)) * _SECONDS[(m.group(2) or "").lower()]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(name, f'expected seconds as a number or a duration such as "30m", got {value!r}')
            return default
        if not low <= value <= high:
            self.bad(name, f"expected seconds from {low:g} to {high:g}, got {value:g}")
            return default
        return float(value)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.bad(name, f'expected an array of strings such as ["10.0.0.0/8"], got {value!r}')
            return ()
        return tuple(value)

    def table(self, name: str) -> Table:
        value = self.get(name)
        if value is None:
            value = {}
        elif not isinstance(value, dict):
            self.bad(name, f"expected a table [{self.key(name)}], got {type_name(value)}")
            value = {}
        return Table(value, self.key(name), self.problems)

    def finish(self, known: tuple[str, ...] | None = None) -> None:
        for name in self.data:
            if name in self.used:
                continue
            close = difflib.get_close_matches(name, list(known if known is not None else self.used), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            self.bad(name, f"unknown key; {hint}")
