"""The API end to end through the repository's client: send, list, open, and refusals."""

from __future__ import annotations

import pytest

from hub.client import ApiError
from hub.store import ledger as ledger_store
from tests.api.conftest import Api
from tests.conftest import NECESSITY, SHARE_CATEGORIES, case_id

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_send_list_open_attributed_to_the_token(api: Api) -> None:
    police = await api.client(await api.token("DBY-POLICE"))
    housing = await api.client(await api.token("DBY-HOUSING"))
    harlow = await case_id(api.hub, "Harlow")
    sent = await police.send(
        case_id=harlow,
        recipient_agencies=["DBY-HOUSING"],
        subject="Address check <b>now</b>",
        body="Please check 12 Example Road.",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=list(SHARE_CATEGORIES),
        necessity=NECESSITY,
    )
    assert sent["recipient_agencies"] == ["DBY-HOUSING"]
    assert sent["id"] in [p["id"] for p in await housing.inbox()]
    opened = await housing.open(sent["id"])
    assert opened["body"] == "Please check 12 Example Road."
    assert opened["packet"]["subject"] == "Address check <b>now</b>"
    async with api.hub.db.read() as conn:
        entries = list(await ledger_store.entries_for_packet(conn, sent["id"]))
    assert [e["event"] for e in entries] == ["packet-sent", "packet-opened"]
    assert all(e["actor_token_id"] is not None for e in entries)


async def test_refusals_are_problem_documents(api: Api) -> None:
    reader = await api.client(await api.token("DBY-POLICE", ["packets:read"]))
    with pytest.raises(ApiError) as err:
        await reader.cases()
    assert err.value.status == 403 and "cases:read" in err.value.problem["detail"]
    nobody = await api.client("mh_1_wrong")
    with pytest.raises(ApiError) as err:
        await nobody.cases()
    assert err.value.status == 401
    assert err.value.problem["type"] == "urn:mappa-hub:problem:not_authenticated"
