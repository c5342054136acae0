"""What the API says of a share held for approval: shared by the send operation (202 Accepted)
and by ``hub.web.api.held_shares``, which imports the rest of the API's helpers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from hub.services.held_shares import HeldContent, HeldShareView
from hub.web.api.models import ApiModel, AttachmentOut, Text


class ApprovalNeedOut(ApiModel):
    role: str
    area: str
    count: int
    # How many of ``count`` are still wanted.
    outstanding: int
    rules: list[str]


class ShareDecisionOut(ApiModel):
    approver: str
    role: str
    area: str
    decision: Literal["approve", "refuse"]
    reasons: str
    decided_at: datetime


class HeldShareOut(ApiModel):
    """A share the policy sent for approval: sealed, and sent to its recipients only once the
    approvers it names agree (``released``); ``refused`` closes it unsent."""

    id: int
    packet_id: Annotated[str, Field(description="the packet's id once released")]
    status: Literal["awaiting", "released", "refused"]
    case_id: int
    case_reference: str
    packet_type: str
    sender_agency: str
    proposer: str
    recipient_agencies: list[str]
    purpose: str
    lawful_basis: str
    restricted_reason: str | None
    approvals: list[ApprovalNeedOut]
    awaiting: Annotated[list[str], Field(description="who must still approve, in words")]
    decisions: list[ShareDecisionOut]
    created_at: datetime
    closed_at: datetime | None
    header: Annotated[
        dict[str, Any] | None,
        Field(description="the signed header (its policy decision included); one share only"),
    ] = None


class HeldShareList(ApiModel):
    awaiting_decision: Annotated[
        list[HeldShareOut], Field(description="awaiting an approval the caller's role gives")
    ]
    proposed: Annotated[list[HeldShareOut], Field(description="proposed by the caller's agency")]


class ShareDecisionIn(ApiModel):
    decision: Literal["approve", "refuse"]
    reasons: Annotated[Text, Field(min_length=1, max_length=5000)]


class HeldContentOut(ApiModel):
    share: HeldShareOut
    subject: str
    body: str
    necessity: dict[str, str]
    form: dict[str, Any] | None
    attachments: list[AttachmentOut]


def held_share_out(v: HeldShareView) -> HeldShareOut:
    r = v.row
    area = v.area_names
    return HeldShareOut(
        id=r.id,
        packet_id=v.packet.id,
        status=r.status,
        case_id=r.case_id,
        case_reference=v.case_reference,
        packet_type=v.packet.packet_type,
        sender_agency=v.sender_agency.code,
        proposer=v.proposer,
        recipient_agencies=[a.code for a in v.recipients],
        purpose=v.packet.purpose,
        lawful_basis=v.packet.lawful_basis,
        restricted_reason=r.restricted_reason,
        approvals=[
            ApprovalNeedOut(
                role=n.role,
                area=area.get(n.area_id, "?"),
                count=n.count,
                outstanding=v.outstanding.get((n.role, n.area_id), 0),
                rules=list(n.rules),
            )
            for n in r.approvals_needed
        ],
        awaiting=v.awaiting,
        decisions=[
            ShareDecisionOut(
                approver=v.decided_by[d.id],
                role=d.role,
                area=area.get(d.area_id, "?"),
                decision=d.decision,
                reasons=d.reasons,
                decided_at=d.decided_at,
            )
            for d in v.decisions
        ],
        created_at=r.created_at,
        closed_at=r.closed_at,
        header=dict(v.header) or None,
    )


def held_content_out(v: HeldShareView, c: HeldContent) -> HeldContentOut:
    return HeldContentOut(
        share=held_share_out(v),
        subject=c.subject,
        body=c.body,
        necessity=dict(c.necessity),
        form=dict(c.form) if c.form is not None else None,
        attachments=[
            AttachmentOut(
                index=a.index, filename=a.filename, content_type=a.content_type, size=a.size
            )
            for a in c.attachments
        ],
    )
