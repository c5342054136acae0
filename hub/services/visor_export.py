"""The export of a case's ViSOR-style nominal record: a share.

It passes the policy on the ``visor-export`` channel to the case's lead Responsible Authority
agency, and is a disclosure on the log in the transaction that reads the record (a refusal is on
the log too, as ``share-refused``: ``hub.services.refused_shares``). Who may export
is who may read the record (``VisorRecordService.readable_case``); the file's format is the
adapter's (``render``), not known here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.clock import Clock
from hub.crypto.secrets import sha256_hex
from hub.errors import NotFound
from hub.ledger.entries import Action, Event
from hub.model.cases import Case
from hub.model.directory import Role
from hub.policy.errors import ApprovalRequired, PolicyRefused
from hub.policy.model import Decision, Outcome, Party, ShareRequest
from hub.services import ledger
from hub.services.actor import Actor
from hub.services.policy import PolicyService
from hub.services.visor import LAWFUL_BASIS, PURPOSE, VisorRecordService, agency_of, entry
from hub.services.visor_document import categories
from hub.store import directory as directory_store
from hub.store.database import Database

EXPORT_CHANNEL = "visor-export"
# The policy knows no packet type of its own for the record; a case transfer is the type that
# carries a whole case file to another Responsible Authority, with the same categories.
EXPORT_PACKET_TYPE = "case-transfer"
# Why an export is necessary (policy test 2): the record exists to be on ViSOR, the national
# register the Responsible Authority manages MAPPA offenders on (MAPPA Guidance ch. 27).
EXPORT_NECESSITY = {
    "why": "MAPPA Guidance requires the nominal record, its risk assessments, plans and minutes "
    "to be held on ViSOR by the Responsible Authority managing the offender.",
    "who": "ViSOR users of the lead Responsible Authority agency managing this case.",
    "use": "To manage the offender's risk on ViSOR; the file is deleted once it is loaded.",
}


@dataclass(frozen=True)
class Exported:
    case: Case
    data: bytes
    digest: str
    decision: Decision


class VisorExportService:
    def __init__(
        self, db: Database, records: VisorRecordService, policy: PolicyService, clock: Clock
    ) -> None:
        self._db = db
        self._records = records
        self._policy = policy
        self._clock = clock

    async def export(
        self,
        actor: Actor | None,
        reference: str | int,
        render: Callable[[dict[str, Any]], bytes],
    ) -> Exported:
        """The record as the bytes ``render`` makes of it, once the policy on the
        ``visor-export`` channel permits the share; a disclosure on the log."""
        now = self._clock.now()
        async with self._db.write() as conn:
            case = await self._records.readable_case(conn, actor, reference)
            found = await self._records.document(
                conn, case, None if actor is None else actor.agency
            )
            if found is None:
                raise NotFound("This case has no nominal record to export yet.")
            doc, _ = found
            lead = await agency_of(conn, case.lead_agency_id)
            areas = {a.id: a for a in await directory_store.list_areas(conn)}
            sender = actor.agency if actor is not None else lead
            decision = self._policy.decide(
                ShareRequest(
                    sender_type=sender.type.value,
                    # The operator exports for the area's MAPPA coordination.
                    sender_role=(actor.role.value if actor else Role.COORDINATOR.value),
                    recipient_types=(),
                    recipients=(
                        Party(
                            lead.type.value,
                            areas[lead.area_id].code,
                            areas[lead.area_id].jurisdiction.value,
                            active=True,
                        ),
                    ),
                    sender_area=areas[sender.area_id].code,
                    jurisdiction=areas[sender.area_id].jurisdiction.value,
                    packet_type=EXPORT_PACKET_TYPE,
                    data_categories=categories(doc),
                    purpose=PURPOSE,
                    lawful_basis=LAWFUL_BASIS,
                    mappa_category=int(case.category),
                    mappa_level=int(case.level),
                    channel=EXPORT_CHANNEL,
                    necessity=EXPORT_NECESSITY,
                )
            )
            if decision.outcome is Outcome.REVIEW:
                raise ApprovalRequired(decision)
            refused = decision.outcome is Outcome.DENY
            # A refusal is on the log too (hub.services.refused_shares), committed before it is
            # raised; nothing is rendered.
            data = b"" if refused else render(doc)
            digest = sha256_hex(data)
            await ledger.append(
                conn,
                entry(
                    actor,
                    Action.CONSULTATION if refused else Action.DISCLOSURE,
                    Event.SHARE_REFUSED if refused else Event.VISOR_EXPORTED,
                    case,
                    None if refused else digest,
                    now,
                    recipients=(lead.id,),
                    decision=decision,
                    channel=EXPORT_CHANNEL,
                ),
            )
        if refused:
            raise PolicyRefused(decision)
        return Exported(case, data, digest, decision)
