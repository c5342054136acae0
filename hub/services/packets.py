"""Sending, listing and opening packets. Every send and every open is on the log."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.config import Limits
from hub.crypto import packet_format as fmt
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.errors import Forbidden, Gone, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.cases import Case
from hub.model.directory import Agency, Area, Role
from hub.model.packets import (
    AttachmentMeta,
    Classification,
    Draft,
    OpenedPacket,
    PacketHeader,
    PacketSummary,
    PacketType,
)
from hub.policy.errors import PolicyRefused
from hub.policy.model import Decision, Outcome, ShareRequest
from hub.services import ledger, log_writer, share_approvals, share_parties
from hub.services.actor import Actor
from hub.services.drafts import clean_filename, validate_draft
from hub.services.keyring import KeyRing, KeysHeldElsewhere
from hub.services.log_writer import Idempotency, LogWriter, PendingWrite
from hub.services.policy import PolicyService
from hub.services.workflow_rules import Plan, WorkflowRules
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import packets as store
from hub.store import workflows as workflow_store
from hub.store.database import Database
from hub.store.packets import NewPacket, PacketRow, StoredWrappedKey
from hub.workflows.deadlines import local_date
from hub.workflows.forms import form_document, render_form_text, schema_id

_SENDER_ROLES = (Role.PRACTITIONER, Role.COORDINATOR)
# Senior managers read what their agency holds: they approve disclosures on what a proposal says.
_READER_ROLES = (Role.PRACTITIONER, Role.COORDINATOR, Role.AGENCY_ADMIN, Role.SENIOR_MANAGER)
UNREADABLE_SUBJECT = "(this packet failed an integrity check)"
ERASED_SUBJECT = "(content erased)"
# Sealed to keys the agency's own system holds (end-to-end mode): the hub cannot show it.
ELSEWHERE_SUBJECT = "(sealed for your agency's own system: open it there)"


@dataclass(frozen=True)
class Attachment:
    meta: AttachmentMeta
    data: bytes


# Content keys unwrapped lately, by the wrapped key they came from: an inbox shows the same
# newest packets on every visit, and unwrapping (an X25519 operation per packet) is most of a
# listing's cost. About 200 bytes each; the hub holds the agencies' private keys anyway.
UNWRAP_CACHE_SIZE = 50_000


class UnwrapCache:
    """A bounded LRU map from (key id, wrapped key) to the content key it unwraps to.

    Keyed by the stored wrapped key itself, so it answers only a caller that presents that
    wrapped key: once a packet is erased (its wrapped keys deleted) nothing can ask for it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys: OrderedDict[tuple[str, bytes], SecretBytes] = OrderedDict()

    def get(self, wrapped: tuple[str, bytes]) -> SecretBytes | None:
        found = self._keys.get(wrapped)
        if found is not None:
            self._keys.move_to_end(wrapped)
        return found

    def put(self, wrapped: tuple[str, bytes], content_key: SecretBytes) -> None:
        self._keys[wrapped] = content_key
        self._keys.move_to_end(wrapped)
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)


@dataclass(frozen=True)
class _Page:
    """A page of packets as read in one snapshot: rows, the reader's wrapped keys, manifests."""

    rows: Sequence[PacketRow]
    keys: Mapping[str, Sequence[StoredWrappedKey]]
    manifests: Mapping[str, bytes]
    references: Mapping[int, str]


async def _page(conn: AsyncConnection, actor: Actor, rows: Sequence[PacketRow]) -> _Page:
    ids = [r.id for r in rows]
    return _Page(
        rows,
        await store.wrapped_keys_for(conn, ids, actor.agency.id),
        await store.manifests(conn, ids),
        await case_store.references_by_ids(conn, (r.case_id for r in rows)),
    )


@dataclass(frozen=True)
class _Resolved:
    """A draft's case, recipients and workflow plan, with what the policy needs of the
    directory: the agencies active on the case and the areas."""

    case: Case
    recipients: dict[int, Agency]
    plan: Plan
    active: set[int]
    areas: dict[int, Area]


@dataclass(frozen=True)
class _Loaded:
    row: PacketRow
    wrapped: Sequence[StoredWrappedKey]
    parts: Mapping[str, bytes]
    agencies: Mapping[int, Agency]
    case_reference: str | None


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        self._policy = policy
        self._clock = clock
        self._limits = limits
        self._unwrapped = UnwrapCache(UNWRAP_CACHE_SIZE)
        self._log = LogWriter(db)

    # -- sending ---------------------------------------------------------------------------

    def require_sender(self, actor: Actor) -> None:
        if not actor.has_role(*_SENDER_ROLES):
            raise Forbidden("Your role cannot send packets.")

    async def _prepare(
        self, actor: Actor, draft: Draft
    ) -> tuple[str, str, Case, dict[int, Agency], Decision, Plan]:
        """Validate a draft, resolve its case and recipients, and decide it against the policy."""
        self.require_sender(actor)
        subject, body = validate_draft(draft, self._limits, self._policy.current)
        recipient_ids = tuple(sorted(set(draft.recipient_agency_ids)))
        if actor.agency.id in recipient_ids:
            raise InvalidInput("Your own agency already holds what you send.", field="recipients")

        today = local_date(self._clock.now())

        async def resolve(conn: AsyncConnection) -> _Resolved:
            case = await case_store.case_by_id(conn, draft.case_id)
            if case is None:
                raise InvalidInput("Unknown case.", field="case", code="unknown_case")
            active = await workflow_store.case_agency_ids(conn, case.id)
            # An agency sends about the cases of its own area, and about another area's case
            # only once it is active on it (involved by that area) or to answer a request
            # addressed to it (checked below, once the plan knows which request it answers).
            inside = case.area_id == actor.agency.area_id or actor.agency.id in active
            if not inside and draft.packet_type is not PacketType.RESPONSE:
                raise InvalidInput("Unknown case.", field="case", code="unknown_case")
            if case.merged_into_id is not None:
                raise InvalidInput(
                    "This case record was combined into another: send about that case.",
                    field="case",
                )
            recipients = await directory_store.agencies_by_ids(conn, recipient_ids)
            if len(recipients) != len(recipient_ids):
                raise InvalidInput(
                    "One or more recipient agencies do not exist.",
                    field="recipients",
                    code="unknown_agency",
                )
            plan = await self._rules.prepare(conn, actor, draft, case, recipient_ids, today)
            if not inside and plan.answers_request is None:
                raise InvalidInput("Unknown case.", field="case", code="unknown_case")
            if plan.recipient_ids != recipient_ids:
                recipients = await directory_store.agencies_by_ids(conn, plan.recipient_ids)
            areas = {a.id: a for a in await directory_store.list_areas(conn)}
            return _Resolved(case, recipients, plan, active, areas)

        found = await self._db.run_read(resolve)
        case, recipients, plan = found.case, found.recipients, found.plan
        parties = share_parties.describe(
            actor.agency, recipients.values(), found.areas, found.active
        )
        decision = self._policy.decide(
            ShareRequest(
                sender_type=actor.agency.type.value,
                sender_role=actor.role.value,
                recipient_types=(),
                recipients=parties.recipients,
                sender_area=parties.sender_area,
                jurisdiction=parties.jurisdiction,
                packet_type=draft.packet_type.value,
                data_categories=tuple(draft.data_categories),
                purpose=draft.purpose,
                lawful_basis=draft.lawful_basis,
                mappa_category=int(case.category),
                mappa_level=int(case.level),
                channel="hub",
                necessity=dict(draft.necessity),
                schedule1_condition=draft.schedule1_condition,
                restricted_reason=draft.restricted_reason,
            )
        )
        if plan.form is not None and not body.strip():
            body = render_form_text(plan.form)
        return subject, body, case, recipients, decision, plan

    async def preview(self, actor: Actor, draft: Draft) -> Decision:
        """What the policy would decide for this draft, without sending anything."""
        *_, decision, _ = await self._prepare(actor, draft)
        return decision

    async def send(
        self, actor: Actor, draft: Draft, idempotency: tuple[str, str] | None = None
    ) -> PacketSummary:
        """Seal and send a draft the policy permits; DENY is refused, writing nothing. A REVIEW
        share is sealed just the same and held for the approvers the policy names
        (``share_approvals.hold``): the answer is then a ``HeldSummary``.

        ``idempotency`` (key, request digest) is kept with the packet, in its transaction, for an
        API token: a retry with the same key finds it (``idempotent``) instead of sending twice.
        """
        if idempotency is not None and actor.token_id is None:
            raise InvalidInput("Idempotency keys are for API tokens.", field="idempotency_key")
        subject, body, case, recipients, decision, plan = await self._prepare(actor, draft)
        if decision.outcome is Outcome.DENY:
            raise PolicyRefused(decision)
        recipient_ids = tuple(sorted(recipients))

        now = self._clock.now()
        packet_id = str(uuid.uuid4())
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
            "sender_user": actor.user.username,
            "sender_agency": actor.agency.code,
            "recipients": sorted(a.code for a in recipients.values()),
            "purpose": draft.purpose,
            "lawful_basis": draft.lawful_basis,
            "data_categories": sorted(draft.data_categories),
            "classification": draft.classification.value,
            "created_at": _iso(now),
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
            sender_user_id=actor.user.id,
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
                await store.insert_packets(conn, [new])
                await self._rules.record(conn, actor, draft, case, plan, packet_id, now)
                await log_writer.write(conn, [PendingWrite(record, now, None, None, idem)])

            await self._db.run_write(commit)
        return PacketSummary(
            id=packet_id,
            packet_type=draft.packet_type,
            case_id=case.id,
            case_reference=case.reference,
            sender_agency_id=actor.agency.id,
            sender_user_id=actor.user.id,
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

    async def summary(self, actor: Actor, packet_id: str) -> PacketSummary:
        """One packet as a listing shows it (subject decrypted in memory; not a consultation)."""
        self._require_reader(actor)

        async def load(conn: AsyncConnection) -> _Page:
            row = await store.packet_by_id(conn, packet_id)
            if row is None or (
                actor.agency.id != row.sender_agency_id
                and actor.agency.id not in row.recipient_agency_ids
            ):
                raise NotFound("No such packet.")
            return await _page(conn, actor, [row])

        return (await self._summaries(actor, await self._db.run_read(load)))[0]

    # -- listing ---------------------------------------------------------------------------

    async def inbox(
        self, actor: Actor, limit: int = 50, before: datetime | None = None
    ) -> list[PacketSummary]:
        self._require_reader(actor)

        async def load(conn: AsyncConnection) -> _Page:
            rows = await store.inbox(conn, actor.agency.id, min(limit, 200), before)
            return await _page(conn, actor, rows)

        return await self._summaries(actor, await self._db.run_read(load))

    async def outbox(
        self, actor: Actor, limit: int = 50, before: datetime | None = None
    ) -> list[PacketSummary]:
        self._require_reader(actor)

        async def load(conn: AsyncConnection) -> _Page:
            rows = await store.outbox(conn, actor.agency.id, min(limit, 200), before)
            return await _page(conn, actor, rows)

        return await self._summaries(actor, await self._db.run_read(load))

    async def _summaries(self, actor: Actor, page: _Page) -> list[PacketSummary]:
        out = []
        for r in page.rows:
            reference = page.references.get(r.case_id, "?")
            subject, count = UNREADABLE_SUBJECT, 0
            packet = fmt.SealedPacket(
                r.header,
                r.signature,
                r.signer_key_id,
                tuple(
                    fmt.WrappedKey(actor.agency.code, w.key_id, w.sealed)
                    for w in page.keys.get(r.id, [])
                ),
                {fmt.MANIFEST: page.manifests.get(r.id, b"")},
            )
            if not packet.wrapped_keys:
                out.append(self._summary(r, reference, ERASED_SUBJECT, 0))
                continue
            try:
                content_key = await self._content_key(actor.agency, packet)
                manifest = fmt.decrypt_manifest(packet, r.id, content_key)
                subject, count = manifest.subject, len(manifest.attachments)
            except KeysHeldElsewhere:
                subject = ELSEWHERE_SUBJECT
            except CryptoFailure:
                pass  # shown as unreadable; opening it reports the failure properly
            out.append(self._summary(r, reference, subject, count))
        return out

    @staticmethod
    def _summary(r: PacketRow, case_reference: str, subject: str, count: int) -> PacketSummary:
        return summary_of(r, case_reference, subject, count)

    async def _content_key(self, agency: Agency, sealed: fmt.SealedPacket) -> SecretBytes:
        """Unwrap the content key with the agency's private key (current or retired).

        ``KeysHeldElsewhere`` when it is wrapped only for keys the agency's own system holds.
        """
        mine = [w for w in sealed.wrapped_keys if w.agency == agency.code]
        if len(mine) == 1:
            cached = self._unwrapped.get((mine[0].key_id, mine[0].sealed))
            if cached is not None:
                return cached
        privates: dict[str, SecretBytes] = {}
        elsewhere = False
        for wrapped in sealed.wrapped_keys:
            if wrapped.agency != agency.code:
                continue
            stored = await self._keyring.key(wrapped.key_id)
            if stored is not None and stored.agency_id == agency.id:
                if not stored.held_by_hub:
                    elsewhere = True
                    continue
                privates[wrapped.key_id] = self._keyring.private(stored)
        if elsewhere and not privates:
            raise KeysHeldElsewhere()
        content_key = fmt.unwrap_content_key(sealed, agency.code, privates.get)
        if len(mine) == 1:
            self._unwrapped.put((mine[0].key_id, mine[0].sealed), content_key)
        return content_key

    # -- opening ---------------------------------------------------------------------------

    def _require_reader(self, actor: Actor) -> None:
        if not actor.has_role(*_READER_ROLES):
            raise Forbidden("Your role does not allow reading packet content.")

    async def _load_checked(
        self,
        actor: Actor,
        packet_id: str,
        check_case: Callable[[int], None] | None = None,
        hide_unsent: bool = False,
    ) -> tuple[PacketRow, fmt.SealedPacket, dict[str, Any], str | None]:
        """Load a packet the actor may read and verify it; raise before anything is decrypted.

        ``check_case`` raises for a case the caller is limited away from (an API token's cases);
        ``hide_unsent`` answers "not found" rather than "forbidden" for a packet not sent to the
        actor's agency (the API does not confirm that other packets exist).
        Returns the row, the packet, its verified header and the case reference."""
        self._require_reader(actor)

        async def load(conn: AsyncConnection) -> _Loaded:
            row = await store.packet_by_id(conn, packet_id)
            if row is None:
                raise NotFound("No such packet.")
            if (
                actor.agency.id != row.sender_agency_id
                and actor.agency.id not in row.recipient_agency_ids
            ):
                if hide_unsent:
                    raise NotFound("No such packet.")
                raise Forbidden("This packet was not sent to your agency, so you cannot open it.")
            if check_case is not None:
                check_case(row.case_id)
            wrapped = await store.wrapped_keys(conn, packet_id)
            if not wrapped:
                raise Gone("This packet's content has been erased (its keys were destroyed).")
            parts = await store.parts(conn, packet_id)
            agencies = await directory_store.agencies_by_ids(
                conn,
                [row.sender_agency_id, *row.recipient_agency_ids, *(w.agency_id for w in wrapped)],
            )
            case = await case_store.case_by_id(conn, row.case_id)
            return _Loaded(row, wrapped, parts, agencies, case.reference if case else None)

        loaded = await self._db.run_read(load)
        row, agencies = loaded.row, loaded.agencies
        sealed = fmt.SealedPacket(
            row.header,
            row.signature,
            row.signer_key_id,
            tuple(
                fmt.WrappedKey(agencies[w.agency_id].code, w.key_id, w.sealed)
                for w in loaded.wrapped
            ),
            loaded.parts,
        )
        signer = await self._keyring.key(row.signer_key_id)
        if (
            signer is None
            or signer.agency_id != row.sender_agency_id
            or signer.purpose != "ed25519"
        ):
            raise CryptoFailure("signer key is unknown or not the sender agency's")
        header = fmt.verify_header(sealed, signer.public_key)
        expected = {
            "packet_id": row.id,
            "sender_agency": agencies[row.sender_agency_id].code,
            "recipients": sorted(agencies[a].code for a in row.recipient_agency_ids),
            "case": loaded.case_reference,
            "type": row.packet_type,
            "purpose": row.purpose,
            "lawful_basis": row.lawful_basis,
        }
        for name, value in expected.items():
            if header.get(name) != value:
                raise CryptoFailure(f"stored column {name} disagrees with the signed header")
        return row, sealed, header, loaded.case_reference

    async def open(
        self,
        actor: Actor,
        packet_id: str,
        check_case: Callable[[int], None] | None = None,
        hide_unsent: bool = False,
    ) -> OpenedPacket:
        row, sealed, header, reference = await self._load_checked(
            actor, packet_id, check_case, hide_unsent
        )
        content_key = await self._content_key(actor.agency, sealed)
        manifest = fmt.decrypt_manifest(sealed, row.id, content_key)
        body = fmt.decrypt_body(sealed, row.id, content_key)
        form = fmt.decrypt_form(sealed, row.id, content_key)
        await self._log_consultation(actor, row, Event.PACKET_OPENED, sealed.header_bytes)
        summary = self._summary(row, reference or "?", manifest.subject, len(manifest.attachments))
        return OpenedPacket(
            summary=summary,
            header=_header(header),
            body=body,
            attachments=tuple(
                AttachmentMeta(i, a.filename, a.content_type, a.size)
                for i, a in enumerate(manifest.attachments)
            ),
            necessity=dict(manifest.necessity),
            form=form,
        )

    async def attachment(
        self,
        actor: Actor,
        packet_id: str,
        index: int,
        check_case: Callable[[int], None] | None = None,
        hide_unsent: bool = False,
    ) -> Attachment:
        row, sealed, _, _ = await self._load_checked(actor, packet_id, check_case, hide_unsent)
        content_key = await self._content_key(actor.agency, sealed)
        manifest = fmt.decrypt_manifest(sealed, row.id, content_key)
        if not 0 <= index < len(manifest.attachments):
            raise NotFound("No such attachment.")
        entry = manifest.attachments[index]
        data = fmt.decrypt_attachment(sealed, row.id, content_key, entry)
        await self._log_consultation(actor, row, Event.ATTACHMENT_OPENED, sealed.header_bytes)
        return Attachment(
            AttachmentMeta(index, entry.filename, entry.content_type, entry.size), data
        )

    async def _log_consultation(
        self, actor: Actor, row: PacketRow, event: Event, header_bytes: bytes
    ) -> None:
        """Commit the consultation entry before any content leaves the service."""
        await self._log.submit(
            PendingWrite(
                when=self._clock.now(),
                record=Record(
                    action=Action.CONSULTATION,
                    event=event,
                    recorded_at=self._clock.now(),
                    actor_user_id=actor.user.id,
                    actor_token_id=actor.token_id,
                    actor_agency_id=actor.agency.id,
                    case_id=row.case_id,
                    packet_id=row.id,
                    recipients=(actor.agency.id,),
                    purpose=row.purpose,
                    lawful_basis=row.lawful_basis,
                    content_digest=sha256_hex(header_bytes),
                ),
            )
        )

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

    async def sealed_envelope(self, actor: Actor, packet_id: str) -> bytes:
        """The packet in its portable form (format v1), for the actor's own agency to open."""
        _, sealed, _, _ = await self._load_checked(actor, packet_id)
        return sealed.to_envelope()


def _header(doc: dict[str, Any]) -> PacketHeader:
    created = datetime.strptime(doc["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return PacketHeader(
        version=int(doc["v"]),
        packet_id=str(doc["packet_id"]),
        packet_type=PacketType(doc["type"]),
        case_reference=str(doc["case"]),
        sender_user=str(doc["sender_user"]),
        sender_agency=str(doc["sender_agency"]),
        recipients=tuple(doc["recipients"]),
        purpose=str(doc["purpose"]),
        lawful_basis=str(doc["lawful_basis"]),
        data_categories=tuple(doc["data_categories"]),
        classification=Classification(doc["classification"]),
        created_at=created,
        parts=dict(doc["parts"]),
        policy=dict(doc.get("policy", {})),
        form_schema=doc.get("form"),
        reply_to=doc.get("reply_to"),
    )


def summary_of(r: PacketRow, case_reference: str, subject: str, count: int) -> PacketSummary:
    """A stored packet as a listing shows it, given its subject and attachment count."""
    return PacketSummary(
        id=r.id,
        packet_type=PacketType(r.packet_type),
        case_id=r.case_id,
        case_reference=case_reference,
        sender_agency_id=r.sender_agency_id,
        sender_user_id=r.sender_user_id or 0,
        recipient_agency_ids=r.recipient_agency_ids,
        purpose=r.purpose,
        created_at=r.created_at,
        subject=subject,
        attachment_count=count,
        reply_to=r.reply_to,
    )
