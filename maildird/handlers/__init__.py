"""IMAP command handlers: the behaviour of every command, between the protocol core and the store.

``handle(ctx, command)`` is the single entry point the runtime calls (contracts.md §6).
"""

from __future__ import annotations
