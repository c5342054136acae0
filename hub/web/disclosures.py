"""Third-party disclosures: the area register, one disclosure's record, decisions and delivery."""

from __future__ import annotations

from aiohttp import web

from hub.errors import Conflict, Forbidden, InvalidInput
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
}


def _id(request: web.Request) -> int:
    return int(request.match_info["disclosure_id"])


@routes.get("/disclosures")
async def register(request: web.Request) -> web.StreamResponse:
    views = await request.app[HUB].disclosures.register(request[ACTOR])
    return render(request, "disclosures.html", views=views, scope="area")


def _proposed_by(actor: Actor, view: DisclosureView) -> bool:
    """The signed-in person proposed it, in the inbox or through a system acting for them."""
    return actor.user.id in (view.row.proposer_user_id, view.row.proposer_person_id)


def _may_decide(actor: Actor, view: DisclosureView) -> bool:
    # The buttons follow the service's rules, which compare people, not accounts.
    return (
        view.row.status == "proposed"
        and actor.role.value in view.outstanding
        and not _proposed_by(actor, view)
        and actor.user.id not in view.decided_by
        and all(d.approver_person_id != actor.user.id for d in view.decisions)
    )


async def _page(
    request: web.Request, view: DisclosureView, *, status: int = 200, error: str = ""
) -> web.Response:
    actor = request[ACTOR]
    return render(
        request,
        "disclosure.html",
        status=status,
        view=view,
        error=error,
        notice=_NOTICES.get(request.query.get("done", ""), ""),
        may_decide=_may_decide(actor, view),
        may_deliver=view.row.status == "approved"
        and (_proposed_by(actor, view) or actor.has_role(Role.COORDINATOR)),
        own_proposal=_proposed_by(actor, view),
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
    decision, reasons, conditions = (
        str(form.get(k, "")) if isinstance(form.get(k, ""), str) else ""
        for k in ("decision", "reasons", "conditions")
    )
    try:
        await hub.disclosures.decide(actor, _id(request), decision, reasons, conditions)
    except (InvalidInput, Forbidden, Conflict) as exc:
        # Shown on the disclosure's page: the decision-maker sees why, with the record beside it.
        view = await hub.disclosures.get(actor, _id(request))
        return await _page(request, view, status=exc.status, error=exc.public_message)
    raise web.HTTPSeeOther(f"/disclosures/{_id(request)}?done={decision}")


@routes.post("/disclosures/{disclosure_id:\\d{1,12}}/deliver")
async def deliver(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    try:
        await hub.disclosures.deliver(actor, _id(request))
    except (Forbidden, Conflict) as exc:
        view = await hub.disclosures.get(actor, _id(request))
        return await _page(request, view, status=exc.status, error=exc.public_message)
    raise web.HTTPSeeOther(f"/disclosures/{_id(request)}?done=delivered")
