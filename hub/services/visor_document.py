"""The nominal record as a document: its digest, the data categories it carries (for the
policy), and the meetings and disclosure decisions the hub itself holds, added by reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.crypto.canonical import canonical_json
from hub.crypto.secrets import sha256_hex
from hub.store.disclosures import DisclosureRow
from hub.store.workflows import MeetingRow
from hub.workflows.deadlines import local_date


def canonical_digest(document: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(dict(document)))


def categories(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The data categories (policies/catalogue.toml) the record carries."""
    cats = {"identity", "risk-summary"}
    orders = doc.get("orders") or []
    pairs = (
        ("address", bool(doc.get("addresses"))),
        ("offence-history", bool(doc.get("offences"))),
        ("release-and-sentence", any(o.get("sentence") for o in doc.get("offences") or [])),
        ("registration", any(o["kind"].startswith("notification") for o in orders)),
        ("licence-conditions", bool(doc.get("licence_conditions")) or bool(orders)),
        ("risk-assessment", bool(doc.get("risk_assessments"))),
        ("risk-management-plan", bool(doc.get("risk_management_plan"))),
    )
    cats |= {name for name, present in pairs if present}
    return tuple(sorted(cats))


def add_hub_history(
    doc: dict[str, Any], meetings: list[MeetingRow], disclosures: list[DisclosureRow]
) -> None:
    """The meetings and disclosure decisions the hub itself holds for the case, referenced
    (minutes by their packet, decisions by their proposal packet), beside those recorded."""
    have = {(m["held_on"], m["level"], m.get("minutes_reference")) for m in doc.get("meetings", [])}
    for m in meetings:
        item: dict[str, Any] = {"held_on": m.held_on.isoformat(), "level": m.level}
        if m.minutes_packet_id:
            item["minutes_reference"] = m.minutes_packet_id
        key = (item["held_on"], item["level"], item.get("minutes_reference"))
        if key not in have and m.level in (2, 3):
            doc.setdefault("meetings", []).append(item)
            have.add(key)
    if "meetings" in doc:
        doc["meetings"].sort(key=lambda m: (m["held_on"], m.get("minutes_reference", "")))
    refs = {d["reference"] for d in doc.get("disclosure_decisions", [])}
    for d in reversed(disclosures):
        if d.proposal_packet_id in refs:
            continue
        item = {
            "reference": d.proposal_packet_id,
            "status": d.status,
            "recipient_kind": d.recipient_kind,
            "proposed_on": local_date(d.created_at).isoformat(),
        }
        if d.decided_at is not None:
            item["decided_on"] = local_date(d.decided_at).isoformat()
        doc.setdefault("disclosure_decisions", []).append(item)
