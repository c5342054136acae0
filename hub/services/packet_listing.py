"""Listing packets: inbox and sent pages, filters, subject search and what the reader has opened.

Subjects are encrypted at rest and stay so: a listing decrypts the subjects it shows in memory,
and a search by subject words decrypts and matches in memory too, after the filters on columns
in clear (case, agency, type, dates) have narrowed the rows, scanning at most ``SCAN_LIMIT`` rows
a request. Nothing derived from a subject (an index, a digest, a word list) is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Forbidden, InvalidInput, NotFound
from hub.model.directory import Role
from hub.model.packets import PacketSummary, PacketType
from hub.services.actor import Actor
from hub.services.content_keys import ContentKeys
from hub.services.listed_subjects import (
    ELSEWHERE_SUBJECT,
    ERASED_SUBJECT,
    PLACEHOLDERS,
    UNREADABLE_SUBJECT,
    ListedSubjects,
)
from hub.store import box_pages, packet_reads
from hub.store import cases as case_store
from hub.store import packets as store
from hub.store.box_pages import MAX_BOX_LIMIT, BoxPage
from hub.store.database import Database
from hub.store.packets import Box, PacketFilter, PacketRow, Position, StoredWrappedKey
from hub.text import check_line

__all__ = [
    "ELSEWHERE_SUBJECT",
    "ERASED_SUBJECT",
    "UNREADABLE_SUBJECT",
    "Box",
    "ListingPage",
    "PacketFilter",
    "PacketListing",
    "Position",
    "require_reader",
    "summary_of",
]

# Senior managers read what their agency holds: they approve disclosures on what a proposal says.
# Agency administrators manage tokens and keys, and read no case content (least privilege).
READER_ROLES = (Role.PRACTITIONER, Role.COORDINATOR, Role.SENIOR_MANAGER)
ADMIN_REFUSED = (
    "Agency administrators manage API tokens and keys; they do not read packets or case content."
)

PAGE_SIZE = 50
# A subject search decrypts at most this many rows per request (newest first from where the
# page starts), read this many at a time; the page says so when the bound stopped it.
SCAN_LIMIT = 2000
SCAN_BATCH = 200
# Totals are counted no further than this (an index range of at most this many entries).
COUNT_CAP = 1000
MAX_SEARCH_WORDS = 8
MAX_SEARCH_CHARS = 200


def require_reader(actor: Actor) -> None:
    """Only the roles that read case content; an agency administrator never does, whether
    signed in or named as the person behind an API call (``On-Behalf-Of``)."""
    named = actor.person if actor.token_id is None or actor.person_named else None
    if actor.has_role(Role.AGENCY_ADMIN) or (named is not None and named.role is Role.AGENCY_ADMIN):
        raise Forbidden(ADMIN_REFUSED)
    if not actor.has_role(*READER_ROLES):
        raise Forbidden("Your role does not allow reading packet content.")


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
class _Page:
    """Packets as read in one snapshot: rows, the reader's wrapped keys, manifests, references
    and which of them the reading person has opened."""

    rows: Sequence[PacketRow]
    keys: Mapping[str, Sequence[StoredWrappedKey]]
    manifests: Mapping[str, bytes]
    references: Mapping[int, str]
    read: frozenset[str] = frozenset()


async def _page(
    conn: AsyncConnection, actor: Actor, rows: Sequence[PacketRow], *, reads: bool = False
) -> _Page:
    ids = [r.id for r in rows]
    keys, manifests = await store.keys_and_manifests_for(conn, ids, actor.agency.id)
    return _Page(
        rows,
        keys,
        manifests,
        await case_store.references_by_ids(conn, (r.case_id for r in rows)),
        frozenset(await packet_reads.read_among(conn, actor.user.id, ids))
        if reads
        else frozenset(),
    )


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


class PacketListing:
    def __init__(self, db: Database, keys: ContentKeys) -> None:
        self._db = db
        self._subjects = ListedSubjects(keys)

    # -- the API's listings ----------------------------------------------------------------

    async def inbox(
        self, actor: Actor, limit: int = 50, before: datetime | None = None
    ) -> list[PacketSummary]:
        require_reader(actor)

        async def load(conn: AsyncConnection) -> BoxPage:
            return await box_pages.inbox(conn, actor.agency.id, min(limit, MAX_BOX_LIMIT), before)

        return await self._summaries(actor, await self._db.run_read(load))

    async def outbox(
        self, actor: Actor, limit: int = 50, before: datetime | None = None
    ) -> list[PacketSummary]:
        require_reader(actor)

        async def load(conn: AsyncConnection) -> BoxPage:
            return await box_pages.outbox(conn, actor.agency.id, min(limit, MAX_BOX_LIMIT), before)

        return await self._summaries(actor, await self._db.run_read(load))

    async def summary(self, actor: Actor, packet_id: str) -> PacketSummary:
        """One packet as a listing shows it (subject decrypted in memory; not a consultation)."""
        require_reader(actor)

        async def load(conn: AsyncConnection) -> _Page:
            row = await store.packet_by_id(conn, packet_id)
            if row is None or (
                actor.agency.id != row.sender_agency_id
                and actor.agency.id not in row.recipient_agency_ids
                and not await store.holds_key_on_case(conn, actor.agency.id, row.id)
            ):
                raise NotFound("No such packet.")
            return await _page(conn, actor, [row])

        return (await self._summaries(actor, await self._db.run_read(load)))[0]

    # -- the inbox's pages -----------------------------------------------------------------

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
        words, starting older than ``before`` or (Previous) just newer than ``after``."""
        require_reader(actor)
        flt = flt or PacketFilter()
        limit = max(1, min(limit, 200))
        if words:
            return await self._search(actor, box, flt, tuple(words), before, after, limit)
        agency = actor.agency.id

        async def load(conn: AsyncConnection) -> tuple[_Page, bool, int, int | None]:
            rows = await store.listing(
                conn, box, agency, flt, limit + 1, before=before, after=after
            )
            more, rows = len(rows) > limit, rows[:limit]
            page = await _page(conn, actor, rows, reads=box == "inbox")
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
            ) -> _Page:
                rows = await store.listing(
                    conn, box, actor.agency.id, flt, batch, before=b, after=a
                )
                return await _page(conn, actor, rows, reads=box == "inbox")

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

    async def unread_count(self, actor: Actor) -> int:
        """Unread packets among the newest of the actor's inbox (``packet_reads.UNREAD_WINDOW``)."""
        if not actor.has_role(*READER_ROLES) or actor.token_id is not None:
            return 0
        async with self._db.read() as conn:
            return await packet_reads.unread_count(conn, actor.user.id, actor.agency.id)

    async def openable(self, actor: Actor, packet_ids: Sequence[str]) -> set[str]:
        """Which of these packets the actor may open: sent by or to their agency, and their
        role reads content. For links: a page offers none that would answer 403."""
        try:
            require_reader(actor)
        except Forbidden:
            return set()
        async with self._db.read() as conn:
            return await store.openable(conn, actor.agency.id, packet_ids)

    # -- subjects --------------------------------------------------------------------------

    async def _summaries(self, actor: Actor, page: _Page | BoxPage) -> list[PacketSummary]:
        out = []
        remembered = self._subjects.remembered
        for r in page.rows:
            wrapped, manifest = page.keys.get(r.id, ()), page.manifests.get(r.id, b"")
            found = remembered(actor, r, wrapped, manifest)
            if found is None:
                found = await self._subjects.decrypt(actor, r, wrapped, manifest)
            out.append(summary_of(r, page.references.get(r.case_id, "?"), *found))
        return out


# A dictionary lookup, not the enum's call (ten times as long, a hundred times a page); an unknown
# value still fails as the call fails.
_PACKET_TYPES = {t.value: t for t in PacketType}


def summary_of(r: PacketRow, case_reference: str, subject: str, count: int) -> PacketSummary:
    """A stored packet as a listing shows it, given its subject and attachment count."""
    return PacketSummary(
        id=r.id,
        packet_type=_PACKET_TYPES.get(r.packet_type) or PacketType(r.packet_type),
        case_id=r.case_id,
        case_reference=case_reference,
        sender_agency_id=r.sender_agency_id,
        sender_user_id=r.sender_user_id or 0,
        recipient_agency_ids=r.recipient_agency_ids,
        purpose=r.purpose,
        created_at=r.created_at,
        subject=subject,
        attachment_count=count,
        reply_to=r.reply_to,
    )
