"""A packet an agency system sends for a member of staff (``On-Behalf-Of``) names that person as
its sender: in the signed header, on the packet's page and in its row; the log's entry names the
token and its system account, and binds the person through its digest of the signed header."""

from __future__ import annotations

import json
import re
from typing import Any

from hub.crypto.secrets import sha256_hex
from hub.store import ledger as ledger_store
from hub.store import packets as packet_store
from hub.store.schema import packets
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for
from tests.web.conftest import Web, fetch


async def _share(web: Web, headers: dict[str, str], subject: str) -> dict[str, Any]:
    """A note from police to housing on the Harlow case, sent through the API."""
    client = await web.new_client(cookies=False)
    body = {
        "case_id": await web.case_id("Harlow"),
        "recipient_agencies": ["DBY-HOUSING"],
        "subject": subject,
        "body": "Please check 12 Example Road.",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "necessity": NECESSITY,
    }
    async with client.post("/api/v1/packets", json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        sent: dict[str, Any] = await resp.json()
        return sent


async def _stored(web: Web, packet_id: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The packet's row, its signed header and its log entry of sending."""
    async with web.hub.db.read() as conn:
        row = await packet_store.packet_by_id(conn, packet_id)
        (sent,) = [
            dict(e)
            for e in await ledger_store.entries_for_packet(conn, packet_id)
            if e["event"] == "packet-sent"
        ]
    assert row is not None
    return row, json.loads(row.header), sent


def _report_row(html: str, seq: int) -> str:
    """The access report's row of log entry ``seq``."""
    (row,) = [r for r in html.split("<tr ")[1:] if f'numeric">{seq}</td>' in r]
    return row


def _from(html: str) -> str:
    match = re.search(r'id="from">([^<]*)<', html)
    assert match is not None
    return match.group(1)


async def test_a_share_on_behalf_of_a_person_names_them_as_its_sender(web: Web) -> None:
    issued = await web.hub.tokens.issue(
        None, "DBY-POLICE", "Records", ["packets:send", "cases:read"]
    )
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    person = await actor_for(web.hub, "dby.police")

    named = await _share(web, {**bearer, "On-Behalf-Of": "dby.police"}, "For a person")
    row, header, entry = await _stored(web, named["id"])
    assert header["sender_user"] == "dby.police"
    assert row.sender_user_id == person.user.id
    # The log names the token and its system account, and its digest binds the signed header,
    # which names the person: who disclosed is provable from the log.
    named_seq, named_header = int(entry["seq"]), row.header
    system = entry["actor_user_id"]
    assert system != person.user.id and entry["actor_token_id"] is not None
    assert entry["content_digest"] == sha256_hex(row.header)

    # A call that names nobody is the system itself, not the admin who issued its token.
    unnamed = await _share(web, bearer, "For nobody")
    row, header, entry = await _stored(web, unnamed["id"])
    unnamed_seq = int(entry["seq"])
    assert row.sender_user_id == system == entry["actor_user_id"]
    system_user = next(u for u in await web.hub.directory.users() if u.id == system)
    assert header["sender_user"] == system_user.username

    # The recipient reads who sent each, in words.
    await web.login("dby.housing")
    status, _, html = await fetch(web.client, f"/packets/{named['id']}")
    assert status == 200
    assert _from(html) == f"{person.user.display_name}, Derbyshire Constabulary (dby.police)"
    status, _, html = await fetch(web.client, f"/packets/{unnamed['id']}")
    assert status == 200
    assert f"({system_user.username})" in _from(html)
    assert person.user.display_name not in _from(html)

    # The case's access report names the person beside the system account, for the share made
    # for them only.
    coordinator = await web.login("dby.coordinator", await web.new_client())
    report_path = f"/audit/cases/{await web.case_id('Harlow')}"
    status, _, report = await fetch(coordinator, report_path)
    assert status == 200
    named_text = f"for {person.user.display_name} (dby.police)"
    assert named_text in _report_row(report, named_seq)
    assert "<br>for " not in _report_row(report, unnamed_seq)

    # A stored header changed since the log's entry says nothing about who sent it.
    async with web.hub.db.write() as conn:
        await conn.execute(
            packets.update()
            .where(packets.c.id == named["id"])
            .values(header=named_header.replace(b'"dby.police"', b'"dby.coordinator"'))
        )
    _, _, report = await fetch(coordinator, report_path)
    assert "<br>for " not in _report_row(report, named_seq)
