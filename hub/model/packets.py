"""Packets: a signed cleartext header plus encrypted content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class PacketType(StrEnum):
    NOTE = "note"
    REQUEST = "request-for-information"
    RESPONSE = "response"
    REFERRAL = "referral"
    MINUTES = "minutes"
    RISK_CHANGE = "risk-change"
    DISCLOSURE_PROPOSAL = "disclosure-proposal"
    DISCLOSURE_DECISION = "disclosure-decision"
    CASE_TRANSFER = "case-transfer"


# The types that carry a structured form (hub.workflows.forms.FORMS holds their models): named
# here for the command line's parser, which would otherwise import every form model to list them.
FORM_TYPES = frozenset(set(PacketType) - {PacketType.NOTE, PacketType.CASE_TRANSFER})


class Classification(StrEnum):
    """Government Security Classifications: MAPPA material is OFFICIAL-SENSITIVE."""

    OFFICIAL = "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL-SENSITIVE"


@dataclass(frozen=True)
class AttachmentIn:
    """An attachment as it arrives from a user, before sealing."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Draft:
    """What a user asks to send; validated and sealed by ``services.packets``."""

    case_id: int
    recipient_agency_ids: tuple[int, ...]
    subject: str
    body: str
    purpose: str
    lawful_basis: str
    packet_type: PacketType = PacketType.NOTE
    data_categories: tuple[str, ...] = ()
    classification: Classification = Classification.OFFICIAL_SENSITIVE
    attachments: tuple[AttachmentIn, ...] = ()
    # The necessity statement: parts named in policies/necessity.toml (why, who, use).
    necessity: Mapping[str, str] = field(default_factory=dict)
    schedule1_condition: str | None = None
    # Why a restricted category (e.g. victim information) must go to this recipient.
    restricted_reason: str | None = None
    # The structured content of a typed packet (hub.workflows.forms); the body may then be empty.
    form: Mapping[str, Any] | None = None
    # The packet this one answers: a response names its request.
    reply_to: str | None = None


@dataclass(frozen=True)
class PacketHeader:
    """The signed cleartext header. Routing needs only this."""

    version: int
    packet_id: str
    packet_type: PacketType
    case_reference: str
    sender_user: str
    sender_agency: str
    recipients: tuple[str, ...]
    purpose: str
    lawful_basis: str
    data_categories: tuple[str, ...]
    classification: Classification
    created_at: datetime
    parts: dict[str, str] = field(default_factory=dict)
    policy: Mapping[str, object] = field(default_factory=dict)
    form_schema: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class AttachmentMeta:
    index: int
    filename: str
    content_type: str
    size: int


# Not frozen: a listing builds a hundred a page, and a frozen dataclass's __init__ (a call to
# object.__setattr__ a field) cost seven times a plain one, 8 % of a page's CPU. Nothing changes
# a summary once built.
@dataclass(slots=True)
class PacketSummary:
    """One row of an inbox or outbox listing."""

    id: str
    packet_type: PacketType
    case_id: int
    case_reference: str
    sender_agency_id: int
    sender_user_id: int
    recipient_agency_ids: tuple[int, ...]
    purpose: str
    created_at: datetime
    subject: str
    attachment_count: int
    read_by_my_agency: bool = False
    reply_to: str | None = None


@dataclass(frozen=True)
class OpenedPacket:
    summary: PacketSummary
    header: PacketHeader
    body: str
    attachments: tuple[AttachmentMeta, ...]
    necessity: Mapping[str, str] = field(default_factory=dict)
    # The structured form of a typed packet: {"schema", "version", "fields"}.
    form: Mapping[str, Any] | None = None
