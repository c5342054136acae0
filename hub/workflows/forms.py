"""The structured content of each packet type: one versioned schema per type.

A typed packet carries its form (encrypted, like the body) as ``{"schema": ..., "version": ...,
"fields": {...}}``. The schemas follow the inspection reports: MAPPA A for referrals, MAPPA B for
minutes (four pillars, actions with owner, deadline and outcome, disclosure considered with
reasons), a need-to-know record for requests (003 l.566) and the third-party disclosure record
(001 l.500). Validation answers with one message per field, so a form comes back with each missing
part named rather than "bad request".

Agencies are named by their directory code; the services check the codes against the directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from hub.errors import InvalidInput
from hub.model.packets import PacketType
from hub.text import line_problem, text_problem

SCHEMA_PREFIX = "mappa-hub/form"
MAX_TEXT = 5000
MAX_ROWS = 40

# Dates a MAPPA form can plausibly hold: also bounds the working-day arithmetic done on them.
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
HIDDEN = "hidden_characters"


def _one_line(value: str) -> str:
    problem = line_problem(value)
    if problem is not None:
        raise PydanticCustomError(HIDDEN, "{problem}", {"problem": problem})
    return value


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError(HIDDEN, "{problem}", {"problem": problem})
    return value


# Hidden characters (``hub.text``): a field shown on one line (a name, a role) holds none; a
# field of several lines keeps them (shown visibly where it is displayed) but never what no text
# can hold.
# (The length is checked on the string itself, so a blank field is "required", not "too short".)
_LINE, _LINES = AfterValidator(_one_line), AfterValidator(_storable)
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), _LINES]
OptionalText = Annotated[str, Field(max_length=MAX_TEXT), _LINES]
ShortText = Annotated[str, Field(min_length=1, max_length=200), _LINE]
OptionalShortText = Annotated[str, Field(max_length=200), _LINE]
AgencyCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9][A-Z0-9-]*$")]


class FormModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
    schema_version: ClassVar[int] = 1
    # Which field of the form answers which part of the necessity statement
    # (policies/necessity.toml): the sender is not asked the same question twice. The service
    # fills the part from the field when no statement of that part is given
    # (hub.services.drafts.with_form_answers); one given explicitly wins.
    necessity_answers: ClassVar[Mapping[str, str]] = {}


class Harm(StrEnum):
    """OASys risk of serious harm levels."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very-high"


class Likelihood(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very-high"


# -- request for information and response -----------------------------------------------------


class RequestForm(FormModel):
    """A need-to-know record: what is asked, why, who will see it, how it will be used, by when."""

    necessity_answers: ClassVar[Mapping[str, str]] = {
        "why": "purpose_of_request",
        "who": "who_needs_access",
        "use": "how_it_will_be_used",
    }

    information_sought: Text
    purpose_of_request: Text
    who_needs_access: Text
    how_it_will_be_used: Text
    due_on: Day


class ResponseForm(FormModel):
    """What was disclosed in answer, and any conditions on its use (a feedback record, 003 l.596)."""

    information_provided: Text
    conditions_on_use: OptionalText = ""


# -- referral (MAPPA A) -----------------------------------------------------------------------


class InvitedAgency(FormModel):
    agency: AgencyCode
    reason: Text


class RiskAssessmentRecord(FormModel):
    """Which tool, when, by whom; countersigned where the tool requires it (RM2000)."""

    tool: Literal["OASys", "RM2000", "ARMS", "ASSET", "SARA", "other"]
    completed_on: Day
    assessor: ShortText
    countersigned_by: OptionalShortText = ""


class ReferralForm(FormModel):
    """MAPPA A: two-thirds of referrals examined in 2015 gave no likelihood of reoffending."""

    # Why the case is referred to level 2 or 3 is why the panel's agencies need the referral.
    necessity_answers: ClassVar[Mapping[str, str]] = {"why": "reason_for_referral"}

    level_sought: Literal[2, 3]
    reason_for_referral: Text
    likelihood_of_reoffending: Likelihood
    likelihood_evidence: Text
    risk_of_serious_harm: Harm
    risk_of_serious_harm_to_whom: Text
    imminence: Text
    agency_risk_assessment: RiskAssessmentRecord
    risk_management_plan: Text
    agencies_to_invite: Annotated[list[InvitedAgency], Field(min_length=1, max_length=MAX_ROWS)]
    special_issues: OptionalText = ""
    added_value: Text
    release_date: Day | None = None


# -- minutes (MAPPA B) ------------------------------------------------------------------------


class Attendance(FormModel):
    agency: AgencyCode
    role: ShortText
    required: bool = True
    attended: bool


class FourPillars(FormModel):
    """The risk management plan under the four pillars of MAPPA guidance."""

    supervision: Text
    monitoring_and_control: Text
    interventions_and_treatment: Text
    victim_safety_planning: Text


class MeetingAction(FormModel):
    description: Text
    owner_agency: AgencyCode
    owner_name: OptionalShortText = ""
    deadline: Day
    # Filled in when the action is done; an action is never "completed" without one.
    outcome: OptionalText = ""


class MinutesForm(FormModel):
    meeting_date: Day
    meeting_level: Literal[2, 3]
    chair: ShortText
    attendance: Annotated[list[Attendance], Field(min_length=1, max_length=MAX_ROWS)]
    licence_conditions: OptionalText = ""
    lead_agency: AgencyCode
    risk_assessment: Text
    risk_management_plan: FourPillars
    actions: Annotated[list[MeetingAction], Field(default_factory=list, max_length=MAX_ROWS)]
    disclosure_considered: bool
    disclosure_reasons: Text
    offenders_views: Text
    next_review_date: Day

    @model_validator(mode="after")
    def _dates_in_order(self) -> MinutesForm:
        if self.next_review_date <= self.meeting_date:
            raise ValueError("next_review_date: the next review must come after this meeting")
        for i, action in enumerate(self.actions):
            if action.deadline < self.meeting_date:
                raise ValueError(
                    f"actions.{i}.deadline: an action's deadline cannot precede the meeting"
                )
        return self


# -- risk change ------------------------------------------------------------------------------


class RiskChangeForm(FormModel):
    """Told to every agency active on the case (unclear in 17 of 40 probation cases, 002 l.2309)."""

    previous_risk: Harm
    new_risk: Harm
    what_changed: Text
    effective_from: Day
    actions_required: Text


# -- third-party disclosure -------------------------------------------------------------------


class RecipientKind(StrEnum):
    EMPLOYER = "employer"
    SCHOOL = "school"
    PARTNER = "partner"
    LANDLORD = "landlord"
    PLACE_OF_WORSHIP = "place-of-worship"
    OTHER = "other"


class DisclosureMethod(StrEnum):
    IN_PERSON = "in-person"
    LETTER = "letter"
    TELEPHONE = "telephone"


class DisclosureProposalForm(FormModel):
    """A disclosure to a third party proposed within MAPPA. Two lawful questions, each asked once:
    the packet's own lawful basis is how the proposal travels to MAPPA agencies (CJA 2003 s325 in
    England and Wales); ``lawful_basis`` here is the basis for the disclosure to the third party
    itself (the common law power, CJA 2003 s327A, ...), a code from the policy's catalogue, which
    the inbox offers as a list in the catalogue's words. No one basis serves both: s325 does not
    reach a third party and the common law power does not reach MAPPA agencies."""

    necessity_answers: ClassVar[Mapping[str, str]] = {"why": "why_necessary"}

    recipient_kind: RecipientKind
    recipient_name: ShortText
    recipient_role: OptionalShortText = ""
    information_to_disclose: Text
    why_necessary: Text
    who_is_protected: Text
    offender_to_be_told: bool
    reason_offender_not_told: OptionalText = ""
    method: DisclosureMethod
    # The basis for the disclosure itself (the proposal travels within MAPPA on its own basis);
    # the default keeps documents written before the inbox asked for it readable.
    lawful_basis: ShortText = "common-law"

    @model_validator(mode="after")
    def _told(self) -> DisclosureProposalForm:
        if not self.offender_to_be_told and not self.reason_offender_not_told:
            raise ValueError(
                "reason_offender_not_told: say why the offender is not to be told of the disclosure"
            )
        return self


class DisclosureDecisionForm(FormModel):
    decision: Literal["approve", "refuse"]
    reasons: Text
    conditions: OptionalText = ""


FORMS: dict[PacketType, type[FormModel]] = {
    PacketType.REQUEST: RequestForm,
    PacketType.RESPONSE: ResponseForm,
    PacketType.REFERRAL: ReferralForm,
    PacketType.MINUTES: MinutesForm,
    PacketType.RISK_CHANGE: RiskChangeForm,
    PacketType.DISCLOSURE_PROPOSAL: DisclosureProposalForm,
    PacketType.DISCLOSURE_DECISION: DisclosureDecisionForm,
}


def schema_id(packet_type: PacketType) -> str:
    model = FORMS[packet_type]
    return f"{SCHEMA_PREFIX}/{packet_type.value}/v{model.schema_version}"


def json_schema(packet_type: PacketType) -> dict[str, Any]:
    """The form's JSON Schema (2020-12), for agency systems and the API description."""
    doc = FORMS[packet_type].model_json_schema()
    doc["$id"] = f"https://mappa-hub.example/schemas/{schema_id(packet_type)}.json"
    return doc


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "form"


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{"field": "actions.0.deadline", "message": ...}`` per problem, in form order."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        message = str(err["msg"])
        if err["type"] == "value_error":
            # Our cross-field checks say "field: message": point the error at that field.
            text = message.removeprefix("Value error, ")
            name, _, rest = text.partition(": ")
            if rest and " " not in name:
                out.append({"field": name, "message": rest[0].upper() + rest[1:] + "."})
                continue
            message = text
        if err["type"] == HIDDEN:
            name = label(str(loc[-1])) if loc and isinstance(loc[-1], str) else "This field"
            message = f"{name} {message}. Remove it and try again."
        elif err["type"] in ("missing", "string_too_short"):
            message = "This field is required."
        elif err["type"] == "too_short":
            message = "Add at least one."
        elif err["type"] == "extra_forbidden":
            message = "This field is not part of the form."
        out.append({"field": _field_name(loc), "message": message})
    return out


def validate_form(packet_type: PacketType, data: Any) -> FormModel:
    """Check ``data`` against the type's schema; raise InvalidInput naming each bad field."""
    model = FORMS.get(packet_type)
    if model is None:
        raise InvalidInput(f"A {packet_type.value} packet has no structured form.", field="form")
    if not isinstance(data, dict):
        raise InvalidInput("The form must be an object of fields.", field="form")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        first = errors[0]
        raise InvalidInput(
            f"The {packet_type.value} form is incomplete or wrong: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10]),
            field=first["field"],
            code="invalid_form",
            errors=errors,
        ) from None


def form_error(path: str, message: str, *, code: str = "invalid_form") -> InvalidInput:
    """A problem with one form field found beyond the schema (dates, agencies, the workflow):
    ``field`` names it within the draft (``form.<path>``), ``errors`` as the schema would."""
    return InvalidInput(
        message, field=f"form.{path}", code=code, errors=[{"field": path, "message": message}]
    )


def form_document(packet_type: PacketType, form: FormModel) -> dict[str, Any]:
    """What travels (encrypted) in the packet's ``form`` part."""
    return {
        "schema": schema_id(packet_type),
        "version": form.schema_version,
        "fields": form.model_dump(mode="json"),
    }


def label(name: str) -> str:
    """``risk_of_serious_harm`` -> ``Risk of serious harm``."""
    return name.replace("_", " ").capitalize()


def render_form_text(form: FormModel) -> str:
    """A plain-text rendering of a form: the body of a typed packet, readable without the schema."""
    lines: list[str] = []

    def emit(value: Any, name: str, indent: str) -> None:
        if isinstance(value, dict):
            lines.append(f"{indent}{label(name)}:")
            for key, inner in value.items():
                emit(inner, key, indent + "  ")
        elif isinstance(value, list):
            lines.append(f"{indent}{label(name)}:{' none' if not value else ''}")
            for i, inner in enumerate(value, 1):
                emit(inner, f"{i}", indent + "  ")
        elif isinstance(value, bool):
            lines.append(f"{indent}{label(name)}: {'yes' if value else 'no'}")
        elif value not in (None, ""):
            lines.append(f"{indent}{label(name)}: {value}")

    for key, value in form.model_dump(mode="json").items():
        emit(value, key, "")
    return "\n".join(lines)


def requires_form(packet_type: PacketType) -> bool:
    return packet_type in FORMS
