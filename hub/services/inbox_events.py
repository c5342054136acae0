"""Live inboxes: 'your agency has new packets', pushed to the inbox pages open on this process.

The transaction that puts packets in inboxes announces their agencies (``notices.packets_delivered``
sends ``hub.store.inbox_events.announcement`` with its read of the people told), so nothing
uncommitted is ever announced. Each gateway process hears the announcements once and fans them
out to its subscribers (one per open page):

- PostgreSQL: one dedicated connection LISTENs (every process, so every worker of ``serve
  --workers N``, has its own). If it drops (PostgreSQL restarted, the backend was terminated, the
  network went) it reconnects with backoff, and then tells every subscriber to refresh: what was
  announced while it was away is lost.
- SQLite: ``Database`` hands the announcements of each committed write to this process directly,
  and passes them to the other processes on the same file (``serve --workers N``) as Unix
  datagrams (``hub.store.notify_relay``; best effort: a page that missed one catches up at its
  next event or reload).

A subscriber hears only that its own agency's inbox changed, never what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hub.errors import HubError
from hub.store import inbox_events as store
from hub.store.database import Database

log = logging.getLogger("hub.inbox_events")

INBOX = "inbox"  # the agency's inbox changed: fetch it again
REFRESH = "refresh"  # announcements may have been missed (the listener reconnected)
SUPERSEDED = "superseded"  # the session opened more streams than allowed: its oldest ends
SHUTDOWN = "shutdown"  # the server is stopping
_FINAL = frozenset({SUPERSEDED, SHUTDOWN})

# A browser keeps at most six HTTP/1.1 connections to a site: a few tabs with a stream each must
# leave it some for pages. Each stream holds a socket, so a process holds a bounded number.
STREAMS_PER_SESSION = 3
MAX_STREAMS = 500

_FIRST_RETRY = 0.1
_MAX_RETRY = 5.0
_CONNECT_TIMEOUT = 5.0
_PING_EVERY = 10.0
_PING_TIMEOUT = 5.0


class TooManyStreams(HubError):
    status = 503
    code = "too_many_streams"


class Subscription:
    """One open page's events, coalesced: ten arrivals before the page reads are one event."""

    def __init__(self, events: InboxEvents, agency_id: int, owner: str) -> None:
        self._events = events
        self.agency_id = agency_id
        self.owner = owner
        self._pending: list[str] = []
        self._ready = asyncio.Event()
        self.ended = False

    def push(self, kind: str) -> None:
        if self.ended:
            return
        if kind in _FINAL:
            self.ended = True
            self._pending = [kind]
        elif kind in self._pending:
            return
        else:
            self._pending.append(kind)
        self._ready.set()

    async def next(self, within: float) -> str | None:
        """The next event, or None if none came within ``within`` seconds."""
        if not self._pending:
            try:
                await asyncio.wait_for(self._ready.wait(), max(0.0, within))
            except TimeoutError:
                return None
        kind = self._pending.pop(0)
        if not self._pending:
            self._ready.clear()
        return kind

    def close(self) -> None:
        self._events._drop(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class InboxEvents:
    def __init__(
        self,
        db: Database,
        *,
        per_session: int = STREAMS_PER_SESSION,
        max_streams: int = MAX_STREAMS,
    ) -> None:
        self._db = db
        self._per_session = per_session
        self._max_streams = max_streams
        self._by_agency: dict[int, set[Subscription]] = {}
        self._by_owner: dict[str, list[Subscription]] = {}
        self._listener: store.PostgresListener | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Set while the LISTEN connection is up (PostgreSQL); always, on SQLite.
        self.listening = asyncio.Event()
        if db.is_sqlite:
            db.local.add(store.CHANNEL, self._heard)
            self.listening.set()

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe(self, agency_id: int, owner: str) -> Subscription:
        """A stream for a page of ``agency_id``'s inbox, opened by ``owner`` (a session). Past
        the per-session limit the owner's oldest stream ends (its page stops listening: a
        forgotten tab, or a page already closed whose stream has not noticed yet)."""
        if self._stopping:
            raise TooManyStreams("The server is stopping: reload the page shortly.")
        mine = self._by_owner.setdefault(owner, [])
        while len(mine) >= self._per_session:
            oldest = mine[0]
            oldest.push(SUPERSEDED)
            self._drop(oldest)
        if self.open_streams >= self._max_streams:
            raise TooManyStreams("Live updates are busy on this server: reload to see new packets.")
        sub = Subscription(self, agency_id, owner)
        self._by_agency.setdefault(agency_id, set()).add(sub)
        mine.append(sub)
        return sub

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self._by_agency.values())

    def _drop(self, sub: Subscription) -> None:
        agency = self._by_agency.get(sub.agency_id)
        if agency is not None:
            agency.discard(sub)
            if not agency:
                del self._by_agency[sub.agency_id]
        mine = self._by_owner.get(sub.owner)
        if mine is not None and sub in mine:
            mine.remove(sub)
            if not mine:
                del self._by_owner[sub.owner]

    def _heard(self, payload: str) -> None:
        agencies = store.agencies_in(payload)
        if agencies is None:
            self._push_all(INBOX)
            return
        for agency_id in agencies:
            for sub in list(self._by_agency.get(agency_id, ())):
                sub.push(INBOX)

    def _push_all(self, kind: str) -> None:
        for subs in list(self._by_agency.values()):
            for sub in list(subs):
                sub.push(kind)

    # -- the listener ---------------------------------------------------------------------------

    @property
    def listener_pid(self) -> int | None:
        """The PostgreSQL backend of the LISTEN connection, while it is up."""
        return self._listener.backend_pid if self._listener is not None else None

    async def start(self, wait: float = _CONNECT_TIMEOUT) -> None:
        """Start listening (PostgreSQL); return once listening, or after ``wait`` seconds: the
        listener keeps trying, and pages work by reload meanwhile."""
        self._stopping = False
        if self._db.is_sqlite:
            # The other processes on the same file (serve --workers N) pass theirs on too.
            await self._db.listen_to_siblings()
            return
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._listen())
        try:
            await asyncio.wait_for(self.listening.wait(), wait)
        except TimeoutError:
            log.warning("live inbox: not listening yet; still trying")

    def end_streams(self) -> None:
        """End every open stream (the server is stopping: aiohttp waits for open requests)."""
        self._stopping = True
        self._push_all(SHUTDOWN)
        self._by_agency.clear()
        self._by_owner.clear()

    async def stop(self) -> None:
        self.end_streams()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        delay = _FIRST_RETRY
        while True:
            try:
                listener = await store.PostgresListener.connect(
                    self._db.engine, self._heard, _CONNECT_TIMEOUT
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, unreachable, timed out, shutting down...
                # Said once per outage (a restart of PostgreSQL is noisy enough), then quietly.
                log.log(
                    logging.WARNING if delay == _FIRST_RETRY else logging.INFO,
                    "live inbox: cannot listen (%s); retrying in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY)
                continue
            self._listener, delay = listener, _FIRST_RETRY
            self.listening.set()
            # Whatever was announced before this LISTEN (while reconnecting) is lost: every page
            # fetches its inbox again. At start-up there is no page to tell.
            self._push_all(REFRESH)
            try:
                await self._watch(listener)
            finally:
                self.listening.clear()
                self._listener = None
                await listener.close()
            log.warning("live inbox: the LISTEN connection dropped; reconnecting")

    @staticmethod
    async def _watch(listener: store.PostgresListener) -> None:
        """Until the connection goes: closed by the server, or silent to a ping."""
        while not listener.lost.is_set():
            try:
                await asyncio.wait_for(listener.lost.wait(), _PING_EVERY)
            except TimeoutError:
                try:
                    await listener.ping(_PING_TIMEOUT)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    return
