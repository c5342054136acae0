"""`keys rotate` leaves every older packet readable and new packets use the new keys."""

from __future__ import annotations

from datetime import timedelta

from hub.clock import ManualClock
from hub.model.packets import Draft
from hub.services.keyring import REFRESH
from hub.store import keys as key_store
from hub.store import packets as packet_store
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def _send(hub: Hub, body: str) -> str:
    police = await actor_for(hub, "dby.police")
    sent = await hub.packets.send(
        police,
        Draft(
            case_id=await case_id(hub, "Harlow"),
            recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject="rotation",
            body=body,
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
        ),
    )
    return sent.id


async def test_rotation_keeps_old_packets_readable(hub: Hub, logins: object) -> None:
    before = await _send(hub, "sealed before rotation")
    housing_id = await agency_id(hub, "DBY-HOUSING")
    police_id = await agency_id(hub, "DBY-POLICE")
    old_keys = await hub.keyring.active(housing_id)
    for aid in (housing_id, police_id):
        await hub.keyring.issue(aid)
    new_keys = await hub.keyring.active(housing_id)
    assert new_keys.encryption.key_id != old_keys.encryption.key_id

    after = await _send(hub, "sealed after rotation")
    housing = await actor_for(hub, "dby.housing")
    police = await actor_for(hub, "dby.police")
    assert (await hub.packets.open(housing, before)).body == "sealed before rotation"
    assert (await hub.packets.open(police, before)).body == "sealed before rotation"
    assert (await hub.packets.open(housing, after)).body == "sealed after rotation"

    async with hub.db.read() as conn:
        stored = await key_store.keys_for_agency(conn, housing_id)
    assert sum(1 for k in stored if k.active) == 2  # one encryption, one signing
    assert sum(1 for k in stored if not k.active) == 2
    # The private halves are wrapped, never stored in clear.
    for k in stored:
        assert hub.keyring.private(k).reveal() not in k.wrapped_private


async def test_rotation_seen_by_a_second_process(
    hub: Hub, logins: object, clock: ManualClock
) -> None:
    """A gateway that did not do the rotation seals to the new keys once its cache refreshes."""
    other = await Hub.open(hub.config, hub.clock)
    try:
        housing_id = await agency_id(hub, "DBY-HOUSING")
        before = await _send(hub, "old")
        new_keys = await other.keyring.issue(housing_id)
        clock.advance(REFRESH + timedelta(seconds=1))
        after = await _send(hub, "new")  # sealed by the first hub
        async with hub.db.read() as conn:
            wrapped = await packet_store.wrapped_keys(conn, after)
        assert new_keys.encryption.key_id in {
            w.key_id for w in wrapped if w.agency_id == housing_id
        }
        housing = await actor_for(other, "dby.housing")
        assert (await other.packets.open(housing, after)).body == "new"
        assert (await hub.packets.open(housing, before)).body == "old"
    finally:
        await other.close()
