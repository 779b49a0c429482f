"""``python -m maildird`` runs the command-line interface."""

from __future__ import annotations

from maildird.cli import main

raise SystemExit(main())
