"""Runs the authorisation matrix: signs each role in through the real sign-in, issues real API
tokens, fills each route's path from the world, sends the call and classifies the answer.

What each answer should be is ``authz_matrix_table``'s; this module only makes the calls.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application

from hub.demo import DemoLogin
from hub.errors import InvalidInput
from hub.model.directory import Role
from hub.services.api_callers import ON_BEHALF_OF
from hub.services.tokens import Scope
from hub.web.app import build_app
from hub.wiring import Hub
from tests.conftest import TickingClock
from tests.integration.authz_matrix_table import (
    API_CALLERS,
    WEB_CALLERS,
    Body,
    Entry,
)
from tests.integration.authz_world import World
from tests.web.conftest import Client, Web, csrf_from, fetch

# The demo user signed in for each role: all of Derbyshire Constabulary.
ROLE_USERS = {
    "practitioner": "dby.police",
    "coordinator": "dby.coordinator",
    "senior-manager": "dby.senior",
    "agency-admin": "dby.admin",
    "auditor": "dby.auditor",
}
TOKEN_PEOPLE = {
    "token": "dby.police",
    "token-coordinator": "dby.coordinator",
    "token-lacking-scope": "dby.coordinator",
}
_PARAM = re.compile(r"\{([a-z_]+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}")


def route_key(method: str, canonical: str) -> tuple[str, str]:
    """A route as the table names it: the method and the canonical path, parameters named
    without their patterns (``/cases/{case_id}``)."""
    return method, _PARAM.sub(lambda m: "{" + m.group(1) + "}", canonical)


def app_routes(app: Application) -> set[tuple[str, str]]:
    """Every (method, path) the application answers, HEAD folded into its GET."""
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        found.add(route_key(route.method, route.resource.canonical))
    return found


def head_paths(app: Application) -> set[str]:
    """The paths the application answers HEAD on (as their GET)."""
    return {
        route_key("GET", r.resource.canonical)[1]
        for r in app.router.routes()
        if r.method == "HEAD" and r.resource is not None
    }


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    text: str


@dataclass
class Callers:
    """A signed-in browser per role, a browser signed in as nobody, and API tokens."""

    browsers: dict[str, Client]
    csrf: dict[str, str]
    tokens: dict[str, str]
    # Per scope: a token holding every scope but that one.
    lacking: dict[Scope, str]
    api: Client


async def sign_in(
    stack: AsyncExitStack, hub: Hub, clock: TickingClock, logins: dict[str, DemoLogin]
) -> tuple[TestServer, Callers]:
    server = TestServer(build_app(hub))
    await server.start_server()
    stack.push_async_callback(server.close)
    web = Web(hub, clock, logins, server, client=None, _stack=stack)  # type: ignore[arg-type]
    # Someone who has opened the sign-in page and no more: a session that is not signed in,
    # with its CSRF token (so that a refusal is the sign-in gate's, not the CSRF check's).
    anonymous = await web.new_client()
    status, _, html = await fetch(anonymous, "/login")
    assert status == 200
    browsers: dict[str, Client] = {"anonymous": anonymous}
    csrf: dict[str, str] = {"anonymous": csrf_from(html)}
    for role, username in ROLE_USERS.items():
        client = await web.login(username, await web.new_client())
        _, landing, _ = await fetch(client, "/")
        status, _, html = await fetch(client, landing)
        assert status == 200, (role, landing)
        browsers[role], csrf[role] = client, csrf_from(html)
    tokens, lacking = await _tokens(hub)
    api: Client = TestClient(server, cookie_jar=aiohttp.DummyCookieJar())
    await api.start_server()
    stack.push_async_callback(api.close)
    return server, Callers(browsers, csrf, tokens, lacking, api)


async def _issue(hub: Hub, scopes: list[Scope], role: Role) -> str:
    issued = await hub.tokens.issue(None, "DBY-POLICE", "Records system", scopes, role=role)
    return issued.secret


async def _tokens(hub: Hub) -> tuple[dict[str, str], dict[Scope, str]]:
    """A practitioner system and a coordinator system of the constabulary, each with every scope
    its role may hold (the policy keeps statistics and disclosure decisions from a practitioner's
    system, and decisions from any unless delegated); per scope, a coordinator system with every
    scope but that one."""
    every = list(Scope)
    try:
        coordinator = await _issue(hub, every, Role.COORDINATOR)
        could = every
    except InvalidInput:  # no delegated decisions: people decide disclosures in the inbox
        could = [s for s in every if s is not Scope.DISCLOSURES_DECIDE]
        coordinator = await _issue(hub, could, Role.COORDINATOR)
    practitioner = await _issue(
        hub,
        [s for s in could if s not in (Scope.STATISTICS_READ, Scope.DISCLOSURES_DECIDE)],
        Role.PRACTITIONER,
    )
    lacking = {
        scope: await _issue(hub, [s for s in could if s is not scope], Role.COORDINATOR)
        for scope in Scope
    }
    return {"token": practitioner, "token-coordinator": coordinator}, lacking


def fill(path: str, world: World, relation: str | None, entry: Entry) -> str:
    """The route's path with the world's id for this relation (and fixed values for the rest)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in entry.fixed:
            return entry.fixed[name]
        if name == "index":
            return "0"
        assert relation is not None, f"{path}: {{{name}}} needs a relation"
        return world.ids[entry.kinds.get(name, name)][relation]

    return re.sub(r"\{([a-z_]+)\}", value, path)


async def call(
    callers: Callers,
    caller: str,
    method: str,
    path: str,
    body: Body | None,
    scope: Scope | None,
) -> Answer:
    headers: dict[str, str] = {}
    data: object = None
    json_body: object = None
    if caller in WEB_CALLERS:
        client = callers.browsers[caller]
        if method == "POST" and caller in callers.csrf:
            headers["X-CSRF-Token"] = callers.csrf[caller]
    else:
        assert caller in API_CALLERS
        client = callers.api
        if caller in callers.tokens:
            headers["Authorization"] = f"Bearer {callers.tokens[caller]}"
        elif caller == "token-lacking-scope":
            assert scope is not None
            headers["Authorization"] = f"Bearer {callers.lacking[scope]}"
        if caller in TOKEN_PEOPLE:
            # The person the system acts for (some steps need a person: hub.services.actor).
            headers[ON_BEHALF_OF] = TOKEN_PEOPLE[caller]
        elif caller == "session":
            client = callers.browsers["practitioner"]
    if body is not None:
        if body.json is not None:
            json_body = body.json
        elif body.files:
            form = aiohttp.FormData(default_to_multipart=True)
            for name, value in body.form:
                form.add_field(name, value)
            for name, (filename, content) in body.files.items():
                form.add_field(name, content, filename=filename, content_type="application/json")
            data = form
        else:
            data = list(body.form)
    async with client.request(
        method, path, headers=headers, data=data, json=json_body, allow_redirects=False
    ) as resp:
        if method == "HEAD" or resp.content_type == "text/event-stream":
            text = ""  # a live stream is answered when it opens: its status is the answer
        else:
            text = await resp.text(errors="replace")
        return Answer(resp.status, resp.headers.get("Location", ""), text)


async def gather_limited(jobs: Iterable[object], limit: int = 8) -> list[object]:
    gate = asyncio.Semaphore(limit)

    async def one(job: object) -> object:
        async with gate:
            return await job  # type: ignore[misc]

    return list(await asyncio.gather(*(one(j) for j in jobs)))
