"""Requests for information: the queue each agency answers, and the status each requester sees.

A request is asked by sending a ``request-for-information`` packet and answered by sending a
``response`` packet that names it (``services.packets`` with ``services.workflow_rules``). Declining
is recorded here, with the reason the requester is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.clock import Clock
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from hub.model.directory import Role
from hub.services.actor import Actor
from hub.services.refusals import refusal_on_case
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import workflows as store
from hub.store.database import Database
from hub.text import check_text
from hub.workflows.deadlines import is_overdue, local_date

MAX_REASON_CHARS = 2000
_HANDLERS = (Role.PRACTITIONER, Role.COORDINATOR)


@dataclass(frozen=True)
class RequestView:
    row: store.RequestRow
    case_reference: str
    requester_agency: str
    target_agency: str
    overdue: bool

    @property
    def id(self) -> int:
        return self.row.id


@dataclass(frozen=True)
class RequestQueue:
    incoming: list[RequestView]
    outgoing: list[RequestView]


class RequestService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def queue(self, actor: Actor) -> RequestQueue:
        """Requests addressed to the actor's agency (open first) and those it has made."""
        # Agency administrators manage tokens and keys and see no case content.
        if not actor.has_role(*_HANDLERS):
            raise Forbidden("Your role does not handle requests for information.")
        async with self._db.read() as conn:
            incoming = await store.requests_to(conn, actor.agency.id)
            outgoing = await store.requests_from(conn, actor.agency.id)
            rows = incoming + outgoing
            agencies = await directory_store.agencies_by_ids(
                conn, sorted({a for r in rows for a in (r.requester_agency_id, r.target_agency_id)})
            )
            refs = {}
            for case_id in {r.case_id for r in rows}:
                case = await case_store.case_by_id(conn, case_id)
                refs[case_id] = case.reference if case else "?"
        today = local_date(self._clock.now())

        def view(r: store.RequestRow) -> RequestView:
            return RequestView(
                row=r,
                case_reference=refs[r.case_id],
                requester_agency=agencies[r.requester_agency_id].name,
                target_agency=agencies[r.target_agency_id].name,
                overdue=r.status == store.OPEN and is_overdue(r.due_on, today),
            )

        incoming.sort(key=lambda r: (r.status != store.OPEN, r.due_on))
        return RequestQueue([view(r) for r in incoming], [view(r) for r in outgoing])

    async def get(self, actor: Actor, request_id: int) -> store.RequestRow:
        async with self._db.read() as conn:
            row = await store.request_by_id(conn, request_id)
            if row is None:
                raise NotFound("No such request for information.")
            if actor.agency.id not in (row.requester_agency_id, row.target_agency_id):
                raise await refusal_on_case(
                    conn,
                    actor,
                    row.case_id,
                    "This request is between other agencies.",
                    "No such request for information.",
                )
        return row

    async def open_for(self, actor: Actor, packet_id: str) -> store.RequestRow | None:
        """The open request this packet puts to the actor's agency, if it is one."""
        async with self._db.read() as conn:
            row = await store.request_for(conn, packet_id, actor.agency.id)
        return row if row is not None and row.status == store.OPEN else None

    async def decline(self, actor: Actor, request_id: int, reason: str) -> store.RequestRow:
        """Decline a request addressed to the actor's agency, saying why (the requester sees it)."""
        if not actor.has_role(*_HANDLERS):
            raise Forbidden("Your role cannot answer requests for information.")
        # A reason is a body (the requester reads it as typed): only what no text may hold is
        # refused; what else is hidden in it is shown visibly where it is displayed.
        reason = check_text(reason.strip(), "reason", "the reason")
        if not reason:
            raise InvalidInput("Say why the request is declined.", field="reason")
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInput(
                f"The reason is longer than {MAX_REASON_CHARS} characters.", field="reason"
            )
        now = self._clock.now()
        async with self._db.write() as conn:
            row = await store.request_by_id(conn, request_id)
            if row is None:
                raise NotFound("No such request for information.")
            if row.target_agency_id != actor.agency.id:
                raise await refusal_on_case(
                    conn,
                    actor,
                    row.case_id,
                    "This request was addressed to another agency: only that agency can decline it.",
                    "No such request for information.",
                )
            if not await store.close_request(
                conn, row.id, "declined", actor.user.id, now, decline_reason=reason
            ):
                raise Conflict(f"This request has already been {row.status}.")
            await store.close_item(
                conn, row.work_item_id, now, status="declined", user_id=actor.user.id
            )
            updated = await store.request_by_id(conn, request_id)
        if updated is None:  # pragma: no cover - the row was just updated in this transaction
            raise NotFound("No such request for information.")
        return updated
