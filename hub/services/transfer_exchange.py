"""The transfer steps that move the case file: sent and received. adapters/transfer (bundles)
and federation (hub to hub) call these once a bundle is built or verified. Within one hub
adapters/transfer's ``send_within_hub`` checks ``sendable_within_hub``, builds the bundle,
imports it here and calls ``mark_sent``; the receiving coordinator's ``confirm_received``
(``transfer_completion``) completes it. Every step on the log, in its transaction, with the
next step's deadline."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.errors import Conflict, Forbidden, IntegrityFailure, InvalidInput, NotFound
from hub.ledger.entries import Action, Event
from hub.model.directory import Role, User
from hub.model.transfers import Transfer, TransferState
from hub.policy.transfer import TransferPolicy
from hub.services import notices
from hub.services.actor import Actor
from hub.services.policy import PolicyService
from hub.services.transfer_rules import (
    check_crossing,
    rules_for,
    transfer_policy,
)
from hub.services.transfer_steps import CHANNEL, log_step, next_deadline, tell
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import transfers as store
from hub.store.database import Database
from hub.text import check_text
from hub.workflows.deadlines import ItemKind

MAX_REASON_CHARS = 5000
S = TransferState
_DIGEST_CHARS = 64


@dataclass(frozen=True)
class ReceivedBundle:
    """What a verified bundle says of its transfer (adapters/transfer reads it from the bag)."""

    # The transfer's id on the sending hub.
    sending_transfer_id: int
    # Hex SHA-256 of the bundle, as the sending hub recorded it in ``mark_sent``.
    bundle_digest: str
    case_reference: str
    sending_area_code: str
    sending_jurisdiction: str
    receiving_area_code: str
    reason: str
    proposed_date: date
    meeting_held_on: date | None = None
    new_lead_agency_code: str | None = None
    # The pinned peer hub it came from; None when this very hub sent it.
    peer_name: str | None = None


def text(value: str, field: str, what: str) -> str:
    """A reason of several lines, as typed: refused only for what no text may hold
    (``hub.text.check_text``); other hidden characters are shown visibly where it is displayed."""
    value = check_text(value.strip(), field, what)
    if not value:
        raise InvalidInput(f"Give {what}.", field=field)
    if len(value) > MAX_REASON_CHARS:
        raise InvalidInput(f"Keep {what} under {MAX_REASON_CHARS} characters.", field=field)
    return value


def coordinator(actor: Actor, doing: str) -> User:
    """The person acting as a MAPPA coordinator: a signed-in coordinator, or the coordinator a
    token acts for. A token that names nobody, and every other role, is refused."""
    if not actor.has_role(Role.COORDINATOR):
        raise Forbidden(f"Only a MAPPA coordinator can {doing}.")
    person = actor.person
    if person is None:
        raise Forbidden(
            "This token acts for no named person: send On-Behalf-Of with the username of the "
            f"coordinator who will {doing}.",
            code="person_required",
        )
    if person.role is not Role.COORDINATOR:
        raise Forbidden(f"Only a MAPPA coordinator can {doing}.")
    return person


async def get(conn: AsyncConnection, transfer_id: int) -> Transfer:
    transfer = await store.transfer_by_id(conn, transfer_id)
    if transfer is None:
        raise NotFound("No such transfer.")
    return transfer


def digest_field(value: str, field: str) -> str:
    value = value.strip().lower()
    if len(value) != _DIGEST_CHARS or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInput("A digest is 64 hexadecimal characters (SHA-256).", field=field)
    return value


class TransferExchange:
    def __init__(self, db: Database, clock: Clock, policy: PolicyService) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy

    @property
    def rules(self) -> TransferPolicy:
        return transfer_policy(self._policy.current)

    def _basis(self, jurisdiction: str) -> str:
        return rules_for(self._policy.current, jurisdiction).lawful_basis

    async def transfer_by_id(self, transfer_id: int) -> Transfer:
        """A transfer for the adapters (the operator's CLI or a verified peer): no actor."""
        async with self._db.read() as conn:
            return await get(conn, transfer_id)

    # -- sent ------------------------------------------------------------------------------

    async def mark_sent(
        self, transfer_id: int, bundle_digest: str, actor: Actor | None = None
    ) -> Transfer:
        """The accepted case file has gone: a disclosure on the ``transfer`` channel. ``actor``
        None is the operator or the hub's own federation client."""
        digest = digest_field(bundle_digest, "bundle_digest")
        if actor is not None:
            coordinator(actor, "send a transfer")
        now = self._clock.now()
        async with self._db.write() as conn:
            transfer = await get(conn, transfer_id)
            if actor is not None and transfer.sending_area_id != actor.agency.area_id:
                raise Forbidden("Only the sending area sends the case file.")
            if transfer.sending_area_id is None:
                raise Conflict("This hub received this transfer; it does not send it.")
            if not await store.move(
                conn,
                transfer.id,
                [S.ACCEPTED],
                S.SENT,
                now,
                bundle_digest=digest,
                sent_at=now,
                sent_by_user_id=actor.user.id if actor else None,
            ):
                raise Conflict("Only an accepted transfer not yet sent can be sent.")
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_SENT,
                now,
                action=Action.DISCLOSURE,
                lawful_basis=self._basis(transfer.sending_jurisdiction),
                detail=f"sent:{digest}",
                recipients=[a for a in (transfer.new_lead_agency_id,) if a],
                channel=CHANNEL,
            )
            local = transfer.receiving_area_id is not None
            # Within one hub the receiving area confirms receipt; to a peer, the sending area
            # waits for the peer's signed acknowledgement.
            await next_deadline(
                conn,
                transfer,
                now,
                kind=ItemKind.TRANSFER_RECEIPT,
                area_id=transfer.receiving_area_id if local else transfer.sending_area_id,
                owner_agency_id=transfer.new_lead_agency_id
                if local
                else transfer.proposer_agency_id,
                working_days=self.rules.receive_days,
            )
            if local:
                await tell(
                    conn, transfer, notices.Notice.TRANSFER_AWAITING, "sent",
                    transfer.receiving_area_id, now,
                )  # fmt: skip
            return await get(conn, transfer.id)

    async def sendable_within_hub(self, actor: Actor, transfer_id: int) -> Transfer:
        """Check, before any bundle is built, that ``actor`` may send this transfer within this
        hub: the sending area's coordinator, an accepted transfer to an area of this hub.
        adapters/transfer then builds the signed bundle, imports it here (the receiving
        agencies' wrapped keys) and calls ``mark_sent`` with its digest."""
        transfer = await self._visible_to_coordinator(actor, transfer_id)
        if transfer.receiving_area_id is None:
            raise Conflict("A transfer to another hub is sent as a bundle (transfer export).")
        if transfer.sending_area_id != actor.agency.area_id:
            raise Forbidden("Only the sending area sends the case file.")
        if transfer.state is not S.ACCEPTED:
            raise Conflict("Only an accepted transfer not yet sent can be sent.")
        return transfer

    async def _visible_to_coordinator(self, actor: Actor, transfer_id: int) -> Transfer:
        coordinator(actor, "move a transfer on")
        async with self._db.read() as conn:
            transfer = await store.transfer_by_id(conn, transfer_id)
        if transfer is None or actor.agency.area_id not in (
            transfer.sending_area_id,
            transfer.receiving_area_id,
        ):
            raise NotFound("No such transfer.")
        return transfer

    # -- received --------------------------------------------------------------------------

    async def record_received(
        self, bundle: ReceivedBundle, *, case_id: int | None = None, actor: Actor | None = None
    ) -> Transfer:
        """A verified bundle has arrived. From this hub: the transfer it names moves to
        received (its digest must be the one sent). From a peer: a transfer row is made here,
        in state received, for a receiving area of this hub; the same bundle twice is refused."""
        digest = digest_field(bundle.bundle_digest, "bundle_digest")
        now = self._clock.now()
        async with self._db.write() as conn:
            if bundle.peer_name is None:
                transfer = await get(conn, bundle.sending_transfer_id)
                if actor is not None and transfer.receiving_area_id != actor.agency.area_id:
                    raise Forbidden("Only the receiving area confirms receipt.")
                if transfer.state is not S.SENT:
                    raise Conflict("Only a transfer that was sent can be received.")
                if not hmac.compare_digest(transfer.bundle_digest or "", digest):
                    raise IntegrityFailure("The case file is not the one that was sent.")
                await store.move(conn, transfer.id, [S.SENT], S.RECEIVED, now, received_at=now)
            else:
                transfer = await self._insert_received(conn, bundle, digest, case_id, now)
            await log_step(
                conn,
                actor,
                transfer,
                Event.TRANSFER_RECEIVED,
                now,
                action=Action.COLLECTION,
                lawful_basis=self._basis(transfer.receiving_jurisdiction),
                detail=f"received:{digest}",
                channel=CHANNEL,
            )
            return await get(conn, transfer.id)

    async def _insert_received(
        self,
        conn: AsyncConnection,
        bundle: ReceivedBundle,
        digest: str,
        case_id: int | None,
        now: datetime,
    ) -> Transfer:
        area = await directory_store.area_by_code(conn, bundle.receiving_area_code.upper())
        if area is None:
            raise Forbidden(
                f"This bundle is for area {bundle.receiving_area_code}, which is not on this hub.",
                code="transfer_wrong_area",
            )
        check_crossing(self._policy.current, bundle.sending_jurisdiction, area.jurisdiction.value)
        remote = str(bundle.sending_transfer_id)
        if case_id is not None and await case_store.case_by_id(conn, case_id) is None:
            raise NotFound("No such case.")
        earlier = await store.transfer_by_remote(conn, bundle.peer_name or "", remote)
        if earlier is not None:
            # Proposed to this hub and accepted here: the case file for that acceptance.
            if earlier.state is S.PROPOSED:
                raise Conflict("This transfer has not been accepted here: no case file yet.")
            if earlier.state is not S.ACCEPTED or earlier.receiving_area_id != area.id:
                raise Conflict("This transfer's bundle has already been received.")
            if (bundle.new_lead_agency_code or "") != (earlier.new_lead_agency_code or ""):
                raise Conflict("The case file names another lead agency than the one accepted.")
            await store.move(conn, earlier.id, [S.ACCEPTED], S.RECEIVED, now, case_id=case_id,
                             bundle_digest=digest, received_at=now)  # fmt: skip
            return await get(conn, earlier.id)
        lead = (
            await directory_store.agency_by_code(conn, bundle.new_lead_agency_code)
            if bundle.new_lead_agency_code
            else None
        )
        try:
            transfer_id = await store.insert_transfer(
                conn,
                case_id=case_id,
                case_reference=bundle.case_reference,
                state=S.RECEIVED.value,
                sending_area_code=bundle.sending_area_code,
                receiving_area_code=area.code,
                receiving_area_id=area.id,
                sending_jurisdiction=bundle.sending_jurisdiction,
                receiving_jurisdiction=area.jurisdiction.value,
                peer_name=bundle.peer_name,
                remote_id=remote,
                reason=bundle.reason[:MAX_REASON_CHARS],
                proposed_date=bundle.proposed_date,
                meeting_held_on=bundle.meeting_held_on,
                new_lead_agency_id=lead.id if lead and lead.area_id == area.id else None,
                new_lead_agency_code=bundle.new_lead_agency_code,
                bundle_digest=digest,
                received_at=now,
                created_at=now,
                updated_at=now,
            )
        except IntegrityError:  # the same bundle, a moment ago, in another process
            raise Conflict("This transfer's bundle has already been received.") from None
        return await get(conn, transfer_id)
