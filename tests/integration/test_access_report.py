"""The access report from the log, on SQLite and PostgreSQL, authorised in the service."""

from __future__ import annotations

import pytest

from hub.errors import Forbidden, NotFound
from hub.wiring import Hub
from tests.conftest import actor_for, case_id


async def test_case_and_user_reports(hub: Hub, logins: object) -> None:
    housing = await actor_for(hub, "dby.housing")
    (packet,) = [
        p for p in await hub.packets.inbox(housing) if p.subject.startswith("Proposed address")
    ]
    await hub.packets.open(housing, packet.id)
    auditor = await actor_for(hub, "dby.auditor")
    case, rows = await hub.access.case_report(auditor, packet.case_id)
    assert case.id == packet.case_id
    assert rows[0].event == "packet-opened" and rows[0].packet_id == packet.id
    (sent,) = [r for r in rows if r.event == "packet-sent" and r.packet_id == packet.id]
    assert sent.recipients == (
        "Probation Service - Derbyshire",
        "Derby City Council Housing Options",
    )
    assert sent.decision == "PERMIT"
    user, by_user = await hub.access.user_report(auditor, housing.user.id)
    assert user.username == "dby.housing" and by_user[0].event == "packet-opened"
    with pytest.raises(Forbidden):
        await hub.access.case_report(housing, packet.case_id)
    with pytest.raises(NotFound):
        await hub.access.case_report(auditor, await case_id(hub, "Booth"))
