"""Hidden characters in the workflow forms (``hub.workflows.forms``, ``hub.text``): a one-line
field (a name, a role) refuses them, naming the field and the character; a field of several
lines keeps them and refuses only what no text may hold."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import InvalidInput
from hub.model.packets import PacketType
from hub.workflows.forms import validate_form

HIDDEN = {"right-to-left override": "\u202e", "line separator": "\u2028"}


def _proposal(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "recipient_kind": "employer",
        "recipient_name": "Derby Motors",
        "recipient_role": "Site manager",
        "information_to_disclose": "His conviction.",
        "why_necessary": "Children visit the site.",
        "who_is_protected": "Children on school visits.",
        "offender_to_be_told": True,
        "method": "letter",
    }
    form.update(changes)
    return form


@pytest.mark.parametrize(("name", "char"), HIDDEN.items(), ids=HIDDEN.keys())
@pytest.mark.parametrize(
    ("field", "label"), [("recipient_name", "Recipient name"), ("recipient_role", "Recipient role")]
)
def test_a_one_line_field_refuses_a_hidden_character(
    field: str, label: str, name: str, char: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_form(PacketType.DISCLOSURE_PROPOSAL, _proposal(**{field: f"Derby{char} Motors"}))
    assert caught.value.field == field
    assert caught.value.errors == (
        {
            "field": field,
            "message": f"{label} must not include hidden characters, such as line breaks or "
            f"text direction controls. It has a {name} (U+{ord(char):04X}). Remove it and try "
            "again.",
        },
    )


def test_a_row_field_is_named_by_its_path() -> None:
    form = {
        "tool": "OASys",
        "completed_on": "2026-01-05",
        "assessor": "J\u202eones",
    }
    with pytest.raises(InvalidInput) as caught:
        validate_form(
            PacketType.REFERRAL,
            {
                "level_sought": 2,
                "reason_for_referral": "x",
                "likelihood_of_reoffending": "high",
                "likelihood_evidence": "x",
                "risk_of_serious_harm": "high",
                "risk_of_serious_harm_to_whom": "x",
                "imminence": "x",
                "agency_risk_assessment": form,
                "risk_management_plan": "x",
                "agencies_to_invite": [{"agency": "DBY-HOUSING", "reason": "x"}],
                "added_value": "x",
            },
        )
    assert [e["field"] for e in caught.value.errors] == ["agency_risk_assessment.assessor"]
    assert caught.value.errors[0]["message"].startswith("Assessor must not include hidden")


def test_a_field_of_several_lines_keeps_hidden_characters_but_not_a_nul() -> None:
    kept = "Children\u2028visit \u202ethe site.\n"
    form = validate_form(PacketType.DISCLOSURE_PROPOSAL, _proposal(why_necessary=kept))
    assert form.why_necessary == kept.strip()  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput) as caught:
        validate_form(PacketType.DISCLOSURE_PROPOSAL, _proposal(why_necessary="a\x00b"))
    assert caught.value.errors == (
        {
            "field": "why_necessary",
            "message": "Why necessary must not include a null character (U+0000). Remove it and "
            "try again.",
        },
    )
