"""Folder layout: IMAP mailbox names <-> Maildir directories (maildir-format.md §2).

Theory of operation:

* ``MaildirPlusPlus`` (Dovecot's default for ``maildir:``): the root is INBOX; folder ``A.B`` is the
  sibling directory ``<root>/.A.B`` holding ``cur new tmp`` and an empty ``maildirfolder`` file.
  The hierarchy delimiter is ``.``; parents never materialise. Each component is stored in modified
  UTF-7 (RFC 3501 §5.1.3) like Dovecot 2.3, or raw UTF-8 with ``utf8_names`` (Dovecot ``:UTF-8``).
  Listing skips non-directories, ``.INBOX`` (hidden behind the real INBOX), ``..DOVECOT-TRASHED``
  and other ``..`` names; with ``mbsync_inbox_children`` mbsync's ``..X`` (SubFolders Maildir++)
  is listed as ``INBOX.X`` (§2.4).
* ``FsLayout`` (Dovecot ``LAYOUT=fs``, mbsync ``SubFolders Verbatim``): folder ``Foo/Bar`` is
  ``<root>/Foo/Bar/{cur,new,tmp}``; intermediate directories without ``cur/`` are ``\\Noselect``.
  The delimiter on the wire is ``/``, as with Dovecot's LAYOUT=fs, so ``.`` is an ordinary character
  (E6: ``Maildir/a.b/``). ``cur``, ``new`` and ``tmp`` are reserved component names.
* Existing directories whose names are not canonical (raw UTF-8 from Courier/mbsync, invalid
  mUTF-7) are listed under their literal name and found again by ``path_for``.
* DELETE renames the folder to ``<root>/..DOVECOT-TRASHED`` and removes that tree (Dovecot).
  RENAME moves children too. Renaming INBOX moves its messages into the new folder and leaves
  INBOX empty (RFC 3501 §6.3.5), under INBOX's uidlist lock.

The shared rules live in :mod:`.layout_common`, Maildir++ in :mod:`.maildirpp`, LAYOUT=fs in
:mod:`.fs_layout`; this module picks one from configuration (:func:`make_layout`) and re-exports the names
the store imports from here.  All methods do blocking file-system work: call them from worker threads.
"""

from __future__ import annotations

from pathlib import Path

from maildird.store.base import MailboxExists as MailboxExists
from maildird.store.base import MailboxNotFound as MailboxNotFound
from maildird.store.maildir.fs_layout import FsLayout as FsLayout
from maildird.store.maildir.layout_common import FS_DELETE_STAGING as FS_DELETE_STAGING
from maildird.store.maildir.layout_common import INBOX as INBOX
from maildird.store.maildir.layout_common import KEYWORDS_NAME as KEYWORDS_NAME
from maildird.store.maildir.layout_common import MAILDIR_SUBDIRS as MAILDIR_SUBDIRS
from maildird.store.maildir.layout_common import MAILDIRFOLDER_NAME as MAILDIRFOLDER_NAME
from maildird.store.maildir.layout_common import MAX_FS_DEPTH as MAX_FS_DEPTH
from maildird.store.maildir.layout_common import NAME_MAX as NAME_MAX
from maildird.store.maildir.layout_common import TRASH_NAME as TRASH_NAME
from maildird.store.maildir.layout_common import TRASH_RETRIES as TRASH_RETRIES
from maildird.store.maildir.layout_common import InboxNotAllowed as InboxNotAllowed
from maildird.store.maildir.layout_common import InvalidMailboxName as InvalidMailboxName
from maildird.store.maildir.layout_common import Layout as Layout
from maildird.store.maildir.layout_common import ensure_maildir as ensure_maildir
from maildird.store.maildir.layout_common import mutf7_decode, mutf7_encode
from maildird.store.maildir.maildirpp import MaildirPlusPlus as MaildirPlusPlus

__all__ = [
    "INBOX",
    "FsLayout",
    "InboxNotAllowed",
    "InvalidMailboxName",
    "Layout",
    "MailboxExists",
    "MailboxNotFound",
    "MaildirPlusPlus",
    "ensure_maildir",
    "make_layout",
]

# Kept importable from here under their old private names (tests and older callers).
_mutf7_decode = mutf7_decode
_mutf7_encode = mutf7_encode


def make_layout(
    root: Path, kind: str = "maildir++", *, utf8_names: bool = False, mbsync_inbox_children: bool = False
) -> MaildirPlusPlus | FsLayout:
    """Build a layout from configuration: ``kind`` is ``"maildir++"`` or ``"fs"``."""
    if kind == "maildir++":
        return MaildirPlusPlus(root, utf8_names=utf8_names, mbsync_inbox_children=mbsync_inbox_children)
    if kind == "fs":
        return FsLayout(root, utf8_names=utf8_names)
    raise ValueError(f"unknown Maildir layout {kind!r} (use 'maildir++' or 'fs')")
