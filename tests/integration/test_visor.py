"""The ViSOR-style nominal record through its service and adapter, on real SQLite and PostgreSQL:
sealed at rest, every change, read and export on the log, export passing the policy, import all or
nothing with every error by its path, and export -> import -> export giving the same record."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.visor import format as visor_format
from adapters.visor.demo import harlow
from adapters.visor.exchange import VisorExchange, VisorInvalid, export_record
from hub.clock import ManualClock
from hub.config import Config
from hub.demo import AGENCIES, AREAS
from hub.errors import Forbidden, InvalidInput, NotFound, TooLarge
from hub.policy.errors import PolicyRefused
from hub.store.schema import cases, ledger_entries, visor_records
from hub.wiring import Hub, initialise
from tests.conftest import actor_for, case_id, make_config


async def _entries(hub: Hub, event: str) -> list[Any]:
    async with hub.db.read() as conn:
        rows = await conn.execute(
            select(ledger_entries).where(ledger_entries.c.event == event).order_by("seq")
        )
        return list(rows.mappings())


async def _export_doc(hub: Hub, family_name: str) -> dict[str, Any]:
    exported = await export_record(
        hub.visor_export, await actor_for(hub, "dby.coordinator"), await case_id(hub, family_name)
    )
    loaded: dict[str, Any] = json.loads(exported.data)
    return loaded


async def test_demo_record_is_sealed_and_read_on_the_log(hub: Hub, logins: object) -> None:
    harlow_id = await case_id(hub, "Harlow")
    created = await _entries(hub, "visor-record-created")
    assert {r["case_id"] for r in created} == {harlow_id, await case_id(hub, "Pritchard")}
    assert all(r["action"] == "collection" and len(r["content_digest"]) == 64 for r in created)

    probation = await actor_for(hub, "dby.probation")  # the lead agency, active on the case
    view = await hub.visor.view(probation, harlow_id)
    assert view is not None
    assert view.document["orders"][1]["kind"] == "shpo"
    assert view.document["person"]["aliases"][0]["family_name"] == "Harlowe"
    read = await _entries(hub, "visor-record-opened")
    assert [(r["action"], r["actor_user_id"]) for r in read] == [
        ("consultation", probation.user.id)
    ]
    async with hub.db.read() as conn:
        sealed = (
            await conn.execute(
                select(visor_records.c.sealed).where(visor_records.c.case_id == harlow_id)
            )
        ).scalar_one()
    assert b"Ashbourne" not in sealed and b"Harlowe" not in sealed and b"SHPO" not in sealed


@pytest.mark.parametrize(
    "username", ["dby.housing", "dby.auditor", "dby.admin", "dby.vlo", "nts.coordinator"]
)
async def test_who_cannot_read_or_export(hub: Hub, logins: object, username: str) -> None:
    actor = await actor_for(hub, username)
    harlow_id = await case_id(hub, "Harlow")
    assert not await hub.visor.may_read(actor, harlow_id)
    with pytest.raises((Forbidden, NotFound)):
        await hub.visor.view(actor, harlow_id)
    with pytest.raises((Forbidden, NotFound)):
        await export_record(hub.visor_export, actor, harlow_id)
    assert await _entries(hub, "visor-exported") == []
    assert await _entries(hub, "visor-record-opened") == []


async def test_export_is_a_share_on_the_log(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    harlow_id = await case_id(hub, "Harlow")
    exported = await export_record(hub.visor_export, coordinator, harlow_id)
    doc = json.loads(exported.data)
    assert doc["schema_version"] == "1" and doc["person"]["pnc_ref"] == "79/112233X"
    # The hub's own meetings are referenced beside what the record holds.
    assert doc["meetings"] and doc["meetings"][0]["level"] == 2
    assert (
        visor_format.check(doc, today=hub.visor.today(), agencies={"DBY-PROBATION", "DBY-POLICE"})
        == []
    )
    [entry] = await _entries(hub, "visor-exported")
    assert entry["action"] == "disclosure" and entry["decision"] == "PERMIT"
    assert entry["content_digest"] == hashlib.sha256(exported.data).hexdigest()
    assert entry["policy_version"] == hub.policy.current.version
    assert entry["actor_user_id"] == coordinator.user.id
    assert (await hub.ledger.verify()).entries >= entry["seq"]


async def test_export_refused_by_policy_names_the_test(hub: Hub, logins: object) -> None:
    # A case led by a Duty to Cooperate agency: the export channel goes to RA agencies only.
    quinn = await case_id(hub, "Quinn")  # led by the youth justice service
    exchange = VisorExchange(hub.visor)
    doc = harlow("placeholder", hub.visor.today())
    quinn_case = await hub.cases.get(None, quinn)
    doc.update(case_reference=quinn_case.reference)
    doc["person"] = {"family_name": "Quinn", "given_names": "Ryan", "date_of_birth": "2008-04-17"}
    doc["mappa"] = {"category": 2, "level": 1, "lead_agency": "NTS-YOT"}
    await exchange.save(None, quinn, doc)
    with pytest.raises(PolicyRefused, match="Secure: ViSOR-style nominal record export is not"):
        await export_record(hub.visor_export, None, quinn_case.reference)
    assert await _entries(hub, "visor-exported") == []
    # The refusal is on the log, by the operator (no actor), naming the lead agency asked for.
    [refused] = await _entries(hub, "share-refused")
    assert (refused["action"], refused["decision"], refused["channel"]) == (
        "consultation",
        "DENY",
        "visor-export",
    )
    assert (refused["case_id"], refused["actor_user_id"], refused["content_digest"]) == (
        quinn,
        None,
        None,
    )
    assert refused["recipients"] == str(quinn_case.lead_agency_id)


def _bad(doc: dict[str, Any], today: str) -> dict[str, Any]:
    bad = copy.deepcopy(doc)
    bad["offences"][0]["offence_date"] = "2999-01-01"
    bad["addresses"][0]["to"] = "2000-01-01"
    bad["orders"][1]["stage"] = "interim"
    del bad["orders"][1]["granted_on"]
    bad["orders"][0]["granted_on"] = "not-a-date"
    bad["risk_assessments"][0]["agency"] = "NOWHERE-POLICE"
    bad["mappa"]["level"] = 7
    bad["person"]["pnc_ref"] = "nonsense"
    return bad


async def test_import_reports_every_error_by_path_and_writes_nothing(
    hub: Hub, logins: object
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    good = await _export_doc(hub, "Harlow")
    bad = _bad(good, hub.visor.today().isoformat())
    before = await _count(hub)
    with pytest.raises(VisorInvalid) as caught:
        await VisorExchange(hub.visor).import_file(coordinator, json.dumps(bad).encode())
    paths = {e["field"] for e in caught.value.errors}
    assert paths >= {
        "/offences/0/offence_date",
        "/addresses/0/to",
        "/orders/1/granted_on",
        "/orders/0/granted_on",
        "/risk_assessments/0/agency",
        "/mappa/level",
        "/person/pnc_ref",
    }
    assert await _count(hub) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"schema_version": "1",\n "case_reference": }', "line 2, column 20"),
        (b'{"schema_version": "2"}', 'schema_version is "2"'),
        (b'{"case_reference": "X"}', "schema_version is missing"),
        (b"[1, 2]", "is a JSON object"),
    ],
)
async def test_malformed_or_wrong_version_files(
    hub: Hub, logins: object, data: bytes, message: str
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    with pytest.raises(VisorInvalid) as caught:
        await VisorExchange(hub.visor).import_file(coordinator, data)
    assert message in caught.value.errors[0]["message"]


async def test_oversized_file_refused_before_parsing(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    with pytest.raises(TooLarge):
        await VisorExchange(hub.visor).import_file(coordinator, b" " * (visor_format.MAX_BYTES + 1))


async def test_only_a_coordinator_imports(hub: Hub, logins: object) -> None:
    good = json.dumps(await _export_doc(hub, "Harlow")).encode()
    for username in ("dby.probation", "dby.police", "dby.auditor", "dby.admin"):
        with pytest.raises(Forbidden):
            await VisorExchange(hub.visor).import_file(await actor_for(hub, username), good)


async def test_duplicate_identifiers_refused_and_nothing_half_imported(
    hub: Hub, logins: object
) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    doc = await _export_doc(hub, "Harlow")
    doc["case_reference"] = "DBY-2026-9999"  # a new case...
    doc["person"]["visor_ref"] = "VR-DBY-10877"  # ...holding Pritchard's ViSOR reference
    before = await _count(hub)
    with pytest.raises(InvalidInput) as caught:
        await VisorExchange(hub.visor).import_file(coordinator, json.dumps(doc).encode())
    # Every clash by its path: Harlow's own identifiers, and Pritchard's ViSOR reference.
    assert {e["field"] for e in caught.value.errors} == {
        "/person/pnc_ref",
        "/person/visor_ref",
        "/person/ndelius_crn",
    }
    assert any("VR-DBY-10877" in e["message"] for e in caught.value.errors)
    # The case row was inserted inside the transaction before the clash: it is gone with it.
    assert await _count(hub) == before
    with pytest.raises(NotFound):
        await hub.cases.get(None, "DBY-2026-9999")


async def test_import_updates_a_case_as_an_alteration(hub: Hub, logins: object) -> None:
    coordinator = await actor_for(hub, "dby.coordinator")
    doc = await _export_doc(hub, "Harlow")
    doc["mappa"]["level"] = 3
    doc["addresses"].append(
        {"address": "1 New Street, Derby", "kind": "temporary", "from": doc["addresses"][1]["from"]}
    )
    done = await VisorExchange(hub.visor).import_file(coordinator, json.dumps(doc).encode())
    assert not done.created_case and not done.created_record and done.version == 2
    assert int(done.case.level) == 3
    [entry] = await _entries(hub, "visor-imported")
    assert entry["action"] == "alteration"
    again = await _export_doc(hub, "Harlow")
    assert again["addresses"][-1]["address"] == "1 New Street, Derby"


async def _count(hub: Hub) -> tuple[int, int, int]:
    async with hub.db.read() as conn:
        n_cases = len((await conn.execute(select(cases.c.id))).all())
        n_records = len((await conn.execute(select(visor_records.c.case_id))).all())
        n_entries = len((await conn.execute(select(ledger_entries.c.seq))).all())
    return n_cases, n_records, n_entries


async def test_export_then_import_into_a_fresh_hub_gives_the_same_record(
    hub: Hub, logins: object, tmp_path: Path, clock: ManualClock
) -> None:
    first = await export_record(hub.visor_export, None, await case_id(hub, "Harlow"))
    # Hub B: its own database (SQLite) and keys, the same directory of agencies.
    config_b: Config = make_config(tmp_path / "hub-b", f"sqlite:///{tmp_path / 'hub-b' / 'b.db'}")
    await initialise(config_b)
    hub_b = await Hub.open(config_b, clock)
    try:
        # A fresh hub: the same directory of areas and agencies, no cases, its own keys.
        for code, name, jurisdiction in AREAS:
            await hub_b.directory.add_area(code, name, jurisdiction)
        for code, name, type_, area in AGENCIES:
            await hub_b.directory.add_agency(code, name, type_, area)
        done = await VisorExchange(hub_b.visor).import_file(None, first.data)
        assert done.created_case and done.created_record
        second = await export_record(hub_b.visor_export, None, done.case.reference)
    finally:
        await hub_b.close()
    a, b = json.loads(first.data), json.loads(second.data)
    assert a == b
    assert first.data == second.data
