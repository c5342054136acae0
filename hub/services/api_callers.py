"""Who is calling the API: the bearer token every call presents, read and checked before the
call's handler runs (``hub.web.sessions``), and the person a call names (``On-Behalf-Of``).

A token is ``mh_<id>_<secret>`` (``hub.services.tokens``, which issues and revokes them): the
secret's SHA-256 is compared in constant time with the stored one, and one answer is given for
every refusal, so that a refusal tells nothing of which ids exist. This runs before every request:
one statement reads the token, its account, agency and issuer (on PostgreSQL with the rate
limit's take, and with the request's next read where the route names one).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.clock import Clock
from hub.crypto.secrets import constant_time_equals, sha256_hex
from hub.errors import Forbidden, NotAuthenticated
from hub.model.directory import Agency, AgencyType, Role, User
from hub.services.actor import Actor
from hub.services.tokens import PREFIX, ApiActor, Token, token_of
from hub.store import rate_limits
from hub.store.database import Database
from hub.store.hot import HotRead
from hub.store.schema import agencies, api_tokens, users

# The header an agency system names the person it acts for with (documented in the OpenAPI).
ON_BEHALF_OF = "On-Behalf-Of"
# One answer for every refusal, made only when a call is refused (most are not).
_REFUSED = "The bearer token is missing, unknown, expired or revoked."
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")

_issuer = users.alias("issuer")
# Read before every API call (on the driver: hub.store.hot).
_CALLER = HotRead(
    select(
        api_tokens,
        users.c.username.label("u_username"),
        users.c.display_name.label("u_display_name"),
        users.c.role.label("u_role"),
        users.c.active.label("u_active"),
        agencies.c.code.label("a_code"),
        agencies.c.name.label("a_name"),
        agencies.c.type.label("a_type"),
        agencies.c.area_id.label("a_area_id"),
        _issuer.c.username.label("i_username"),
        _issuer.c.display_name.label("i_display_name"),
        _issuer.c.agency_id.label("i_agency_id"),
        _issuer.c.role.label("i_role"),
        _issuer.c.active.label("i_active"),
    )
    .join(users, users.c.id == api_tokens.c.user_id)
    .join(agencies, agencies.c.id == api_tokens.c.agency_id)
    .outerjoin(_issuer, _issuer.c.id == api_tokens.c.created_by_user_id)
    .where(api_tokens.c.id == bindparam("id"))
)
# A person the call names: a user of the token's agency who is not itself a system account.
_NAMED = select(
    users.c.id, users.c.username, users.c.display_name, users.c.agency_id, users.c.role
).where(
    users.c.username == bindparam("username"),
    users.c.agency_id == bindparam("agency_id"),
    users.c.active.is_(True),
    ~select(api_tokens.c.id).where(api_tokens.c.user_id == users.c.id).exists(),
)


class ApiCallers:
    """The caller of each API call (``Hub.callers``)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def authenticate(self, presented: str) -> ApiActor:
        """The caller behind a bearer token, or NotAuthenticated (one message for every failure)."""
        caller, _, _ = await self.authenticate_taking(presented, None)
        return caller

    async def authenticate_taking(
        self,
        presented: str,
        bucket: rate_limits.Bucket | None,
        also: tuple[HotRead, Mapping[str, Any]] | None = None,
    ) -> tuple[ApiActor, float | None, dict[str, Any] | None]:
        """``authenticate``, and on PostgreSQL one request taken from the token's ``bucket`` in
        the same statement (``hub.store.rate_limits.caller_taking``): the caller, the seconds
        to wait before a request may go (0.0: now), or None where the bucket was not taken here
        (SQLite keeps the buckets in a side file; no ``bucket``): the caller takes it then.

        ``also``: the read the request makes next (a share's case), made in the token's statement
        (on PostgreSQL a round trip fewer; on SQLite a statement fewer where the job runs on the
        sqlite3 connection, as hot reads do, and else after it in the same snapshot). Its first
        row (None: none) is the third value. It is read only for the token's own secret, and
        given back only once the caller is authenticated: it authorises nothing, and the
        service that uses it still checks the caller against it."""
        # Tokens are ASCII; a header of bytes that are not UTF-8 arrives holding lone surrogates,
        # which would not even encode for hashing.
        if not presented.startswith(PREFIX) or len(presented) > 200 or not presented.isascii():
            raise NotAuthenticated(_REFUSED)
        token_id, sep, secret = presented[len(PREFIX) :].partition("_")
        if not sep or not token_id.isascii() or not token_id.isdigit() or len(token_id) > 12:
            raise NotAuthenticated(_REFUSED)
        now = self._clock.now()

        digest = sha256_hex(secret.encode())

        async def load(
            conn: AsyncConnection,
        ) -> tuple[
            Token, User | None, Agency | None, User | None, float | None, dict[str, Any] | None
        ]:
            wait, row, also_row, folded = None, None, None, False
            if bucket is not None and conn.dialect.driver == "asyncpg":
                folded = True
                more = (digest, float(bucket.burst), bucket.rate)
                found = await _CALLER.first_within(
                    conn, {"id": int(token_id)}, rate_limits.caller_taking, more, also
                )
                if found is not None:
                    row, (granted, level), also_row = found
                    if granted is not None:  # taken: the digests matched
                        wait = rate_limits.wait(granted, float(level), bucket.rate)
            elif also is not None:
                # SQLite: the case beside the token, in its statement, for its secret only.
                beside = await _CALLER.first_beside(
                    conn, {"id": int(token_id)}, also, "secret_hash", digest
                )
                if beside is not None:
                    folded = True
                    row, also_row = beside
            if not folded:
                row = await _CALLER.first(conn, {"id": int(token_id)})
            stored = row["secret_hash"] if row is not None else "0" * 64
            # Compare even for an unknown id, so timing does not tell which ids exist.
            matches = constant_time_equals(digest, stored)
            if row is None or not matches:
                raise NotAuthenticated(_REFUSED)
            token = token_of(row)
            if token.revoked_at is not None or token.expires_at <= now:
                raise NotAuthenticated(_REFUSED)
            if also is not None and not folded:
                also_row = await also[0].first(conn, also[1])  # in the same job
            m = row  # the token's row, with its user, agency and issuer
            user = User(
                token.user_id,
                m["u_username"],
                m["u_display_name"],
                token.agency_id,
                Role(m["u_role"]),
                bool(m["u_active"]),
            )
            agency = Agency(
                token.agency_id, m["a_code"], m["a_name"], AgencyType(m["a_type"]), m["a_area_id"]
            )
            issuer = None
            # The issuer is the person behind the token while they remain an active user of the
            # token's agency; after that a call must name its person.
            if (
                token.issued_by_user_id is not None
                and m["i_active"]
                and m["i_agency_id"] == token.agency_id
            ):
                issuer = User(
                    token.issued_by_user_id,
                    m["i_username"],
                    m["i_display_name"],
                    m["i_agency_id"],
                    Role(m["i_role"]),
                )
            return token, user, agency, issuer, wait, also_row

        # One query per API call (token, its account, agency and issuer, and on PostgreSQL the
        # bucket and ``also``): this runs before every request.
        token, user, agency, issuer, wait, also_row = await self._db.run_read(load)
        if user is None or agency is None or not user.active:
            raise NotAuthenticated(_REFUSED)
        actor = Actor(user, agency, token_id=token.id, on_behalf_of=issuer)
        return ApiActor(actor, token), wait, also_row

    async def acting_for(self, caller: ApiActor, username: str) -> ApiActor:
        """The caller acting for the person a call names (``On-Behalf-Of``): an active user of
        the token's agency, never a system account. One answer for every refusal, so that the
        header tells nothing of other agencies' users. Whether the person may do what the call
        asks (decide, record a disclosure) is the service's to check, as for anyone."""
        refused = Forbidden(
            f"{ON_BEHALF_OF} must name an active person of this token's agency by username."
        )
        if not (username.isascii() and _USERNAME.fullmatch(username)):
            raise refused

        async def load(conn: AsyncConnection) -> User | None:
            params = {"username": username, "agency_id": caller.token.agency_id}
            row = (await conn.execute(_NAMED, params)).mappings().first()
            if row is None:
                return None
            return User(
                row["id"],
                row["username"],
                row["display_name"],
                row["agency_id"],
                Role(row["role"]),
            )

        person = await self._db.run_read(load)
        if person is None:
            raise refused
        return dataclasses.replace(
            caller,
            actor=dataclasses.replace(caller.actor, on_behalf_of=person, person_named=True),
        )
