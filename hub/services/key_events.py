"""The log entries of changes to the directory's areas, agencies and their keys
(hub.ledger.entries.Event).

Made by the operator at the command line (no acting person or agency), each names the agency
concerned as its recipient (an area's names none), and holds a digest of what changed: the area's
code, name and jurisdiction; the agency's code, name, type and area; the key ids made or
registered, and those retired. Anyone holding the ``areas``, ``agencies`` and ``agency_keys``
rows can recompute it, so the log proves when the hub began sealing to a key and stopped sealing
to another, without a key in the entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.crypto.canonical import canonical_json
from hub.crypto.secrets import sha256_hex
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Agency, Area


def _record(event: Event, agency_id: int | None, when: datetime, what: dict[str, Any]) -> Record:
    return Record(
        action=Action.ALTERATION,
        event=event,
        recorded_at=when,
        actor_user_id=None,
        actor_agency_id=None,
        recipients=() if agency_id is None else (agency_id,),
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        content_digest=sha256_hex(canonical_json({"event": event.value, **what})),
    )


def area_added(area: Area, when: datetime) -> Record:
    """An area added: no agency yet, so no recipient; a digest of its code, name and
    jurisdiction."""
    what = {"area": area.code, "name": area.name, "jurisdiction": area.jurisdiction.value}
    return _record(Event.AREA_ADDED, None, when, what)


def agency_added(agency: Agency, area_code: str, when: datetime) -> Record:
    what = {"agency": agency.code, "name": agency.name, "type": agency.type.value}
    return _record(Event.AGENCY_ADDED, agency.id, when, {**what, "area": area_code})


def keys_changed(
    event: Event, agency_id: int, new: Sequence[str], retired: Sequence[str], when: datetime
) -> Record:
    """``KEYS_ISSUED`` or ``KEYS_IMPORTED``: the key ids now active, and those it retired."""
    return _record(event, agency_id, when, {"keys": list(new), "retired": sorted(retired)})
