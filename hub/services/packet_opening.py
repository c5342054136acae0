"""Opening packets: verify, decrypt for the reader's agency, and log the reading first.

Each opening by a signed-in person also marks the packet read for them (``packet_reads``), in the
transaction that logs it, for the inbox's unread markers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto import packet_format as fmt
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import sha256_hex
from hub.errors import Forbidden, Gone, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Agency
from hub.model.packets import (
    AttachmentMeta,
    Classification,
    OpenedPacket,
    PacketHeader,
    PacketType,
)
from hub.services.actor import Actor
from hub.services.content_keys import ContentKeys
from hub.services.keyring import KeyRing
from hub.services.log_writer import LogWriter, PendingWrite
from hub.services.packet_listing import require_reader, summary_of
from hub.services.refusals import refusal_on_case
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import packets as store
from hub.store import transfers as transfer_store
from hub.store.database import Database
from hub.store.packets import PacketRow, StoredWrappedKey


@dataclass(frozen=True)
class Attachment:
    meta: AttachmentMeta
    data: bytes


@dataclass(frozen=True)
class _Loaded:
    row: PacketRow
    wrapped: Sequence[StoredWrappedKey]
    parts: Mapping[str, bytes]
    agencies: Mapping[int, Agency]
    case_reference: str | None
    # Whose inboxes list it: held to the row's recipients, which the header is checked against.
    listed_to: tuple[int, ...]


class PacketReader:
    def __init__(
        self, db: Database, keyring: KeyRing, keys: ContentKeys, clock: Clock, log: LogWriter
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._keys = keys
        self._clock = clock
        self._log = log

    async def load_checked(
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
        require_reader(actor)

        async def load(conn: AsyncConnection) -> _Loaded:
            row = await store.packet_by_id(conn, packet_id)
            if row is None:
                raise NotFound("No such packet.")
            if (
                actor.agency.id != row.sender_agency_id
                and actor.agency.id not in row.recipient_agency_ids
                # A case transferred to the agency's area: the import gave it a wrapped key,
                # and it opens the case's earlier packets while active on the case.
                and not await store.holds_key_on_case(conn, actor.agency.id, row.id)
            ):
                if hide_unsent:
                    raise NotFound("No such packet.")
                raise await refusal_on_case(
                    conn,
                    actor,
                    row.case_id,
                    "This packet was not sent to your agency, so you cannot open it.",
                    "No such packet.",
                )
            if await transfer_store.read_ended(
                conn, row.case_id, actor.agency.area_id, row.created_at, self._clock.now()
            ):
                # The case was transferred away: the policy's read period for the sending area
                # is over (policies/transfer.toml, after_transfer).
                raise Forbidden(
                    "This case was transferred to another area and your area's read access to "
                    "its earlier packets has ended."
                )
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
            listed_to = await store.inbox_recipients(conn, packet_id)
            reference = case.reference if case else None
            return _Loaded(row, wrapped, parts, agencies, reference, listed_to)

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
        if loaded.listed_to != row.recipient_agency_ids:
            # The inbox index (which agencies list it) is a second copy of the recipients.
            raise CryptoFailure("the inboxes that list the packet disagree with its recipients")
        return row, sealed, header, loaded.case_reference

    async def open(
        self,
        actor: Actor,
        packet_id: str,
        check_case: Callable[[int], None] | None = None,
        hide_unsent: bool = False,
    ) -> OpenedPacket:
        row, sealed, header, reference = await self.load_checked(
            actor, packet_id, check_case, hide_unsent
        )
        content_key = await self._keys.content_key(actor.agency, sealed)
        manifest = fmt.decrypt_manifest(sealed, row.id, content_key)
        body = fmt.decrypt_body(sealed, row.id, content_key)
        form = fmt.decrypt_form(sealed, row.id, content_key)
        await self.log_consultation(actor, row, Event.PACKET_OPENED, sealed.header_bytes)
        summary = summary_of(row, reference or "?", manifest.subject, len(manifest.attachments))
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
        row, sealed, _, _ = await self.load_checked(actor, packet_id, check_case, hide_unsent)
        content_key = await self._keys.content_key(actor.agency, sealed)
        manifest = fmt.decrypt_manifest(sealed, row.id, content_key)
        if not 0 <= index < len(manifest.attachments):
            raise NotFound("No such attachment.")
        entry = manifest.attachments[index]
        data = fmt.decrypt_attachment(sealed, row.id, content_key, entry)
        await self.log_consultation(actor, row, Event.ATTACHMENT_OPENED, sealed.header_bytes)
        return Attachment(
            AttachmentMeta(index, entry.filename, entry.content_type, entry.size), data
        )

    async def log_consultation(
        self, actor: Actor, row: PacketRow, event: Event, header_bytes: bytes
    ) -> None:
        """Commit the consultation entry before any content leaves the service; a signed-in
        person's opening of a packet also marks it read for them, in the same transaction."""
        person_opens = event is Event.PACKET_OPENED and actor.token_id is None
        await self._log.submit(
            PendingWrite(
                when=self._clock.now(),
                read_by=actor.user.id if person_opens else None,
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

    async def sealed_envelope(self, actor: Actor, packet_id: str) -> bytes:
        """The packet in its portable form (format v1), for the actor's own agency to open."""
        _, sealed, _, _ = await self.load_checked(actor, packet_id)
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
