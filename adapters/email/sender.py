"""Draining the email outbox: claim, check, build, send, then record, exactly once per claim.

Each process (``serve --workers N``: every worker runs ``run_sender``) claims its own batch of due
rows with a lease under a name of its own (host:pid:random); a row is claimed by one claimer at a
time (hub.store.email_outbox.claim). For each row: the channel rules are checked (a refusal makes
it a dead letter, never sent), the message is built (an unsafe header makes it dead), it is
handed to the relay, and then ONE write transaction marks it sent and appends its ledger entry.
Only the claimer that still holds the claim can mark it: if the lease ran out and another process
re-claimed the row meanwhile, ``mark_sent`` answers False, nothing is logged twice, and the
warning says a duplicate may have gone out.

The unavoidable window: the relay accepted the message and the process died before the mark was
committed. The row's lease runs out, it is sent again with the same Message-ID (a receiver may
drop it as a duplicate), and only that second send is on the ledger. Nothing is lost; at worst a
message is sent twice.

Failures: transient ones (relay down, timeout, 4xx, TLS refused, dropped connection) retry after
an exponential backoff with full jitter; a permanent 5xx, or the last allowed attempt, makes the
row dead (``mappa-hub email dead``; ``email retry`` puts it back).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.email import message as msg
from adapters.email.rules import ChannelRefused, Clearance, clear
from adapters.email.transport import Failure, Relay, classify, read_password, warn_plaintext
from hub.clock import Clock
from hub.config import EmailConfig
from hub.crypto.secrets import SecretBytes, sha256_hex
from hub.errors import HubError
from hub.ledger.entries import Action, Event, Record
from hub.services import ledger
from hub.services.keyring import KeyRing
from hub.services.letter_box import disclosure_of, open_letter
from hub.services.policy import PolicyService
from hub.store import cases as case_store
from hub.store import directory as directory_store
from hub.store import disclosures as disclosure_store
from hub.store import email_outbox as store
from hub.store.database import Database

if TYPE_CHECKING:
    from hub.wiring import Hub

log = logging.getLogger("adapters.email")

Progress = Callable[[int, int], None]


@dataclass
class Summary:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    # Claims another process took over before this one could record the outcome.
    lost: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.dead + self.lost


@dataclass(frozen=True)
class _Ready:
    row: store.OutboxRow
    data: bytes
    clearance: Clearance
    actor_agency_id: int | None


def claimer_name() -> str:
    """Unique per process and start: a restarted process never inherits an old claim."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"


def backoff(config: EmailConfig, attempts: int) -> float:
    """Full jitter (uniform over [0, min(cap, base * 2^attempts)]): a relay coming back is not
    met by every row at once."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** min(attempts, 32))
    return secrets.SystemRandom().uniform(0, ceiling)


class Sender:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        keyring: KeyRing,
        policy: PolicyService,
        config: EmailConfig,
        *,
        claimer: str | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._policy = policy
        self._config = config
        self.claimer = claimer or claimer_name()
        self._password: SecretBytes | None = read_password(config)
        # Long enough for a whole batch at its worst (four round trips per message, each up to
        # the timeout); a batch that overruns stops early and leaves the rest to the lease.
        self.lease = timedelta(seconds=4 * config.timeout_seconds * (config.batch + 1) + 60)

    @classmethod
    def for_hub(cls, hub: Hub, **kwargs: str) -> Sender:
        return cls(hub.db, hub.clock, hub.keyring, hub.policy, hub.config.email, **kwargs)

    async def drain(
        self, progress: Progress | None = None, max_batches: int = 1_000_000
    ) -> Summary:
        """Send every row due now, batch by batch, until none is left (or ``max_batches``).
        Each row is tried at most once per drain."""
        summary = Summary()
        # Rows due when the drain began: a row that fails meanwhile waits for its backoff, even
        # one shorter than the drain.
        started = self._clock.now()
        for _ in range(max_batches):
            async with self._db.write() as conn:
                rows = await store.claim(
                    conn, self.claimer, started, self.lease, self._config.batch
                )
                waiting = (await store.counts(conn))[store.PENDING]
            if not rows:
                break
            await self._batch(rows, summary)
            if progress is not None:
                progress(summary.handled, summary.handled + waiting)
        return summary

    async def _batch(self, rows: list[store.OutboxRow], summary: Summary) -> None:
        started = time.monotonic()
        budget = self.lease.total_seconds() - 5 * self._config.timeout_seconds
        relay: Relay | None = None
        try:
            for i, row in enumerate(rows):
                if time.monotonic() - started > budget:
                    log.warning("batch overran its lease: %d row(s) left to it", len(rows) - i)
                    return
                ready = await self._prepare(row, summary)
                if ready is None:
                    continue
                if relay is None or not relay.connected:
                    relay = None
                    try:
                        relay = await Relay(self._config, self._password).__aenter__()
                    except Exception as exc:
                        # The relay is unreachable or refused: every row left waits for it.
                        failure = classify(exc)
                        log.error(
                            "SMTP relay unusable (%s); %d row(s) wait", failure.error, len(rows) - i
                        )
                        for later in rows[i:]:
                            await self._failed(later, Failure(False, failure.error), summary)
                        return
                    if self._config.plaintext_allowed:
                        warn_plaintext(self._config)
                try:
                    await relay.send(self._config.from_address, row.to_address, ready.data)
                except Exception as exc:
                    await self._failed(row, classify(exc), summary)
                    continue
                await self._sent(ready, summary)
        finally:
            if relay is not None:
                await relay.__aexit__(None, None, None)

    async def _prepare(self, row: store.OutboxRow, summary: Summary) -> _Ready | None:
        """The message's bytes and its clearance; None (and the row dead) if it may not go."""
        try:
            return await self._compose(row)
        except (ChannelRefused, msg.UnsafeHeader) as exc:
            await self._failed(row, Failure(True, f"{exc.code}: {exc.public_message}"), summary)
        except HubError as exc:  # a letter that does not open, keys held elsewhere, ...
            await self._failed(row, Failure(True, f"{type(exc).__name__}: {exc.code}"), summary)
        return None

    async def _compose(self, row: store.OutboxRow) -> _Ready:
        async with self._db.read() as conn:
            agency = await directory_store.agency_by_id(conn, row.agency_id)
            area = await directory_store.area_by_id(conn, agency.area_id) if agency else None
            number = disclosure_of(row.approval_ref) if row.kind == store.LETTER else None
            disclosure = (
                await disclosure_store.disclosure_by_id(conn, number)
                if number is not None
                else None
            )
            folded: list[store.OutboxRow] = []
            if row.kind == store.DIGEST_MESSAGE:
                folded = await store.folded_into(conn, row.id)
            case_ids = [r.case_id for r in [row, *folded] if r.case_id is not None]
            references = await case_store.references_by_ids(conn, case_ids)
        if agency is None or area is None:
            raise ChannelRefused("the recipient agency is not in the directory")
        clearance = clear(self._policy.current, row, agency, area, disclosure)
        case_ref = references.get(row.case_id) if row.case_id is not None else None
        actor_agency_id = None
        approval = None
        if row.kind == store.LETTER and disclosure is not None:
            # A letter is the disclosing agency's act (s62(3)(b): who disclosed): the agency
            # that proposed it and whose key sealed the text.
            actor_agency_id = disclosure.proposer_agency_id
            text = msg.letter_text(
                await open_letter(
                    self._keyring, disclosure.proposer_agency_id, row.body_sealed or b""
                ),
                row.approval_ref or "",
                case_ref,
            )
            subject, approval = msg.SUBJECT_LETTER, row.approval_ref
        elif row.kind == store.DIGEST_MESSAGE:
            lines = [msg.Line(r.event, references.get(r.case_id or 0), r.link) for r in folded]
            text = msg.digest_text(lines, self._config.base_url)
            subject = msg.SUBJECT_DIGEST
        else:
            text = msg.notification_text(
                msg.Line(row.event, case_ref, row.link), self._config.base_url
            )
            subject = msg.subject_for(row.kind, row.event)
        data = msg.build(
            message_id=row.message_id,
            sender=self._config.from_address,
            to=row.to_address,
            subject=subject,
            text=text,
            when=row.created_at,
            approval=approval,
        )
        return _Ready(row, data, clearance, actor_agency_id)

    async def _sent(self, ready: _Ready, summary: Summary) -> None:
        row, clearance = ready.row, ready.clearance
        now = self._clock.now()
        digest = sha256_hex(ready.data)
        record = Record(
            action=Action.DISCLOSURE,
            event=Event.LETTER_SENT if row.kind == store.LETTER else Event.EMAIL_SENT,
            recorded_at=now,
            # A notification is the hub's own act on its operator's behalf (no person, as for
            # every automatic entry); a letter is the disclosing agency's (see _compose).
            actor_user_id=None,
            actor_agency_id=ready.actor_agency_id,
            case_id=row.case_id,
            # A letter's recipient is outside the directory: the address names them.
            recipients=() if row.kind == store.LETTER else (row.agency_id,),
            purpose=clearance.purpose,
            lawful_basis=clearance.lawful_basis,
            content_digest=digest,
            policy_version=clearance.policy_version,
            decision="PERMIT",
            channel=clearance.channel,
            recipient_address=row.to_address,
        )

        async def job(conn: AsyncConnection) -> bool:
            if not await store.mark_sent(conn, row.id, self.claimer, now, digest):
                return False
            await ledger.append(conn, record)
            return True

        if await self._db.run_write(job):
            summary.sent += 1
        else:
            summary.lost += 1
            log.warning(
                "outbox row %d was sent, but its claim had passed to another process: it may "
                "be sent twice (same Message-ID)",
                row.id,
            )

    async def _failed(self, row: store.OutboxRow, failure: Failure, summary: Summary) -> None:
        attempt = row.attempts + 1
        dead = failure.permanent or attempt >= self._config.max_attempts
        retry_at = None
        if not dead:
            retry_at = self._clock.now() + timedelta(seconds=backoff(self._config, row.attempts))
        async with self._db.write() as conn:
            kept = await store.mark_failed(conn, row.id, self.claimer, failure.error, retry_at)
        if not kept:
            summary.lost += 1
            log.warning("outbox row %d: claim lost before its failure was recorded", row.id)
        elif dead:
            summary.dead += 1
            log.error(
                "outbox row %d is a dead letter after %d attempt(s): %s",
                row.id,
                attempt,
                failure.error,
            )
        else:
            summary.retrying += 1
            log.info(
                "outbox row %d: attempt %d failed (%s); retrying", row.id, attempt, failure.error
            )


async def run_sender(hub: Hub, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
    """The background loop of each server process: drain, then sleep ``poll_seconds`` (or until
    ``wake`` is set), until ``stop``. Without a relay it says so once and does nothing."""
    config = hub.config.email
    if not config.configured:
        log.warning(
            "no SMTP relay configured (MAPPA_HUB_SMTP_HOST): email notifications are queued in "
            "the outbox and wait ('mappa-hub email list'); nothing is sent"
        )
        return
    sender = Sender.for_hub(hub)
    warn_plaintext(config)
    log.info("email sender %s started for relay %s:%d", sender.claimer, config.host, config.port)
    wake = wake or asyncio.Event()
    while not stop.is_set():
        try:
            summary = await sender.drain()
            if summary.handled:
                log.info(
                    "email: %d sent, %d to retry, %d dead",
                    summary.sent,
                    summary.retrying,
                    summary.dead,
                )
        except Exception:  # a failed drain must not stop the server; the next one retries
            log.exception("email sender failed")
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        _, pending = await asyncio.wait(
            waiters, timeout=config.poll_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        wake.clear()
