"""Saved drafts: a half-written packet kept, sealed, for the person writing it.

A policy check, a refusal, a failed validation or "Save draft" keeps everything typed and attached
(hub.web.compose), so that nothing is lost and the work can be resumed from the Drafts page.

How a draft is sealed
---------------------
A draft is sealed exactly as a packet is (``hub.crypto.packet_format``, PACKET_FORMAT.md): its text
fields and attachments are encrypted once under a fresh content key, with XChaCha20-Poly1305; the
content key is sealed to the author's *agency* X25519 key only; the header is signed with the
agency's Ed25519 key. What is stored (``saved_drafts.sealed``) is that packet's envelope, in which
nothing readable remains: the subject, the necessity statement and each attachment's name and type
are in the encrypted manifest, the body in the encrypted body part, and every other field (case,
recipients, purpose, lawful basis, categories, the structured form) in the encrypted form part. The
cleartext header carries only the draft id, the owner's user id and the agency's code.

Why the agency key, not a key derived from the KEK: the draft is then under the same custody as the
packets the agency sends (the hub opens it only by unwrapping the agency's private key under the
KEK, as it does for packets; retired keys stay, so a key rotation leaves drafts readable; an agency
whose keys are held by its own system cannot compose on the hub, nor keep drafts on it), and no
second sealing scheme is needed.

Binding: the parts' AEAD additional data names ``saved-draft/<draft id>/<owner user id>``, and the
signed header names both again, so a sealed blob copied onto another row, or a row given another
owner, does not open (one ``CryptoFailure``). Only the owner, acting in the same agency, may open,
change, send or discard a draft; anyone else is answered "no such draft", whether or not it exists.

Saved drafts are not shares and are not on the ledger: nothing leaves the author's agency, and the
packet sent from a draft is logged as every packet is.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.config import Limits
from hub.crypto import packet_format as fmt
from hub.crypto.agency_keys import KeyPurpose
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes
from hub.errors import Conflict, NotFound, TooLarge
from hub.model.packets import AttachmentIn, Draft, PacketSummary, PacketType
from hub.services.actor import Actor
from hub.services.drafts import clean_filename, size_text
from hub.services.keyring import KeyRing, KeysHeldElsewhere
from hub.services.packets import PacketService
from hub.store import cases as case_store
from hub.store import saved_drafts as store
from hub.store.database import Database
from hub.store.saved_drafts import SavedDraftRow

# How many drafts one person may keep: enough for a day's work, bounded so storage is too.
MAX_DRAFTS = 25
# Text fields other than the body (subject, statements, reasons) are bounded by this many characters
# each; the structured form as a whole by the request limit.
MAX_FIELD_CHARS = 5000
DRAFT_HEADER_TYPE = "saved-draft"
_CONTENT_SCHEMA = "mappa-hub/saved-draft"
_CONTENT_VERSION = 1
UNREADABLE_SUBJECT = "(this draft failed an integrity check and cannot be opened)"
_NOT_FOUND = "No such draft: it may have been sent or deleted."


@dataclass(frozen=True)
class DraftContent:
    """What has been typed and attached so far, as typed: a draft may be half done, so nothing
    here is checked but its size (sending it is checked as every packet is)."""

    packet_type: PacketType
    case_id: int | None = None
    recipient_agency_ids: tuple[int, ...] = ()
    subject: str = ""
    body: str = ""
    purpose: str = ""
    lawful_basis: str = ""
    schedule1_condition: str = ""
    restricted_reason: str = ""
    data_categories: tuple[str, ...] = ()
    necessity: Mapping[str, str] = field(default_factory=dict)
    reply_to: str = ""
    # A typed packet's structured form as posted (hub.web.formfields.parse), not yet validated.
    form: Mapping[str, Any] | None = None
    attachments: tuple[AttachmentIn, ...] = ()

    def is_empty(self) -> bool:
        """Nothing typed or attached worth keeping."""
        texts = (self.subject, self.body, self.restricted_reason, *self.necessity.values())
        return (
            not any(t.strip() for t in texts)
            and not self.form
            and not self.attachments
            and self.case_id is None
            and not self.recipient_agency_ids
        )


@dataclass(frozen=True)
class SavedDraft:
    id: str
    content: DraftContent
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SavedDraftSummary:
    """One row of the Drafts page: decrypted in memory for the owner only."""

    id: str
    packet_type: PacketType
    case_id: int | None
    # None when no case was chosen, or the case is not one the owner can see.
    case_reference: str | None
    subject: str
    attachment_count: int
    updated_at: datetime
    readable: bool = True


def _binding(draft_id: str, owner_user_id: int) -> str:
    """What the parts' AEAD additional data and the signed header bind a draft to."""
    return f"{DRAFT_HEADER_TYPE}/{draft_id}/{owner_user_id}"


def _plain_size(content: DraftContent) -> int:
    texts = (
        content.subject,
        content.body,
        content.purpose,
        content.lawful_basis,
        content.schedule1_condition,
        content.restricted_reason,
        content.reply_to,
        *content.necessity.values(),
        *content.data_categories,
    )
    form = len(json.dumps(content.form, default=str)) if content.form is not None else 0
    return (
        form + sum(len(t.encode()) for t in texts) + sum(len(a.data) for a in content.attachments)
    )


class SavedDraftService:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        packets: PacketService,
        clock: Clock,
        limits: Limits,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._packets = packets
        self._clock = clock
        self._limits = limits

    # -- checks ----------------------------------------------------------------------------

    def check_size(self, content: DraftContent) -> None:
        """Refuse (413) what a packet could not carry either, naming what is too large."""
        limits = self._limits
        if len(content.attachments) > limits.max_attachments:
            raise TooLarge(f"At most {limits.max_attachments} attachments.")
        for att in content.attachments:
            if len(att.data) > limits.max_attachment_bytes:
                raise TooLarge(
                    f"Attachment {clean_filename(att.filename)} is larger than the limit of "
                    f"{size_text(limits.max_attachment_bytes)}."
                )
        if len(content.body) > limits.max_body_chars:
            raise TooLarge(f"The message is longer than {limits.max_body_chars} characters.")
        short = (
            content.subject,
            content.restricted_reason,
            content.purpose,
            content.lawful_basis,
            content.schedule1_condition,
            content.reply_to,
            *content.necessity.values(),
        )
        if any(len(t) > MAX_FIELD_CHARS for t in short):
            raise TooLarge(f"A draft's fields are limited to {MAX_FIELD_CHARS} characters each.")
        if _plain_size(content) > limits.max_request_bytes:
            raise TooLarge(
                "Together, the attachments are larger than a packet can carry "
                f"({size_text(limits.max_request_bytes)})."
            )

    # -- saving ----------------------------------------------------------------------------

    async def save(self, actor: Actor, content: DraftContent, draft_id: str | None = None) -> str:
        """Seal ``content`` as a new draft, or over the owner's draft ``draft_id``; its id."""
        self._packets.require_sender(actor)
        self.check_size(content)
        if draft_id is not None:
            # Only the owner's draft, of the agency it was sealed for, is overwritten.
            await self._row(actor, draft_id)
        now = self._clock.now()
        new_id = draft_id or str(uuid.uuid4())
        sealed = await self._seal(actor, new_id, content)

        async def write(conn: AsyncConnection) -> None:
            if draft_id is not None:
                changed = await store.replace_sealed(
                    conn,
                    draft_id,
                    actor.user.id,
                    packet_type=content.packet_type.value,
                    sealed=sealed,
                    size=len(sealed),
                    updated_at=now,
                )
                if not changed:
                    raise NotFound(_NOT_FOUND)
                return
            if await store.count_of(conn, actor.user.id, actor.agency.id) >= MAX_DRAFTS:
                raise Conflict(
                    f"You have {MAX_DRAFTS} saved drafts: send or delete some before saving "
                    "another."
                )
            await store.insert_draft(
                conn,
                SavedDraftRow(
                    id=new_id,
                    owner_user_id=actor.user.id,
                    agency_id=actor.agency.id,
                    packet_type=content.packet_type.value,
                    sealed=sealed,
                    size=len(sealed),
                    created_at=now,
                    updated_at=now,
                ),
            )

        async with self._db.write() as conn:
            await write(conn)
        return new_id

    async def _seal(self, actor: Actor, draft_id: str, content: DraftContent) -> bytes:
        keys = await self._keyring.active(actor.agency.id)
        if not keys.encryption.held_by_hub:
            raise KeysHeldElsewhere()
        signing_key = self._keyring.private(keys.signing)
        fields = {
            "packet_type": content.packet_type.value,
            "case_id": content.case_id,
            "recipient_agency_ids": list(content.recipient_agency_ids),
            "purpose": content.purpose,
            "lawful_basis": content.lawful_basis,
            "schedule1_condition": content.schedule1_condition,
            "restricted_reason": content.restricted_reason,
            "data_categories": list(content.data_categories),
            "reply_to": content.reply_to,
            "form": None if content.form is None else dict(content.form),
        }
        plain = fmt.PlainContent(
            subject=content.subject,
            body=content.body,
            attachments=tuple(
                fmt.PlainAttachment(clean_filename(a.filename), a.content_type[:100], a.data)
                for a in content.attachments
            ),
            necessity=dict(content.necessity),
            form={"schema": _CONTENT_SCHEMA, "version": _CONTENT_VERSION, "fields": fields},
        )
        header = {
            "packet_id": _binding(draft_id, actor.user.id),
            "type": DRAFT_HEADER_TYPE,
            "sender_agency": actor.agency.code,
        }
        recipient = fmt.Recipient(
            actor.agency.code, keys.encryption.key_id, keys.encryption.public_key
        )
        packet = fmt.seal(header, plain, [recipient], signing_key, keys.signing.key_id)
        return packet.to_envelope()

    # -- reading ---------------------------------------------------------------------------

    async def _row(self, actor: Actor, draft_id: str) -> SavedDraftRow:
        self._packets.require_sender(actor)
        if not _is_draft_id(draft_id):
            raise NotFound(_NOT_FOUND)
        async with self._db.read() as conn:
            row = await store.draft_of(conn, draft_id, actor.user.id)
        if row is None or row.agency_id != actor.agency.id:
            raise NotFound(_NOT_FOUND)
        return row

    async def open(self, actor: Actor, draft_id: str) -> SavedDraft:
        """The owner's draft, every field and attachment; NotFound for anyone else."""
        row = await self._row(actor, draft_id)
        return SavedDraft(row.id, await self._unseal(actor, row), row.created_at, row.updated_at)

    async def count(self, actor: Actor) -> int:
        """How many drafts the person keeps (nothing is decrypted)."""
        self._packets.require_sender(actor)
        async with self._db.read() as conn:
            return await store.count_of(conn, actor.user.id, actor.agency.id)

    async def list(self, actor: Actor) -> list[SavedDraftSummary]:
        """The owner's drafts, the most recently saved first."""
        self._packets.require_sender(actor)
        async with self._db.read() as conn:
            rows = [
                r
                for r in await store.drafts_of(conn, actor.user.id, MAX_DRAFTS * 2)
                if r.agency_id == actor.agency.id
            ]
        opened: list[tuple[SavedDraftRow, DraftContent | None]] = []
        for row in rows:
            try:
                opened.append((row, await self._unseal(actor, row)))
            except (CryptoFailure, KeysHeldElsewhere):
                opened.append((row, None))  # listed, so that its owner can delete it
        async with self._db.read() as conn:
            references = await self._references(
                conn, actor, [c for _, c in opened if c is not None]
            )
        return [
            SavedDraftSummary(
                id=r.id,
                packet_type=_kind(r.packet_type) if c is None else c.packet_type,
                case_id=None if c is None else c.case_id,
                case_reference=None
                if c is None or c.case_id is None
                else references.get(c.case_id),
                subject=UNREADABLE_SUBJECT if c is None else c.subject,
                attachment_count=0 if c is None else len(c.attachments),
                updated_at=r.updated_at,
                readable=c is not None,
            )
            for r, c in opened
        ]

    @staticmethod
    async def _references(
        conn: AsyncConnection, actor: Actor, contents: Sequence[DraftContent]
    ) -> dict[int, str]:
        """References of the cases the drafts name, for cases the owner may see: a case id put
        into a draft by hand must not reveal another area's case reference."""
        out: dict[int, str] = {}
        for case_id in {c.case_id for c in contents if c.case_id is not None}:
            case = await case_store.case_by_id(conn, case_id)
            if case is not None and case.area_id == actor.agency.area_id:
                out[case_id] = case.reference
        return out

    async def discard(self, actor: Actor, draft_id: str) -> None:
        """Delete the owner's draft (after sending it, or when the owner asks)."""
        await self._row(actor, draft_id)
        async with self._db.write() as conn:
            if not await store.delete_draft(conn, draft_id, actor.user.id):
                raise NotFound(_NOT_FOUND)

    async def send(self, actor: Actor, draft: Draft, draft_id: str | None) -> PacketSummary:
        """Send a packet written from the owner's saved draft ``draft_id`` (checked first), and
        delete the draft once the packet is sent or held for approval: it is no longer a draft."""
        if draft_id is not None:
            await self._row(actor, draft_id)
        sent = await self._packets.send(actor, draft)
        if draft_id is not None:
            async with self._db.write() as conn:
                await store.delete_draft(conn, draft_id, actor.user.id)
        return sent

    async def _unseal(self, actor: Actor, row: SavedDraftRow) -> DraftContent:
        binding = _binding(row.id, row.owner_user_id)
        packet = fmt.SealedPacket.from_envelope(row.sealed)
        signer = await self._keyring.key(packet.signer_key_id)
        if (
            signer is None
            or signer.agency_id != row.agency_id
            or signer.purpose != KeyPurpose.SIGNING.value
        ):
            raise CryptoFailure("saved draft signed by a key not of its agency")
        header = fmt.verify_header(packet, signer.public_key)
        if header.get("packet_id") != binding or header.get("type") != DRAFT_HEADER_TYPE:
            raise CryptoFailure("saved draft header names another draft")
        privates: dict[str, SecretBytes] = {}
        for wrapped in packet.wrapped_keys:
            stored = await self._keyring.key(wrapped.key_id)
            if stored is not None and stored.agency_id == row.agency_id and stored.held_by_hub:
                privates[wrapped.key_id] = self._keyring.private(stored)
        content_key = fmt.unwrap_content_key(packet, actor.agency.code, privates.get)
        manifest = fmt.decrypt_manifest(packet, binding, content_key)
        body = fmt.decrypt_body(packet, binding, content_key)
        doc = fmt.decrypt_form(packet, binding, content_key)
        attachments = tuple(
            AttachmentIn(
                entry.filename,
                entry.content_type,
                fmt.decrypt_attachment(packet, binding, content_key, entry),
            )
            for entry in manifest.attachments
        )
        if doc is None or doc.get("schema") != _CONTENT_SCHEMA:
            raise CryptoFailure("saved draft content has an unknown schema")
        return _content(doc["fields"], manifest, body, attachments)


def _is_draft_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _kind(value: str) -> PacketType:
    try:
        return PacketType(value)
    except ValueError:
        return PacketType.NOTE


def _content(
    fields: Mapping[str, Any],
    manifest: fmt.Manifest,
    body: str,
    attachments: tuple[AttachmentIn, ...],
) -> DraftContent:
    """The fields of an opened draft, each checked for its type (a draft is authenticated, but a
    reader never trusts a stored shape)."""
    try:
        case_id = fields.get("case_id")
        form = fields.get("form")
        return DraftContent(
            packet_type=PacketType(str(fields["packet_type"])),
            case_id=case_id if isinstance(case_id, int) else None,
            recipient_agency_ids=tuple(
                int(i) for i in fields.get("recipient_agency_ids", []) if isinstance(i, int)
            ),
            subject=manifest.subject,
            body=body,
            purpose=str(fields.get("purpose", "")),
            lawful_basis=str(fields.get("lawful_basis", "")),
            schedule1_condition=str(fields.get("schedule1_condition", "")),
            restricted_reason=str(fields.get("restricted_reason", "")),
            data_categories=tuple(str(c) for c in fields.get("data_categories", [])),
            necessity=dict(manifest.necessity),
            reply_to=str(fields.get("reply_to", "")),
            form=form if isinstance(form, dict) else None,
            attachments=attachments,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CryptoFailure("saved draft content is malformed") from exc
