"""What the JSON API accepts and returns. The OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, TypedDict

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hub.text import line_problem, text_problem

PacketTypeName = Literal[
    "note",
    "request-for-information",
    "response",
    "referral",
    "minutes",
    "risk-change",
    "disclosure-proposal",
]


def _line(value: str) -> str:
    problem = line_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# Text the hub shows on one line (a subject, a name, a code, a file name): no hidden characters
# (``hub.text``). Multi-line text (a body, a statement, a reason) keeps them, shown visibly, but
# never NUL or an unpaired surrogate. Request bodies are validated strictly (``handlers.read_body``), so a
# number is never taken for a string or a string for a number.
Line = Annotated[str, AfterValidator(_line)]
Text = Annotated[str, AfterValidator(_text)]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(ApiModel):
    """RFC 9457 problem details: every error the API returns has this shape."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    errors: list[dict[str, str]] | None = None
    decision: dict[str, Any] | None = None


class AttachmentIn(ApiModel):
    filename: Annotated[Line, Field(min_length=1, max_length=255)]
    content_type: Annotated[Line, Field(max_length=100)] = "application/octet-stream"
    data_base64: Annotated[str, Field(max_length=16 * 1024 * 1024)]


class SendIn(ApiModel):
    """A packet to seal and send on the hub (hub mode): the hub encrypts it for the recipients."""

    case_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    recipient_agencies: Annotated[list[Annotated[Line, Field(max_length=32)]], Field(max_length=50)]
    subject: Annotated[Line, Field(max_length=1000)]
    body: Annotated[Text, Field(max_length=400_000)] = ""
    purpose: Annotated[Line, Field(max_length=64)]
    lawful_basis: Annotated[Line, Field(max_length=64)]
    packet_type: PacketTypeName = "note"
    data_categories: Annotated[list[Annotated[Line, Field(max_length=64)]], Field(max_length=30)]
    necessity: dict[Annotated[Line, Field(max_length=16)], Annotated[Text, Field(max_length=6000)]]
    schedule1_condition: Annotated[Line, Field(max_length=64)] | None = None
    restricted_reason: Annotated[Text, Field(max_length=6000)] | None = None
    form: dict[str, Any] | None = None
    reply_to: Annotated[Line, Field(max_length=36)] | None = None
    attachments: Annotated[list[AttachmentIn], Field(max_length=20)] = []


class PacketOut(ApiModel):
    id: str
    packet_type: str
    case_id: int
    case_reference: str
    sender_agency: str
    recipient_agencies: list[str]
    purpose: str
    created_at: datetime
    subject: str
    attachment_count: int
    reply_to: str | None = None


class AttachmentOut(ApiModel):
    index: int
    filename: str
    content_type: str
    size: int


class OpenedPacketOut(ApiModel):
    packet: PacketOut
    header: dict[str, Any]
    body: str
    necessity: dict[str, str]
    form: dict[str, Any] | None
    attachments: list[AttachmentOut]


class PacketList(ApiModel):
    packets: list[PacketOut]


class PacketJson(TypedDict):
    """``PacketOut`` as plain data (the same fields, in the same order)."""

    id: str
    packet_type: str
    case_id: int
    case_reference: str
    sender_agency: str
    recipient_agencies: list[str]
    purpose: str
    created_at: datetime
    subject: str
    attachment_count: int
    reply_to: str | None


def packet_list_json(packets: list[PacketJson]) -> bytes:
    """A listing of up to 100 packets as ``PacketList`` writes it, without a validated model a
    row (building those was three quarters of the listing's JSON cost, for values the hub made
    itself). orjson writes the bytes pydantic writes for these fields, times in UTC with "Z"
    (tests/unit/test_packet_list_json.py holds them equal), in a quarter of its time."""
    return orjson.dumps({"packets": packets}, option=orjson.OPT_UTC_Z)


class DecisionOut(ApiModel):
    outcome: Literal["PERMIT", "DENY", "REVIEW"]
    message: str
    record: dict[str, Any]
    failed: list[dict[str, Any]]


class CaseOut(ApiModel):
    id: int
    reference: str
    family_name: str
    given_names: str
    date_of_birth: date | None
    category: int
    level: int
    lead_agency_id: int
    area_id: int


class CaseList(ApiModel):
    cases: list[CaseOut]


class RequestOut(ApiModel):
    id: int
    packet_id: str
    case_id: int
    case_reference: str
    requester_agency: str
    target_agency: str
    due_on: date
    status: str
    overdue: bool
    response_packet_id: str | None
    decline_reason: str | None


class RequestQueueOut(ApiModel):
    incoming: list[RequestOut]
    outgoing: list[RequestOut]


class DeclineIn(ApiModel):
    reason: Annotated[Text, Field(max_length=4000)]


class DisclosureDecisionIn(ApiModel):
    decision: Literal["approve", "refuse"]
    reasons: Annotated[Text, Field(max_length=6000)]
    conditions: Annotated[Text, Field(max_length=6000)] = ""


class DisclosureDecisionOut(ApiModel):
    approver: str
    role: str
    decision: str
    reasons: str
    conditions: str
    decided_at: datetime


class DisclosureOut(ApiModel):
    id: int
    case_id: int
    case_reference: str
    proposal_packet_id: str
    proposer: str
    proposer_agency: str
    recipient_kind: str
    method: str
    offender_to_be_told: bool
    status: str
    approvals_needed: list[dict[str, Any]]
    outstanding: dict[str, int]
    decisions: list[DisclosureDecisionOut]
    created_at: datetime
    delivered_at: datetime | None


class DisclosureList(ApiModel):
    disclosures: list[DisclosureOut]


class SealedIn(ApiModel):
    """A packet sealed by the agency system itself (format v1 envelope, PACKET_FORMAT.md)."""

    envelope: dict[str, Any]


class ReceiptOut(ApiModel):
    model_config = ConfigDict(extra="allow")
