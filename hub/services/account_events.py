"""The log entries of changes to who may sign in, and how (hub.ledger.entries.Event).

An entry names who acted (the person themselves, an agency admin, or None for the operator at
the command line) and, as its recipient, the agency of the person concerned. Of that person it
holds only a digest of their id with the event and time, which anyone holding the ``users``
row can recompute: the log says what happened to whom without naming anyone in clear.
"""

from __future__ import annotations

from datetime import datetime

from hub.clock import utc_text
from hub.crypto.canonical import canonical_json
from hub.crypto.secrets import sha256_hex
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import User


def subject_digest(event: Event, subject: User, when: datetime) -> str:
    at = utc_text(when)
    return sha256_hex(canonical_json({"event": event.value, "user": subject.id, "at": at}))


def account_record(
    event: Event,
    subject: User,
    when: datetime,
    *,
    by_user_id: int | None,
    by_agency_id: int | None,
) -> Record:
    return Record(
        action=Action.ALTERATION,
        event=event,
        recorded_at=when,
        actor_user_id=by_user_id,
        actor_agency_id=by_agency_id,
        recipients=(subject.agency_id,),
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        content_digest=subject_digest(event, subject, when),
    )
