"""The demo world: two neighbouring MAPPA areas drawn from the inspection reports.

Everything here is fictional: the people, the cases and the references.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta

from adapters.visor.demo import seed_records
from hub.model.cases import MappaCategory, MappaLevel
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.packets import AttachmentIn, Draft, PacketType
from hub.services.actor import Actor
from hub.services.cases import NewCase
from hub.wiring import Hub

AREAS = [
    ("DBY", "Derbyshire", Jurisdiction.ENGLAND_AND_WALES),
    ("NTS", "Nottinghamshire", Jurisdiction.ENGLAND_AND_WALES),
]

AGENCIES = [
    ("DBY-POLICE", "Derbyshire Constabulary", AgencyType.POLICE, "DBY"),
    ("DBY-PROBATION", "Probation Service - Derbyshire", AgencyType.PROBATION, "DBY"),
    ("DBY-HMP-SUDBURY", "HMP Sudbury", AgencyType.PRISON, "DBY"),
    ("DBY-VLU", "Probation Victim Liaison Unit - Derbyshire", AgencyType.VICTIM_LIAISON, "DBY"),
    (
        "DBY-CSC",
        "Derbyshire County Council Children's Services",
        AgencyType.CHILDRENS_SOCIAL_CARE,
        "DBY",
    ),
    ("DBY-HOUSING", "Derby City Council Housing Options", AgencyType.HOUSING, "DBY"),
    ("DBY-MH", "Derbyshire Healthcare NHS Foundation Trust", AgencyType.MENTAL_HEALTH, "DBY"),
    ("DBY-YOT", "Derby Youth Offending Service", AgencyType.YOUTH_OFFENDING, "DBY"),
    ("NTS-POLICE", "Nottinghamshire Police", AgencyType.POLICE, "NTS"),
    ("NTS-PROBATION", "Probation Service - Nottinghamshire", AgencyType.PROBATION, "NTS"),
    ("NTS-HMP-WHATTON", "HMP Whatton", AgencyType.PRISON, "NTS"),
    (
        "NTS-CSC",
        "Nottinghamshire County Council Children's Social Care",
        AgencyType.CHILDRENS_SOCIAL_CARE,
        "NTS",
    ),
    ("NTS-HOUSING", "Nottingham City Homes", AgencyType.HOUSING, "NTS"),
    ("NTS-MH", "Nottinghamshire Healthcare NHS Foundation Trust", AgencyType.MENTAL_HEALTH, "NTS"),
    ("NTS-YOT", "Nottingham City Youth Justice Service", AgencyType.YOUTH_OFFENDING, "NTS"),
    # Outside MAPPA: reached only by an approved third-party disclosure.
    ("DBY-EMPLOYER-ACME", "Acme Logistics Ltd (employer)", AgencyType.THIRD_PARTY, "DBY"),
]

USERS = [
    ("dby.coordinator", "Priya Shah (MAPPA Coordinator)", "DBY-POLICE", Role.COORDINATOR),
    ("dby.police", "DS Mark Ellis", "DBY-POLICE", Role.PRACTITIONER),
    ("dby.probation", "Helen Carter (Offender Manager)", "DBY-PROBATION", Role.PRACTITIONER),
    ("dby.prison", "Tom Reid (Offender Management Unit)", "DBY-HMP-SUDBURY", Role.PRACTITIONER),
    ("dby.housing", "Aisha Khan (Housing Options)", "DBY-HOUSING", Role.PRACTITIONER),
    ("dby.csc", "Gareth Lloyd (Children's Services)", "DBY-CSC", Role.PRACTITIONER),
    ("dby.mh", "Dr Ruth Adeyemi (Forensic CMHT)", "DBY-MH", Role.PRACTITIONER),
    ("dby.vlo", "Jo Bennett (Victim Liaison Officer)", "DBY-VLU", Role.PRACTITIONER),
    ("dby.senior", "ACC Claire Douglas (senior approver)", "DBY-POLICE", Role.SENIOR_MANAGER),
    ("dby.auditor", "SMB Audit Officer", "DBY-POLICE", Role.AUDITOR),
    ("dby.admin", "Derbyshire Police Systems Admin", "DBY-POLICE", Role.AGENCY_ADMIN),
    ("nts.coordinator", "James Okoro (MAPPA Coordinator)", "NTS-PROBATION", Role.COORDINATOR),
    ("nts.police", "DC Laura Finch", "NTS-POLICE", Role.PRACTITIONER),
    ("nts.probation", "Sam Whitworth (Offender Manager)", "NTS-PROBATION", Role.PRACTITIONER),
    ("nts.housing", "Owen Price (Nottingham City Homes)", "NTS-HOUSING", Role.PRACTITIONER),
    ("nts.yot", "Beth Marsh (Youth Justice Service)", "NTS-YOT", Role.PRACTITIONER),
]

# Who sits on each demo case's arrangements besides its lead agency.
INVOLVED = {
    "Harlow": ("DBY-POLICE", "DBY-HOUSING"),
}

CASES = [
    NewCase("Harlow", "Dean Anthony", MappaCategory.REGISTERED_SEX_OFFENDER, MappaLevel.MULTI_AGENCY,
            "DBY-PROBATION", date(1979, 3, 14), "VR-DBY-10231", "79/112233X", "D482913"),
    NewCase("Pritchard", "Kelly Ann", MappaCategory.VIOLENT_OR_OTHER_SEXUAL, MappaLevel.CRITICAL_FEW,
            "DBY-POLICE", date(1988, 11, 2), "VR-DBY-10877", "88/445566K", "D771204"),
    NewCase("Moss", "Callum", MappaCategory.OTHER_DANGEROUS, MappaLevel.MULTI_AGENCY,
            "DBY-POLICE", date(1995, 6, 30), "VR-DBY-11402", "95/998877M", None),
    NewCase("Varga", "Istvan", MappaCategory.REGISTERED_SEX_OFFENDER, MappaLevel.ORDINARY,
            "DBY-POLICE", date(1966, 1, 21), "VR-DBY-09315", "66/121212V", None),
    NewCase("Booth", "Jason Lee", MappaCategory.VIOLENT_OR_OTHER_SEXUAL, MappaLevel.MULTI_AGENCY,
            "NTS-PROBATION", date(1984, 9, 9), "VR-NTS-20514", "84/334455B", "N118822"),
    NewCase("Quinn", "Ryan", MappaCategory.VIOLENT_OR_OTHER_SEXUAL, MappaLevel.ORDINARY,
            "NTS-YOT", date(2008, 4, 17), "VR-NTS-21007", None, None),
    NewCase("Adebayo", "Michael", MappaCategory.OTHER_DANGEROUS, MappaLevel.CRITICAL_FEW,
            "NTS-POLICE", date(1972, 12, 5), "VR-NTS-19980", "72/667788A", "N209311"),
]  # fmt: skip


@dataclass(frozen=True)
class DemoLogin:
    username: str
    display_name: str
    agency: str
    role: str
    password: str
    totp_uri: str


def demo_address(username: str, agency_code: str) -> str:
    """A demo person's work address, on a reserved ``.example`` domain (RFC 2606)."""
    return f"{username}@{agency_code.lower()}.example"


async def seed(hub: Hub, *, with_email: bool = False) -> list[DemoLogin]:
    """Create the demo world in an empty database; return the logins (shown once).

    ``with_email``: give each person a work address first, so the seeded packets, proposals and
    shares queue their notifications (``mappa-hub demo`` sends them to its loopback sink)."""
    logins = await seed_directory(hub, with_email=with_email)
    await seed_cases(hub)
    return logins


async def seed_directory(hub: Hub, *, with_email: bool = False) -> list[DemoLogin]:
    """The areas, agencies and people (``mappa-hub demo`` makes them a year back, for history)."""
    for code, name, jurisdiction in AREAS:
        await hub.directory.add_area(code, name, jurisdiction)
    for code, name, type_, area in AGENCIES:
        await hub.directory.add_agency(code, name, type_, area)
    logins = []
    for username, name, agency, role in USERS:
        password = "-".join(secrets.token_hex(3) for _ in range(4))
        enrolment = await hub.directory.add_user(username, name, agency, role, password)
        if with_email:
            await hub.notices.set_email(username, demo_address(username, agency))
        logins.append(DemoLogin(username, name, agency, role.value, password, enrolment.totp_uri))
    return logins


async def set_demo_addresses(hub: Hub) -> None:
    for username, _, agency, _ in USERS:
        await hub.notices.set_email(username, demo_address(username, agency))


async def seed_cases(hub: Hub) -> None:
    """Today's cases, packets and workflows."""
    for new in CASES:
        await hub.cases.add(None, new)
    # The agencies on each case's panel, involved by the area (receiving a packet involves none).
    by_name = {c.family_name: c for c in await hub.cases.visible_to(None)}
    for family_name, codes in INVOLVED.items():
        for code in codes:
            await hub.cases.involve(None, by_name[family_name].reference, code)
    await _seed_packets(hub)
    await _seed_workflows(hub)
    await seed_records(hub)  # the ViSOR-style nominal records of two cases


async def _actor(hub: Hub, username: str) -> Actor:
    users = {u.username: u for u in await hub.directory.users()}
    user = users[username]
    return Actor(user, await hub.directory.agency(user.agency_id))


async def _seed_packets(hub: Hub) -> None:
    agencies = {a.code: a for a in await hub.directory.agencies()}
    cases = {c.family_name: c for c in await hub.cases.visible_to(None)}
    police = await _actor(hub, "dby.police")
    await hub.packets.send(
        police,
        Draft(
            case_id=cases["Harlow"].id,
            recipient_agency_ids=(agencies["DBY-HOUSING"].id, agencies["DBY-PROBATION"].id),
            subject="Proposed address - suitability check before release",
            body=(
                "Release on licence is planned for next month. The proposed address is within "
                "300 metres of a primary school. Please confirm whether Housing Options can offer "
                "an alternative before the level 2 meeting on Thursday.\n\n"
                "Risk summary: high risk of serious harm to children (OASys); RM2000 high."
            ),
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=("address", "risk-summary", "licence-conditions"),
            necessity={
                "why": "The proposed release address may put children at the nearby school at "
                "risk; Housing Options must assess it before the level 2 meeting."
            },
            attachments=(
                AttachmentIn(
                    "licence-conditions.txt",
                    "text/plain",
                    b"1. Reside at approved premises.\n2. No unsupervised contact with under-18s.\n"
                    b"3. Exclusion zone as defined on the attached map.\n",
                ),
            ),
        ),
    )
    probation = await _actor(hub, "dby.probation")
    await hub.packets.send(
        probation,
        Draft(
            case_id=cases["Pritchard"].id,
            recipient_agency_ids=(agencies["DBY-POLICE"].id, agencies["DBY-MH"].id),
            subject="Risk escalated after missed appointments",
            body=(
                "Two missed appointments this week and reports of renewed contact with the victim's "
                "family. OASys risk of serious harm reviewed to very high. Requesting an urgent "
                "level 3 review."
            ),
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=("risk-summary", "risk-management-plan"),
            necessity={
                "why": "Risk of serious harm has risen to very high; police and the forensic "
                "mental health team must act on the revised plan before the level 3 review."
            },
        ),
    )


async def _seed_workflows(hub: Hub) -> None:
    """A level 3 meeting with minutes and an overdue action, a level 2 meeting whose minutes are
    due, an open request for information, and a disclosure proposal awaiting a coordinator."""
    agencies = {a.code: a for a in await hub.directory.agencies()}
    cases = {c.family_name: c for c in await hub.cases.visible_to(None)}
    today = hub.clock.now().date()
    coordinator = await _actor(hub, "dby.coordinator")
    police = await _actor(hub, "dby.police")
    probation = await _actor(hub, "dby.probation")
    held = today - timedelta(days=14)
    await hub.packets.send(
        police,
        Draft(
            case_id=cases["Pritchard"].id,
            recipient_agency_ids=(agencies["DBY-PROBATION"].id, agencies["DBY-MH"].id),
            subject=f"Level 3 MAPPA meeting {held:%d %B %Y}",
            body="",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            packet_type=PacketType.MINUTES,
            data_categories=("risk-summary", "risk-management-plan", "licence-conditions"),
            necessity={"why": "Minutes of the level 3 meeting for every agency that attended."},
            form={
                "meeting_date": held.isoformat(),
                "meeting_level": 3,
                "chair": "ACC Claire Douglas",
                "attendance": [
                    {"agency": "DBY-POLICE", "role": "Public protection unit", "attended": True},
                    {"agency": "DBY-PROBATION", "role": "Offender manager", "attended": True},
                    {"agency": "DBY-MH", "role": "Forensic CMHT", "attended": False},
                ],
                "licence_conditions": "No contact with the victim's family; curfew 19:00-07:00.",
                "lead_agency": "DBY-POLICE",
                "risk_assessment": "OASys very high risk of serious harm to the victim's family.",
                "risk_management_plan": {
                    "supervision": "Weekly appointments with the offender manager.",
                    "monitoring_and_control": "Electronic monitoring of the curfew.",
                    "interventions_and_treatment": "Referral to the forensic CMHT.",
                    "victim_safety_planning": "VLO to review the victim's safety plan.",
                },
                "actions": [
                    {
                        "description": "Obtain the forensic CMHT assessment.",
                        "owner_agency": "DBY-MH",
                        "deadline": (held + timedelta(days=7)).isoformat(),
                    },
                    {
                        "description": "Home visit to check curfew compliance.",
                        "owner_agency": "DBY-POLICE",
                        "deadline": (today + timedelta(days=10)).isoformat(),
                    },
                ],
                "disclosure_considered": True,
                "disclosure_reasons": "Disclosure to the new employer considered; proposed.",
                "offenders_views": "Disputes the missed appointments; wants the curfew relaxed.",
                "next_review_date": (held + timedelta(weeks=8)).isoformat(),
            },
        ),
    )
    await hub.casework.record_meeting(coordinator, cases["Harlow"].id, today - timedelta(days=3), 2)
    await hub.packets.send(
        probation,
        Draft(
            case_id=cases["Harlow"].id,
            recipient_agency_ids=(agencies["DBY-HOUSING"].id,),
            subject="Tenancy and visitors at the proposed address",
            body="",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            packet_type=PacketType.REQUEST,
            data_categories=("identity", "risk-summary"),
            necessity={
                "why": "The panel must know who lives at and visits the proposed address.",
                "who": "The offender manager and the level 2 panel.",
                "use": "To review the risk management plan; recorded in the minutes only.",
            },
            form={
                "information_sought": "Tenancy status and any reports of children visiting.",
                "purpose_of_request": "Review of the proposed release address.",
                "who_needs_access": "Offender manager; level 2 panel members.",
                "how_it_will_be_used": "Discussed at the panel and recorded in the minutes.",
                "due_on": (today + timedelta(days=7)).isoformat(),
            },
        ),
    )
    await hub.packets.send(
        police,
        Draft(
            case_id=cases["Pritchard"].id,
            recipient_agency_ids=(agencies["DBY-PROBATION"].id,),
            subject="Proposed disclosure to her new employer",
            body="",
            purpose="public-protection",
            lawful_basis="cja2003-s325",
            packet_type=PacketType.DISCLOSURE_PROPOSAL,
            data_categories=("identity", "offence-history", "risk-summary"),
            necessity={
                "why": "She has started work at a depot where the victim's brother also works.",
                "who": "The depot's HR manager only, named in the proposal.",
                "use": "To arrange shifts so that they do not meet; kept in a sealed HR file.",
            },
            form={
                "recipient_kind": "employer",
                "recipient_name": "HR manager, Acme Logistics Ltd",
                "information_to_disclose": "Her conviction and the no-contact condition.",
                "why_necessary": "Contact at work would put the victim's family at risk.",
                "who_is_protected": "The victim's brother, who works at the same depot.",
                "offender_to_be_told": True,
                "method": "letter",
            },
        ),
    )
