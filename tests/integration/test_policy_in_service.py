"""Policy decisions on real shares: on the signed header and the log, a refusal stores nothing but
its entry on the log, reload without restart, every version archived and identifiable on past
decisions."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Config
from hub.model.packets import Draft
from hub.policy.errors import PolicyRefused
from hub.policy.loader import PolicyError
from hub.store import ledger as ledger_store
from hub.store.schema import packets, policy_versions
from hub.wiring import Hub, initialise
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def _draft(hub: Hub) -> Draft:
    return Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject="Address",
        body="Body",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )


async def test_decision_travels_with_the_packet_and_is_on_the_log(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    sent = await hub.packets.send(police, await _draft(hub))
    opened = await hub.packets.open(await actor_for(hub, "dby.housing"), sent.id)
    version = hub.policy.current.version
    assert opened.header.policy["outcome"] == "PERMIT"
    assert opened.header.policy["policy_version"] == version
    assert "proportionality.housing.level-2" in opened.header.policy["rules"]  # type: ignore[operator]
    assert opened.header.policy["agreements"] == [
        {"uri": "https://mappa-hub.example/agreements/mappa-isp", "version": "3.1"}
    ]
    assert opened.necessity == NECESSITY
    async with hub.db.read() as conn:
        entries = await ledger_store.entries_for_packet(conn, sent.id)
    assert (entries[0]["policy_version"], entries[0]["decision"]) == (version, "PERMIT")


async def test_preview_decides_without_writing(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    async with hub.db.read() as conn:
        before = await ledger_store.head(conn)
    denied = replace(await _draft(hub), data_categories=("intelligence",))
    decision = await hub.packets.preview(police, denied)
    assert decision.outcome.value == "DENY"
    assert [t.test.value for t in decision.failed] == ["proportionate"]
    async with hub.db.read() as conn:
        assert await ledger_store.head(conn) == before


async def test_a_refused_share_is_on_the_log_and_nothing_else_is_stored(
    hub: Hub, logins: object
) -> None:
    police = await actor_for(hub, "dby.police")
    denied = replace(await _draft(hub), data_categories=("intelligence",))
    async with hub.db.read() as conn:
        (seq, _), packets_before = await ledger_store.head(conn), await _packet_count(conn)
    with pytest.raises(PolicyRefused):
        await hub.packets.send(police, denied)
    async with hub.db.read() as conn:
        entries = await ledger_store.entries_after(conn, seq, 10)
        assert await _packet_count(conn) == packets_before
    [entry] = entries
    assert (entry["event"], entry["action"], entry["decision"]) == (
        "share-refused",
        "consultation",
        "DENY",
    )
    assert entry["policy_version"] == hub.policy.current.version
    assert (entry["case_id"], entry["recipients"]) == (
        denied.case_id,
        str(await agency_id(hub, "DBY-HOUSING")),
    )
    assert (entry["actor_user_id"], entry["actor_agency_id"]) == (
        police.user.id,
        police.agency.id,
    )
    assert (entry["purpose"], entry["lawful_basis"]) == (denied.purpose, denied.lawful_basis)
    assert (entry["packet_id"], entry["content_digest"]) == (None, None)
    assert (await hub.ledger.verify()).entries == seq + 1  # it chains like any other


async def _packet_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(packets))).scalar_one())


@pytest.fixture
async def own_policy_hub(config: Config, tmp_path: Path, clock: object) -> Hub:
    policy_dir = tmp_path / "policies"
    shutil.copytree(config.policy_dir, policy_dir)
    config = replace(config, policy_dir=policy_dir)
    await initialise(config)
    return await Hub.open(config, clock)  # type: ignore[arg-type]


async def test_reload_takes_effect_and_old_version_stays_identifiable(own_policy_hub: Hub) -> None:
    from hub.demo import seed

    hub = own_policy_hub
    try:
        await seed(hub)
        police = await actor_for(hub, "dby.police")
        old_version = hub.policy.current.version
        first = await hub.packets.send(police, await _draft(hub))

        # The information-governance officer narrows what housing may receive at level 2.
        path = hub.config.policy_dir / "proportionality.toml"
        text = path.read_text()
        narrowed = text.replace(
            'level_2 = ["identity", "address", "risk-summary", "licence-conditions", "risk-management-plan", "notification", "release-and-sentence"]',
            'level_2 = ["identity", "address", "notification"]',
            1,
        )
        assert narrowed != text
        path.write_text(narrowed)
        new = await hub.policy.reload()
        assert new.version != old_version
        with pytest.raises(PolicyRefused) as refused:
            await hub.packets.send(police, await _draft(hub))
        assert "may not receive summary of risk of serious harm" in refused.value.public_message

        # The earlier packet still names the version it was decided under, and that version's
        # files are archived so the decision can be explained.
        opened = await hub.packets.open(await actor_for(hub, "dby.housing"), first.id)
        assert opened.header.policy["policy_version"] == old_version
        archived = await hub.policy.archived(old_version)
        assert archived is not None and "risk-management-plan" in archived["proportionality.toml"]
        async with hub.db.read() as conn:
            versions = {r[0] for r in (await conn.execute(select(policy_versions.c.digest))).all()}
        assert {old_version, new.version} <= versions

        # A broken file is refused on reload and the version in force does not change.
        path.write_text(narrowed + "\n[recipients.housing\n")
        with pytest.raises(PolicyError, match=r"proportionality.toml:\d+"):
            await hub.policy.reload()
        assert hub.policy.current.version == new.version
    finally:
        await hub.close()


async def test_server_will_not_start_on_a_bad_policy_file(config: Config, tmp_path: Path) -> None:
    policy_dir = tmp_path / "bad-policies"
    shutil.copytree(config.policy_dir, policy_dir)
    (policy_dir / "channels.toml").write_text(
        '[channels.hub]\nlabel = "x"\ncategories = ["nothing-like-this"]\n'
    )
    await initialise(config)
    with pytest.raises(PolicyError, match=r"channels.toml:3: .*unknown name 'nothing-like-this'"):
        await Hub.open(replace(config, policy_dir=policy_dir))
