"""Case transfer between MAPPA areas: proposed by the sending area's coordinator after a MAPPA
meeting (Probation Circular 52/2004), accepted or declined with reasons by the receiving area's,
sent, received and completed, each step on the log with its deadline.

Decisions bind people (``Actor.person``): the receiving area's coordinator decides, never the
proposer, and a token that names no person decides nothing. adapters/transfer and federation
call ``mark_sent`` and ``record_received`` (``transfer_exchange``), ``complete``
(``transfer_completion``) and the peer hub's steps (``transfer_peer``); cross-border mappings
are in ``transfer_rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Event
from hub.model.cases import Case
from hub.model.directory import AgencyKind, Area, Role, User
from hub.model.transfers import PeerMessage, Transfer, TransferState
from hub.services import notices
from hub.services.actor import Actor
from hub.services.transfer_exchange import ReceivedBundle, coordinator, get, text
from hub.services.transfer_peer import PeerDecision, PeerProposal, TransferPeerSteps, owe
from hub.services.transfer_rules import Mapped, check_crossing, map_for_jurisdiction, rules_for
from hub.services.transfer_steps import cancel_deadline, log_step, next_deadline, tell
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import transfers as store
from hub.store import workflows as workflow_store
from hub.text import check_line
from hub.workflows.deadlines import ItemKind, local_date

# What adapters/transfer and federation use, from one place.
__all__ = [
    "Mapped",
    "PeerDecision",
    "PeerProposal",
    "Proposal",
    "ReceivedBundle",
    "TransferService",
    "map_for_jurisdiction",
]

MAX_AHEAD_DAYS = 366
S = TransferState


@dataclass(frozen=True)
class Proposal:
    case_id: int
    reason: str
    proposed_date: date
    # An area of this hub, or (with ``peer_name``) an area of a pinned peer hub.
    receiving_area_code: str
    peer_name: str | None = None
    # The peer area's jurisdiction (an area of this hub brings its own).
    receiving_jurisdiction: str | None = None
    # The meeting held before transfer; None: the latest within the policy's window.
    meeting_id: int | None = None


class TransferService(TransferPeerSteps):
    """The workflow for people (inbox, API, CLI); the steps adapters call are inherited."""

    # -- proposing -------------------------------------------------------------------------

    async def propose(self, actor: Actor, proposal: Proposal) -> Transfer:
        person = coordinator(actor, "propose a transfer")
        reason = text(proposal.reason, "reason", "the reason for the transfer")
        today = local_date(self._clock.now())
        if not today <= proposal.proposed_date <= today + timedelta(days=MAX_AHEAD_DAYS):
            raise InvalidInput(
                "The proposed transfer date must be today or within the next year.",
                field="proposed_date",
            )
        code = check_line(proposal.receiving_area_code.strip(), "receiving_area").upper()
        if not code:
            raise InvalidInput("Choose the receiving area.", field="receiving_area")
        now = self._clock.now()
        async with self._db.write() as conn:
            case = await case_store.case_by_id(conn, proposal.case_id)
            if case is None or case.area_id != actor.agency.area_id:
                raise NotFound("No such case.")
            if case.merged_into_id is not None:
                raise InvalidInput("This case record was combined into another: transfer that.")
            if await store.open_for_case(conn, case.id):
                raise Conflict("This case already has a transfer under way.")
            home = await _area(conn, case.area_id)
            receiving, jurisdiction = await self._receiving(conn, proposal, code, home)
            check_crossing(self._policy.current, home.jurisdiction.value, jurisdiction)
            meeting_id, held_on = await self._meeting(conn, case, proposal.meeting_id, today)
            transfer_id = await store.insert_transfer(
                conn,
                case_id=case.id,
                case_reference=case.reference,
                state=S.PROPOSED.value,
                sending_area_code=home.code,
                sending_area_id=home.id,
                receiving_area_code=code,
                receiving_area_id=receiving.id if receiving else None,
                sending_jurisdiction=home.jurisdiction.value,
                receiving_jurisdiction=jurisdiction,
                peer_name=proposal.peer_name,
                reason=reason,
                proposed_date=proposal.proposed_date,
                meeting_id=meeting_id,
                meeting_held_on=held_on,
                proposer_user_id=actor.user.id,
                proposer_person_id=person.id,
                proposer_agency_id=actor.agency.id,
                created_at=now,
                updated_at=now,
            )
            transfer = await get(conn, transfer_id)
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_PROPOSED,
                now,
                lawful_basis=rules_for(self._policy.current, home.jurisdiction.value).lawful_basis,
                detail=f"proposed:{code}:{proposal.peer_name or ''}:{meeting_id}",
            )
            if receiving is not None:
                # The receiving area's coordinators decide; the deadline is theirs.
                await next_deadline(
                    conn,
                    transfer,
                    now,
                    kind=ItemKind.TRANSFER_DECISION,
                    area_id=receiving.id,
                    owner_agency_id=await _coordinating_agency(conn, receiving.id),
                    working_days=self.rules.decision_days,
                )
                await tell(
                    conn, transfer, notices.Notice.TRANSFER_AWAITING, "proposed", receiving.id, now
                )
            else:
                # The peer hub's coordinators decide there; the deadline, and its escalation to
                # this area's senior managers, stay here with the proposer's agency.
                await next_deadline(
                    conn,
                    transfer,
                    now,
                    kind=ItemKind.TRANSFER_DECISION,
                    area_id=home.id,
                    owner_agency_id=actor.agency.id,
                    working_days=self.rules.decision_days,
                )
                await owe(conn, transfer, PeerMessage.PROPOSAL, now)
            return await get(conn, transfer_id)

    async def _receiving(
        self, conn: AsyncConnection, proposal: Proposal, code: str, home: Area
    ) -> tuple[Area | None, str]:
        if proposal.peer_name:
            jurisdiction = proposal.receiving_jurisdiction or ""
            if jurisdiction not in self.rules.jurisdictions:
                raise InvalidInput(
                    "Say which jurisdiction the peer hub's area is in.",
                    field="receiving_jurisdiction",
                )
            return None, jurisdiction
        area = await directory_store.area_by_code(conn, code)
        if area is None:
            raise InvalidInput("No such area on this hub.", field="receiving_area")
        if area.id == home.id:
            raise InvalidInput(
                "The case is already in this area: choose another.", field="receiving_area"
            )
        return area, area.jurisdiction.value

    async def _meeting(
        self, conn: AsyncConnection, case: Case, meeting_id: int | None, today: date
    ) -> tuple[int | None, date | None]:
        """The MAPPA meeting held before transfer, within the policy's window."""
        rules = self.rules
        earliest = today - timedelta(days=rules.meeting_within_days)
        held = [
            m
            for m in await workflow_store.case_meetings(conn, case.id)
            if earliest <= m.held_on <= today and (meeting_id is None or m.id == meeting_id)
        ]
        if not held:
            if not rules.meeting_required:
                return None, None
            raise InvalidInput(
                f"{rules.meeting_label}: record the MAPPA meeting on this case first; it must "
                f"have been held in the last {rules.meeting_within_days} days.",
                field="meeting",
                code="transfer_meeting_required",
            )
        latest = max(held, key=lambda m: m.held_on)
        return latest.id, latest.held_on

    # -- deciding --------------------------------------------------------------------------

    async def accept(
        self, actor: Actor, transfer_id: int, reasons: str, new_lead_agency_code: str
    ) -> Transfer:
        """The receiving area's coordinator accepts, naming the case's new lead agency."""
        person = coordinator(actor, "accept a transfer")
        reasons = text(reasons, "reasons", "your reasons for accepting")
        code = check_line(new_lead_agency_code.strip(), "lead_agency").upper()
        if not code:
            raise InvalidInput("Choose the lead agency in your area.", field="lead_agency")
        now = self._clock.now()
        async with self._db.write() as conn:
            transfer = await self._decidable(conn, actor, person, transfer_id)
            lead = await directory_store.agency_by_code(conn, code)
            if (
                lead is None
                or lead.area_id != transfer.receiving_area_id
                or lead.kind is not AgencyKind.RESPONSIBLE_AUTHORITY
            ):
                raise InvalidInput(
                    "The lead agency is a Responsible Authority agency of your area.",
                    field="lead_agency",
                )
            if not await store.move(
                conn,
                transfer.id,
                [S.PROPOSED],
                S.ACCEPTED,
                now,
                decided_by_user_id=actor.user.id,
                decided_by_person_id=person.id,
                decision_reasons=reasons,
                decided_at=now,
                new_lead_agency_id=lead.id,
                new_lead_agency_code=lead.code,
            ):
                raise Conflict("This transfer has already been decided.")
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_ACCEPTED,
                now,
                lawful_basis=self._basis(transfer.receiving_jurisdiction),
                detail=f"accepted:lead={lead.id}",
                recipients=[a for a in (transfer.proposer_agency_id,) if a],
            )
            await next_deadline(
                conn,
                transfer,
                now,
                kind=ItemKind.TRANSFER_SEND,
                area_id=transfer.sending_area_id,
                owner_agency_id=transfer.proposer_agency_id,
                working_days=self.rules.send_days,
            )
            await tell(
                conn,
                transfer,
                notices.Notice.TRANSFER_DECIDED,
                "accepted",
                transfer.sending_area_id,
                now,
            )
            if transfer.peer_name is not None:  # proposed by a peer hub: tell it
                await owe(conn, transfer, PeerMessage.DECISION, now)
            return await get(conn, transfer.id)

    async def decline(self, actor: Actor, transfer_id: int, reasons: str) -> Transfer:
        person = coordinator(actor, "decline a transfer")
        reasons = text(reasons, "reasons", "your reasons for declining")
        now = self._clock.now()
        async with self._db.write() as conn:
            transfer = await self._decidable(conn, actor, person, transfer_id)
            if not await store.move(
                conn,
                transfer.id,
                [S.PROPOSED],
                S.DECLINED,
                now,
                decided_by_user_id=actor.user.id,
                decided_by_person_id=person.id,
                decision_reasons=reasons,
                decided_at=now,
            ):
                raise Conflict("This transfer has already been decided.")
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_DECLINED,
                now,
                lawful_basis=self._basis(transfer.receiving_jurisdiction),
                detail="declined",
            )
            await next_deadline(conn, transfer, now, kind=None, area_id=None, owner_agency_id=None)
            await tell(
                conn,
                transfer,
                notices.Notice.TRANSFER_DECIDED,
                "declined",
                transfer.sending_area_id,
                now,
            )
            if transfer.peer_name is not None:
                await owe(conn, transfer, PeerMessage.DECISION, now)
            return await get(conn, transfer.id)

    async def _decidable(
        self, conn: AsyncConnection, actor: Actor, person: User, transfer_id: int
    ) -> Transfer:
        transfer = await store.transfer_by_id(conn, transfer_id)
        if transfer is None or actor.agency.area_id not in (
            transfer.sending_area_id,
            transfer.receiving_area_id,
        ):
            raise NotFound("No such transfer.")
        if transfer.receiving_area_id != actor.agency.area_id:
            raise Forbidden("Only the receiving area's MAPPA coordinator decides on a transfer.")
        if person.id in (transfer.proposer_person_id, transfer.proposer_user_id) or (
            actor.user.id in (transfer.proposer_person_id, transfer.proposer_user_id)
        ):
            raise Forbidden("The person who proposed a transfer cannot decide on it.")
        if transfer.state is not S.PROPOSED:
            raise Conflict("This transfer has already been decided.")
        return transfer

    async def cancel(self, actor: Actor, transfer_id: int, reason: str) -> Transfer:
        """The sending area's coordinator withdraws a transfer before it is sent."""
        coordinator(actor, "cancel a transfer")
        reason = text(reason, "cancel_reason", "the reason for cancelling")
        now = self._clock.now()
        async with self._db.write() as conn:
            transfer = await self._visible(conn, actor, transfer_id)
            if transfer.sending_area_id != actor.agency.area_id:
                raise Forbidden("Only the sending area's MAPPA coordinator cancels a transfer.")
            if not await store.move(
                conn,
                transfer.id,
                [S.PROPOSED, S.ACCEPTED],
                S.CANCELLED,
                now,
                cancelled_at=now,
                decision_reasons=transfer.decision_reasons,
            ):
                raise Conflict("Only a transfer not yet sent can be cancelled.")
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_CANCELLED,
                now,
                lawful_basis=self._basis(transfer.sending_jurisdiction),
                detail=f"cancelled:{len(reason)}",
            )
            await cancel_deadline(conn, transfer, now)
            await tell(
                conn,
                transfer,
                notices.Notice.TRANSFER_DECIDED,
                "cancelled",
                transfer.receiving_area_id,
                now,
            )
            if transfer.peer_name is not None:
                await owe(conn, transfer, PeerMessage.CANCELLATION, now)
            return await get(conn, transfer.id)

    # -- reading ---------------------------------------------------------------------------

    async def _visible(self, conn: AsyncConnection, actor: Actor, transfer_id: int) -> Transfer:
        if not actor.has_role(Role.COORDINATOR, Role.SENIOR_MANAGER):
            raise Forbidden("Transfers are for MAPPA coordinators and senior managers.")
        transfer = await store.transfer_by_id(conn, transfer_id)
        if transfer is None or actor.agency.area_id not in (
            transfer.sending_area_id,
            transfer.receiving_area_id,
        ):
            raise NotFound("No such transfer.")
        return transfer

    async def get(self, actor: Actor, transfer_id: int) -> Transfer:
        async with self._db.read() as conn:
            return await self._visible(conn, actor, transfer_id)

    async def for_area(self, actor: Actor) -> list[Transfer]:
        """Incoming and outgoing transfers of the actor's area, newest first."""
        if not actor.has_role(Role.COORDINATOR, Role.SENIOR_MANAGER):
            raise Forbidden("Transfers are for MAPPA coordinators and senior managers.")
        async with self._db.read() as conn:
            return await store.for_area(conn, actor.agency.area_id)

    async def for_case(self, actor: Actor, case_id: int) -> list[Transfer]:
        async with self._db.read() as conn:
            found = await store.for_case(conn, case_id)
        return [
            t for t in found if actor.agency.area_id in (t.sending_area_id, t.receiving_area_id)
        ]


async def _area(conn: AsyncConnection, area_id: int) -> Area:
    area = await directory_store.area_by_id(conn, area_id)
    if area is None:  # pragma: no cover - a case's area exists (foreign key)
        raise NotFound("No such area.")
    return area


async def _coordinating_agency(conn: AsyncConnection, area_id: int) -> int | None:
    """The agency a step's deadline is filed under in an area: its coordinator's agency (the
    first, if several), else its first Responsible Authority agency."""
    users = await directory_store.list_users(conn)
    agencies = {a.id: a for a in await directory_store.list_agencies(conn) if a.area_id == area_id}
    for user in users:
        if user.role is Role.COORDINATOR and user.active and user.agency_id in agencies:
            return user.agency_id
    ra = [a.id for a in agencies.values() if a.kind is AgencyKind.RESPONSIBLE_AUTHORITY]
    return min(ra) if ra else None
