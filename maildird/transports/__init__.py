"""Byte streams the IMAP session runs over: TCP, TLS (implicit and STARTTLS), WebSocket, COMPRESS."""

from __future__ import annotations
