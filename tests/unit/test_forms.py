"""The structured forms of typed packets: complete examples pass, every problem is named by field."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from hub.errors import InvalidInput
from hub.model.packets import FORM_TYPES, PacketType
from hub.workflows.forms import (
    FORMS,
    DisclosureProposalForm,
    MinutesForm,
    ReferralForm,
    form_document,
    json_schema,
    render_form_text,
    requires_form,
    schema_id,
    validate_form,
)
from tests.workflow_forms import (
    disclosure_decision_form,
    disclosure_proposal_form,
    minutes_form,
    referral_form,
    request_form,
    response_form,
    risk_change_form,
)

EXAMPLES: dict[PacketType, Callable[..., dict[str, Any]]] = {
    PacketType.REQUEST: request_form,
    PacketType.RESPONSE: response_form,
    PacketType.REFERRAL: referral_form,
    PacketType.MINUTES: minutes_form,
    PacketType.RISK_CHANGE: risk_change_form,
    PacketType.DISCLOSURE_PROPOSAL: disclosure_proposal_form,
    PacketType.DISCLOSURE_DECISION: disclosure_decision_form,
}


def test_the_types_named_as_carrying_a_form_are_those_with_a_model() -> None:
    # The command line lists FORM_TYPES without importing the models.
    assert set(FORMS) == FORM_TYPES


def _given(given: Any, dumped: Any) -> Any:
    """The part of ``dumped`` that ``given`` supplied, at every depth."""
    if isinstance(given, dict):
        return {k: _given(v, dumped[k]) for k, v in given.items()}
    if isinstance(given, list):
        return [_given(g, d) for g, d in zip(given, dumped, strict=True)]
    return dumped


def _errors(packet_type: PacketType, data: Any) -> dict[str, str]:
    """Validate, expecting a refusal; return {field: message}."""
    with pytest.raises(InvalidInput) as err:
        validate_form(packet_type, data)
    assert err.value.code == "invalid_form"
    fields = {e["field"]: e["message"] for e in err.value.errors}
    assert len(fields) == len(err.value.errors), "each field is named once"
    # The exception points at the first bad field, and its message names the problems.
    assert err.value.field == err.value.errors[0]["field"]
    assert err.value.errors[0]["field"] in err.value.public_message
    return fields


def test_every_typed_packet_has_an_example() -> None:
    assert set(EXAMPLES) == set(FORMS)
    assert not requires_form(PacketType.NOTE)
    assert not requires_form(PacketType.CASE_TRANSFER)
    assert all(requires_form(t) for t in FORMS)


@pytest.mark.parametrize("packet_type", list(EXAMPLES))
def test_a_complete_example_validates(packet_type: PacketType) -> None:
    data = EXAMPLES[packet_type]()
    form = validate_form(packet_type, data)
    assert isinstance(form, FORMS[packet_type])
    # Nothing lost or changed: every value given comes back as given (defaults fill the rest).
    assert _given(data, form.model_dump(mode="json")) == data


def test_values_are_parsed_to_their_types() -> None:
    minutes = validate_form(PacketType.MINUTES, minutes_form())
    assert isinstance(minutes, MinutesForm)
    assert minutes.meeting_date == date(2026, 11, 23)
    assert minutes.next_review_date == date(2027, 2, 22)
    assert minutes.actions[0].deadline == date(2026, 12, 4)
    assert minutes.actions[1].owner_name == ""  # optional, defaulted
    assert minutes.attendance[0].required is True  # defaulted
    referral = validate_form(PacketType.REFERRAL, referral_form(release_date=None))
    assert isinstance(referral, ReferralForm)
    assert referral.release_date is None
    assert referral.agency_risk_assessment.tool == "RM2000"


def test_surrounding_whitespace_is_stripped() -> None:
    form = validate_form(PacketType.RESPONSE, response_form(information_provided="  Sole tenant. "))
    assert form.model_dump()["information_provided"] == "Sole tenant."


@pytest.mark.parametrize("packet_type", list(EXAMPLES))
def test_an_empty_form_names_every_required_field(packet_type: PacketType) -> None:
    required = set(json_schema(packet_type)["required"])
    assert required
    fields = _errors(packet_type, {})
    assert set(fields) == required
    assert all(m in ("This field is required.", "Add at least one.") for m in fields.values())


def test_missing_referral_risk_fields_are_named() -> None:
    data = referral_form()
    for name in ("likelihood_of_reoffending", "risk_of_serious_harm", "risk_management_plan"):
        del data[name]
    fields = _errors(PacketType.REFERRAL, data)
    assert fields == {
        "likelihood_of_reoffending": "This field is required.",
        "risk_of_serious_harm": "This field is required.",
        "risk_management_plan": "This field is required.",
    }


def test_nested_fields_are_named_by_their_path() -> None:
    data = minutes_form(
        risk_management_plan={"supervision": "", "monitoring_and_control": "Tag."},
        actions=[
            {"description": "Find accommodation.", "owner_agency": "DBY-HOUSING"},
            {"description": "Refer.", "owner_agency": "dby probation", "deadline": "soon"},
        ],
    )
    data["attendance"][1] = {"agency": "DBY-PROBATION", "role": "Offender manager"}
    fields = _errors(PacketType.MINUTES, data)
    assert set(fields) == {
        "risk_management_plan.supervision",
        "risk_management_plan.interventions_and_treatment",
        "risk_management_plan.victim_safety_planning",
        "actions.0.deadline",
        "actions.1.owner_agency",
        "actions.1.deadline",
        "attendance.1.attended",
    }
    assert fields["risk_management_plan.supervision"] == "This field is required."
    assert fields["actions.0.deadline"] == "This field is required."
    # Not "required": the value is there but wrong.
    assert fields["actions.1.deadline"] != "This field is required."
    assert "pattern" in fields["actions.1.owner_agency"]


def test_a_referral_needs_an_agency_to_invite_and_a_risk_assessment_record() -> None:
    data = referral_form(
        agencies_to_invite=[], agency_risk_assessment={"tool": "crystal ball", "assessor": "X"}
    )
    fields = _errors(PacketType.REFERRAL, data)
    assert fields["agencies_to_invite"] == "Add at least one."
    assert set(fields) == {
        "agencies_to_invite",
        "agency_risk_assessment.tool",
        "agency_risk_assessment.completed_on",
    }


def test_wrong_values_are_named() -> None:
    fields = _errors(
        PacketType.REFERRAL,
        referral_form(level_sought=1, likelihood_of_reoffending="quite", risk_of_serious_harm=7),
    )
    assert set(fields) == {"level_sought", "likelihood_of_reoffending", "risk_of_serious_harm"}
    fields = _errors(PacketType.REQUEST, request_form(due_on="soon", who_needs_access="   "))
    assert set(fields) == {"due_on", "who_needs_access"}
    assert fields["who_needs_access"] == "This field is required."


def test_text_longer_than_the_limit_is_refused() -> None:
    fields = _errors(PacketType.RESPONSE, response_form(information_provided="x" * 5001))
    assert set(fields) == {"information_provided"}
    assert validate_form(PacketType.RESPONSE, response_form(information_provided="x" * 5000))


def test_extra_fields_are_refused_at_every_level() -> None:
    data = minutes_form(signed_off_by="Someone")
    data["risk_management_plan"]["polygraph"] = "Yes"
    data["actions"][0]["priority"] = "high"
    fields = _errors(PacketType.MINUTES, data)
    assert fields == {
        "signed_off_by": "This field is not part of the form.",
        "risk_management_plan.polygraph": "This field is not part of the form.",
        "actions.0.priority": "This field is not part of the form.",
    }
    assert set(_errors(PacketType.REQUEST, request_form(urgent=True))) == {"urgent"}


@pytest.mark.parametrize("review", ["2026-11-22", "2026-11-23"])
def test_minutes_with_the_next_review_not_after_the_meeting_are_refused(review: str) -> None:
    fields = _errors(PacketType.MINUTES, minutes_form(next_review_date=review))
    assert list(fields) == ["next_review_date"]
    assert fields["next_review_date"] == "The next review must come after this meeting."


def test_minutes_with_an_action_due_before_the_meeting_are_refused() -> None:
    data = minutes_form()
    data["actions"][1]["deadline"] = "2026-11-20"
    fields = _errors(PacketType.MINUTES, data)
    assert list(fields) == ["actions.1.deadline"]
    assert "precede the meeting" in fields["actions.1.deadline"]
    # An action due on the day of the meeting is fine.
    data["actions"][1]["deadline"] = "2026-11-23"
    assert validate_form(PacketType.MINUTES, data)


def test_minutes_may_record_no_actions_but_must_list_attendance() -> None:
    assert validate_form(PacketType.MINUTES, minutes_form(actions=[]))
    assert _errors(PacketType.MINUTES, minutes_form(attendance=[])) == {
        "attendance": "Add at least one."
    }


def test_a_disclosure_kept_from_the_offender_needs_a_reason() -> None:
    fields = _errors(
        PacketType.DISCLOSURE_PROPOSAL, disclosure_proposal_form(offender_to_be_told=False)
    )
    assert list(fields) == ["reason_offender_not_told"]
    assert "why the offender is not to be told" in fields["reason_offender_not_told"]
    # Whitespace is not a reason.
    fields = _errors(
        PacketType.DISCLOSURE_PROPOSAL,
        disclosure_proposal_form(offender_to_be_told=False, reason_offender_not_told="   "),
    )
    assert list(fields) == ["reason_offender_not_told"]
    form = validate_form(
        PacketType.DISCLOSURE_PROPOSAL,
        disclosure_proposal_form(
            offender_to_be_told=False,
            reason_offender_not_told="Telling him would put the employer's staff at risk.",
        ),
    )
    assert isinstance(form, DisclosureProposalForm)
    assert form.offender_to_be_told is False


def test_a_disclosure_proposal_defaults_to_the_common_law_basis() -> None:
    data = disclosure_proposal_form()
    del data["lawful_basis"]
    form = validate_form(PacketType.DISCLOSURE_PROPOSAL, data)
    assert isinstance(form, DisclosureProposalForm)
    assert form.lawful_basis == "common-law"
    fields = _errors(
        PacketType.DISCLOSURE_PROPOSAL, disclosure_proposal_form(method="email", recipient_kind="")
    )
    assert set(fields) == {"method", "recipient_kind"}


def test_a_disclosure_decision_is_approve_or_refuse_with_reasons() -> None:
    assert validate_form(
        PacketType.DISCLOSURE_DECISION, disclosure_decision_form(decision="refuse")
    )
    fields = _errors(
        PacketType.DISCLOSURE_DECISION, disclosure_decision_form(decision="maybe", reasons="")
    )
    assert set(fields) == {"decision", "reasons"}


def test_forms_must_be_objects_and_only_typed_packets_have_one() -> None:
    with pytest.raises(InvalidInput) as err:
        validate_form(PacketType.MINUTES, [minutes_form()])
    assert err.value.field == "form"
    with pytest.raises(InvalidInput) as err:
        validate_form(PacketType.MINUTES, None)
    assert err.value.field == "form"
    with pytest.raises(InvalidInput, match="no structured form") as err:
        validate_form(PacketType.NOTE, {"anything": 1})
    assert err.value.field == "form"


def test_the_exception_message_lists_at_most_ten_problems_but_errors_has_all() -> None:
    required = json_schema(PacketType.MINUTES)["required"]
    assert len(required) > 10
    with pytest.raises(InvalidInput) as err:
        validate_form(PacketType.MINUTES, {})
    # In form order, all of them ...
    assert [e["field"] for e in err.value.errors] == required
    # ... while the message stops at ten.
    assert err.value.public_message.count(": This field is required.") == 10
    assert f"{required[-1]}:" not in err.value.public_message


# -- schemas and the documents that travel ------------------------------------------------------


@pytest.mark.parametrize("packet_type", list(FORMS))
def test_json_schema_has_an_id_and_describes_the_form(packet_type: PacketType) -> None:
    doc = json_schema(packet_type)
    assert doc["$id"] == (
        f"https://mappa-hub.example/schemas/mappa-hub/form/{packet_type.value}/v1.json"
    )
    assert doc["type"] == "object"
    assert doc["additionalProperties"] is False
    assert set(doc["properties"]) == set(FORMS[packet_type].model_fields)
    assert set(doc["required"]) <= set(doc["properties"])
    # Every example's fields are ones the schema names.
    assert set(EXAMPLES[packet_type]()) <= set(doc["properties"])
    assert json.loads(json.dumps(doc)) == doc


def test_schema_ids_are_distinct_and_versioned() -> None:
    ids = {schema_id(t) for t in FORMS}
    assert len(ids) == len(FORMS)
    assert schema_id(PacketType.MINUTES) == "mappa-hub/form/minutes/v1"
    assert schema_id(PacketType.REQUEST) == "mappa-hub/form/request-for-information/v1"
    minutes = json_schema(PacketType.MINUTES)
    pillars = minutes["$defs"]["FourPillars"]
    assert set(pillars["required"]) == {
        "supervision",
        "monitoring_and_control",
        "interventions_and_treatment",
        "victim_safety_planning",
    }
    # The schema is a fresh document each time: adding $id does not change the model's own.
    assert "$id" not in MinutesForm.model_json_schema()


def test_form_document_carries_schema_version_and_fields() -> None:
    form = validate_form(PacketType.RISK_CHANGE, risk_change_form())
    doc = form_document(PacketType.RISK_CHANGE, form)
    assert doc == {
        "schema": "mappa-hub/form/risk-change/v1",
        "version": 1,
        "fields": risk_change_form(),
    }
    json.dumps(doc)  # travels as JSON


def test_render_form_text_renders_nested_values() -> None:
    text = render_form_text(validate_form(PacketType.MINUTES, minutes_form()))
    lines = text.splitlines()
    assert lines[0] == "Meeting date: 2026-11-23"
    assert "Meeting level: 2" in lines
    start = lines.index("Risk management plan:")
    assert lines[start + 1 : start + 5] == [
        "  Supervision: Weekly appointments with the offender manager.",
        "  Monitoring and control: Exclusion zone around the primary school; GPS tag.",
        "  Interventions and treatment: Horizon programme from January.",
        "  Victim safety planning: VLO to update the victim's family on the exclusion zone.",
    ]
    start = lines.index("Actions:")
    assert lines[start + 1 : start + 6] == [
        "  1:",
        "    Description: Find move-on accommodation away from the school.",
        "    Owner agency: DBY-HOUSING",
        "    Owner name: Aisha Khan",
        "    Deadline: 2026-12-04",
    ]
    # Booleans read as yes/no; empty optional values are left out.
    assert "    Attended: no" in lines
    assert "Disclosure considered: yes" in lines
    assert not any(line.strip().startswith("Outcome") for line in lines)
    assert lines[-1] == "Next review date: 2027-02-22"


def test_render_form_text_says_when_a_list_is_empty() -> None:
    text = render_form_text(validate_form(PacketType.MINUTES, minutes_form(actions=[])))
    assert "Actions: none" in text.splitlines()
    text = render_form_text(validate_form(PacketType.REFERRAL, referral_form()))
    assert "Agency risk assessment:\n  Tool: RM2000\n  Completed on: 2026-10-12" in text
    assert "Special issues" not in text


def test_html_in_text_fields_is_kept_as_text() -> None:
    markup = '<script>alert("x")</script><b>Sole</b> tenant & <i>no</i> visitors'
    form = validate_form(PacketType.RESPONSE, response_form(information_provided=markup))
    assert form.model_dump()["information_provided"] == markup
    assert f"Information provided: {markup}" in render_form_text(form).splitlines()
    doc = form_document(PacketType.RESPONSE, form)
    assert doc["fields"]["information_provided"] == markup
