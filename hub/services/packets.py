"""Sending and opening packets. Every send and every open is on the log.

Listing (inbox, sent, search) is ``hub.services.packet_listing``, reached as ``PacketService.listing``
and through ``inbox``/``outbox``/``summary`` here; unwrapping content keys is
``hub.services.content_keys``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.clock import Clock, utc_text
from hub.config import Limits
from hub.crypto import packet_format as fmt
from hub.crypto.secrets import sha256_hex
from hub.errors import Forbidden, Gone, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Role
from hub.model.packets import (
    Draft,
    OpenedPacket,
    PacketSummary,
)
from hub.policy.errors import PolicyRefused
from hub.policy.model import Decision, Outcome
from hub.services import ledger, log_writer, share_approvals
from hub.services.actor import Actor
from hub.services.content_keys import UNWRAP_CACHE_SIZE, ContentKeys, UnwrapCache
from hub.services.drafts import clean_filename, with_form_answers
from hub.services.keyring import KeyRing
from hub.services.known_directory import KnownDirectory
from hub.services.log_writer import Idempotency, LogWriter, PendingWrite
from hub.services.packet_listing import (
    ELSEWHERE_SUBJECT,
    ERASED_SUBJECT,
    UNREADABLE_SUBJECT,
    PacketListing,
    summary_of,
)
from hub.services.packet_opening import Attachment, PacketReader
from hub.services.policy import PolicyService
from hub.services.refused_shares import refusal_record
from hub.services.share_preparation import KnownCase, SharePreparation
from hub.services.workflow_rules import WorkflowRules
from hub.store import packet_writes
from hub.store import packets as store
from hub.store.database import Database
from hub.store.packet_writes import NewPacket
from hub.store.packets import PacketRow, StoredWrappedKey
from hub.workflows.forms import form_document, schema_id

__all__ = [
    "ELSEWHERE_SUBJECT",
    "ERASED_SUBJECT",
    "UNREADABLE_SUBJECT",
    "UNWRAP_CACHE_SIZE",
    "Attachment",
    "PacketService",
    "UnwrapCache",
    "summary_of",
]

_SENDER_ROLES = (Role.PRACTITIONER, Role.COORDINATOR)


class PacketService:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        policy: PolicyService,
        clock: Clock,
        limits: Limits,
    ) -> None:
        self._rules = WorkflowRules(policy)
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._keys = ContentKeys(keyring)
        self._preparation = SharePreparation(
            db, policy, self._rules, KnownDirectory(), clock, limits
        )
        self._log = LogWriter(db)
        self.listing = PacketListing(db, self._keys)
        self.reader = PacketReader(db, keyring, self._keys, clock, self._log)

    # -- sending ---------------------------------------------------------------------------

    def require_sender(self, actor: Actor) -> None:
        if not actor.has_role(*_SENDER_ROLES):
            raise Forbidden("Your role cannot send packets.")

    async def preview(self, actor: Actor, draft: Draft) -> Decision:
        """What the policy would decide for this draft, without sending anything."""
        self.require_sender(actor)
        return (await self._preparation.prepare(actor, with_form_answers(draft))).decision

    async def send(
        self,
        actor: Actor,
        draft: Draft,
        idempotency: tuple[str, str] | None = None,
        known_case: KnownCase | None = None,
    ) -> PacketSummary:
        """Seal and send a draft the policy permits; DENY is refused, storing nothing but its
        entry on the log (``hub.services.refused_shares``). A REVIEW
        share is sealed just the same and held for the approvers the policy names
        (``share_approvals.hold``): the answer is then a ``HeldSummary``.

        ``idempotency`` (key, request digest) is kept with the packet, in its transaction, for an
        API token: a retry with the same key finds it (``idempotent``) instead of sending twice.
        ``known_case``: the draft's case, already read with the caller's token (``SharePreparation``).
        """
        if idempotency is not None and actor.token_id is None:
            raise InvalidInput("Idempotency keys are for API tokens.", field="idempotency_key")
        draft = with_form_answers(draft)
        self.require_sender(actor)
        try:
            prepared = await self._preparation.prepare(actor, draft, known_case)
        except PolicyRefused as refused:  # a disclosure proposal's disclosure, decided in preparing
            if refused.decision.outcome is Outcome.DENY:
                await self._log_refusal(actor, draft, refused.decision, draft.recipient_agency_ids)
            raise
        subject, body, case = prepared.subject, prepared.body, prepared.case
        recipients, decision, plan = prepared.recipients, prepared.decision, prepared.plan
        if decision.outcome is Outcome.DENY:
            # The recipients as resolved: a response goes to whoever asked.
            await self._log_refusal(actor, draft, decision, recipients)
            raise PolicyRefused(decision)
        recipient_ids = tuple(sorted(recipients))

        now = self._clock.now()
        packet_id = ids.packet_id(now)
        sender_keys = await self._keyring.active(actor.agency.id)
        wrap_for = [actor.agency, *recipients.values()]
        targets = []
        for agency in wrap_for:
            enc = (await self._keyring.active(agency.id)).encryption
            targets.append(fmt.Recipient(agency.code, enc.key_id, enc.public_key))
        header_fields: dict[str, Any] = {
            "packet_id": packet_id,
            "type": draft.packet_type.value,
            "case": case.reference,
            "sender_user": actor.sender.username,
            "sender_agency": actor.agency.code,
            "recipients": sorted(a.code for a in recipients.values()),
            "purpose": draft.purpose,
            "lawful_basis": draft.lawful_basis,
            "data_categories": sorted(draft.data_categories),
            "classification": draft.classification.value,
            "created_at": utc_text(now),
            "policy": decision.record(),
        }
        if plan.form is not None:
            header_fields["form"] = schema_id(draft.packet_type)
        if draft.reply_to is not None:
            header_fields["reply_to"] = draft.reply_to
        content = fmt.PlainContent(
            subject=subject,
            body=body,
            attachments=tuple(
                fmt.PlainAttachment(clean_filename(a.filename), a.content_type[:100], a.data)
                for a in draft.attachments
            ),
            necessity={k: v.strip() for k, v in draft.necessity.items() if v.strip()},
            form=None if plan.form is None else form_document(draft.packet_type, plan.form),
        )
        sealed = fmt.seal(
            header_fields,
            content,
            targets,
            self._keyring.private(sender_keys.signing),
            sender_keys.signing.key_id,
        )
        codes = {a.code: a.id for a in wrap_for}
        row = PacketRow(
            id=packet_id,
            packet_type=draft.packet_type.value,
            case_id=case.id,
            sender_agency_id=actor.agency.id,
            sender_user_id=actor.sender.id,
            purpose=draft.purpose,
            lawful_basis=draft.lawful_basis,
            created_at=now,
            header=sealed.header_bytes,
            signature=sealed.signature,
            signer_key_id=sealed.signer_key_id,
            recipient_agency_ids=recipient_ids,
            reply_to=draft.reply_to,
        )
        wrapped_keys = [
            StoredWrappedKey(codes[w.agency], w.key_id, w.sealed) for w in sealed.wrapped_keys
        ]
        record = Record(
            action=Action.DISCLOSURE,
            event=Event.PACKET_SENT,
            recorded_at=now,
            actor_user_id=actor.user.id,
            actor_token_id=actor.token_id,
            actor_agency_id=actor.agency.id,
            case_id=case.id,
            packet_id=packet_id,
            recipients=recipient_ids,
            purpose=draft.purpose,
            lawful_basis=draft.lawful_basis,
            content_digest=sha256_hex(sealed.header_bytes),
            policy_version=decision.policy_version,
            decision=decision.outcome.value,
        )

        new = NewPacket(row, wrapped_keys, sealed.parts)
        idem = None
        if idempotency is not None and actor.token_id is not None:
            idem = Idempotency(actor.token_id, *idempotency)
        if decision.outcome is Outcome.REVIEW:
            # Not sent yet: stored held, beside the approvals it waits for, in one transaction.
            return await share_approvals.hold(
                self._db, actor, draft, case, decision, new, idem, subject
            )
        if self._rules.only_membership(plan):
            # The common case (a note): batched with concurrent shares, a few statements a batch.
            # The sender acts on the case, so it is active on it; being sent a packet does not
            # make the recipients active (they are involved by the case's area, explicitly).
            joins = (case.id, frozenset({actor.agency.id}))
            await self._log.submit(PendingWrite(record, now, new, joins, idem))
        else:

            async def commit(conn: AsyncConnection) -> None:
                # Packet, workflow rows and log entry in one transaction (group-committed).
                await packet_writes.insert_packets(conn, [new])
                await self._rules.record(conn, actor, draft, case, plan, packet_id, now)
                await log_writer.write(conn, [PendingWrite(record, now, None, None, idem)])

            await self._db.run_write(commit)
        return PacketSummary(
            id=packet_id,
            packet_type=draft.packet_type,
            case_id=case.id,
            case_reference=case.reference,
            sender_agency_id=actor.agency.id,
            sender_user_id=actor.sender.id,
            recipient_agency_ids=recipient_ids,
            purpose=draft.purpose,
            created_at=now,
            subject=subject,
            attachment_count=len(draft.attachments),
            reply_to=draft.reply_to,
        )

    async def close(self) -> None:
        """Finish the shares and consultations still being written."""
        await self._log.close()

    async def idempotent(self, actor: Actor, key: str) -> tuple[str, str] | None:
        """(request digest, packet id) of an earlier send by this token under ``key``."""
        if actor.token_id is None:
            return None
        async with self._db.read() as conn:
            return await store.idempotent_send(conn, actor.token_id, key)

    # -- listing (``hub.services.packet_listing``) -------------------------------------------

    async def summary(self, actor: Actor, packet_id: str) -> PacketSummary:
        """One packet as a listing shows it (subject decrypted in memory; not a consultation)."""
        return await self.listing.summary(actor, packet_id)

    async def inbox(
        self, actor: Actor, limit: int = 50, before: datetime | None = None
    ) -> list[PacketSummary]:
        return await self.listing.inbox(actor, limit, before)

    async def outbox(
        self, actor: Actor, limit: int = 50, before: datetime | None = None
    ) -> list[PacketSummary]:
        return await self.listing.outbox(actor, limit, before)

    # -- opening (``hub.services.packet_opening``) -----------------------------------------

    async def open(
        self,
        actor: Actor,
        packet_id: str,
        check_case: Callable[[int], None] | None = None,
        hide_unsent: bool = False,
    ) -> OpenedPacket:
        """Verify, log the reading (and mark it read for a signed-in person), then decrypt."""
        return await self.reader.open(actor, packet_id, check_case, hide_unsent)

    async def attachment(
        self,
        actor: Actor,
        packet_id: str,
        index: int,
        check_case: Callable[[int], None] | None = None,
        hide_unsent: bool = False,
    ) -> Attachment:
        return await self.reader.attachment(actor, packet_id, index, check_case, hide_unsent)

    async def sealed_envelope(self, actor: Actor, packet_id: str) -> bytes:
        """The packet in its portable form (format v1), for the actor's own agency to open."""
        return await self.reader.sealed_envelope(actor, packet_id)

    async def _load_checked(
        self, actor: Actor, packet_id: str
    ) -> tuple[PacketRow, fmt.SealedPacket, dict[str, Any], str | None]:
        """For ``hub.services.sealed``: ``PacketReader.load_checked``."""
        return await self.reader.load_checked(actor, packet_id)

    async def _log_refusal(
        self, actor: Actor, draft: Draft, decision: Decision, recipients: Iterable[int]
    ) -> None:
        record = refusal_record(
            actor,
            decision,
            self._clock.now(),
            case_id=draft.case_id,
            recipients=recipients,
            purpose=draft.purpose,
            lawful_basis=draft.lawful_basis,
        )
        await self.log_refusal(record)

    async def log_refusal(self, record: Record) -> None:
        """A share the policy refused (``hub.services.refused_shares.refusal_record``), on the
        log with the next batch of shares and reads; also for ``hub.services.sealed``."""
        await self._log.submit(PendingWrite(record, record.recorded_at))

    async def _log_consultation(
        self, actor: Actor, row: PacketRow, event: Event, header_bytes: bytes
    ) -> None:
        """For ``hub.services.sealed``: ``PacketReader.log_consultation``."""
        await self.reader.log_consultation(actor, row, event, header_bytes)

    async def shred(self, packet_id: str) -> None:
        """Erase a packet's content for good by destroying every wrapped content key.

        An operator action (end of retention, or a court order); the header, the log and the
        proofs stay, so that what was shared remains provable while the content is gone.
        """
        async with self._db.write() as conn:
            row = await store.packet_by_id(conn, packet_id)
            if row is None:
                raise NotFound("No such packet.")
            if await store.delete_wrapped_keys(conn, packet_id) == 0:
                raise Gone("This packet's content was already erased.")
            await ledger.append(
                conn,
                Record(
                    action=Action.ERASURE,
                    event=Event.PACKET_SHREDDED,
                    recorded_at=self._clock.now(),
                    actor_user_id=None,
                    actor_agency_id=None,
                    case_id=row.case_id,
                    packet_id=row.id,
                    recipients=row.recipient_agency_ids,
                    purpose=row.purpose,
                    lawful_basis=row.lawful_basis,
                    content_digest=sha256_hex(row.header),
                ),
            )
