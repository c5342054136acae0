"""A transfer between two hubs told step by step to the other hub: the sending hub's proposal
reaches the receiving area's coordinator there, whose acceptance or refusal comes back, and a
cancellation before sending goes out too.

Each step that the other hub must hear of sets ``transfers.peer_owed`` in its own transaction
(``owe``); adapters/transfer's delivery job sends what is owed over a signed call and clears it
once the peer's signed answer says it has it (``delivered``), or keeps the refusal's words and
tries again later (``failed``). The receiving side of each message (``record_peer_*``) is
idempotent - the same message twice changes nothing - because a message whose answer was lost
is sent again. Federation verifies the peer's signature before any of these is called.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import Conflict, InvalidInput, NotFound
from hub.ledger.entries import Action, Event
from hub.model.transfers import PeerMessage, Transfer, TransferState
from hub.services import notices
from hub.services.transfer_completion import TransferCompletion
from hub.services.transfer_exchange import MAX_REASON_CHARS, get, text
from hub.services.transfer_rules import check_crossing
from hub.services.transfer_steps import CHANNEL, cancel_deadline, log_step, next_deadline, tell
from hub.store import directory as directory_store
from hub.store import transfer_bundles as bundle_store
from hub.store import transfers as store
from hub.workflows.deadlines import ItemKind

S = TransferState
M = PeerMessage
# Backoff between attempts to tell a peer: doubling from 30 s, at most an hour, with jitter.
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
MAX_ERROR_CHARS = 300
_CODE_CHARS = 32


@dataclass(frozen=True)
class PeerProposal:
    """A proposal as the sending hub sent it (``TransferPeerSteps.message``)."""

    sending_transfer_id: int
    case_reference: str
    sending_area_code: str
    sending_jurisdiction: str
    receiving_area_code: str
    reason: str
    proposed_date: date
    meeting_held_on: date | None
    proposed_by: str = ""

    @classmethod
    def from_json(cls, body: Any) -> PeerProposal:
        """Strictly typed: a number where a string is expected (or the reverse) is refused."""
        held = _field(body, "meeting_held_on", str, optional=True)
        by = _field(body, "proposed_by", str, optional=True)
        return cls(
            sending_transfer_id=_field(body, "transfer", int),
            case_reference=_code(body, "case_reference"),
            sending_area_code=_code(body, "sending_area"),
            sending_jurisdiction=_code(body, "sending_jurisdiction"),
            receiving_area_code=_code(body, "receiving_area"),
            reason=text(_field(body, "reason", str), "reason", "the reason for the transfer"),
            proposed_date=_date(_field(body, "proposed_date", str), "proposed_date"),
            meeting_held_on=_date(held, "meeting_held_on") if held else None,
            proposed_by=(by or "").strip()[:200],
        )


@dataclass(frozen=True)
class PeerDecision:
    """The receiving hub's coordinator's decision, as that hub sent it."""

    sending_transfer_id: int
    receiving_transfer_id: int
    accepted: bool
    reasons: str
    decided_by: str
    new_lead_agency_code: str | None

    @classmethod
    def from_json(cls, body: Any) -> PeerDecision:
        lead = _field(body, "lead_agency", str, optional=True)
        return cls(
            sending_transfer_id=_field(body, "transfer", int),
            receiving_transfer_id=_field(body, "receiving_transfer", int),
            accepted=_field(body, "accepted", bool),
            reasons=_field(body, "reasons", str),
            decided_by=_field(body, "decided_by", str),
            new_lead_agency_code=lead,
        )


def _field(body: Any, name: str, kind: type, *, optional: bool = False) -> Any:
    if not isinstance(body, dict):
        raise InvalidInput("The message is a JSON object.")
    value = body.get(name)
    if value is None and optional:
        return None
    # bool is an int in Python: an integer field must not take true/false, nor the reverse.
    if type(value) is not kind:
        raise InvalidInput(f"'{name}' must be a {kind.__name__}.", field=name)
    return value


def _code(body: Any, name: str) -> str:
    value = str(_field(body, name, str)).strip()
    if not value or len(value) > _CODE_CHARS or not value.replace("-", "").isalnum():
        raise InvalidInput(f"'{name}' is not a code this hub uses.", field=name)
    return value


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'{name}' is a date, YYYY-MM-DD.", field=name) from None


def retry_after(attempts: int) -> timedelta:
    """How long to wait before attempt ``attempts + 1``."""
    ceiling = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** min(attempts, 12))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter only


async def owe(
    conn: AsyncConnection, transfer: Transfer, message: PeerMessage, when: datetime
) -> None:
    """Owe ``message`` to the transfer's peer, in the transaction of the step that causes it."""
    await store.set_values(
        conn, transfer.id, peer_owed=message.value, peer_attempts=0, peer_next_at=when,
        peer_error=None,
    )  # fmt: skip


class TransferPeerSteps(TransferCompletion):
    """The steps another hub causes here, and what this hub owes its peers."""

    # -- what this hub owes ---------------------------------------------------------------

    async def owed_to_peers(
        self, transfer_id: int | None = None, limit: int = 50
    ) -> list[Transfer]:
        """Transfers with a message due for their peer now (or that one transfer's, due or not)."""
        async with self._db.read() as conn:
            if transfer_id is not None:
                found = await store.transfer_by_id(conn, transfer_id)
                return [found] if found is not None and found.peer_owed else []
            return await store.owed_to_peers(conn, self._clock.now(), limit)

    async def message(self, transfer: Transfer) -> tuple[PeerMessage, dict[str, Any]]:
        """The message a transfer owes its peer, as JSON for the signed call."""
        owed = PeerMessage(transfer.peer_owed or "")
        if owed is M.PROPOSAL:
            async with self._db.read() as conn:
                proposer = await directory_store.user_by_id(conn, transfer.proposer_person_id or 0)
            return owed, {
                "proposed_by": proposer.display_name if proposer else "",
                "transfer": transfer.id,
                "case_reference": transfer.case_reference,
                "sending_area": transfer.sending_area_code,
                "sending_jurisdiction": transfer.sending_jurisdiction,
                "receiving_area": transfer.receiving_area_code,
                "reason": transfer.reason,
                "proposed_date": transfer.proposed_date.isoformat(),
                "meeting_held_on": (
                    transfer.meeting_held_on.isoformat() if transfer.meeting_held_on else None
                ),
            }
        if owed is M.DECISION:
            async with self._db.read() as conn:
                person = await directory_store.user_by_id(conn, transfer.decided_by_person_id or 0)
            return owed, {
                "transfer": int(transfer.remote_id or 0),
                "receiving_transfer": transfer.id,
                "accepted": transfer.state is not S.DECLINED,
                "reasons": transfer.decision_reasons or "",
                "decided_by": person.display_name if person else "",
                "lead_agency": transfer.new_lead_agency_code,
            }
        return owed, {"transfer": transfer.id}

    async def delivered(self, transfer_id: int, message: PeerMessage, answer: Any) -> None:
        """The peer's signed answer says it has ``message``; a proposal's answer names the
        transfer's id on the peer, kept to match its decision and its bundle."""
        remote = answer.get("transfer") if isinstance(answer, dict) else None
        async with self._db.write() as conn:
            values: dict[str, Any] = {}
            if message is M.PROPOSAL and type(remote) is int:
                values["remote_id"] = str(remote)
            await store.peer_delivered(conn, transfer_id, message.value, **values)

    async def failed(self, transfer_id: int, message: PeerMessage, error: str) -> datetime:
        """Not delivered: the words kept for the coordinator, the next attempt set later."""
        async with self._db.write() as conn:
            transfer = await get(conn, transfer_id)
            when = self._clock.now() + retry_after(transfer.peer_attempts)
            await store.peer_failed(conn, transfer_id, message.value, error[:MAX_ERROR_CHARS], when)
            return when

    # -- on the receiving hub: a proposal, a cancellation ---------------------------------

    async def accepted_from_peers(self) -> list[Transfer]:
        """Accepted here from a peer hub, the case file not yet recorded as received."""
        async with self._db.read() as conn:
            return await store.accepted_from_peers(conn)

    async def import_after_acceptance(
        self, transfer: Transfer, sender_key: bytes
    ) -> bundle_store.ImportRow | None:
        """The bundle of the transfer's case the peer (``sender_key``) uploaded, imported here
        and acknowledged since the transfer was accepted, if there is one."""
        async with self._db.read() as conn:
            return await bundle_store.peer_import_since(
                conn, reference=transfer.case_reference, sender_key=sender_key.hex(),
                to_area=transfer.receiving_area_code,
                since=transfer.decided_at or transfer.created_at,
            )  # fmt: skip

    async def record_peer_proposal(self, peer_name: str, proposal: PeerProposal) -> Transfer:
        """A pinned peer proposes a transfer into an area of this hub: made here, proposed, for
        the area's coordinators to decide. This hub's own rules apply: the crossing must be one
        it allows, and the MAPPA meeting before transfer is required if its policy says so."""
        now = self._clock.now()
        async with self._db.write() as conn:
            remote = str(proposal.sending_transfer_id)
            earlier = await store.transfer_by_remote(conn, peer_name, remote)
            if earlier is not None:
                return earlier  # the same proposal again: its answer was lost
            area = await directory_store.area_by_code(conn, proposal.receiving_area_code.upper())
            if area is None:
                raise NotFound(
                    f"Area {proposal.receiving_area_code} is not on this hub.",
                    code="transfer_wrong_area",
                )
            check_crossing(self._policy.current, proposal.sending_jurisdiction,
                           area.jurisdiction.value)  # fmt: skip
            if self.rules.meeting_required and proposal.meeting_held_on is None:
                raise InvalidInput(
                    f"{self.rules.meeting_label}: this hub takes no transfer proposed without "
                    "the MAPPA meeting held before it.",
                    code="transfer_meeting_required",
                )
            try:
                transfer_id = await store.insert_transfer(
                    conn,
                    case_id=None,
                    case_reference=proposal.case_reference,
                    state=S.PROPOSED.value,
                    sending_area_code=proposal.sending_area_code,
                    receiving_area_code=area.code,
                    receiving_area_id=area.id,
                    sending_jurisdiction=proposal.sending_jurisdiction,
                    receiving_jurisdiction=area.jurisdiction.value,
                    peer_name=peer_name,
                    remote_id=remote,
                    reason=proposal.reason[:MAX_REASON_CHARS],
                    proposed_date=proposal.proposed_date,
                    meeting_held_on=proposal.meeting_held_on,
                    proposer_name=proposal.proposed_by or None,
                    created_at=now,
                    updated_at=now,
                )
            except IntegrityError:  # the same proposal, a moment ago, in another process
                raise Conflict("This transfer has already been proposed here.") from None
            transfer = await get(conn, transfer_id)
            # Collection: the reason names the person and why they move.
            await log_step(
                conn, None, transfer, Event.TRANSFER_PROPOSED, now, action=Action.COLLECTION,
                lawful_basis=self._basis(area.jurisdiction.value),
                detail=f"peer-proposal:{peer_name}:{remote}", channel=CHANNEL,
            )  # fmt: skip
            # No deadline item here: there is no case on this hub until the bundle comes. The
            # sending hub holds the decision's deadline and escalates it.
            await tell(conn, transfer, notices.Notice.TRANSFER_AWAITING, "proposed", area.id, now)
            return await get(conn, transfer_id)

    async def record_peer_cancellation(self, peer_name: str, sending_transfer_id: int) -> Transfer:
        """The sending hub withdrew a transfer before sending the case file."""
        now = self._clock.now()
        async with self._db.write() as conn:
            transfer = await store.transfer_by_remote(conn, peer_name, str(sending_transfer_id))
            if transfer is None:
                raise NotFound("No such transfer.")
            if transfer.state is S.CANCELLED:
                return transfer
            # A decision still owed to the sender is moot now: it is not sent.
            if not await store.move(conn, transfer.id, [S.PROPOSED, S.ACCEPTED], S.CANCELLED,
                                    now, cancelled_at=now,
                                    decision_reasons=transfer.decision_reasons, peer_owed=None,
                                    peer_next_at=None, peer_error=None):  # fmt: skip
                raise Conflict("The case file has already been received: too late to cancel.")
            await log_step(
                conn, None, transfer, Event.TRANSFER_CANCELLED, now,
                lawful_basis=self._basis(transfer.receiving_jurisdiction),
                detail=f"peer-cancelled:{peer_name}",
            )  # fmt: skip
            await cancel_deadline(conn, transfer, now)
            await tell(conn, transfer, notices.Notice.TRANSFER_DECIDED, "cancelled",
                       transfer.receiving_area_id, now)  # fmt: skip
            return await get(conn, transfer.id)

    # -- on the sending hub: the peer's decision ------------------------------------------

    async def record_peer_decision(
        self,
        transfer_id: int,
        *,
        peer_name: str,
        accepted: bool,
        reasons: str,
        decided_by: str,
        new_lead_agency_code: str | None = None,
        receiving_transfer_id: int | None = None,
    ) -> Transfer:
        """The receiving area's coordinator on a peer hub decided (federation verified the peer's
        signed request before calling): accepted (naming the lead agency there) or declined.
        The same decision again changes nothing; a different one is refused."""
        reasons = text(reasons, "reasons", "the reasons for the decision")
        person = text(decided_by, "decided_by", "who decided")[:200]
        now = self._clock.now()
        to = S.ACCEPTED if accepted else S.DECLINED
        lead = (new_lead_agency_code or "").strip().upper() or None
        if accepted and lead is None:
            raise InvalidInput("An acceptance names the new lead agency.", field="lead_agency")
        async with self._db.write() as conn:
            transfer = await get(conn, transfer_id)
            if transfer.peer_name != peer_name or transfer.sending_area_id is None:
                raise NotFound("No such transfer.")
            if transfer.decided_at is not None and transfer.state is not S.CANCELLED:
                if (transfer.state is S.DECLINED) == (not accepted):
                    return transfer  # this decision again: its answer was lost
                raise Conflict("This transfer has already been decided.")
            values: dict[str, Any] = {}
            if receiving_transfer_id is not None and transfer.remote_id is None:
                values["remote_id"] = str(receiving_transfer_id)
            if not await store.move(
                conn, transfer.id, [S.PROPOSED], to, now, decided_by_name=person,
                decision_reasons=reasons, decided_at=now, new_lead_agency_code=lead, **values,
            ):  # fmt: skip
                raise Conflict("This transfer is no longer awaiting a decision.")
            await log_step(
                conn, None, transfer,
                Event.TRANSFER_ACCEPTED if accepted else Event.TRANSFER_DECLINED, now,
                lawful_basis=self._basis(transfer.sending_jurisdiction),
                detail=f"peer:{peer_name}:{to.value}:{lead or ''}",
            )  # fmt: skip
            await next_deadline(
                conn,
                transfer,
                now,
                kind=ItemKind.TRANSFER_SEND if accepted else None,
                area_id=transfer.sending_area_id,
                owner_agency_id=transfer.proposer_agency_id,
                working_days=self.rules.send_days,
            )
            await tell(
                conn, transfer, notices.Notice.TRANSFER_DECIDED, to.value,
                transfer.sending_area_id, now,
            )  # fmt: skip
            return await get(conn, transfer.id)
