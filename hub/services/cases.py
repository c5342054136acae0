"""MAPPA cases: create (a 'collection' on the log), list and show, limited to the actor's area."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.cases import Case, MappaCategory, MappaLevel
from hub.model.directory import Role
from hub.services import ledger
from hub.services.actor import Actor
from hub.store import cases as store
from hub.store import directory as directory_store
from hub.store import workflows as workflow_store
from hub.store.database import Database

_REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9/-]{2,31}$")


@dataclass(frozen=True)
class NewCase:
    family_name: str
    given_names: str
    category: MappaCategory
    level: MappaLevel
    lead_agency_code: str
    date_of_birth: date | None = None
    visor_ref: str | None = None
    pnc_ref: str | None = None
    ndelius_crn: str | None = None
    reference: str | None = None


class CaseService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, actor: Actor | None, new: NewCase) -> Case:
        """Open a case. ``actor`` None means the operator at the command line."""
        if actor is not None and not actor.has_role(Role.COORDINATOR):
            raise Forbidden("Only a MAPPA coordinator can open a case.")
        family, given = new.family_name.strip(), new.given_names.strip()
        if not family or not given:
            raise InvalidInput("A case needs a family name and given names.", field="family_name")
        now = self._clock.now()
        try:
            async with self._db.write() as conn:
                lead = await directory_store.agency_by_code(conn, new.lead_agency_code)
                if lead is None:
                    raise NotFound(f"unknown agency {new.lead_agency_code}")
                if actor is not None and actor.agency.area_id != lead.area_id:
                    raise Forbidden("A coordinator can only open cases in their own area.")
                area_id = lead.area_id
                reference = new.reference or await self._next_reference(conn, area_id, now.year)
                if not _REFERENCE.match(reference):
                    raise InvalidInput("Case references are 3-32 of A-Z, 0-9, '/' or '-'.")
                case = await store.add_case(
                    conn,
                    reference=reference,
                    family_name=family,
                    given_names=given,
                    date_of_birth=new.date_of_birth,
                    visor_ref=new.visor_ref,
                    pnc_ref=new.pnc_ref,
                    ndelius_crn=new.ndelius_crn,
                    category=new.category,
                    level=new.level,
                    lead_agency_id=lead.id,
                    area_id=area_id,
                    created_at=now,
                )
                await _log(conn, actor, Action.COLLECTION, Event.CASE_CREATED, case.id, now)
                # The lead agency is active on the case from the start (risk-change recipients).
                await workflow_store.join_case(conn, case.id, {lead.id}, now)
        except IntegrityError:
            raise Conflict(f"case reference {new.reference} is already in use") from None
        return case

    async def _next_reference(self, conn: AsyncConnection, area_id: int, year: int) -> str:
        areas = {a.id: a for a in await directory_store.list_areas(conn)}
        count = await store.count_cases_in_area(conn, area_id)
        return f"{areas[area_id].code}-{year}-{count + 1:04d}"

    async def visible_to(self, actor: Actor | None) -> list[Case]:
        async with self._db.read() as conn:
            return await store.list_cases(conn, None if actor is None else actor.agency.area_id)

    async def listed(self, actor: Actor) -> list[Case]:
        """The area's cases as its case list shows them to ``actor``: a case whose file is
        closed to the actor keeps its reference, name, category, level and lead agency, and
        loses its date of birth and national identifiers. The web's list shows no more; an API
        token sees no more than a person of its agency would."""
        async with self._db.read() as conn:
            cases = await store.list_cases(conn, actor.agency.area_id)
            open_ = await files_open_to(conn, actor, cases)
        return [c if c.id in open_ else withheld(c) for c in cases]

    async def record(self, actor: Actor, case_id: int) -> Case:
        """One case's full record (date of birth and identifiers), for those its file opens to
        (``file_opens_to``): as the case page, 403 in the actor's own area, where the list
        already names the case, and 404 for another area's case, as for one that does not
        exist."""
        async with self._db.read() as conn:
            return await open_file(conn, actor, case_id)

    async def get(self, actor: Actor | None, reference_or_id: str | int) -> Case:
        async with self._db.read() as conn:
            if isinstance(reference_or_id, int):
                case = await store.case_by_id(conn, reference_or_id)
            else:
                case = await store.case_by_reference(conn, reference_or_id)
        if case is None:
            raise NotFound("No such case.")
        if actor is not None and case.area_id != actor.agency.area_id:
            # Same answer as a missing case: do not confirm a case exists in another area.
            raise NotFound("No such case.")
        return case

    async def change_level(
        self,
        actor: Actor | None,
        reference: str,
        level: MappaLevel,
        category: MappaCategory | None = None,
    ) -> Case:
        """Record a change of MAPPA level (or category): an 'alteration' on the log."""
        if actor is not None and not actor.has_role(Role.COORDINATOR):
            raise Forbidden("Only a MAPPA coordinator can change a case's level.")
        case = await self.get(actor, reference)
        new_category = category or case.category
        now = self._clock.now()
        async with self._db.write() as conn:
            await store.set_level(conn, case.id, level, new_category, now)
            change = f"{int(case.level)}/{int(case.category)}->{int(level)}/{int(new_category)}"
            await _log(conn, actor, Action.ALTERATION, Event.CASE_ALTERED, case.id, now, change)
        return await self.get(actor, reference)

    async def combine(self, actor: Actor | None, keep: str, duplicate: str) -> Case:
        """Combine a duplicate record into the case kept: a 'combination' on the log.

        The duplicate disappears from lists and can no longer be sent about; its packets stay
        under the reference their signed headers name, and the log ties the two together.
        """
        if actor is not None and not actor.has_role(Role.COORDINATOR):
            raise Forbidden("Only a MAPPA coordinator can combine case records.")
        kept, dup = await self.get(actor, keep), await self.get(actor, duplicate)
        if kept.id == dup.id:
            raise InvalidInput("A case cannot be combined with itself.")
        if kept.merged_into_id is not None or dup.merged_into_id is not None:
            raise Conflict("One of these cases has already been combined into another.")
        if kept.area_id != dup.area_id:
            raise InvalidInput("Only cases of the same area can be combined; transfer it first.")
        now = self._clock.now()
        async with self._db.write() as conn:
            await store.mark_merged(conn, dup.id, kept.id)
            combined = f"{dup.id}->{kept.id}"
            await _log(
                conn, actor, Action.COMBINATION, Event.CASES_COMBINED, kept.id, now, combined
            )
        return kept

    async def involve(self, actor: Actor | None, reference: str, agency_code: str) -> Case:
        """Bring an agency into the case's arrangements: from now on it is active on the case
        (its case page opens to it, and shares to it are inside the arrangements wherever it
        sits). The case's coordinator or its lead agency decides this, not the act of sending
        a packet. An alteration on the log, naming the agency."""
        if actor is not None and not actor.has_role(Role.COORDINATOR, Role.PRACTITIONER):
            raise Forbidden("Your role cannot involve an agency in a case.")
        case = await self.get(actor, reference)
        if actor is not None and not (
            actor.has_role(Role.COORDINATOR) or actor.agency.id == case.lead_agency_id
        ):
            raise Forbidden(
                "Only the area's MAPPA coordinator or the lead agency involves agencies."
            )
        if case.merged_into_id is not None:
            raise InvalidInput("This case record was combined into another: involve in that case.")
        now = self._clock.now()
        async with self._db.write() as conn:
            agency = await directory_store.agency_by_code(conn, agency_code.strip().upper())
            if agency is None or agency.kind.value in ("third-party",):
                raise InvalidInput("Unknown agency.", field="agency", code="unknown_agency")
            if await workflow_store.is_active_on(conn, case.id, agency.id):
                raise Conflict(f"{agency.name} is already active on this case.")
            await workflow_store.join_case(conn, case.id, {agency.id}, now)
            await _log(
                conn,
                actor,
                Action.ALTERATION,
                Event.CASE_AGENCY_INVOLVED,
                case.id,
                now,
                f"involved:{agency.id}",
                recipients=(agency.id,),
            )
        return case


def withheld(case: Case) -> Case:
    """The case as a list names it to someone its file is closed to."""
    return dataclasses.replace(
        case, date_of_birth=None, visor_ref=None, pnc_ref=None, ndelius_crn=None
    )


async def file_opens_to(conn: AsyncConnection, actor: Actor, case: Case) -> bool:
    """Whether the case's file (its person, packets, meetings) opens to ``actor``: to the
    agencies active on the case, wherever they sit, and to the MAPPA coordinators of its area,
    who broker every case in it (schedule the meetings, quality-assure the minutes). Agency
    administrators manage tokens and keys, and see no case content."""
    if actor.has_role(Role.AGENCY_ADMIN):
        return False
    if actor.has_role(Role.COORDINATOR) and case.area_id == actor.agency.area_id:
        return True
    return await workflow_store.is_active_on(conn, case.id, actor.agency.id)


async def files_open_to(conn: AsyncConnection, actor: Actor, cases: list[Case]) -> set[int]:
    """The ids of those ``cases`` whose file opens to ``actor`` (one query, for lists)."""
    if actor.has_role(Role.AGENCY_ADMIN) or not cases:
        return set()
    found = await workflow_store.active_among(conn, actor.agency.id, sorted(c.id for c in cases))
    if actor.has_role(Role.COORDINATOR):
        found |= {c.id for c in cases if c.area_id == actor.agency.area_id}
    return found


async def open_file(conn: AsyncConnection, actor: Actor, case_id: int) -> Case:
    """The case, if its file opens to ``actor``. Refused: 403 for a case of the actor's own
    area (its list names the case already), 404 for any other, exactly as for an id that names
    nothing, so that no answer confirms a case exists in another area."""
    if actor.has_role(Role.AGENCY_ADMIN):  # whatever the id: no case answers differently
        raise Forbidden(
            "Agency administrators manage API tokens and keys; they do not read case files."
        )
    case = await store.case_by_id(conn, case_id)
    if case is None:
        raise NotFound("No such case.")
    if await file_opens_to(conn, actor, case):
        return case
    if case.area_id != actor.agency.area_id:
        raise NotFound("No such case.")
    raise Forbidden("Your agency is not active on this case, so its file is closed to you.")


async def _log(
    conn: AsyncConnection,
    actor: Actor | None,
    action: Action,
    event: Event,
    case_id: int,
    when: datetime,
    change: str | None = None,
    recipients: tuple[int, ...] = (),
) -> None:
    """A case-record event on the log, in the caller's transaction (``actor`` None: operator)."""
    await ledger.append(
        conn,
        Record(
            action=action,
            event=event,
            recorded_at=when,
            actor_user_id=actor.user.id if actor else None,
            actor_token_id=actor.token_id if actor else None,
            actor_agency_id=actor.agency.id if actor else None,
            case_id=case_id,
            recipients=recipients,
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            content_digest=sha256_hex(change.encode()) if change is not None else None,
        ),
    )
