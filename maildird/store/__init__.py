"""Message stores: the interface (base), the per-connection view, and the Maildir implementation."""
