"""``POST /api/v1/sealed`` under hypothesis, on the real app over a real SQLite file: whatever an
agency system submits - a header it signed with its registered key but shaped wrongly, an
envelope changed after signing, or any JSON at all - the answer is a 2xx or a 4xx problem, never
a 500, and a refusal writes nothing (no packet, no log entry)."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from hub.client.sealing import AgencyKeys
from hub.config import Limits
from hub.crypto import packet_format as fmt
from hub.crypto.canonical import canonical_json
from hub.store import ledger as ledger_store
from hub.store.schema import packets
from tests.api.conftest import Api, StartApi
from tests.conftest import NECESSITY, SHARE_CATEGORIES, agency_id, case_id
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.strategies import JSON, mutated

pytestmark = [
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]
SUBMIT = ["sealed:submit", "sealed:read", "packets:read"]


class Submitter:
    """The police's own system, registered with the hub, and a way to post anything as it."""

    def __init__(self, api: Api, keys: AgencyKeys, housing: AgencyKeys, token: str, case: str):
        self.api, self.keys, self.housing, self.case = api, keys, housing, case
        self._headers = {"Authorization": f"Bearer {token}"}
        good = json.loads(self.envelope_for(self.header()))
        self.good_envelope: dict[str, Any] = good

    def header(self) -> dict[str, Any]:
        return {
            "packet_id": "00000000-0000-4000-8000-000000000000",
            "type": "note",
            "case": self.case,
            "sender_user": "ds.ellis",
            "sender_agency": "DBY-POLICE",
            "recipients": ["DBY-HOUSING"],
            "purpose": "risk-management",
            "lawful_basis": "cja2003-s325",
            "data_categories": sorted(SHARE_CATEGORIES),
            "classification": "OFFICIAL-SENSITIVE",
            "created_at": "2026-11-23T09:00:00.000000Z",
            "necessity": dict(NECESSITY),
        }

    def envelope_for(self, header: Any) -> bytes:
        """Seal a note under ``header`` (as the system's own signed header, whatever its shape)."""
        sealed = fmt.seal(
            {"packet_id": "00000000-0000-4000-8000-000000000000"},
            fmt.PlainContent("Proposed address", "12 Example Road.", necessity=NECESSITY),
            [
                fmt.Recipient(k.agency, k.encryption.key_id, k.encryption.public)
                for k in (self.keys, self.housing)
            ],
            self.keys.signing.private,
            self.keys.signing.key_id,
        )
        if isinstance(header, dict):
            header = {**header, **{k: v for k, v in json.loads(sealed.header_bytes).items()
                                   if k in ("format", "v", "aead", "wrap", "parts")}}  # fmt: skip
        try:
            header_bytes = canonical_json(header)
        except (TypeError, ValueError):  # floats: still JSON, though not canonical
            header_bytes = json.dumps(header).encode()
        resigned = fmt.SealedPacket(
            header_bytes,
            fmt.signer(self.keys.signing.private).sign(header_bytes).signature,
            sealed.signer_key_id,
            sealed.wrapped_keys,
            sealed.parts,
        )
        return resigned.to_envelope()

    async def post(self, body: bytes) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.api.url}api/v1/sealed",
                data=body,
                headers={**self._headers, "Content-Type": "application/json"},
            ) as resp,
        ):
            return resp.status, await resp.text()

    async def state(self) -> tuple[tuple[int, str], int]:
        async with self.api.hub.db.read() as conn:
            head = await ledger_store.head(conn)
            count = (await conn.execute(select(func.count()).select_from(packets))).scalar_one()
        return head, int(count)

    async def check(self, body: bytes) -> int:
        """Post ``body``: no 500, and nothing written unless the packet was created (a refusal by
        the policy writes its entry on the log, and nothing else). The answer
        is counted in hypothesis's statistics (``--hypothesis-show-statistics``)."""
        before = await self.state()
        status, text = await self.post(body)
        assert status < 500, (status, text[:500])
        problem: dict[str, Any] = {}
        if status >= 400:
            problem = json.loads(text)
            assert problem["status"] == status and problem["title"], problem
        if status != 201:
            (seq, _), count = after = await self.state()
            if problem.get("decision", {}).get("outcome") == "DENY":
                # The refusal alone is on the log (hub.services.refused_shares).
                assert (seq, count) == (before[0][0] + 1, before[1]), (status, text[:300])
            else:
                assert after == before, (status, text[:300])
        if currently_in_test_context():
            event(f"{status} {problem.get('type', '')}" if status >= 400 else str(status))
        return status


@pytest.fixture
async def submitter(start_api: StartApi) -> Submitter:
    # A bucket no fuzzing run drains: the limiter is tested elsewhere, 429 is not the point here.
    api = await start_api(Limits(api_burst=1_000_000))
    police, housing = AgencyKeys.generate("DBY-POLICE"), AgencyKeys.generate("DBY-HOUSING")
    for keys in (police, housing):
        await api.hub.keyring.import_public(
            await agency_id(api.hub, keys.agency), keys.encryption.public, keys.signing.public
        )
    harlow = (await api.hub.cases.get(None, await case_id(api.hub, "Harlow"))).reference
    return Submitter(api, police, housing, await api.token("DBY-POLICE", SUBMIT), harlow)


# Every member a sealed header may carry (hub.services.sealed), and some it may not.
_HEADER_KEYS = st.sampled_from(
    ["schedule1_condition", "restricted_reason", "necessity", "policy", "parts", "v", "format"]
) | st.text(min_size=1, max_size=12)


def _wrapped(envelope: bytes) -> bytes:
    return json.dumps({"envelope": json.loads(envelope)}).encode()


async def test_the_unchanged_note_is_accepted(submitter: Submitter) -> None:
    """The base every mutation starts from is a good note: so refusals below are the mutation's."""
    header = {**submitter.header(), "packet_id": "0f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a60"}
    assert await submitter.check(_wrapped(submitter.envelope_for(header))) == 201


@fuzz_settings(60)
@given(header=st.data(), packet_id=st.uuids(version=4))
async def test_a_signed_header_of_any_shape_gets_an_answer_not_a_crash(
    submitter: Submitter, header: st.DataObject, packet_id: Any
) -> None:
    base = {**submitter.header(), "packet_id": str(packet_id)}
    doc = header.draw(mutated(base, keys=_HEADER_KEYS), label="header")
    await submitter.check(_wrapped(submitter.envelope_for(doc)))


@fuzz_settings(40)
@given(envelope=st.data())
async def test_an_envelope_changed_after_signing_is_refused_without_a_write(
    submitter: Submitter, envelope: st.DataObject
) -> None:
    doc = envelope.draw(mutated(submitter.good_envelope), label="envelope")
    await submitter.check(json.dumps({"envelope": doc}).encode())


_BODIES = (
    st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | JSON.map(lambda v: json.dumps({"envelope": v}).encode())
    | st.builds(
        lambda h: json.dumps(
            {
                "envelope": {
                    "format": "mappa-hub/packet",
                    "version": 1,
                    "header": h,
                    "signature": "",
                    "signer": "",
                    "keys": [],
                    "parts": {},
                }
            }
        ).encode(),
        st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=20),
    )
)


@fuzz_settings(40)
@given(body=_BODIES)
async def test_any_request_body_gets_a_problem_not_a_crash(
    submitter: Submitter, body: bytes
) -> None:
    assert await submitter.check(body) != 201


# Found by the header test above: a Schedule 1 condition that is not a string was looked up in
# the policy's conditions and raised TypeError (unhashable): a 500. Now a 400 naming the field.
@pytest.mark.parametrize("condition", [[], {}, ["sch1-para6"], 6])
async def test_regression_a_condition_that_is_not_text_is_refused(
    submitter: Submitter, condition: Any
) -> None:
    header = {**submitter.header(), "packet_id": "1f0c8a52-2a41-4d0e-9b7e-6c1d2f4e5a61",
              "schedule1_condition": condition}  # fmt: skip
    before = await submitter.state()
    status, text = await submitter.post(_wrapped(submitter.envelope_for(header)))
    assert status == 400, text
    assert json.loads(text)["field"] == "envelope.header.schedule1_condition"
    assert await submitter.state() == before
