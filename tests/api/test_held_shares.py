"""Shares held for approval through the API: a send the policy answers REVIEW gets 202 with the held
share; recipients' systems see nothing until it is released; approvers' systems decide only for a
named person and only where the policy allows delegated decisions."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from hub.config import SOURCE_POLICY_DIR
from hub.demo import seed
from hub.ledger.entries import Event
from hub.model.directory import Role
from hub.store import ledger as ledger_store
from hub.web.app import build_app
from hub.wiring import Hub, initialise
from tests.api.conftest import ALL_SCOPES, Api
from tests.conftest import NECESSITY, TickingClock, actor_for, case_id, make_config

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

DECIDE = [*ALL_SCOPES, "disclosures:decide"]
REASON = "Housing must not offer him any property near the victim's home: he knows the street."
APPROVE = "The victim's safety outweighs the intrusion; housing needs the street to avoid it."


async def call(
    api: Api,
    method: str,
    path: str,
    token: str,
    *,
    person: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    if person is not None:
        sent["On-Behalf-Of"] = person
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, api.url + path.lstrip("/"), json=body, headers=sent) as resp,
    ):
        raw = await resp.read()
        return resp.status, dict(resp.headers), json.loads(raw) if raw else None


async def _restricted(api: Api) -> dict[str, Any]:
    return {
        "case_id": await case_id(api.hub, "Harlow"),
        "recipient_agencies": ["DBY-HOUSING"],
        "subject": "Victim's address: exclusion for housing",
        "body": "The victim lives at 14 Linden Grove, Derby. No offer within a mile of it.",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": ["address", "risk-summary", "victim-address"],
        "necessity": NECESSITY,
        "restricted_reason": REASON,
    }


async def _events(api: Api, packet_id: str) -> list[str]:
    async with api.hub.db.read() as conn:
        return [
            r["event"]
            async for r in ledger_store.stream_entries(conn)
            if r["packet_id"] == packet_id
        ]


async def test_a_send_needing_approval_answers_202_and_reaches_nobody_until_released(
    api: Api,
) -> None:
    police = await api.token("DBY-POLICE")
    housing = await api.token("DBY-HOUSING", [*ALL_SCOPES, "sealed:read"])
    body = await _restricted(api)
    key = {"Idempotency-Key": "crm-held-1"}
    status, _, held = await call(
        api, "POST", "/api/v1/packets", police, person="dby.police", body=body, headers=key
    )
    assert status == 202, held
    assert (held["status"], held["awaiting"]) == ("awaiting", ["a coordinator of Derbyshire"])
    assert held["restricted_reason"] == REASON
    assert held["approvals"] == [
        {
            "role": "coordinator",
            "area": "Derbyshire",
            "count": 1,
            "outstanding": 1,
            "rules": ["restricted-category-with-reason"],
        }
    ]
    share, packet = held["id"], held["packet_id"]
    # A retry with the same key answers with the same held share, and holds nothing more.
    status, headers, again = await call(
        api, "POST", "/api/v1/packets", police, person="dby.police", body=body, headers=key
    )
    assert (status, again["id"], headers.get("Idempotent-Replayed")) == (202, share, "true")

    # The recipient's system sees nothing of it.
    for path in (
        f"/api/v1/packets/{packet}",
        f"/api/v1/shares/{share}",
        f"/api/v1/packets/{packet}/sealed",
    ):
        assert (await call(api, "GET", path, housing))[0] == 404, path
    _, _, inbox = await call(api, "GET", "/api/v1/inbox", housing)
    assert packet not in {p["id"] for p in inbox["packets"]}
    # The sender's system sees it held, with its signed header and the policy's decision.
    _, _, listed = await call(api, "GET", "/api/v1/shares", police)
    assert share in {s["id"] for s in listed["proposed"]}
    status, _, one = await call(api, "GET", f"/api/v1/shares/{share}", police)
    assert status == 200 and one["header"]["policy"]["outcome"] == "REVIEW"
    _, _, outbox = await call(api, "GET", "/api/v1/outbox", police)
    assert packet not in {p["id"] for p in outbox["packets"]}

    # The policy allows no delegated decisions: the coordinator decides in the inbox.
    await api.hub.share_approvals.decide(
        await actor_for(api.hub, "dby.coordinator"), share, "approve", APPROVE
    )
    status, _, opened = await call(api, "GET", f"/api/v1/packets/{packet}", housing)
    assert status == 200 and "14 Linden Grove" in opened["body"]
    _, _, one = await call(api, "GET", f"/api/v1/shares/{share}", police)
    assert one["status"] == "released" and [d["decision"] for d in one["decisions"]] == ["approve"]
    # Released, a replay is the packet itself.
    status, _, replay = await call(
        api, "POST", "/api/v1/packets", police, person="dby.police", body=body, headers=key
    )
    assert (status, replay["id"]) == (200, packet)


async def test_a_token_naming_nobody_cannot_propose(api: Api) -> None:
    police = await api.token("DBY-POLICE")  # issued at the command line: nobody behind it
    status, _, problem = await call(
        api, "POST", "/api/v1/packets", police, body=await _restricted(api)
    )
    assert status == 403 and "On-Behalf-Of" in problem["detail"]


# -- where the policy allows delegated decisions -----------------------------------------------


@pytest.fixture
async def delegated(tmp_path: Path, database_url: str, clock: TickingClock) -> AsyncIterator[Api]:
    policies = tmp_path / "policies"
    shutil.copytree(SOURCE_POLICY_DIR, policies)
    path = policies / "approvals.toml"
    path.write_text(
        re.sub(r"(?m)^delegated_decisions\s*=.*$", "delegated_decisions = true", path.read_text())
    )
    config = dataclasses.replace(make_config(tmp_path / "data", database_url), policy_dir=policies)
    async with AsyncExitStack() as stack:
        await initialise(config)
        hub = await Hub.open(config, clock)
        stack.push_async_callback(hub.close)
        assert hub.policy.current.delegated_decisions
        await seed(hub)
        server = TestServer(build_app(hub))
        await server.start_server()
        stack.push_async_callback(server.close)
        yield Api(hub, clock, server, stack)


async def test_approvers_systems_read_and_decide_for_a_named_person(delegated: Api) -> None:
    api = delegated
    police = await api.token("DBY-POLICE")
    coordinator = await api.token("DBY-POLICE", DECIDE, role=Role.COORDINATOR)
    nts = await api.token("NTS-PROBATION", DECIDE, role=Role.COORDINATOR)
    status, _, held = await call(
        api, "POST", "/api/v1/packets", police, person="dby.police", body=await _restricted(api)
    )
    assert status == 202
    share = held["id"]
    # Another area's coordinator is no approver of this share; nor is a practitioner.
    for token, person in ((nts, "nts.coordinator"), (police, "dby.police")):
        status, _, _ = await call(
            api,
            "POST",
            f"/api/v1/shares/{share}/decisions",
            token,
            person=person,
            body={"decision": "approve", "reasons": APPROVE},
        )
        assert status in (403, 404)
    _, _, queue = await call(api, "GET", "/api/v1/shares", coordinator, person="dby.coordinator")
    assert share in {s["id"] for s in queue["awaiting_decision"]}
    status, _, content = await call(
        api, "GET", f"/api/v1/shares/{share}/content", coordinator, person="dby.coordinator"
    )
    assert status == 200 and "14 Linden Grove" in content["body"]
    assert content["share"]["header"]["data_categories"] == [
        "address",
        "risk-summary",
        "victim-address",
    ]
    status, _, decided = await call(
        api,
        "POST",
        f"/api/v1/shares/{share}/decisions",
        coordinator,
        person="dby.coordinator",
        body={"decision": "approve", "reasons": APPROVE},
    )
    assert status == 200 and decided["status"] == "released"
    assert decided["decisions"][0]["approver"].startswith("Priya Shah")
    assert await _events(api, held["packet_id"]) == [
        Event.SHARE_PROPOSED,
        Event.HELD_SHARE_OPENED,
        Event.SHARE_DECIDED,
        Event.SHARE_RELEASED,
    ]
    await api.hub.ledger.verify()
