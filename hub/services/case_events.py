"""Recording typed, dated events on a case (``hub.model.case_events``): who may, what each kind
needs, and the log entry. Each event is kept with the case's area and MAPPA level on the day it
happened, so the annual report counts it where and how the case was managed then.

Who records: the area's MAPPA coordinator, or a practitioner of a Responsible Authority agency
active on the case (police record breaches and charges, probation and prisons recalls). The end
of MAPPA management also closes the case's grading from that day: it no longer counts as managed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.case_events import CaseEvent, CaseEventKind, OrderStage, OrderType
from hub.model.directory import AgencyKind, Role
from hub.services import ledger
from hub.services.actor import Actor
from hub.store import case_events as store
from hub.store import cases as case_store
from hub.store import workflows as workflow_store
from hub.store.database import Database

UK = ZoneInfo("Europe/London")
# An event is recorded within this many years of the day it happened (and never in the future).
MAX_YEARS_BACK = 10


@dataclass(frozen=True)
class NewCaseEvent:
    kind: str
    occurred_on: date
    order_type: str | None = None
    order_stage: str | None = None


def start_of(day: date) -> datetime:
    """The UTC instant a UK calendar day begins."""
    return datetime.combine(day, time.min, tzinfo=UK).astimezone(ZoneInfo("UTC"))


def _parse(
    new: NewCaseEvent, today: date
) -> tuple[CaseEventKind, OrderType | None, OrderStage | None]:
    try:
        kind = CaseEventKind(new.kind)
    except ValueError:
        raise InvalidInput("Choose what happened.", field="kind") from None
    if not today - timedelta(days=366 * MAX_YEARS_BACK) <= new.occurred_on <= today:
        raise InvalidInput(
            "Enter the date it happened: today or earlier, within the last ten years.",
            field="occurred_on",
        )
    order = stage = None
    if kind.is_order:
        try:
            order = OrderType(new.order_type or "")
        except ValueError:
            raise InvalidInput("Choose the order.", field="order_type") from None
        if kind is CaseEventKind.ORDER_GRANTED:
            try:
                stage = OrderStage(new.order_stage or "")
            except ValueError:
                raise InvalidInput(
                    "Say whether the order granted is interim or full.", field="order_stage"
                ) from None
    elif new.order_type or new.order_stage:
        raise InvalidInput("Only an order applied for or granted names an order.", field="kind")
    return kind, order, stage


class CaseEventService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record(self, actor: Actor | None, case_id: int, new: NewCaseEvent) -> CaseEvent:
        """Record an event on the case (``actor`` None: the operator at the console)."""
        now = self._clock.now()
        kind, order, stage = _parse(new, now.astimezone(UK).date())
        async with self._db.write() as conn:
            case = await case_store.case_by_id(conn, case_id)
            if case is None or (actor is not None and case.area_id != actor.agency.area_id):
                raise NotFound("No such case.")
            if case.merged_into_id is not None:
                raise InvalidInput("This case record was combined into another: record it there.")
            if actor is not None:
                await _may_record(conn, actor, case_id)
            then = await store.grading_at(conn, case_id, start_of(new.occurred_on + timedelta(1)))
            if then is None:
                # Before the case was opened here (or its history began): as it is now.
                then = await store.grading_at(conn, case_id, now)
            if then is None:
                raise Conflict("This case is no longer managed here.")
            if any(
                (e.kind, e.occurred_on, e.order_type, e.order_stage)
                == (kind, new.occurred_on, order, stage)
                for e in await store.events_for_case(conn, case_id)
            ):
                # Two agencies recording the same order would count it twice in the report.
                raise Conflict("This event is already recorded on the case for that day.")
            event = await store.insert_event(
                conn,
                case_id=case_id,
                kind=kind.value,
                occurred_on=new.occurred_on,
                order_type=order.value if order else None,
                order_stage=stage.value if stage else None,
                area_id=then["area_id"],
                level=then["level"],
                recorded_by_user_id=actor.user.id if actor else None,
                recorded_by_agency_id=actor.agency.id if actor else None,
                recorded_at=now,
            )
            if kind is CaseEventKind.MANAGEMENT_ENDED:
                # Not managed from that day; a row opened since then closes where it began.
                current = await store.grading_at(conn, case_id, now)
                since = current["valid_from"] if current is not None else then["valid_from"]
                await store.close_grading(conn, case_id, max(start_of(new.occurred_on), since))
            detail = f"{kind.value}:{new.occurred_on.isoformat()}:{order or ''}:{stage or ''}"
            await ledger.append(conn, Record(
                action=Action.COLLECTION, event=Event.CASE_EVENT_RECORDED, recorded_at=now,
                actor_user_id=actor.user.id if actor else None,
                actor_token_id=actor.token_id if actor else None,
                actor_agency_id=actor.agency.id if actor else None,
                case_id=case_id, recipients=(), purpose="risk-management",
                lawful_basis="cja2003-s325", content_digest=sha256_hex(detail.encode()),
            ))  # fmt: skip
            return event

    async def for_case(self, actor: Actor | None, case_id: int) -> list[CaseEvent]:
        async with self._db.read() as conn:
            case = await case_store.case_by_id(conn, case_id)
            if case is None or (actor is not None and case.area_id != actor.agency.area_id):
                raise NotFound("No such case.")
            return await store.events_for_case(conn, case_id)

    async def may_record(self, actor: Actor, case_id: int) -> bool:
        """For the case page: whether to offer the form."""
        async with self._db.read() as conn:
            try:
                await _may_record(conn, actor, case_id)
            except Forbidden:
                return False
        return True


async def _may_record(conn: AsyncConnection, actor: Actor, case_id: int) -> None:
    if actor.has_role(Role.COORDINATOR):
        return
    if (
        not actor.has_role(Role.PRACTITIONER)
        or actor.agency.kind is not AgencyKind.RESPONSIBLE_AUTHORITY
    ):
        raise Forbidden(
            "Events on a case are recorded by its MAPPA coordinator or a Responsible Authority "
            "agency on the case."
        )
    if not await workflow_store.is_active_on(conn, case_id, actor.agency.id):
        raise Forbidden("Your agency is not active on this case.")
