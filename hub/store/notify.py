"""Notifications that go out when a write transaction commits, never before and never after a
rollback: PostgreSQL's NOTIFY, and on SQLite the same within the process.

``notify(conn, channel, payload)`` is called inside a write transaction. PostgreSQL queues the
notification with the transaction and delivers it to every listening session on commit. SQLite
has no such thing, so ``Database`` collects the notes of each write job (``collecting``) and hands
those of committed jobs to this process's ``LocalListeners`` once the commit has returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Text, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.hot import HotRead

log = logging.getLogger("hub.store.notify")

Note = tuple[str, str]  # (channel, payload)
Listener = Callable[[str], None]

# The notes of the write job running in this context (a task, or a database worker thread).
_PENDING: ContextVar[list[Note] | None] = ContextVar("mappa_hub_pending_notes", default=None)
# Every share batch sends one: on the driver, inside the job's transaction (hub.store.hot), it
# costs the hub 70-100 µs less than SQLAlchemy's execution of it (python -m bench.write_job).
# PostgreSQL's NOTIFY as a one-row SELECT of ``channel`` and ``payload``; also a subquery of a
# statement that sends its note with what it reads (``notification_settings.recipients``).
PG_NOTIFY_SELECT = select(
    func.pg_notify(bindparam("channel", type_=Text), bindparam("payload", type_=Text)).label("sent")
)
_PG_NOTIFY = HotRead(PG_NOTIFY_SELECT)


async def notify(conn: AsyncConnection, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when the caller's write transaction commits."""
    if conn.dialect.name == "postgresql":
        await _PG_NOTIFY.all_in_transaction(conn, {"channel": channel, "payload": payload})
        return
    pending = _PENDING.get()
    if pending is None:
        # A note outside Database.write()/run_write() would never be delivered: fail loudly.
        raise RuntimeError("notify() outside a write transaction")
    pending.append((channel, payload))


@contextmanager
def collecting() -> Iterator[list[Note]]:
    """The notes sent by the code run inside, for the caller to deliver once it has committed."""
    pending: list[Note] = []
    token = _PENDING.set(pending)
    try:
        yield pending
    finally:
        _PENDING.reset(token)


class LocalListeners:
    """SQLite's stand-in for LISTEN: callbacks by channel, called on the event loop after the
    commit that carried the notes (``Database`` calls ``deliver``)."""

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Listener]] = {}

    def add(self, channel: str, callback: Listener) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    def remove(self, channel: str, callback: Listener) -> None:
        callbacks = self._callbacks.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)

    def deliver(self, notes: Sequence[Note]) -> None:
        for channel, payload in notes:
            for callback in list(self._callbacks.get(channel, ())):
                try:
                    callback(payload)
                except Exception:  # a listener's fault must not fail the commit's caller
                    log.exception("a listener on %s failed", channel)
