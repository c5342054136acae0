"""Meetings, actions and deadlines: what is due, what is overdue, and the case page that shows it.

Deadlines come from ``hub.workflows.deadlines`` (the one place the guidance's timescales live).
An overdue item raises a reminder once (``raise_reminders``): it shows in the inbox of its owner
and of the area's coordinators, and the stamp is what an email notifier picks up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.model.cases import Case
from hub.model.directory import Role
from hub.policy.transfer import TransferPolicy
from hub.services import notices, transfer_steps
from hub.services.actor import Actor
from hub.services.cases import open_file
from hub.services.workflow_rules import record_meeting
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import disclosures as disclosure_store
from hub.store import packets as packet_store
from hub.store import workflows as store
from hub.store.database import Database
from hub.workflows import deadlines
from hub.workflows.deadlines import ItemKind, is_overdue, local_date
from hub.workflows.forms import LATEST

MAX_OUTCOME_CHARS = 5000
MAX_MEETING_AGE_DAYS = 366
_AREA_VIEW = (Role.COORDINATOR, Role.SENIOR_MANAGER)


@dataclass(frozen=True)
class DueItem:
    row: store.WorkItemRow
    kind: ItemKind
    case_reference: str
    owner_agency: str
    overdue: bool
    # Working days late (positive) or left (negative or zero); for a closed item, as closed.
    days_late: int

    @property
    def id(self) -> int:
        return self.row.id


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    kind: str
    title: str
    detail: str
    status: str = ""
    link: str | None = None
    late: bool = False


@dataclass(frozen=True)
class CaseFile:
    case: Case
    lead_agency: str
    active_agencies: list[str]
    timeline: list[TimelineEntry]
    open_items: list[DueItem]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=UTC)


class CaseworkService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        transfer_policy: Callable[[], TransferPolicy | None] = lambda: None,
    ) -> None:
        self._db = db
        self._clock = clock
        # Whom an overdue transfer step is escalated to (policies/transfer.toml), read per sweep.
        self._transfer_policy = transfer_policy

    def _today(self) -> date:
        return local_date(self._clock.now())

    async def _case_in_area(self, conn: AsyncConnection, actor: Actor, case_id: int) -> Case:
        case = await case_store.case_by_id(conn, case_id)
        if case is None or case.area_id != actor.agency.area_id:
            raise NotFound("No such case.")
        return case

    # -- meetings, referrals, actions ------------------------------------------------------

    async def record_meeting(self, actor: Actor, case_id: int, held_on: date, level: int) -> int:
        """A coordinator records a level 2/3 meeting: minutes and the next review fall due."""
        if not actor.has_role(Role.COORDINATOR):
            raise Forbidden("Only a MAPPA coordinator records meetings.")
        if level not in deadlines.MINUTES_WORKING_DAYS:
            raise InvalidInput("MAPPA meetings are held at level 2 or 3.", field="level")
        if held_on > self._today():
            raise InvalidInput("A meeting is recorded once it has been held.", field="held_on")
        if held_on < self._today() - timedelta(days=MAX_MEETING_AGE_DAYS):
            raise InvalidInput(
                "A meeting is recorded within a year of being held; older minutes are sent as "
                "minutes, with their own date.",
                field="held_on",
            )
        now = self._clock.now()
        async with self._db.write() as conn:
            case = await self._case_in_area(conn, actor, case_id)
            meeting_id = await record_meeting(conn, case, held_on, level, actor, now)
            await store.join_case(conn, case.id, {actor.agency.id}, now)
        return meeting_id

    async def expect_release(self, actor: Actor, case_id: int, release: date) -> DueItem:
        """A prisoner's release date is known: the referral falls due six months before it."""
        if not actor.has_role(Role.COORDINATOR, Role.PRACTITIONER):
            raise Forbidden("Your role cannot record a release date.")
        if release <= self._today():
            raise InvalidInput("The release date must be in the future.", field="release_date")
        if release > LATEST:
            raise InvalidInput("The release date is too far ahead.", field="release_date")
        now = self._clock.now()
        async with self._db.write() as conn:
            case = await self._case_in_area(conn, actor, case_id)
            if not (
                actor.has_role(Role.COORDINATOR)
                or await store.is_active_on(conn, case.id, actor.agency.id)
            ):
                raise Forbidden("Your agency is not active on this case.")
            for item in await store.open_items(conn, case_id=case.id, kind=ItemKind.REFERRAL.value):
                await store.close_item(conn, item.id, now, status=store.CANCELLED)
            item_id = await store.insert_item(
                conn,
                kind=ItemKind.REFERRAL.value,
                case_id=case.id,
                area_id=case.area_id,
                owner_agency_id=case.lead_agency_id,
                due_on=deadlines.referral_due(release),
                created_at=now,
            )
            row = await store.item_by_id(conn, item_id)
            if row is None:  # pragma: no cover - inserted above
                raise NotFound("No such item.")
            return (await self._due_items(conn, [row]))[0]

    async def complete_action(self, actor: Actor, item_id: int, outcome: str) -> DueItem:
        """An action is done only with its outcome recorded ("completed" with none, 002 l.26)."""
        outcome = outcome.strip()
        if not outcome:
            raise InvalidInput("Record the action's outcome to complete it.", field="outcome")
        if len(outcome) > MAX_OUTCOME_CHARS:
            raise InvalidInput(
                f"The outcome is longer than {MAX_OUTCOME_CHARS} characters.", field="outcome"
            )
        now = self._clock.now()
        async with self._db.write() as conn:
            row = await store.item_by_id(conn, item_id)
            if row is None or row.kind != ItemKind.ACTION or row.area_id != actor.agency.area_id:
                raise NotFound("No such action.")
            if row.owner_agency_id != actor.agency.id and not actor.has_role(Role.COORDINATOR):
                raise Forbidden("This action belongs to another agency.")
            if not actor.has_role(Role.PRACTITIONER, Role.COORDINATOR):
                raise Forbidden("Your role cannot complete actions.")
            if not await store.close_item(
                conn, row.id, now, user_id=actor.user.id, outcome=outcome
            ):
                raise Conflict("This action is already completed.")
            updated = await store.item_by_id(conn, item_id)
            if updated is None:  # pragma: no cover
                raise NotFound("No such action.")
            return (await self._due_items(conn, [updated]))[0]

    # -- deadlines -------------------------------------------------------------------------

    async def due(self, actor: Actor, *, area: bool = False) -> list[DueItem]:
        """Open items due within two weeks or overdue: the agency's own, or (coordinators) the
        whole area's."""
        horizon = self._today() + timedelta(days=deadlines.DUE_SOON_DAYS)
        async with self._db.read() as conn:
            if area:
                if not actor.has_role(*_AREA_VIEW):
                    raise Forbidden("The area's deadlines are for MAPPA coordinators.")
                rows = await store.open_items(conn, area_id=actor.agency.area_id, due_by=horizon)
            else:
                rows = await store.open_items(conn, owner_agency_id=actor.agency.id, due_by=horizon)
            return await self._due_items(conn, rows)

    async def raise_reminders(self) -> list[DueItem]:
        """Stamp items that went overdue since the last sweep; return them (to notify)."""
        now = self._clock.now()
        async with self._db.write() as conn:
            rows = await store.mark_reminded(conn, local_date(now), now)
            # Each reminder's email, in the stamp's transaction: told once, exactly when stamped.
            await notices.items_overdue(conn, rows, now)
            transfers = self._transfer_policy()
            if transfers is not None:
                await transfer_steps.escalate_overdue(conn, rows, now, transfers.escalate_to)
            return await self._due_items(conn, rows)

    async def _due_items(
        self, conn: AsyncConnection, rows: list[store.WorkItemRow]
    ) -> list[DueItem]:
        agencies = await directory_store.agencies_by_ids(
            conn, sorted({r.owner_agency_id for r in rows})
        )
        refs: dict[int, str] = {}
        for case_id in {r.case_id for r in rows}:
            case = await case_store.case_by_id(conn, case_id)
            refs[case_id] = case.reference if case else "?"
        today = self._today()
        out = []
        for r in rows:
            end = local_date(r.closed_at) if r.closed_at else today
            out.append(
                DueItem(
                    row=r,
                    kind=ItemKind(r.kind),
                    case_reference=refs[r.case_id],
                    owner_agency=agencies[r.owner_agency_id].name,
                    overdue=r.status == store.OPEN and is_overdue(r.due_on, today),
                    days_late=deadlines.working_days_between(r.due_on, end),
                )
            )
        return out

    # -- the case page ---------------------------------------------------------------------

    async def openable_files(self, actor: Actor, case_ids: Iterable[int]) -> set[int]:
        """Which of these cases' files ``case_file`` opens to the actor: for links, so that no
        page offers one that would answer 403."""
        wanted = sorted(set(case_ids))
        if actor.has_role(Role.AGENCY_ADMIN) or not wanted:
            return set()
        async with self._db.read() as conn:
            found = await store.active_among(conn, actor.agency.id, wanted)
            if actor.has_role(Role.COORDINATOR):
                for case_id in set(wanted) - found:
                    case = await case_store.case_by_id(conn, case_id)
                    if case is not None and case.area_id == actor.agency.area_id:
                        found.add(case_id)
            return found

    async def case_file(self, actor: Actor, case_id: int) -> CaseFile:
        """Everything on a case in time order, for its active agencies and the area coordinator."""
        if actor.has_role(Role.AGENCY_ADMIN):
            raise Forbidden(
                "Agency administrators manage API tokens and keys; they do not read case files."
            )
        async with self._db.read() as conn:
            # 403 in the actor's own area; another area's case answers as a missing one.
            case = await open_file(conn, actor, case_id)
            active = await store.case_agency_ids(conn, case.id)
            agencies = await directory_store.agencies_by_ids(
                conn, sorted(active | {case.lead_agency_id})
            )
            packets = await packet_store.case_packets(conn, case.id)
            # Earlier packets of a case transferred in, opened with the keys the import added.
            keyed = await packet_store.openable(conn, actor.agency.id, [p.id for p in packets])
            meetings = await store.case_meetings(conn, case.id)
            items = await store.case_items(conn, case.id)
            requests = await store.case_requests(conn, case.id)
            disclosures = await disclosure_store.disclosure_register(conn, case_id=case.id)
            sender_names = await directory_store.agencies_by_ids(
                conn,
                sorted(
                    {p.sender_agency_id for p in packets}
                    | {d.proposer_agency_id for d in disclosures}
                ),
            )
            due_items = await self._due_items(conn, items)
        mine = actor.agency.id
        timeline: list[TimelineEntry] = []
        for p in packets:
            held = mine == p.sender_agency_id or mine in p.recipient_agency_ids or p.id in keyed
            timeline.append(
                TimelineEntry(
                    when=p.created_at,
                    kind=p.packet_type,
                    title=f"{p.packet_type.replace('-', ' ').capitalize()} from "
                    f"{sender_names[p.sender_agency_id].name}",
                    detail="" if held else "Sent between other agencies: not readable by yours.",
                    link=f"/packets/{p.id}" if held else None,
                )
            )
        for m in meetings:
            minutes = next(
                (i for i in items if i.meeting_id == m.id and i.kind == ItemKind.MINUTES), None
            )
            late = bool(
                minutes and minutes.closed_at and local_date(minutes.closed_at) > minutes.due_on
            )
            status = "minutes circulated" if m.minutes_packet_id else "minutes awaited"
            timeline.append(
                TimelineEntry(
                    when=_day_start(m.held_on),
                    kind="meeting",
                    title=f"Level {m.level} MAPPA meeting",
                    detail=f"Minutes due {minutes.due_on:%d %b %Y}" if minutes else "",
                    status=status + (" (late)" if late else ""),
                    late=late,
                    link=f"/packets/{m.minutes_packet_id}" if m.minutes_packet_id else None,
                )
            )
        for r in requests:
            if r.closed_at:
                target = agencies.get(r.target_agency_id)
                timeline.append(
                    TimelineEntry(
                        when=r.closed_at,
                        kind="request",
                        title=f"Request to {target.name if target else 'another agency'} {r.status}",
                        detail=r.decline_reason or "",
                        status=r.status,
                        late=local_date(r.closed_at) > r.due_on,
                    )
                )
        for d in disclosures:
            timeline.append(
                TimelineEntry(
                    when=d.delivered_at or d.decided_at or d.created_at,
                    kind="disclosure",
                    title=f"Third-party disclosure ({d.recipient_kind.replace('-', ' ')})",
                    detail=f"Proposed by {sender_names[d.proposer_agency_id].name}",
                    status=d.status,
                    link=f"/disclosures/{d.id}",
                )
            )
        for item in due_items:
            if (
                item.kind is ItemKind.REFERRAL
                and item.row.closed_by_packet_id
                and item.row.closed_at
            ):
                timeline.append(
                    TimelineEntry(
                        when=item.row.closed_at,
                        kind="referral-deadline",
                        title=f"Referral due by {item.row.due_on:%d %b %Y} (six months before "
                        "release)",
                        detail=f"Made {item.days_late} working days late"
                        if item.days_late > 0
                        else "Made in time",
                        status="late" if item.days_late > 0 else "in time",
                        late=item.days_late > 0,
                    )
                )
            if item.kind is ItemKind.ACTION and item.row.closed_at:
                timeline.append(
                    TimelineEntry(
                        when=item.row.closed_at,
                        kind="action",
                        title=f"Action for {item.owner_agency} completed",
                        detail=item.row.outcome or "",
                        status="done",
                        late=item.days_late > 0,
                    )
                )
        timeline.sort(key=lambda e: e.when)
        return CaseFile(
            case=case,
            lead_agency=agencies[case.lead_agency_id].name,
            active_agencies=sorted(agencies[a].name for a in active if a in agencies),
            timeline=timeline,
            open_items=[i for i in due_items if i.row.status == store.OPEN],
        )
