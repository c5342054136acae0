"""The ViSOR-style nominal record kept per case: read, changed and imported (its export, a
share, is ``hub.services.visor_export``).

The record is a document (the shape of adapters/visor's schema, without its version field). What
the case row already keeps in clear (the identifiers, category, level and lead agency) stays on
the case row; the rest is sealed (``hub.services.visor_sealing``). Every change is an s62 entry
(collection or alteration, with the SHA-256 of the canonical document), every read on the case
page a consultation - each in the transaction of what it records.

Who may do what (deny by default, decided here, not by the pages):
- read and export: practitioners and coordinators of a Responsible Authority agency (not victim
  liaison) active on the case, and the area's MAPPA coordinator. Duty-to-cooperate agencies get
  what they need in packets; auditors and agency administrators read no case content.
- change and import: the area's MAPPA coordinator (or the operator at the command line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.cases import Case
from hub.model.directory import Agency, AgencyKind, AgencyType, Role
from hub.policy.model import Decision
from hub.services import ledger
from hub.services import visor_sealing as sealing
from hub.services.actor import Actor
from hub.services.keyring import KeyRing
from hub.services.visor_document import add_hub_history, canonical_digest
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import disclosures as disclosure_store
from hub.store import visor as store
from hub.store import workflows as workflow_store
from hub.store.database import Database
from hub.store.visor import CaseIdentity, VisorRow
from hub.workflows.deadlines import local_date

# Sealed: everything of the record beyond the case row.
SEALED_KEYS = (
    "addresses",
    "offences",
    "orders",
    "risk_assessments",
    "risk_management_plan",
    "licence_conditions",
    "meetings",
    "disclosure_decisions",
)
PURPOSE, LAWFUL_BASIS = "risk-management", "cja2003-s325"
_READERS = (Role.PRACTITIONER, Role.COORDINATOR)


@dataclass(frozen=True)
class RecordView:
    case: Case
    document: dict[str, Any]
    version: int


@dataclass(frozen=True)
class Imported:
    case: Case
    created_case: bool
    created_record: bool
    version: int


async def agency_of(conn: AsyncConnection, agency_id: int) -> Agency:
    found = await directory_store.agency_by_id(conn, agency_id)
    if found is None:  # a foreign key: only a damaged database
        raise NotFound("No such agency.")
    return found


def _refused(message: str, field: str, detail: str) -> InvalidInput:
    """The whole file refused, naming the field at fault (the import page lists it)."""
    return InvalidInput(message, errors=[{"field": field, "message": detail}])


class VisorRecordService:
    def __init__(self, db: Database, keyring: KeyRing, clock: Clock) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock

    def today(self) -> date:
        return local_date(self._clock.now())

    # -- who may -------------------------------------------------------------------------

    @staticmethod
    async def _may_read(conn: AsyncConnection, actor: Actor, case: Case) -> bool:
        if not actor.has_role(*_READERS):
            return False
        if actor.has_role(Role.COORDINATOR) and actor.agency.area_id == case.area_id:
            return True
        agency = actor.agency
        return (
            agency.kind is AgencyKind.RESPONSIBLE_AUTHORITY
            and agency.type is not AgencyType.VICTIM_LIAISON
            and await workflow_store.is_active_on(conn, case.id, agency.id)
        )

    async def may_read(self, actor: Actor, case_id: int) -> bool:
        async with self._db.read() as conn:
            case = await case_store.case_by_id(conn, case_id)
            return case is not None and await self._may_read(conn, actor, case)

    @staticmethod
    def may_import(actor: Actor | None) -> bool:
        return actor is None or actor.has_role(Role.COORDINATOR)

    def require_importer(self, actor: Actor | None) -> None:
        if not self.may_import(actor):
            raise Forbidden("Only a MAPPA coordinator can import or change a nominal record.")

    async def readable_case(
        self, conn: AsyncConnection, actor: Actor | None, ref: str | int
    ) -> Case:
        """The case by id or reference, if ``actor`` (None the operator) may read its record;
        Forbidden for a case of the actor's area it may not, NotFound otherwise."""
        case = (
            await case_store.case_by_id(conn, ref)
            if isinstance(ref, int)
            else await case_store.case_by_reference(conn, ref)
        )
        if case is None or (actor is not None and not await self._may_read(conn, actor, case)):
            if case is not None and actor is not None and case.area_id == actor.agency.area_id:
                raise Forbidden("Your role or agency cannot read this case's nominal record.")
            raise NotFound("No such case.")
        return case

    # -- the document --------------------------------------------------------------------

    async def document(
        self, conn: AsyncConnection, case: Case, opener: Agency | None
    ) -> tuple[dict[str, Any], int] | None:
        """The case's record as a document, and its version; None if it has none. Unsealed for
        ``opener`` (None: the operator, with the lead agency's key); who may is the caller's
        check (``readable_case``)."""
        row = await store.record_of(conn, case.id)
        if row is None:
            return None
        lead = await agency_of(conn, case.lead_agency_id)
        if opener is None:  # the operator opens with the lead agency's key
            opener = lead
        content = await sealing.unseal(
            self._keyring, row.sealed, case.id, row.version, row.signer_agency_id, opener
        )
        person: dict[str, Any] = {"family_name": case.family_name, "given_names": case.given_names}
        for key in ("date_of_birth", "pnc_ref", "visor_ref", "ndelius_crn"):
            value = getattr(case, key)
            if value is not None:
                person[key] = value.isoformat() if isinstance(value, date) else value
        if content.get("aliases"):
            person["aliases"] = content["aliases"]
        doc: dict[str, Any] = {
            "case_reference": case.reference,
            "person": person,
            "mappa": {
                "category": int(case.category),
                "level": int(case.level),
                "lead_agency": lead.code,
            },
        }
        for key in SEALED_KEYS:
            if content.get(key):
                doc[key] = content[key]
        add_hub_history(
            doc,
            await workflow_store.case_meetings(conn, case.id),
            await disclosure_store.disclosure_register(conn, case_id=case.id),
        )
        return doc, row.version

    # -- reading (the case page) ---------------------------------------------------------

    async def view(self, actor: Actor, case_id: int) -> RecordView | None:
        """The record for the case page, the reading logged as a consultation; None if the case
        has no record yet."""
        async with self._db.write() as conn:
            case = await self.readable_case(conn, actor, case_id)
            found = await self.document(conn, case, actor.agency)
            if found is None:
                return None
            doc, version = found
            await ledger.append(
                conn,
                entry(
                    actor,
                    Action.CONSULTATION,
                    Event.VISOR_RECORD_OPENED,
                    case,
                    canonical_digest(doc),
                    self._clock.now(),
                ),
            )
        return RecordView(case, doc, version)

    async def has_record(self, case_ids: list[int]) -> set[int]:
        async with self._db.read() as conn:
            return await store.cases_with_records(conn, case_ids)

    # -- changing ------------------------------------------------------------------------

    async def save(self, actor: Actor | None, case_id: int, document: Mapping[str, Any]) -> int:
        """Replace the case's record with ``document`` (validated by the caller against the
        format): the case row's fields and the sealed rest, one transaction; its new version."""
        self.require_importer(actor)
        now = self._clock.now()
        async with self._db.write() as conn:
            case = await case_store.case_by_id(conn, case_id)
            if case is None or (actor is not None and case.area_id != actor.agency.area_id):
                raise NotFound("No such case.")
            if document.get("case_reference") != case.reference:
                raise InvalidInput("The record names another case.", field="/case_reference")
            version, created = await self._write(conn, actor, case, document)
            event = Event.VISOR_RECORD_CREATED if created else Event.VISOR_RECORD_ALTERED
            action = Action.COLLECTION if created else Action.ALTERATION
            await ledger.append(
                conn, entry(actor, action, event, case, canonical_digest(document), now)
            )
        return version

    async def _write(
        self, conn: AsyncConnection, actor: Actor | None, case: Case, document: Mapping[str, Any]
    ) -> tuple[int, bool]:
        """Set the case row and seal the record over it; (version, whether it is new)."""
        now = self._clock.now()
        mappa, person = document["mappa"], document["person"]
        lead = await directory_store.agency_by_code(conn, mappa["lead_agency"])
        if lead is None:
            raise InvalidInput("Unknown agency.", field="/mappa/lead_agency", code="unknown_agency")
        await self._check_identifiers(conn, case.reference, person)
        dob = person.get("date_of_birth")
        identity = CaseIdentity(
            family_name=person["family_name"],
            given_names=person["given_names"],
            date_of_birth=date.fromisoformat(dob) if dob else None,
            pnc_ref=person.get("pnc_ref"),
            visor_ref=person.get("visor_ref"),
            ndelius_crn=person.get("ndelius_crn"),
            category=int(mappa["category"]),
            level=int(mappa["level"]),
            lead_agency_id=lead.id,
        )
        await store.set_identity(conn, case.id, identity, now)
        content: dict[str, Any] = {k: document[k] for k in SEALED_KEYS if document.get(k)}
        if person.get("aliases"):
            content["aliases"] = person["aliases"]
        existing = await store.record_of(conn, case.id)
        version = 1 if existing is None else existing.version + 1
        signer = actor.agency if actor is not None else lead
        active = await workflow_store.case_agency_ids(conn, case.id)
        wrap_to = sealing.readers(
            await directory_store.list_agencies(conn), case.area_id, lead.id, active
        )
        sealed = await sealing.seal(self._keyring, signer, wrap_to, case.id, version, content)
        row = VisorRow(case.id, version, sealed, len(sealed), signer.id, now, now)
        if existing is None:
            await store.insert_record(conn, row)
        elif not await store.replace_record(conn, row, existing.version):
            raise Conflict("The record was changed meanwhile; try again.")
        return version, existing is None

    @staticmethod
    async def _check_identifiers(
        conn: AsyncConnection, reference: str, person: Mapping[str, Any]
    ) -> None:
        clashes = await store.identifier_owners(
            conn, person.get("pnc_ref"), person.get("visor_ref"), person.get("ndelius_crn")
        )
        errors = [
            {"field": f"/person/{name}", "message": f"{value} already belongs to case {owner}."}
            for name, value, owner in clashes
            if owner != reference
        ]
        if errors:
            raise InvalidInput(
                "These identifiers already belong to another case.",
                errors=errors,
                code="duplicate_identifier",
            )

    # -- import --------------------------------------------------------------------------

    async def agency_codes(self) -> set[str]:
        async with self._db.read() as conn:
            return {a.code for a in await directory_store.list_agencies(conn)}

    async def import_document(self, actor: Actor | None, document: Mapping[str, Any]) -> Imported:
        """Create or update the case and its record from a validated document: all or nothing,
        in one transaction with its entries on the log."""
        self.require_importer(actor)
        now = self._clock.now()
        async with self._db.write() as conn:
            lead = await directory_store.agency_by_code(conn, document["mappa"]["lead_agency"])
            if lead is None:
                raise InvalidInput(
                    "Unknown agency.", field="/mappa/lead_agency", code="unknown_agency"
                )
            if actor is not None and lead.area_id != actor.agency.area_id:
                raise _refused(
                    "The lead agency is not of your area: the record belongs to another area.",
                    "/mappa/lead_agency",
                    "The lead agency must be an agency of your area.",
                )
            case = await case_store.case_by_reference(conn, document["case_reference"])
            created_case = case is None
            if case is None:
                person, mappa = document["person"], document["mappa"]
                case = await case_store.add_case(
                    conn,
                    reference=document["case_reference"],
                    family_name=person["family_name"],
                    given_names=person["given_names"],
                    date_of_birth=None,
                    visor_ref=None,
                    pnc_ref=None,
                    ndelius_crn=None,
                    category=mappa["category"],
                    level=mappa["level"],
                    lead_agency_id=lead.id,
                    area_id=lead.area_id,
                    created_at=now,
                )
                await workflow_store.join_case(conn, case.id, {lead.id}, now)
                await ledger.append(
                    conn,
                    entry(
                        actor, Action.COLLECTION, Event.CASE_CREATED, case, None, self._clock.now()
                    ),
                )
            elif actor is not None and case.area_id != actor.agency.area_id:
                raise _refused(
                    "A case with this reference belongs to another area.",
                    "/case_reference",
                    "This reference belongs to a case of another area.",
                )
            elif case.merged_into_id is not None:
                raise _refused(
                    "This case record was combined into another.",
                    "/case_reference",
                    "This case was combined into another: import into that.",
                )
            version, created = await self._write(conn, actor, case, document)
            await ledger.append(
                conn,
                entry(
                    actor,
                    Action.COLLECTION if created else Action.ALTERATION,
                    Event.VISOR_IMPORTED,
                    case,
                    canonical_digest(document),
                    self._clock.now(),
                ),
            )
            if lead.id != case.lead_agency_id:
                await workflow_store.join_case(conn, case.id, {lead.id}, now)
            case = await case_store.case_by_id(conn, case.id) or case
        return Imported(case, created_case, created, version)


def entry(
    actor: Actor | None,
    action: Action,
    event: Event,
    case: Case,
    digest: str | None,
    when: datetime,
    *,
    recipients: tuple[int, ...] = (),
    decision: Decision | None = None,
    channel: str | None = None,
) -> Record:
    """The log entry for something done to a case's record (by ``actor``, None the operator);
    a share names the policy ``decision`` and the ``channel`` it went by."""
    return Record(
        action=action,
        event=event,
        recorded_at=when,
        actor_user_id=actor.user.id if actor else None,
        actor_token_id=actor.token_id if actor else None,
        actor_agency_id=actor.agency.id if actor else None,
        case_id=case.id,
        recipients=recipients,
        purpose=PURPOSE,
        lawful_basis=LAWFUL_BASIS,
        content_digest=digest,
        policy_version=decision.policy_version if decision else None,
        decision=decision.outcome.value if decision else None,
        channel=channel,
    )
