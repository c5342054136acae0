"""Typed, dated events on a case record that the MAPPA annual report and the Strategic Management
Board count: breaches of notification requirements, civil orders applied for and granted, recalls
to custody, charges with a serious further offence, and the end of MAPPA management. Each is a
code and a date, never free text: statistics never need a packet opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class CaseEventKind(StrEnum):
    BREACH_CAUTIONED = "notification-breach-cautioned"
    BREACH_CONVICTED = "notification-breach-convicted"
    ORDER_APPLIED = "order-applied"
    ORDER_GRANTED = "order-granted"
    RECALLED_LICENCE = "recalled-licence-breach"
    RECALLED_ORDER = "recalled-order-breach"
    CHARGED_SERIOUS = "charged-serious-offence"
    MANAGEMENT_ENDED = "management-ended"

    @property
    def label(self) -> str:
        return {
            "notification-breach-cautioned": "Cautioned for breach of notification requirements",
            "notification-breach-convicted": "Convicted of breach of notification requirements",
            "order-applied": "Order applied for",
            "order-granted": "Order granted",
            "recalled-licence-breach": "Returned to custody for breach of licence",
            "recalled-order-breach": "Returned to custody for breach of a restraining order or "
            "sexual harm prevention order",
            "charged-serious-offence": "Charged with a serious sexual or violent offence",
            "management-ended": "MAPPA management ended",
        }[self.value]

    @property
    def is_order(self) -> bool:
        return self in (CaseEventKind.ORDER_APPLIED, CaseEventKind.ORDER_GRANTED)


class OrderType(StrEnum):
    """Civil orders the annual report counts (SOPOs became SHPOs in 2015; both are kept)."""

    SHPO = "sexual-harm-prevention-order"
    SOPO = "sexual-offences-prevention-order"
    NOTIFICATION = "notification-order"
    FOREIGN_TRAVEL = "foreign-travel-order"

    @property
    def label(self) -> str:
        return {
            "sexual-harm-prevention-order": "Sexual harm prevention order",
            "sexual-offences-prevention-order": "Sexual offences prevention order",
            "notification-order": "Notification order",
            "foreign-travel-order": "Foreign travel order",
        }[self.value]


class OrderStage(StrEnum):
    INTERIM = "interim"
    FULL = "full"

    @property
    def label(self) -> str:
        return {"interim": "Interim", "full": "Full"}[self.value]


@dataclass(frozen=True)
class CaseEvent:
    id: int
    case_id: int
    kind: CaseEventKind
    occurred_on: date
    order_type: OrderType | None
    order_stage: OrderStage | None
    # The case's area and MAPPA level on the day it happened (the report counts by level).
    area_id: int
    level: int
    recorded_by_user_id: int | None
    recorded_by_agency_id: int | None
    recorded_at: datetime

    @property
    def label(self) -> str:
        if self.order_type is None:
            return self.kind.label
        stage = f"{self.order_stage.label.lower()} " if self.order_stage else ""
        verb = "applied for" if self.kind is CaseEventKind.ORDER_APPLIED else "granted"
        return f"{self.order_type.label} ({stage}{verb})".replace("( ", "(")
