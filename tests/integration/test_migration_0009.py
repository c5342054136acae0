"""Migration 0009 on a database with data: the person behind each disclosure proposal, decision and
delivery is filled in from the account (a token's account: the admin who issued it), a second
decision that would fall to the same person is left without one, and it goes down again with the
data in place. The one-decision-per-person index holds whichever accounts a person uses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from hub.config import Config
from hub.demo import seed
from hub.errors import Conflict
from hub.model.directory import Role
from hub.model.packets import Draft, PacketType
from hub.services.actor import Actor
from hub.store import disclosures as disclosure_store
from hub.store.database import Database
from hub.store.schema import disclosure_decisions, disclosures
from hub.wiring import Hub, initialise
from tests.api.conftest import ALL_SCOPES
from tests.conftest import START, TickingClock, actor_for, agency_id, case_id
from tests.integration.workflow_support import WHY_WHO_USE
from tests.workflow_forms import disclosure_proposal_form

REASONS = "Necessary and proportionate to protect children at the schools; the last resort."


async def _propose(hub: Hub, actor: Actor) -> int:
    sent = await hub.packets.send(
        actor,
        Draft(
            case_id=await case_id(hub, "Pritchard"),  # level 3: two approvals
            recipient_agency_ids=(await agency_id(hub, "DBY-PROBATION"),),
            subject="Proposed disclosure",
            body="",
            purpose="public-protection",
            lawful_basis="cja2003-s325",
            packet_type=PacketType.DISCLOSURE_PROPOSAL,
            data_categories=("identity", "offence-history", "risk-summary"),
            necessity=WHY_WHO_USE,
            form=disclosure_proposal_form(),
        ),
    )
    found = await hub.disclosures.for_proposal(await actor_for(hub, "dby.coordinator"), sent.id)
    assert found is not None
    return found


async def test_people_are_filled_in_and_the_migration_goes_down_with_data(config: Config) -> None:
    await initialise(config)
    hub = await Hub.open(config, TickingClock(START))
    try:
        await seed(hub)
        admin = await actor_for(hub, "dby.admin")
        police = await actor_for(hub, "dby.police")
        coordinator = await actor_for(hub, "dby.coordinator")
        first = await hub.tokens.issue(admin, "DBY-POLICE", "CMS", ALL_SCOPES)
        second = await hub.tokens.issue(admin, "DBY-POLICE", "Second CMS", ALL_SCOPES)
        operator = await hub.tokens.issue(None, "DBY-POLICE", "Unit", ALL_SCOPES)
        by_token = await _propose(hub, (await hub.callers.authenticate(first.secret)).actor)
        by_person = await _propose(hub, police)
        await hub.disclosures.decide(coordinator, by_person, "approve", REASONS)
    finally:
        await hub.close()

    db = Database(config.database_url)
    try:
        await db.downgrade("0008")  # drops the person columns with rows in both tables
        # What the bug left behind: one admin's two tokens (and an unissued one) deciding.
        async with db.write() as conn:
            for account, disclosure in [
                (first.token.user_id, by_token),
                (second.token.user_id, by_token),
                (operator.token.user_id, by_token),
                (second.token.user_id, by_person),
            ]:
                await conn.execute(
                    text(
                        "INSERT INTO disclosure_decisions (disclosure_id, approver_user_id, "
                        "approver_agency_id, role, decision, reasons, conditions, decided_at) "
                        "VALUES (:d, :u, :a, 'coordinator', 'approve', 'r', '', :t)"
                    ),
                    {"d": disclosure, "u": account, "a": admin.agency.id, "t": START},
                )
            await conn.execute(
                text(
                    "UPDATE disclosures SET delivered_by_user_id = :u, status = 'delivered' "
                    "WHERE id = :d"
                ),
                {"u": second.token.user_id, "d": by_person},
            )
        await db.migrate()
        async with db.read() as conn:
            rows = {
                r.id: r
                for r in (
                    await conn.execute(
                        select(disclosures).where(disclosures.c.id.in_([by_token, by_person]))
                    )
                ).all()
            }
            decided = [
                (r.disclosure_id, r.approver_user_id, r.approver_person_id)
                for r in (
                    await conn.execute(
                        select(disclosure_decisions)
                        .where(disclosure_decisions.c.disclosure_id.in_([by_token, by_person]))
                        .order_by(disclosure_decisions.c.id)
                    )
                ).all()
            ]
    finally:
        await db.dispose()
    assert (rows[by_token].proposer_user_id, rows[by_token].proposer_person_id) == (
        first.token.user_id,
        admin.user.id,
    )
    assert rows[by_person].proposer_person_id == police.user.id
    assert rows[by_person].delivered_by_person_id == admin.user.id
    assert rows[by_token].delivered_by_person_id is None
    assert decided == [
        (by_person, coordinator.user.id, coordinator.user.id),  # a person's own account
        (by_token, first.token.user_id, admin.user.id),  # the issuer of the token
        (by_token, second.token.user_id, None),  # the same person again: left unattributed
        (by_token, operator.token.user_id, None),  # issued at the command line: nobody
        (by_person, second.token.user_id, admin.user.id),
    ]


async def test_one_decision_per_person_is_held_by_the_database(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    disclosure = await _propose(hub, police)
    await hub.disclosures.decide(coordinator, disclosure, "approve", REASONS)
    account = await hub.tokens.issue(
        None, "DBY-POLICE", "Unit", ["cases:read"], role=Role.COORDINATOR
    )
    with pytest.raises(IntegrityError):
        async with hub.db.write() as conn:
            await disclosure_store.insert_decision(
                conn,
                disclosure_id=disclosure,
                approver_user_id=account.token.user_id,
                approver_person_id=coordinator.user.id,
                approver_agency_id=coordinator.agency.id,
                role="coordinator",
                decision="approve",
                reasons=REASONS,
                conditions="",
                decided_at=START + timedelta(days=1),
            )
    # A decision older than 0009 that names no person still counts for its account's user.
    async with hub.db.write() as conn:
        await conn.execute(
            update(disclosure_decisions)
            .where(disclosure_decisions.c.disclosure_id == disclosure)
            .values(approver_person_id=None)
        )
    with pytest.raises(Conflict, match="already decided"):
        await hub.disclosures.decide(coordinator, disclosure, "approve", REASONS)
    view = await hub.disclosures.get(coordinator, disclosure)
    assert [d.approver_person_id for d in view.decisions] == [None]
    assert view.decided_by == {coordinator.user.id: "Priya Shah (MAPPA Coordinator)"}
