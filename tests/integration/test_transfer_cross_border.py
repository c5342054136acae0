"""A transfer bundle across a border (issue 15 point 4): the case's category and level as the
receiving jurisdiction records them, mapped by policies/transfer.toml, with the values as sent
beside them; the receiving hub creates the case with the mapped values; a value with no mapping
refuses the build and writes nothing."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from adapters.transfer.bag import build_bundle, bundle_service
from adapters.transfer.importer import import_bundle
from hub.clock import ManualClock
from hub.config import SOURCE_POLICY_DIR
from hub.crypto.secrets import sha256_hex
from hub.errors import InvalidInput
from hub.model.directory import AgencyType, Jurisdiction
from hub.store.schema import hub_keys, peers
from hub.wiring import Hub, initialise
from tests.conftest import make_config

pytestmark = [
    pytest.mark.usefixtures("logins"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


async def _reference(hub: Hub, family: str) -> str:
    return next(c.reference for c in await hub.cases.visible_to(None) if c.family_name == family)


async def _pin(receiving: Hub, sending: Hub) -> None:
    async with sending.db.read() as conn:
        key = bytes((await conn.execute(select(hub_keys.c.public_key))).scalar_one())
    async with receiving.db.write() as conn:
        await conn.execute(insert(peers).values(
            name="sender", url="https://sender.invalid", signing_key=key.hex(),
            fingerprint=sha256_hex(key), active=True, added_at=datetime.now(UTC),
        ))  # fmt: skip


async def test_a_case_sent_to_scotland_carries_the_mapped_values_and_the_originals(
    hub: Hub, tmp_path: Path, clock: ManualClock
) -> None:
    # Pritchard: a Derbyshire (England and Wales) case, category 2, level 3.
    reference = await _reference(hub, "Pritchard")
    await hub.directory.add_area("LOT", "Lothian and Borders", Jurisdiction.SCOTLAND)
    await hub.directory.add_agency(
        "LOT-CJSW", "Edinburgh Justice Social Work", AgencyType.CRIMINAL_JUSTICE_SOCIAL_WORK, "LOT"
    )
    built = await build_bundle(hub, reference, "LOT", tmp_path / "b.tar", keep_dir=True)
    data = hub.config.data_dir / "transfer-work" / f"bundle-{built.bundle_id}" / "data"
    case = json.loads((data / "case.json").read_text())
    mapping = json.loads((data / "bundle.json").read_text())["jurisdiction_mapping"]
    # E&W category 2 is Scotland's category 3; the level passes unchanged.
    assert (case["category"], case["level"]) == (3, 3)
    assert case["as_sent"] == {"category": 2, "level": 3, "jurisdiction": "england-and-wales"}
    assert mapping["as_sent"] == case["as_sent"]
    assert mapping["as_received"] == {"category": 3, "level": 3, "jurisdiction": "scotland"}
    assert mapping["changes"][0] == "MAPPA category 2 is recorded as 3"
    # Scotland has no probation service: the agencies' types are mapped too, none dropped.
    assert mapping["agency_types"]["police"] == "police"
    assert mapping["agency_types"]["probation"] == "criminal-justice-social-work"
    assert "agency type probation is recorded as criminal-justice-social-work" in mapping["changes"]
    assert (mapping["export_lawful_basis"], mapping["import_lawful_basis"]) == (
        "cja2003-s325",
        "mosa2005-s10",
    )

    # To a peer hub: the receiving jurisdiction is the transfer's, the peer creates the case
    # with the mapped values.
    config = make_config(tmp_path / "peer", f"sqlite:///{tmp_path / 'peer.sqlite3'}")
    await initialise(config)
    peer = await Hub.open(config, clock)
    try:
        await peer.directory.add_area("FIF", "Fife", Jurisdiction.SCOTLAND)
        await peer.directory.add_agency(
            "FIF-CJSW", "Fife Justice Social Work", AgencyType.CRIMINAL_JUSTICE_SOCIAL_WORK, "FIF"
        )
        receivers = await bundle_service(peer).receivers_here("FIF")
        out = tmp_path / "peer.tar"
        await build_bundle(hub, reference, "FIF", out, receivers,
                           transfer={"receiving_jurisdiction": "scotland"})  # fmt: skip
        await _pin(peer, hub)
        done = await import_bundle(peer, out)
        assert done.created_case
        assert (int(done.case.category), int(done.case.level)) == (3, 3)
    finally:
        await peer.close()


async def test_a_value_with_no_mapping_refuses_the_build_and_writes_nothing(
    hub: Hub, tmp_path: Path, clock: ManualClock
) -> None:
    # Moss: a Derbyshire case of category 3, which PPANI does not use.
    reference = await _reference(hub, "Moss")
    await hub.directory.add_area("BEL", "Belfast", Jurisdiction.NORTHERN_IRELAND)
    await hub.directory.add_agency("BEL-PBNI", "PBNI Belfast", AgencyType.PROBATION, "BEL")
    mapped = await build_bundle(hub, reference, "BEL", tmp_path / "ok.tar", keep_dir=True)
    data = hub.config.data_dir / "transfer-work" / f"bundle-{mapped.bundle_id}" / "data"
    assert json.loads((data / "case.json").read_text())["category"] == 2  # as the policy maps it

    policies = tmp_path / "policies"
    shutil.copytree(SOURCE_POLICY_DIR, policies, ignore=shutil.ignore_patterns("tests"))
    toml = policies / "transfer.toml"
    text = toml.read_text()
    head, tail = text.split("[mappings.england-and-wales.northern-ireland]\n")
    assert 'category = { "3" = 2 }\n' in tail.split("[mappings.")[0]
    tail = tail.replace('category = { "3" = 2 }\n', "", 1)  # E&W category 3 -> NI: unmapped
    toml.write_text(head + "[mappings.england-and-wales.northern-ireland]\n" + tail)
    edited = await Hub.open(dataclasses.replace(hub.config, policy_dir=policies), clock)
    try:
        work = hub.config.data_dir / "transfer-work"
        before = sorted(p.name for p in work.iterdir())
        out = tmp_path / "refused.tar"
        with pytest.raises(InvalidInput, match="category 3 is not used in northern-ireland"):
            await build_bundle(edited, reference, "BEL", out)
        assert not out.exists()
        assert sorted(p.name for p in work.iterdir()) == before
    finally:
        await edited.close()
