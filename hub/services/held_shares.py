"""Shares held for approval: what each party sees of them, and their content for the approvers.

A share the policy answers REVIEW is sealed as it will be sent and held (``share_approvals``);
until it is released no listing or lookup of packets shows it (``hub.store.packets``). Here: the
record of a held share for the sender's agency and for the approvers the policy names (the
approvals wanted, who decided what and why), and its content, which an approver reads through the
hub while it awaits approval, unwrapped with the sender agency's key (hub mode): an approver
cannot weigh a share they cannot see. Each reading is a consultation on the log. See SECURITY.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto import packet_format as fmt
from hub.crypto.errors import CryptoFailure
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.errors import Forbidden, Gone, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Agency, Role, User
from hub.model.packets import AttachmentMeta
from hub.services import ledger
from hub.services.actor import Actor
from hub.services.keyring import KeyRing, KeysHeldElsewhere
from hub.services.policy import PolicyService
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import held_shares as store
from hub.store import packets as packet_store
from hub.store.database import Database
from hub.store.held_shares import AWAITING, REFUSED, RELEASED, Need
from hub.store.packets import PacketRow

__all__ = ["AWAITING", "REFUSED", "RELEASED", "HeldShareService", "HeldShareView"]

# Who reads what their own agency holds (as ``PacketService``); auditors see the record only.
# Agency administrators manage tokens and keys and see no case content (least privilege).
_READERS = (Role.PRACTITIONER, Role.COORDINATOR, Role.SENIOR_MANAGER)


@dataclass(frozen=True)
class HeldAttachment:
    meta: AttachmentMeta
    data: bytes


@dataclass(frozen=True)
class HeldContent:
    """A held share's content, opened through the hub for an approver or the sender."""

    subject: str
    body: str
    attachments: tuple[AttachmentMeta, ...]
    necessity: Mapping[str, str]
    form: Mapping[str, Any] | None


@dataclass(frozen=True)
class HeldShareView:
    row: store.HeldShareRow
    packet: PacketRow
    case_reference: str
    sender_agency: Agency
    proposer: str
    recipients: tuple[Agency, ...]
    decisions: list[store.HeldDecisionRow]
    decided_by: dict[int, str]
    area_names: dict[int, str]
    # Approvals still wanted, by (role, area id).
    outstanding: dict[tuple[str, int], int]
    # Whether the viewing actor may decide it now.
    may_decide: bool = False
    # The verified signed header (one share's page; not in listings).
    header: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def needed(self) -> list[str]:
        return [
            need_label(n.role, n.count, self.area_names.get(n.area_id, "?"))
            for n in self.row.approvals_needed
        ]

    @property
    def awaiting(self) -> list[str]:
        return [
            need_label(role, count, self.area_names.get(area, "?"))
            for (role, area), count in self.outstanding.items()
        ]


def need_label(role: str, count: int, area: str) -> str:
    who = role.replace("-", " ")
    return f"{'a' if count == 1 else count} {who}{'' if count == 1 else 's'} of {area}"


def person_label(person: User | None, account: User) -> str:
    if person is None or person.id == account.id:
        return account.display_name
    return f"{person.display_name} (through {account.display_name})"


def outstanding(
    needs: Sequence[Need], decisions: Sequence[store.HeldDecisionRow]
) -> dict[tuple[str, int], int]:
    given = Counter((d.role, d.area_id) for d in decisions if d.decision == "approve")
    want = {(n.role, n.area_id): n.count for n in needs}
    return {key: n - given[key] for key, n in want.items() if n - given[key] > 0}


@dataclass(frozen=True)
class Sealed:
    """A held share's packet as stored, verified, with what opening it needs."""

    view: HeldShareView
    sealed: fmt.SealedPacket


class HeldShareService:
    def __init__(self, db: Database, keyring: KeyRing, policy: PolicyService, clock: Clock) -> None:
        self._db = db
        self._keyring = keyring
        self._policy = policy
        self._clock = clock

    # -- who may do what ---------------------------------------------------------------------

    @staticmethod
    def _approver_of(actor: Actor, row: store.HeldShareRow) -> bool:
        """The actor holds a role the share's approvals name, in an area they name."""
        return any(
            actor.has_role(Role(n.role)) and actor.agency.area_id == n.area_id
            for n in row.approvals_needed
        )

    def may_see(self, actor: Actor, row: store.HeldShareRow) -> bool:
        if actor.agency.id == row.proposer_agency_id:
            return actor.has_role(*_READERS, Role.AUDITOR)
        return self._approver_of(actor, row)

    def _may_open(self, actor: Actor, row: store.HeldShareRow) -> bool:
        if actor.agency.id == row.proposer_agency_id and actor.has_role(*_READERS):
            return True  # the sender's own agency holds it anyway
        return row.status == AWAITING and self._approver_of(actor, row)

    def may_open(self, actor: Actor, row: store.HeldShareRow) -> bool:
        """Whether ``open`` reads the share's content to the actor: for the page's link."""
        return self._may_open(actor, row)

    @staticmethod
    def is_proposer(actor: Actor, row: store.HeldShareRow) -> bool:
        person = actor.person
        people = {actor.user.id} | ({person.id} if person else set())
        return bool(people & {row.proposer_user_id, row.proposer_person_id})

    def _may_decide(
        self, actor: Actor, row: store.HeldShareRow, decisions: Sequence[store.HeldDecisionRow]
    ) -> bool:
        person = actor.person
        if person is None or row.status != AWAITING or self.is_proposer(actor, row):
            return False
        if actor.token_id is not None and not self._policy.current.delegated_decisions:
            return False
        if any(
            d.approver_person_id == person.id or d.approver_user_id == actor.user.id
            for d in decisions
        ):
            return False
        key = (person.role.value, actor.agency.area_id)
        return actor.has_role(person.role) and key in outstanding(row.approvals_needed, decisions)

    # -- reading -----------------------------------------------------------------------------

    async def views(
        self, conn: AsyncConnection, actor: Actor, rows: Sequence[store.HeldShareRow]
    ) -> list[HeldShareView]:
        decisions = await store.decisions_for(conn, [r.id for r in rows])
        packets = {}
        for r in rows:
            packet = await packet_store.packet_by_id(conn, r.packet_id, include_held=True)
            if packet is None:  # pragma: no cover - the foreign key keeps it
                raise NotFound("No such share.")
            packets[r.id] = packet
        users = await directory_store.users_by_ids(
            conn,
            sorted(
                {u for r in rows for u in (r.proposer_user_id, r.proposer_person_id)}
                | {u for d in decisions for u in (d.approver_user_id, d.approver_person_id)}
            ),
        )
        agencies = await directory_store.agencies_by_ids(
            conn,
            sorted(
                {r.proposer_agency_id for r in rows}
                | {a for p in packets.values() for a in p.recipient_agency_ids}
            ),
        )
        areas = {a.id: a.name for a in await directory_store.list_areas(conn)}
        references = await case_store.references_by_ids(conn, (r.case_id for r in rows))
        out = []
        for r in rows:
            mine = [d for d in decisions if d.held_share_id == r.id]
            out.append(
                HeldShareView(
                    row=r,
                    packet=packets[r.id],
                    case_reference=references.get(r.case_id, "?"),
                    sender_agency=agencies[r.proposer_agency_id],
                    proposer=person_label(
                        users.get(r.proposer_person_id), users[r.proposer_user_id]
                    ),
                    recipients=tuple(agencies[a] for a in packets[r.id].recipient_agency_ids),
                    decisions=mine,
                    decided_by={
                        d.id: person_label(
                            users.get(d.approver_person_id), users[d.approver_user_id]
                        )
                        for d in mine
                    },
                    area_names=areas,
                    outstanding=outstanding(r.approvals_needed, mine)
                    if r.status == AWAITING
                    else {},
                    may_decide=self._may_decide(actor, r, mine),
                )
            )
        return out

    async def queue(self, actor: Actor) -> list[HeldShareView]:
        """Shares awaiting an approval the actor's role gives in the actor's area, oldest first."""
        async with self._db.read() as conn:
            rows = [r for r in await store.awaiting(conn) if self._approver_of(actor, r)]
            return await self.views(conn, actor, rows)

    async def proposed(self, actor: Actor, *, unreleased: bool = False) -> list[HeldShareView]:
        """The actor's agency's shares held for approval, newest first: whatever became of them,
        or (``unreleased``) those still awaiting approval or refused."""
        if not actor.has_role(*_READERS, Role.AUDITOR):
            raise Forbidden("Your role does not see your agency's shares.")
        async with self._db.read() as conn:
            rows = await store.proposed_by_agency(conn, actor.agency.id, unreleased=unreleased)
            return await self.views(conn, actor, rows)

    async def get(self, actor: Actor, share_id: int) -> HeldShareView:
        """One share's record, with its verified header (no content; nothing to log)."""
        return (await self.load(actor, share_id)).view

    async def for_packet(self, actor: Actor, packet_id: str) -> HeldShareView | None:
        """The held share a packet belongs to, if the actor may see it."""
        async with self._db.read() as conn:
            row = await store.share_for_packet(conn, packet_id)
            if row is None or not self.may_see(actor, row):
                return None
            return (await self.views(conn, actor, [row]))[0]

    async def load(self, actor: Actor, share_id: int) -> Sealed:
        """The share the actor may see, its header verified as ``PacketService`` verifies one
        before opening it (signer, every part's digest, the columns it is routed by)."""

        async def load(conn: AsyncConnection) -> tuple[HeldShareView, dict[str, bytes], list[Any]]:
            row = await store.share_by_id(conn, share_id)
            if row is None or not self.may_see(actor, row):
                raise NotFound("No such share.")
            view = (await self.views(conn, actor, [row]))[0]
            stored = await packet_store.parts(conn, row.packet_id)
            keys = [
                w
                for w in await packet_store.wrapped_keys(conn, row.packet_id)
                if w.agency_id == row.proposer_agency_id
            ]
            return view, stored, keys

        view, stored, keys = await self._db.run_read(load)
        packet, sender = view.packet, view.sender_agency
        sealed = fmt.SealedPacket(
            packet.header,
            packet.signature,
            packet.signer_key_id,
            tuple(fmt.WrappedKey(sender.code, w.key_id, w.sealed) for w in keys),
            stored,
        )
        signer = await self._keyring.key(packet.signer_key_id)
        if signer is None or signer.agency_id != sender.id or signer.purpose != "ed25519":
            raise CryptoFailure("signer key is unknown or not the sender agency's")
        header = fmt.verify_header(sealed, signer.public_key)
        expected = {
            "packet_id": packet.id,
            "sender_agency": sender.code,
            "recipients": sorted(a.code for a in view.recipients),
            "case": view.case_reference,
            "type": packet.packet_type,
            "purpose": packet.purpose,
            "lawful_basis": packet.lawful_basis,
        }
        for name, value in expected.items():
            if header.get(name) != value:
                raise CryptoFailure(f"stored column {name} disagrees with the signed header")
        return Sealed(HeldShareView(**{**view.__dict__, "header": header}), sealed)

    async def content_key(self, sender: Agency, sealed: fmt.SealedPacket) -> SecretBytes:
        """Unwrap with the sender agency's private key, which the hub holds in hub mode."""
        if not sealed.wrapped_keys:
            raise Gone("This share's content has been erased (its keys were destroyed).")
        privates: dict[str, SecretBytes] = {}
        for wrapped in sealed.wrapped_keys:
            stored = await self._keyring.key(wrapped.key_id)
            if stored is not None and stored.agency_id == sender.id and stored.held_by_hub:
                privates[wrapped.key_id] = self._keyring.private(stored)
        if not privates:
            raise KeysHeldElsewhere()
        return fmt.unwrap_content_key(sealed, sender.code, privates.get)

    async def open(self, actor: Actor, share_id: int) -> tuple[HeldShareView, HeldContent]:
        """The content, for an approver while the share awaits approval, or for the sender's
        agency: logged as a consultation before any of it leaves the service."""
        loaded = await self.load(actor, share_id)
        view, sealed = loaded.view, loaded.sealed
        if not self._may_open(actor, view.row):
            raise Forbidden("Only the approvers the policy names read a share awaiting approval.")
        key = await self.content_key(view.sender_agency, sealed)
        manifest = fmt.decrypt_manifest(sealed, view.packet.id, key)
        content = HeldContent(
            subject=manifest.subject,
            body=fmt.decrypt_body(sealed, view.packet.id, key),
            attachments=tuple(
                AttachmentMeta(i, a.filename, a.content_type, a.size)
                for i, a in enumerate(manifest.attachments)
            ),
            necessity=dict(manifest.necessity),
            form=fmt.decrypt_form(sealed, view.packet.id, key),
        )
        await self._consulted(actor, view, Event.HELD_SHARE_OPENED)
        return view, content

    async def attachment(self, actor: Actor, share_id: int, index: int) -> HeldAttachment:
        loaded = await self.load(actor, share_id)
        view, sealed = loaded.view, loaded.sealed
        if not self._may_open(actor, view.row):
            raise Forbidden("Only the approvers the policy names read a share awaiting approval.")
        key = await self.content_key(view.sender_agency, sealed)
        manifest = fmt.decrypt_manifest(sealed, view.packet.id, key)
        if not 0 <= index < len(manifest.attachments):
            raise NotFound("No such attachment.")
        entry = manifest.attachments[index]
        data = fmt.decrypt_attachment(sealed, view.packet.id, key, entry)
        await self._consulted(actor, view, Event.HELD_ATTACHMENT_OPENED)
        return HeldAttachment(
            AttachmentMeta(index, entry.filename, entry.content_type, entry.size), data
        )

    async def _consulted(self, actor: Actor, view: HeldShareView, event: Event) -> None:
        record = Record(
            action=Action.CONSULTATION,
            event=event,
            recorded_at=self._clock.now(),
            actor_user_id=actor.user.id,
            actor_token_id=actor.token_id,
            actor_agency_id=actor.agency.id,
            case_id=view.row.case_id,
            packet_id=view.packet.id,
            recipients=(actor.agency.id,),
            purpose=view.packet.purpose,
            lawful_basis=view.packet.lawful_basis,
            content_digest=sha256_hex(view.packet.header),
        )

        async def write(conn: AsyncConnection) -> None:
            await ledger.append(conn, record)

        await self._db.run_write(write)
