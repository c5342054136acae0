"""Areas, agencies and users: the hub's directory."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy.exc import IntegrityError

from hub.clock import Clock
from hub.crypto import totp
from hub.crypto.passwords import PasswordHasher
from hub.errors import Conflict, InvalidInput, NotFound
from hub.ledger.entries import Event
from hub.model.directory import Agency, AgencyType, Area, Jurisdiction, Role, User
from hub.services import key_events, ledger
from hub.services.account_events import account_record
from hub.services.keyring import KeyRing
from hub.store import directory as store
from hub.store.database import Database
from hub.text import check_line

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def totp_context(username: str) -> str:
    return f"totp/{username}"


@dataclass(frozen=True)
class AgencyIndex:
    """Every agency's code by its id and id by its code, as of one read of the list: built once
    a read, not by each API call that turns codes to ids and back (a national directory has
    hundreds of agencies). Read-only."""

    codes: Mapping[int, str]
    ids: Mapping[str, int]

    @classmethod
    def of(cls, agencies: list[Agency]) -> AgencyIndex:
        return cls(
            MappingProxyType({a.id: a.code for a in agencies}),
            MappingProxyType({a.code: a.id for a in agencies}),
        )

    def knows(self, wanted: int | str) -> bool:
        """Whether ``wanted``, an agency's id or code, is in the index."""
        return wanted in self.codes or wanted in self.ids


@dataclass(frozen=True)
class Enrolment:
    """What a new user needs to sign in: shown once, never stored in clear."""

    user: User
    totp_uri: str


class DirectoryService:
    def __init__(
        self, db: Database, keyring: KeyRing, hasher: PasswordHasher, clock: Clock
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._hasher = hasher
        self._clock = clock
        self._agencies: list[Agency] | None = None
        self._agency_index = AgencyIndex.of([])
        self._agencies_read_at = 0.0
        # One read of the list at a time (see ``agencies``).
        self._agencies_reading = asyncio.Lock()

    async def add_area(self, code: str, name: str, jurisdiction: Jurisdiction) -> Area:
        code = _check_code(code)
        async with self._db.write() as conn:
            if await store.area_by_code(conn, code):
                raise Conflict(f"area {code} already exists")
            area = await store.add_area(conn, code, _name(name, "area"), jurisdiction)
            await ledger.append(conn, key_events.area_added(area, self._clock.now()))
            return area

    async def add_agency(self, code: str, name: str, type_: AgencyType, area_code: str) -> Agency:
        code = _check_code(code)
        name = _name(name, "agency")
        async with self._db.write() as conn:
            area = await store.area_by_code(conn, area_code)
            if area is None:
                raise NotFound(f"unknown area {area_code}")
            if await store.agency_by_code(conn, code):
                raise Conflict(f"agency {code} already exists")
            agency = await store.add_agency(conn, code, name, type_, area.id)
            now = self._clock.now()
            await ledger.append(conn, key_events.agency_added(agency, area.code, now))
            # Its keys in the same transaction: an agency is never on the hub without them.
            await self._keyring.issue_in(conn, agency.id, now)
        self._agencies = None
        await self._keyring.reload()
        return agency

    async def add_user(
        self,
        username: str,
        display_name: str,
        agency_code: str,
        role: Role,
        password: str,
    ) -> Enrolment:
        # fullmatch: ``$`` would match before a final line break ("alice\n").
        if not _USERNAME.fullmatch(username):
            raise InvalidInput(
                "usernames are 3-64 lower-case letters, digits, '.', '_' or '-'", field="username"
            )
        display_name = check_line(display_name.strip(), "name", "the person's name")
        try:
            password_hash = await asyncio.to_thread(self._hasher.hash, password)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="password") from None
        secret = totp.new_secret()
        wrapped = self._keyring.wrap_secret(secret.encode(), totp_context(username))
        now = self._clock.now()
        try:
            async with self._db.write() as conn:
                agency = await store.agency_by_code(conn, agency_code)
                if agency is None:
                    raise NotFound(f"unknown agency {agency_code}")
                user = await store.add_user(
                    conn,
                    username=username,
                    display_name=display_name or username,
                    agency_id=agency.id,
                    role=role,
                    password_hash=password_hash,
                    totp_secret_wrapped=wrapped,
                    created_at=now,
                )
                await ledger.append(
                    conn,
                    account_record(
                        Event.ACCOUNT_CREATED, user, now, by_user_id=None, by_agency_id=None
                    ),
                )
        except IntegrityError:
            raise Conflict(f"user {username} already exists") from None
        return Enrolment(user, totp.provisioning_uri(secret, username))

    async def totp_uri(self, username: str) -> str:
        """Re-display a user's enrolment URI (operator action, e.g. the demo's login sheet)."""
        async with self._db.read() as conn:
            row = await store.credentials_by_username(conn, username)
        if row is None:
            raise NotFound(f"unknown user {username}")
        secret = self._keyring.unwrap_secret(row["totp_secret_wrapped"], totp_context(username))
        return totp.provisioning_uri(secret.reveal().decode(), username)

    async def areas(self) -> list[Area]:
        async with self._db.read() as conn:
            return await store.list_areas(conn)

    async def agencies(self, refresh: bool = False) -> list[Agency]:
        """Every agency. Agencies are only ever added (never renamed, retyped or removed), so a
        list a few seconds old is only ever short of a new one: ``refresh`` when a code is not
        found in it. Saves a database trip on every API call.

        When the list is due, the requests of that moment wait for one read of it rather than
        each making its own: under load they all found it due at once and each took a pooled
        connection, and the pool opened (then closed) a connection for each beyond its size,
        every few seconds (bench/README.md, twenty-third session)."""
        await self._read_agencies_if_due(refresh)
        return list(self._agencies or ())

    async def agency_index(self, refresh: bool = False) -> AgencyIndex:
        """Codes by id and ids by code, from the same short-lived list as ``agencies``."""
        await self._read_agencies_if_due(refresh)
        return self._agency_index

    async def _read_agencies_if_due(self, refresh: bool) -> None:
        asked = time.monotonic()
        if not self._agencies_due(asked, refresh):
            return
        async with self._agencies_reading:
            if self._agencies_due(asked, refresh):  # not read by the caller this one waited for
                started = time.monotonic()
                async with self._db.read() as conn:
                    agencies = await store.list_agencies(conn)
                self._agencies, self._agency_index = agencies, AgencyIndex.of(agencies)
                self._agencies_read_at = started

    def _agencies_due(self, asked: float, refresh: bool) -> bool:
        """Whether a caller that asked at ``asked`` must read the list: there is none yet, it
        is older than the TTL, or (``refresh``) its read began before the caller asked."""
        if self._agencies is None:
            return True
        if refresh:
            return self._agencies_read_at < asked
        return time.monotonic() - self._agencies_read_at > AGENCY_LIST_TTL

    async def users(self) -> list[User]:
        async with self._db.read() as conn:
            return await store.list_users(conn)

    async def agency(self, agency_id: int) -> Agency:
        async with self._db.read() as conn:
            found = await store.agency_by_id(conn, agency_id)
        if found is None:
            raise NotFound("unknown agency")
        return found


AGENCY_LIST_TTL = 5.0  # seconds


def _check_code(code: str) -> str:
    code = code.strip().upper()
    if not _CODE.fullmatch(code):
        raise InvalidInput(
            "codes are 2-32 upper-case letters, digits or '-', e.g. DBY-POLICE", field="code"
        )
    return code


def _name(name: str, what: str) -> str:
    """An area's or agency's name: one line, shown wherever the directory is (``hub.text``)."""
    name = check_line(name.strip(), "name", f"the {what} name")
    if not name:
        raise InvalidInput(f"Give the {what} a name.", field="name")
    return name
