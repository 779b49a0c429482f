"""Benchmarks: maildird side by side with Dovecot on copies of the same generated Maildir (see README.md)."""
