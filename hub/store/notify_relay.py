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
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from hub.store.notify import Note

log = logging.getLogger("hub.store.notify")

Deliver = Callable[[Sequence[Note]], None]
# Notes per datagram: a group commit of many shares becomes a few datagrams, each well under the
# kernel's default socket buffer.
_PER_DATAGRAM = 64


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
        if not notes or not self._dir.is_dir():
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        datagrams = [
            json.dumps(list(notes[i : i + _PER_DATAGRAM])).encode()
            for i in range(0, len(notes), _PER_DATAGRAM)
        ]
        for registration in self._dir.iterdir():
            if registration == self._registration:
                continue
            try:
                address = "\0" + registration.read_text()
            except OSError:  # removed meanwhile
                continue
            for datagram in datagrams:
                try:
                    self._sender.sendto(datagram, address)
                except ConnectionRefusedError:  # its process has gone
                    registration.unlink(missing_ok=True)
                    break
                except OSError as exc:  # its queue is full: best effort
                    log.debug("a note to a sibling process was dropped (%s)", type(exc).__name__)
                    break

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
