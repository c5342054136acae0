"""Words for people: every code the hub stores, shown by its human name.

Purposes, lawful bases, data categories, conditions and packet types are named by the policy's
catalogue; roles, decisions, statuses and the rest here. A code with no name is humanised
("awaiting-approval" -> "Awaiting approval") rather than shown raw.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hub.policy.loader import PolicySet

ROLES = {
    "practitioner": "Practitioner",
    "coordinator": "MAPPA coordinator",
    "senior-manager": "Senior manager",
    "agency-admin": "Agency administrator",
    "auditor": "Auditor",
}
OUTCOMES = {
    "PERMIT": "Allowed",
    "DENY": "Refused",
    "REVIEW": "Needs approval before it is sent",
}
STATUSES = {
    "open": "Open",
    "awaiting": "Awaiting approval",
    "proposed": "Proposed",
    "approved": "Approved",
    "released": "Sent after approval",
    "refused": "Refused",
    "declined": "Declined",
    "answered": "Answered",
    "done": "Done",
    "late": "Late",
    "sent": "Sent",
    "delivered": "Delivered",
    "decided": "Decided",
    "withdrawn": "Withdrawn",
    "revoked": "Revoked",
    "active": "Active",
    "expired": "Expired",
    "overdue": "Overdue",
    # The email outbox (hub.store.email_outbox).
    "pending": "Waiting to send",
    "sending": "Sending",
    "digest": "Waiting for the daily summary",
    "dead": "Could not be sent",
}
# What an email tells of (hub.services.notices.Notice), for the administrator's queue.
NOTICES = {
    "new-packet": "New packet for the agency",
    "request-due-soon": "Request for information due soon",
    "request-overdue": "Request for information overdue",
    "action-overdue": "Meeting action overdue",
    "minutes-late": "Meeting minutes late",
    "review-overdue": "Case review overdue",
    "referral-overdue": "Referral overdue",
    "disclosure-awaiting": "Third-party disclosure awaiting a decision",
    "share-awaiting": "Share awaiting approval",
    "transfer-awaiting": "Case transfer awaiting your area",
    "transfer-decided": "Case transfer decided or moved on",
    "transfer-overdue": "Case transfer step overdue",
    "transfer-escalated": "Overdue case transfer escalated",
    "digest": "Daily summary",
    "disclosure-letter": "Third-party disclosure letter",
}
# The log's events (hub.ledger.entries.Event) and the DPA 2018 s62 kinds of processing.
EVENTS = {
    "packet-sent": "Packet sent",
    "packet-opened": "Packet opened",
    "attachment-opened": "Attachment opened",
    "sealed-fetched": "Sealed packet collected by the agency's system",
    "case-created": "Case opened",
    "case-altered": "Case changed",
    "cases-combined": "Case records combined",
    "case-agency-involved": "Agency brought into the case",
    "case-event-recorded": "Event recorded on the case",
    "stats-produced": "Statistics produced",
    "packet-shredded": "Packet content destroyed",
    "disclosure-decided": "Disclosure decision recorded",
    "third-party-disclosed": "Disclosure made to a third party",
    "token-issued": "API token issued",
    "token-revoked": "API token revoked",
    "share-proposed": "Share held for approval",
    "share-refused": "Share refused by the policy: nothing sent",
    "share-decided": "Share approval decision recorded",
    "share-released": "Share sent after approval",
    "held-share-opened": "Share held for approval read",
    "held-attachment-opened": "Attachment of a held share opened",
    "visor-record-created": "Nominal record created",
    "visor-record-altered": "Nominal record changed",
    "visor-record-opened": "Nominal record read",
    "visor-exported": "Nominal record exported for ViSOR",
    "visor-imported": "Nominal record imported from a ViSOR file",
    "transfer-proposed": "Case transfer proposed",
    "transfer-accepted": "Case transfer accepted",
    "transfer-declined": "Case transfer declined",
    "transfer-cancelled": "Case transfer cancelled",
    "transfer-sent": "Case file sent for transfer",
    "transfer-received": "Transferred case file received",
    "transfer-completed": "Case transfer completed: owning area changed",
    "transfer-escalated": "Overdue case transfer escalated",
    "sign-out-forced": "Person signed out by an administrator",
    "second-factor-reset": "Authenticator app reset",
    "second-factor-enrolled": "New authenticator app set up",
    "recovery-codes-issued": "Recovery codes issued",
    "recovery-code-used": "Signed in with a recovery code",
    "password-changed": "Password changed",
    "account-deactivated": "Account deactivated",
    "email-sent": "Email sent",
    "letter-sent": "Disclosure letter sent",
    "peer-pinned": "Peer hub trusted",
    "peer-removed": "Peer hub no longer trusted",
    "checkpoint-cosigned": "Peer hub's log checkpoint countersigned",
    "area-added": "Area added to the hub",
    "agency-added": "Agency added to the hub",
    "keys-issued": "New keys made for the agency",
    "keys-imported": "Agency's own system's keys registered",
    "account-created": "Account created",
}
ACTIONS = {
    "collection": "Collection",
    "alteration": "Alteration",
    "consultation": "Consultation (read)",
    "disclosure": "Disclosure",
    "combination": "Combination",
    "erasure": "Erasure",
}
JURISDICTIONS = {
    "england-and-wales": "England and Wales",
    "scotland": "Scotland",
    "northern-ireland": "Northern Ireland",
}
CLASSIFICATIONS = {"OFFICIAL": "OFFICIAL", "OFFICIAL-SENSITIVE": "OFFICIAL-SENSITIVE"}


def humanise(code: object) -> str:
    text = str(getattr(code, "value", code) or "").replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def _value(code: object) -> str:
    return str(getattr(code, "value", code) or "")


class Labels:
    """``label.purpose("risk-management")`` -> "Managing the risk ..." in templates."""

    def __init__(self, policy: PolicySet | None) -> None:
        self._policy = policy

    def _catalogue(self, table: str, code: object) -> str:
        key = _value(code)
        entry = getattr(self._policy, table, {}).get(key) if self._policy else None
        return entry.label if entry is not None else humanise(key)

    def purpose(self, code: object) -> str:
        return self._catalogue("purposes", code)

    def basis(self, code: object) -> str:
        return self._catalogue("lawful_bases", code)

    def category(self, code: object) -> str:
        return self._catalogue("categories", code)

    def condition(self, code: object) -> str:
        return self._catalogue("conditions", code)

    def packet_type(self, code: object) -> str:
        return self._catalogue("packet_types", code)

    def form(self, schema_id: object) -> str:
        """The packet type's name for a form schema ("mappa-hub/form/referral/v1")."""
        parts = _value(schema_id).split("/")
        return self.packet_type(parts[2]) if len(parts) >= 3 else humanise(schema_id)

    def necessity_part(self, code: object) -> str:
        parts = getattr(self._policy, "necessity_parts", {}) if self._policy else {}
        return str(parts.get(_value(code), humanise(code)))

    def role(self, code: object) -> str:
        return ROLES.get(_value(code), humanise(code))

    def role_in_sentence(self, code: object) -> str:
        """The role's name inside a sentence: "senior manager", "MAPPA coordinator"."""
        text = self.role(code)
        return text if text[:2].isupper() else text[:1].lower() + text[1:]

    def outcome(self, code: object) -> str:
        return OUTCOMES.get(_value(code).upper(), humanise(code))

    def status(self, code: object) -> str:
        return STATUSES.get(_value(code), humanise(code))

    def jurisdiction(self, code: object) -> str:
        return JURISDICTIONS.get(_value(code), humanise(code))

    def classification(self, code: object) -> str:
        return CLASSIFICATIONS.get(_value(code), humanise(code))

    def event(self, code: object) -> str:
        """A log event: "packet-opened" -> "Packet opened"."""
        return EVENTS.get(_value(code), humanise(code))

    def notice(self, code: object) -> str:
        """What an email tells of: "minutes-late" -> "Meeting minutes late"."""
        return NOTICES.get(_value(code), humanise(code))

    def action(self, code: object) -> str:
        """The DPA 2018 s62 kind of processing an event is: "consultation" -> "Consultation (read)"."""
        return ACTIONS.get(_value(code), humanise(code))

    def any(self, code: object) -> str:
        return humanise(code)


def govuk_date(value: date | datetime | None) -> str:
    """GOV.UK style: "9 December 2026" (no leading zero, no ordinal)."""
    if value is None:
        return ""
    return f"{value.day} {value.strftime('%B %Y')}"


def govuk_time(value: datetime) -> str:
    """GOV.UK style: "9:05am", "midday", "midnight"."""
    if value.hour == 12 and value.minute == 0:
        return "midday"
    if value.hour == 0 and value.minute == 0:
        return "midnight"
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d}{'am' if value.hour < 12 else 'pm'}"


def govuk_datetime(value: datetime | None) -> str:
    """GOV.UK style date and time, "9 December 2026 at 2:05pm" (UTC, as the ledger keeps it)."""
    if value is None:
        return ""
    return f"{govuk_date(value)} at {govuk_time(value)}"


def iso_date(value: str | date | None) -> str:
    """A date held as ISO text (a ViSOR record's fields), in GOV.UK style; text that is not a
    date is shown as it is."""
    if isinstance(value, date):
        return govuk_date(value)
    if not value:
        return ""
    try:
        return govuk_date(date.fromisoformat(value))
    except ValueError:
        return value


def filters() -> dict[str, Any]:
    return {
        "govuk_date": govuk_date,
        "govuk_datetime": govuk_datetime,
        "when": govuk_datetime,
        "iso_date": iso_date,
    }
