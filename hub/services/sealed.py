"""End-to-end mode: packets sealed and opened by an agency's own system, routed by the hub.

An agency whose system holds its own keys (``mappa-hub keys import``) seals a packet on its side
with ``hub.crypto.packet_format.seal`` and submits the envelope. The hub cannot read it: it checks
the signed header against the sender's registered signing key, decides the policy on the header
alone, checks that every party can open it (a content key wrapped for each party's active X25519
key), and stores and logs it exactly as a hub-mode send. Agency systems fetch the envelopes of
packets sent to or by them and open them locally.

Only plain notes are accepted sealed: a typed packet's workflow (a request's due date, minutes'
actions, a referral's invitations, a disclosure's approvals, a response closing a request) needs
its form, which a sealed packet keeps encrypted, so those are sent in hub mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.config import Limits
from hub.crypto import packet_format as fmt
from hub.crypto.agency_keys import KeyPurpose
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, TooLarge
from hub.ledger.entries import Action, Event, Record
from hub.model.cases import Case
from hub.model.directory import Agency
from hub.model.packets import Classification, PacketSummary, PacketType
from hub.policy.errors import ApprovalRequired, PolicyRefused
from hub.policy.model import Decision, Outcome, ShareRequest
from hub.services import ledger, notices, share_parties
from hub.services.drafts import MAX_RECIPIENTS, MAX_STATEMENT_CHARS
from hub.services.keyring import KeyRing
from hub.services.packets import PacketService, summary_of
from hub.services.policy import PolicyService
from hub.services.refused_shares import refusal_record
from hub.services.tokens import ApiActor
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import packet_writes
from hub.store import packets as store
from hub.store import workflows as workflow_store
from hub.store.database import Database
from hub.store.keys import StoredKey
from hub.store.packets import PacketRow, StoredWrappedKey
from hub.text import check_text

SEALED_SUBJECT = "(sealed by the sender's own system)"
# The packet types an agency system may submit sealed (module docstring: the others need the form).
SEALED_TYPES = frozenset({PacketType.NOTE})
_PACKET_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CASE_REF = re.compile(r"[A-Z0-9/-]{3,32}")
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,100}")
_PART = re.compile(r"attachment-(0|[1-9][0-9]{0,2})")
_SEALED_KEY_BYTES = 80  # crypto_box_seal of a 32-byte key: ephemeral pk 32 + MAC 16 + 32
_AEAD_OVERHEAD = 24 + 16  # nonce + tag
# Header members the hub reads on a sealed submission; anything else is refused, not ignored,
# so nothing the sender signed is silently dropped from what the hub decided on.
_FORMAT_FIELDS = {"format", "v", "aead", "wrap", "parts"}
_FIELDS = {
    "packet_id",
    "type",
    "case",
    "sender_user",
    "sender_agency",
    "recipients",
    "purpose",
    "lawful_basis",
    "data_categories",
    "classification",
    "created_at",
    "necessity",
    "schedule1_condition",
    "restricted_reason",
}


@dataclass(frozen=True)
class Submitted:
    summary: PacketSummary
    created: bool  # False: this envelope was already stored (an idempotent resubmission)


def _bad(message: str, field: str = "envelope", code: str | None = None) -> InvalidInput:
    return InvalidInput(
        message, field=f"envelope.header.{field}" if field else "envelope", code=code
    )


def _string(header: Mapping[str, Any], name: str, max_chars: int = 64) -> str:
    value = header.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= max_chars:
        raise _bad(
            f"The signed header needs '{name}' as a string of 1-{max_chars} characters.", name
        )
    return value


def _strings(header: Mapping[str, Any], name: str, max_items: int) -> list[str]:
    value = header.get(name)
    if (
        not isinstance(value, list)
        or len(value) > max_items
        or not all(isinstance(v, str) and 1 <= len(v) <= 64 for v in value)
    ):
        raise _bad(f"The signed header needs '{name}' as a list of codes.", name)
    if value != sorted(set(value)):
        raise _bad(f"The signed header's '{name}' must be sorted, without duplicates.", name)
    return list(value)


class SealedService:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        policy: PolicyService,
        packets: PacketService,
        clock: Clock,
        limits: Limits,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._policy = policy
        self._packets = packets
        self._clock = clock
        self._limits = limits

    # -- submitting ------------------------------------------------------------------------

    async def submit(self, caller: ApiActor, envelope: bytes) -> Submitted:
        """Check, decide, store and log a packet the caller's agency sealed itself.

        DENY and REVIEW are refused (with the decision), as is anything malformed, unverifiable or
        not openable by every party; a refusal stores nothing, and a DENY is on the log
        (``hub.services.refused_shares``). The same envelope again returns the
        stored packet (``created`` False); the same packet id with other bytes is a conflict.
        """
        actor = caller.actor
        self._packets.require_sender(actor)
        try:
            sealed = fmt.SealedPacket.from_envelope(envelope)
        except CryptoFailure:
            raise InvalidInput(
                "The envelope is not a packet in format v1 (see PACKET_FORMAT.md).",
                field="envelope",
                code="malformed_envelope",
            ) from None
        signer = await self._check_signer(actor.agency, sealed)
        try:
            header = fmt.verify_header(sealed, signer.public_key)
        except fmt.HeaderNotCanonical as exc:
            # The signature verified: only the signer could have written it, so say what is wrong.
            raise InvalidInput(
                "The signed header is not canonical JSON (PACKET_FORMAT.md section 3.1: each "
                "member named once, integers as JSON integers, keys sorted, no white space): "
                f"{exc.problem}.",
                field="envelope.header",
                code="header_not_canonical",
            ) from None
        except CryptoFailure:
            raise InvalidInput(
                "The envelope does not verify: its signature or a part digest does not match "
                "(was it changed after signing?).",
                field="envelope",
                code="integrity_failure",
            ) from None
        packet_id = self._check_shape(actor.agency, sealed, header)
        if actor.person_named and header["sender_user"] != actor.sender.username:
            # The member of staff a call names is the sender the packet shows and the log's
            # entry binds (its digest of the signed header): the two must not disagree.
            raise Forbidden(
                f"The signed header names {header['sender_user']!s:.100} as sender_user; this "
                f"call is on behalf of {actor.sender.username}.",
                code="wrong_sender_user",
            )

        existing = await self._existing(actor.agency, packet_id, sealed)
        if existing is not None:
            return Submitted(existing, created=False)

        async with self._db.read() as conn:
            case = await self._case(conn, caller, header)
            recipients = await self._recipients(conn, actor.agency, header)
            parties = await share_parties.load(conn, case.id, actor.agency, recipients.values())
        decision = self._decide(caller, header, case, parties)
        if decision.outcome is Outcome.DENY:
            record = refusal_record(
                actor,
                decision,
                self._clock.now(),
                case_id=case.id,
                recipients=(a.id for a in recipients.values()),
                purpose=str(header["purpose"]),
                lawful_basis=str(header["lawful_basis"]),
            )
            await self._packets.log_refusal(record)
            raise PolicyRefused(decision)
        if decision.outcome is Outcome.REVIEW:
            raise ApprovalRequired(decision)
        wrapped = await self._check_wrapped_keys(actor.agency, recipients, sealed)
        try:
            summary = await self._store(caller, sealed, header, case, recipients, wrapped, decision)
        except IntegrityError:
            # A concurrent submission of the same packet id committed first.
            existing = await self._existing(actor.agency, packet_id, sealed)
            if existing is None:
                raise
            return Submitted(existing, created=False)
        return Submitted(summary, created=True)

    async def _check_signer(self, agency: Agency, sealed: fmt.SealedPacket) -> StoredKey:
        """The signer must be the caller's agency's active signing key, held by its own system."""
        active = await self._keyring.active(agency.id)
        if active.signing.held_by_hub:
            raise Forbidden(
                f"{agency.code}'s signing key is held by the hub, so your system cannot sign "
                "packets for it: send in hub mode (POST /api/v1/packets), or have the operator "
                "register your system's own keys (mappa-hub keys import).",
                code="keys_held_by_hub",
            )
        if sealed.signer_key_id != active.signing.key_id:
            key = await self._keyring.key(sealed.signer_key_id)
            whose = (
                "a key the hub does not know"
                if key is None
                else "a retired key of your agency"
                if key.agency_id == agency.id and key.purpose == KeyPurpose.SIGNING.value
                else "another agency's key"
                if key.agency_id != agency.id
                else "a key that is not a signing key"
            )
            raise Forbidden(
                f"The envelope is signed with {whose}; sign with {agency.code}'s active signing "
                f"key ({active.signing.key_id}).",
                code="wrong_signer",
            )
        return active.signing

    def _check_shape(
        self, agency: Agency, sealed: fmt.SealedPacket, header: Mapping[str, Any]
    ) -> str:
        """Everything about the signed header and the parts that needs no database."""
        unknown = sorted(set(header) - _FIELDS - _FORMAT_FIELDS)
        if "policy" in unknown:
            raise _bad(
                "A sealed header carries no 'policy': the hub decides the share and records "
                "its decision on the log.",
                "policy",
            )
        if unknown:
            raise _bad(f"Unknown header members: {', '.join(unknown)}.", unknown[0])
        packet_id = _string(header, "packet_id", 36)
        if not _PACKET_ID.fullmatch(packet_id):
            raise _bad("The packet id is a random UUID in lowercase 8-4-4-4-12 form.", "packet_id")
        kind = _string(header, "type")
        if kind not in {t.value for t in PacketType}:
            raise _bad(f"Unknown packet type {kind}.", "type")
        if PacketType(kind) not in SEALED_TYPES:
            raise _bad(
                f"A {kind} packet cannot be submitted sealed: its workflow needs its form, which "
                "the hub cannot read in a sealed packet. Send it in hub mode (POST "
                "/api/v1/packets); only plain notes are accepted sealed.",
                "type",
                code="type_needs_hub_mode",
            )
        if not _CASE_REF.fullmatch(_string(header, "case", 32)):
            raise _bad("The case is an opaque reference such as DBY-2026-0001.", "case")
        if not _USERNAME.fullmatch(_string(header, "sender_user", 100)):
            raise _bad(
                "sender_user identifies the member of staff: 1-100 of A-Z a-z 0-9 . _ @ -.",
                "sender_user",
            )
        if header.get("sender_agency") != agency.code:
            raise Forbidden(
                f"The signed header names {header.get('sender_agency')!s:.40} as the sender; this "
                f"token acts for {agency.code}.",
                code="wrong_sender",
            )
        recipients = _strings(header, "recipients", MAX_RECIPIENTS)
        if not recipients:
            raise _bad("Name at least one recipient agency.", "recipients")
        if agency.code in recipients:
            raise _bad("Your own agency already holds what you send.", "recipients")
        policy = self._policy.current
        if _string(header, "purpose") not in policy.purposes:
            raise _bad("The purpose is not in the policy catalogue.", "purpose")
        if _string(header, "lawful_basis") not in policy.lawful_bases:
            raise _bad("The lawful basis is not in the policy catalogue.", "lawful_basis")
        unknown_categories = [
            c for c in _strings(header, "data_categories", 30) if c not in policy.categories
        ]
        if unknown_categories:
            raise _bad(
                f"Unknown data categories: {', '.join(unknown_categories)}.", "data_categories"
            )
        if _string(header, "classification", 32) not in {c.value for c in Classification}:
            raise _bad("classification is OFFICIAL or OFFICIAL-SENSITIVE.", "classification")
        try:
            datetime.strptime(_string(header, "created_at", 27), "%Y-%m-%dT%H:%M:%S.%fZ")
        except ValueError:
            raise _bad("created_at is UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ.", "created_at") from None
        necessity = header.get("necessity", {})
        if not isinstance(necessity, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in necessity.items()
        ):
            raise _bad("necessity is an object of statement parts to text.", "necessity")
        if set(necessity) - set(policy.necessity_parts):
            raise _bad("Unknown part of the necessity statement.", "necessity")
        condition = header.get("schedule1_condition")
        # Not a string (a list, an object) is refused as unknown, not looked up (unhashable).
        if condition is not None and (
            not isinstance(condition, str) or condition not in policy.conditions
        ):
            raise _bad("Unknown Schedule 1 condition.", "schedule1_condition")
        reason = header.get("restricted_reason")
        if reason is not None and not isinstance(reason, str):
            raise _bad("restricted_reason is text.", "restricted_reason")
        for part, text in necessity.items():
            check_text(text, "envelope.header.necessity", f"the statement of {part}")
        check_text(reason or "", "envelope.header.restricted_reason", "the reason")
        for text in (*necessity.values(), reason or ""):
            if len(text) > MAX_STATEMENT_CHARS:
                raise TooLarge(f"Statements are limited to {MAX_STATEMENT_CHARS} characters.")
        self._check_parts(sealed)
        return packet_id

    def _check_parts(self, sealed: fmt.SealedPacket) -> None:
        """A note's parts (verify_header already matched them to the signed digests)."""
        names = set(sealed.parts)
        attachments = names - {fmt.MANIFEST, fmt.BODY}
        if {fmt.MANIFEST, fmt.BODY} - names or not all(_PART.fullmatch(n) for n in attachments):
            raise _bad(
                "A sealed note has the parts manifest, body and attachment-0, attachment-1, ...",
                "parts",
            )
        if attachments != {fmt.attachment_part(i) for i in range(len(attachments))}:
            raise _bad("Attachment parts are numbered from 0 without gaps.", "parts")
        limits = self._limits
        if len(attachments) > limits.max_attachments:
            raise TooLarge(f"At most {limits.max_attachments} attachments.")
        for name in attachments:
            if len(sealed.parts[name]) > limits.max_attachment_bytes + _AEAD_OVERHEAD:
                raise TooLarge("An attachment is larger than the limit.")
        if len(sealed.parts[fmt.BODY]) > 4 * limits.max_body_chars + _AEAD_OVERHEAD:
            raise TooLarge(f"The message is longer than {limits.max_body_chars} characters.")

    async def _existing(
        self, agency: Agency, packet_id: str, sealed: fmt.SealedPacket
    ) -> PacketSummary | None:
        async with self._db.read() as conn:
            row = await store.packet_by_id(conn, packet_id)
            if row is None:
                return None
            if row.sender_agency_id != agency.id or row.header != sealed.header_bytes:
                raise Conflict(
                    "A different packet with this packet id is already stored: a packet id is "
                    "used once.",
                    code="packet_id_in_use",
                )
            case = await case_store.case_by_id(conn, row.case_id)
        return _summary(row, case.reference if case else "?")

    async def _case(
        self, conn: AsyncConnection, caller: ApiActor, header: Mapping[str, Any]
    ) -> Case:
        case = await case_store.case_by_reference(conn, str(header["case"]))
        if case is None or case.area_id != caller.actor.agency.area_id:
            raise _bad("Unknown case.", "case", code="unknown_case")
        caller.require_case(case.id)
        if case.merged_into_id is not None:
            raise _bad("This case record was combined into another: send about that case.", "case")
        return case

    async def _recipients(
        self, conn: AsyncConnection, sender: Agency, header: Mapping[str, Any]
    ) -> dict[str, Agency]:
        codes = set(header["recipients"])
        found = {a.code: a for a in await directory_store.agencies_by_codes(conn, codes)}
        missing = sorted(codes - set(found))
        if missing:
            raise _bad(
                f"Unknown recipient agencies: {', '.join(missing)}.",
                "recipients",
                code="unknown_agency",
            )
        return found

    def _decide(
        self,
        caller: ApiActor,
        header: Mapping[str, Any],
        case: Case,
        parties: share_parties.ShareParties,
    ) -> Decision:
        actor = caller.actor
        return self._policy.decide(
            ShareRequest(
                sender_type=actor.agency.type.value,
                sender_role=actor.role.value,
                recipient_types=(),
                recipients=parties.recipients,
                sender_area=parties.sender_area,
                jurisdiction=parties.jurisdiction,
                packet_type=str(header["type"]),
                data_categories=tuple(header["data_categories"]),
                purpose=str(header["purpose"]),
                lawful_basis=str(header["lawful_basis"]),
                mappa_category=int(case.category),
                mappa_level=int(case.level),
                channel="hub",
                necessity={k: v.strip() for k, v in header.get("necessity", {}).items()},
                schedule1_condition=header.get("schedule1_condition"),
                restricted_reason=header.get("restricted_reason"),
            )
        )

    async def _check_wrapped_keys(
        self, sender: Agency, recipients: dict[str, Agency], sealed: fmt.SealedPacket
    ) -> list[StoredWrappedKey]:
        """One content key per party, wrapped for that party's active X25519 key.

        The hub cannot check that each unwraps to the key the parts are encrypted under (it would
        need the private keys); a sender that wraps a wrong key only makes its own packet
        unreadable to that party, who sees the failure when opening it (PACKET_FORMAT.md 8).
        """
        parties = {sender.code: sender, **recipients}
        by_agency: dict[str, fmt.WrappedKey] = {}
        for w in sealed.wrapped_keys:
            if w.agency not in parties:
                raise _bad(
                    f"A content key is wrapped for {w.agency:.32}, which is not a party to this "
                    "packet.",
                    "",
                )
            if w.agency in by_agency:
                raise _bad(f"Two content keys are wrapped for {w.agency}.", "")
            by_agency[w.agency] = w
        out = []
        for code, agency in sorted(parties.items()):
            wrapped = by_agency.get(code)
            active = (await self._keyring.active(agency.id)).encryption
            if wrapped is None or wrapped.key_id != active.key_id:
                raise InvalidInput(
                    f"Wrap the content key for {code}'s active encryption key ({active.key_id}), "
                    "so that it can open the packet.",
                    field="envelope.keys",
                    code="missing_wrapped_key",
                )
            if len(wrapped.sealed) != _SEALED_KEY_BYTES:
                raise InvalidInput(
                    f"The content key wrapped for {code} is not a sealed box of a 32-byte key.",
                    field="envelope.keys",
                )
            out.append(StoredWrappedKey(agency.id, wrapped.key_id, wrapped.sealed))
        return out

    async def _store(
        self,
        caller: ApiActor,
        sealed: fmt.SealedPacket,
        header: Mapping[str, Any],
        case: Case,
        recipients: dict[str, Agency],
        wrapped: list[StoredWrappedKey],
        decision: Decision,
    ) -> PacketSummary:
        """As ``PacketService.send`` stores and logs a packet, in one transaction."""
        actor = caller.actor
        now = self._clock.now()
        recipient_ids = tuple(sorted(a.id for a in recipients.values()))
        row = PacketRow(
            id=str(header["packet_id"]),
            packet_type=str(header["type"]),
            case_id=case.id,
            sender_agency_id=actor.agency.id,
            sender_user_id=actor.sender.id,
            purpose=str(header["purpose"]),
            lawful_basis=str(header["lawful_basis"]),
            created_at=now,
            header=sealed.header_bytes,
            signature=sealed.signature,
            signer_key_id=sealed.signer_key_id,
            recipient_agency_ids=recipient_ids,
        )
        async with self._db.write() as conn:
            await packet_writes.insert_packet(
                conn, row=row, wrapped_keys=wrapped, parts=sealed.parts
            )
            await ledger.append(
                conn,
                Record(
                    action=Action.DISCLOSURE,
                    event=Event.PACKET_SENT,
                    recorded_at=now,
                    actor_user_id=actor.user.id,
                    actor_token_id=actor.token_id,
                    actor_agency_id=actor.agency.id,
                    case_id=case.id,
                    packet_id=row.id,
                    recipients=recipient_ids,
                    purpose=row.purpose,
                    lawful_basis=row.lawful_basis,
                    content_digest=sha256_hex(sealed.header_bytes),
                    policy_version=decision.policy_version,
                    decision=decision.outcome.value,
                ),
            )
            # As a hub-mode note: sender and recipients become active on the case.
            # The sender acts on the case; receiving a packet makes no agency active on it.
            await workflow_store.join_case(conn, case.id, {actor.agency.id}, now)
            await notices.packets_delivered(conn, [(row.id, case.id, recipient_ids)], now)
        return _summary(row, case.reference)

    # -- fetching --------------------------------------------------------------------------

    async def fetch(self, caller: ApiActor, packet_id: str) -> bytes:
        """The envelope of a packet sent to or by the caller's agency, for its system to open.

        Only the caller's agency's wrapped key is included. The hub cannot tell whether the
        system decrypts it, so handing it out is logged as a consultation.
        """
        actor = caller.actor
        async with self._db.read() as conn:
            row = await store.packet_by_id(conn, packet_id)
            if row is None or (
                actor.agency.id != row.sender_agency_id
                and actor.agency.id not in row.recipient_agency_ids
            ):
                raise NotFound("No such packet.")
            caller.require_case(row.case_id)
        row, sealed, _, _ = await self._packets._load_checked(actor, packet_id)
        mine = tuple(w for w in sealed.wrapped_keys if w.agency == actor.agency.code)
        if not mine:
            raise Gone("This packet's content has been erased for your agency.")
        envelope = fmt.SealedPacket(
            sealed.header_bytes, sealed.signature, sealed.signer_key_id, mine, sealed.parts
        ).to_envelope()
        await self._packets._log_consultation(actor, row, Event.SEALED_FETCHED, sealed.header_bytes)
        return envelope


def _summary(row: PacketRow, case_reference: str) -> PacketSummary:
    parts = json.loads(row.header)["parts"]
    count = sum(1 for n in parts if n.startswith("attach"))
    return summary_of(row, case_reference, SEALED_SUBJECT, count)
