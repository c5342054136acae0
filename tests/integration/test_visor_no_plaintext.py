"""Nothing of a nominal record beyond the case row's clear fields is stored readable: a canary in
an alias, an address, an offence, an order, an assessment, the plan and a condition is found in
neither the SQLite file (with its WAL) nor a pg_dump of the PostgreSQL database."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import pytest

from adapters.visor.demo import harlow
from adapters.visor.exchange import VisorExchange
from hub.wiring import Hub
from tests.conftest import actor_for, case_id
from tests.integration.test_no_plaintext import _forms


async def _database_bytes(hub: Hub) -> list[bytes]:
    if hub.db.is_sqlite:
        db_path = Path(hub.config.database_url.split("///", 1)[1])
        # Files only: a served hub keeps its live inbox's relay directory beside the database.
        beside = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
        return [p.read_bytes() for p in beside if p.is_file()]
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    url = hub.config.database_url.replace("postgresql+asyncpg://", "postgresql://")
    proc = await asyncio.create_subprocess_exec(
        pg_dump, "--data-only", "--no-owner", url, stdout=asyncio.subprocess.PIPE
    )
    dump, _ = await proc.communicate()
    assert proc.returncode == 0
    assert b"COPY public.visor_records" in dump
    return [dump]


async def test_no_record_content_in_the_database(hub: Hub, logins: object) -> None:
    canary = f"CANARY{uuid.uuid4().hex}"
    harlow_id = await case_id(hub, "Harlow")
    case = await hub.cases.get(None, harlow_id)
    doc = harlow(case.reference, hub.visor.today())
    doc["person"]["aliases"].append({"family_name": canary, "given_names": "Alias"})
    doc["addresses"][0]["address"] = f"{canary} Street"
    doc["offences"][0]["description"] = f"Offence {canary}"
    doc["orders"][1]["terms"].append(f"Term {canary}")
    doc["risk_assessments"][0]["assessor"] = f"Assessor {canary}"
    doc["risk_management_plan"]["supervision"] = f"Plan {canary}"
    doc["licence_conditions"][0]["condition"] = f"Condition {canary}"
    await VisorExchange(hub.visor).save(await actor_for(hub, "dby.coordinator"), harlow_id, doc)
    # The hub can still read it, so the canary really went in.
    view = await hub.visor.view(await actor_for(hub, "dby.probation"), harlow_id)
    assert view is not None and canary in view.document["addresses"][0]["address"]
    for blob in await _database_bytes(hub):
        for form in _forms(canary):
            assert form not in blob
