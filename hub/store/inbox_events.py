"""'These agencies have new packets', sent with the transaction that put the packets in their
inboxes (``hub.store.notify``), and the dedicated PostgreSQL connection that listens for it.

The payload is agency ids and nothing else: no packet, case, subject or person. A listener that
misses one (its connection dropped) cannot tell what it missed, so it tells everyone to refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.store.notify import Note, notify

CHANNEL = "mappa_hub_inbox"
# PostgreSQL refuses payloads of 8,000 bytes or more: far more agencies than a share can reach.
_MAX_PAYLOAD = 7_900
_CLOSE_SECONDS = 2.0


async def announce(conn: AsyncConnection, agency_ids: Iterable[int]) -> None:
    """In the caller's write transaction: the agencies' inboxes changed (sent on commit)."""
    note = announcement(agency_ids)
    if note is not None:
        await notify(conn, *note)


def announcement(agency_ids: Iterable[int]) -> Note | None:
    """The note that announces the agencies' inboxes changed, for a caller that sends it with
    a statement of its own (``hub.store.notification_settings.recipients``); None for none."""
    ids = sorted({int(a) for a in agency_ids})
    if not ids:
        return None
    payload = ",".join(str(a) for a in ids)
    if len(payload) > _MAX_PAYLOAD:  # pragma: no cover - thousands of agencies in one batch
        payload = "*"
    return CHANNEL, payload


def agencies_in(payload: str) -> frozenset[int] | None:
    """The agency ids a payload names; None for every agency ('*'). Anything malformed names
    none: the channel's name is no secret, and any session on the database may notify on it."""
    if payload == "*":
        return None
    ids: set[int] = set()
    for part in payload.split(","):
        if not (part.isascii() and part.isdigit()) or len(part) > 12:
            return frozenset()
        ids.add(int(part))
    return frozenset(ids)


APPLICATION_NAME = "mappa-hub live inbox"


class PostgresListener:
    """One connection of its own (not from the pool: a pooled connection is reset and reused),
    LISTENing on ``CHANNEL``. ``lost`` is set when the connection goes, however it goes."""

    def __init__(self, conn: Any, on_payload: Callable[[str], None]) -> None:
        self._conn = conn
        self._on_payload = on_payload
        self.lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: self.lost.set())

    @classmethod
    async def connect(
        cls, engine: AsyncEngine, on_payload: Callable[[str], None], within: float
    ) -> PostgresListener:
        import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL gateways import it

        # The engine's own connection arguments (host, user, password, ssl...), driver-ready.
        _, kwargs = engine.dialect.create_connect_args(engine.url)
        # Named, so that an operator (and a test) can tell it in pg_stat_activity: its last
        # query is the LISTEN or a ping, which says nothing about whose connection it is.
        settings = {**kwargs.get("server_settings", {}), "application_name": APPLICATION_NAME}
        conn = await asyncpg.connect(**{**kwargs, "server_settings": settings, "timeout": within})
        listener = cls(conn, on_payload)
        try:
            await conn.add_listener(CHANNEL, listener._notified)
        except BaseException:
            await listener.close()
            raise
        return listener

    @property
    def backend_pid(self) -> int:
        return int(self._conn.get_server_pid())

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_payload(payload)

    async def ping(self, within: float) -> None:
        """A round trip: a connection dropped without a word (a cut network) shows up here."""
        await self._conn.fetchval("SELECT 1", timeout=within)

    async def close(self) -> None:
        if not self._conn.is_closed():
            try:
                await self._conn.close(timeout=_CLOSE_SECONDS)
            except Exception:  # already half gone: drop it without the goodbye
                self._conn.terminate()
        self.lost.set()
