"""LOGIN and the logic of AUTHENTICATE PLAIN (RFC 9051 §6.2.2-§6.2.3, RFC 4616, RFC 4959).

The runtime drives AUTHENTICATE's continuation exchange and calls ``authenticate_plain`` with the
decoded client response; it also delays failures and counts them (``maildird.connection``). Here:
the plaintext policy (LOGINDISABLED, RFC 9051 §6.2.3 and RFC 8314), the password check through
``Services.authenticator``, opening the user's store, and the tagged OK with ``[CAPABILITY ...]``.
"""

from __future__ import annotations

import inspect

from maildird.handlers.any_state import capability_code, plaintext_allowed
from maildird.handlers.context import Context
from maildird.imap.errors import AUTHENTICATIONFAILED, AUTHORIZATIONFAILED, PRIVACYREQUIRED
from maildird.imap.responses import Code, Tagged
from maildird.logging_setup import auth_failure_line, safe

FAILED_TEXT = "Authentication failed."


def _address(hostport: str) -> str:
    """``"192.0.2.7:5000"`` or ``"::1:5000"`` -> the address alone."""
    return hostport.rsplit(":", 1)[0] if ":" in hostport else hostport


def _log_failure(ctx: Context, method: str, reason: str, user: str | bytes) -> None:
    """The fail2ban line (operations.md §3): client address first, the escaped user name last."""
    t = ctx.transport
    ctx.log.warning(auth_failure_line(_address(t.peer), _address(t.local), method, reason, user))


async def login(ctx: Context, user: str, password: str, tag: str = "*", *, method: str = "LOGIN") -> Tagged:
    """Check ``user``/``password`` and, on success, open the user's store (RFC 9051 §6.2.3).
    ``method`` names the mechanism in the log (LOGIN, or PLAIN for AUTHENTICATE)."""
    if not plaintext_allowed(ctx):
        return Tagged(
            tag,
            "NO",
            "Plaintext authentication disallowed on non-secure connections.",
            Code(PRIVACYREQUIRED),
        )
    if ctx.authenticated:
        return Tagged(tag, "BAD", "Already logged in.", Code("CLIENTBUG"))
    authenticator = ctx.services.authenticator
    if authenticator is None:
        return Tagged(tag, "NO", "No users are configured.", Code("UNAVAILABLE"))
    record = await authenticator.verify(user, password)
    if record is None:
        _log_failure(ctx, method, "invalid-credentials", user)
        return Tagged(tag, "NO", FAILED_TEXT, Code(AUTHENTICATIONFAILED))
    made = ctx.services.store_for(record)
    store = await made if inspect.isawaitable(made) else made
    ctx.user = getattr(record, "name", user)
    ctx.user_record = record
    ctx.store = store
    ctx.log.info("login: user=<%s>, method=%s, rip=%s", safe(ctx.user), method, _address(ctx.transport.peer))
    return Tagged(tag, "OK", "Logged in.", capability_code(ctx))


async def authenticate_plain(ctx: Context, tag: str, data: bytes) -> Tagged:
    """SASL PLAIN (RFC 4616 §2): ``[authzid] NUL authcid NUL passwd``, UTF-8.

    An authorization identity other than the authentication identity is refused: there are no
    admin or proxy users (RFC 4616 §2, RFC 5530 AUTHORIZATIONFAILED).
    """
    if not plaintext_allowed(ctx):
        return Tagged(
            tag,
            "NO",
            "Plaintext authentication disallowed on non-secure connections.",
            Code(PRIVACYREQUIRED),
        )
    parts = data.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        _log_failure(ctx, "PLAIN", "malformed", parts[1] if len(parts) > 1 else b"")
        return Tagged(tag, "NO", FAILED_TEXT, Code(AUTHENTICATIONFAILED))
    try:
        authzid, authcid = parts[0].decode("utf-8"), parts[1].decode("utf-8")
    except UnicodeDecodeError:
        _log_failure(ctx, "PLAIN", "malformed", parts[1])
        return Tagged(tag, "NO", FAILED_TEXT, Code(AUTHENTICATIONFAILED))
    # Keep every octet of the password (the grammar does the same for LOGIN).
    password = parts[2].decode("utf-8", "surrogateescape")
    if authzid and authzid != authcid:
        _log_failure(ctx, "PLAIN", "authzid-refused", authcid)
        return Tagged(tag, "NO", "Authorization as another user is not allowed.", Code(AUTHORIZATIONFAILED))
    return await login(ctx, authcid, password, tag, method="PLAIN")
