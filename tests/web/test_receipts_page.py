"""Checking a receipt on the page, as ``mappa-hub ledger check-receipt`` does: a real receipt is
genuine, a tampered one says what failed, and a file that is no receipt is an error on the form."""

from __future__ import annotations

import base64
import dataclasses
import json
import os

import aiohttp
from sqlalchemy import delete

from hub.crypto import signing
from hub.crypto.agency_keys import KeyPurpose, generate_local_pair
from hub.ledger.checkpoint import Receipt
from hub.store.schema import ledger_checkpoints
from hub.web.receipts import FAILED
from tests.conftest import actor_for
from tests.web.conftest import Client, Web, csrf_from, fetch

NOT_A_RECEIPT = "The selected file is not a MAPPA Hub receipt"


async def _sent_packet(web: Web) -> str:
    """The demo's packet sent by the police (the sender holds its receipt)."""
    police = await actor_for(web.hub, "dby.police")
    return (await web.hub.packets.outbox(police))[0].id


async def _upload(
    client: Client, data: bytes | None, filename: str = "receipt-1.json", csrf: str | None = None
) -> tuple[int, str]:
    if csrf is None:
        status, _, page = await fetch(client, "/receipts/check")
        assert status == 200, page
        csrf = csrf_from(page)
    form = aiohttp.FormData()
    form.add_field("_csrf", csrf)
    if data is None:  # the form sent with no file chosen, as a browser sends it
        form.add_field("receipt", b"", filename="", content_type="application/octet-stream")
    else:
        form.add_field("receipt", data, filename=filename, content_type="application/json")
    async with client.post("/receipts/check", data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def _receipt(web: Web, client: Client) -> bytes:
    """The receipt as the sender downloads it from the packet's page."""
    async with client.get(f"/packets/{await _sent_packet(web)}/receipt") as resp:
        assert resp.status == 200
        return await resp.read()


def _with(receipt: Receipt, **changes: object) -> bytes:
    return dataclasses.replace(receipt, **changes).to_bytes()  # type: ignore[arg-type]


async def test_a_real_receipt_is_genuine_and_says_what_it_proves(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    data = await _receipt(web, police)
    receipt = Receipt.from_bytes(data)
    status, html = await _upload(police, data, f"receipt-{receipt.seq}.json")
    assert status == 200, html
    assert 'id="receipt-genuine">This receipt is genuine<' in html
    assert f'id="receipt-seq">{receipt.seq}<' in html
    assert ">Packet sent <" in html and "(Disclosure)" in html  # the event in words
    assert f"{receipt.checkpoint.tree_size:,} entries, signed" in html
    assert "packet-sent" not in html.replace('data-event="packet-sent"', "")
    # Anyone holding it may check it: an auditor too, with the same answer.
    auditor = await web.login("dby.auditor", await web.new_client())
    status, html = await _upload(auditor, data)
    assert status == 200 and "This receipt is genuine" in html


async def test_a_tampered_receipt_is_not_genuine_and_the_page_says_why(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    receipt = Receipt.from_bytes(await _receipt(web, police))
    entry = json.loads(receipt.entry)
    stranger = generate_local_pair(KeyPurpose.SIGNING)
    forged_cp = dataclasses.replace(receipt.checkpoint, public_key=stranger.public, signature=b"")
    forged_cp = dataclasses.replace(
        forged_cp, signature=signing.sign(stranger.private, forged_cp.body)
    )
    flipped = bytes([receipt.checkpoint.signature[0] ^ 1]) + receipt.checkpoint.signature[1:]
    cases = {
        # The entry says something else (here, another purpose): the proof no longer fits.
        "inclusion": _with(
            receipt, entry=json.dumps({**entry, "purpose": "public-protection"}).encode()
        ),
        # The receipt claims another place in the log than its entry's.
        "entry": _with(receipt, seq=receipt.seq + 1),
        "signature": _with(
            receipt, checkpoint=dataclasses.replace(receipt.checkpoint, signature=flipped)
        ),
        # Signed, properly, by a key that is not this hub's.
        "key": _with(receipt, checkpoint=forged_cp),
    }
    for failed, data in cases.items():
        status, html = await _upload(police, data)
        assert status == 200, (failed, html)
        assert "This receipt is not genuine." in html, failed
        assert FAILED[failed].replace("'", "&#39;") in html, failed
        assert "This receipt is genuine" not in html, failed


async def test_a_receipt_whose_checkpoint_the_log_no_longer_holds_is_refused(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    data = await _receipt(web, police)
    async with web.hub.db.write() as conn:  # what a hostile database administrator might do
        await conn.execute(delete(ledger_checkpoints))
    status, html = await _upload(police, data)
    assert status == 200
    assert "This receipt is not genuine." in html
    assert "the hub&#39;s log no longer holds the entry or the checkpoint" in html


async def test_files_that_are_no_receipt_are_errors_on_the_form(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    for data, message in [
        (None, "Select a receipt file"),
        (b"", "The selected file is empty"),
        (b"\x89PNG\r\n\x1a\n" + os.urandom(200), NOT_A_RECEIPT),
        (b"this is not json", NOT_A_RECEIPT),
        (b'{"format": "something-else", "version": 1}', NOT_A_RECEIPT),
        (json.dumps([1, 2, 3]).encode(), NOT_A_RECEIPT),
        (b"{" + b" " * (64 * 1024) + b"}", "The selected file must be smaller than 64 KB"),
    ]:
        status, html = await _upload(police, data)
        assert status == 400, (data and data[:20], html)
        assert "<title>Error: Check a receipt - MAPPA Hub</title>" in html
        assert f'<a href="#receipt">{message}' in html, message
        assert "This receipt is" not in html


async def test_a_receipt_with_a_garbled_proof_or_key_is_an_error_not_a_crash(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    doc = json.loads(await _receipt(web, police))
    garbled = [
        {**doc, "inclusion_proof": ["zz"]},
        {**doc, "entry": "not base64!"},
        {**doc, "checkpoint": {**doc["checkpoint"], "public_key": base64.b64encode(b"x").decode()}},
        {**doc, "seq": "one"},
    ]
    for body in garbled:
        status, html = await _upload(police, json.dumps(body).encode())
        assert status in (200, 400), html
        assert "Something went wrong" not in html
        assert "This receipt is genuine" not in html


async def test_admins_do_not_check_receipts_and_the_form_needs_its_token(web: Web) -> None:
    police = await web.login("dby.police", await web.new_client())
    data = await _receipt(web, police)
    admin = await web.login("dby.admin", await web.new_client())
    status, _, html = await fetch(admin, "/receipts/check")
    assert status == 403
    status, html = await _upload(admin, data, csrf=csrf_from(html))
    assert status == 403 and "This receipt is" not in html
    status, html = await _upload(police, data, csrf="forged")
    assert status == 403 and "This receipt is" not in html
