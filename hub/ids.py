"""Packet ids: UUIDs of version 7 (RFC 9562), led by the packet's creation time.

A share's rows go into every index keyed by its packet id: the packet's, its parts', its wrapped
keys', its recipients' and its log entry's. A random id (version 4) put each share on a random
page of each of them, a page that on a database of millions of packets is seldom in the cache:
read from the disk, rewritten whole in the write-ahead log, copied back at the checkpoint.
On SQLite that was about 90 KB written and 15 reads a share at 200,000 packets, and on
PostgreSQL a third more write-ahead log and server CPU (bench/README.md, twenty-second session).
A version 7 id begins with the creation time in milliseconds, so new shares go in side by side
at the end of each index, as they do in the indexes on creation time.

The other 74 bits are random (the version and variant take the rest), so an id is no easier to
guess than before; the hub never relied on that, as every read checks who may see the packet.
The time it carries is the packet's own ``created_at``, which everyone shown the id can read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from uuid_utils import uuid7

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def packet_id(created: datetime) -> str:
    """A new packet id for a packet created at ``created`` (an aware datetime), in the lowercase
    8-4-4-4-12 form: its first 48 bits are ``created`` in Unix milliseconds."""
    if created.tzinfo is None:
        raise ValueError("packet_id needs an aware datetime")
    # uuid_utils' own UUID writes its text in Rust: a third of the time of the standard
    # library's class, which ``uuid_utils.compat`` would build first (bench/README.md).
    return str(uuid7(nanoseconds=(created - _EPOCH) // timedelta(microseconds=1) * 1000))
