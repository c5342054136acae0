"""Listing packets: the API's inbox and sent box, one packet's summary, the web inbox's pages
(``hub.services.inbox_pages``), what the reader has opened, and who may read at all.

Subjects are encrypted at rest and stay so: a listing decrypts the subjects it shows in memory
(``hub.services.listed_subjects``). Nothing derived from a subject is ever stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Forbidden, NotFound
from hub.model.directory import Role
from hub.model.packets import PacketSummary, PacketType
from hub.services.actor import Actor
from hub.services.content_keys import ContentKeys
from hub.services.inbox_pages import PAGE_SIZE, InboxPages, ListingPage, ReadPage
from hub.services.listed_subjects import (
    ELSEWHERE_SUBJECT,
    ERASED_SUBJECT,
    UNREADABLE_SUBJECT,
    ListedSubjects,
)
from hub.store import box_pages, packet_reads
from hub.store import cases as case_store
from hub.store import packets as store
from hub.store.box_pages import MAX_BOX_LIMIT, BoxPage, ListedRow, listed
from hub.store.database import Database
from hub.store.packets import Box, PacketFilter, PacketRow, Position

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


def require_reader(actor: Actor) -> None:
    """Only the roles that read case content; an agency administrator never does, whether
    signed in or named as the person behind an API call (``On-Behalf-Of``)."""
    named = actor.person if actor.token_id is None or actor.person_named else None
    if actor.has_role(Role.AGENCY_ADMIN) or (named is not None and named.role is Role.AGENCY_ADMIN):
        raise Forbidden(ADMIN_REFUSED)
    if not actor.has_role(*READER_ROLES):
        raise Forbidden("Your role does not allow reading packet content.")


async def _page(
    conn: AsyncConnection, actor: Actor, rows: Sequence[PacketRow], *, reads: bool = False
) -> ReadPage:
    ids = [r.id for r in rows]
    keys, manifests = await store.keys_and_manifests_for(conn, ids, actor.agency.id)
    return ReadPage(
        [listed(r) for r in rows],
        keys,
        manifests,
        await case_store.references_by_ids(conn, (r.case_id for r in rows)),
        frozenset(await packet_reads.read_among(conn, actor.user.id, ids))
        if reads
        else frozenset(),
    )


class PacketListing:
    def __init__(self, db: Database, keys: ContentKeys) -> None:
        self._db = db
        self._subjects = ListedSubjects(keys)
        self._pages = InboxPages(db, self._summaries)

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

        async def load(conn: AsyncConnection) -> ReadPage:
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
        """A page of the web inbox (``hub.services.inbox_pages``), for a role that reads."""
        require_reader(actor)
        return await self._pages.page(
            actor, box, flt, words, before=before, after=after, limit=limit
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

    async def _summaries(self, actor: Actor, page: ReadPage | BoxPage) -> list[PacketSummary]:
        out = []
        remembered = self._subjects.remembered
        keys, manifests, references = page.keys, page.manifests, page.references
        for r in page.rows:
            wrapped, manifest = keys.get(r.id, ()), manifests.get(r.id, b"")
            found = remembered(actor, r.id, wrapped, manifest)
            if found is None:
                found = await self._subjects.decrypt(actor, r.id, wrapped, manifest)
            out.append(summary_of(r, references.get(r.case_id, "?"), *found))
        return out


# A dictionary lookup, not the enum's call (ten times as long, a hundred times a page); an unknown
# value still fails as the call fails.
_PACKET_TYPES = {t.value: t for t in PacketType}


def summary_of(
    r: PacketRow | ListedRow, case_reference: str, subject: str, count: int
) -> PacketSummary:
    """A stored packet as a listing shows it, given its subject and attachment count."""
    # By position, in PacketSummary's order: naming thirteen fields took twice as long, a hundred
    # times a page (tests/unit/test_listed_rows.py holds the order).
    return PacketSummary(
        r.id,
        _PACKET_TYPES.get(r.packet_type) or PacketType(r.packet_type),
        r.case_id,
        case_reference,
        r.sender_agency_id,
        r.sender_user_id or 0,
        r.recipient_agency_ids,
        r.purpose,
        r.created_at,
        subject,
        count,
        False,
        r.reply_to,
    )
