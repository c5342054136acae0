"""The verifiable ledger on SQLite and PostgreSQL: signed checkpoints, receipts checked offline,
and a hostile database administrator's edits, deletions, insertions, reorderings, re-chaining and
re-signing all detected."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from hub.crypto.canonical import canonical_json
from hub.errors import Forbidden
from hub.ledger.checkpoint import BadCheckpoint, Checkpoint, Receipt
from hub.ledger.entries import LedgerBroken, leaf_hash
from hub.ledger.merkle import ProofError
from hub.model.packets import Draft
from hub.store.schema import ledger_checkpoints, ledger_entries, ledger_head
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


async def _send(hub: Hub, body: str = "Body") -> str:
    police = await actor_for(hub, "dby.police")
    draft = Draft(
        case_id=await case_id(hub, "Harlow"),
        recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
        subject="Address",
        body=body,
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=SHARE_CATEGORIES,
        necessity=NECESSITY,
    )
    return (await hub.packets.send(police, draft)).id


async def _grow(hub: Hub, n: int) -> list[str]:
    return [await _send(hub, f"packet {i}") for i in range(n)]


async def test_receipt_checks_offline_and_only_the_sender_gets_one(
    hub: Hub, logins: object
) -> None:
    packet_id = await _send(hub)
    await _grow(hub, 3)
    police = await actor_for(hub, "dby.police")
    receipt = await hub.ledger.receipt(police, packet_id)
    # Round trip through the portable form, then check with nothing but the hub's public key.
    again = Receipt.from_bytes(receipt.to_bytes())
    hub_key = receipt.checkpoint.public_key
    entry = again.verify(trusted_key=hub_key)
    assert (entry["event"], entry["packet"]) == ("packet-sent", packet_id)
    assert len(again.proof) <= again.checkpoint.tree_size.bit_length()

    with pytest.raises(BadCheckpoint, match="key other than the trusted"):
        again.verify(trusted_key=b"\x01" * 32)
    forged = Receipt(
        again.seq,
        again.entry.replace(b"risk-management", b"crime-prevention"),
        again.checkpoint,
        again.proof,
    )
    with pytest.raises(ProofError):
        forged.verify(trusted_key=hub_key)
    with pytest.raises(Forbidden):
        await hub.ledger.receipt(await actor_for(hub, "dby.housing"), packet_id)


async def test_checkpoints_and_clean_verification(hub: Hub, logins: object) -> None:
    await _grow(hub, 3)
    first = await hub.ledger.checkpoint()
    assert await hub.ledger.checkpoint() == first  # same size: the same signed head
    await _grow(hub, 2)
    second = await hub.ledger.checkpoint_if_grown()
    assert second is not None and second.tree_size == first.tree_size + 2
    assert await hub.ledger.checkpoint_if_grown() is None
    held = Checkpoint.from_json(json.loads(json.dumps(first.to_json())))
    report = await hub.ledger.verify([held])
    assert (report.entries, report.checkpoints, report.trusted_checkpoints) == (
        second.tree_size,
        2,
        1,
    )
    assert report.root == second.root


# -- the hostile database administrator ---------------------------------------------------------


async def _rows(hub: Hub) -> list[dict[str, Any]]:
    async with hub.db.read() as conn:
        result = await conn.execute(select(ledger_entries).order_by(ledger_entries.c.seq))
        return [dict(r) for r in result.mappings()]


async def _rechain(hub: Hub, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite history the clever way: change entries, then recompute every hash and the head."""
    rows = await _rows(hub)
    docs = [json.loads(r["entry"]) for r in rows]
    change(docs)
    prev = "0" * 64
    async with hub.db.write() as conn:
        await conn.execute(delete(ledger_entries))
        for seq, (row, doc) in enumerate(zip(rows, docs, strict=False), 1):
            doc["seq"], doc["prev"] = seq, prev
            data = canonical_json(doc)
            new = {
                **row,
                "seq": seq,
                "entry": data,
                "prev_hash": prev,
                "entry_hash": leaf_hash(data),
            }
            new.update(purpose=doc["purpose"], lawful_basis=doc["lawful_basis"])
            await conn.execute(ledger_entries.insert().values(**new))
            prev = new["entry_hash"]
        await conn.execute(update(ledger_head).values(seq=len(docs), entry_hash=prev))


async def _prepared(hub: Hub) -> Checkpoint:
    await _grow(hub, 4)
    held = await hub.ledger.checkpoint()
    await _grow(hub, 2)
    await hub.ledger.checkpoint()
    return held


async def test_edited_row_detected(hub: Hub, logins: object) -> None:
    await _prepared(hub)
    async with hub.db.write() as conn:
        await conn.execute(
            update(ledger_entries)
            .where(ledger_entries.c.seq == 5)
            .values(purpose="crime-prevention")
        )
    with pytest.raises(LedgerBroken) as info:
        await hub.ledger.verify()
    assert info.value.seq == 5


async def test_deleted_row_detected(hub: Hub, logins: object) -> None:
    await _prepared(hub)
    async with hub.db.write() as conn:
        await conn.execute(delete(ledger_entries).where(ledger_entries.c.seq == 4))
    with pytest.raises(LedgerBroken) as info:
        await hub.ledger.verify()
    assert info.value.seq == 4


async def test_inserted_row_detected(hub: Hub, logins: object) -> None:
    await _prepared(hub)
    rows = await _rows(hub)
    async with hub.db.write() as conn:
        extra = {**rows[-1], "seq": rows[-1]["seq"] + 1}
        await conn.execute(ledger_entries.insert().values(**extra))
    with pytest.raises(LedgerBroken):
        await hub.ledger.verify()


async def test_reordered_rows_detected(hub: Hub, logins: object) -> None:
    await _prepared(hub)
    async with hub.db.write() as conn:
        for seq, temp in ((3, -3), (4, 3), (-3, 4)):
            await conn.execute(
                update(ledger_entries).where(ledger_entries.c.seq == seq).values(seq=temp)
            )
    with pytest.raises(LedgerBroken) as info:
        await hub.ledger.verify()
    assert info.value.seq == 3


async def test_rechained_history_detected_by_the_signed_checkpoints(
    hub: Hub, logins: object
) -> None:
    held = await _prepared(hub)

    def edit(docs: list[dict[str, Any]]) -> None:
        docs[2]["purpose"] = "crime-prevention"

    await _rechain(hub, edit)
    with pytest.raises(BadCheckpoint, match="entries have been changed"):
        await hub.ledger.verify()
    # Deleting the stored checkpoints as well does not help: the exported one still catches it.
    async with hub.db.write() as conn:
        await conn.execute(delete(ledger_checkpoints))
    await hub.ledger.verify()  # the rewritten chain is self-consistent...
    with pytest.raises(BadCheckpoint, match="entries have been changed"):
        await hub.ledger.verify([held])  # ...but not with what the board holds


async def test_truncated_history_detected(hub: Hub, logins: object) -> None:
    held = await _prepared(hub)

    def truncate(docs: list[dict[str, Any]]) -> None:
        del docs[held.tree_size - 2 :]

    await _rechain(hub, truncate)
    async with hub.db.write() as conn:
        await conn.execute(delete(ledger_checkpoints))
    with pytest.raises(BadCheckpoint, match="shorter than the checkpoint"):
        await hub.ledger.verify([held])


async def test_swapped_checkpoint_signatures_detected(hub: Hub, logins: object) -> None:
    await _prepared(hub)
    async with hub.db.write() as conn:
        rows = (
            await conn.execute(
                select(ledger_checkpoints.c.tree_size, ledger_checkpoints.c.signature)
            )
        ).all()
        (a, sig_a), (b, sig_b) = rows[0], rows[1]
        await conn.execute(
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.tree_size == a)
            .values(signature=sig_b)
        )
        await conn.execute(
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.tree_size == b)
            .values(signature=sig_a)
        )
    with pytest.raises(BadCheckpoint, match="bad signature"):
        await hub.ledger.verify()


async def test_checkpoint_signed_with_a_foreign_key_detected(hub: Hub, logins: object) -> None:
    """A DBA who adds a key of their own and re-signs is caught by the key pinned outside the DB."""
    from hub.crypto.agency_keys import KeyPurpose, generate_key_pair
    from hub.crypto.kek import KeyEncryptionKey
    from hub.crypto.secrets import SecretBytes
    from hub.crypto.signing import sign
    from hub.store.checkpoints import StoredHubKey, add_hub_key

    await _prepared(hub)
    own_kek = KeyEncryptionKey.generate()
    pair = generate_key_pair(KeyPurpose.SIGNING, own_kek)
    private: SecretBytes = own_kek.unwrap(pair.wrapped_private, pair.key_id)
    async with hub.db.write() as conn:
        await add_hub_key(
            conn,
            StoredHubKey(
                pair.key_id,
                pair.public,
                pair.wrapped_private,
                hub.kek.kek_id,
                hub.clock.now(),
                None,
            ),
        )
        for size, body in (
            await conn.execute(select(ledger_checkpoints.c.tree_size, ledger_checkpoints.c.body))
        ).all():
            await conn.execute(
                update(ledger_checkpoints)
                .where(ledger_checkpoints.c.tree_size == size)
                .values(key_id=pair.key_id, signature=sign(private, bytes(body)))
            )
    with pytest.raises(BadCheckpoint, match="key is not pinned"):
        await hub.ledger.verify()


async def test_a_key_added_to_the_database_is_not_pinned_by_init(hub: Hub, logins: object) -> None:
    from hub.crypto.agency_keys import KeyPurpose, generate_key_pair
    from hub.errors import ConfigError
    from hub.services.checkpoints import read_pins
    from hub.store.checkpoints import StoredHubKey, add_hub_key
    from hub.store.schema import hub_keys
    from hub.wiring import initialise

    pins_before = read_pins(hub.ledger._pins)
    foreign = generate_key_pair(KeyPurpose.SIGNING, hub.kek)
    async with hub.db.write() as conn:
        await add_hub_key(
            conn,
            StoredHubKey(
                foreign.key_id,
                foreign.public,
                foreign.wrapped_private,
                hub.kek.kek_id,
                hub.clock.now(),
                None,
            ),
        )
    await initialise(hub.config)  # as the service unit does before every start
    assert read_pins(hub.ledger._pins) == pins_before
    # With only unpinned keys left in force, init refuses rather than trusting one.
    async with hub.db.write() as conn:
        await conn.execute(
            update(hub_keys)
            .where(hub_keys.c.key_id != foreign.key_id)
            .values(retired_at=hub.clock.now())
        )
    with pytest.raises(ConfigError, match="restore the pin file"):
        await initialise(hub.config)
