"""The API's behaviour at its edges and through the workflows.

Every error is one RFC 9457 problem document with the right status; bodies and rates are limited;
a send retried with the same idempotency key sends once; requests, declines, disclosures, receipts,
attachments and paging work through the API as they do in the inbox.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest

from hub.client import ApiError, HubClient
from hub.config import Limits
from hub.ledger.checkpoint import Receipt
from hub.store import ledger as ledger_store
from tests.api.conftest import ALL_SCOPES, Api, StartApi
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, case_id
from tests.workflow_forms import disclosure_proposal_form, request_form, response_form

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

PROBLEM = "application/problem+json"
WHY_WHO_USE = {
    "why": "He has applied for a driver's job delivering to primary schools.",
    "who": "The employer's managing director only, who has agreed to keep it confidential.",
    "use": "To refuse or restrict the role; the letter is destroyed after the decision.",
}
# What a letter to a third party may carry (policies/channels.toml, proportionality.toml).
LETTER_CATEGORIES = ["identity", "offence-history", "risk-summary"]
REASONS = "Necessary and proportionate to protect children at the schools; the last resort."


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    api: Api,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One raw HTTP call (no client-side help), to see exactly what the hub answers."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, api.url + path.lstrip("/"), json=json_body, data=data, headers=sent
        ) as resp,
    ):
        return Answer(resp.status, dict(resp.headers), await resp.read())


def assert_problem(answer: Answer, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is an RFC 9457 problem document with this status (and type code)."""
    assert answer.status == status, answer.body[:500]
    assert answer.headers["Content-Type"].startswith(PROBLEM)
    problem = answer.json
    assert isinstance(problem, dict)
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert problem["type"].startswith("urn:mappa-hub:problem:")
    if code is not None:
        assert problem["type"] == f"urn:mappa-hub:problem:{code}", problem
    return problem


async def note(api: Api, **changes: Any) -> dict[str, Any]:
    """A note from police to housing on the Harlow case that the policy permits."""
    return {
        "case_id": await case_id(api.hub, "Harlow"),
        "recipient_agencies": ["DBY-HOUSING"],
        "subject": "Address check",
        "body": "Please check 12 Example Road.",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "necessity": NECESSITY,
        **changes,
    }


async def outbox_count(client: HubClient) -> int:
    return len(await client.outbox())


# -- problem documents ----------------------------------------------------------------------


async def test_400_lists_each_missing_form_field(api: Api) -> None:
    token = await api.token("DBY-PROBATION")
    form = request_form()
    del form["information_sought"], form["due_on"]
    answer = await call(
        api,
        "POST",
        "/api/v1/packets",
        token=token,
        json_body=await note(
            api,
            recipient_agencies=["DBY-HOUSING"],
            packet_type="request-for-information",
            data_categories=["identity", "risk-summary"],
            necessity=WHY_WHO_USE,
            form=form,
        ),
    )
    problem = assert_problem(answer, 400, "invalid_form")
    fields = {e["field"] for e in problem["errors"]}
    assert {"information_sought", "due_on"} <= fields, problem
    assert all(e["message"] for e in problem["errors"])
    assert problem["field"] in fields


async def test_400_for_a_body_that_is_not_the_model(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    body = await note(api)
    before = await outbox_count(await api.client(token))
    # Malformed JSON.
    problem = assert_problem(
        await call(
            api,
            "POST",
            "/api/v1/packets",
            token=token,
            data=b'{"case_id": 1,',
            headers={"Content-Type": "application/json"},
        ),
        400,
        "invalid_input",
    )
    assert problem["errors"] and problem["field"] == "body"
    # A JSON array where an object is expected.
    problem = assert_problem(
        await call(api, "POST", "/api/v1/packets", token=token, json_body=[body]), 400
    )
    assert problem["errors"]
    # A field the model does not have, and a wrong type: each named with its path.
    problem = assert_problem(
        await call(
            api,
            "POST",
            "/api/v1/packets",
            token=token,
            json_body={**body, "priority": "urgent", "case_id": "Harlow"},
        ),
        400,
        "invalid_input",
    )
    fields = {e["field"]: e["message"] for e in problem["errors"]}
    assert "priority" in fields and "case_id" in fields, fields
    # Nested paths: the second attachment's data.
    problem = assert_problem(
        await call(
            api,
            "POST",
            "/api/v1/packets",
            token=token,
            json_body={
                **body,
                "attachments": [
                    {"filename": "a.txt", "data_base64": "aGk="},
                    {"filename": "b.txt", "data_base64": "not base64!"},
                ],
            },
        ),
        400,
    )
    assert problem["field"] == "attachments.1.data_base64"
    # A query parameter that is not a time.
    problem = assert_problem(
        await call(api, "GET", "/api/v1/inbox?before=yesterday", token=token), 400
    )
    assert problem["field"] == "before"
    assert await outbox_count(await api.client(token)) == before  # nothing was sent


async def test_415_for_a_body_that_is_not_json(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    answer = await call(
        api,
        "POST",
        "/api/v1/packets",
        token=token,
        data=json.dumps(await note(api)).encode(),
        headers={"Content-Type": "text/plain"},
    )
    problem = assert_problem(answer, 415, "unsupported_media_type")
    assert "application/json" in problem["detail"]


async def test_401_without_a_valid_token(api: Api) -> None:
    for token in (None, "mh_1_wrong", "not-even-a-token"):
        answer = await call(api, "GET", "/api/v1/cases", token=token)
        problem = assert_problem(answer, 401, "not_authenticated")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Bearer" in problem["detail"] or "token" in problem["detail"]
    # A cookie never stands in for the token; an unknown API path asks for one too.
    assert_problem(await call(api, "GET", "/api/v1/no-such-thing"), 401)


async def test_403_for_scope_case_limit_and_policy_deny_with_the_decision(api: Api) -> None:
    reader = await api.token("DBY-POLICE", ["packets:read"])
    problem = assert_problem(await call(api, "GET", "/api/v1/cases", token=reader), 403)
    assert "cases:read" in problem["detail"]

    limited = await api.token("DBY-POLICE", cases=["DBY-2026-0002"])
    harlow = await case_id(api.hub, "Harlow")
    assert_problem(await call(api, "GET", f"/api/v1/cases/{harlow}", token=limited), 403)

    # The policy refuses: a letter to a third party may not carry health details.
    token = await api.token("DBY-POLICE")
    client = await api.client(token)
    before = await outbox_count(client)
    answer = await call(
        api,
        "POST",
        "/api/v1/packets",
        token=token,
        json_body=await note(
            api,
            recipient_agencies=["DBY-PROBATION"],
            packet_type="disclosure-proposal",
            purpose="public-protection",
            data_categories=["identity", "health"],
            necessity=WHY_WHO_USE,
            form=disclosure_proposal_form(),
        ),
    )
    problem = assert_problem(answer, 403, "policy_denied")
    assert problem["decision"]["outcome"] == "DENY"
    assert problem["decision"]["tests"]["proportionate"] is False
    # Health data is sensitive processing under DPA 2018 Part 3: without a Schedule 8 condition
    # the lawful test fails too.
    assert {f["test"] for f in problem["failed"]} == {"lawful", "proportionate", "secure"}
    assert all(f["reasons"] for f in problem["failed"])
    assert await outbox_count(client) == before


async def test_404_and_405(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (
        f"/api/v1/packets/{missing}",
        f"/api/v1/packets/{missing}/receipt",
        f"/api/v1/packets/{missing}/attachments/0",
        "/api/v1/cases/999999",
        "/api/v1/cases/99999999999",  # beyond a 32-bit id: not there (was a 500 on PostgreSQL)
        "/api/v1/disclosures/999999",
        "/api/v1/no-such-thing",
    ):
        assert_problem(await call(api, "GET", path, token=token), 404)
    deliver = await call(api, "POST", "/api/v1/disclosures/99999999999/delivery", token=token)
    assert_problem(deliver, 404)
    # A case filter beyond a 32-bit id is a bad request (it once reached PostgreSQL: a 500).
    answer = await call(api, "GET", "/api/v1/disclosures?case_id=99999999999", token=token)
    assert assert_problem(answer, 400)["field"] == "case_id"
    # Another area's case is not visible at all.
    booth = await case_id(api.hub, "Booth")
    assert_problem(await call(api, "GET", f"/api/v1/cases/{booth}", token=token), 404)

    answer = await call(api, "DELETE", "/api/v1/cases", token=token)
    assert_problem(answer, 405)
    assert set(answer.headers["Allow"].split(",")) <= {"GET", "HEAD"}
    answer = await call(api, "GET", "/api/v1/packets", token=token)
    assert_problem(answer, 405)
    assert answer.headers["Allow"].split(",") == ["POST"]


async def test_409_when_a_request_is_declined_twice(api: Api) -> None:
    housing = await api.client(await api.token("DBY-HOUSING", [*ALL_SCOPES]))
    [asked] = (await housing.requests())["incoming"]
    await housing.decline(asked["id"], "Not held by housing.")
    with pytest.raises(ApiError) as err:
        await housing.decline(asked["id"], "Still not held.")
    assert err.value.status == 409 and err.value.code == "conflict"


async def test_413_for_a_body_over_the_limit(start_api: StartApi) -> None:
    api = await start_api(limits=Limits(max_request_bytes=64 * 1024))
    token = await api.token("DBY-POLICE")
    client = await api.client(token)
    before = await outbox_count(client)
    big = base64.b64encode(b"x" * 100_000).decode()
    body = await note(api, attachments=[{"filename": "big.bin", "data_base64": big}])
    problem = assert_problem(
        await call(api, "POST", "/api/v1/packets", token=token, json_body=body), 413
    )
    assert "too large" in problem["detail"]
    assert await outbox_count(client) == before  # nothing was sent
    # Under the limit is fine.
    small = base64.b64encode(b"x" * 1000).decode()
    await client.send(
        **(await note(api, attachments=[{"filename": "s.bin", "data_base64": small}]))
    )


async def test_429_over_the_rate_with_retry_after(start_api: StartApi) -> None:
    api = await start_api(limits=Limits(api_rate_per_second=1.0, api_burst=2))
    token = await api.token("DBY-POLICE")
    other = await api.token("DBY-HOUSING")
    answers = [await call(api, "GET", "/api/v1/cases", token=token) for _ in range(3)]
    assert [a.status for a in answers[:2]] == [200, 200]
    problem = assert_problem(answers[2], 429, "rate_limited")
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert "slow down" in problem["detail"]
    # The limit is per token: another token is not held back.
    assert (await call(api, "GET", "/api/v1/cases", token=other)).status == 200


# -- data in and out ------------------------------------------------------------------------


async def test_html_in_a_subject_is_data_returned_json_encoded(api: Api) -> None:
    police = await api.client(await api.token("DBY-POLICE"))
    housing_token = await api.token("DBY-HOUSING")
    subject = "<script>alert('x')</script> & <b>bold</b> \"quoted\""
    sent = await police.send(**(await note(api, subject=subject)))
    assert sent["subject"] == subject
    answer = await call(api, "GET", f"/api/v1/packets/{sent['id']}", token=housing_token)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.json["packet"]["subject"] == subject
    assert b"&lt;" not in answer.body and b"&amp;" not in answer.body  # not HTML-escaped
    assert b'\\"quoted\\"' in answer.body  # but JSON-encoded
    listed = await call(api, "GET", "/api/v1/inbox", token=housing_token)
    assert subject in [p["subject"] for p in listed.json["packets"]]
    # The listing is written from plain data (``packet_list_json``): the same headers and
    # encoding as every other answer.
    assert listed.headers["Content-Type"] == answer.headers["Content-Type"]
    assert listed.headers["Content-Type"] == "application/json; charset=utf-8"
    assert listed.headers["X-Content-Type-Options"] == "nosniff"
    assert b'\\"quoted\\"' in listed.body and b"&lt;" not in listed.body


async def test_attachments_round_trip_and_receipts_for_the_sender(api: Api) -> None:
    police_token = await api.token("DBY-POLICE")
    police = await api.client(police_token)
    housing = await api.client(await api.token("DBY-HOUSING"))
    blobs = [bytes(range(256)) * 3, b"%PDF-1.7\n\x00\xff\xfe binary", b""]
    sent = await police.send(
        **(
            await note(
                api,
                attachments=[
                    {
                        "filename": f"file-{i}.bin",
                        "content_type": "application/octet-stream",
                        "data_base64": base64.b64encode(blob).decode(),
                    }
                    for i, blob in enumerate(blobs)
                ],
            )
        )
    )
    assert sent["attachment_count"] == 3
    opened = await housing.open(sent["id"])
    assert [(a["index"], a["filename"], a["size"]) for a in opened["attachments"]] == [
        (i, f"file-{i}.bin", len(blob)) for i, blob in enumerate(blobs)
    ]
    for i, blob in enumerate(blobs):
        assert await housing.attachment(sent["id"], i) == blob
    answer = await call(api, "GET", f"/api/v1/packets/{sent['id']}/attachments/0")
    assert_problem(answer, 401)
    with pytest.raises(ApiError) as err:
        await housing.attachment(sent["id"], 3)
    assert err.value.status == 404

    receipt = Receipt.from_bytes(await police.receipt(sent["id"]))
    entry = receipt.verify()
    assert entry["packet"] == sent["id"], entry
    with pytest.raises(ApiError) as err:  # the recipient is not the sender
        await housing.receipt(sent["id"])
    assert err.value.status == 403
    raw = await call(api, "GET", f"/api/v1/packets/{sent['id']}/receipt", token=police_token)
    assert raw.status == 200 and raw.headers["Content-Type"].startswith("application/json")


async def test_paging_with_before(api: Api) -> None:
    police = await api.client(await api.token("DBY-POLICE"))
    sent = [await police.send(**(await note(api, subject=f"Paging {i}"))) for i in range(3)]
    newest_first = [p["id"] for p in await police.outbox()]
    assert newest_first[:3] == [s["id"] for s in reversed(sent)]
    older = await police.outbox(before=sent[2]["created_at"])
    assert [p["id"] for p in older][:2] == [sent[1]["id"], sent[0]["id"]]
    assert sent[2]["id"] not in [p["id"] for p in older]
    oldest = await police.outbox(before=sent[0]["created_at"])
    assert not {s["id"] for s in sent} & {p["id"] for p in oldest}
    with pytest.raises(ApiError) as err:
        await police.outbox(before="2026-11-23T09:00:00")  # no time zone
    assert err.value.status == 400 and err.value.problem["field"] == "before"


# -- idempotency ----------------------------------------------------------------------------


async def test_a_retried_send_with_the_same_key_sends_once(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    police = await api.client(token)
    body = await note(api)
    before = await outbox_count(police)
    headers = {"Idempotency-Key": "retry-7f3a"}
    first = await call(api, "POST", "/api/v1/packets", token=token, json_body=body, headers=headers)
    again = await call(api, "POST", "/api/v1/packets", token=token, json_body=body, headers=headers)
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    assert again.json == first.json
    assert await outbox_count(police) == before + 1

    # The same key for a different request is refused, and sends nothing.
    changed = {**body, "subject": "Something else"}
    problem = assert_problem(
        await call(api, "POST", "/api/v1/packets", token=token, json_body=changed, headers=headers),
        409,
        "conflict",
    )
    assert "idempotency key" in problem["detail"]
    assert await outbox_count(police) == before + 1
    # A key with a body the hub refuses (a form with a float, on a note) is refused, not a 500.
    refused = await call(
        api,
        "POST",
        "/api/v1/packets",
        token=token,
        json_body={**body, "form": {"level": 2.5}},
        headers={"Idempotency-Key": "float-form"},
    )
    assert assert_problem(refused, 400)["field"] == "form"
    bad_key = await call(
        api,
        "POST",
        "/api/v1/packets",
        token=token,
        json_body=body,
        headers={"Idempotency-Key": "a\tb"},
    )
    assert assert_problem(bad_key, 400)["field"] == "Idempotency-Key"
    assert await outbox_count(police) == before + 1
    # Keys belong to a token: another token's same key is its own send.
    other = await api.client(await api.token("DBY-POLICE"))
    again_other = await other.send(idempotency_key="retry-7f3a", **body)
    assert again_other["id"] != first.json["id"]
    assert await outbox_count(police) == before + 2


async def test_concurrent_sends_with_one_key_make_one_packet(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    police = await api.client(token)
    body = await note(api, subject="Sent five times at once")
    before = await outbox_count(police)
    answers = await asyncio.gather(
        *[
            call(
                api,
                "POST",
                "/api/v1/packets",
                token=token,
                json_body=body,
                headers={"Idempotency-Key": "burst-1"},
            )
            for _ in range(5)
        ]
    )
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 1, [(a.status, a.body[:300]) for a in answers]
    assert set(statuses) <= {200, 201, 409}, statuses
    ids = {a.json["id"] for a in answers if a.status in (200, 201)}
    assert len(ids) == 1
    assert await outbox_count(police) == before + 1
    outbox = await police.outbox()
    assert [p["subject"] for p in outbox].count("Sent five times at once") == 1


# -- workflows ------------------------------------------------------------------------------


def _request_packet(harlow: int, to: str = "DBY-HOUSING") -> dict[str, Any]:
    return {
        "case_id": harlow,
        "recipient_agencies": [to],
        "subject": "Tenancy check",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "packet_type": "request-for-information",
        "data_categories": ["identity", "risk-summary"],
        "necessity": {
            "why": "The panel must know who visits the address.",
            "who": "Offender manager and panel.",
            "use": "Risk management plan review.",
        },
        "form": request_form(),
    }


async def test_a_request_is_answered_by_a_response_packet(api: Api) -> None:
    probation = await api.client(await api.token("DBY-PROBATION"))
    housing = await api.client(await api.token("DBY-HOUSING", [*ALL_SCOPES]))
    harlow = await case_id(api.hub, "Harlow")
    asked = await probation.send(**_request_packet(harlow))
    assert asked["packet_type"] == "request-for-information"
    [incoming] = [
        r for r in (await housing.requests())["incoming"] if r["packet_id"] == asked["id"]
    ]
    assert (incoming["status"], incoming["due_on"]) == ("open", "2026-12-04")

    answer = await housing.send(
        case_id=harlow,
        recipient_agencies=["DBY-PROBATION"],
        subject="Re: tenancy check",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        packet_type="response",
        data_categories=["address"],
        necessity={"why": "Answering the probation request of 23 November."},
        # Housing shares under UK GDPR: the offender's address is criminal offence data.
        schedule1_condition="sch1-para6",
        form=response_form(),
        reply_to=asked["id"],
    )
    assert answer["reply_to"] == asked["id"]
    [outgoing] = [
        r for r in (await probation.requests())["outgoing"] if r["packet_id"] == asked["id"]
    ]
    assert (outgoing["status"], outgoing["response_packet_id"]) == ("answered", answer["id"])
    opened = await probation.open(answer["id"])
    assert opened["header"]["reply_to"] == asked["id"]
    assert opened["form"] is not None
    # Answered once: declining it now is a conflict.
    with pytest.raises(ApiError) as err:
        await housing.decline(incoming["id"], "Too late.")
    assert err.value.status == 409


async def test_a_request_is_declined_with_the_reason_the_requester_sees(api: Api) -> None:
    probation = await api.client(await api.token("DBY-PROBATION"))
    housing = await api.client(await api.token("DBY-HOUSING", [*ALL_SCOPES]))
    police = await api.client(await api.token("DBY-POLICE", [*ALL_SCOPES]))
    asked = await probation.send(**_request_packet(await case_id(api.hub, "Harlow")))
    [incoming] = [
        r for r in (await housing.requests())["incoming"] if r["packet_id"] == asked["id"]
    ]
    with pytest.raises(ApiError) as err:  # not asked of the police
        await police.decline(incoming["id"], "Not ours.")
    assert err.value.status in (403, 404)
    reason = "No tenancy is held at that address; ask the private landlord."
    declined = await housing.decline(incoming["id"], reason)
    assert (declined["status"], declined["decline_reason"]) == ("declined", reason)
    [outgoing] = [
        r for r in (await probation.requests())["outgoing"] if r["packet_id"] == asked["id"]
    ]
    assert (outgoing["status"], outgoing["decline_reason"]) == ("declined", reason)
    # A token without requests:answer cannot decline.
    reader = await api.client(await api.token("DBY-HOUSING", ["packets:read"]))
    with pytest.raises(ApiError) as err:
        await reader.decline(incoming["id"], reason)
    assert err.value.status == 403 and "requests:answer" in err.value.problem["detail"]


async def test_a_disclosure_is_proposed_approved_by_a_coordinator_and_delivered(api: Api) -> None:
    # The police system proposes and records the disclosure for DS Ellis; the coordinator decides
    # in person (the policy allows no delegated decisions, so no token decides).
    system = await api.token("DBY-POLICE")
    proposer = await api.client(system, on_behalf_of="dby.police")
    practitioner = await api.client(await api.token("DBY-POLICE"), on_behalf_of="dby.police")
    harlow = await case_id(api.hub, "Harlow")
    proposal = await proposer.send(
        case_id=harlow,
        recipient_agencies=["DBY-PROBATION"],
        subject="Proposed disclosure to his prospective employer",
        purpose="public-protection",
        lawful_basis="cja2003-s325",
        packet_type="disclosure-proposal",
        data_categories=LETTER_CATEGORIES,
        necessity=WHY_WHO_USE,
        form=disclosure_proposal_form(),
    )
    [disclosure] = [
        d for d in await proposer.disclosures(harlow) if d["proposal_packet_id"] == proposal["id"]
    ]
    assert (disclosure["status"], disclosure["outstanding"]) == ("proposed", {"coordinator": 1})

    # No token decides; nothing is delivered before approval.
    with pytest.raises(ApiError) as err:
        await practitioner.decide(disclosure["id"], "approve", REASONS)
    assert err.value.status == 403 and "disclosures:decide" in err.value.problem["detail"]
    with pytest.raises(ApiError) as err:
        await proposer.deliver(disclosure["id"])
    assert err.value.status == 409  # the disclosure's state is at fault, not the caller

    coordinator = await actor_for(api.hub, "dby.coordinator")
    await api.hub.disclosures.decide(
        coordinator, disclosure["id"], "approve", REASONS, "Letter to the managing director only."
    )
    approved = await proposer.disclosure(disclosure["id"])
    assert (approved["status"], approved["outstanding"]) == ("approved", {})
    [decision] = approved["decisions"]
    assert (decision["decision"], decision["role"]) == ("approve", "coordinator")

    delivered = await proposer.deliver(disclosure["id"])
    assert delivered["status"] == "delivered" and delivered["delivered_at"] is not None
    with pytest.raises(ApiError) as err:
        await proposer.deliver(disclosure["id"])
    assert err.value.status == 409
    assert (await practitioner.disclosure(disclosure["id"]))["status"] == "delivered"

    async with api.hub.db.read() as conn:
        entries = list(await ledger_store.entries_for_packet(conn, proposal["id"]))
    events = [e["event"] for e in entries]
    assert events[0] == "packet-sent" and events[-1] == "third-party-disclosed"
    assert "disclosure-decided" in events
    # The proposal and the delivery came through the token; the decision from the coordinator.
    by_event = {e["event"]: e for e in entries}
    assert by_event["packet-sent"]["actor_token_id"] is not None
    assert by_event["third-party-disclosed"]["actor_token_id"] is not None
    assert by_event["disclosure-decided"]["actor_token_id"] is None


async def test_wrong_secrets_drain_no_bucket_and_a_refused_token_is_401_not_429(
    start_api: StartApi,
) -> None:
    """A request is counted against a token only once it is known to be the token's: guesses at
    a token's secret (its id is in every request it makes) cannot use up its holder's rate,
    whatever their number (a change that took from the bucket before checking the secret, to
    save a round trip, must keep this)."""
    api = await start_api(limits=Limits(api_rate_per_second=0.01, api_burst=2))
    token = await api.token("DBY-POLICE")
    prefix, token_id, secret = token.split("_", 2)
    wrong = f"{prefix}_{token_id}_{'A' * len(secret)}"
    for _ in range(5):
        assert_problem(await call(api, "GET", "/api/v1/cases", token=wrong), 401)
    answers = [await call(api, "GET", "/api/v1/cases", token=token) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    # Over its rate, a wrong secret is still told it is not authenticated, not to slow down.
    assert_problem(await call(api, "GET", "/api/v1/cases", token=wrong), 401)
