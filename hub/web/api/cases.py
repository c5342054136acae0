"""``/api/v1/cases``: the area's cases, shown to a system no more than the inbox shows them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.services.tokens import Scope
from hub.web.api import models as m
from hub.web.api.handlers import api_caller, json_response, path_id
from hub.web.api.spec import endpoint
from hub.web.keys import HUB


def _case(c: Any) -> m.CaseOut:
    return m.CaseOut(
        id=c.id,
        reference=c.reference,
        family_name=c.family_name,
        given_names=c.given_names,
        date_of_birth=c.date_of_birth,
        category=int(c.category),
        level=int(c.level),
        lead_agency_id=c.lead_agency_id,
        area_id=c.area_id,
    )


@endpoint(
    "GET", "/api/v1/cases", "Cases of the agency's area this token may act on.",
    scope=Scope.CASES_READ, response=m.CaseList,
)  # fmt: skip
async def list_cases(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.CASES_READ)
    # As the inbox's list: a case whose file is closed to the agency, without its date of birth.
    cases = await request.app[HUB].cases.listed(caller.actor)
    return json_response(
        m.CaseList(
            cases=[
                _case(c)
                for c in cases
                if c.merged_into_id is None and caller.token.allows_case(c.id)
            ]
        )
    )


@endpoint(
    "GET", "/api/v1/cases/{case_id:\\d{1,12}}",
    "One case, if its file opens to the agency (active on it, or the area's coordinator).",
    scope=Scope.CASES_READ, response=m.CaseOut, errors=(404,),
)  # fmt: skip
async def get_case(request: web.Request) -> web.StreamResponse:
    caller = api_caller(request, Scope.CASES_READ)
    case_id = path_id(request, "case_id")
    caller.require_case(case_id)
    # As the case page: the record opens to the agencies active on the case and the area's
    # coordinators (403 in the area; 404 elsewhere, as for a case that does not exist).
    return json_response(_case(await request.app[HUB].cases.record(caller.actor, case_id)))
