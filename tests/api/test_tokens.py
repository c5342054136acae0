"""API tokens end to end: hashed at rest, expiring, revocable, scoped, limited to cases, rate
limited, attributed on the log; and only an agency's own admin manages them."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pyotp
import pytest
from sqlalchemy import select

from hub.client import ApiError, HubClient
from hub.config import Limits
from hub.crypto import totp
from hub.crypto.secrets import sha256_hex
from hub.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from hub.model.directory import Role
from hub.services.actor import Actor
from hub.store import ledger as ledger_store
from hub.store.schema import api_tokens, users
from tests.api.conftest import Api, StartApi
from tests.conftest import NECESSITY, SHARE_CATEGORIES, actor_for, agency_id, case_id

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

PROBLEM = "application/problem+json"
COOKIE = "__Host-mappa-session"


def token_id(secret: str) -> int:
    match = re.fullmatch(r"mh_(\d+)_.+", secret)
    assert match is not None, secret
    return int(match.group(1))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    api: Api,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    body: Any = None,
) -> tuple[int, dict[str, str], Any]:
    """One raw request: (status, headers, JSON body or None)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with http.request(
        method, api.url.rstrip("/") + path, headers=sent, json=body, allow_redirects=False
    ) as resp:
        raw = await resp.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return resp.status, dict(resp.headers), doc


def assert_unauthenticated(status: int, headers: dict[str, str], doc: Any) -> None:
    assert status == 401, (status, doc)
    assert headers["Content-Type"].startswith(PROBLEM)
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert doc["type"] == "urn:mappa-hub:problem:not_authenticated"
    assert doc["status"] == 401


async def reference(api: Api, family_name: str) -> str:
    return next(
        c.reference for c in await api.hub.cases.visible_to(None) if c.family_name == family_name
    )


def share(case: int, **extra: Any) -> dict[str, Any]:
    return {
        "case_id": case,
        "recipient_agencies": ["DBY-HOUSING"],
        "subject": "Address check",
        "body": "Please check 12 Example Road.",
        "purpose": "risk-management",
        "lawful_basis": "cja2003-s325",
        "data_categories": list(SHARE_CATEGORIES),
        "necessity": NECESSITY,
        **extra,
    }


async def new_admin(api: Api, username: str, agency: str) -> Actor:
    await api.hub.directory.add_user(
        username, "Systems admin", agency, Role.AGENCY_ADMIN, "a long enough password here"
    )
    return await actor_for(api.hub, username)


# -- stored hashed ----------------------------------------------------------------------------


async def test_the_database_never_holds_the_secret(api: Api) -> None:
    secret = await api.token("DBY-POLICE")
    client = await api.client(secret)
    assert await client.cases()  # used once, so anything written on use is written
    random_part = secret.split("_", 2)[2]
    assert len(random_part) >= 40
    async with api.hub.db.read() as conn:
        rows = [
            *(await conn.execute(select(api_tokens))).mappings().all(),
            *(await conn.execute(select(users))).mappings().all(),
        ]
        stored = (
            await conn.execute(
                select(api_tokens.c.secret_hash).where(api_tokens.c.id == token_id(secret))
            )
        ).scalar_one()
    dumped = "\n".join(repr(dict(r)) for r in rows)
    assert secret not in dumped
    assert random_part not in dumped
    assert stored == sha256_hex(random_part.encode())
    for row in rows:
        for value in row.values():
            if isinstance(value, bytes):
                assert random_part.encode() not in value


# -- expiry and revocation --------------------------------------------------------------------


async def test_an_expired_token_is_refused(api: Api, http: aiohttp.ClientSession) -> None:
    secret = await api.token("DBY-POLICE", lifetime=timedelta(hours=1))
    status, _, doc = await call(http, api, "GET", "/api/v1/cases", token=secret)
    assert status == 200 and doc["cases"]
    api.clock.advance(timedelta(minutes=59))
    assert (await call(http, api, "GET", "/api/v1/cases", token=secret))[0] == 200
    api.clock.advance(timedelta(minutes=2))
    assert_unauthenticated(*await call(http, api, "GET", "/api/v1/cases", token=secret))


async def test_a_revoked_token_is_refused_and_its_account_deactivated(
    api: Api, http: aiohttp.ClientSession
) -> None:
    secret = await api.token("DBY-POLICE")
    other = await api.token("DBY-POLICE", name="Other system")
    assert (await call(http, api, "GET", "/api/v1/cases", token=secret))[0] == 200
    admin = await actor_for(api.hub, "dby.admin")
    revoked = await api.hub.tokens.revoke(admin, token_id(secret))
    assert revoked.revoked_at is not None
    assert_unauthenticated(*await call(http, api, "GET", "/api/v1/cases", token=secret))
    account = next(u for u in await api.hub.directory.users() if u.id == revoked.user_id)
    assert account.active is False
    assert (await call(http, api, "GET", "/api/v1/cases", token=other))[0] == 200
    # Revoking again changes nothing (the first revocation time stays).
    again = await api.hub.tokens.revoke(None, token_id(secret))
    assert again.revoked_at == revoked.revoked_at


# -- malformed credentials --------------------------------------------------------------------


async def test_malformed_authorization_headers_are_401_never_500(
    api: Api, http: aiohttp.ClientSession
) -> None:
    secret = await api.token("DBY-POLICE")
    tid = token_id(secret)
    random_part = secret.split("_", 2)[2]
    for header in [
        secret,  # no scheme
        f"Basic {base64.b64encode(b'dby.police:password').decode()}",
        f"Basic {secret}",
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Token " + secret,
        "Bearer " + "mh_1_" + "a" * 7000,  # huge, under the server's header limit
        f"Bearer mh_x{tid}_{random_part}",
        f"Bearer mh_abc_{random_part}",
        f"Bearer mh_-{tid}_{random_part}",
        f"Bearer mh_+{tid}_{random_part}",
        f"Bearer mh_{tid}.0_{random_part}",
        f"Bearer mh__{random_part}",
        f"Bearer mh_{tid}",
        f"Bearer mh_{tid}_",
        f"Bearer mh_{'9' * 13}_{random_part}",  # an id too long to be one
        f"Bearer mh_999999_{random_part}",  # an unknown id
        f"Bearer mh_{tid}_{random_part[:-1]}",  # one character short
        f"Bearer mh_{tid}_{random_part}x",
        f"Bearer {secret.upper()}",
        f"Bearer {secret} extra",
        f"Bearer {secret},{secret}",
    ]:
        status, headers, doc = await call(
            http, api, "GET", "/api/v1/cases", headers={"Authorization": header}
        )
        assert_unauthenticated(status, headers, doc)
    # The scheme is case-insensitive (RFC 9110), and the right token still works after all that.
    for scheme in ("Bearer", "bearer", "BEARER"):
        status, _, _ = await call(
            http, api, "GET", "/api/v1/cases", headers={"Authorization": f"{scheme} {secret}"}
        )
        assert status == 200
    status, headers, doc = await call(http, api, "GET", "/api/v1/cases")  # no header at all
    assert_unauthenticated(status, headers, doc)


async def _raw_request(api: Api, authorization: bytes) -> tuple[int, bytes]:
    """A request written byte by byte, so that the header can hold what no client would send."""
    host, port = api.server.host, api.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"GET /api/v1/cases HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Authorization: " + authorization + b"\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
    status = int(response.split(b" ", 2)[1])
    return status, response


async def test_non_ascii_and_oversized_headers_are_refused_cleanly(api: Api) -> None:
    secret = await api.token("DBY-POLICE")
    tid = token_id(secret)
    random_part = secret.split("_", 2)[2]
    for header in [
        f"Bearer mh_{tid}_{random_part}é".encode(),
        f"Bearer mh_١٢_{random_part}".encode(),  # Arabic-Indic digits are digits, not ASCII
        f"Bearer mh_{tid}_{random_part[:-1]}\u00e9".encode(),
        b"Bearer mh_" + str(tid).encode() + b"_" + random_part.encode() + b"\xff\xfe",  # not UTF-8
        "Bearer ＭＨ_1_ｓｅｃｒｅｔ".encode(),
    ]:
        status, response = await _raw_request(api, header)
        assert status == 401, response[:300]
        assert b"WWW-Authenticate: Bearer" in response
    # Beyond the server's header limit: refused by the HTTP parser, still never a 500.
    status, response = await _raw_request(api, b"Bearer mh_1_" + b"a" * 20_000)
    assert 400 <= status < 500, response[:300]


async def test_on_behalf_of_names_a_person_or_is_refused_never_a_500(
    api: Api, http: aiohttp.ClientSession
) -> None:
    secret = await api.token("DBY-POLICE")
    ok = await call(
        http, api, "GET", "/api/v1/cases", token=secret, headers={"On-Behalf-Of": "dby.police"}
    )
    assert ok[0] == 200
    for value in [
        "",
        " ",
        "dby.housing",
        "x" * 300,
        "dby.police,dby.police",
        "Ｄby.police",
        "dby police",
    ]:
        status, headers, doc = await call(
            http, api, "GET", "/api/v1/cases", token=secret, headers={"On-Behalf-Of": value}
        )
        assert status == 403, (value, doc)
        assert headers["Content-Type"].startswith(PROBLEM)
        assert "On-Behalf-Of" in doc["detail"]
    # A bad token is still a 401 first, whatever the header names.
    status, headers, doc = await call(
        http,
        api,
        "GET",
        "/api/v1/cases",
        headers={"Authorization": "Bearer mh_1_x", "On-Behalf-Of": "dby.police"},
    )
    assert_unauthenticated(status, headers, doc)
    # Bytes that are not UTF-8, written by hand.
    host, port = api.server.host, api.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            b"GET /api/v1/cases HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Authorization: Bearer " + secret.encode() + b"\r\n"
            b"On-Behalf-Of: dby.\xff\xfepolice\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
    assert int(response.split(b" ", 2)[1]) == 403, response[:300]


# -- case limits ------------------------------------------------------------------------------


async def test_a_token_limited_to_one_case_sees_and_acts_on_that_case_only(
    api: Api, http: aiohttp.ClientSession
) -> None:
    harlow, pritchard = await case_id(api.hub, "Harlow"), await case_id(api.hub, "Pritchard")
    secret = await api.token("DBY-POLICE", cases=[await reference(api, "Harlow")])
    status, _, doc = await call(http, api, "GET", f"/api/v1/cases/{pritchard}", token=secret)
    assert status == 403 and doc["type"] == "urn:mappa-hub:problem:forbidden"
    assert (await call(http, api, "GET", f"/api/v1/cases/{harlow}", token=secret))[0] == 200
    status, _, doc = await call(http, api, "GET", "/api/v1/cases", token=secret)
    assert [c["id"] for c in doc["cases"]] == [harlow]
    before = await _ledger_size(api)
    status, _, doc = await call(
        http, api, "POST", "/api/v1/packets", token=secret, body=share(pritchard)
    )
    assert status == 403, doc
    status, _, doc = await call(
        http, api, "POST", "/api/v1/packets/preview", token=secret, body=share(pritchard)
    )
    assert status == 403, doc
    assert await _ledger_size(api) == before  # nothing was sent
    status, _, doc = await call(
        http, api, "POST", "/api/v1/packets", token=secret, body=share(harlow)
    )
    assert status == 201, doc
    # Packets about other cases are not listed, nor can they be opened.
    status, _, doc = await call(http, api, "GET", "/api/v1/outbox", token=secret)
    assert status == 200 and doc["packets"]
    assert {p["case_id"] for p in doc["packets"]} == {harlow}
    probation = await api.token("DBY-PROBATION", cases=[await reference(api, "Harlow")])
    status, _, doc = await call(http, api, "GET", "/api/v1/inbox", token=probation)
    assert status == 200 and doc["packets"]
    assert {p["case_id"] for p in doc["packets"]} == {harlow}
    everything = await api.client(await api.token("DBY-PROBATION"))
    full_inbox = await everything.inbox()
    assert {p["case_id"] for p in full_inbox} >= {harlow, pritchard}
    other = next(p for p in full_inbox if p["case_id"] == pritchard)
    status, _, _ = await call(http, api, "GET", f"/api/v1/packets/{other['id']}", token=probation)
    assert status == 403
    status, _, doc = await call(
        http, api, "GET", f"/api/v1/disclosures?case_id={pritchard}", token=secret
    )
    assert status == 403


async def test_a_case_limit_names_cases_of_the_agency_area_only(api: Api) -> None:
    with pytest.raises(InvalidInput):  # Booth is a Nottinghamshire case
        await api.token("DBY-POLICE", cases=[await reference(api, "Booth")])
    with pytest.raises(InvalidInput):
        await api.token("DBY-POLICE", cases=["DBY-1999-0001"])


# -- scopes -----------------------------------------------------------------------------------


async def test_each_endpoint_needs_its_scope(api: Api, http: aiohttp.ClientSession) -> None:
    harlow = await case_id(api.hub, "Harlow")
    full = await api.client(await api.token("DBY-POLICE"))
    packet = (await full.outbox())[0]["id"]
    checks: list[tuple[str, str, str, Any]] = [
        ("cases:read", "GET", "/api/v1/cases", None),
        ("cases:read", "GET", f"/api/v1/cases/{harlow}", None),
        ("packets:send", "POST", "/api/v1/packets", share(harlow)),
        ("packets:send", "POST", "/api/v1/packets/preview", share(harlow)),
        ("packets:read", "GET", "/api/v1/inbox", None),
        ("packets:read", "GET", "/api/v1/outbox", None),
        ("packets:read", "GET", f"/api/v1/packets/{packet}", None),
        ("packets:read", "GET", f"/api/v1/packets/{packet}/receipt", None),
        ("packets:read", "GET", "/api/v1/requests", None),
        ("requests:answer", "POST", "/api/v1/requests/1/decline", {"reason": "not ours"}),
        ("disclosures:read", "GET", "/api/v1/disclosures", None),
        ("disclosures:read", "GET", "/api/v1/disclosures/1", None),
        (
            "disclosures:decide",
            "POST",
            "/api/v1/disclosures/1/decisions",
            {"decision": "approve", "reasons": "ok"},
        ),
        ("packets:send", "POST", "/api/v1/disclosures/1/delivery", None),
    ]
    all_scopes = {s for s, *_ in checks}
    # A coordinator's system, so that only the missing scope can be the reason (none holds
    # disclosures:decide: the shipped policy allows no delegated decisions).
    tokens = [
        await api.token(
            "DBY-POLICE", sorted(all_scopes - {scope, "disclosures:decide"}), role=Role.COORDINATOR
        )
        for scope, *_ in checks
    ]
    before = await _ledger_size(api)  # after issuing, which is on the log
    for secret, (scope, method, path, body) in zip(tokens, checks, strict=True):
        status, _, doc = await call(http, api, method, path, token=secret, body=body)
        assert status == 403, (scope, path, status, doc)
        assert scope in doc["detail"], (scope, doc)
    assert await _ledger_size(api) == before
    # And a token holding only packets:read reads but cannot send.
    reader = await api.client(await api.token("DBY-POLICE", ["packets:read"]))
    assert await reader.outbox()
    with pytest.raises(ApiError) as err:
        await reader.send(**share(harlow))
    assert err.value.status == 403 and "packets:send" in err.value.problem["detail"]


async def test_deciding_disclosures_needs_a_coordinator_system_and_the_policy(api: Api) -> None:
    admin = await actor_for(api.hub, "dby.admin")
    for issuer in (admin, None):
        for role in Role:
            with pytest.raises(InvalidInput):
                await api.hub.tokens.issue(
                    issuer, "DBY-POLICE", "Decider", ["disclosures:decide"], role=role
                )
    # The operator issues a coordinator's system, without the scope the policy withholds
    # (tests/api/test_separation_of_duties.py: with delegated decisions allowed).
    issued = await api.hub.tokens.issue(
        None, "DBY-POLICE", "Unit", ["disclosures:read"], role=Role.COORDINATOR
    )
    account = next(u for u in await api.hub.directory.users() if u.id == issued.token.user_id)
    assert account.role is Role.COORDINATOR
    for scopes in ([], ["cases:write"], ["cases:read", "everything"]):
        with pytest.raises(InvalidInput):
            await api.hub.tokens.issue(admin, "DBY-POLICE", "Bad", scopes)


# -- attribution on the log -------------------------------------------------------------------


async def test_shares_and_reads_are_on_the_log_under_the_token_and_agency(api: Api) -> None:
    police_secret = await api.token("DBY-POLICE")
    housing_secret = await api.token("DBY-HOUSING")
    police, housing = await api.client(police_secret), await api.client(housing_secret)
    tokens = {t.id: t for t in await api.hub.tokens.list(None)}
    police_token, housing_token = tokens[token_id(police_secret)], tokens[token_id(housing_secret)]
    police_id, housing_id = (
        await agency_id(api.hub, "DBY-POLICE"),
        await agency_id(api.hub, "DBY-HOUSING"),
    )
    sent = await police.send(
        **share(
            await case_id(api.hub, "Harlow"),
            attachments=[
                {
                    "filename": "note.txt",
                    "content_type": "text/plain",
                    "data_base64": base64.b64encode(b"hello").decode(),
                }
            ],
        )
    )
    await housing.open(sent["id"])
    assert await housing.attachment(sent["id"], 0) == b"hello"
    async with api.hub.db.read() as conn:
        entries = await ledger_store.entries_for_packet(conn, sent["id"])
    assert [e["event"] for e in entries] == ["packet-sent", "packet-opened", "attachment-opened"]
    sent_entry, *reads = entries
    assert sent_entry["actor_token_id"] == police_token.id
    assert sent_entry["actor_agency_id"] == police_id
    assert sent_entry["actor_user_id"] == police_token.user_id
    for read in reads:
        assert read["actor_token_id"] == housing_token.id
        assert read["actor_agency_id"] == housing_id
        assert read["actor_user_id"] == housing_token.user_id
    # The signed entry says so too, not only the indexed columns.
    for entry in entries:
        doc = json.loads(entry["entry"])
        assert doc["actor_token"] == entry["actor_token_id"]
        assert doc["actor_agency"] == entry["actor_agency_id"]


# -- who manages tokens -----------------------------------------------------------------------


async def test_only_the_agency_own_admin_manages_its_tokens(api: Api) -> None:
    admin = await actor_for(api.hub, "dby.admin")
    issued = await api.hub.tokens.issue(admin, "DBY-POLICE", "Records system", ["cases:read"])
    assert [t.id for t in await api.hub.tokens.list(admin)] == [issued.token.id]
    assert issued.token.agency_id == admin.agency.id
    # An admin of another agency, in the same area or another, neither sees nor revokes it.
    for username, agency in (("dby.prob.admin", "DBY-PROBATION"), ("nts.admin", "NTS-POLICE")):
        other = await new_admin(api, username, agency)
        assert await api.hub.tokens.list(other) == []
        assert await api.hub.tokens.list(other, "DBY-POLICE") == []  # the code is ignored
        with pytest.raises(NotFound):
            await api.hub.tokens.revoke(other, issued.token.id)
        with pytest.raises(Forbidden):
            await api.hub.tokens.issue(other, "DBY-POLICE", "Intruder", ["cases:read"])
        mine = await api.hub.tokens.issue(other, agency, "Own system", ["cases:read"])
        assert mine.token.agency_id == other.agency.id
    with pytest.raises(NotFound):
        await api.hub.tokens.revoke(admin, 999_999)
    # Nobody but an agency admin: not a practitioner, a coordinator or an auditor.
    for username in ("dby.police", "dby.coordinator", "dby.auditor", "dby.senior"):
        actor = await actor_for(api.hub, username)
        with pytest.raises(Forbidden):
            await api.hub.tokens.issue(actor, "DBY-POLICE", "Mine", ["cases:read"])
        with pytest.raises(Forbidden):
            await api.hub.tokens.list(actor)
        with pytest.raises(Forbidden):
            await api.hub.tokens.revoke(actor, issued.token.id)
    assert (await api.hub.tokens.list(admin))[0].revoked_at is None
    # A token's own system account is not an admin either, whatever it asks for.
    with pytest.raises(InvalidInput):
        await api.hub.tokens.issue(
            admin, "DBY-POLICE", "Admin", ["cases:read"], role=Role.AGENCY_ADMIN
        )
    with pytest.raises(NotFound):
        await api.hub.tokens.issue(None, "NOPE", "Ghost", ["cases:read"])


async def test_a_system_account_cannot_sign_in_to_the_inbox(api: Api) -> None:
    issued = await api.hub.tokens.issue(None, "DBY-POLICE", "Records system", ["cases:read"])
    account = next(u for u in await api.hub.directory.users() if u.id == issued.token.user_id)
    session = await api.hub.auth.anonymous_session()
    for password in ("", "!system-account", issued.secret):
        with pytest.raises(NotAuthenticated):
            await api.hub.auth.password_step(session, account.username, password)


# -- rate limit -------------------------------------------------------------------------------


async def test_each_token_is_rate_limited_on_its_own(
    start_api: StartApi, http: aiohttp.ClientSession
) -> None:
    api = await start_api(limits=Limits(api_rate_per_second=1.0, api_burst=3))
    busy, quiet = await api.token("DBY-POLICE"), await api.token("DBY-POLICE", name="Quiet")
    for _ in range(3):
        assert (await call(http, api, "GET", "/api/v1/cases", token=busy))[0] == 200
    status, headers, doc = await call(http, api, "GET", "/api/v1/cases", token=busy)
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert headers["Content-Type"].startswith(PROBLEM)
    assert doc["type"] == "urn:mappa-hub:problem:rate_limited"
    assert doc["status"] == 429 and doc["title"] and doc["detail"]
    assert (await call(http, api, "GET", "/api/v1/cases", token=quiet))[0] == 200


# -- the inbox's cookie is not an API credential ---------------------------------------------


async def test_a_signed_in_browser_session_does_not_authorise_the_api(
    api: Api, http: aiohttp.ClientSession
) -> None:
    password = "a long enough password here"
    enrolment = await api.hub.directory.add_user(
        "dby.cookie", "Cookie Test", "DBY-POLICE", Role.COORDINATOR, password
    )
    auth = api.hub.auth
    session = await auth.password_step(await auth.anonymous_session(), "dby.cookie", password)
    code = totp.code_at(pyotp.parse_uri(enrolment.totp_uri).secret, api.clock.now())
    session = (await auth.totp_step(session, code)).session
    cookie = {"Cookie": f"{COOKIE}={session.token}"}
    # The cookie does sign the user in to the inbox...
    status, _, _ = await call(http, api, "GET", "/inbox", headers=cookie)
    assert status == 200
    # ...but never to the API, with or without the session's CSRF token.
    harlow = await case_id(api.hub, "Harlow")
    with_csrf = {**cookie, "X-CSRF-Token": session.csrf_token}
    for method, path, body in [
        ("GET", "/api/v1/cases", None),
        ("GET", f"/api/v1/cases/{harlow}", None),
        ("GET", "/api/v1/inbox", None),
        ("POST", "/api/v1/packets", share(harlow)),
    ]:
        for headers in (cookie, with_csrf):
            assert_unauthenticated(*await call(http, api, method, path, headers=headers, body=body))
    # A cookie next to a wrong bearer token does not rescue it either.
    status, headers, doc = await call(
        http, api, "GET", "/api/v1/cases", headers={**cookie, "Authorization": "Bearer mh_1_x"}
    )
    assert_unauthenticated(status, headers, doc)


async def _ledger_size(api: Api) -> int:
    async with api.hub.db.read() as conn:
        seq, _ = await ledger_store.head(conn)
    return seq


async def test_the_client_reports_401_for_an_unknown_token(api: Api) -> None:
    async with HubClient(api.url, "mh_424242_nothing") as client:
        with pytest.raises(ApiError) as err:
            await client.cases()
    assert err.value.status == 401 and err.value.code == "not_authenticated"
