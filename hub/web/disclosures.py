"""Third-party disclosures: the area register, one disclosure's record, decisions and delivery.

The page offers the decision form only to a person the service would let decide
(``DisclosureService.may_decide``), and links only to what the reader may open: the proposal
packet and the case file each when the services would open them.
"""

from __future__ import annotations

from aiohttp import web

from hub.errors import Conflict, Forbidden, HubError, InvalidInput
from hub.model.directory import Role
from hub.services.actor import Actor
from hub.services.disclosures import DisclosureView
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
_NOTICES = {
    "approve": "Your approval is recorded with its reasons.",
    "refuse": "Your refusal is recorded with its reasons.",
    "delivered": "The disclosure is recorded as made, on the hub's log.",
    "letter": "The letter is being sent by secure email, and the disclosure is recorded as made.",
}
_FIELDS = ("decision", "reasons", "conditions")
# What to do about each field the decision form can get wrong (GOV.UK error messages).
_FIELD_MESSAGES = {
    "decision": "Select whether you approve or refuse the disclosure",
    "reasons": "Enter the reasons for your decision",
    "conditions": "Conditions must be 5,000 characters or fewer",
}
_TOO_LONG = {"reasons": "Reasons must be 5,000 characters or fewer"}
_LETTER_FIELDS = ("to_address", "letter_text")


def _id(request: web.Request) -> int:
    return int(request.match_info["disclosure_id"])


async def _links(request: web.Request, views: list[DisclosureView]) -> tuple[set[str], set[int]]:
    """The proposal packets and case files among these that the reader may open."""
    hub, actor = request.app[HUB], request[ACTOR]
    packets = await hub.packets.listing.openable(actor, [v.row.proposal_packet_id for v in views])
    cases = await hub.casework.openable_files(actor, [v.row.case_id for v in views])
    return packets, cases


@routes.get("/disclosures")
async def register(request: web.Request) -> web.StreamResponse:
    hub, actor = request.app[HUB], request[ACTOR]
    views = await hub.disclosures.register(actor)
    cases = await hub.casework.openable_files(actor, [v.row.case_id for v in views])
    area = next((a.name for a in await hub.directory.areas() if a.id == actor.agency.area_id), "")
    return render(request, "disclosures.html", views=views, openable_cases=cases, area_name=area)


def _proposed_by(actor: Actor, view: DisclosureView) -> bool:
    """The signed-in person proposed it, in the inbox or through a system acting for them."""
    return actor.user.id in (view.row.proposer_user_id, view.row.proposer_person_id)


def _errors(exc: HubError) -> list[dict[str, str]]:
    """The error summary's items, in the form's order, each linking its field where it has one."""
    if isinstance(exc, InvalidInput) and exc.errors:
        found = []
        for name in _FIELDS:
            messages = [e.get("message", "") for e in exc.errors if e.get("field") == name]
            if messages:
                too_long = any("at most" in m or "longer" in m for m in messages)
                text = _TOO_LONG.get(name, _FIELD_MESSAGES[name]) if too_long else None
                # A character no text may hold (hub.text) is named, not taken for a blank.
                hidden = [m for m in messages if "must not include" in m]
                text = hidden[0].rstrip(".") if hidden else text
                found.append({"text": text or _FIELD_MESSAGES[name], "href": f"#{name}"})
        if found:
            return found
    return [{"text": exc.public_message}]


async def _page(
    request: web.Request,
    view: DisclosureView,
    *,
    status: int = 200,
    errors: list[dict[str, str]] | None = None,
    typed: dict[str, str] | None = None,
    letter: dict[str, str] | None = None,
) -> web.Response:
    hub, actor = request.app[HUB], request[ACTOR]
    packets, cases = await _links(request, [view])
    errors = errors or []
    may_deliver = view.row.status == "approved" and (
        _proposed_by(actor, view) or actor.has_role(Role.COORDINATOR)
    )
    return render(
        request,
        "disclosure.html",
        status=status,
        view=view,
        errors=errors,
        field_errors={e["href"][1:]: e["text"] for e in errors if "href" in e},
        typed=typed or dict.fromkeys(_FIELDS, ""),
        notice=_NOTICES.get(request.query.get("done", ""), ""),
        may_decide=await hub.disclosures.may_decide(actor, view.id),
        may_deliver=may_deliver,
        may_send_letter=may_deliver and view.row.method == "letter",
        letter=letter or dict.fromkeys(_LETTER_FIELDS, ""),
        own_proposal=_proposed_by(actor, view),
        proposal_openable=view.row.proposal_packet_id in packets,
        case_openable=view.row.case_id in cases,
        rule_labels={r.id: r.label for r in hub.policy.current.approval_rules},
        error_title_prefix=bool(errors),
    )


@routes.get("/disclosures/{disclosure_id:\\d{1,12}}")
async def show(request: web.Request) -> web.StreamResponse:
    view = await request.app[HUB].disclosures.get(request[ACTOR], _id(request))
    return await _page(request, view)


@routes.post("/disclosures/{disclosure_id:\\d{1,12}}/decide")
async def decide(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    form = await request.post()
    typed = {k: v if isinstance(v := form.get(k, ""), str) else "" for k in _FIELDS}
    try:
        await hub.disclosures.decide(
            actor, _id(request), typed["decision"], typed["reasons"], typed["conditions"]
        )
    except (InvalidInput, Forbidden, Conflict) as exc:
        # Shown on the disclosure's page: the decision-maker sees why, with the record beside it,
        # and what they typed is kept.
        view = await hub.disclosures.get(actor, _id(request))
        return await _page(request, view, status=exc.status, errors=_errors(exc), typed=typed)
    raise web.HTTPSeeOther(f"/disclosures/{_id(request)}?done={typed['decision']}")


@routes.post("/disclosures/{disclosure_id:\\d{1,12}}/deliver")
async def deliver(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    try:
        await hub.disclosures.deliver(actor, _id(request))
    except (Forbidden, Conflict) as exc:
        view = await hub.disclosures.get(actor, _id(request))
        return await _page(request, view, status=exc.status, errors=_errors(exc))
    raise web.HTTPSeeOther(f"/disclosures/{_id(request)}?done=delivered")


@routes.post("/disclosures/{disclosure_id:\\d{1,12}}/letter")
async def send_letter(request: web.Request) -> web.StreamResponse:
    """Send an approved disclosure's letter by secure email (``DisclosureLetters.send_letter``)."""
    hub = request.app[HUB]
    actor = request[ACTOR]
    form = await request.post()
    letter = {k: v if isinstance(v := form.get(k, ""), str) else "" for k in _LETTER_FIELDS}
    try:
        await hub.letters.send_letter(
            actor, _id(request), letter["to_address"], letter["letter_text"]
        )
    except (InvalidInput, Forbidden, Conflict) as exc:
        # Shown with the record, and the address and letter as typed (nothing lost).
        view = await hub.disclosures.get(actor, _id(request))
        field = getattr(exc, "field", None)
        error = {"text": exc.public_message}
        if field in _LETTER_FIELDS:
            error["href"] = f"#{field}"
        return await _page(request, view, status=exc.status, errors=[error], letter=letter)
    raise web.HTTPSeeOther(f"/disclosures/{_id(request)}?done=letter")
