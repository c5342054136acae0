"""Third-party disclosure: proposed, approved or refused with reasons, then delivered on the record.

A practitioner proposes by sending a ``disclosure-proposal`` packet (``services.workflow_rules``
decides the disclosure against the policy then, and keeps the approvals it names). Here the named
approvers decide, never the proposer; only an approved disclosure can be delivered, and delivery
is a DISCLOSURE entry on the log. The register lists them per case and per area.

Separation of duties holds for people, not accounts (``Actor.person``): every proposal, decision
and delivery names the person behind it, the proposer is compared as a person (whichever account,
token or session, each acted through), and a person decides once. An agency system (an API token)
decides only when the policy allows delegated decisions, and then only for a named person who holds
the approver role.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Role, User
from hub.model.packets import PacketType
from hub.services import ledger
from hub.services.actor import Actor
from hub.services.policy import PolicyService
from hub.services.refusals import refusal_in_area
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import disclosures as disclosure_store
from hub.store import packets as packet_store
from hub.store import workflows as store
from hub.store.database import Database
from hub.workflows.forms import DisclosureDecisionForm, validate_form

PROPOSED, APPROVED, REFUSED, DELIVERED = "proposed", "approved", "refused", "delivered"
_AREA_READERS = (Role.COORDINATOR, Role.SENIOR_MANAGER, Role.AUDITOR)
_APPROVER_ROLES = (Role.COORDINATOR, Role.SENIOR_MANAGER)
# A disclosure record names the case, what is disclosed and why: case content.
_ADMIN_REFUSED = (
    "Agency administrators manage API tokens and keys; they do not read disclosure records."
)


@dataclass(frozen=True)
class DisclosureView:
    row: disclosure_store.DisclosureRow
    case_reference: str
    proposer: str
    proposer_agency: str
    decisions: list[disclosure_store.DecisionRow]
    decided_by: dict[int, str]
    # Approvals still wanted, per role.
    outstanding: dict[str, int]

    @property
    def id(self) -> int:
        return self.row.id


def proposing_person(actor: Actor) -> int:
    """The person a new proposal is recorded against (``workflow_rules`` stores it). A token that
    names nobody (issued at the command line, no ``On-Behalf-Of``) cannot propose: nobody could
    then be shown not to be the proposer."""
    if actor.person is None:
        raise Forbidden(_NAME_THE_PERSON)
    return actor.person.id


_NAME_THE_PERSON = (
    "This token acts for no named person: send On-Behalf-Of with the username of the person "
    "responsible."
)


def _label(person: User | None, account: User) -> str:
    """Who acted, as the register shows it: the person, and the system they acted through."""
    if person is None:
        return account.display_name
    if person.id == account.id:
        return person.display_name
    return f"{person.display_name} (through {account.display_name})"


def outstanding(
    needed: list[dict[str, object]], decisions: list[disclosure_store.DecisionRow]
) -> dict[str, int]:
    given = Counter(d.role for d in decisions if d.decision == "approve")
    want: Counter[str] = Counter()
    for need in needed:
        want[str(need["role"])] = max(want[str(need["role"])], int(str(need["count"])))
    return {role: n - given[role] for role, n in want.items() if n - given[role] > 0}


class DisclosureService:
    def __init__(self, db: Database, clock: Clock, policy: PolicyService) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy

    async def register(
        self, actor: Actor, *, case_id: int | None = None, status: str | None = None
    ) -> list[DisclosureView]:
        """The area's register for coordinators, senior managers and auditors; a case's register
        for agencies active on that case."""
        async with self._db.read() as conn:
            if case_id is None:
                if not actor.has_role(*_AREA_READERS):
                    raise Forbidden("The area's disclosure register is for MAPPA coordinators.")
                rows = await disclosure_store.disclosure_register(
                    conn, area_id=actor.agency.area_id, status=status
                )
            else:
                case = await case_store.case_by_id(conn, case_id)
                if case is None:
                    raise NotFound("No such case.")
                if not (
                    await store.is_active_on(conn, case_id, actor.agency.id)
                    or (actor.has_role(*_AREA_READERS) and case.area_id == actor.agency.area_id)
                ):
                    raise Forbidden("Your agency is not active on this case.")
                rows = await disclosure_store.disclosure_register(
                    conn, case_id=case_id, status=status
                )
            return await self._views(conn, rows)

    async def _views(
        self, conn: AsyncConnection, rows: list[disclosure_store.DisclosureRow]
    ) -> list[DisclosureView]:
        decisions = await disclosure_store.decisions_for(conn, [r.id for r in rows])
        user_ids = {
            *(r.proposer_user_id for r in rows),
            *(r.proposer_person_id for r in rows if r.proposer_person_id is not None),
            *(d.approver_user_id for d in decisions),
            *(d.approver_person_id for d in decisions if d.approver_person_id is not None),
        }
        users = await directory_store.users_by_ids(conn, sorted(user_ids))
        agencies = await directory_store.agencies_by_ids(
            conn, sorted({r.proposer_agency_id for r in rows})
        )
        refs: dict[int, str] = {}
        for case_id in {r.case_id for r in rows}:
            case = await case_store.case_by_id(conn, case_id)
            refs[case_id] = case.reference if case else "?"
        out = []
        for r in rows:
            mine = [d for d in decisions if d.disclosure_id == r.id]
            out.append(
                DisclosureView(
                    row=r,
                    case_reference=refs[r.case_id],
                    proposer=_label(
                        users.get(r.proposer_person_id or 0), users[r.proposer_user_id]
                    ),
                    proposer_agency=agencies[r.proposer_agency_id].name,
                    decisions=mine,
                    decided_by={
                        d.approver_user_id: _label(
                            users.get(d.approver_person_id or 0), users[d.approver_user_id]
                        )
                        for d in mine
                    },
                    outstanding=outstanding(r.approvals_needed, mine)
                    if r.status == PROPOSED
                    else {},
                )
            )
        return out

    async def get(self, actor: Actor, disclosure_id: int) -> DisclosureView:
        async with self._db.read() as conn:
            if actor.has_role(Role.AGENCY_ADMIN):  # whatever the id: none answers differently
                raise Forbidden(_ADMIN_REFUSED)
            row = await disclosure_store.disclosure_by_id(conn, disclosure_id)
            if row is None:
                raise NotFound("No such disclosure.")
            if not await self._may_see(conn, actor, row):
                raise refusal_in_area(
                    actor,
                    row.area_id,
                    "This disclosure is not for your agency to see.",
                    "No such disclosure.",
                )
            return (await self._views(conn, [row]))[0]

    async def for_proposal(self, actor: Actor, packet_id: str) -> int | None:
        """The disclosure a proposal packet opened, if the actor may see its record."""
        async with self._db.read() as conn:
            rows = await disclosure_store.disclosures_for_packet(conn, packet_id)
            for row in rows:
                if await self._may_see(conn, actor, row):
                    return row.id
        return None

    async def _may_see(
        self, conn: AsyncConnection, actor: Actor, row: disclosure_store.DisclosureRow
    ) -> bool:
        if actor.has_role(Role.AGENCY_ADMIN):
            return False
        if actor.has_role(*_AREA_READERS) and row.area_id == actor.agency.area_id:
            return True
        return await store.is_active_on(conn, row.case_id, actor.agency.id)

    async def decide(
        self,
        actor: Actor,
        disclosure_id: int,
        decision: Literal["approve", "refuse"] | str,
        reasons: str,
        conditions: str = "",
    ) -> DisclosureView:
        """Approve or refuse with reasons. The policy named the roles; the proposer never decides,
        and each person decides once, whichever accounts they act through."""
        form = validate_form(
            PacketType.DISCLOSURE_DECISION,
            {"decision": decision, "reasons": reasons, "conditions": conditions},
        )
        if not isinstance(form, DisclosureDecisionForm):  # pragma: no cover - validate_form's type
            raise InvalidInput("Not a disclosure decision.")
        person = self._deciding_person(actor)
        role = person.role.value
        now = self._clock.now()
        async with self._db.write() as conn:
            row, wanted = await self._decidable(conn, actor, person, disclosure_id)
            try:
                await disclosure_store.insert_decision(
                    conn,
                    disclosure_id=row.id,
                    approver_user_id=actor.user.id,
                    approver_person_id=person.id,
                    approver_agency_id=actor.agency.id,
                    role=role,
                    decision=form.decision,
                    reasons=form.reasons,
                    conditions=form.conditions,
                    decided_at=now,
                )
            except IntegrityError:  # the same person, a moment ago, through another account
                raise Conflict("You have already decided this disclosure.") from None
            if form.decision == "refuse":
                new_status: str | None = REFUSED
            elif wanted[role] == 1 and len(wanted) == 1:
                new_status = APPROVED
            else:
                new_status = None
            if new_status and not await disclosure_store.update_disclosure(
                conn, row.id, PROPOSED, status=new_status, decided_at=now
            ):
                raise Conflict("This disclosure was decided a moment ago.")
            await ledger.append(
                conn,
                Record(
                    action=Action.ALTERATION,
                    event=Event.DISCLOSURE_DECIDED,
                    recorded_at=now,
                    actor_user_id=actor.user.id,
                    actor_token_id=actor.token_id,
                    actor_agency_id=actor.agency.id,
                    case_id=row.case_id,
                    packet_id=row.proposal_packet_id,
                    purpose=row.purpose,
                    lawful_basis=row.lawful_basis,
                    content_digest=sha256_hex(form.reasons.encode()),
                    policy_version=row.policy_version,
                    decision=form.decision,
                ),
            )
            updated = await disclosure_store.disclosure_by_id(conn, row.id)
            if updated is None:  # pragma: no cover - just written in this transaction
                raise NotFound("No such disclosure.")
            return (await self._views(conn, [updated]))[0]

    async def may_decide(self, actor: Actor, disclosure_id: int) -> bool:
        """Whether ``decide`` would accept a decision from the actor now: the page offers the
        form only then."""
        try:
            person = self._deciding_person(actor)
            async with self._db.read() as conn:
                await self._decidable(conn, actor, person, disclosure_id)
        except (Forbidden, Conflict, NotFound):
            return False
        return True

    async def _decidable(
        self, conn: AsyncConnection, actor: Actor, person: User, disclosure_id: int
    ) -> tuple[disclosure_store.DisclosureRow, dict[str, int]]:
        """The checks a decision passes before it is written: raises the refusal, or returns
        the disclosure and the approvals still wanted."""
        row = await disclosure_store.disclosure_by_id(conn, disclosure_id)
        if row is None or row.area_id != actor.agency.area_id:
            raise NotFound("No such disclosure.")
        if (
            row.proposer_user_id in (actor.user.id, person.id)
            or row.proposer_person_id == person.id
        ):
            raise Forbidden("You proposed this disclosure, so someone else must decide it.")
        if row.status != PROPOSED:
            raise Conflict(f"This disclosure has already been {row.status}.")
        proposal = await packet_store.packet_by_id(conn, row.proposal_packet_id)
        if proposal is None or actor.agency.id not in (
            proposal.sender_agency_id,
            *proposal.recipient_agency_ids,
        ):
            raise Forbidden(
                "The proposal was not sent to your agency: it must reach you before you decide."
            )
        decisions = await disclosure_store.decisions_for(conn, [row.id])
        if any(
            d.approver_user_id in (actor.user.id, person.id) or d.approver_person_id == person.id
            for d in decisions
        ):
            raise Conflict("You have already decided this disclosure.")
        wanted = outstanding(row.approvals_needed, decisions)
        if person.role.value not in wanted:
            raise Forbidden(
                "The policy does not ask for a decision from your role on this disclosure "
                f"(still wanted: {', '.join(wanted) or 'none'})."
            )
        return row, wanted

    def _deciding_person(self, actor: Actor) -> User:
        """The person a decision is attributed to: the signed-in user, or the person a token acts
        for when the policy lets agency systems carry decisions at all."""
        if not actor.has_role(*_APPROVER_ROLES):
            raise Forbidden("Only a MAPPA coordinator or a senior manager decides disclosures.")
        if actor.token_id is not None and not self._policy.current.delegated_decisions:
            raise Forbidden(
                "The policy does not allow delegated decisions: a disclosure is decided by a "
                "person signed in to the inbox, not through an agency system."
            )
        person = actor.person
        if person is None:
            raise Forbidden(_NAME_THE_PERSON)
        if person.role not in _APPROVER_ROLES:
            raise Forbidden(
                "Only a MAPPA coordinator or a senior manager decides disclosures, and the "
                "person this token acts for is neither."
            )
        return person

    async def deliver(self, actor: Actor, disclosure_id: int) -> DisclosureView:
        """Record that an approved disclosure was made: a DISCLOSURE entry on the log, by the
        proposer (as a person) or a MAPPA coordinator."""
        now = self._clock.now()
        async with self._db.write() as conn:
            row = await self.deliverable(conn, actor, disclosure_id)
            return await self.record_delivery(conn, actor, row, now)

    async def deliverable(
        self, conn: AsyncConnection, actor: Actor, disclosure_id: int
    ) -> disclosure_store.DisclosureRow:
        """The checks ``deliver`` makes (a letter sent from the hub makes them too): the actor is
        the proposer (as a person) or a MAPPA coordinator, and the disclosure is approved."""
        if not actor.has_role(Role.PRACTITIONER, Role.COORDINATOR):
            raise Forbidden("Your role cannot make a disclosure.")
        person = actor.person
        if person is None:
            raise Forbidden(_NAME_THE_PERSON)
        row = await disclosure_store.disclosure_by_id(conn, disclosure_id)
        if row is None or row.area_id != actor.agency.area_id:
            raise NotFound("No such disclosure.")
        if row.proposer_person_id is None:  # proposed before people were recorded
            proposer = actor.user.id == row.proposer_user_id
        else:
            proposer = person.id == row.proposer_person_id
        coordinator = actor.has_role(Role.COORDINATOR) and person.role is Role.COORDINATOR
        if not (proposer or coordinator):
            raise Forbidden("Only the proposer or a MAPPA coordinator records the disclosure.")
        if row.status == DELIVERED:
            raise Conflict("This disclosure has already been made.")
        if row.status != APPROVED:
            # The state, not the caller, is at fault: 409, as the API documents.
            raise Conflict(f"Only an approved disclosure can be made; this one is {row.status}.")
        return row

    async def record_delivery(
        self,
        conn: AsyncConnection,
        actor: Actor,
        row: disclosure_store.DisclosureRow,
        now: datetime,
    ) -> DisclosureView:
        """Record ``row`` (checked by ``deliverable``) as made, with its DISCLOSURE log entry, in
        the caller's transaction."""
        person = actor.person
        if person is None:  # pragma: no cover - deliverable refused it
            raise Forbidden(_NAME_THE_PERSON)
        if not await disclosure_store.update_disclosure(
            conn,
            row.id,
            APPROVED,
            status=DELIVERED,
            delivered_at=now,
            delivered_by_user_id=actor.user.id,
            delivered_by_person_id=person.id,
        ):
            raise Conflict("This disclosure was recorded a moment ago.")
        proposal = await packet_store.packet_by_id(conn, row.proposal_packet_id)
        await ledger.append(
            conn,
            Record(
                action=Action.DISCLOSURE,
                event=Event.THIRD_PARTY_DISCLOSED,
                recorded_at=now,
                actor_user_id=actor.user.id,
                actor_token_id=actor.token_id,
                actor_agency_id=actor.agency.id,
                case_id=row.case_id,
                packet_id=row.proposal_packet_id,
                purpose=row.purpose,
                lawful_basis=row.lawful_basis,
                content_digest=sha256_hex(proposal.header) if proposal else None,
                policy_version=row.policy_version,
                decision="PERMIT",
            ),
        )
        updated = await disclosure_store.disclosure_by_id(conn, row.id)
        if updated is None:  # pragma: no cover
            raise NotFound("No such disclosure.")
        return (await self._views(conn, [updated]))[0]
