"""Access reports for auditors: who collected, consulted, disclosed, altered, combined or erased
what about a case, and what one user did - from the log alone, never the content."""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto.secrets import sha256_hex
from hub.errors import Forbidden, NotFound
from hub.ledger.entries import Event
from hub.model.cases import Case
from hub.model.directory import Role, User
from hub.services.actor import Actor
from hub.store import access as store
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store.database import Database

_REPORT_ROLES = (Role.AUDITOR, Role.COORDINATOR)
# How a message left the hub, as a report names it (policies/channels.toml's keys).
_CHANNEL_WORDS = {
    "email": "Email",
    "letter": "Letter",
    "visor-export": "ViSOR export",
    "in-person": "In person",
    "telephone": "Telephone",
    "hub": "Through the hub",
}


def sent_by(channel: str | None, address: str | None) -> str | None:
    """A log entry's channel and recipient address (entry v4) in words, or None if it has none."""
    if channel is None:
        return None
    words = _CHANNEL_WORDS.get(channel, channel.replace("-", " ").capitalize())
    return f"{words} to {address}" if address else words


@dataclass(frozen=True)
class AccessRow:
    seq: int
    at: datetime
    action: str
    event: str
    actor: str
    agency: str
    recipients: tuple[str, ...]
    case_reference: str
    purpose: str
    lawful_basis: str
    packet_id: str | None
    decision: str | None
    policy_version: str | None
    case_id: int | None = None
    # A message sent out of the hub (entry v4), in words: "Email to a.person@agency.example".
    sent_by: str | None = None
    # A packet an agency system sent for a member of staff (``On-Behalf-Of``): that person, as
    # the signed header the entry's digest binds names them. None where the actor sent it.
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class ReportFilter:
    """Optional bounds on a report: entries recorded at or after ``since`` and before
    ``before``, of one ``event`` only."""

    since: datetime | None = None
    before: datetime | None = None
    event: str | None = None


class AccessReportService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _require(self, actor: Actor) -> None:
        if not actor.has_role(*_REPORT_ROLES):
            raise Forbidden("Only auditors and coordinators can see access reports.")

    async def overview(self, actor: Actor) -> tuple[list[Case], list[User]]:
        self._require(actor)
        async with self._db.read() as conn:
            cases = await case_store.list_cases(conn, actor.agency.area_id)
            agencies = await directory_store.list_agencies(conn)
            users = await directory_store.list_users(conn)
        in_area = {a.id for a in agencies if a.area_id == actor.agency.area_id}
        return cases, [u for u in users if u.agency_id in in_area]

    async def case_report(
        self, actor: Actor, case_id: int, limit: int = 200, narrow: ReportFilter | None = None
    ) -> tuple[Case, list[AccessRow]]:
        self._require(actor)
        async with self._db.read() as conn:
            case = await case_store.case_by_id(conn, case_id)
            if case is None or case.area_id != actor.agency.area_id:
                raise NotFound("No such case.")  # as if absent: no probing of other areas
            n = narrow or ReportFilter()
            rows = await store.entries_for_case(
                conn, case_id, min(limit, 1000), since=n.since, before=n.before, event=n.event
            )
            return case, await self._rows(conn, rows)

    async def user_report(
        self, actor: Actor, user_id: int, limit: int = 200, narrow: ReportFilter | None = None
    ) -> tuple[User, list[AccessRow]]:
        self._require(actor)
        async with self._db.read() as conn:
            user = await directory_store.user_by_id(conn, user_id)
            agency = await directory_store.agency_by_id(conn, user.agency_id) if user else None
            if user is None or agency is None or agency.area_id != actor.agency.area_id:
                raise NotFound("No such user.")
            n = narrow or ReportFilter()
            rows = await store.entries_by_user(
                conn, user_id, min(limit, 1000), since=n.since, before=n.before, event=n.event
            )
            return user, await self._rows(conn, rows)

    async def _rows(self, conn: AsyncConnection, rows: Sequence[RowMapping]) -> list[AccessRow]:
        agencies = {a.id: a.name for a in await directory_store.list_agencies(conn)}
        users = await directory_store.users_by_ids(
            conn, sorted({r["actor_user_id"] for r in rows if r["actor_user_id"]})
        )
        refs: dict[int, str] = {}
        for case_id in {r["case_id"] for r in rows if r["case_id"]}:
            found = await case_store.case_by_id(conn, case_id)
            refs[case_id] = found.reference if found else "?"
        senders = await self._senders_for(conn, rows, users)
        out = []
        for r in rows:
            user = users.get(r["actor_user_id"]) if r["actor_user_id"] else None
            out.append(
                AccessRow(
                    seq=int(r["seq"]),
                    at=r["recorded_at"],
                    action=r["action"],
                    event=r["event"],
                    actor=f"{user.display_name} ({user.username})" if user else "operator",
                    agency=agencies.get(r["actor_agency_id"], "") if r["actor_agency_id"] else "",
                    recipients=tuple(
                        agencies.get(int(a), "?") for a in r["recipients"].split(",") if a
                    ),
                    case_reference=refs.get(r["case_id"], "") if r["case_id"] else "",
                    purpose=r["purpose"],
                    lawful_basis=r["lawful_basis"],
                    packet_id=r["packet_id"],
                    decision=r["decision"],
                    policy_version=(r["policy_version"] or "")[:12] or None,
                    case_id=r["case_id"],
                    sent_by=sent_by(r["channel"], r["recipient_address"]),
                    on_behalf_of=senders.get(int(r["seq"])),
                )
            )
        return out

    async def _senders_for(
        self, conn: AsyncConnection, rows: Sequence[RowMapping], users: dict[int, User]
    ) -> dict[int, str]:
        """For each packet an API token sent for a person (``On-Behalf-Of``), by the entry's seq:
        that person. The hub checked the person when the call named them, stored them as the
        packet's sender and wrote their username into the signed header; a report names them
        only while the stored header is the one the entry's digest binds and names the same
        person. A sealed packet's header names whom its system says, unchecked where the call
        named nobody: the packet's sender is then the system account, and nothing is shown."""
        sent = [
            r
            for r in rows
            if r["event"] == Event.PACKET_SENT.value
            and r["actor_token_id"] is not None
            and r["packet_id"]
            and r["content_digest"]
        ]
        stored = await store.sent_packets(conn, {r["packet_id"] for r in sent})
        people = await directory_store.users_by_ids(
            conn, sorted({s for _, s in stored.values() if s is not None} - set(users))
        )
        people.update(users)
        named: dict[int, str] = {}
        for r in sent:
            header, sender_id = stored.get(r["packet_id"], (b"", None))
            person = people.get(sender_id) if sender_id is not None else None
            if (
                person is None
                or sender_id == r["actor_user_id"]
                or not hmac.compare_digest(sha256_hex(header), r["content_digest"])
            ):
                continue
            document = json.loads(header)
            if isinstance(document, dict) and document.get("sender_user") == person.username:
                named[int(r["seq"])] = f"{person.display_name} ({person.username})"
        return named
