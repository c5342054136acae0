"""Case transfers in the inbox: the area's transfers, proposing one from a case, and one
transfer's page with the receiving coordinator's decision and the sending side's steps.

Each form keeps what was typed when the service refuses it, with the reason in the error
summary; the service decides who may do what (``hub.services.transfers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adapters.transfer.peer_messages import deliver_now
from adapters.transfer.peer_send import send_to_peer
from adapters.transfer.send import gaps, send_within_hub
from hub.errors import Conflict, Forbidden, HubError, InvalidInput, NotFound
from hub.model.directory import Agency, AgencyKind, Jurisdiction, Role
from hub.model.transfers import Transfer, TransferState
from hub.services.actor import Actor
from hub.services.transfers import Proposal
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

if TYPE_CHECKING:
    from hub.wiring import Hub

routes = web.RouteTableDef()
_ID = "{transfer_id:\\d{1,12}}"
_CASE = "{case_id:\\d{1,12}}"
_MAX_ID = 2**31 - 1
_FIELDS = {
    "reason": "#reason",
    "proposed_date": "#proposed_date",
    "receiving_area": "#receiving_area",
    "meeting": "#reason",
    "reasons": "#reasons",
    "lead_agency": "#lead_agency",
    "cancel_reason": "#cancel_reason",
}
_NOTICES = {
    "proposed": "The transfer is proposed; the receiving area's coordinators are told.",
    "accepted": "You accepted the transfer; the sending area is told to send the case file.",
    "declined": "You declined the transfer with your reasons; the sending area is told.",
    "cancelled": "The transfer is cancelled.",
    "sent": "The signed case file is sent and verified; the receiving area confirms receipt.",
    "completed": "The transfer is complete: your area now owns the case.",
    "acknowledged": "The signed case file was sent, and the receiving hub verified, imported and "
    "acknowledged it: the transfer is complete.",
}


@dataclass(frozen=True)
class PeerArea:
    """An area of a pinned peer hub, as its signed directory document lists it."""

    peer: str
    code: str
    name: str
    jurisdiction: Jurisdiction

    @property
    def value(self) -> str:  # area codes never hold "/"
        return f"{self.peer}/{self.code}"


async def peer_areas(hub: Hub) -> list[PeerArea]:
    """Areas on the active pinned peers whose directory this hub holds (and that verifies)."""
    found: dict[str, PeerArea] = {}
    for peer in await hub.peers.list():
        if not peer.active or peer.directory_fetched_at is None:
            continue
        try:
            agencies = await hub.peers.receiving_agencies(peer.name)
        except HubError:  # expired or unverifiable: not offered until fetched again
            continue
        for a in agencies:
            area = PeerArea(peer.name, a.area_code, a.area_name, a.jurisdiction)
            found.setdefault(area.value, area)
    return sorted(found.values(), key=lambda a: (a.peer, a.name))


def _id(request: web.Request, name: str) -> int:
    value = int(request.match_info[name])
    if value > _MAX_ID:
        raise NotFound("Not found.")
    return value


def _form_text(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else ""


@routes.get("/transfers")
async def listing(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    found = await hub.transfers.for_area(actor)
    area = actor.agency.area_id
    return render(
        request,
        "transfers.html",
        outgoing=[t for t in found if t.sending_area_id == area],
        incoming=[t for t in found if t.receiving_area_id == area],
        due=await _due_dates(request, found),
    )


async def _due_dates(request: web.Request, found: list[Transfer]) -> dict[int, date]:
    items = {i.id: i for i in await request.app[HUB].casework.due(request[ACTOR], area=True)}
    return {
        t.id: items[t.work_item_id].row.due_on
        for t in found
        if t.work_item_id is not None and t.work_item_id in items
    }


# -- proposing, from a case ---------------------------------------------------------------------


async def _propose_page(
    request: web.Request,
    case_id: int,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The form; ``errors`` maps each field to its message, in the form's order (a refusal
    that names no field is listed without a link)."""
    hub, actor = request.app[HUB], request[ACTOR]
    if not actor.has_role(Role.COORDINATOR):
        raise Forbidden("Only a MAPPA coordinator can propose a transfer.")
    case = await hub.cases.get(actor, case_id)
    areas = [a for a in await hub.directory.areas() if a.id != case.area_id]
    remote = await peer_areas(hub)
    errors = errors or {}
    if "meeting" in errors:  # no field of its own: shown beside the reason
        errors.setdefault("reason", errors["meeting"])
    summary = [
        {"text": message, "href": _FIELDS[field]} if field in _FIELDS else {"text": message}
        for field, message in errors.items()
        if field != "reason" or "meeting" not in errors
    ]
    return render(
        request,
        "transfer_propose.html",
        status=status,
        case=case,
        areas=areas,
        peer_areas=remote,
        typed=typed or {"reason": "", "proposed_date": "", "receiving_area": ""},
        errors=errors,
        error_list=summary,
        rules=hub.transfers.rules,
        error_title_prefix=bool(errors),
    )


@routes.get(f"/cases/{_CASE}/transfer")
async def propose_form(request: web.Request) -> web.StreamResponse:
    return await _propose_page(request, _id(request, "case_id"))


def _propose_errors(typed: dict[str, str]) -> dict[str, str]:
    """Every unanswered or malformed question at once, in the form's order (the service checks
    again, and decides the rest)."""
    errors: dict[str, str] = {}
    if not typed["receiving_area"].strip():
        errors["receiving_area"] = "Choose the area the case is transferring to."
    try:
        date.fromisoformat(typed["proposed_date"].strip())
    except ValueError:
        errors["proposed_date"] = "Enter the proposed transfer date as a date, like 2027-01-31."
    if not typed["reason"].strip():
        errors["reason"] = "Enter the reason for the transfer."
    return errors


@routes.post(f"/cases/{_CASE}/transfer")
async def propose(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    case_id = _id(request, "case_id")
    form = await request.post()
    typed = {k: _form_text(form, k) for k in ("reason", "proposed_date", "receiving_area")}
    errors = _propose_errors(typed)
    if errors:
        return await _propose_page(request, case_id, typed=typed, errors=errors, status=400)
    chosen = typed["receiving_area"].strip()
    on_peer = {a.value: a for a in await peer_areas(hub)}.get(chosen) if "/" in chosen else None
    try:
        if "/" in chosen and on_peer is None:
            raise InvalidInput(
                "That peer hub's area is no longer offered: choose the area again.",
                field="receiving_area",
            )
        made = await hub.transfers.propose(
            actor,
            Proposal(
                case_id,
                typed["reason"],
                date.fromisoformat(typed["proposed_date"].strip()),
                on_peer.code if on_peer else chosen,
                peer_name=on_peer.peer if on_peer else None,
                receiving_jurisdiction=on_peer.jurisdiction.value if on_peer else None,
            ),
        )
    except (InvalidInput, Conflict) as exc:
        field = exc.field if isinstance(exc, InvalidInput) and exc.field else ""
        return await _propose_page(
            request,
            case_id,
            typed=typed,
            errors={field: exc.public_message},
            status=exc.status,
        )
    if made.peer_name:
        await deliver_now(hub, made.id)
    raise web.HTTPSeeOther(f"/transfers/{made.id}?done=proposed")


# -- one transfer -------------------------------------------------------------------------------


async def _page(
    request: web.Request,
    transfer: Transfer,
    *,
    typed: dict[str, str] | None = None,
    error: HubError | None = None,
) -> web.Response:
    hub, actor = request.app[HUB], request[ACTOR]
    area = actor.agency.area_id
    coordinator = actor.has_role(Role.COORDINATOR)
    receiving = transfer.receiving_area_id == area
    sending = transfer.sending_area_id == area
    local = transfer.peer_name is None
    leads = [
        a
        for a in await hub.directory.agencies()
        if a.area_id == transfer.receiving_area_id and a.kind is AgencyKind.RESPONSIBLE_AUTHORITY
    ]
    users = {u.id: u for u in await hub.directory.users()}
    proposer = users.get(transfer.proposer_person_id or 0)
    decider = users.get(transfer.decided_by_person_id or 0)
    field = error.field if isinstance(error, InvalidInput) else None
    is_proposer = proposer is not None and proposer.id == actor.user.id
    # To a peer hub, a transfer sent whose acknowledgement never came is sent again.
    sendable = (TransferState.ACCEPTED,) if local else (TransferState.ACCEPTED, TransferState.SENT)
    may_send = coordinator and sending and transfer.state in sendable
    return render(
        request,
        "transfer.html",
        lead_name=await _lead_name(hub, transfer, leads),
        case_href=await _case_href(hub, actor, transfer),
        status=error.status if error else 200,
        t=transfer,
        S=TransferState,
        proposer=proposer.display_name if proposer else "",
        decider=decider.display_name if decider else (transfer.decided_by_name or ""),
        leads=leads,
        may_decide=coordinator
        and receiving
        and not is_proposer
        and transfer.state is TransferState.PROPOSED,
        may_cancel=coordinator
        and sending
        and transfer.state in (TransferState.PROPOSED, TransferState.ACCEPTED),
        may_send=may_send,
        # What the bundle would lack, in words, before the coordinator sends it.
        gaps=await gaps(hub, transfer) if may_send else None,
        may_receive=coordinator and receiving and local and transfer.state is TransferState.SENT,
        typed=typed or {"reasons": "", "lead_agency": "", "cancel_reason": ""},
        error=error.public_message if error else "",
        error_href=_FIELDS.get(field or "", ""),
        error_field=field or "",
        notice=_NOTICES.get(request.query.get("done", ""), ""),
        error_title_prefix=bool(error),
    )


async def _lead_name(hub: Hub, transfer: Transfer, leads: list[Agency]) -> str:
    """The new lead agency in words: this hub's own, or as the peer's signed directory names it."""
    code = transfer.new_lead_agency_code or ""
    named: dict[str, str] = {a.code: a.name for a in leads}
    if code not in named and transfer.peer_name:
        try:
            named = {a.code: a.name for a in await hub.peers.receiving_agencies(transfer.peer_name)}
        except HubError:  # no directory held, or no longer valid: the code it sent
            return code
    return named.get(code, code)


async def _case_href(hub: Hub, actor: Actor, transfer: Transfer) -> str:
    """A link to the case only where this person may open it (the sending area may not, once
    the transfer is complete)."""
    if transfer.case_id is None:
        return ""
    try:
        await hub.cases.get(actor, transfer.case_id)
    except HubError:  # not found, not theirs, or no longer theirs
        return ""
    return f"/cases/{transfer.case_id}"


@routes.get(f"/transfers/{_ID}")
async def show(request: web.Request) -> web.StreamResponse:
    t = await request.app[HUB].transfers.get(request[ACTOR], _id(request, "transfer_id"))
    return await _page(request, t)


@routes.post(f"/transfers/{_ID}/{{step:accept|decline|cancel|send|receive}}")
async def step(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    tid = _id(request, "transfer_id")
    form = await request.post()
    typed = {k: _form_text(form, k) for k in ("reasons", "lead_agency", "cancel_reason")}
    action = request.match_info["step"]
    try:
        if action == "accept":
            await hub.transfers.accept(actor, tid, typed["reasons"], typed["lead_agency"])
        elif action == "decline":
            await hub.transfers.decline(actor, tid, typed["reasons"])
        elif action == "cancel":
            await hub.transfers.cancel(actor, tid, typed["cancel_reason"])
        elif action == "send":
            if (await hub.transfers.get(actor, tid)).peer_name:
                await send_to_peer(hub, tid, actor)
                raise web.HTTPSeeOther(f"/transfers/{tid}?done=acknowledged")
            await send_within_hub(hub, actor, tid)
        else:
            await hub.transfers.confirm_received(actor, tid)
    except NotFound:
        raise
    except HubError as exc:  # refused, unverifiable, or the peer hub unreachable or refusing
        # Shown on the transfer's page, with everything typed kept.
        return await _page(request, await hub.transfers.get(actor, tid), typed=typed, error=exc)
    if action in ("accept", "decline", "cancel"):
        await deliver_now(hub, tid)  # a transfer between hubs: tell the peer now if it answers
    done = {"accept": "accepted", "decline": "declined", "cancel": "cancelled"}
    done |= {"send": "sent", "receive": "completed"}
    if action == "receive":
        raise web.HTTPSeeOther(f"/transfers/{tid}?done=completed")
    raise web.HTTPSeeOther(f"/transfers/{tid}?done={done[action]}")
