"""Every kind of processing DPA 2018 s62 names that the hub does today is on the log: collection
(case opened), disclosure (sent), consultation (opened), alteration (level changed) and erasure
(content crypto-shredded), each in the same transaction as the change."""

from __future__ import annotations

import pytest

from hub.errors import Forbidden, Gone
from hub.model.cases import MappaLevel
from hub.model.packets import Draft
from hub.store import ledger as ledger_store
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def test_alteration_and_erasure_are_logged(hub: Hub, logins: object) -> None:
    police = await actor_for(hub, "dby.police")
    housing = await actor_for(hub, "dby.housing")
    harlow = await case_id(hub, "Harlow")
    sent = await hub.packets.send(
        police,
        Draft(
            case_id=harlow, recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject="s", body="b", purpose="risk-management", lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES, necessity=NECESSITY,
        ),
    )  # fmt: skip
    await hub.packets.open(housing, sent.id)

    with pytest.raises(Forbidden):
        await hub.cases.change_level(police, "DBY-2026-0001", MappaLevel.CRITICAL_FEW)
    coordinator = await actor_for(hub, "dby.coordinator")
    changed = await hub.cases.change_level(coordinator, "DBY-2026-0001", MappaLevel.CRITICAL_FEW)
    assert changed.level is MappaLevel.CRITICAL_FEW

    await hub.packets.shred(sent.id)
    with pytest.raises(Gone):
        await hub.packets.open(housing, sent.id)
    with pytest.raises(Gone):
        await hub.packets.shred(sent.id)
    assert (await hub.packets.inbox(housing))[0].subject == "(content erased)"

    async with hub.db.read() as conn:
        rows = [r async for r in ledger_store.stream_entries(conn)]
    actions = [(r["action"], r["event"]) for r in rows if r["case_id"] == harlow]
    assert ("collection", "case-created") in actions
    assert ("disclosure", "packet-sent") in actions
    assert ("consultation", "packet-opened") in actions
    assert ("alteration", "case-altered") in actions
    assert actions[-1] == ("erasure", "packet-shredded")
    report = await hub.ledger.verify()
    assert report.entries == len(rows)


async def test_combining_a_duplicate_record_is_logged(hub: Hub, logins: object) -> None:
    from hub.errors import Conflict, InvalidInput
    from hub.model.cases import MappaCategory
    from hub.services.cases import NewCase

    coordinator = await actor_for(hub, "dby.coordinator")
    duplicate = await hub.cases.add(
        coordinator,
        NewCase(
            "Harlow",
            "Dean",
            MappaCategory.REGISTERED_SEX_OFFENDER,
            MappaLevel.MULTI_AGENCY,
            "DBY-POLICE",
        ),
    )
    with pytest.raises(Forbidden):
        await hub.cases.combine(
            await actor_for(hub, "dby.police"), "DBY-2026-0001", duplicate.reference
        )
    kept = await hub.cases.combine(coordinator, "DBY-2026-0001", duplicate.reference)
    assert duplicate.reference not in [c.reference for c in await hub.cases.visible_to(coordinator)]
    with pytest.raises(Conflict):
        await hub.cases.combine(coordinator, "DBY-2026-0001", duplicate.reference)
    police = await actor_for(hub, "dby.police")
    with pytest.raises(InvalidInput, match="combined into another"):
        await hub.packets.send(
            police,
            Draft(
                case_id=duplicate.id, recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
                subject="s", body="b", purpose="risk-management", lawful_basis="cja2003-s325",
                data_categories=SHARE_CATEGORIES, necessity=NECESSITY,
            ),
        )  # fmt: skip
    async with hub.db.read() as conn:
        rows = [r async for r in ledger_store.stream_entries(conn)]
    assert (rows[-1]["action"], rows[-1]["event"], rows[-1]["case_id"]) == (
        "combination",
        "cases-combined",
        kept.id,
    )
    assert (await hub.ledger.verify()).entries == len(rows)
