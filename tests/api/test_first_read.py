"""A share's case is read with its token (``hub.web.api.first_read``), on both databases: one
round trip fewer on PostgreSQL, and nothing weaker. The case is read only for the token's own
secret; the service uses what was read, and reads again wherever it needs more; a body that
does not parse is still answered 401 for a bad token and 403 for a token without the scope, as
before the body was looked at first."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.crypto.secrets import sha256_hex
from hub.errors import InvalidInput, NotAuthenticated
from hub.model.packets import Draft
from hub.services import share_preparation
from hub.services.api_callers import _CALLER
from hub.services.share_preparation import KnownCase
from hub.store import cases as case_store
from hub.store import rate_limits
from hub.store.hot import HotRead
from hub.store.rate_limits import Bucket
from hub.web.api import first_read
from tests.api.conftest import Api
from tests.api.test_api_behaviour import assert_problem, call, note
from tests.conftest import actor_for, agency_id, case_id

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_a_share_reads_its_case_with_its_token_and_not_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note's case is read once, by the gate in the token's own statement, and the service
    decides on what was read rather than reading it again; where it needs another read, it
    reads the case again with it, in one transaction."""
    reads: list[str] = []
    real_first, real_within, real_beside = HotRead.first, HotRead.first_within, HotRead.first_beside
    real_case = case_store.case_with_agencies

    async def first(self: HotRead, conn: Any, values: Any) -> Any:
        if self is case_store.CASE_WITH_AGENCIES:
            reads.append("case on its own")
        return await real_first(self, conn, values)

    async def within(self: HotRead, conn: Any, values: Any, *rest: Any) -> Any:
        if len(rest) == 3 and rest[2] is not None and rest[2][0] is case_store.CASE_WITH_AGENCIES:
            reads.append("case in the token's statement")
        return await real_within(self, conn, values, *rest)

    async def beside(self: HotRead, conn: Any, values: Any, also: Any, *rest: Any) -> Any:
        found = await real_beside(self, conn, values, also, *rest)
        if found is not None and also[0] is case_store.CASE_WITH_AGENCIES:
            reads.append("case in the token's statement")
        return found

    async def by_the_service(conn: Any, wanted: int) -> Any:
        reads.append("case by the service")
        return await real_case(conn, wanted)

    monkeypatch.setattr(HotRead, "first", first)
    monkeypatch.setattr(HotRead, "first_within", within)
    monkeypatch.setattr(HotRead, "first_beside", beside)
    monkeypatch.setattr(case_store, "case_with_agencies", by_the_service)
    police = await api.client(await api.token("DBY-POLICE"))
    # The first share after start-up also reads the agencies and areas it names, once
    # (``KnownDirectory``): resolved without a connection, it needed one, and read the case too.
    await police.send(**await note(api))
    assert reads[1:] == ["case by the service", "case on its own"]
    reads.clear()
    sent = await police.send(**await note(api))
    assert sent["case_reference"] and sent["recipient_agencies"] == ["DBY-HOUSING"]
    assert reads == ["case in the token's statement"]

    # A preview is not registered: it reads its case itself, as before.
    reads.clear()
    await police.preview(**await note(api))
    assert reads == ["case by the service", "case on its own"]


async def test_the_service_decides_on_the_case_it_was_given(api: Api) -> None:
    """Given the case as read with the token, the service uses it: here a case the token read
    as missing is refused as unknown, though it exists (so nothing read it again). Given a
    read of another case than the draft's, it reads the draft's own."""
    police = await actor_for(api.hub, "dby.police")
    harlow = await case_id(api.hub, "Harlow")
    body = await note(api)
    housing = await agency_id(api.hub, "DBY-HOUSING")
    draft = Draft(
        case_id=harlow,
        recipient_agency_ids=(housing,),
        subject=body["subject"],
        body=body["body"],
        purpose=body["purpose"],
        lawful_basis=body["lawful_basis"],
        data_categories=tuple(body["data_categories"]),
        necessity=body["necessity"],
    )
    with pytest.raises(InvalidInput, match="Unknown case"):
        await api.hub.packets.send(police, draft, known_case=KnownCase(harlow, None))
    sent = await api.hub.packets.send(police, draft, known_case=KnownCase(harlow + 999, None))
    assert sent.case_id == harlow


async def test_a_wrong_secret_reads_no_case(api: Api) -> None:
    """The case is joined to the token's statement only where the stored digest is the
    presented secret's (on PostgreSQL, where the bucket was taken): a guess reads nothing of the
    case. On both databases a wrong secret is refused before anything read is given back."""
    token = await api.token("DBY-POLICE")
    prefix, token_id, secret = token.split("_", 2)
    wrong = f"{prefix}_{token_id}_{'A' * len(secret)}"
    harlow = await case_id(api.hub, "Harlow")
    also = (case_store.CASE_WITH_AGENCIES, {"id": harlow})
    bucket = (
        Bucket(rate=100.0, burst=100) if api.hub.db.engine.dialect.name == "postgresql" else None
    )
    with pytest.raises(NotAuthenticated):
        await api.hub.callers.authenticate_taking(wrong, bucket, also)
    caller, _, row = await api.hub.callers.authenticate_taking(token, bucket, also)
    assert caller.actor.agency.code == "DBY-POLICE"
    assert row is not None and row["id"] == harlow and row["reference"]
    if api.hub.db.engine.dialect.name != "postgresql":

        async def beside(digest: str, token: int = int(token_id)) -> Any:
            return await api.hub.db.run_read(
                lambda conn: _CALLER.first_beside(conn, {"id": token}, also, "secret_hash", digest)
            )

        guess = await beside(sha256_hex(("A" * len(secret)).encode()))
        assert guess is not None and guess.row is not None and guess.also is None
        found = await beside(sha256_hex(secret.encode()))
        assert found is not None and found.also is not None and found.also["id"] == harlow
        assert found.row == guess.row  # the token's row either way; the case only beside it
        assert await beside(sha256_hex(secret.encode()), 2**31 - 1) == (None, None)
        # Not on a job's sqlite3 connection (aiosqlite under SQLAlchemy): read apart.
        async with api.hub.db.read() as conn:
            assert await _CALLER.first_beside(conn, {"id": 1}, also, "secret_hash", "") is None
        return

    async def within(digest: str) -> Any:
        async with api.hub.db.read() as conn:
            more = (digest, 100.0, 100.0)
            return await _CALLER.first_within(
                conn, {"id": int(token_id)}, rate_limits.caller_taking, more, also
            )

    guessed = await within(sha256_hex(("A" * len(secret)).encode()))
    assert guessed is not None and guessed.own == (None, None) and guessed.also is None
    right = await within(sha256_hex(secret.encode()))
    assert right is not None and right.also is not None and right.also["id"] == harlow
    assert right.own[0] is True  # granted: the bucket was taken, once, for the right secret


async def test_a_body_is_looked_at_first_but_answered_after_the_token_and_the_scope(
    api: Api,
) -> None:
    """A share whose body does not parse: 401 for a bad token, 403 for a token without the
    scope, 400 for a good one, as when the body was read only after the token. A body over
    ``MAX_BODY`` is not looked at before the token; it is sent as before."""
    good = await api.token("DBY-POLICE")
    reader = await api.token("DBY-POLICE", ["packets:read"])
    bad = good[:-4] + "AAAA"
    broken = {"Content-Type": "application/json"}
    for token, status in ((bad, 401), (reader, 403), (good, 400)):
        answer = await call(api, "POST", "/api/v1/packets", token=token, data=b"{", headers=broken)
        assert_problem(answer, status)
    for token, status in ((bad, 401), (reader, 403)):
        answer = await call(api, "POST", "/api/v1/packets", token=token, json_body=await note(api))
        assert_problem(answer, status)
    unknown = await note(api, case_id=2**31 - 1)
    assert_problem(
        await call(api, "POST", "/api/v1/packets", token=good, json_body=unknown),
        400,
        "unknown_case",
    )
    large = await note(api, body="x" * (first_read.MAX_BODY + 1))
    answer = await call(api, "POST", "/api/v1/packets", token=good, json_body=large)
    assert answer.status == 201, answer.body[:300]


def test_a_resolution_without_a_connection_stops_at_its_first_use() -> None:
    """Anything asked of the stand-in connection ends the try, so that no read is skipped."""
    conn: Any = share_preparation._UNCONNECTED
    with pytest.raises(share_preparation._NeedsDatabase):
        _ = conn.dialect
    with pytest.raises(share_preparation._NeedsDatabase):
        getattr(conn, "driver_rows", None)


async def test_a_body_not_yet_arrived_is_not_waited_for_before_the_token(api: Api) -> None:
    """A caller that declares a small body and sends none is answered 401 on its token alone: the
    gate never waits for an unauthenticated body."""
    good = await api.token("DBY-POLICE")
    host, port = api.server.host, api.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"POST /api/v1/packets HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + f"Authorization: Bearer {good[:-4]}AAAA\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 401")
