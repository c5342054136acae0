"""The world the authorisation matrix runs in: the demo's two areas, a third area, and for each
kind of object a route takes an id of, one object in each relation to the caller.

Every caller of the matrix is of Derbyshire Constabulary (DBY-POLICE): the demo's practitioner,
coordinator, senior manager, auditor and agency administrator all sit there, and its API tokens
act for it. Relative to that agency an object is

- ``own``: its own (its agency sent, proposed, owns or is party to it, on a case it is active on);
- ``other_on_case``: another agency's, on a case Derbyshire Constabulary is active on too;
- ``not_on_case``: another agency's, on a Derbyshire case the constabulary is not active on;
- ``other_area``: of another area (Nottinghamshire; for transfers, between Nottinghamshire and a
  third area);
- ``missing``: an id that names nothing.

Everything is made through the services, as people would make it, except the dead letters in
the email outbox (a dead letter is the outcome of eight failed deliveries; the store writes it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import update

from adapters.visor import format as fmt
from adapters.visor.demo import harlow
from adapters.visor.exchange import VisorExchange
from hub.model.cases import Case, MappaCategory, MappaLevel
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.packets import AttachmentIn, Draft, PacketType
from hub.services.actor import Actor
from hub.services.cases import NewCase
from hub.services.saved_drafts import DraftContent
from hub.services.share_approvals import HeldSummary
from hub.services.transfers import Proposal
from hub.store import email_outbox as outbox
from hub.store import workflows as wf_store
from hub.store.schema import email_outbox
from hub.wiring import Hub
from tests.conftest import NECESSITY, actor_for, case_id
from tests.workflow_forms import request_form

RELATIONS = ("own", "other_on_case", "not_on_case", "other_area", "missing")
# Ids that name nothing (and a packet or draft id no one was given).
MISSING_INT = 987654
MISSING_UUID = "00000000-0000-4000-8000-00000000beef"
ATTACHMENT = b"Exclusion zone: 500 m around the school.\n"


@dataclass
class World:
    """Per path parameter (``case_id``, ``packet_id``...): the id for each relation; a relation
    missing from a kind's map does not apply to that kind (e.g. a user is in no case)."""

    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    agencies: dict[str, str] = field(default_factory=dict)
    today: date = date(2026, 1, 1)
    # A valid nominal record (JSON) of the caller's own case, for the import form.
    visor_record: bytes = b""
    # Personal data of the case in each relation, which a refused answer must not carry.
    case_secrets: dict[str, dict[str, str]] = field(default_factory=dict)

    def put(self, kind: str, relation: str, value: object) -> None:
        self.ids.setdefault(kind, {})[relation] = str(value)


def _note(
    case: int,
    to: tuple[int, ...],
    subject: str,
    categories: tuple[str, ...] = ("address", "risk-summary"),
    restricted_reason: str | None = None,
) -> Draft:
    return Draft(
        case_id=case,
        recipient_agency_ids=to,
        subject=subject,
        body="The proposed address is next to a primary school.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=categories,
        necessity=NECESSITY,
        attachments=(AttachmentIn("zone.txt", "text/plain", ATTACHMENT),),
        restricted_reason=restricted_reason,
    )


def _request(case: int, to: int, today: date) -> Draft:
    return Draft(
        case_id=case,
        recipient_agency_ids=(to,),
        subject="Who visits the proposed address",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.REQUEST,
        data_categories=("identity", "risk-summary"),
        necessity=NECESSITY,
        form=request_form(due_on=(today + timedelta(days=7)).isoformat()),
    )


def _proposal(case: int, to: int) -> Draft:
    return Draft(
        case_id=case,
        recipient_agency_ids=(to,),
        subject="Proposed disclosure to his employer",
        body="",
        purpose="public-protection",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.DISCLOSURE_PROPOSAL,
        data_categories=("identity", "offence-history", "risk-summary"),
        necessity={
            "why": "He has started work at a depot where the victim's brother also works.",
            "who": "The depot's HR manager only, named in the proposal.",
            "use": "To arrange shifts so that they do not meet; kept in a sealed HR file.",
        },
        form={
            "recipient_kind": "employer",
            "recipient_name": "HR manager, Acme Logistics Ltd",
            "information_to_disclose": "His conviction and the no-contact condition.",
            "why_necessary": "Contact at work would put the victim's family at risk.",
            "who_is_protected": "The victim's brother, who works at the same depot.",
            "offender_to_be_told": True,
            "method": "letter",
        },
    )


def _minutes(case: int, to: tuple[int, ...], owner: str, lead: str, today: date) -> Draft:
    held = today - timedelta(days=3)
    return Draft(
        case_id=case,
        recipient_agency_ids=to,
        subject=f"Level 2 MAPPA meeting {held:%d %B %Y}",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.MINUTES,
        data_categories=("risk-summary", "risk-management-plan"),
        necessity={"why": "Minutes of the level 2 meeting for every agency that attended."},
        form={
            "meeting_date": held.isoformat(),
            "meeting_level": 2,
            "chair": "The area's MAPPA coordinator",
            "attendance": [{"agency": lead, "role": "Offender manager", "attended": True}],
            "lead_agency": lead,
            "risk_assessment": "OASys high risk of serious harm.",
            "risk_management_plan": {
                "supervision": "Weekly appointments with the offender manager.",
                "monitoring_and_control": "Curfew checks.",
                "interventions_and_treatment": "Accredited programme.",
                "victim_safety_planning": "VLO to review the victim's safety plan.",
            },
            "actions": [
                {
                    "description": "Check the address.",
                    "owner_agency": owner,
                    "deadline": (today + timedelta(days=10)).isoformat(),
                }
            ],
            "disclosure_considered": False,
            "disclosure_reasons": "Not needed at this stage.",
            "offenders_views": "Accepts the plan.",
            "licence_conditions": "Reside at approved premises.",
            "next_review_date": (held + timedelta(weeks=16)).isoformat(),
        },
    )


async def _held(hub: Hub, actor: Actor, case: int, to: int) -> int:
    sent = await hub.packets.send(
        actor,
        _note(
            case,
            (to,),
            "Victim's address: exclusion for housing",
            categories=("address", "risk-summary", "victim-address"),
            restricted_reason="Housing must keep him away from the victim's street.",
        ),
    )
    assert isinstance(sent, HeldSummary), "a restricted category is held for approval"
    view = await hub.held_shares.for_packet(actor, sent.id)
    assert view is not None
    return view.row.id


async def _action(hub: Hub, case: int, owner: int) -> int:
    async with hub.db.read() as conn:
        items = await wf_store.case_items(conn, case)
    return next(i.id for i in items if i.kind == "action" and i.owner_agency_id == owner)


async def _dead_letter(hub: Hub, agency: int, key: str) -> int:
    now = hub.clock.now()
    async with hub.db.write() as conn:
        row = await outbox.enqueue(
            conn,
            outbox.message(
                dedupe_key=f"minutes-late:{key}",
                message_id=outbox.new_message_id("hub.example"),
                kind=outbox.NOTIFICATION,
                event="minutes-late",
                channel="email",
                agency_id=agency,
                to_address=f"{key}@agency.example",
                when=now,
            ),
        )
        assert row is not None
        await conn.execute(
            update(email_outbox)
            .where(email_outbox.c.id == row)
            .values(status=outbox.DEAD, attempts=8, last_error="SMTP 451")
        )
    return row


async def build_world(hub: Hub) -> World:
    """Add to the seeded demo world what the matrix needs (call after ``seed``)."""
    world = World()
    today = hub.clock.now().date()
    await hub.directory.add_area("LEI", "Leicestershire", Jurisdiction.ENGLAND_AND_WALES)
    await hub.directory.add_agency(
        "LEI-PROBATION", "Probation Service - Leicestershire", AgencyType.PROBATION, "LEI"
    )
    await hub.directory.add_user(
        "lei.coordinator", "Leicestershire MAPPA Coordinator", "LEI-PROBATION",
        Role.COORDINATOR, "correct-horse-battery-staple",
    )  # fmt: skip
    code = {a.code: a.id for a in await hub.directory.agencies()}
    world.agencies = {c: str(i) for c, i in code.items()}
    world.today = today
    police, probation = await actor_for(hub, "dby.police"), await actor_for(hub, "dby.probation")
    coordinator = await actor_for(hub, "dby.coordinator")
    nts_probation = await actor_for(hub, "nts.probation")
    nts_coordinator = await actor_for(hub, "nts.coordinator")

    # Cases: Pritchard is led by the constabulary; it is involved in Harlow (led by probation);
    # Mercer is a Derbyshire case it is not on; Booth is Nottinghamshire's.
    mercer = await hub.cases.add(
        coordinator,
        NewCase("Mercer", "Lewis", MappaCategory.REGISTERED_SEX_OFFENDER, MappaLevel.MULTI_AGENCY,
                "DBY-PROBATION",
                date(1990, 7, 19), "VR-DBY-12001", "90/554433L"),
    )  # fmt: skip
    cases = {
        "own": await case_id(hub, "Pritchard"),
        "other_on_case": await case_id(hub, "Harlow"),
        "not_on_case": mercer.id,
        "other_area": await case_id(hub, "Booth"),
        "missing": MISSING_INT,
    }
    for relation, value in cases.items():
        world.put("case_id", relation, value)
    by_id = {c.id: c for c in await hub.cases.visible_to(None)}
    for relation, value in cases.items():
        if value in by_id:
            c = by_id[value]
            world.case_secrets[relation] = {"name": c.given_names, "dob": str(c.date_of_birth)}
    own = by_id[cases["own"]]
    record = {"schema_version": fmt.SCHEMA_VERSION, **_record(own, today)}
    world.visor_record = json.dumps(record).encode()
    # Nominal records for the cases that have none yet (so a refusal is not "no record").
    exchange = VisorExchange(hub.visor)
    for relation in ("not_on_case", "other_area"):
        c = by_id[cases[relation]]
        await exchange.save(None, c.id, _record(c, today))

    # Packets, each with one attachment.
    packets = {
        "own": await hub.packets.send(
            police, _note(cases["own"], (code["DBY-PROBATION"],), "Curfew checks")
        ),
        "other_on_case": await hub.packets.send(
            probation, _note(cases["other_on_case"], (code["DBY-HOUSING"],), "Tenancy")
        ),
        "not_on_case": await hub.packets.send(
            probation, _note(cases["not_on_case"], (code["DBY-HOUSING"],), "Tenancy")
        ),
        "other_area": await hub.packets.send(
            nts_probation, _note(cases["other_area"], (code["NTS-POLICE"],), "Tenancy")
        ),
    }
    for relation, sent in packets.items():
        world.put("packet_id", relation, sent.id)
    world.put("packet_id", "missing", MISSING_UUID)

    # Requests for information: asked of the constabulary; between others on its case; on a
    # case it is not on; in Nottinghamshire.
    requests = {
        "own": await hub.packets.send(
            probation, _request(cases["other_on_case"], code["DBY-POLICE"], today)
        ),
        "other_on_case": await hub.packets.send(
            probation, _request(cases["other_on_case"], code["DBY-HOUSING"], today)
        ),
        "not_on_case": await hub.packets.send(
            probation, _request(cases["not_on_case"], code["DBY-HOUSING"], today)
        ),
        "other_area": await hub.packets.send(
            nts_probation, _request(cases["other_area"], code["NTS-POLICE"], today)
        ),
    }
    for relation, sent in requests.items():
        row = await hub.requests.open_for(await _party(hub, relation), sent.id)
        assert row is not None, relation
        world.put("request_id", relation, row.id)
    world.put("request_id", "missing", MISSING_INT)

    # Third-party disclosures proposed by the constabulary and by others.
    proposals = {
        "own": (police, cases["own"], code["DBY-PROBATION"]),
        "other_on_case": (probation, cases["other_on_case"], code["DBY-HMP-SUDBURY"]),
        "not_on_case": (probation, cases["not_on_case"], code["DBY-HMP-SUDBURY"]),
        "other_area": (nts_probation, cases["other_area"], code["NTS-POLICE"]),
    }
    for relation, (sender, case, to) in proposals.items():
        sent = await hub.packets.send(sender, _proposal(case, to))
        found = await hub.disclosures.for_proposal(sender, sent.id)
        assert found is not None, relation
        world.put("disclosure_id", relation, found)
    world.put("disclosure_id", "missing", MISSING_INT)

    # Shares held for approval (a restricted category, victim information).
    world.put("share_id", "own", await _held(hub, police, cases["own"], code["DBY-PROBATION"]))
    world.put(
        "share_id",
        "other_on_case",
        await _held(hub, probation, cases["other_on_case"], code["DBY-HOUSING"]),
    )
    world.put(
        "share_id",
        "not_on_case",
        await _held(hub, probation, cases["not_on_case"], code["DBY-HOUSING"]),
    )
    world.put(
        "share_id",
        "other_area",
        await _held(hub, nts_probation, cases["other_area"], code["NTS-HOUSING"]),
    )
    world.put("share_id", "missing", MISSING_INT)

    # Saved drafts: the practitioner's own, a colleague's in another agency, another area's.
    content = DraftContent(PacketType.NOTE, subject="Half-written note", body="Not sent yet.")
    world.put("draft_id", "own", await hub.saved_drafts.save(police, content))
    world.put(
        "draft_id",
        "other_on_case",
        await hub.saved_drafts.save(probation, DraftContent(
            PacketType.NOTE, case_id=cases["other_on_case"], subject="Probation's draft"
        )),
    )  # fmt: skip
    world.put(
        "draft_id",
        "not_on_case",
        await hub.saved_drafts.save(probation, DraftContent(
            PacketType.NOTE, case_id=cases["not_on_case"], subject="Probation's draft"
        )),
    )  # fmt: skip
    world.put("draft_id", "other_area", await hub.saved_drafts.save(nts_probation, content))
    world.put("draft_id", "missing", MISSING_UUID)

    # Actions from minutes, owned by the constabulary and by others.
    await hub.packets.send(
        police,
        _minutes(cases["own"], (code["DBY-PROBATION"],), "DBY-POLICE", "DBY-POLICE", today),
    )
    await hub.packets.send(
        probation,
        _minutes(
            cases["other_on_case"], (code["DBY-POLICE"],), "DBY-HOUSING", "DBY-PROBATION", today
        ),
    )
    await hub.packets.send(
        probation,
        _minutes(
            cases["not_on_case"], (code["DBY-HOUSING"],), "DBY-HOUSING", "DBY-PROBATION", today
        ),
    )
    await hub.packets.send(
        nts_probation,
        _minutes(cases["other_area"], (code["NTS-POLICE"],), "NTS-POLICE", "NTS-PROBATION", today),
    )
    world.put("item_id", "own", await _action(hub, cases["own"], code["DBY-POLICE"]))
    world.put(
        "item_id", "other_on_case", await _action(hub, cases["other_on_case"], code["DBY-HOUSING"])
    )
    world.put(
        "item_id", "not_on_case", await _action(hub, cases["not_on_case"], code["DBY-HOUSING"])
    )
    world.put("item_id", "other_area", await _action(hub, cases["other_area"], code["NTS-POLICE"]))
    world.put("item_id", "missing", MISSING_INT)

    # Transfers: out of Derbyshire ("own"), into it ("other_on_case": the other area's, about a
    # case that would become ours), and between Nottinghamshire and Leicestershire.
    moss, adebayo, quinn = (
        await case_id(hub, "Moss"), await case_id(hub, "Adebayo"), await case_id(hub, "Quinn")
    )  # fmt: skip
    held_on = today - timedelta(days=2)
    await hub.casework.record_meeting(coordinator, moss, held_on, 2)
    await hub.casework.record_meeting(nts_coordinator, adebayo, held_on, 2)
    await hub.casework.record_meeting(nts_coordinator, quinn, held_on, 2)
    reason = "Moving to his sister's address; approved premises place offered."
    for relation, (proposer, case, to) in {
        "own": (coordinator, moss, "NTS"),
        "other_on_case": (nts_coordinator, adebayo, "DBY"),
        "other_area": (nts_coordinator, quinn, "LEI"),
    }.items():
        transfer = await hub.transfers.propose(
            proposer, Proposal(case, reason, today + timedelta(days=14), to)
        )
        world.put("transfer_id", relation, transfer.id)
    world.put("transfer_id", "missing", MISSING_INT)

    # People (for the auditor's user reports) and API tokens (for the admin's revocations).
    await hub.directory.add_user(
        "dby.police.2", "DC Sam Taylor", "DBY-POLICE", Role.PRACTITIONER,
        "correct-horse-battery-staple",
    )  # fmt: skip
    users = {u.username: u.id for u in await hub.directory.users()}
    # People an agency admin acts on (signs out, resets): not the matrix's own callers.
    world.put("person_id", "own", users["dby.police.2"])
    world.put("person_id", "other_on_case", users["dby.probation"])
    world.put("person_id", "other_area", users["nts.police"])
    world.put("person_id", "missing", MISSING_INT)
    world.put("user_id", "own", users["dby.police"])
    world.put("user_id", "other_on_case", users["dby.probation"])
    world.put("user_id", "other_area", users["nts.police"])
    world.put("user_id", "missing", MISSING_INT)
    for relation, agency in (
        ("own", "DBY-POLICE"),
        ("other_on_case", "DBY-PROBATION"),
        ("other_area", "NTS-POLICE"),
    ):
        issued = await hub.tokens.issue(None, agency, "Records system", ["cases:read"])
        world.put("token_id", relation, issued.token.id)
        world.put("row_id", relation, await _dead_letter(hub, code[agency], f"{relation}-{agency}"))
    world.put("token_id", "missing", MISSING_INT)
    world.put("row_id", "missing", MISSING_INT)
    return world


def _record(case: Case, today: date) -> dict[str, Any]:
    """A nominal record for the case: the demo's Harlow record, about this case's person."""
    doc = harlow(case.reference, today)
    person = doc["person"]
    person.update(
        family_name=case.family_name,
        given_names=case.given_names,
        date_of_birth=case.date_of_birth.isoformat() if case.date_of_birth else None,
    )
    for name in ("pnc_ref", "visor_ref", "ndelius_crn"):
        value = getattr(case, name)
        if value is None:
            person.pop(name, None)
        else:
            person[name] = value
    return doc


async def _party(hub: Hub, relation: str) -> Actor:
    """Someone of the agency a request in this relation was asked of."""
    username = {
        "own": "dby.police",
        "other_on_case": "dby.housing",
        "not_on_case": "dby.housing",
        "other_area": "nts.police",
    }[relation]
    return await actor_for(hub, username)


__all__ = ["MISSING_INT", "MISSING_UUID", "RELATIONS", "World", "build_world"]
