"""The web inbox's pages: filtered, paged by keyset, and searched by subject words.

Subjects are encrypted at rest and stay so: a search by subject words decrypts and matches in
memory, after the filters on columns in clear (case, agency, type, dates) have narrowed the rows,
scanning at most ``SCAN_LIMIT`` rows a request. Nothing derived from a subject (an index, a
digest, a word list) is ever stored. A part of ``hub.services.packet_listing.PacketListing``, which
checks the reader's role and decrypts the subjects (split by resource, as Synapse splits a store).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import InvalidInput
from hub.model.packets import PacketSummary
from hub.services.actor import Actor
from hub.services.listed_subjects import PLACEHOLDERS
from hub.store import box_pages, packet_reads
from hub.store import packets as store
from hub.store.box_pages import MAX_BOX_LIMIT, BoxPage, ListedRow
from hub.store.database import Database
from hub.store.packets import Box, PacketFilter, Position, StoredWrappedKey
from hub.text import check_line

PAGE_SIZE = 50
# A subject search decrypts at most this many rows per request (newest first from where the
# page starts), read this many at a time; the page says so when the bound stopped it.
SCAN_LIMIT = 2000
SCAN_BATCH = 200
# Totals are counted no further than this (an index range of at most this many entries).
COUNT_CAP = 1000
MAX_SEARCH_WORDS = 8
MAX_SEARCH_CHARS = 200


def search_words(text: str) -> tuple[str, ...]:
    """The words a subject must all contain (case-insensitive), from what was typed.

    A hidden character (``hub.text``) is refused with the search kept in its box, not removed:
    removed, the search would silently be for something other than what was typed (a subject
    copied with its hidden characters would then match nothing, or more than it should)."""
    text = check_line(text.strip(), "subject", "your search")
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidInput(f"Search with {MAX_SEARCH_CHARS} characters or fewer.", field="subject")
    words = tuple(dict.fromkeys(w.casefold() for w in text.split()))
    if len(words) > MAX_SEARCH_WORDS:
        raise InvalidInput(f"Search with {MAX_SEARCH_WORDS} words or fewer.", field="subject")
    return words


def _matches(subject: str, words: Sequence[str]) -> bool:
    if subject in PLACEHOLDERS:
        return False
    folded = subject.casefold()
    return all(w in folded for w in words)


@dataclass(frozen=True)
class ReadPage:
    """Packets as read in one snapshot: rows, the reader's wrapped keys, manifests, references
    and which of them the reading person has opened."""

    rows: Sequence[ListedRow]
    keys: Mapping[str, Sequence[StoredWrappedKey]]
    manifests: Mapping[str, bytes]
    references: Mapping[int, str]
    read: frozenset[str] = frozenset()


async def _with_reads(
    conn: AsyncConnection,
    actor: Actor,
    found: BoxPage,
    rows: list[ListedRow],
    *,
    reads: bool,
) -> ReadPage:
    """``rows`` (of ``found``), with which of them the reading person has opened if ``reads``."""
    read = await packet_reads.read_among(conn, actor.user.id, [r.id for r in rows]) if reads else ()
    return ReadPage(rows, found.keys, found.manifests, found.references, frozenset(read))


@dataclass(frozen=True)
class ListingPage:
    """One page of a box, newest first."""

    rows: list[PacketSummary]
    # Packets on the page the signed-in person has not opened (inbox only).
    unread: frozenset[str]
    # Cursors: the page's first and last rows, and whether newer or older rows exist.
    newer: Position | None
    older: Position | None
    # Without a subject search: the filtered box's size and the rows before this page, each
    # counted up to COUNT_CAP (``None`` beyond it); with one, both ``None``.
    total: int | None
    offset: int | None
    # A subject search: how many rows it decrypted, and whether SCAN_LIMIT stopped it.
    searched: bool = False
    scanned: int = 0
    scan_limited: bool = False


def _position(s: PacketSummary) -> Position:
    return Position(s.created_at, s.id)


# Decrypts a page's subjects (``PacketListing._summaries``).
Summaries = Callable[[Actor, ReadPage], Awaitable[list[PacketSummary]]]


class InboxPages:
    """The web inbox's pages, read in one snapshot each and decrypted by ``summaries``."""

    def __init__(self, db: Database, summaries: Summaries) -> None:
        self._db = db
        self._summaries = summaries

    async def page(
        self,
        actor: Actor,
        box: Box,
        flt: PacketFilter | None = None,
        words: Sequence[str] = (),
        *,
        before: Position | None = None,
        after: Position | None = None,
        limit: int = PAGE_SIZE,
    ) -> ListingPage:
        """A page of the actor's inbox or sent packets, filtered, optionally searched by subject
        words, starting older than ``before`` or (Previous) just newer than ``after``. (The
        caller has checked that the actor's role reads content.)"""
        flt = flt or PacketFilter()
        limit = max(1, min(limit, MAX_BOX_LIMIT))
        if words:
            return await self._search(actor, box, flt, tuple(words), before, after, limit)
        agency = actor.agency.id

        async def load(conn: AsyncConnection) -> tuple[ReadPage, bool, int, int | None]:
            found = await box_pages.listing(
                conn, box, agency, flt, limit + 1, before=before, after=after
            )
            more, rows = len(found.rows) > limit, found.rows[:limit]
            page = await _with_reads(conn, actor, found, rows, reads=box == "inbox")
            total = await store.count_listing(conn, box, agency, flt, COUNT_CAP + 1)
            offset = None
            if rows:
                newest = rows[-1] if after is not None else rows[0]
                offset = await store.count_listing(
                    conn,
                    box,
                    agency,
                    flt,
                    COUNT_CAP + 1,
                    newer_than=Position(newest.created_at, newest.id),
                )
            return page, more, total, offset

        page, more, total, offset = await self._db.run_read(load)
        summaries = await self._summaries(actor, page)
        if after is not None:
            summaries.reverse()
        return self._finish(
            box,
            summaries,
            page.read,
            more=more,
            before=before,
            after=after,
            total=None if total > COUNT_CAP else total,
            offset=None if offset is None or offset > COUNT_CAP else offset,
        )

    async def _search(
        self,
        actor: Actor,
        box: Box,
        flt: PacketFilter,
        words: tuple[str, ...],
        before: Position | None,
        after: Position | None,
        limit: int,
    ) -> ListingPage:
        """Decrypt subjects batch by batch, after the cheap filters, until a page and one more
        match are found, the rows run out, or SCAN_LIMIT rows have been read."""
        found: list[PacketSummary] = []
        read: set[str] = set()
        scanned, exhausted = 0, False
        cursor_before, cursor_after = before, after
        while len(found) <= limit and scanned < SCAN_LIMIT:
            batch = min(SCAN_BATCH, SCAN_LIMIT - scanned)

            async def load(
                conn: AsyncConnection,
                batch: int = batch,
                b: Position | None = cursor_before,
                a: Position | None = cursor_after,
            ) -> ReadPage:
                found = await box_pages.listing(
                    conn, box, actor.agency.id, flt, batch, before=b, after=a
                )
                return await _with_reads(conn, actor, found, found.rows, reads=box == "inbox")

            page = await self._db.run_read(load)
            scanned += len(page.rows)
            read |= page.read
            for summary in await self._summaries(actor, page):
                if _matches(summary.subject, words):
                    found.append(summary)
            if len(page.rows) < batch:
                exhausted = True
                break
            last = page.rows[-1]
            if after is not None:
                cursor_after = Position(last.created_at, last.id)
            else:
                cursor_before = Position(last.created_at, last.id)
        more = len(found) > limit
        found = found[:limit]
        if after is not None:
            found.reverse()
        finished = self._finish(
            box,
            found,
            frozenset(read),
            more=more,
            before=before,
            after=after,
            total=None,
            offset=None,
        )
        limited = not exhausted and not more
        if limited:
            # The bound stopped the scan: the next page reads on from the last row read.
            if after is not None:
                finished = replace(finished, newer=cursor_after)
            else:
                finished = replace(finished, older=cursor_before)
        return replace(finished, searched=True, scanned=scanned, scan_limited=limited)

    @staticmethod
    def _finish(
        box: Box,
        rows: list[PacketSummary],
        read: frozenset[str],
        *,
        more: bool,
        before: Position | None,
        after: Position | None,
        total: int | None,
        offset: int | None,
    ) -> ListingPage:
        """The cursors of a page. Going on (``before``), there are newer rows if we came from
        them and older ones if more were found; going back (``after``), the other way round."""
        first = _position(rows[0]) if rows else None
        last = _position(rows[-1]) if rows else None
        newer: Position | None
        older: Position | None
        if after is not None:
            newer = first if more else None
            older = last or after
        else:
            newer = (first or before) if before is not None else None
            older = last if more else None
        unread = frozenset(r.id for r in rows if r.id not in read and r.subject not in PLACEHOLDERS)
        return ListingPage(
            rows=rows,
            unread=unread if box == "inbox" else frozenset(),
            newer=newer,
            older=older,
            total=total,
            offset=offset,
        )
