"""Email notifications queued in the transaction of their cause, on SQLite and PostgreSQL: one row
per person, as each person chose, never case content, and nothing when the cause rolls back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hub.clock import ManualClock
from hub.errors import Forbidden, InvalidInput
from hub.model.directory import Role
from hub.model.packets import Draft, PacketType
from hub.services import notices
from hub.store import directory as directory_store
from hub.store import workflows as wf_store
from hub.store.schema import email_outbox
from hub.wiring import Hub
from hub.workflows.deadlines import local_date
from tests.conftest import actor_for, agency_id, harlow_note
from tests.integration.workflow_support import new_case
from tests.workflow_forms import request_form

ADDRESSES = {
    "dby.housing": "aisha.khan@housing.derby.example",
    "dby.police": "mark.ellis@police.derbyshire.example",
    "dby.coordinator": "priya.shah@police.derbyshire.example",
    "dby.senior": "claire.douglas@police.derbyshire.example",
    "dby.probation": "helen.carter@probation.derbyshire.example",
    "dby.admin": "systems@police.derbyshire.example",
    "nts.coordinator": "james.okoro@probation.notts.example",
}


async def _addresses(hub: Hub) -> dict[str, int]:
    ids = {}
    for username, address in ADDRESSES.items():
        ids[username] = (await hub.notices.set_email(username, address)).id
    return ids


async def _rows(hub: Hub, **where: Any) -> list[dict[str, Any]]:
    stmt = select(email_outbox).order_by(email_outbox.c.id)
    for column, value in where.items():
        stmt = stmt.where(email_outbox.c[column] == value)
    async with hub.db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def _note(hub: Hub, to: str = "DBY-HOUSING") -> Draft:
    body = "Please check 12 Example Road before Thursday."
    return await harlow_note(hub, "Address check for the Harlow panel", body=body, to=to)


async def test_a_packet_tells_each_reader_of_the_recipient_agency_once(
    hub: Hub, logins: object
) -> None:
    ids = await _addresses(hub)
    # Another housing reader without an address, and a housing admin with one: neither is told.
    await hub.directory.add_user("dby.housing2", "No Address", "DBY-HOUSING", Role.PRACTITIONER,
                                 "correct-horse-battery-staple")  # fmt: skip
    await hub.directory.add_user("dby.housing.admin", "Housing Admin", "DBY-HOUSING",
                                 Role.AGENCY_ADMIN, "correct-horse-battery-staple")  # fmt: skip
    await hub.notices.set_email("dby.housing.admin", "admin@housing.derby.example")
    sent = await hub.packets.send(await actor_for(hub, "dby.police"), await _note(hub))

    [row] = await _rows(hub, ref=sent.id)
    assert (row["user_id"], row["to_address"], row["event"], row["status"]) == (
        ids["dby.housing"],
        ADDRESSES["dby.housing"],
        "new-packet",
        "pending",
    )
    assert (row["kind"], row["channel"], row["link"], row["case_id"]) == (
        "notification",
        "email",
        f"/packets/{sent.id}",
        sent.case_id,
    )
    assert row["agency_id"] == await agency_id(hub, "DBY-HOUSING")
    # No case content: nothing of the subject or body anywhere in the row.
    assert row["body_sealed"] is None
    assert "Example Road" not in repr(row) and "Harlow" not in repr(row)


async def test_an_inactive_account_is_not_told(hub: Hub, logins: object) -> None:
    ids = await _addresses(hub)
    async with hub.db.write() as conn:
        await directory_store.update_user(conn, ids["dby.housing"], active=False)
    sent = await hub.packets.send(await actor_for(hub, "dby.police"), await _note(hub))
    assert await _rows(hub, ref=sent.id) == []


async def test_a_rolled_back_cause_queues_nothing(hub: Hub, logins: object) -> None:
    await _addresses(hub)
    housing = await agency_id(hub, "DBY-HOUSING")
    with pytest.raises(RuntimeError):
        async with hub.db.write() as conn:
            queued = await notices.packets_delivered(conn, [("p-rolled-back", None, [housing])],
                                                     hub.clock.now())  # fmt: skip
            assert queued == 1
            raise RuntimeError("the cause failed after queueing")
    assert await _rows(hub, ref="p-rolled-back") == []
    # The same call committed queues once, and a second time (a repeated cause) not again.
    for _ in range(2):
        async with hub.db.write() as conn:
            await notices.packets_delivered(conn, [("p-kept", None, [housing])], hub.clock.now())
    assert len(await _rows(hub, ref="p-kept")) == 1


async def test_a_batch_of_packets_queues_every_message_in_one_statement(
    hub: Hub, logins: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A share batch's deliveries queue one message per packet and person told, all in one
    statement; a message already queued (a repeated cause) is neither queued again nor counted,
    and a cause named twice in the same batch is queued once."""
    await _addresses(hub)
    housing, police = await agency_id(hub, "DBY-HOUSING"), await agency_id(hub, "DBY-POLICE")
    async with hub.db.write() as conn:
        await notices.packets_delivered(conn, [("p-batch-0", None, [housing])], hub.clock.now())
    statements: list[int] = []
    real = notices.outbox.enqueue_many

    async def counted(conn: Any, messages: Any) -> int:
        statements.append(len(messages))
        return await real(conn, messages)

    monkeypatch.setattr(notices.outbox, "enqueue_many", counted)
    batch = [(f"p-batch-{n}", None, [housing, police]) for n in range(3)]
    async with hub.db.write() as conn:
        queued = await notices.packets_delivered(conn, [*batch, batch[1]], hub.clock.now())
    told = {r["to_address"] for r in await _rows(hub, ref="p-batch-1")}
    assert ADDRESSES["dby.housing"] in told and ADDRESSES["dby.police"] in told
    per_packet = len(told)
    assert len(statements) == 1 and statements[0] == 4 * per_packet  # one statement, all of them
    # p-batch-0 to housing was queued before; p-batch-1 is named twice.
    assert queued == 3 * per_packet - 1
    for n in range(3):
        assert len(await _rows(hub, ref=f"p-batch-{n}")) == per_packet


async def test_settings_off_digest_and_overdue_never_off(hub: Hub, logins: object) -> None:
    ids = await _addresses(hub)
    housing = await actor_for(hub, "dby.housing")
    defaults = await hub.notices.settings(housing)
    assert defaults.email == ADDRESSES["dby.housing"]
    assert defaults.modes == notices.DEFAULTS

    with pytest.raises(InvalidInput) as refused:
        await hub.notices.save_settings(
            housing,
            {"new-packets": "off", "requests-due": "off", "decisions": "off", "overdue": "off"},
        )
    assert refused.value.field == "overdue"
    assert (await hub.notices.settings(housing)).modes == notices.DEFAULTS  # nothing half-saved

    await hub.notices.save_settings(
        housing,
        {"new-packets": "off", "requests-due": "off", "decisions": "off", "overdue": "digest"},
    )
    first = await hub.packets.send(await actor_for(hub, "dby.police"), await _note(hub))
    assert await _rows(hub, ref=first.id) == []

    await hub.notices.save_settings(
        housing,
        {"new-packets": "digest", "requests-due": "off", "decisions": "off", "overdue": "digest"},
    )
    second = await hub.packets.send(await actor_for(hub, "dby.police"), await _note(hub))
    [row] = await _rows(hub, ref=second.id)
    assert (row["user_id"], row["status"]) == (ids["dby.housing"], "digest")

    # An agency system has no settings of its own; an admin is never notified.
    with pytest.raises(Forbidden):
        await hub.notices.settings(await actor_for(hub, "dby.admin"))


async def test_the_daily_digest_folds_once_per_person(hub: Hub, logins: object) -> None:
    ids = await _addresses(hub)
    housing = await actor_for(hub, "dby.housing")
    await hub.notices.save_settings(
        housing,
        {
            "new-packets": "digest",
            "requests-due": "digest",
            "decisions": "off",
            "overdue": "digest",
        },
    )
    police = await actor_for(hub, "dby.police")
    sent = [await hub.packets.send(police, await _note(hub)) for _ in range(2)]
    waiting = [r for s in sent for r in await _rows(hub, ref=s.id)]
    assert [r["status"] for r in waiting] == ["digest", "digest"]

    run = await hub.notices.run_digests()
    assert (run.people, run.folded) == (1, 2)
    [digest] = await _rows(hub, kind="digest")
    assert (digest["user_id"], digest["status"], digest["to_address"], digest["event"]) == (
        ids["dby.housing"],
        "pending",
        ADDRESSES["dby.housing"],
        "digest",
    )
    assert digest["ref"] == ",".join(str(r["id"]) for r in waiting)
    assert digest["dedupe_key"] == f"digest:{ids['dby.housing']}:{local_date(hub.clock.now())}"
    folded = [r for s in sent for r in await _rows(hub, ref=s.id)]
    assert {(r["status"], r["digest_id"]) for r in folded} == {("folded", digest["id"])}

    # A notice arriving after today's digest waits for tomorrow's.
    late = await hub.packets.send(police, await _note(hub))
    assert (await hub.notices.run_digests()).people == 0
    assert [r["status"] for r in await _rows(hub, ref=late.id)] == ["digest"]
    assert isinstance(hub.clock, ManualClock)
    hub.clock.advance(timedelta(days=1))
    assert (await hub.notices.run_digests()).people == 1
    assert len(await _rows(hub, kind="digest")) == 2


async def test_requests_due_soon_then_overdue(hub: Hub, logins: object) -> None:
    ids = await _addresses(hub)
    today = local_date(hub.clock.now())
    due = today + timedelta(days=1)
    case = await new_case(hub, "Noticeable")
    draft = Draft(
        case_id=case,
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject="Tenancy check",
        body="",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type=PacketType.REQUEST,
        data_categories=("identity", "risk-summary"),
        necessity={
            "why": "The panel must know who visits the address.",
            "who": "The offender manager and the panel members.",
            "use": "To review the risk management plan at the meeting.",
        },
        form=request_form(due_on=due.isoformat()),
    )
    await hub.packets.send(await actor_for(hub, "dby.probation"), draft)
    async with hub.db.read() as conn:
        [item] = await wf_store.open_items(conn, case_id=case, kind="request")

    for _ in range(2):  # the sweep runs often; each person is told once
        await hub.notices.sweep_due_soon()
    [soon] = await _rows(hub, ref=f"item-{item.id}")
    assert (soon["event"], soon["user_id"], soon["status"], soon["link"]) == (
        "request-due-soon",
        ids["dby.housing"],
        "digest",  # the default for requests due
        "/requests",
    )

    assert isinstance(hub.clock, ManualClock)
    hub.clock.advance(timedelta(days=4))
    reminded = await hub.casework.raise_reminders()
    assert item.id in {r.id for r in reminded}
    await hub.casework.raise_reminders()
    overdue = [r for r in await _rows(hub, ref=f"item-{item.id}") if r["event"] != soon["event"]]
    assert [(r["event"], r["user_id"], r["status"]) for r in overdue] == [
        ("request-overdue", ids["dby.housing"], "pending")
    ]


async def test_late_minutes_tell_the_area_coordinators_and_the_chair_once(
    hub: Hub, logins: object
) -> None:
    ids = await _addresses(hub)
    coordinator = await actor_for(hub, "dby.coordinator")
    case = await new_case(hub, "Latecomer")
    held_on = local_date(hub.clock.now()) - timedelta(days=1)
    await hub.casework.record_meeting(coordinator, case, held_on, 2)
    assert isinstance(hub.clock, ManualClock)
    hub.clock.advance(timedelta(days=30))
    await hub.casework.raise_reminders()
    async with hub.db.read() as conn:
        items = {i.id: i.kind for i in await wf_store.case_items(conn, case)}
    rows = [r for r in await _rows(hub, case_id=case)]
    minutes = [r for r in rows if items[int(r["ref"].removeprefix("item-"))] == "minutes"]
    # The chair is the area's coordinator: one message, not two; never the other area's.
    assert [(r["event"], r["user_id"]) for r in minutes] == [
        ("minutes-late", ids["dby.coordinator"])
    ]
    assert ids["nts.coordinator"] not in {r["user_id"] for r in rows}
    assert minutes[0]["link"] == "/deadlines"


async def test_a_proposed_disclosure_tells_the_approvers_never_the_proposer(
    hub: Hub, logins: object
) -> None:
    ids = await _addresses(hub)
    from tests.integration.test_workflow_disclosures import _disclosure, _propose

    police = await actor_for(hub, "dby.police")
    coordinator = await actor_for(hub, "dby.coordinator")
    sent = await _propose(hub, police)
    view = await _disclosure(hub, coordinator, sent)
    rows = await _rows(hub, event="disclosure-awaiting")
    assert [(r["user_id"], r["link"]) for r in rows] == [
        (ids["dby.coordinator"], f"/disclosures/{view.id}")
    ]
    # A coordinator proposing is not told of their own proposal.
    own = await _propose(hub, coordinator, "Moss")
    own_view = await _disclosure(hub, coordinator, own)
    assert await _rows(hub, ref=f"disclosure-{own_view.id}") == []


async def test_a_held_share_tells_its_approvers_and_release_tells_the_recipients(
    hub: Hub, logins: object
) -> None:
    ids = await _addresses(hub)
    from tests.integration.test_held_shares import APPROVE, _hold, _restricted

    police = await actor_for(hub, "dby.police")
    held = await _hold(hub, police, await _restricted(hub))
    [awaiting] = await _rows(hub, event="share-awaiting")
    assert (awaiting["user_id"], awaiting["link"]) == (
        ids["dby.coordinator"],
        f"/shares/{held.share_id}",
    )
    assert await _rows(hub, ref=held.id) == []  # not delivered yet: housing is not told

    await hub.share_approvals.decide(
        await actor_for(hub, "dby.coordinator"), held.share_id, "approve", APPROVE
    )
    [delivered] = await _rows(hub, ref=held.id)
    assert (delivered["event"], delivered["user_id"]) == ("new-packet", ids["dby.housing"])


async def test_addresses_are_validated(hub: Hub, logins: object) -> None:
    for bad in ("", "no-at-sign", "a@b", "x@example.gov.uk\r\nBcc: y@z.example", "a b@c.example",
                "<a@b.example>", "a@b..example"):  # fmt: skip
        with pytest.raises(InvalidInput):
            await hub.notices.set_email("dby.housing", bad)
    user = await hub.notices.set_email("dby.housing", "  aisha@housing.derby.example ")
    assert user.email == "aisha@housing.derby.example"
    assert (await hub.notices.set_email("dby.housing", None)).email is None


def test_every_notice_has_a_group_and_overdue_cannot_be_off() -> None:
    assert set(notices.GROUP_OF) == set(notices.Notice)
    assert notices.OFF not in notices.ALLOWED[notices.Group.OVERDUE]
