"""Case transfers through the JSON API: proposed and decided for a named coordinator
(``On-Behalf-Of``), a token naming nobody refused, reasons required, one decision only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.client import ApiError
from hub.model.directory import Role
from tests.api.conftest import Api
from tests.conftest import actor_for

REASON = "Moving to his sister's address in Mansfield; approved premises place offered."


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """SQLite only: the service tests run the workflow on PostgreSQL too."""
    yield f"sqlite:///{tmp_path / 'data' / 'hub.sqlite3'}"


async def test_transfers_through_the_api_for_a_named_coordinator(api: Api) -> None:
    hub = api.hub
    dby = await actor_for(hub, "dby.coordinator")
    case = next(c for c in await hub.cases.visible_to(None) if c.family_name == "Harlow")
    await hub.casework.record_meeting(dby, case.id, api.clock.now().date(), 2)
    scopes = ["transfers:read", "transfers:write"]
    dby_token = await api.token("DBY-POLICE", scopes, role=Role.COORDINATOR)
    nts_token = await api.token("NTS-PROBATION", scopes, role=Role.COORDINATOR)
    body = {
        "case_id": case.id,
        "reason": REASON,
        "proposed_date": "2026-12-01",
        "receiving_area": "NTS",
    }
    # A token that names no person proposes nothing.
    anonymous = await api.client(dby_token)
    try:
        await anonymous.request("POST", "/api/v1/transfers", json=body)
        raise AssertionError("a token naming nobody proposed a transfer")
    except ApiError as exc:
        assert exc.status == 403
    proposer = await api.client(dby_token, on_behalf_of="dby.coordinator")
    status, _, raw = await proposer.request("POST", "/api/v1/transfers", json=body)
    assert status == 201
    tid = int(re.search(rb'"id":(\d+)', raw).group(1))  # type: ignore[union-attr]
    decider = await api.client(nts_token, on_behalf_of="nts.coordinator")
    listed = await decider._json("GET", "/api/v1/transfers")
    assert [t["id"] for t in listed["transfers"]] == [tid]
    try:
        await decider.request("POST", f"/api/v1/transfers/{tid}/decline", json={"reasons": ""})
        raise AssertionError("declined without reasons")
    except ApiError as exc:
        assert exc.status == 400
    declined = await decider._json(
        "POST", f"/api/v1/transfers/{tid}/decline", json={"reasons": "No place until March."}
    )
    assert declined["state"] == "declined" and declined["decision_reasons"]
    try:
        await decider.request(
            "POST",
            f"/api/v1/transfers/{tid}/accept",
            json={"reasons": "x", "lead_agency": "NTS-POLICE"},
        )
        raise AssertionError("decided twice")
    except ApiError as exc:
        assert exc.status == 409
    spec = await decider.openapi()
    assert "/api/v1/transfers/{transfer_id}/accept" in spec["paths"]
