"""Input hygiene on the JSON API: no member named twice, no coercion of "1" or 1.0 or true into
an integer, no hidden characters in single-line fields, and sealed headers only in canonical form.
Every refusal writes nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from hub.client.sealing import AgencyKeys, seal_note
from hub.crypto import packet_format as fmt
from hub.crypto.canonical import canonical_json
from tests.api.conftest import Api
from tests.api.test_sealed import SUBMIT, _harlow, _import, _state
from tests.conftest import NECESSITY, SHARE_CATEGORIES, case_id

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def _post(api: Api, token: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            api.url.rstrip("/") + path,
            data=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def _send_body(api: Api, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": await case_id(api.hub, "Harlow"),
        "recipient_agencies": ["DBY-HOUSING"],
        "subject": "Address check",
        "body": "Please confirm the address.",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "necessity": NECESSITY,
    }
    body.update(changes)
    return body


async def test_the_body_as_sent_is_accepted(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    status, problem = await _post(
        api, token, "/api/v1/packets", json.dumps(await _send_body(api)).encode()
    )
    assert status == 201, problem


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"case_id": "1"}, "case_id", "valid integer"),
        ({"case_id": 1.0}, "case_id", "valid integer"),
        ({"case_id": True}, "case_id", "valid integer"),
        ({"subject": 7}, "subject", "valid string"),
        ({"recipient_agencies": "DBY-HOUSING"}, "recipient_agencies", "valid array"),
        ({"subject": "Invoice \u202etxt.exe"}, "subject", "right-to-left override (U+202E)"),
        ({"subject": "Two\nlines"}, "subject", "line break (U+000A)"),
        ({"purpose": "risk-management\u2066"}, "purpose", "left-to-right isolate (U+2066)"),
        ({"recipient_agencies": ["DBY-HOUSING\x00"]}, "recipient_agencies.0", "null character"),
        ({"body": "Before\x00after"}, "body", "null character (U+0000)"),
        # The API's JSON parser refuses a lone surrogate escape itself (hub.text would too).
        ({"body": "half \ud800 pair"}, "body", "Invalid JSON"),
        (
            {"attachments": [{"filename": "a\u202etxt", "data_base64": "eA=="}]},
            "attachments.0.filename",
            "right-to-left override",
        ),
        (
            {"attachments": [{"filename": "a.txt", "content_type": "text/plain\r\nX: 1",
                              "data_base64": "eA=="}]},
            "attachments.0.content_type",
            "carriage return",
        ),
    ],
)  # fmt: skip
async def test_coerced_or_hidden_values_are_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str, words: str
) -> None:
    token = await api.token("DBY-POLICE")
    before = await _state(api)
    raw = json.dumps(await _send_body(api, **change)).encode()  # \ud800 goes as an escape
    status, problem = await _post(api, token, "/api/v1/packets", raw)
    assert status == 400, problem
    assert problem["field"] == field, problem
    assert words in problem["detail"], problem
    assert await _state(api) == before


async def test_a_member_named_twice_is_refused(api: Api) -> None:
    token = await api.token("DBY-POLICE")
    before = await _state(api)
    raw = json.dumps(await _send_body(api)).encode()
    # Two readings of one request: a proxy that keeps the first, the hub the last.
    raw = raw.replace(b'"subject":', b'"subject": "Harmless", "subject":', 1)
    status, problem = await _post(api, token, "/api/v1/packets", raw)
    assert status == 400, problem
    assert "the member name 'subject' appears twice in one object" in problem["detail"]
    assert await _state(api) == before


# -- sealed headers -------------------------------------------------------------------------


@pytest.fixture
async def police_system(api: Api) -> tuple[AgencyKeys, AgencyKeys]:
    police, housing = AgencyKeys.generate("DBY-POLICE"), AgencyKeys.generate("DBY-HOUSING")
    await _import(api, police)
    await _import(api, housing)
    return police, housing


def _resigned(envelope: bytes, keys: AgencyKeys, header_bytes: bytes) -> bytes:
    """The envelope with other header bytes, signed again with the sender's own key: the
    signature verifies, so only the form of the header can refuse it."""
    doc = json.loads(envelope)
    doc["header"] = base64.b64encode(header_bytes).decode()
    signature = fmt.signer(keys.signing.private).sign(header_bytes).signature
    doc["signature"] = base64.b64encode(signature).decode()
    return json.dumps({"envelope": doc}).encode()


async def test_a_sealed_header_not_in_canonical_form_is_refused(
    api: Api, police_system: tuple[AgencyKeys, AgencyKeys]
) -> None:
    police, housing = police_system
    token = await api.token("DBY-POLICE", SUBMIT)
    envelope = seal_note(
        police,
        recipients=[housing.public],
        case=await _harlow(api),
        sender_user="ds.ellis",
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        data_categories=list(SHARE_CATEGORIES),
        subject="Proposed address",
        body="The proposed address is 12 Example Road.",
        necessity=NECESSITY,
    )
    header_bytes = base64.b64decode(json.loads(envelope)["header"])
    header = json.loads(header_bytes)
    before = await _state(api)
    variants = {
        # One signature, two readings: a reader keeping the first recipients list would route
        # the packet to DBY-HOUSING, one keeping the last to DBY-PROBATION as well.
        "the member name 'recipients' appears twice": header_bytes.replace(
            b'"recipients":', b'"recipients":["DBY-HOUSING","DBY-PROBATION"],"recipients":', 1
        ),
        "not in canonical form": json.dumps(header).encode(),  # white space
        "not in canonical form ": json.dumps(header, sort_keys=True, ensure_ascii=True).encode(),
        "a number with a fraction": canonical_json(header).replace(b'"v":1', b'"v":1.0'),
    }
    for words, raw_header in variants.items():
        status, problem = await _post(
            api, token, "/api/v1/sealed", _resigned(envelope, police, raw_header)
        )
        assert status == 400, problem
        assert problem["type"] == "urn:mappa-hub:problem:header_not_canonical", problem
        assert problem["field"] == "envelope.header"
        assert words.strip() in problem["detail"], problem
    # "v": true is canonical JSON, but not the integer 1.
    status, problem = await _post(
        api,
        token,
        "/api/v1/sealed",
        _resigned(envelope, police, canonical_json({**header, "v": True})),
    )
    assert status == 400 and problem["type"].endswith("integrity_failure"), problem
    assert await _state(api) == before
    # The untouched envelope is still accepted.
    status, problem = await _post(
        api, token, "/api/v1/sealed", json.dumps({"envelope": json.loads(envelope)}).encode()
    )
    assert status == 201, problem
