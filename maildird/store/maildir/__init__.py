"""The Maildir store: Dovecot-compatible Maildir++ / LAYOUT=fs folders (see maildir-format.md).

On-disk format modules: ``filenames`` (message file names and flags), ``uidlist`` (dovecot-uidlist),
``lock`` (the dovecot-uidlist.lock dotlock), ``keywords`` (dovecot-keywords), ``uidvalidity``
(the dovecot-uidvalidity counter), ``layout`` (folder name <-> directory) and ``subscriptions``.
"""
