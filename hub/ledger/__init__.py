"""The log of every share and every read: entry encoding and chain verification (no I/O)."""
