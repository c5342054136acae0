"""The last step of a transfer: completed. Within one hub the receiving area owns the case
(its category and level as the receiving jurisdiction records them, across a border); on the
sending side of a transfer between hubs the peer's signed acknowledgement closes it and the
sending area's agencies leave the case; on the receiving side the import is done and the new
lead agency takes the case over."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict, Forbidden, IntegrityFailure
from hub.ledger.entries import Event
from hub.model.transfers import Transfer, TransferState
from hub.services import notices
from hub.services.actor import Actor
from hub.services.transfer_exchange import ReceivedBundle, TransferExchange, digest_field, get
from hub.services.transfer_rules import map_for_jurisdiction
from hub.services.transfer_steps import log_step, next_deadline, tell
from hub.store import case_events as event_store
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import transfer_bundles as bundle_store
from hub.store import transfers as store
from hub.store import workflows as workflow_store
from hub.workflows.deadlines import ItemKind

S = TransferState
# Deadlines that follow a transferred case to the area that now manages it: the next review and a
# referral before release. Minutes and actions stay with whoever held the meeting or owns them.
FOLLOWS_THE_CASE = (ItemKind.REVIEW.value, ItemKind.REFERRAL.value)


class TransferCompletion(TransferExchange):
    async def confirm_received(self, actor: Actor, transfer_id: int) -> Transfer:
        """Within one hub: the receiving coordinator confirms the case file is there, and the
        transfer completes (the case's owning area and lead agency change)."""
        transfer = await self._visible_to_coordinator(actor, transfer_id)
        if transfer.receiving_area_id != actor.agency.area_id or transfer.peer_name:
            raise Forbidden("Only the receiving area confirms receipt.")
        if transfer.state is not S.SENT:
            raise Conflict("Only a transfer that was sent can be received.")
        async with self._db.read() as conn:
            imported = await bundle_store.imported_digest(conn, transfer.bundle_digest or "")
        if not imported:
            # The sending side imports the verified bundle before marking it sent.
            raise IntegrityFailure("The case file that was sent has not been verified here.")
        bundle = ReceivedBundle(
            sending_transfer_id=transfer.id,
            bundle_digest=transfer.bundle_digest or "",
            case_reference=transfer.case_reference,
            sending_area_code=transfer.sending_area_code,
            sending_jurisdiction=transfer.sending_jurisdiction,
            receiving_area_code=transfer.receiving_area_code,
            reason=transfer.reason,
            proposed_date=transfer.proposed_date,
        )
        await self.record_received(bundle, actor=actor)
        ack = sha256_hex(f"ack:{transfer.id}:{transfer.bundle_digest}".encode())
        return await self.complete(transfer.id, ack, actor)

    # -- completed -------------------------------------------------------------------------

    async def complete(
        self,
        transfer_id: int,
        ack_digest: str,
        actor: Actor | None = None,
        *,
        ack: bytes | None = None,
    ) -> Transfer:
        """Close a transfer. Within one hub (received): the receiving area owns the case. On the
        sending side of a hub-to-hub transfer (sent or received), with the peer's verified
        acknowledgement (``ack_digest``, its SHA-256): the sending area's agencies leave the
        case. On the receiving side (received): the import is done. ``ack``: the peer's signed
        acknowledgement itself, kept as evidence (its SHA-256 must be ``ack_digest``)."""
        digest = digest_field(ack_digest, "ack_digest")
        if ack is not None and not hmac.compare_digest(sha256_hex(ack), digest):
            raise IntegrityFailure("The acknowledgement is not the one whose digest is given.")
        now = self._clock.now()
        rules = self.rules
        until = now + timedelta(days=rules.read_days) if rules.keep else now
        async with self._db.write() as conn:
            transfer = await get(conn, transfer_id)
            outgoing_peer = transfer.peer_name is not None and transfer.sending_area_id is not None
            allowed = [S.SENT, S.RECEIVED] if outgoing_peer else [S.RECEIVED]
            values: dict[str, object] = {"ack_digest": digest, "completed_at": now}
            if ack is not None:
                values["ack"] = ack
            if transfer.sending_area_id is not None:
                values["sending_read_until"] = until
            if not await store.move(conn, transfer.id, allowed, S.COMPLETED, now, **values):
                raise Conflict("This transfer cannot be completed in its present state.")
            await self._hand_over(conn, transfer, now)
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_COMPLETED,
                now,
                lawful_basis=self._basis(transfer.receiving_jurisdiction),
                detail=f"completed:{digest}:area={transfer.receiving_area_code}",
                recipients=[a for a in (transfer.new_lead_agency_id,) if a],
            )
            await next_deadline(conn, transfer, now, kind=None, area_id=None, owner_agency_id=None)
            await tell(
                conn, transfer, notices.Notice.TRANSFER_DECIDED, "completed",
                transfer.sending_area_id, now,
            )  # fmt: skip
            return await get(conn, transfer.id)

    async def _regraded(self, conn: AsyncConnection, transfer: Transfer) -> tuple[int, int] | None:
        """Within one hub, across a border: the case's category and level as the receiving
        jurisdiction records them (policies/transfer.toml; the bundle said the same)."""
        if transfer.sending_jurisdiction == transfer.receiving_jurisdiction:
            return None
        case = await case_store.case_by_id(conn, transfer.case_id or 0)
        if case is None:  # pragma: no cover - the transfer's case exists (foreign key)
            return None
        mapped = map_for_jurisdiction(
            self._policy.current, transfer.sending_jurisdiction, transfer.receiving_jurisdiction,
            category=int(case.category), level=int(case.level),
        )  # fmt: skip
        return mapped.category, mapped.level

    async def _hand_over(self, conn: AsyncConnection, transfer: Transfer, now: datetime) -> None:
        if transfer.case_id is None:
            return
        if transfer.sending_area_id is None:
            # The receiving side of a hub-to-hub transfer: the import made the case under the
            # sending hub's area and lead agency; the receiving area and its new lead agency
            # take it over (nobody here leaves: the sending hub's agencies are not on it).
            if transfer.receiving_area_id is None or transfer.new_lead_agency_id is None:
                return
            await store.hand_over_case(
                conn,
                transfer.case_id,
                area_id=transfer.receiving_area_id,
                lead_agency_id=transfer.new_lead_agency_id,
                leaving_agency_ids=[],
                when=now,
            )
            await workflow_store.join_case(
                conn,
                transfer.case_id,
                {transfer.new_lead_agency_id},
                now,
            )
            return
        leaving = [
            a.id
            for a in await directory_store.list_agencies(conn)
            if a.area_id == transfer.sending_area_id
        ]
        if transfer.receiving_area_id is None:  # gone to a peer hub: the case leaves this one
            await store.leave_case(conn, transfer.case_id, leaving)
            await event_store.close_grading(conn, transfer.case_id, now)
            await workflow_store.hand_over_items(
                conn, transfer.case_id, FOLLOWS_THE_CASE, area_id=None, owner_agency_id=None,
                when=now,
            )  # fmt: skip
            return
        if transfer.new_lead_agency_id is None:  # pragma: no cover - set on acceptance
            raise Conflict("The transfer names no new lead agency.")
        await store.hand_over_case(
            conn,
            transfer.case_id,
            area_id=transfer.receiving_area_id,
            lead_agency_id=transfer.new_lead_agency_id,
            leaving_agency_ids=leaving,
            when=now,
            grading=await self._regraded(conn, transfer),
        )
        await workflow_store.hand_over_items(
            conn, transfer.case_id, FOLLOWS_THE_CASE, area_id=transfer.receiving_area_id,
            owner_agency_id=transfer.new_lead_agency_id, when=now,
        )  # fmt: skip
        await workflow_store.join_case(
            conn,
            transfer.case_id,
            {transfer.new_lead_agency_id},
            now,
        )
