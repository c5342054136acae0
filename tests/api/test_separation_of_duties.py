"""Separation of duties holds for people, not accounts.

An agency admin's tokens act for the admin; a call may name another person of the agency
(``On-Behalf-Of``). Whatever mix of tokens and sign-ins a person uses, they never approve what they
proposed and decide an item once; a token decides only when the policy allows delegated decisions,
and then only for a named approver; an admin gives a token no more than they may give. Issuing and
revoking are on the log, and the log verifies.
"""

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
from sqlalchemy import select

from hub.config import SOURCE_POLICY_DIR
from hub.demo import seed
from hub.errors import Conflict, Forbidden, InvalidInput
from hub.model.directory import Role
from hub.model.packets import Draft, PacketType
from hub.services.actor import Actor
from hub.services.tokens import ApiActor, ledger_digest
from hub.store import directory as directory_store
from hub.store import ledger as ledger_store
from hub.store.schema import api_tokens
from hub.web.app import build_app
from hub.wiring import Hub, initialise
from tests.api.conftest import ALL_SCOPES, Api
from tests.conftest import TickingClock, actor_for, case_id, make_config
from tests.integration.workflow_support import WHY_WHO_USE, snapshot
from tests.workflow_forms import disclosure_proposal_form

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

DECIDE = [*ALL_SCOPES, "disclosures:decide"]
LETTER_CATEGORIES = ["identity", "offence-history", "risk-summary"]
REASONS = "Necessary and proportionate to protect children at the schools; the last resort."
PASSWORD = "a long enough password here"


# -- a hub whose policy allows delegated decisions --------------------------------------------


def set_delegated(policies: Path, allowed: bool) -> None:
    """Turn ``delegated_decisions`` on or off in a copy of the policy files."""
    path = policies / "approvals.toml"
    text = path.read_text()
    line = f"delegated_decisions = {'true' if allowed else 'false'}"
    text, found = re.subn(r"(?m)^delegated_decisions\s*=.*$", line, text)
    if not found:  # a top-level key: before the first table
        text = re.sub(r"(?m)^approver_is_never_proposer.*$", lambda m: f"{m[0]}\n{line}", text)
    path.write_text(text)


@dataclasses.dataclass
class Delegated:
    api: Api
    policies: Path


@pytest.fixture
async def delegated(
    tmp_path: Path, database_url: str, clock: TickingClock
) -> AsyncIterator[Delegated]:
    """The demo world served as ``tests/api/conftest.py`` serves it, on a copy of the policy
    files that allows delegated decisions."""
    policies = tmp_path / "policies"
    shutil.copytree(SOURCE_POLICY_DIR, policies)
    set_delegated(policies, True)
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
        yield Delegated(Api(hub, clock, server, stack), policies)


# -- calling the API --------------------------------------------------------------------------


async def call(
    api: Api,
    method: str,
    path: str,
    token: str,
    *,
    person: str | list[str] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """One raw call, with ``On-Behalf-Of`` (several headers for a list): (status, JSON body)."""
    headers: list[tuple[str, str]] = [("Authorization", f"Bearer {token}")]
    for name in [person] if isinstance(person, str) else person or []:
        headers.append(("On-Behalf-Of", name))
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, api.url + path.lstrip("/"), json=body, headers=headers) as resp,
    ):
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def propose(api: Api, token: str, person: str | None = None, family: str = "Harlow") -> int:
    """A disclosure proposal sent through the API; the id of the disclosure it opened."""
    status, doc = await call(
        api,
        "POST",
        "/api/v1/packets",
        token,
        person=person,
        body={
            "case_id": await case_id(api.hub, family),
            "recipient_agencies": ["DBY-PROBATION"],
            "subject": "Proposed disclosure to his prospective employer",
            "body": "",
            "purpose": "public-protection",
            "lawful_basis": "cja2003-s325",
            "packet_type": "disclosure-proposal",
            "data_categories": LETTER_CATEGORIES,
            "necessity": WHY_WHO_USE,
            "form": disclosure_proposal_form(),
        },
    )
    assert status == 201, doc
    return await disclosure_for(api, doc["id"])


async def propose_in_the_inbox(api: Api, username: str, family: str = "Harlow") -> int:
    """The same proposal by a person signed in to the inbox (the actor the web layer builds)."""
    actor = await actor_for(api.hub, username)
    sent = await api.hub.packets.send(
        actor,
        Draft(
            case_id=await case_id(api.hub, family),
            recipient_agency_ids=(
                next(a.id for a in await api.hub.directory.agencies() if a.code == "DBY-PROBATION"),
            ),
            subject="Proposed disclosure to his prospective employer",
            body="",
            purpose="public-protection",
            lawful_basis="cja2003-s325",
            packet_type=PacketType.DISCLOSURE_PROPOSAL,
            data_categories=tuple(LETTER_CATEGORIES),
            necessity=WHY_WHO_USE,
            form=disclosure_proposal_form(),
        ),
    )
    return await disclosure_for(api, sent.id)


async def disclosure_for(api: Api, packet_id: str) -> int:
    found = await api.hub.disclosures.for_proposal(
        await actor_for(api.hub, "dby.coordinator"), packet_id
    )
    assert found is not None
    return found


async def decide(
    api: Api, token: str, disclosure: int, person: str | list[str] | None = None
) -> tuple[int, Any]:
    return await call(
        api,
        "POST",
        f"/api/v1/disclosures/{disclosure}/decisions",
        token,
        person=person,
        body={"decision": "approve", "reasons": REASONS},
    )


async def deliver(
    api: Api, token: str, disclosure: int, person: str | None = None
) -> tuple[int, Any]:
    return await call(
        api, "POST", f"/api/v1/disclosures/{disclosure}/delivery", token, person=person
    )


async def add_person(api: Api, username: str, role: Role, agency: str = "DBY-POLICE") -> Actor:
    await api.hub.directory.add_user(username, username.title(), agency, role, PASSWORD)
    return await actor_for(api.hub, username)


async def account_of(api: Api, secret: str) -> ApiActor:
    return await api.hub.callers.authenticate(secret)


async def ledger_size(api: Api) -> int:
    async with api.hub.db.read() as conn:
        return (await ledger_store.head(conn))[0]


# -- what an admin may issue ------------------------------------------------------------------


async def test_an_admin_gives_a_token_no_more_than_they_may_give(api: Api) -> None:
    admin = await actor_for(api.hub, "dby.admin")
    before = await snapshot(api.hub)
    refusals: list[tuple[list[str], Role, str, str]] = [
        # A coordinator's system holds area-wide powers the agency admin does not.
        (ALL_SCOPES, Role.COORDINATOR, "role", "practitioner systems only"),
        (["cases:read"], Role.COORDINATOR, "role", "practitioner systems only"),
        (DECIDE, Role.COORDINATOR, "role", "practitioner systems only"),
        # A practitioner's system never decides.
        (DECIDE, Role.PRACTITIONER, "scopes", "coordinator"),
        (["disclosures:decide"], Role.PRACTITIONER, "scopes", "coordinator"),
        # Nor is any system an admin, an auditor or a senior manager.
        (["cases:read"], Role.AGENCY_ADMIN, "role", "practitioner or a coordinator"),
        (["cases:read"], Role.AUDITOR, "role", "practitioner or a coordinator"),
        (["cases:read"], Role.SENIOR_MANAGER, "role", "practitioner or a coordinator"),
    ]
    for scopes, role, field, message in refusals:
        with pytest.raises(InvalidInput, match=message) as err:
            await api.hub.tokens.issue(admin, "DBY-POLICE", "CMS", scopes, role=role)
        assert err.value.field == field, (scopes, role)
    # The operator may issue a coordinator's system, but with delegated decisions off (the
    # shipped policy) no token may decide, whoever issues it.
    assert api.hub.policy.current.delegated_decisions is False
    with pytest.raises(InvalidInput, match="delegated decisions") as err:
        await api.hub.tokens.issue(None, "DBY-POLICE", "CMS", DECIDE, role=Role.COORDINATOR)
    assert err.value.field == "scopes"
    assert await snapshot(api.hub) == before  # nothing issued, nothing logged
    assert api.hub.tokens.issuable_roles(admin) == (Role.PRACTITIONER,)
    assert api.hub.tokens.issuable_roles(None) == (Role.PRACTITIONER, Role.COORDINATOR)

    issued = await api.hub.tokens.issue(admin, "DBY-POLICE", "CMS", ALL_SCOPES)
    assert issued.token.issued_by_user_id == admin.user.id
    coordinator_system = await api.hub.tokens.issue(
        None, "DBY-POLICE", "Unit system", ALL_SCOPES, role=Role.COORDINATOR
    )
    assert coordinator_system.token.issued_by_user_id is None


async def test_delegated_decisions_let_the_operator_issue_a_deciding_coordinator_system(
    delegated: Delegated,
) -> None:
    api = delegated.api
    admin = await actor_for(api.hub, "dby.admin")
    # Still never from an agency admin, nor for a practitioner's system.
    with pytest.raises(InvalidInput, match="practitioner systems only"):
        await api.hub.tokens.issue(admin, "DBY-POLICE", "CMS", DECIDE, role=Role.COORDINATOR)
    with pytest.raises(InvalidInput, match="coordinator"):
        await api.hub.tokens.issue(None, "DBY-POLICE", "CMS", DECIDE)
    issued = await api.hub.tokens.issue(
        None, "DBY-POLICE", "Unit system", DECIDE, role=Role.COORDINATOR
    )
    assert "disclosures:decide" in {s.value for s in issued.token.scopes}


# -- the reported combination: one admin, two tokens ------------------------------------------


async def test_one_admin_cannot_propose_approve_and_deliver_through_two_tokens(api: Api) -> None:
    hub = api.hub
    admin = await actor_for(hub, "dby.admin")
    practitioner = (await hub.tokens.issue(admin, "DBY-POLICE", "CMS", ALL_SCOPES)).secret
    # The second token the admin wanted, a coordinator's, is refused at issue...
    with pytest.raises(InvalidInput):
        await hub.tokens.issue(admin, "DBY-POLICE", "Approvals", DECIDE, role=Role.COORDINATOR)
    with pytest.raises(InvalidInput):
        await hub.tokens.issue(admin, "DBY-POLICE", "Approvals", ALL_SCOPES, role=Role.COORDINATOR)
    second = (await hub.tokens.issue(admin, "DBY-POLICE", "Second CMS", ALL_SCOPES)).secret
    # ...and a coordinator's system from the operator, told to act for the admin, fares no better.
    unit = await api.token("DBY-POLICE", ALL_SCOPES, role=Role.COORDINATOR, name="Unit system")

    disclosure = await propose(api, practitioner)  # acts for the admin who issued it
    # The register as the area's coordinator reads it (an agency admin reads no disclosure record).
    register = await actor_for(hub, "dby.coordinator")
    view = await hub.disclosures.get(register, disclosure)
    caller = await account_of(api, practitioner)
    assert view.row.proposer_user_id == caller.actor.user.id  # the token's account...
    assert view.row.proposer_person_id == admin.user.id  # ...and the person behind it
    assert view.proposer == "Derbyshire Police Systems Admin (through System: CMS)"
    before = await snapshot(hub)

    for token, person in [
        (second, None),
        (second, "dby.admin"),
        (practitioner, None),
        (unit, "dby.admin"),
        (unit, None),
    ]:
        status, doc = await decide(api, token, disclosure, person)
        assert status == 403, (token, person, doc)
    # Below the API's scope check the service refuses it too: the policy allows no delegated
    # decisions (and the admin is no approver, and the proposer).
    unit_actor = (await hub.callers.acting_for(await account_of(api, unit), "dby.admin")).actor
    assert unit_actor.has_role(Role.COORDINATOR) and unit_actor.person == admin.user
    with pytest.raises(Forbidden, match="delegated decisions"):
        await hub.disclosures.decide(unit_actor, disclosure, "approve", REASONS)
    for token, person in [(practitioner, None), (second, None), (unit, "dby.admin")]:
        status, doc = await deliver(api, token, disclosure, person)
        assert status == 409, (person, doc)  # nothing approved to deliver: the state refuses
        assert "approved" in doc["detail"]
    assert await snapshot(hub) == before
    after = await hub.disclosures.get(register, disclosure)
    assert (after.row.status, after.decisions) == ("proposed", [])
    # The person does not decide as themselves either: the admin cannot decide at all.
    with pytest.raises(Forbidden):
        await hub.disclosures.decide(admin, disclosure, "approve", REASONS)


# -- a token decides only when the policy allows it, and only for a named approver ------------


async def test_a_token_decides_for_a_named_approver_other_than_the_proposer(
    delegated: Delegated,
) -> None:
    api = delegated.api
    hub = api.hub
    admin = await actor_for(hub, "dby.admin")
    coordinator = await actor_for(hub, "dby.coordinator")
    practitioner = (await hub.tokens.issue(admin, "DBY-POLICE", "CMS", ALL_SCOPES)).secret
    unit = (
        await hub.tokens.issue(None, "DBY-POLICE", "Unit system", DECIDE, role=Role.COORDINATOR)
    ).secret
    # A person of the agency who is not an approver, and a system account, cannot be named.
    system_account = (await account_of(api, practitioner)).actor.user.username
    disclosure = await propose(api, practitioner)
    before = await snapshot(hub)
    refusals: list[tuple[str | list[str] | None, str]] = [
        (None, "acts for no named person"),  # issued at the command line: nobody behind it
        ("dby.admin", "neither"),  # the proposer, and no approver
        ("dby.police", "neither"),  # a practitioner
        ("dby.auditor", "neither"),
        ("nts.coordinator", "active person of this token's agency"),  # another agency
        ("dby.probation", "active person of this token's agency"),
        ("no.such.person", "active person of this token's agency"),
        (system_account, "active person of this token's agency"),
        ("DBY.COORDINATOR", "active person of this token's agency"),
        ("", "active person of this token's agency"),
        (["dby.coordinator", "dby.coordinator"], "active person of this token's agency"),
    ]
    for person, message in refusals:
        status, doc = await decide(api, unit, disclosure, person)
        assert status == 403, (person, doc)
        assert message in doc["detail"], (person, doc)
    assert await snapshot(hub) == before

    status, doc = await decide(api, unit, disclosure, "dby.coordinator")
    assert status == 200, doc
    assert doc["status"] == "approved"
    [decision] = doc["decisions"]
    assert decision["approver"] == "Priya Shah (MAPPA Coordinator) (through System: Unit system)"
    [row] = (await hub.disclosures.get(coordinator, disclosure)).decisions
    assert row.approver_person_id == coordinator.user.id
    assert row.approver_user_id == (await account_of(api, unit)).actor.user.id
    # The proposer records it as made, through their token; the delivery names them.
    status, doc = await deliver(api, practitioner, disclosure)
    assert status == 200 and doc["status"] == "delivered", doc
    done = await hub.disclosures.get(coordinator, disclosure)
    assert done.row.delivered_by_person_id == admin.user.id
    assert done.row.delivered_by_user_id == (await account_of(api, practitioner)).actor.user.id
    assert (await hub.ledger.verify()).entries == await ledger_size(api)


async def test_a_person_who_proposed_in_the_inbox_cannot_approve_through_a_token(
    delegated: Delegated,
) -> None:
    api = delegated.api
    hub = api.hub
    unit = (
        await hub.tokens.issue(None, "DBY-POLICE", "Unit system", DECIDE, role=Role.COORDINATOR)
    ).secret
    disclosure = await propose_in_the_inbox(api, "dby.coordinator")
    view = await hub.disclosures.get(await actor_for(hub, "dby.coordinator"), disclosure)
    assert view.row.proposer_person_id == view.row.proposer_user_id  # a person's own account
    before = await snapshot(hub)
    status, doc = await decide(api, unit, disclosure, "dby.coordinator")
    assert status == 403 and "someone else must decide" in doc["detail"], doc
    assert await snapshot(hub) == before
    # The same system acting for another coordinator decides: it is the person that counts.
    await add_person(api, "dby.coordinator.two", Role.COORDINATOR)
    status, doc = await decide(api, unit, disclosure, "dby.coordinator.two")
    assert status == 200 and doc["status"] == "approved", doc


async def test_a_person_decides_once_whichever_account_they_use(delegated: Delegated) -> None:
    api = delegated.api
    hub = api.hub
    coordinator = await actor_for(hub, "dby.coordinator")
    unit = (
        await hub.tokens.issue(None, "DBY-POLICE", "Unit system", DECIDE, role=Role.COORDINATOR)
    ).secret
    # Level 3: a coordinator and a senior manager approve.
    disclosure = await propose_in_the_inbox(api, "dby.police", "Pritchard")
    half = await hub.disclosures.decide(coordinator, disclosure, "approve", REASONS)
    assert half.outstanding == {"senior-manager": 1}
    before = await snapshot(hub)
    status, doc = await decide(api, unit, disclosure, "dby.coordinator")
    assert status == 409 and "already decided" in doc["detail"], doc
    assert await snapshot(hub) == before
    # The other way round: a decision through the token, then the same person signed in.
    other = await propose_in_the_inbox(api, "dby.police", "Pritchard")
    status, doc = await decide(api, unit, other, "dby.coordinator")
    assert status == 200 and doc["outstanding"] == {"senior-manager": 1}, doc
    with pytest.raises(Conflict, match="already decided"):
        await hub.disclosures.decide(coordinator, other, "approve", REASONS)
    senior = await hub.disclosures.decide(
        await actor_for(hub, "dby.senior"), other, "approve", "A senior officer agrees."
    )
    assert senior.row.status == "approved"
    assert [d.approver_person_id for d in senior.decisions] == [
        coordinator.user.id,
        (await actor_for(hub, "dby.senior")).user.id,
    ]


async def test_no_token_decides_once_the_policy_stops_delegated_decisions(
    delegated: Delegated,
) -> None:
    api = delegated.api
    hub = api.hub
    unit = (
        await hub.tokens.issue(None, "DBY-POLICE", "Unit system", DECIDE, role=Role.COORDINATOR)
    ).secret
    disclosure = await propose_in_the_inbox(api, "dby.police")
    set_delegated(delegated.policies, False)
    await hub.policy.reload()
    assert hub.policy.current.delegated_decisions is False
    before = await snapshot(hub)
    status, doc = await decide(api, unit, disclosure, "dby.coordinator")
    assert status == 403 and "delegated decisions" in doc["detail"], doc
    assert await snapshot(hub) == before
    # People still decide in the inbox.
    approved = await hub.disclosures.decide(
        await actor_for(hub, "dby.coordinator"), disclosure, "approve", REASONS
    )
    assert approved.row.status == "approved"


# -- a token that names nobody ----------------------------------------------------------------


async def test_a_token_that_acts_for_nobody_neither_proposes_nor_records(api: Api) -> None:
    hub = api.hub
    unnamed = await api.token("DBY-POLICE")  # issued at the command line: no issuer
    assert (await account_of(api, unnamed)).actor.person is None
    before = await snapshot(hub)
    status, doc = await call(
        api,
        "POST",
        "/api/v1/packets",
        unnamed,
        body={
            "case_id": await case_id(hub, "Harlow"),
            "recipient_agencies": ["DBY-PROBATION"],
            "subject": "Proposed disclosure",
            "body": "",
            "purpose": "public-protection",
            "lawful_basis": "cja2003-s325",
            "packet_type": "disclosure-proposal",
            "data_categories": LETTER_CATEGORIES,
            "necessity": WHY_WHO_USE,
            "form": disclosure_proposal_form(),
        },
    )
    assert status == 403 and "On-Behalf-Of" in doc["detail"], doc
    assert await snapshot(hub) == before
    # Named, it proposes for that person; a plain note needs nobody named.
    disclosure = await propose(api, unnamed, "dby.police")
    police = await actor_for(hub, "dby.police")
    assert (await hub.disclosures.get(police, disclosure)).row.proposer_person_id == police.user.id
    status, doc = await deliver(api, unnamed, disclosure)
    assert status == 403 and "On-Behalf-Of" in doc["detail"], doc
    status, _ = await call(api, "GET", "/api/v1/cases", unnamed, person="dby.police")
    assert status == 200
    # An issuer who leaves takes the token's person with them.
    admin = await add_person(api, "dby.admin.two", Role.AGENCY_ADMIN)
    issued = (await hub.tokens.issue(admin, "DBY-POLICE", "CMS", ALL_SCOPES)).secret
    assert (await account_of(api, issued)).actor.person == admin.user
    async with hub.db.write() as conn:
        await directory_store.update_user(conn, admin.user.id, active=False)
    assert (await account_of(api, issued)).actor.person is None


# -- issuing and revoking on the log ----------------------------------------------------------


async def test_issuing_and_revoking_are_on_the_log_and_it_verifies(api: Api) -> None:
    hub = api.hub
    admin = await actor_for(hub, "dby.admin")
    seq = await ledger_size(api)
    issued = await hub.tokens.issue(admin, "DBY-POLICE", "CMS", ALL_SCOPES, case_references=None)
    operator = await hub.tokens.issue(None, "DBY-HOUSING", "Housing CRM", ["packets:read"])
    revoked = await hub.tokens.revoke(admin, issued.token.id)
    assert (await hub.tokens.revoke(None, issued.token.id)).revoked_at == revoked.revoked_at
    assert await ledger_size(api) == seq + 3  # revoking again logs nothing
    async with hub.db.read() as conn:
        rows = [dict(r) async for r in ledger_store.stream_entries(conn)][seq:]
        hashes = (await conn.execute(select(api_tokens.c.secret_hash))).scalars().all()
    agencies = {a.code: a.id for a in await hub.directory.agencies()}
    expected = [
        ("token-issued", admin.user.id, admin.agency.id, agencies["DBY-POLICE"], issued.token),
        ("token-issued", None, None, agencies["DBY-HOUSING"], operator.token),
        ("token-revoked", admin.user.id, admin.agency.id, agencies["DBY-POLICE"], revoked),
    ]
    for row, (event, user, agency, recipient, token) in zip(rows, expected, strict=True):
        assert (row["action"], row["event"]) == ("alteration", event)
        assert (row["actor_user_id"], row["actor_agency_id"]) == (user, agency)
        assert row["actor_token_id"] is None  # no token acted: a person or the operator did
        assert row["recipients"] == str(recipient)
        assert row["content_digest"] == ledger_digest(token)
        assert row["case_id"] is None and row["packet_id"] is None
        entry = bytes(row["entry"])
        assert json.loads(entry)["event"] == event
        for secret in (issued.secret, operator.secret):
            assert secret.split("_", 2)[2].encode() not in entry
        for stored in hashes:
            assert stored.encode() not in entry
    assert ledger_digest(issued.token) != ledger_digest(revoked)  # the revocation time is in it
    assert (await hub.ledger.verify()).entries == seq + 3
