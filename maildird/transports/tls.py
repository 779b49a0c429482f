"""Server-side TLS contexts, reloadable on SIGHUP (operations.md §4).

Python's ``ssl.create_default_context(Purpose.CLIENT_AUTH)`` already sets TLS 1.2 as the minimum,
``OP_NO_COMPRESSION`` (CRIME) and ``OP_CIPHER_SERVER_PREFERENCE``; we set them again explicitly so the
guarantee does not depend on the Python version, and narrow the TLS 1.2 suites to Mozilla's "intermediate"
profile (ECDHE/DHE with AES-GCM or ChaCha20-Poly1305 only).  TLS 1.3 suites keep OpenSSL's defaults.
RFC 8314 §4.1 asks for TLS 1.2 or later for mail access; RFC 8996 retires 1.0 and 1.1.

Reload: :meth:`TlsContextHolder.reload` builds a *new* context (loading the chain also checks that the key
matches), and only then swaps ``holder.context``.  Connections read the attribute when they start TLS,
so sessions already running keep the context they began with, and a bad new file leaves the old one in use.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import trio

from maildird.config import TlsConfig

__all__ = [
    "MOZILLA_INTERMEDIATE_CIPHERS",
    "TlsContextHolder",
    "TlsSetupError",
    "make_server_context",
    "start_tls",
]

log = logging.getLogger("maildird.tls")

#: ssl-config.mozilla.org "intermediate" TLS 1.2 suites (guidelines 5.x).
MOZILLA_INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
    ]
)

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TlsSetupError(Exception):
    """The certificate or key cannot be used; the message names the files and the reason."""


def make_server_context(cert: Path, key: Path | None = None, min_version: str = "1.2") -> ssl.SSLContext:
    """A server context for ``cert`` (full chain, PEM) and ``key`` (PEM; None = in the cert file)."""
    if min_version not in _VERSIONS:
        raise TlsSetupError(f"unsupported TLS min_version {min_version!r}; use 1.2 or 1.3")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = _VERSIONS[min_version]
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.set_ciphers(MOZILLA_INTERMEDIATE_CIPHERS)
    for path in (cert, key) if key is not None else (cert,):
        # ssl's own errors do not say which file; check each first.
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            raise TlsSetupError(f"{path}: no such file")
        except PermissionError:
            raise TlsSetupError(f"{path}: permission denied (the service user must be able to read it)")
        except OSError as exc:
            raise TlsSetupError(f"{path}: {exc.strerror or exc}")
    try:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key) if key is not None else None)
    except ssl.SSLError as exc:
        what = f"{cert}" + (f" / {key}" if key is not None and key != cert else "")
        raise TlsSetupError(f"{what}: cannot load certificate and key: {exc.reason or exc}")
    except OSError as exc:
        raise TlsSetupError(f"{cert}: {exc.strerror or exc}")
    return ctx


class TlsContextHolder:
    """Holds the current server context; ``reload()`` swaps in a freshly loaded one (SIGHUP)."""

    def __init__(self, cert: Path, key: Path | None = None, min_version: str = "1.2") -> None:
        self.cert, self.key, self.min_version = cert, key, min_version
        self.context = make_server_context(cert, key, min_version)

    @classmethod
    def from_config(cls, tls: TlsConfig) -> TlsContextHolder | None:
        if tls.certificate is None:
            return None
        return cls(tls.certificate, tls.private_key, tls.min_version)

    def reload(self) -> bool:
        """Load the files again: True if the new context is in use, False (logged) if the old one stays."""
        try:
            new = make_server_context(self.cert, self.key, self.min_version)
        except TlsSetupError as exc:
            log.error("TLS reload failed, keeping the previous certificate: %s", exc)
            return False
        self.context = new
        log.info("TLS certificate reloaded from %s", self.cert)
        return True


async def start_tls(
    stream: trio.abc.Stream, context: ssl.SSLContext, *, timeout: float
) -> trio.SSLStream[trio.abc.Stream]:
    """Wrap ``stream`` as the server side of TLS and complete the handshake within ``timeout`` seconds
    (``[limits] tls_handshake_timeout``); raises trio.TooSlowError or trio.BrokenResourceError."""
    ssl_stream = trio.SSLStream(stream, context, server_side=True, https_compatible=False)
    with trio.fail_after(timeout):
        await ssl_stream.do_handshake()
    return ssl_stream
