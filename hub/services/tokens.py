"""Bearer tokens for agency systems: issued by an agency admin, scoped, expiring, revocable.

A token is ``mh_<id>_<secret>``. Only the SHA-256 of the secret is stored (the secret is 256 random
bits, so a slow hash adds nothing); it is compared in constant time. Each token acts as its own
system account of the agency (a user row nobody can sign in as), so everything it does is on the
log under that account, the agency and the token's id.

Behind the account is a person (``Actor.person``): the one a call names (``On-Behalf-Of``, checked
to be an active person of the token's agency), or else the admin who issued the token. A token
never holds more than its issuer may give: an agency admin issues practitioner systems only, and
no token decides disclosures unless the policy allows delegated decisions. Issuing and revoking
are alterations on the log, in the same transaction, with a digest of the token (never its
secret). Each call's token is read and checked by ``hub.services.api_callers``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update

from hub.clock import Clock, utc_text
from hub.crypto.canonical import canonical_json
from hub.crypto.secrets import sha256_hex
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.ledger.entries import Action, Event, Record
from hub.model.directory import Role
from hub.services import ledger
from hub.services.actor import Actor
from hub.services.keyring import KeyRing
from hub.services.policy import PolicyService
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store.database import Database
from hub.store.schema import api_tokens

PREFIX = "mh_"
MAX_LIFETIME = timedelta(days=365)
DEFAULT_LIFETIME = timedelta(days=90)
# Not an argon2 hash, so no password ever verifies: the account signs in only with its token.
_UNUSABLE_HASH = "!system-account"
SYSTEM_ROLES = (Role.PRACTITIONER, Role.COORDINATOR)
# What an agency admin may give a system: agency casework, not the coordinator's area-wide powers
# (they hold neither); the operator at the command line may issue either.
_ADMIN_MAY_ISSUE = (Role.PRACTITIONER,)


class Scope(StrEnum):
    CASES_READ = "cases:read"
    PACKETS_SEND = "packets:send"
    PACKETS_READ = "packets:read"
    REQUESTS_ANSWER = "requests:answer"
    DISCLOSURES_READ = "disclosures:read"
    DISCLOSURES_DECIDE = "disclosures:decide"
    SEALED_SUBMIT = "sealed:submit"
    SEALED_READ = "sealed:read"
    TRANSFERS_READ = "transfers:read"
    TRANSFERS_WRITE = "transfers:write"
    STATISTICS_READ = "statistics:read"


@dataclass(frozen=True)
class Token:
    id: int
    agency_id: int
    user_id: int
    # The admin who issued it, the person it acts for unless a call names another; None for the
    # operator at the command line.
    issued_by_user_id: int | None
    name: str
    scopes: frozenset[Scope]
    case_ids: frozenset[int] | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def allows_case(self, case_id: int) -> bool:
        return self.case_ids is None or case_id in self.case_ids


@dataclass(frozen=True)
class Issued:
    token: Token
    secret: str  # shown once


@dataclass(frozen=True)
class ApiActor:
    """Who is calling the API: the token, the system account it acts as and the person behind."""

    actor: Actor
    token: Token

    def require(self, scope: Scope) -> None:
        if scope not in self.token.scopes:
            raise Forbidden(f"This token does not have the scope {scope.value}.")

    def require_case(self, case_id: int) -> None:
        if not self.token.allows_case(case_id):
            raise Forbidden("This token is limited to other cases.")


def _row(r: object) -> Token:
    return token_of(r._mapping)  # type: ignore[attr-defined]


def token_of(m: Mapping[str, Any]) -> Token:
    """A token from its ``api_tokens`` row (as a mapping of its columns)."""
    ids = m["case_ids"]
    return Token(
        id=m["id"],
        agency_id=m["agency_id"],
        user_id=m["user_id"],
        issued_by_user_id=m["created_by_user_id"],
        name=m["name"],
        scopes=frozenset(Scope(s) for s in m["scopes"].split(",") if s),
        case_ids=None if ids is None else frozenset(int(i) for i in ids.split(",") if i),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        last_used_at=m["last_used_at"],
    )


def ledger_digest(token: Token) -> str:
    """What a token-issued or token-revoked entry holds of the token: a digest anyone holding the
    ``api_tokens`` row can recompute. Never the secret, nor its hash."""

    def when(t: datetime | None) -> str | None:
        return None if t is None else utc_text(t)

    return sha256_hex(
        canonical_json(
            {
                "token": token.id,
                "agency": token.agency_id,
                "account": token.user_id,
                "issued_by": token.issued_by_user_id,
                "name": token.name,
                "scopes": sorted(s.value for s in token.scopes),
                "cases": None if token.case_ids is None else sorted(token.case_ids),
                "created_at": when(token.created_at),
                "expires_at": when(token.expires_at),
                "revoked_at": when(token.revoked_at),
            }
        )
    )


def _record(event: Event, admin: Actor | None, token: Token, when: datetime) -> Record:
    """The log entry for issuing or revoking: by the admin (or the operator), about the token's
    agency (its recipient: the agency whose system gains or loses access)."""
    person = admin.person if admin is not None else None
    return Record(
        action=Action.ALTERATION,
        event=event,
        recorded_at=when,
        actor_user_id=person.id if person is not None else None,
        actor_agency_id=admin.agency.id if admin is not None else None,
        recipients=(token.agency_id,),
        purpose="risk-management",
        lawful_basis="cja2003-s325",
        content_digest=ledger_digest(token),
    )


class TokenService:
    def __init__(self, db: Database, keyring: KeyRing, clock: Clock, policy: PolicyService) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock
        self._policy = policy

    async def issue(
        self,
        admin: Actor | None,
        agency_code: str,
        name: str,
        scopes: list[str],
        *,
        lifetime: timedelta = DEFAULT_LIFETIME,
        case_references: list[str] | None = None,
        role: Role = Role.PRACTITIONER,
    ) -> Issued:
        """Issue a token for an agency system. ``admin`` None means the operator at the CLI."""
        if admin is not None and not admin.has_role(Role.AGENCY_ADMIN):
            raise Forbidden("Only an agency admin issues API tokens.")
        name = name.strip()
        if not 1 <= len(name) <= 100 or any(ord(c) < 32 for c in name):
            raise InvalidInput("Name the system the token is for (1-100 characters).", field="name")
        try:
            wanted = frozenset(Scope(s) for s in scopes)
        except ValueError:
            raise InvalidInput(
                f"Unknown scope; choose from {', '.join(s.value for s in Scope)}.", field="scopes"
            ) from None
        if not wanted:
            raise InvalidInput("Give the token at least one scope.", field="scopes")
        self._check_within_issuer(admin, role, wanted)
        if not timedelta(minutes=5) <= lifetime <= MAX_LIFETIME:
            raise InvalidInput("A token lives between 5 minutes and a year.", field="lifetime")
        now = self._clock.now()
        secret = secrets.token_urlsafe(32)
        async with self._db.write() as conn:
            agency = await directory_store.agency_by_code(conn, agency_code)
            if agency is None:
                raise NotFound(f"unknown agency {agency_code}")
            if admin is not None and admin.agency.id != agency.id:
                raise Forbidden("An agency admin issues tokens for their own agency only.")
            case_ids: list[int] | None = None
            if case_references is not None:
                case_ids = []
                for ref in case_references:
                    case = await case_store.case_by_reference(conn, ref)
                    if case is None or case.area_id != agency.area_id:
                        raise InvalidInput(f"Unknown case {ref}.", field="cases")
                    case_ids.append(case.id)
            count = len(
                (
                    await conn.execute(
                        select(api_tokens.c.id).where(api_tokens.c.agency_id == agency.id)
                    )
                ).all()
            )
            user = await directory_store.add_user(
                conn,
                username=f"system.{agency.code.lower()}.{count + 1}.{secrets.token_hex(6)}",
                display_name=f"System: {name}",
                agency_id=agency.id,
                role=role,
                password_hash=_UNUSABLE_HASH,
                totp_secret_wrapped=self._keyring.wrap_secret(
                    secrets.token_bytes(20), "system-account"
                ),
                created_at=now,
            )
            issuer = admin.person if admin is not None else None
            result = await conn.execute(
                insert(api_tokens)
                .values(
                    agency_id=agency.id,
                    user_id=user.id,
                    name=name,
                    secret_hash=sha256_hex(secret.encode()),
                    scopes=",".join(sorted(s.value for s in wanted)),
                    case_ids=None if case_ids is None else ",".join(str(i) for i in case_ids),
                    created_by_user_id=issuer.id if issuer is not None else None,
                    created_at=now,
                    expires_at=now + lifetime,
                )
                .returning(api_tokens)
            )
            token = _row(result.one())
            await ledger.append(conn, _record(Event.TOKEN_ISSUED, admin, token, now))
        return Issued(token, f"{PREFIX}{token.id}_{secret}")

    def issuable_roles(self, admin: Actor | None) -> tuple[Role, ...]:
        """The roles ``admin`` may give a system (None: the operator, who may give any)."""
        return SYSTEM_ROLES if admin is None else _ADMIN_MAY_ISSUE

    def _check_within_issuer(
        self, admin: Actor | None, role: Role, wanted: frozenset[Scope]
    ) -> None:
        """A token never holds more than its issuer may give, nor what the policy withholds."""
        if role not in SYSTEM_ROLES:
            raise InvalidInput("A system acts as a practitioner or a coordinator.", field="role")
        if role not in self.issuable_roles(admin):
            raise InvalidInput(
                "An agency admin issues practitioner systems only: a coordinator's system would "
                "hold powers the admin does not. The operator issues one "
                "(mappa-hub token issue --role coordinator).",
                field="role",
            )
        if Scope.STATISTICS_READ in wanted and role is not Role.COORDINATOR:
            raise InvalidInput(
                "Only a coordinator's system reads the area's statistics.", field="scopes"
            )
        if Scope.DISCLOSURES_DECIDE in wanted:
            if role is not Role.COORDINATOR:
                raise InvalidInput(
                    "Only a coordinator's system may decide disclosures.", field="scopes"
                )
            if not self._policy.current.delegated_decisions:
                raise InvalidInput(
                    "The policy does not allow delegated decisions (approvals.toml "
                    "delegated_decisions), so no token may decide disclosures: people decide "
                    "them in the inbox.",
                    field="scopes",
                )

    async def list(self, admin: Actor | None, agency_code: str | None = None) -> list[Token]:
        if admin is not None and not admin.has_role(Role.AGENCY_ADMIN):
            raise Forbidden("Only an agency admin sees the agency's API tokens.")
        stmt = select(api_tokens).order_by(api_tokens.c.id)
        async with self._db.read() as conn:
            if admin is not None:
                stmt = stmt.where(api_tokens.c.agency_id == admin.agency.id)
            elif agency_code is not None:
                agency = await directory_store.agency_by_code(conn, agency_code)
                if agency is None:
                    raise NotFound(f"unknown agency {agency_code}")
                stmt = stmt.where(api_tokens.c.agency_id == agency.id)
            return [_row(r) for r in (await conn.execute(stmt)).all()]

    async def revoke(self, admin: Actor | None, token_id: int) -> Token:
        if admin is not None and not admin.has_role(Role.AGENCY_ADMIN):
            raise Forbidden("Only an agency admin revokes API tokens.")
        now = self._clock.now()
        async with self._db.write() as conn:
            row = (
                await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))
            ).first()
            if row is None or (admin is not None and _row(row).agency_id != admin.agency.id):
                raise NotFound("No such token.")
            revoked = await conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            # The account goes with it: a session or token for it stops at once.
            await directory_store.update_user(conn, _row(row).user_id, active=False)
            updated = _row(
                (await conn.execute(select(api_tokens).where(api_tokens.c.id == token_id))).one()
            )
            if revoked.rowcount:  # revoking again changes nothing, and logs nothing
                await ledger.append(conn, _record(Event.TOKEN_REVOKED, admin, updated, now))
        return updated
