"""The database holds no plaintext: a canary in a subject, a body and an attachment is found in
neither the SQLite file (with its WAL) nor a pg_dump of the PostgreSQL database."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import pytest

from hub.model.packets import AttachmentIn, Draft
from hub.wiring import Hub
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id


def _forms(canary: str) -> list[bytes]:
    raw = canary.encode()
    # As stored text, as PostgreSQL's hex rendering of bytea, and as UTF-16 for good measure.
    return [raw, raw.hex().encode(), canary.encode("utf-16-le")]


async def _send_canary(hub: Hub) -> tuple[str, str]:
    canary = f"CANARY-{uuid.uuid4().hex}"
    police = await actor_for(hub, "dby.police")
    sent = await hub.packets.send(
        police,
        Draft(
            case_id=await case_id(hub, "Harlow"),
            recipient_agency_ids=(await agency_id(hub, "DBY-HOUSING"),),
            subject=f"subject {canary}",
            body=f"The body mentions {canary} twice: {canary}.",
            purpose="risk-management",
            lawful_basis="cja2003-s325",
            data_categories=SHARE_CATEGORIES,
            necessity=NECESSITY,
            attachments=(AttachmentIn(f"{canary}.txt", "text/plain", canary.encode() * 50),),
        ),
    )
    # The hub itself can still read it, so the canary really went in.
    opened = await hub.packets.open(await actor_for(hub, "dby.housing"), sent.id)
    assert canary in opened.body
    return canary, sent.id


async def test_no_plaintext_in_database(hub: Hub, logins: object, tmp_path: Path) -> None:
    canary, _ = await _send_canary(hub)
    if hub.db.is_sqlite:
        db_path = Path(hub.config.database_url.split("///", 1)[1])
        files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
        assert any(p.name.endswith("-wal") for p in files) or files
        blobs = [p.read_bytes() for p in files]
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            pytest.skip("pg_dump is not installed")
        url = hub.config.database_url.replace("postgresql+asyncpg://", "postgresql://")
        proc = await asyncio.create_subprocess_exec(
            pg_dump, "--data-only", "--no-owner", url, stdout=asyncio.subprocess.PIPE
        )
        dump, _ = await proc.communicate()
        assert proc.returncode == 0
        assert b"COPY public.packet_parts" in dump  # the dump does hold the packet tables
        blobs = [dump]
    for blob in blobs:
        for form in _forms(canary):
            assert form not in blob
