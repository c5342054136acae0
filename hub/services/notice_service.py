"""Notification settings, people's addresses, the due-soon sweep, the daily digest, and the
agency administrator's view of the outbox.

The causes themselves queue their messages in their own transactions (``hub.services.notices``);
this service holds what runs on its own: the sweeps (serve's background loop and the CLI) and the
pages people use to choose how they are told.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta

from hub.clock import Clock
from hub.errors import Forbidden, InvalidInput, NotFound
from hub.model.directory import Role, User
from hub.services.actor import Actor
from hub.services.notices import (
    ALLOWED,
    EMAIL_CHANNEL,
    MESSAGE_ID_DOMAIN,
    Group,
    effective_mode,
    requests_due_soon,
)
from hub.store import directory as directory_store
from hub.store import email_outbox as outbox
from hub.store import notification_settings as store
from hub.store.database import Database
from hub.workflows.deadlines import LOCAL_TIME, local_date

log = logging.getLogger("hub.notices")

# Who is notified (the causes name these roles): they choose how on the settings page.
NOTIFIED_ROLES = (Role.PRACTITIONER, Role.COORDINATOR, Role.SENIOR_MANAGER)
# A request due within this many calendar days is "due soon" (told once, before it is overdue).
DUE_SOON_DAYS = 2
DIGEST_EVENT = "digest"
# What the administrator's page lists: messages not yet out, and dead letters.
QUEUED = (outbox.PENDING, outbox.SENDING, outbox.DIGEST)
MAX_ADDRESS = 254  # RFC 5321's limit on a forward path
# A work address, checked strictly: no display name, no comments, no CR/LF, a dotted domain.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def valid_address(text: str, field: str = "email") -> str:
    """A work email address as typed, trimmed; InvalidInput naming ``field`` otherwise."""
    address = text.strip()
    if not address:
        raise InvalidInput("Enter an email address.", field=field)
    if len(address) > MAX_ADDRESS or not _ADDRESS.match(address) or ".." in address:
        raise InvalidInput(
            "Enter an email address in the correct format, like name@example.gov.uk", field=field
        )
    return address


@dataclass(frozen=True)
class NoticeSettings:
    email: str | None
    # Each group's effective mode (the person's choice, else the default).
    modes: dict[Group, str]


@dataclass(frozen=True)
class DigestRun:
    people: int
    folded: int


class NoticeService:
    def __init__(self, db: Database, clock: Clock, digest_at: time) -> None:
        # ``digest_at``: the local time (Europe/London) after which today's digests are due
        # (``MAPPA_HUB_DIGEST_TIME``).
        self._db = db
        self._clock = clock
        self._digest_at = digest_at

    # -- each person's choices -------------------------------------------------------------

    async def settings(self, actor: Actor) -> NoticeSettings:
        person = self._notified(actor)
        async with self._db.read() as conn:
            user = await directory_store.user_by_id(conn, person.id)
            stored = await store.modes(conn, person.id)
        return NoticeSettings(
            email=user.email if user else None,
            modes={g: effective_mode(g, stored.get(g.value)) for g in Group},
        )

    async def save_settings(self, actor: Actor, choices: Mapping[str, str]) -> NoticeSettings:
        """Store the person's choice for every group; refused whole if any is not allowed
        (overdue reminders cannot be switched off)."""
        person = self._notified(actor)
        checked: dict[str, str] = {}
        for group in Group:
            mode = choices.get(group.value, "")
            if mode not in ALLOWED[group]:
                if group is Group.OVERDUE and mode == "off":
                    raise InvalidInput(
                        "Overdue reminders cannot be switched off: choose straight away or in "
                        "a daily summary.",
                        field=group.value,
                    )
                raise InvalidInput(f"Choose how to be told of {group.value}.", field=group.value)
            checked[group.value] = mode
        async with self._db.write() as conn:
            await store.save(conn, person.id, checked, self._clock.now())
        return await self.settings(actor)

    @staticmethod
    def _notified(actor: Actor) -> User:
        # A person's own settings: an agency system (a token) has none to change.
        if actor.token_id is not None or not actor.has_role(*NOTIFIED_ROLES):
            raise Forbidden(
                "Email notifications are for practitioners, coordinators and senior "
                "managers signed in to the inbox."
            )
        return actor.user

    # -- people's addresses (the operator, at the command line) -----------------------------

    async def set_email(self, username: str, address: str | None) -> User:
        """Set a person's work address (None: no email is sent to them)."""
        email = None if address is None else valid_address(address)
        async with self._db.write() as conn:
            user = await directory_store.set_email(conn, username, email)
        if user is None:
            raise NotFound(f"unknown user {username}")
        return user

    # -- sweeps ----------------------------------------------------------------------------

    async def sweep_due_soon(self) -> int:
        """Queue a notice for each request falling due within ``DUE_SOON_DAYS`` (once each:
        the dedupe key holds however many workers or cron runs sweep)."""
        now = self._clock.now()
        today = local_date(now)
        async with self._db.write() as conn:
            rows = await store.requests_due_between(
                conn, today, today + timedelta(days=DUE_SOON_DAYS)
            )
            return await requests_due_soon(conn, rows, now)

    def digest_due(self) -> bool:
        """Whether today's digests are due (the configured local time has passed)."""
        return self._clock.now().astimezone(LOCAL_TIME).time() >= self._digest_at

    async def run_digests(self) -> DigestRun:
        """Fold each person's waiting rows into one digest message, once per person per local
        day (``digest:<user>:<date>``); rows arriving after today's digest wait for tomorrow's."""
        now = self._clock.now()
        day = local_date(now).isoformat()
        people = folded = 0
        async with self._db.read() as conn:
            user_ids = await outbox.users_with_digest(conn)
        for user_id in user_ids:
            async with self._db.write() as conn:
                user = await directory_store.user_by_id(conn, user_id)
                if user is None or not user.active or not user.email:
                    continue  # kept: sent once the person has an address again
                rows = await outbox.digest_rows(conn, user_id)
                if not rows:
                    continue
                ids = [r.id for r in rows]
                joined = ",".join(str(i) for i in ids)
                digest_id = await outbox.enqueue(
                    conn,
                    outbox.message(
                        dedupe_key=f"digest:{user_id}:{day}",
                        message_id=outbox.new_message_id(MESSAGE_ID_DOMAIN),
                        kind=outbox.DIGEST_MESSAGE,
                        event=DIGEST_EVENT,
                        channel=EMAIL_CHANNEL,
                        agency_id=user.agency_id,
                        to_address=user.email,
                        when=now,
                        user_id=user_id,
                        link="/notifications",
                        # The folded rows carry digest_id; the ids are repeated here while they fit.
                        ref=joined if len(joined) <= 100 else None,
                    ),
                )
                if digest_id is None:
                    continue  # today's digest has gone (another worker, or earlier today)
                folded += await outbox.fold(conn, ids, digest_id)
                people += 1
        if people:
            log.info("daily digest: %d message(s) folding %d notice(s)", people, folded)
        return DigestRun(people, folded)

    # -- the agency administrator's outbox ---------------------------------------------------

    async def agency_outbox(
        self, actor: Actor
    ) -> tuple[list[outbox.OutboxRow], list[outbox.OutboxRow]]:
        """The actor's agency's messages not yet out, and its dead letters (no content)."""
        self._admin(actor)
        async with self._db.read() as conn:
            dead = await outbox.listing(conn, status=outbox.DEAD, agency_id=actor.agency.id)
            queued = [
                row
                for status in QUEUED
                for row in await outbox.listing(conn, status=status, agency_id=actor.agency.id)
            ]
        queued.sort(key=lambda r: r.id, reverse=True)
        return queued, dead

    async def retry_dead(self, actor: Actor, row_id: int) -> None:
        """Put one of the agency's dead letters back in the queue, due now."""
        self._admin(actor)
        async with self._db.write() as conn:
            row = await outbox.by_id(conn, row_id)
            if row is None or row.agency_id != actor.agency.id:
                raise NotFound("No such message.")
            if row.status != outbox.DEAD:
                raise InvalidInput("Only a message that could not be sent can be tried again.")
            await outbox.retry(conn, [row_id], self._clock.now())
        # Who asked, and which row: no address, no content.
        log.warning("dead letter %d queued again by user %d", row_id, actor.user.id)

    @staticmethod
    def _admin(actor: Actor) -> None:
        if not actor.has_role(Role.AGENCY_ADMIN):
            raise Forbidden("Only an agency admin sees the agency's email queue.")
