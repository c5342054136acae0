"""Nominal records for two demo cases (fictional), so that the case page shows one.

Harlow: category 1, a registered sexual offender on licence with notification requirements and a
full sexual harm prevention order. Pritchard: category 2, a violent offender on licence with an
exclusion zone and a no-contact condition. Dates are set back from the demo's "today".
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from adapters.visor.exchange import VisorExchange
from hub.wiring import Hub


def _ago(today: date, days: int) -> str:
    return (today - timedelta(days=days)).isoformat()


def harlow(reference: str, today: date) -> dict[str, Any]:
    return {
        "case_reference": reference,
        "person": {
            "family_name": "Harlow",
            "given_names": "Dean Anthony",
            "date_of_birth": "1979-03-14",
            "pnc_ref": "79/112233X",
            "visor_ref": "VR-DBY-10231",
            "ndelius_crn": "D482913",
            "aliases": [{"family_name": "Harlowe", "given_names": "Dean"}],
        },
        "mappa": {"category": 1, "level": 2, "lead_agency": "DBY-PROBATION"},
        "addresses": [
            {
                "address": "12 Ashbourne Road, Derby",
                "postcode": "DE22 3FS",
                "kind": "home",
                "from": "2014-05-01",
                "to": _ago(today, 6 * 365),
            },
            {
                "address": "Burdett Lodge Approved Premises, Derby",
                "postcode": "DE1 1LH",
                "kind": "approved-premises",
                "from": _ago(today, 30),
            },
        ],
        "offences": [
            {
                "description": "Sexual assault of a child under 13 (Sexual Offences Act 2003 s7)",
                "offence_date": "2017-08-19",
                "conviction_date": "2018-02-02",
                "court": "Derby Crown Court",
                "sentence": "8 years' imprisonment",
                "sentence_date": "2018-03-09",
            }
        ],
        "orders": [
            {
                "kind": "notification-requirements",
                "stage": "full",
                "applied_on": "2018-03-09",
                "granted_on": "2018-03-09",
                "court": "Derby Crown Court",
                "terms": ["Notify name and address changes within 3 days", "Indefinite"],
            },
            {
                "kind": "shpo",
                "stage": "full",
                "applied_on": "2018-02-02",
                "granted_on": "2018-03-09",
                "expires_on": "2033-03-09",
                "court": "Derby Crown Court",
                "terms": [
                    "No unsupervised contact with any child under 16",
                    "No internet-enabled device without declaring it to the police",
                ],
            },
        ],
        "risk_assessments": [
            {
                "tool": "RM2000",
                "band": "high",
                "assessor": "DS Mark Ellis, MOSOVO",
                "agency": "DBY-POLICE",
                "assessed_on": _ago(today, 60),
                "countersigned_by": "DI Sarah Noon",
                "countersigned_on": _ago(today, 58),
            },
            {
                "tool": "OASys",
                "band": "high",
                "assessor": "Helen Carter, offender manager",
                "agency": "DBY-PROBATION",
                "assessed_on": _ago(today, 45),
            },
        ],
        "risk_management_plan": {
            "supervision": "Weekly appointments with the offender manager; MOSOVO home visits.",
            "monitoring_and_control": "Approved premises curfew 21:00-07:00; SHPO device checks.",
            "interventions_and_treatment": "Horizon programme from next month.",
            "victim_safety_planning": "VLO keeps the victim's family told of release and zones.",
            "review_on": (today + timedelta(weeks=16)).isoformat(),
        },
        "licence_conditions": [
            {"condition": "Reside at Burdett Lodge Approved Premises.", "from": _ago(today, 30)},
            {"condition": "No unsupervised contact with under-18s.", "from": _ago(today, 30)},
        ],
    }


def pritchard(reference: str, today: date) -> dict[str, Any]:
    return {
        "case_reference": reference,
        "person": {
            "family_name": "Pritchard",
            "given_names": "Kelly Ann",
            "date_of_birth": "1988-11-02",
            "pnc_ref": "88/445566K",
            "visor_ref": "VR-DBY-10877",
            "ndelius_crn": "D771204",
        },
        "mappa": {"category": 2, "level": 3, "lead_agency": "DBY-POLICE"},
        "addresses": [
            {
                "address": "Flat 4, 27 Osmaston Road, Derby",
                "postcode": "DE1 2HR",
                "kind": "home",
                "from": _ago(today, 120),
            }
        ],
        "offences": [
            {
                "description": "Wounding with intent (Offences Against the Person Act 1861 s18)",
                "offence_date": "2019-06-14",
                "conviction_date": "2020-01-20",
                "court": "Nottingham Crown Court",
                "sentence": "7 years' imprisonment",
                "sentence_date": "2020-02-28",
            }
        ],
        "risk_assessments": [
            {
                "tool": "OASys",
                "band": "very-high",
                "assessor": "Helen Carter, offender manager",
                "agency": "DBY-PROBATION",
                "assessed_on": _ago(today, 7),
                "countersigned_by": "Senior probation officer, Derby",
                "countersigned_on": _ago(today, 6),
            }
        ],
        "risk_management_plan": {
            "supervision": "Twice-weekly appointments with the offender manager.",
            "monitoring_and_control": "Electronic monitoring of the curfew and exclusion zone.",
            "interventions_and_treatment": "Referral to the forensic community mental health team.",
            "victim_safety_planning": "Victim's family told of the exclusion zone; panic alarm.",
        },
        "licence_conditions": [
            {
                "condition": "Not to enter the Normanton area of Derby, as defined on the "
                "attached map, without the prior approval of the supervising officer.",
                "from": _ago(today, 120),
            },
            {
                "condition": "No contact, direct or indirect, with the victim or her family.",
                "from": _ago(today, 120),
            },
            {
                "condition": "Curfew 19:00-07:00, electronically monitored.",
                "from": _ago(today, 120),
            },
        ],
    }


async def seed_records(hub: Hub) -> None:
    """Record the two demo cases' nominal records (as the operator)."""
    exchange = VisorExchange(hub.visor)
    today = hub.visor.today()
    cases = {c.family_name: c for c in await hub.cases.visible_to(None)}
    for name, build in (("Harlow", harlow), ("Pritchard", pritchard)):
        case = cases[name]
        await exchange.save(None, case.id, build(case.reference, today))
