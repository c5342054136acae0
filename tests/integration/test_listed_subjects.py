"""Subjects a listing shows are remembered by the bytes they were decrypted from
(hub.services.listed_subjects): listed again they are the same, and a packet erased or tampered
with after it was listed shows as such, never as the subject remembered."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from hub.crypto.errors import CryptoFailure
from hub.services.listed_subjects import (
    ERASED_SUBJECT,
    UNREADABLE_SUBJECT,
    ListedSubjects,
)
from hub.store.schema import packet_parts, packets
from hub.wiring import Hub
from tests.conftest import actor_for, harlow_note


async def _send(hub: Hub, subject: str) -> str:
    police = await actor_for(hub, "dby.police")
    return (await hub.packets.send(police, await harlow_note(hub, subject))).id


async def _subjects(hub: Hub) -> dict[str, str]:
    housing = await actor_for(hub, "dby.housing")
    return {s.id: s.subject for s in await hub.packets.inbox(housing)}


async def test_a_packet_listed_then_erased_shows_as_erased(hub: Hub, logins: object) -> None:
    kept = await _send(hub, "Proposed address - suitability check")
    erased = await _send(hub, "Licence conditions - exclusion zone")
    first = await _subjects(hub)
    assert first[kept] == "Proposed address - suitability check"
    assert first[erased] == "Licence conditions - exclusion zone"
    assert await _subjects(hub) == first  # listed again: the same, from the memo
    await hub.packets.shred(erased)
    again = await _subjects(hub)
    assert again[erased] == ERASED_SUBJECT
    assert again[kept] == first[kept]


async def test_a_manifest_tampered_with_after_listing_is_unreadable(
    hub: Hub, logins: object
) -> None:
    """A listing reads the copy of the manifest on the packet's row (migration 0026); opening
    reads the part. Either changed, the subject is unreadable where it is read."""
    packet_id = await _send(hub, "Risk management plan - review")
    assert (await _subjects(hub))[packet_id] == "Risk management plan - review"
    async with hub.db.write() as conn:
        row = packets.c.id == packet_id
        data = (await conn.execute(select(packets.c.manifest).where(row))).scalar_one()
        flipped = data[:-1] + bytes([data[-1] ^ 0x01])
        await conn.execute(update(packets).where(row).values(manifest=flipped))
    assert (await _subjects(hub))[packet_id] == UNREADABLE_SUBJECT
    housing = await actor_for(hub, "dby.housing")
    opened = await hub.packets.open(housing, packet_id)  # the part itself is intact
    assert opened.summary.subject == "Risk management plan - review"
    async with hub.db.write() as conn:
        part = (packet_parts.c.packet_id == packet_id) & (packet_parts.c.name == "manifest")
        await conn.execute(update(packet_parts).where(part).values(data=flipped))
    with pytest.raises(CryptoFailure):
        await hub.packets.open(housing, packet_id)


async def test_a_listing_reads_no_header_and_opening_checks_it(hub: Hub, logins: object) -> None:
    """A subject is decrypted from the reader's wrapped key and the manifest alone, so a listing
    reads no signed header (``hub.store.box_pages.ListedRow``); the header is checked against
    the stored columns when the packet is opened, and a changed one is refused there."""
    changed = await _send(hub, "Disclosure - new partner")
    kept = await _send(hub, "Approved premises - move-on plan")
    async with hub.db.write() as conn:
        (header,) = (
            await conn.execute(select(packets.c.header).where(packets.c.id == changed))
        ).one()
        tampered = bytes(header).replace(b'"v":', b'"v" :', 1)
        assert tampered != bytes(header)
        await conn.execute(update(packets).where(packets.c.id == changed).values(header=tampered))
    subjects = await _subjects(hub)  # not remembered: both decrypted now
    assert subjects[changed] == "Disclosure - new partner"
    assert subjects[kept] == "Approved premises - move-on plan"
    housing = await actor_for(hub, "dby.housing")
    with pytest.raises(CryptoFailure):
        await hub.packets.open(housing, changed)
    assert (await hub.packets.open(housing, kept)).summary.subject == subjects[kept]


async def test_a_packet_whose_manifest_is_gone_is_unreadable_not_erased(
    hub: Hub, logins: object
) -> None:
    """The page reads keys and manifests in one statement: a packet the reader holds a key to
    but whose manifest is missing (the part, and its copy on the packet's row) fails its
    integrity check; it was not erased."""
    gone = await _send(hub, "Victim contact - exclusion zone")
    kept = await _send(hub, "Home visit - outcome")
    async with hub.db.write() as conn:
        await conn.execute(
            delete(packet_parts).where(
                packet_parts.c.packet_id == gone, packet_parts.c.name == "manifest"
            )
        )
        await conn.execute(update(packets).where(packets.c.id == gone).values(manifest=None))
    subjects = await _subjects(hub)
    assert subjects[gone] == UNREADABLE_SUBJECT
    assert subjects[kept] == "Home visit - outcome"


async def test_the_memo_keeps_only_the_latest(hub: Hub, logins: object) -> None:
    ids = [await _send(hub, f"Review {k}") for k in range(3)]
    housing = await actor_for(hub, "dby.housing")
    subjects = ListedSubjects(hub.packets._keys, size=2)
    page = await hub.db.run_read(lambda conn: _page_for(conn, housing, ids))
    for row in page.rows:
        found = await subjects.subject(housing, row.id, page.keys[row.id], page.manifests[row.id])
        assert found[0].startswith("Review ")
    assert len(subjects._memo) == 2


async def test_a_remembered_subject_needs_the_same_bytes_again(hub: Hub, logins: object) -> None:
    packet_id = await _send(hub, "MAPPA meeting - minutes")
    housing = await actor_for(hub, "dby.housing")
    subjects = ListedSubjects(hub.packets._keys)
    page = await hub.db.run_read(lambda conn: _page_for(conn, housing, [packet_id]))
    keys, manifest = page.keys[packet_id], page.manifests[packet_id]
    assert subjects.remembered(housing, packet_id, keys, manifest) is None  # not yet decrypted
    found = await subjects.subject(housing, packet_id, keys, manifest)
    assert found == ("MAPPA meeting - minutes", 0)
    assert subjects.remembered(housing, packet_id, keys, manifest) == found
    flipped = manifest[:-1] + bytes([manifest[-1] ^ 1])
    assert subjects.remembered(housing, packet_id, keys, flipped) is None
    other_key = [w._replace(sealed=w.sealed[:-1] + bytes([w.sealed[-1] ^ 1])) for w in keys]
    assert subjects.remembered(housing, packet_id, other_key, manifest) is None
    assert subjects.remembered(housing, packet_id, [], manifest) == (ERASED_SUBJECT, 0)
    police = await actor_for(hub, "dby.police")  # another agency: its own entry
    assert subjects.remembered(police, packet_id, keys, manifest) is None


async def _page_for(conn, actor, ids):  # type: ignore[no-untyped-def]
    from hub.services.packet_listing import _page
    from hub.store import packets as store

    rows = [await store.packet_by_id(conn, i) for i in ids]
    return await _page(conn, actor, [r for r in rows if r is not None])
