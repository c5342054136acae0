"""SQLite's notes passed between the processes of one box (``serve --workers N``).

PostgreSQL delivers a NOTIFY to every listening process; SQLite has no such thing, so a process
that commits hands its notes to its own listeners (``LocalListeners``) and sends them here to its
siblings on the same database file: one Unix datagram per commit to each. Each listening process
binds a socket in Linux's abstract namespace (no file, no 108-byte path limit) under a random name,
and registers the name in a directory beside the database, ``<database>.notify/``, which only the
service user can read (mode 0700): only it can learn where to send. A name whose process has gone
answers "connection refused" and is removed. Best effort by design: a datagram that cannot be
sent at once (the receiver's queue full) is dropped, and the page it was for catches up at its
next event or reload, as after a lost PostgreSQL notification.

The sender remembers the names it read, and reads the directory again when it changed (its
modification time), and at least every ``RELIST_SECONDS``: listing it and reading each name on
every commit cost more than the datagrams (at 500 shares/s a commit holds one or two). A listing
is remembered only once the directory has been still for ``SETTLE_NS``: the modification time is
kept in clock ticks, so a registration made in the tick of the listing could otherwise go unseen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hub.store.notify import Note

log = logging.getLogger("hub.store.notify")

Deliver = Callable[[Sequence[Note]], None]
# Notes per datagram: a group commit of many shares becomes a few datagrams, each well under the
# kernel's default socket buffer.
_PER_DATAGRAM = 64
# The registrations are read again at least this often, and a listing is remembered only if the
# directory had not changed for this long (see the module's note).
RELIST_SECONDS = 1.0
SETTLE_NS = 50_000_000


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            notes = [(str(c), str(p)) for c, p in json.loads(data)]
        except (ValueError, TypeError):  # not ours: ignore it
            return
        self._deliver(notes)


class SiblingRelay:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._registration: Path | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._sender: socket.socket | None = None
        # The siblings' addresses by registration, as last read, and what the directory was then.
        self._addresses: dict[Path, str] = {}
        self._listed: tuple[int, int] | None = None
        self._listed_at = 0.0

    async def listen(self, deliver: Deliver) -> None:
        """Receive the siblings' notes (until ``close``)."""
        if self._transport is not None:
            return
        self._dir.mkdir(mode=0o700, exist_ok=True)
        name = f"\0mappa-hub-notify-{secrets.token_hex(16)}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(name)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(deliver), sock=sock
        )
        registration = self._dir / f"{os.getpid()}-{secrets.token_hex(4)}"
        registration.write_text(name[1:])
        self._registration = registration

    def send(self, notes: Sequence[Note]) -> None:
        """Pass ``notes`` (committed) to every other listening process on this database."""
        if not notes:
            return
        siblings = self._siblings()
        if not siblings:
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        datagrams = [
            json.dumps(list(notes[i : i + _PER_DATAGRAM])).encode()
            for i in range(0, len(notes), _PER_DATAGRAM)
        ]
        for registration, address in list(siblings.items()):
            for datagram in datagrams:
                try:
                    self._sender.sendto(datagram, address)
                except ConnectionRefusedError:  # its process has gone
                    registration.unlink(missing_ok=True)
                    self._addresses.pop(registration, None)
                    break
                except OSError as exc:  # its queue is full: best effort
                    log.debug("a note to a sibling process was dropped (%s)", type(exc).__name__)
                    break

    def _siblings(self) -> dict[Path, str]:
        """The other processes' addresses by registration: remembered, read again when the
        directory changed, was not yet settled, or ``RELIST_SECONDS`` passed (module's note)."""
        try:
            seen = os.stat(self._dir)
        except OSError:  # no process listens yet
            return {}
        now = time.monotonic()
        state = (seen.st_ino, seen.st_mtime_ns)
        if state == self._listed and now - self._listed_at < RELIST_SECONDS:
            return self._addresses
        addresses: dict[Path, str] = {}
        complete = True
        try:
            listed = list(self._dir.iterdir())
        except OSError:  # removed meanwhile
            return {}
        for registration in listed:
            if registration == self._registration:
                continue
            try:
                name = registration.read_text()
            except OSError:  # removed meanwhile
                continue
            if name:
                addresses[registration] = "\0" + name
            else:  # created, its name not yet written: read the directory again next time
                complete = False
        settled = time.time_ns() - seen.st_mtime_ns > SETTLE_NS
        self._addresses, self._listed_at = addresses, now
        self._listed = state if complete and settled else None
        return addresses

    def close(self) -> None:
        if self._registration is not None:
            self._registration.unlink(missing_ok=True)
            self._registration = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._sender is not None:
            self._sender.close()
            self._sender = None
