"""Commands valid in any state: CAPABILITY, NOOP, ID, ENABLE (RFC 9051 §6.1, RFC 2971, RFC 5161),
and the one function that builds the capability list.

The list depends on three things only: the session state (before or after login), the transport
(STARTTLS still possible? plaintext allowed?) and the configuration (CONDSTORE, APPENDLIMIT). Before
login it is short, as Dovecot's imap-login is (peers.md §2.2); after login it is the full list of
capabilities.md, sent in the ``[CAPABILITY]`` code of the login's tagged OK (RFC 9051 §7.1).
"""

from __future__ import annotations

import maildird
from maildird.handlers.context import Context
from maildird.handlers.updates import enable_condstore
from maildird.imap import commands as cmd
from maildird.imap.responses import Atom, Code, Tagged, Untagged, Value
from maildird.logging_setup import safe

BASE_CAPABILITIES: tuple[str, ...] = ("IMAP4rev1", "IMAP4rev2")
"""Both revisions; rev2 behaviour only after ``ENABLE IMAP4rev2`` (RFC 9051 Appendix E)."""

PRELOGIN_CAPABILITIES: tuple[str, ...] = ("SASL-IR", "ID", "ENABLE", "IDLE")
"""What Dovecot's login process adds to the revisions (peers.md §2.2)."""

POSTLOGIN_CAPABILITIES: tuple[str, ...] = (
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "CHILDREN",
    "UIDPLUS",
    "UNSELECT",
    "MOVE",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "STATUS=SIZE",
    "ESEARCH",
    "SEARCHRES",
    "MULTIAPPEND",
    "BINARY",
    "UTF8=ACCEPT",
)
CONDSTORE_CAPABILITIES: tuple[str, ...] = ("CONDSTORE", "QRESYNC")
COMPRESS_CAPABILITY = "COMPRESS=DEFLATE"

ENABLEABLE: dict[str, str] = {
    "CONDSTORE": "CONDSTORE",
    "QRESYNC": "QRESYNC",
    "UTF8=ACCEPT": "UTF8=ACCEPT",
    "IMAP4REV2": "IMAP4rev2",
}
"""Extensions ENABLE knows (RFC 5161 §3.1), upper-cased -> the spelling ``* ENABLED`` uses."""

SERVER_NAME = "maildird"
MAX_ID_LOG = 30
"""ID parameters logged at most (RFC 2971 §3.3 allows 30 pairs)."""


def plaintext_allowed(ctx: Context) -> bool:
    """May a password travel on this connection? TLS, or loopback when configured (Dovecot's
    "secured" rule, peers.md §2.6), or the administrator's explicit override (RFC 8314 §3)."""
    t = ctx.transport
    auth = ctx.config.auth
    return t.secure or (t.loopback and auth.plaintext_on_loopback) or auth.allow_plaintext


def _literal_capability(ctx: Context) -> str:
    # RFC 7888: LITERAL- when the server caps non-synchronizing literals at 4096 octets.
    return "LITERAL-" if ctx.config.limits.literal_minus else "LITERAL+"


def capabilities(ctx: Context) -> list[str]:
    """The capability list for the session's current state, transport and configuration."""
    caps = list(BASE_CAPABILITIES)
    if not ctx.authenticated:
        caps.extend(PRELOGIN_CAPABILITIES)
        caps.append(_literal_capability(ctx))
        if ctx.transport.starttls_available and not ctx.transport.secure:
            caps.append("STARTTLS")
        if plaintext_allowed(ctx):
            caps.append("AUTH=PLAIN")
        else:
            caps.append("LOGINDISABLED")
        return caps
    caps.extend(POSTLOGIN_CAPABILITIES)
    caps.extend(ctx.services.extra_capabilities)  # what command plug-ins announce
    caps.append(_literal_capability(ctx))
    caps.append(f"APPENDLIMIT={ctx.config.limits.max_append}")
    if ctx.config.mail.condstore:
        caps.extend(CONDSTORE_CAPABILITIES)
    caps.append(COMPRESS_CAPABILITY)
    return caps


def capability_code(ctx: Context) -> Code:
    """``[CAPABILITY ...]`` for a greeting or the tagged OK of a login (RFC 9051 §7.1)."""
    return Code("CAPABILITY", tuple(Atom(c) for c in capabilities(ctx)))


async def capability(ctx: Context, c: cmd.Capability) -> Tagged:
    """RFC 9051 §6.1.1."""
    await ctx.send(Untagged((Atom("CAPABILITY"), *(Atom(x) for x in capabilities(ctx)))))
    if not ctx.authenticated:
        return Tagged(c.tag, "OK", "Pre-login capabilities listed, post-login capabilities have more.")
    return Tagged(c.tag, "OK", "CAPABILITY completed.")


_NOOP_TEXTS = {cmd.Noop: "NOOP completed.", cmd.Check: "CHECK completed."}


async def noop(ctx: Context, c: cmd.Noop | cmd.Check) -> Tagged:
    """RFC 9051 §6.1.2 (and CHECK, RFC 3501 §6.4.1): the pending updates go out in ``handle``."""
    return Tagged(c.tag, "OK", _NOOP_TEXTS[type(c)])


async def id_(ctx: Context, c: cmd.Id) -> Tagged:
    """RFC 2971 §3.1: log what the client says, answer with our name and version."""
    if c.params:
        shown = ", ".join(f"{safe(k)}={safe(v)}" for k, v in c.params[:MAX_ID_LOG])
        ctx.log.info("client id from %s: %s", ctx.transport.peer, shown)
    ctx.client_id = c.params
    server = ctx.config.server
    ours: list[Value] = ["name", server.id_name or SERVER_NAME, "version", maildird.__version__]
    if server.id_vendor:
        ours += ["vendor", server.id_vendor]
    if server.id_support_url:
        ours += ["support-url", server.id_support_url]  # RFC 2971 §3.3 field names
    await ctx.send(Untagged((Atom("ID"), tuple(ours))))
    return Tagged(c.tag, "OK", "ID completed.")


async def enable(ctx: Context, c: cmd.Enable) -> Tagged:
    """RFC 5161 §3.1: ``* ENABLED`` lists what this command newly enabled; unknown names are ignored.

    QRESYNC implies CONDSTORE (RFC 7162 §3.2.3). With CONDSTORE switched off in the configuration
    neither is advertised, so neither can be enabled.
    """
    newly: list[str] = []
    condstore_ok = ctx.config.mail.condstore
    condstore_before = ctx.condstore
    for name in c.capabilities:
        key = name.upper()
        if key not in ENABLEABLE or key in ctx.enabled:
            continue
        if key in ("CONDSTORE", "QRESYNC") and not condstore_ok:
            continue
        ctx.enabled.add(key)
        newly.append(ENABLEABLE[key])
        if key == "QRESYNC":
            ctx.enabled.add("CONDSTORE")
    if ctx.condstore and not condstore_before:
        ctx.enabled.discard("CONDSTORE")
        await enable_condstore(ctx)  # HIGHESTMODSEQ of a selected mailbox
    await ctx.send(Untagged((Atom("ENABLED"), *(Atom(n) for n in newly))))
    return Tagged(c.tag, "OK", "ENABLE completed.")
