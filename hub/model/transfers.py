"""Case transfers between MAPPA areas: the states a transfer moves through, and its record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class TransferState(StrEnum):
    """proposed -> accepted | declined; accepted -> sent -> received -> completed. The sender
    cancels a transfer not yet sent."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SENT = "sent"
    RECEIVED = "received"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {
            "proposed": "Awaiting the receiving area's decision",
            "accepted": "Accepted: the case file is to be sent",
            "declined": "Declined by the receiving area",
            "sent": "Case file sent: awaiting receipt",
            "received": "Case file received: awaiting completion",
            "completed": "Completed: the receiving area owns the case",
            "cancelled": "Cancelled by the sending area",
        }[self.value]

    @property
    def closed(self) -> bool:
        return self in (TransferState.DECLINED, TransferState.COMPLETED, TransferState.CANCELLED)


@dataclass(frozen=True)
class Transfer:
    id: int
    case_id: int | None
    case_reference: str
    state: TransferState
    sending_area_code: str
    sending_area_id: int | None
    receiving_area_code: str
    receiving_area_id: int | None
    sending_jurisdiction: str
    receiving_jurisdiction: str
    peer_name: str | None
    remote_id: str | None
    reason: str
    proposed_date: date
    meeting_id: int | None
    meeting_held_on: date | None
    proposer_user_id: int | None
    proposer_person_id: int | None
    proposer_agency_id: int | None
    decided_by_user_id: int | None
    decided_by_person_id: int | None
    decided_by_name: str | None
    decision_reasons: str | None
    decided_at: datetime | None
    new_lead_agency_id: int | None
    new_lead_agency_code: str | None
    bundle_digest: str | None
    sent_at: datetime | None
    sent_by_user_id: int | None
    received_at: datetime | None
    ack_digest: str | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    sending_read_until: datetime | None
    work_item_id: int | None
    escalated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Hub to hub: what this hub still owes the peer (PeerMessage), and the last refusal's words.
    peer_owed: str | None = None
    peer_attempts: int = 0
    peer_next_at: datetime | None = None
    peer_error: str | None = None
    # Who proposed it on a peer hub, as that hub named them.
    proposer_name: str | None = None

    @property
    def between_hubs(self) -> bool:
        return self.peer_name is not None


class PeerMessage(StrEnum):
    """What one hub tells the other about a hub-to-hub transfer, over a signed call."""

    PROPOSAL = "proposal"  # sending hub -> receiving hub: for its coordinator to decide
    DECISION = "decision"  # receiving hub -> sending hub: accepted (with the lead) or declined
    CANCELLATION = "cancellation"  # sending hub -> receiving hub: withdrawn before sending

    @property
    def path(self) -> str:
        return {
            "proposal": "/federation/v1/transfer-proposals",
            "decision": "/federation/v1/transfer-decisions",
            "cancellation": "/federation/v1/transfer-cancellations",
        }[self.value]
