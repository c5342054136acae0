"""Ledger entries: what DPA 2018 s62 requires of a log, encoded canonically and hash-chained.

Each entry's bytes are canonical JSON holding its sequence number and the previous entry's hash;
its hash is the RFC 6962 leaf hash ``SHA-256(0x00 || bytes)``, so the same values later become the
leaves of the Merkle tree. The columns beside the bytes exist for queries; verification checks that
they agree with the bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub.clock import utc_text
from hub.crypto.canonical import canonical_json
from hub.errors import IntegrityFailure

# v2 added the policy version and decision of the share (policy engine), v3 the API token, v4 the
# channel and recipient address of a message sent out of the hub; older entries still verify.
ENTRY_VERSION = 4
GENESIS_HASH = "0" * 64


class Action(StrEnum):
    """The kinds of processing DPA 2018 s62(1) requires logs for."""

    COLLECTION = "collection"
    ALTERATION = "alteration"
    CONSULTATION = "consultation"
    DISCLOSURE = "disclosure"
    COMBINATION = "combination"
    ERASURE = "erasure"


class Event(StrEnum):
    """What happened, more precisely than the s62 category."""

    PACKET_SENT = "packet-sent"
    PACKET_OPENED = "packet-opened"
    ATTACHMENT_OPENED = "attachment-opened"
    # An envelope handed to an agency's own system (end-to-end mode): the hub cannot see it opened.
    SEALED_FETCHED = "sealed-fetched"
    CASE_CREATED = "case-created"
    CASE_ALTERED = "case-altered"
    CASES_COMBINED = "cases-combined"
    # An agency brought into a case's arrangements by its coordinator or lead agency (alteration):
    # from then on it is active on the case. Being sent a packet never does this.
    CASE_AGENCY_INVOLVED = "case-agency-involved"
    # A typed, dated event on the case the statistics count (hub.model.case_events): a breach, an
    # order, a recall, a charge, the end of MAPPA management (collection).
    CASE_EVENT_RECORDED = "case-event-recorded"
    # Statistics produced for an area and period (consultation of the workflow state).
    STATS_PRODUCED = "stats-produced"
    PACKET_SHREDDED = "packet-shredded"
    DISCLOSURE_DECIDED = "disclosure-decided"
    THIRD_PARTY_DISCLOSED = "third-party-disclosed"
    # Who may process through the API (alteration): an agency system given or denied access.
    TOKEN_ISSUED = "token-issued"  # noqa: S105 - an event's name, not a secret
    TOKEN_REVOKED = "token-revoked"  # noqa: S105
    # A share the policy sent for approval (hub.services.held_shares): sealed and stored, not yet
    # disclosed (collection); each approver's decision (alteration); its release to the
    # recipients once approved (disclosure); an approver or the sender reading it meanwhile
    # (consultation).
    SHARE_PROPOSED = "share-proposed"
    # A share the policy refused (hub.services.refused_shares): consultation, as deciding read the
    # case; it names the agencies the share was meant for, the policy version and DENY, and
    # nothing was sealed, stored or disclosed.
    SHARE_REFUSED = "share-refused"
    SHARE_DECIDED = "share-decided"
    SHARE_RELEASED = "share-released"
    HELD_SHARE_OPENED = "held-share-opened"
    HELD_ATTACHMENT_OPENED = "held-attachment-opened"
    # A message the email adapter handed to the relay (disclosure, entry v4 names the channel and
    # the address): a notification or digest on the ``email`` channel, or an approved third-party
    # disclosure letter on the ``letter`` channel.
    EMAIL_SENT = "email-sent"
    LETTER_SENT = "letter-sent"
    # The ViSOR-style nominal record kept per case (adapters/visor): first recorded (collection),
    # changed (alteration), exported as a share (disclosure), imported from a file (collection or
    # alteration, as it created or changed the record).
    VISOR_RECORD_CREATED = "visor-record-created"
    VISOR_RECORD_ALTERED = "visor-record-altered"
    VISOR_EXPORTED = "visor-exported"
    VISOR_IMPORTED = "visor-imported"
    # Case transfer between areas (adapters/transfer): each step of the workflow (alteration),
    # the bundle sent (disclosure, channel ``transfer``) and received (collection), and the case's
    # new owning area on completion (alteration).
    TRANSFER_PROPOSED = "transfer-proposed"
    TRANSFER_ACCEPTED = "transfer-accepted"
    TRANSFER_DECLINED = "transfer-declined"
    TRANSFER_SENT = "transfer-sent"
    TRANSFER_RECEIVED = "transfer-received"
    TRANSFER_COMPLETED = "transfer-completed"
    TRANSFER_ESCALATED = "transfer-escalated"
    TRANSFER_CANCELLED = "transfer-cancelled"
    # Federation: a peer hub pinned or unpinned (alteration of who may receive). A peer's
    # checkpoint cosigned is reserved and never written (hub.services.witness says why).
    PEER_PINNED = "peer-pinned"
    PEER_REMOVED = "peer-removed"
    CHECKPOINT_COSIGNED = "checkpoint-cosigned"
    # The record read on its case page (consultation), like a packet opened.
    VISOR_RECORD_OPENED = "visor-record-opened"
    # Who may sign in, and how (alteration; hub.services.accounts): an agency admin (or the
    # operator) ending a person's sessions, resetting their second factor or deactivating them;
    # the person setting up a new authenticator, changing their password, being given new
    # recovery codes or signing in with one.
    SIGN_OUT_FORCED = "sign-out-forced"
    SECOND_FACTOR_RESET = "second-factor-reset"
    SECOND_FACTOR_ENROLLED = "second-factor-enrolled"
    RECOVERY_CODES_ISSUED = "recovery-codes-issued"
    RECOVERY_CODE_USED = "recovery-code-used"
    PASSWORD_CHANGED = "password-changed"  # noqa: S105 - an event's name, not a secret
    ACCOUNT_DEACTIVATED = "account-deactivated"
    # Who the hub can seal to and open for, and who may sign in (alteration), by the operator at
    # the command line (hub.services.key_events, account_events): an agency added to the
    # directory; key pairs the hub made for an agency (its first, or new ones retiring the old);
    # an agency system's own public keys registered (end-to-end mode: the hub can open nothing
    # sealed to them); a person's account created.
    AGENCY_ADDED = "agency-added"
    # An area added to the directory (alteration by the operator): where agencies and cases
    # belong, and so which coordinators the policy's boundaries name. Names no agency.
    AREA_ADDED = "area-added"
    KEYS_ISSUED = "keys-issued"
    KEYS_IMPORTED = "keys-imported"
    ACCOUNT_CREATED = "account-created"


@dataclass(frozen=True)
class Record:
    """One thing to log, before it has a place in the chain."""

    action: Action
    event: Event
    recorded_at: datetime
    actor_user_id: int | None
    actor_agency_id: int | None
    purpose: str
    lawful_basis: str
    case_id: int | None = None
    packet_id: str | None = None
    recipients: tuple[int, ...] = ()
    content_digest: str | None = None
    policy_version: str | None = None
    decision: str | None = None
    # The API token an agency system acted with (entry v3); None for a person or the operator.
    actor_token_id: int | None = None
    # How a message left the hub (a policies/channels.toml channel, e.g. ``email`` or ``letter``)
    # and the address it went to (entry v4): s62(3)(c), the identity of the recipient, where the
    # recipient is a person rather than an agency on the hub. None for everything else.
    channel: str | None = None
    recipient_address: str | None = None

    def __post_init__(self) -> None:
        # Refused here rather than by the database, where only PostgreSQL enforces the lengths.
        if self.recipient_address is not None and self.channel is None:
            raise ValueError("a recipient address needs the channel it was sent by")
        if len(self.channel or "") > 32 or len(self.recipient_address or "") > 320:
            raise ValueError("channel or recipient address too long for the log")


@dataclass(frozen=True)
class Entry:
    seq: int
    prev_hash: str
    entry_bytes: bytes
    entry_hash: str
    record: Record

    def columns(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            **record_columns(self.record),
            "entry": self.entry_bytes,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


def record_columns(r: Record) -> dict[str, Any]:
    """The columns of an entry that come from its record (all but its place in the chain)."""
    return {
        "recorded_at": r.recorded_at,
        "action": r.action.value,
        "event": r.event.value,
        "actor_user_id": r.actor_user_id,
        "actor_agency_id": r.actor_agency_id,
        "case_id": r.case_id,
        "packet_id": r.packet_id,
        "recipients": ",".join(str(a) for a in r.recipients),
        "purpose": r.purpose,
        "lawful_basis": r.lawful_basis,
        "content_digest": r.content_digest,
        "policy_version": r.policy_version,
        "decision": r.decision,
        "actor_token_id": r.actor_token_id,
        "channel": r.channel,
        "recipient_address": r.recipient_address,
    }


def leaf_hash(entry_bytes: bytes) -> str:
    return hashlib.sha256(b"\x00" + entry_bytes).hexdigest()


def encode(seq: int, prev_hash: str, record: Record) -> bytes:
    return canonical_json(
        {
            "v": ENTRY_VERSION,
            "seq": seq,
            "prev": prev_hash,
            "at": utc_text(record.recorded_at),
            "action": record.action.value,
            "event": record.event.value,
            "actor_user": record.actor_user_id,
            "actor_agency": record.actor_agency_id,
            "case": record.case_id,
            "packet": record.packet_id,
            "recipients": list(record.recipients),
            "purpose": record.purpose,
            "lawful_basis": record.lawful_basis,
            "content_digest": record.content_digest,
            "policy_version": record.policy_version,
            "decision": record.decision,
            "actor_token": record.actor_token_id,
            "channel": record.channel,
            "to": record.recipient_address,
        }
    )


# Canonical JSON escapes every quote inside a string, so these occur once in an entry, as keys.
_PREV_KEY = b'"prev":"'
_SEQ_KEY = b',"seq":'


def encode_around(record: Record) -> tuple[bytes, bytes, bytes]:
    """``record``'s entry as it will be, around the two values it takes from its place in the
    chain: ``(a, b, c)`` with ``encode(seq, prev, record) == a + prev + b + str(seq) + c``, so
    that the database can chain it after a head only it has read (``hub.store.ledger_chain``)."""
    data = encode(0, "", record)
    after_prev = data.index(_PREV_KEY) + len(_PREV_KEY)
    after_seq = data.index(_SEQ_KEY, after_prev) + len(_SEQ_KEY)
    if data[after_seq : after_seq + 1] != b"0":
        raise ValueError("an entry's sequence number is not where it should be")
    return data[:after_prev], data[after_prev:after_seq], data[after_seq + 1 :]


def join_around(parts: tuple[bytes, bytes, bytes], seq: int, prev_hash: str) -> bytes:
    """The entry ``encode_around`` split, at its place: ``encode(seq, prev_hash, record)``."""
    a, b, c = parts
    return b"".join((a, prev_hash.encode(), b, b"%d" % seq, c))


def chain(seq: int, prev_hash: str, record: Record) -> Entry:
    data = encode(seq, prev_hash, record)
    return Entry(seq, prev_hash, data, leaf_hash(data), record)


class LedgerBroken(IntegrityFailure):
    """The stored log does not verify; ``seq`` names the first bad entry."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"ledger entry {seq} does not verify: {reason}", seq=seq)
        self.seq = seq
        self.reason = reason


# The keys each version's ``encode`` writes: an entry with any other set is refused, not half-read.
_FIELDS_V1 = frozenset(
    {
        "v",
        "seq",
        "prev",
        "at",
        "action",
        "event",
        "actor_user",
        "actor_agency",
        "case",
        "packet",
        "recipients",
        "purpose",
        "lawful_basis",
        "content_digest",
    }
)


_FIELDS_V2 = _FIELDS_V1 | {"policy_version", "decision"}
VERSION_FIELDS: Mapping[int, frozenset[str]] = {
    1: _FIELDS_V1,
    2: _FIELDS_V2,
    3: _FIELDS_V2 | {"actor_token"},
    4: _FIELDS_V2 | {"actor_token", "channel", "to"},
}


def _record_from_bytes(data: bytes) -> dict[str, Any]:
    doc = json.loads(data)
    version = doc.get("v") if isinstance(doc, dict) else None
    if type(version) is not int or version not in VERSION_FIELDS:
        raise ValueError("unknown entry version")
    if set(doc) != VERSION_FIELDS[version] or not isinstance(doc["recipients"], list):
        raise ValueError("entry does not have the fields of its version")
    return dict(doc)


class ChainVerifier:
    """Checks the chain one row at a time, so that a large log is verified in bounded memory.

    It may start part-way (``expected_seq``, ``prev``) and skip rows checked elsewhere
    (``accepted``): ``hub.ledger.rowcheck`` accepts the rows an honest hub writes in bulk and leaves
    the rest to ``feed``, which names the first bad entry.
    """

    def __init__(self, expected_seq: int = 1, prev: str = GENESIS_HASH) -> None:
        self.expected_seq = expected_seq
        self.prev = prev

    def accepted(self, last_seq: int, last_hash: str) -> None:
        """Rows up to ``last_seq`` were checked in bulk; the newest of them has ``last_hash``."""
        if last_seq < self.expected_seq - 1:
            raise ValueError("the chain cannot go back")
        self.expected_seq = last_seq + 1
        self.prev = last_hash

    def feed(self, row: Mapping[Any, Any]) -> None:
        expected_seq, prev = self.expected_seq, self.prev
        seq = int(row["seq"])
        if seq != expected_seq:
            raise LedgerBroken(expected_seq, f"missing or out of order (found {seq})")
        data = bytes(row["entry"])
        if leaf_hash(data) != row["entry_hash"]:
            raise LedgerBroken(seq, "entry bytes do not match the stored hash")
        if row["prev_hash"] != prev:
            raise LedgerBroken(seq, "does not link to the previous entry")
        try:
            doc = _record_from_bytes(data)
        except (ValueError, RecursionError):
            raise LedgerBroken(seq, "entry bytes are not a valid entry") from None
        if doc["seq"] != seq or doc["prev"] != prev:
            raise LedgerBroken(seq, "entry bytes disagree with their position")
        if not _columns_agree(doc, row):
            raise LedgerBroken(seq, "columns disagree with the entry bytes")
        self.prev = str(row["entry_hash"])
        self.expected_seq = expected_seq + 1

    def finish(self, head_seq: int, head_hash: str) -> int:
        checked = self.expected_seq - 1
        if checked != head_seq:  # rows missing before the head, or rows the head does not cover
            raise LedgerBroken(
                min(checked, head_seq) + 1, "the ledger head does not match the rows"
            )
        if self.prev != head_hash:
            raise LedgerBroken(max(checked, 1), "the newest entry does not match the ledger head")
        return checked


def verify_rows(rows: Iterable[Mapping[Any, Any]], head_seq: int, head_hash: str) -> int:
    """Recompute the chain over rows in ``seq`` order; return how many entries were checked.

    Detects edited bytes, edited columns, deleted, inserted and reordered rows, and a head that
    does not match the newest entry. Raises ``LedgerBroken`` naming the first bad entry.
    """
    verifier = ChainVerifier()
    for row in rows:
        verifier.feed(row)
    return verifier.finish(head_seq, head_hash)


def _columns_agree(doc: Mapping[str, Any], row: Mapping[Any, Any]) -> bool:
    recipients = ",".join(str(a) for a in doc["recipients"])
    recorded = row["recorded_at"]
    return bool(
        doc["action"] == row["action"]
        and doc["event"] == row["event"]
        and doc["actor_user"] == row["actor_user_id"]
        and doc["actor_agency"] == row["actor_agency_id"]
        and doc["case"] == row["case_id"]
        and doc["packet"] == row["packet_id"]
        and recipients == row["recipients"]
        and doc["purpose"] == row["purpose"]
        and doc["lawful_basis"] == row["lawful_basis"]
        and doc["content_digest"] == row["content_digest"]
        and doc.get("policy_version") == row["policy_version"]
        and doc.get("decision") == row["decision"]
        and doc.get("actor_token") == row["actor_token_id"]
        and doc.get("channel") == row["channel"]
        and doc.get("to") == row["recipient_address"]
        and isinstance(recorded, datetime)
        and utc_text(recorded) == doc["at"]
    )
