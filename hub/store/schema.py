"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/versions`` create the same."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from hub.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

areas = Table(
    "areas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("jurisdiction", String(32), nullable=False),
)

agencies = Table(
    "agencies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("type", String(40), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(255), nullable=False),
    # The TOTP seed is a secret: wrapped under the key-encryption key like agency private keys.
    Column("totp_secret_wrapped", LargeBinary, nullable=False),
    Column("totp_last_step", BigInteger, nullable=False, default=0),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Where the hub's email notifications go (a work address); NULL: none are sent.
    Column("email", String(320), nullable=True),
    Column("password_changed_at", UTCDateTime, nullable=True),
    # Set when an agency admin resets the second factor: the person sets up the new one
    # (already in totp_secret_wrapped) at their next sign-in, before this time.
    Column("totp_enrol_by", UTCDateTime, nullable=True),
)

agency_keys = Table(
    "agency_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    # Both NULL for a public key imported for an agency whose system holds its own private keys
    # (end-to-end mode): the hub verifies and wraps for it, and can open nothing sealed to it.
    Column("wrapped_private", LargeBinary, nullable=True),
    Column("kek_id", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
    Index("ix_agency_keys_agency_purpose", "agency_id", "purpose"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reference", String(32), nullable=False, unique=True),
    Column("family_name", String(100), nullable=False),
    Column("given_names", String(200), nullable=False),
    Column("date_of_birth", Date, nullable=True),
    Column("visor_ref", String(32), nullable=True),
    Column("pnc_ref", String(32), nullable=True),
    Column("ndelius_crn", String(32), nullable=True),
    Column("category", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("lead_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # A duplicate record combined into another case (its packets stay under their signed reference).
    Column("merged_into_id", Integer, nullable=True),
)

# A case's area, category and level over time, for figures "on the last day" and "managed at
# level 2 or 3 during the year": a row is closed (valid_to) when any of them changes, when the
# case leaves the hub, or when MAPPA management ends. The case row holds the present.
case_gradings = Table(
    "case_gradings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("category", Integer, nullable=False),
    Column("level", Integer, nullable=False),
    Column("valid_from", UTCDateTime, nullable=False),
    Column("valid_to", UTCDateTime, nullable=True),
    Index("ix_case_gradings_area", "area_id", "valid_from"),
    Index("ix_case_gradings_case", "case_id", "valid_to"),
)

# Typed, dated events on a case that the annual report counts (hub.model.case_events): codes and
# dates only, never free text.
case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("order_type", String(40), nullable=True),
    Column("order_stage", String(16), nullable=True),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("recorded_by_user_id", Integer, nullable=True),
    Column("recorded_by_agency_id", Integer, nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_case_events_area", "area_id", "occurred_on"),
    Index("ix_case_events_case", "case_id", "occurred_on"),
)

packets = Table(
    "packets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("packet_type", String(40), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("sender_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("sender_user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("purpose", String(64), nullable=False),
    Column("lawful_basis", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The signed header exactly as signed, and its signature.
    Column("header", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("signer_key_id", String(64), nullable=False),
    # The packet this one answers (a response to a request): workflow routing, in clear.
    Column("reply_to", String(36), nullable=True),
    # Sealed but held for approval (``held_shares``): no listing or lookup of packets shows it
    # until it is released (migration 0010).
    Column("held", Boolean, nullable=False, server_default=false()),
    # Copies, so that a listing reads each packet's row alone (migration 0026): the recipient
    # agencies' ids, ascending, as text ("3,7"; "" for none), and the encrypted manifest part
    # (NULL where the part is missing). Both are written with the packet and never change.
    Column("recipient_ids", Text, nullable=False),
    Column("manifest", LargeBinary, nullable=True),
    # The outbox's order, tie-breaker included (migration 0008), after the flag that keeps a
    # held packet out of it (migration 0027: so that counting a sent box reads the index alone).
    Index("ix_packets_sender_created", "sender_agency_id", "held", "created_at", "id"),
    Index("ix_packets_case_created", "case_id", "created_at"),
)

packet_recipients = Table(
    "packet_recipients",
    metadata,
    Column("packet_id", String(36), ForeignKey("packets.id"), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), primary_key=True),
    # Copied from the packet so that an inbox page is one index range scan.
    Column("created_at", UTCDateTime, nullable=False),
    # The packet's own ``held``, copied (migration 0027): the inbox's index holds it, so that
    # counting an inbox reads that index alone.
    Column("held", Boolean, nullable=False, server_default=false()),
    Index("ix_packet_recipients_inbox", "agency_id", "held", "created_at", "packet_id"),
    # One B-tree of the key rather than rows by rowid and an index of the key (migration 0028).
    sqlite_with_rowid=False,
)

packet_keys = Table(
    "packet_keys",
    metadata,
    Column("packet_id", String(36), ForeignKey("packets.id"), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    sqlite_with_rowid=False,  # as packet_recipients (migration 0028)
)

packet_parts = Table(
    "packet_parts",
    metadata,
    Column("packet_id", String(36), ForeignKey("packets.id"), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

_SEQ = BigInteger().with_variant(Integer(), "sqlite")

# The log of every share and every read. Hash-chained now; the Merkle tree and signed checkpoints
# of the full ledger grow over the same rows (entry_hash is an RFC 6962 leaf hash).
ledger_entries = Table(
    "ledger_entries",
    metadata,
    # INTEGER on SQLite, the rowid itself: a BIGINT key is an index beside the rows (migration 0028).
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("action", String(32), nullable=False),
    Column("event", String(40), nullable=False),
    Column("actor_user_id", Integer, nullable=True),
    Column("actor_agency_id", Integer, nullable=True),
    Column("case_id", Integer, nullable=True),
    Column("packet_id", String(36), nullable=True),
    Column("recipients", Text, nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("lawful_basis", String(64), nullable=False),
    Column("content_digest", String(64), nullable=True),
    Column("policy_version", String(64), nullable=True),
    Column("decision", String(8), nullable=True),
    Column("actor_token_id", Integer, nullable=True),
    # Entry v4: how a disclosure left the hub (a policies/channels.toml channel) and, for email,
    # the address it went to (s62(3)(c): the identity of the recipient). NULL for the rest.
    Column("channel", String(32), nullable=True),
    Column("recipient_address", String(320), nullable=True),
    Column("entry", LargeBinary, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Index("ix_ledger_entries_case", "case_id", "seq"),
    Index("ix_ledger_entries_packet", "packet_id", "seq"),
    Index("ix_ledger_entries_actor", "actor_user_id", "seq"),
)

# One row: the sequence number and hash of the newest entry. Locking it serialises appenders, which
# keeps the sequence gapless across processes (SQLite BEGIN IMMEDIATE, PostgreSQL FOR UPDATE).
ledger_head = Table(
    "ledger_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

# Every policy version the hub has run with, so that a past decision's version can be shown and
# explained after the files have changed.
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("first_loaded_at", UTCDateTime, nullable=False),
    Column("files", LargeBinary, nullable=False),
)

# The hub's own Ed25519 signing keys (for checkpoints), private halves wrapped under the KEK.
hub_keys = Table(
    "hub_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("wrapped_private", LargeBinary, nullable=False),
    Column("kek_id", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
)

# Signed tree heads over the log: the Merkle root of the first tree_size entries, signed by the hub.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("signed_at", UTCDateTime, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("stage", String(16), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_expires", "expires_at"),
)

__all__ = [
    "agencies",
    "agency_keys",
    "areas",
    "cases",
    "hub_keys",
    "ledger_checkpoints",
    "ledger_entries",
    "ledger_head",
    "metadata",
    "packet_keys",
    "packet_parts",
    "packet_recipients",
    "packets",
    "policy_versions",
    "users",
    "web_sessions",
]


# -- workflows: dates, owners and states in clear; what was said stays in the sealed packets ---

case_agencies = Table(
    "case_agencies",
    metadata,
    # The agencies active on a case: who a risk-change notice must reach, who sees the case page.
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), primary_key=True),
    Column("joined_at", UTCDateTime, nullable=False),
    Index("ix_case_agencies_agency", "agency_id"),
)

meetings = Table(
    "meetings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("level", Integer, nullable=False),
    Column("chair_user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("minutes_packet_id", String(36), nullable=True),
    # What the minutes recorded, kept in clear for the board's indicators (migration 0022):
    # whether disclosure was considered. NULL: no minutes yet, or minutes from before 0022.
    Column("disclosure_considered", Boolean, nullable=True),
    Index("ix_meetings_case", "case_id", "held_on"),
)

meeting_attendance = Table(
    "meeting_attendance",
    metadata,
    # Which agencies the minutes list at the meeting: required (invited) and whether they came.
    Column("meeting_id", Integer, ForeignKey("meetings.id"), primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), primary_key=True),
    Column("invited", Boolean, nullable=False),
    Column("attended", Boolean, nullable=False),
)

work_items = Table(
    "work_items",
    metadata,
    # Something due by a date: minutes, a review, an answer, an action, a referral.
    Column("id", Integer, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("owner_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("owner_user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("source_packet_id", String(36), nullable=True),
    Column("meeting_id", Integer, nullable=True),
    Column("item_index", Integer, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("closed_by_user_id", Integer, nullable=True),
    Column("closed_by_packet_id", String(36), nullable=True),
    Column("reminded_at", UTCDateTime, nullable=True),
    Index("ix_work_items_owner", "owner_agency_id", "status", "due_on"),
    Index("ix_work_items_area", "area_id", "status", "due_on"),
    Index("ix_work_items_case", "case_id", "due_on"),
)

info_requests = Table(
    "info_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("packet_id", String(36), ForeignKey("packets.id"), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("requester_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("requester_user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("target_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("work_item_id", Integer, nullable=False),
    Column("response_packet_id", String(36), nullable=True),
    Column("decline_reason", Text, nullable=True),
    Column("closed_by_user_id", Integer, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Index("ix_info_requests_target", "target_agency_id", "status"),
    Index("ix_info_requests_requester", "requester_agency_id", "status"),
    Index("ix_info_requests_packet", "packet_id", "target_agency_id", unique=True),
)

disclosures = Table(
    "disclosures",
    metadata,
    # Third-party disclosures: proposed, approved or refused, delivered. The register per case/area.
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("proposal_packet_id", String(36), ForeignKey("packets.id"), nullable=False),
    Column("proposer_user_id", Integer, ForeignKey("users.id"), nullable=False),
    # The person behind the proposing account (the same user in the inbox; for an API token the
    # person it acted for). NULL only for a proposal made before people were recorded whose token
    # no admin had issued (migration 0009). No foreign key on the person columns, like
    # delivered_by_user_id: SQLite cannot add or drop one without rebuilding this table, which the
    # decisions that reference it forbid; the service writes only ids of existing users.
    Column("proposer_person_id", Integer, nullable=True),
    Column("proposer_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("recipient_kind", String(24), nullable=False),
    Column("method", String(16), nullable=False),
    Column("offender_to_be_told", Boolean, nullable=False),
    # The disclosure itself (to the third party), as the policy decided it: not the proposal's.
    Column("purpose", String(64), nullable=False),
    Column("lawful_basis", String(64), nullable=False),
    Column("categories", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    # The approvals the policy named: JSON [{"role", "count", "rule"}].
    Column("approvals_needed", Text, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("delivered_by_user_id", Integer, nullable=True),
    Column("delivered_by_person_id", Integer, nullable=True),
    Index("ix_disclosures_area", "area_id", "created_at"),
    Index("ix_disclosures_case", "case_id", "created_at"),
)

disclosure_decisions = Table(
    "disclosure_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("disclosure_id", Integer, ForeignKey("disclosures.id"), nullable=False),
    Column("approver_user_id", Integer, ForeignKey("users.id"), nullable=False),
    # The person who decided (for an API token, the person it acted for): one decision each.
    Column("approver_person_id", Integer, nullable=True),
    Column("approver_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("role", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("conditions", Text, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    Index("ix_disclosure_decisions_once", "disclosure_id", "approver_user_id", unique=True),
    Index("ix_disclosure_decisions_person", "disclosure_id", "approver_person_id", unique=True),
)


# -- the JSON API ---------------------------------------------------------------------------

api_tokens = Table(
    "api_tokens",
    metadata,
    # A bearer token for an agency system. Only the SHA-256 of the secret is kept.
    Column("id", Integer, primary_key=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    # The account the system acts as (no password anyone knows; it cannot sign in to the inbox).
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    # Comma-separated case ids the token is limited to; NULL for every case of the agency's area.
    Column("case_ids", Text, nullable=True),
    Column("created_by_user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Index("ix_api_tokens_agency", "agency_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # A send retried with the same key returns the first packet instead of sending twice.
    Column("token_id", Integer, ForeignKey("api_tokens.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_digest", String(64), nullable=False),
    Column("packet_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)


# -- shares held for approval (a REVIEW decision): who must approve, and who did --------------

held_shares = Table(
    "held_shares",
    metadata,
    # A share the policy answered REVIEW: its packet is sealed (``packets.held``) and waits here
    # for the approvers the policy named; released to its recipients when the last one approves.
    Column("id", Integer, primary_key=True),
    Column("packet_id", String(36), ForeignKey("packets.id"), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    # The sender's area (whose approvers the policy names as "sender").
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("proposer_user_id", Integer, ForeignKey("users.id"), nullable=False),
    # The person behind the proposing account (for an API token, the person it acted for).
    Column("proposer_person_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("proposer_token_id", Integer, ForeignKey("api_tokens.id"), nullable=True),
    Column("proposer_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    # awaiting, released or refused.
    Column("status", String(16), nullable=False),
    # Why a restricted category must go to these recipients, as the proposer stated it: a
    # justification for the approvers (like a decision's reasons), not case content.
    Column("restricted_reason", Text, nullable=True),
    # The approvals wanted: JSON [{"role", "area_id", "count", "rules"}], areas resolved.
    Column("approvals_needed", Text, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Index("ix_held_shares_packet", "packet_id", unique=True),
    Index("ix_held_shares_status", "status", "created_at"),
    Index("ix_held_shares_proposer_agency", "proposer_agency_id", "created_at"),
)

held_share_decisions = Table(
    "held_share_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("held_share_id", Integer, ForeignKey("held_shares.id"), nullable=False),
    Column("approver_user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("approver_person_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("approver_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("role", String(32), nullable=False),
    # The area whose approval this is.
    Column("area_id", Integer, ForeignKey("areas.id"), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    Index("ix_held_share_decisions_person", "held_share_id", "approver_person_id", unique=True),
)

saved_drafts = Table(
    "saved_drafts",
    metadata,
    # A packet being written: every field and attachment sealed to the author's agency key
    # (hub.services.saved_drafts); nothing readable is stored. Deleted when sent or discarded.
    Column("id", String(36), primary_key=True),
    Column("owner_user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("packet_type", String(48), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_saved_drafts_owner", "owner_user_id", "updated_at"),
)

packet_reads = Table(
    "packet_reads",
    metadata,
    # Who has opened which packet, for the inbox's unread markers. The ledger stays the record.
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("packet_id", String(36), ForeignKey("packets.id"), primary_key=True),
    Column("first_read_at", UTCDateTime, nullable=False),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    # Failed sign-ins per keyed digest (hub.services.login_throttle) of the username typed,
    # existing account or not, of a browser's device cookie, or of a client address: a wait says
    # "try again at" for any username alike, revealing nothing about which exist.
    Column("digest", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    # No attempt is checked before this time (NULL: none is waiting).
    Column("not_before", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    # One-time codes for a lost authenticator: only an HMAC of each under a key derived from the
    # KEK is kept (hub.services.recovery_codes); used codes keep their row, stamped.
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_recovery_codes_user", "user_id"),
)

notification_settings = Table(
    "notification_settings",
    metadata,
    # How a person wants each kind of notification: immediate, daily digest or off. No row: the
    # default (hub.services.notices). Overdue reminders cannot be switched off.
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("event", String(48), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

email_outbox = Table(
    "email_outbox",
    metadata,
    # The durable outbox (hub.store.email_outbox): written in the transaction of the event that
    # causes it; adapters/email claims, sends, retries and dead-letters each row.
    Column("id", Integer, primary_key=True),
    # Fixed when queued, so a retry re-sends the same Message-ID and a receiver can tell.
    Column("message_id", String(200), nullable=False, unique=True),
    # One row per cause and recipient: a second enqueue of the same thing is ignored.
    Column("dedupe_key", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # notification, digest, letter
    Column("event", String(48), nullable=False),
    Column("channel", String(32), nullable=False),  # policies/channels.toml: email or letter
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("case_id", Integer, nullable=True),
    Column("to_address", String(320), nullable=False),
    # What the message points at (a path in the inbox) and its reference (packet id, item id...).
    Column("link", String(300), nullable=True),
    Column("ref", String(100), nullable=True),
    # A letter's body, sealed to the sending agency's key like packet content; NULL otherwise.
    Column("body_sealed", LargeBinary, nullable=True),
    # What a letter names: the disclosure and its approval.
    Column("approval_ref", String(100), nullable=True),
    Column("status", String(16), nullable=False),  # digest, pending, sending, sent, dead, folded
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("body_digest", String(64), nullable=True),
    Column("digest_id", Integer, nullable=True),  # the digest message a folded row went out in
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_email_outbox_due", "status", "next_attempt_at"),
    Index("ix_email_outbox_user", "user_id", "status"),
    Index("ix_email_outbox_agency", "agency_id", "created_at"),
)

visor_records = Table(
    "visor_records",
    metadata,
    # A case's ViSOR-style nominal record (hub.services.visor): everything beyond what the case row
    # keeps in clear, sealed like packet content to the case's Responsible Authority agencies.
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    # Counts the record's changes; the sealed content is bound to it (no replay of an old blob).
    Column("version", Integer, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("signer_agency_id", Integer, ForeignKey("agencies.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

peers = Table(
    "peers",
    metadata,
    # Other hubs this one trusts, pinned by their hub signing key (Ed25519, hex): federation
    # calls, directory documents, transfer bundles and checkpoints are checked against it.
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", String(500), nullable=False),
    Column("signing_key", String(64), nullable=False, unique=True),
    # SHA-256 of the key, shown for the out-of-band check when the peer is added.
    Column("fingerprint", String(64), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    # The peer's last directory document (its receiving agencies' public keys), as signed by it.
    Column("directory", LargeBinary, nullable=True),
    Column("directory_fetched_at", UTCDateTime, nullable=True),
    Column("added_at", UTCDateTime, nullable=False),
)

peer_nonces = Table(
    "peer_nonces",
    metadata,
    # Nonces of signed hub-to-hub requests (hub.web.federation), kept for the window in which
    # their ``created`` time is accepted, so that a captured request cannot be replayed; shared by
    # every gateway process through the database.
    Column("peer_id", Integer, ForeignKey("peers.id"), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
    Index("ix_peer_nonces_seen", "seen_at"),
)

transfers = Table(
    "transfers",
    metadata,
    # A case transfer between MAPPA areas (hub.services.transfers): its state, each step's person,
    # date and reasons, and the deadlines' work item. A transfer to or from a peer hub keeps the
    # other side's area as a code and the peer's name; no case content is held here.
    Column("id", Integer, primary_key=True),
    # NULL only on a receiving hub before the bundle's case is imported.
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True),
    Column("case_reference", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("sending_area_code", String(16), nullable=False),
    Column("sending_area_id", Integer, ForeignKey("areas.id"), nullable=True),
    Column("receiving_area_code", String(16), nullable=False),
    Column("receiving_area_id", Integer, ForeignKey("areas.id"), nullable=True),
    Column("sending_jurisdiction", String(32), nullable=False),
    Column("receiving_jurisdiction", String(32), nullable=False),
    # The other hub (hub-to-hub); NULL within one hub.
    Column("peer_name", String(64), nullable=True),
    # The transfer's id on the peer hub (the sending hub's id, on the receiving hub).
    Column("remote_id", String(64), nullable=True),
    Column("reason", Text, nullable=False),
    Column("proposed_date", Date, nullable=False),
    # The MAPPA meeting held before transfer (Probation Circular 52/2004).
    Column("meeting_id", Integer, nullable=True),
    Column("meeting_held_on", Date, nullable=True),
    Column("proposer_user_id", Integer, nullable=True),
    Column("proposer_person_id", Integer, nullable=True),
    Column("proposer_agency_id", Integer, nullable=True),
    Column("decided_by_user_id", Integer, nullable=True),
    Column("decided_by_person_id", Integer, nullable=True),
    # Who decided on a peer hub, as that hub named them.
    Column("decided_by_name", String(200), nullable=True),
    Column("decision_reasons", Text, nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    # The lead agency chosen in the receiving area at acceptance.
    Column("new_lead_agency_id", Integer, nullable=True),
    Column("new_lead_agency_code", String(32), nullable=True),
    Column("bundle_digest", String(64), nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("sent_by_user_id", Integer, nullable=True),
    Column("received_at", UTCDateTime, nullable=True),
    Column("ack_digest", String(64), nullable=True),
    # To a peer hub: its signed acknowledgement of the bundle (ack_digest is its SHA-256).
    Column("ack", LargeBinary, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("cancelled_at", UTCDateTime, nullable=True),
    # Until when the sending area's agencies still open the packets already shared with them.
    Column("sending_read_until", UTCDateTime, nullable=True),
    # The open deadline of the current step (work_items), and when it was escalated.
    Column("work_item_id", Integer, nullable=True),
    Column("escalated_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Hub to hub: the message this hub owes the peer about the transfer (proposal, decision,
    # cancellation), set with the step that causes it and cleared once the peer's signed answer
    # says it has it; retried with backoff meanwhile, the last refusal kept in words.
    Column("peer_owed", String(16), nullable=True),
    Column("peer_attempts", Integer, nullable=False, server_default="0"),
    Column("peer_next_at", UTCDateTime, nullable=True),
    Column("peer_error", String(300), nullable=True),
    # Who proposed a transfer on a peer hub, as that hub named them.
    Column("proposer_name", String(200), nullable=True),
    Index("ix_transfers_case", "case_id", "created_at"),
    Index("ix_transfers_sending", "sending_area_id", "state"),
    Index("ix_transfers_receiving", "receiving_area_id", "state"),
    Index("ix_transfers_peer_remote", "peer_name", "remote_id", unique=True),
    Index("ix_transfers_work_item", "work_item_id"),
    Index("ix_transfers_peer_owed", "peer_owed", "peer_next_at"),
)

transfer_imports = Table(
    "transfer_imports",
    metadata,
    # Case-transfer bundles this hub imported (adapters/transfer): one row each, so that a bundle
    # is never imported twice (its id and its signed digest are unique), and the sending hub's
    # log entries for the case kept as evidence with their proofs, not appended to this log.
    Column("id", Integer, primary_key=True),
    Column("bundle_id", String(36), nullable=False, unique=True),
    # SHA-256 of the signed tag manifest: what the sending hub's signature covers.
    Column("digest", String(64), nullable=False, unique=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("from_area", String(16), nullable=False),
    Column("to_area", String(16), nullable=False),
    # The sending hub's signing key (hex): this hub's own for a transfer between its areas.
    Column("sender_key", String(64), nullable=False),
    # JSON: the sending hub's signed checkpoint and its log entries for the case with their
    # inclusion proofs, as checked on import.
    Column("evidence", LargeBinary, nullable=False),
    # JSON: the bundle's completeness manifest (what a complete transfer holds, what it lacks).
    Column("completeness", Text, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    # From a peer over HTTP: SHA-256 of the bundle file as uploaded, and the signed
    # acknowledgement answered, given again to a sender retrying after a lost answer.
    Column("upload_sha256", String(64), nullable=True),
    Column("ack", LargeBinary, nullable=True),
    Index("ix_transfer_imports_upload", "upload_sha256"),
)

witnessed_checkpoints = Table(
    "witnessed_checkpoints",
    metadata,
    # Witness side (hub.services.witness): the newest checkpoint of each pinned peer that this hub
    # cosigned, moved forward only after a consistency proof from the size held here.
    Column("peer_id", Integer, ForeignKey("peers.id", ondelete="CASCADE"), primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    # The peer's signed checkpoint (JSON) and this hub's cosignature of it (JSON).
    Column("checkpoint", LargeBinary, nullable=False),
    Column("cosignature", LargeBinary, nullable=False),
    Column("cosigned_at", UTCDateTime, nullable=False),
)

checkpoint_cosignatures = Table(
    "checkpoint_cosignatures",
    metadata,
    # Log side: this hub's checkpoints as its peers cosigned them; ``ledger verify`` holds the log
    # to each. The witness key is kept as verified, apart from the peers row.
    Column("peer_id", Integer, ForeignKey("peers.id", ondelete="CASCADE"), primary_key=True),
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("checkpoint", LargeBinary, nullable=False),
    Column("witness_key", String(64), nullable=False),
    Column("cosignature", LargeBinary, nullable=False),
    Column("cosigned_at", UTCDateTime, nullable=False),
)

# Background jobs (checkpoint signing, reminder sweeps, peer delivery) run in one process at a
# time across every gateway: the holder of a job's lease (hub.services.leases). Times are seconds
# since the epoch on the database's own clock, so gateways' clocks need not agree.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    # Raised at each change of holder: a fencing token, and what the logs and tests compare.
    Column("epoch", BigInteger, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Each API token's request bucket, shared by every gateway. UNLOGGED on PostgreSQL (migration
# 0024): a crash may forget how full a bucket was, which costs nothing worth a WAL write. On
# SQLite the hub keeps these rows in a side file without fsync (hub.store.rate_limits).
api_rate_limits = Table(
    "api_rate_limits",
    metadata,
    Column("token_id", Integer, primary_key=True, autoincrement=False),
    Column("level", Float, nullable=False),
    Column("updated", Float, nullable=False),
    # Whether the last request was let through (RETURNING cannot tell from the level alone).
    Column("granted", Boolean, nullable=False),
)
