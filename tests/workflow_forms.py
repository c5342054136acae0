"""Complete, valid example forms for each packet type (hub.workflows.forms), shared by the tests.

Each function returns a fresh dict, so a test may change or remove fields freely. Dates suit the
test clock, which starts on Monday 23 November 2026.
"""

from __future__ import annotations

from typing import Any


def request_form(**changes: Any) -> dict[str, Any]:
    return {
        "information_sought": "Current tenancy and any reports of visitors under 18.",
        "purpose_of_request": "To review the risk management plan before the level 2 meeting.",
        "who_needs_access": "The offender manager and the MAPPA panel members.",
        "how_it_will_be_used": "Discussed at the panel and recorded in the minutes only.",
        "due_on": "2026-12-04",
        **changes,
    }


def response_form(**changes: Any) -> dict[str, Any]:
    return {
        "information_provided": "Sole tenant since June; no reports of visitors.",
        "conditions_on_use": "Not to be shared with the offender.",
        **changes,
    }


def referral_form(**changes: Any) -> dict[str, Any]:
    """MAPPA A, complete."""
    return {
        "level_sought": 2,
        "reason_for_referral": "Release on licence in August; multi-agency management needed.",
        "likelihood_of_reoffending": "high",
        "likelihood_evidence": "OGRS 78% over two years; two previous breaches of licence.",
        "risk_of_serious_harm": "high",
        "risk_of_serious_harm_to_whom": "Children, in particular girls aged 8-12.",
        "imminence": "Could occur at any time if he has unsupervised access to children.",
        "agency_risk_assessment": {
            "tool": "RM2000",
            "completed_on": "2026-10-12",
            "assessor": "Helen Carter",
            "countersigned_by": "SPO Dev Patel",
        },
        "risk_management_plan": "Approved premises; exclusion zone; polygraph; SOTP follow-up.",
        "agencies_to_invite": [
            {"agency": "DBY-POLICE", "reason": "ViSOR manager and MOSOVO visits."},
            {"agency": "DBY-HOUSING", "reason": "Move-on accommodation after approved premises."},
        ],
        "special_issues": "",
        "added_value": "Housing and police input needed to manage the address risk.",
        "release_date": "2027-08-31",
        **changes,
    }


def minutes_form(**changes: Any) -> dict[str, Any]:
    """MAPPA B for a level 2 meeting held on Monday 23 November 2026, complete."""
    return {
        "meeting_date": "2026-11-23",
        "meeting_level": 2,
        "chair": "Priya Shah (MAPPA Coordinator)",
        "attendance": [
            {"agency": "DBY-POLICE", "role": "Chair", "attended": True},
            {"agency": "DBY-PROBATION", "role": "Offender manager", "attended": True},
            {"agency": "DBY-HOUSING", "role": "Housing options officer", "attended": True},
            {"agency": "DBY-CSC", "role": "Social worker", "required": True, "attended": False},
        ],
        "licence_conditions": "Reside at approved premises; no unsupervised contact with under-18s.",
        "lead_agency": "DBY-PROBATION",
        "risk_assessment": "OASys: high risk of serious harm to children. RM2000: high.",
        "risk_management_plan": {
            "supervision": "Weekly appointments with the offender manager.",
            "monitoring_and_control": "Exclusion zone around the primary school; GPS tag.",
            "interventions_and_treatment": "Horizon programme from January.",
            "victim_safety_planning": "VLO to update the victim's family on the exclusion zone.",
        },
        "actions": [
            {
                "description": "Find move-on accommodation away from the school.",
                "owner_agency": "DBY-HOUSING",
                "owner_name": "Aisha Khan",
                "deadline": "2026-12-04",
            },
            {
                "description": "Refer to the Horizon programme.",
                "owner_agency": "DBY-PROBATION",
                "deadline": "2026-12-07",
            },
        ],
        "disclosure_considered": True,
        "disclosure_reasons": "No third party needs to be told while he is in approved premises.",
        "offenders_views": "He accepts the exclusion zone but disputes the tag.",
        "next_review_date": "2027-02-22",
        **changes,
    }


def risk_change_form(**changes: Any) -> dict[str, Any]:
    return {
        "previous_risk": "high",
        "new_risk": "very-high",
        "what_changed": "Two missed appointments and renewed contact with the victim's family.",
        "effective_from": "2026-11-23",
        "actions_required": "Police to visit within 48 hours; review the exclusion zone.",
        **changes,
    }


def disclosure_proposal_form(**changes: Any) -> dict[str, Any]:
    return {
        "recipient_kind": "employer",
        "recipient_name": "Acme Logistics Ltd, managing director",
        "recipient_role": "Managing director",
        "information_to_disclose": "His conviction for offences against children and the risk.",
        "why_necessary": "He has applied for a driver's job delivering to primary schools.",
        "who_is_protected": "Children at the schools on the delivery round.",
        "offender_to_be_told": True,
        "reason_offender_not_told": "",
        "method": "letter",
        "lawful_basis": "common-law",
        **changes,
    }


def disclosure_decision_form(**changes: Any) -> dict[str, Any]:
    return {
        "decision": "approve",
        "reasons": "Necessary and proportionate to protect children; the last resort.",
        "conditions": "Letter to the managing director only.",
        **changes,
    }
