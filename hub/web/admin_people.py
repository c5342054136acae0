"""The people of an agency, for its admin: sign a person out everywhere, or reset their
authenticator app (after a confirmation page; they set up a new one at their next sign-in).

The account service decides who may do what (an agency admin, for the people of their own
agency; never their own authenticator) and logs each action with the admin as the actor; these
pages only translate the forms.
"""

from __future__ import annotations

from aiohttp import web

from hub.errors import Forbidden
from hub.web.keys import ACTOR, HUB
from hub.web.render import render

routes = web.RouteTableDef()
PATH = "/admin/people"
_DONE = {
    "signed-out": "{name} is signed out everywhere.",
    "reset": (
        "{name}'s authenticator app is reset. Their old codes and recovery codes no longer work. "
        "They set up a new app the next time they sign in, within {hours} hours: tell them."
    ),
}


@routes.get(PATH)
async def people_page(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    actor = request[ACTOR]
    people = await hub.accounts.people(actor)  # Forbidden unless an agency admin
    notice = ""
    done, person_id = request.query.get("done", ""), request.query.get("person", "")
    if done in _DONE and person_id.isdigit():
        named = next((p for p in people if p.user.id == int(person_id)), None)
        if named is not None:
            hours = int(hub.config.sessions.enrolment_window.total_seconds() // 3600)
            notice = _DONE[done].format(name=named.user.display_name, hours=hours)
    return render(
        request,
        "admin_people.html",
        people=people,
        now=hub.clock.now(),
        notice=notice,
    )


@routes.post(PATH + "/{user_id:\\d{1,12}}/sign-out")
async def sign_out(request: web.Request) -> web.StreamResponse:
    user_id = int(request.match_info["user_id"])
    target, _ = await request.app[HUB].accounts.end_sessions(request[ACTOR], user_id)
    raise web.HTTPSeeOther(f"{PATH}?done=signed-out&person={target.id}")


@routes.get(PATH + "/{user_id:\\d{1,12}}/reset-authenticator")
async def confirm_reset(request: web.Request) -> web.StreamResponse:
    """Are you sure? A reset signs the person out and stops their app at once, so one click on
    the list must not do it."""
    hub = request.app[HUB]
    actor = request[ACTOR]
    person = await hub.accounts.person(actor, int(request.match_info["user_id"]))
    if person.user.id == actor.user.id:
        raise Forbidden(
            "You cannot reset your own authenticator app. Ask another administrator of your "
            "agency, or the hub's operator."
        )
    hours = int(hub.config.sessions.enrolment_window.total_seconds() // 3600)
    return render(request, "admin_people_reset.html", person=person, hours=hours)


@routes.post(PATH + "/{user_id:\\d{1,12}}/reset-authenticator")
async def reset_authenticator(request: web.Request) -> web.StreamResponse:
    user_id = int(request.match_info["user_id"])
    target = await request.app[HUB].accounts.reset_second_factor(request[ACTOR], user_id)
    raise web.HTTPSeeOther(f"{PATH}?done=reset&person={target.id}")
