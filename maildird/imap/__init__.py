"""The sans-IO IMAP protocol core: bytes in, events out; responses in, bytes out.

This package imports nothing but the standard library (tests/test_layering.py checks it).
"""

from __future__ import annotations
