"""`keys rotate` leaves every older packet readable and new packets use the new keys."""

from __future__ import annotations

from datetime import datetime, timedelta

import nacl.public
import nacl.signing
import pytest

from hub.clock import ManualClock
from hub.crypto.canonical import canonical_json
from hub.crypto.secrets import sha256_hex
from hub.errors import Conflict
from hub.ledger.entries import Event
from hub.model.directory import AgencyType, Jurisdiction, Role
from hub.model.packets import Draft
from hub.services.account_events import subject_digest
from hub.services.keyring import REFRESH
from hub.store import keys as key_store
from hub.store import ledger as ledger_store
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


async def _entries(hub: Hub, since: int) -> list[dict[str, object]]:
    async with hub.db.read() as conn:
        return [dict(r) async for r in ledger_store.stream_entries(conn)][since:]


def _recipients(value: object) -> list[int]:
    return [int(x) for x in str(value).split(",") if x]


def _digest(event: str, **what: object) -> str:
    return sha256_hex(canonical_json({"event": event, **what}))


async def test_an_agency_its_keys_and_its_people_are_on_the_log(hub: Hub, logins: object) -> None:
    """Who the hub seals to and who may sign in: an agency added with its first keys, a
    rotation, an agency system's own keys registered and a person's account, each an
    alteration by the operator naming the agency, with a digest that the rows recompute."""
    async with hub.db.read() as conn:
        since, _ = await ledger_store.head(conn)
    agency = await hub.directory.add_agency(
        "DBY-YJS", "Derby Youth Justice", AgencyType.YOUTH_OFFENDING, "DBY"
    )
    first = await hub.keyring.active(agency.id)
    rotated = await hub.keyring.issue(agency.id)
    own_enc = nacl.public.PrivateKey.generate().public_key.encode()
    own_sig = nacl.signing.SigningKey.generate().verify_key.encode()
    imported = await hub.keyring.import_public(agency.id, own_enc, own_sig)
    enrolment = await hub.directory.add_user(
        "yjs.worker", "A Worker", "DBY-YJS", Role.PRACTITIONER, "four unrelated words here"
    )

    entries = await _entries(hub, int(since))
    assert [e["event"] for e in entries] == [
        "agency-added", "keys-issued", "keys-issued", "keys-imported", "account-created",
    ]  # fmt: skip
    for e in entries:
        assert (e["action"], e["actor_user_id"], e["actor_agency_id"]) == ("alteration", None, None)
        assert _recipients(e["recipients"]) == [agency.id]
    ids = [
        [k.encryption.key_id, k.signing.key_id] for k in (first, rotated, imported)
    ]  # fmt: skip
    assert [e["content_digest"] for e in entries[:4]] == [
        _digest("agency-added", agency="DBY-YJS", name="Derby Youth Justice", type="youth-offending",
                area="DBY"),
        _digest("keys-issued", keys=ids[0], retired=[]),
        _digest("keys-issued", keys=ids[1], retired=sorted(ids[0])),
        _digest("keys-imported", keys=ids[2], retired=sorted(ids[1])),
    ]  # fmt: skip
    created_at = entries[4]["recorded_at"]
    assert isinstance(created_at, datetime)
    assert entries[4]["content_digest"] == subject_digest(
        Event.ACCOUNT_CREATED, enrolment.user, created_at
    )
    assert "yjs.worker" not in str(entries) and "A Worker" not in str(entries)
    assert (await hub.ledger.verify([], None)).entries == int(since) + 5


async def test_an_area_added_is_on_the_log(hub: Hub, logins: object) -> None:
    """An area, where agencies and cases belong: an alteration by the operator naming no agency,
    with a digest of its code, name and jurisdiction; a refused duplicate adds nothing."""
    async with hub.db.read() as conn:
        since, _ = await ledger_store.head(conn)
    await hub.directory.add_area("LEI", "Leicestershire", Jurisdiction.ENGLAND_AND_WALES)
    with pytest.raises(Conflict):
        await hub.directory.add_area("LEI", "Leicestershire again", Jurisdiction.ENGLAND_AND_WALES)
    [entry] = await _entries(hub, int(since))
    assert (entry["event"], entry["action"], entry["recipients"]) == (
        "area-added",
        "alteration",
        "",
    )
    assert (entry["actor_user_id"], entry["actor_agency_id"]) == (None, None)
    assert entry["content_digest"] == _digest(
        "area-added", area="LEI", name="Leicestershire", jurisdiction="england-and-wales"
    )
    assert (await hub.ledger.verify([], None)).entries == int(since) + 1


async def test_a_refused_import_leaves_no_entry(hub: Hub, logins: object) -> None:
    housing_id = await agency_id(hub, "DBY-HOUSING")
    police = await hub.keyring.active(await agency_id(hub, "DBY-POLICE"))
    async with hub.db.read() as conn:
        since, _ = await ledger_store.head(conn)
    with pytest.raises(Conflict):  # police's key, registered for housing
        await hub.keyring.import_public(
            housing_id, police.encryption.public_key, police.signing.public_key
        )
    assert await _entries(hub, int(since)) == []
