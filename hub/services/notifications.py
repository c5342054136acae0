"""What wants a person's attention, computed from the records (nothing stored to compute it).

For the signed-in person: the decisions lately taken on what they proposed (shares held for
approval, released or refused; third-party disclosures approved, refused or delivered), the
requests for information put to their agency and still open (for the roles that answer them),
and their agency's items due or overdue (``CaseworkService.due``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.clock import Clock
from hub.model.directory import Role
from hub.services.actor import Actor
from hub.services.casework import CaseworkService, DueItem
from hub.services.requests import RequestService, RequestView
from hub.store import cases as case_store
from hub.store import disclosures as disclosure_store
from hub.store import held_shares as held_store
from hub.store import packets as packet_store
from hub.store import workflows as workflow_store
from hub.store.database import Database
from hub.workflows.deadlines import ItemKind

# Decisions stay news this long after they were taken.
RECENT = timedelta(days=30)
# The roles with a notifications page (hub.web.navigation): the agency's casework roles.
NOTIFIED_ROLES = (Role.PRACTITIONER, Role.COORDINATOR, Role.SENIOR_MANAGER)
_PROPOSERS = (Role.PRACTITIONER, Role.COORDINATOR)
_ANSWERERS = (Role.PRACTITIONER, Role.COORDINATOR)


@dataclass(frozen=True)
class DecisionNote:
    """A decision on something the person proposed."""

    kind: str  # "share" (held for approval) or "disclosure" (third-party)
    id: int
    case_reference: str
    status: str  # released, refused / approved, refused, delivered
    decided_at: datetime
    # What was proposed: the packet type of a share, the recipient kind of a disclosure.
    what: str

    @property
    def link(self) -> str:
        return f"/shares/{self.id}" if self.kind == "share" else f"/disclosures/{self.id}"


@dataclass(frozen=True)
class Notifications:
    decisions: list[DecisionNote] = field(default_factory=list)
    requests: list[RequestView] = field(default_factory=list)
    due: list[DueItem] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.decisions) + len(self.requests) + len(self.due)


class NotificationService:
    def __init__(
        self, db: Database, clock: Clock, requests: RequestService, casework: CaseworkService
    ) -> None:
        self._db = db
        self._clock = clock
        self._requests = requests
        self._casework = casework

    async def for_actor(self, actor: Actor) -> Notifications:
        """The person's notifications; empty for a role with no notifications page, and for an
        API token (a system has no person's page)."""
        if actor.token_id is not None or not actor.has_role(*NOTIFIED_ROLES):
            return Notifications()
        decisions = await self._decisions(actor) if actor.has_role(*_PROPOSERS) else []
        requests: list[RequestView] = []
        if actor.has_role(*_ANSWERERS):
            queue = await self._requests.queue(actor)
            requests = [r for r in queue.incoming if r.row.status == workflow_store.OPEN]
        # A request put to the agency is also a work item: listed once, under requests.
        due = [
            d
            for d in await self._casework.due(actor)
            if d.kind is not ItemKind.REQUEST or not actor.has_role(*_ANSWERERS)
        ]
        return Notifications(decisions, requests, due)

    async def _decisions(self, actor: Actor) -> list[DecisionNote]:
        since = self._clock.now() - RECENT
        me = actor.user.id
        notes: list[DecisionNote] = []
        async with self._db.read() as conn:
            shares = [
                r
                for r in await held_store.proposed_by_agency(conn, actor.agency.id)
                if me in (r.proposer_person_id, r.proposer_user_id)
                and r.status != held_store.AWAITING
                and r.closed_at is not None
                and r.closed_at >= since
            ]
            disclosures = [
                d
                for d in await disclosure_store.disclosure_register(
                    conn, area_id=actor.agency.area_id
                )
                if me in (d.proposer_person_id, d.proposer_user_id)
                and d.decided_at is not None
                and (d.delivered_at or d.decided_at) >= since
                # The register page opens to agencies active on the case (DisclosureService).
                and await workflow_store.is_active_on(conn, d.case_id, actor.agency.id)
            ]
            refs = await case_store.references_by_ids(
                conn, {r.case_id for r in shares} | {d.case_id for d in disclosures}
            )
            for r in shares:
                packet = await packet_store.packet_by_id(conn, r.packet_id, include_held=True)
                notes.append(
                    DecisionNote(
                        "share",
                        r.id,
                        refs.get(r.case_id, "?"),
                        r.status,
                        r.closed_at or r.created_at,
                        packet.packet_type if packet is not None else "",
                    )
                )
        for d in disclosures:
            notes.append(
                DecisionNote(
                    "disclosure",
                    d.id,
                    refs.get(d.case_id, "?"),
                    d.status,
                    d.delivered_at or d.decided_at or d.created_at,
                    d.recipient_kind,
                )
            )
        notes.sort(key=lambda n: n.decided_at, reverse=True)
        return notes

    async def count(self, actor: Actor) -> int:
        return (await self.for_actor(actor)).count
