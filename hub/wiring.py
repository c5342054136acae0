"""The Hub: builds each dependency once. The web app and the CLI both hang off one of these.

What every command needs (the database, the KEK, the keyring, the policy) is opened by
``Hub.open``; each service is built, and its module imported, the first time it is used. A
command-line run uses one to three of them, and building them all cost most of its start-up; the
server builds them all before it listens (``build_all``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from hub.clock import Clock, SystemClock
from hub.config import Config
from hub.crypto.kek import KeyEncryptionKey, load_or_create_kek
from hub.crypto.passwords import PasswordHasher
from hub.errors import ConfigError
from hub.policy.loader import load_policy
from hub.services.keyring import KeyRing
from hub.services.policy import PolicyService
from hub.store import keys as key_store
from hub.store.database import Database

if TYPE_CHECKING:
    from hub.services.access import AccessReportService
    from hub.services.accounts import AccountService
    from hub.services.api_callers import ApiCallers
    from hub.services.auth import AuthService
    from hub.services.case_events import CaseEventService
    from hub.services.cases import CaseService
    from hub.services.casework import CaseworkService
    from hub.services.checkpoints import LedgerService
    from hub.services.directory import DirectoryService
    from hub.services.disclosure_letters import DisclosureLetters
    from hub.services.disclosures import DisclosureService
    from hub.services.held_shares import HeldShareService
    from hub.services.inbox_events import InboxEvents
    from hub.services.leases import LeaseService
    from hub.services.notice_service import NoticeService
    from hub.services.notifications import NotificationService
    from hub.services.packets import PacketService
    from hub.services.peers import PeerService
    from hub.services.requests import RequestService
    from hub.services.saved_drafts import SavedDraftService
    from hub.services.sealed import SealedService
    from hub.services.share_approvals import ShareApprovals
    from hub.services.stats import StatisticsService
    from hub.services.tokens import TokenService
    from hub.services.transfers import TransferService
    from hub.services.visor import VisorRecordService
    from hub.services.visor_export import VisorExportService
    from hub.services.witness import WitnessService


@dataclass
class Hub:
    config: Config
    clock: Clock
    db: Database
    kek: KeyEncryptionKey
    keyring: KeyRing
    policy: PolicyService

    @classmethod
    async def open(cls, config: Config, clock: Clock | None = None) -> Hub:
        """Open a hub on an initialised data directory and a migrated database."""
        clock = clock or SystemClock()
        policy_set = load_policy(config.policy_dir)
        kek = KeyEncryptionKey.load(config.kek_path)
        db = Database(config.database_url)
        try:
            await db.require_migrated()
            await _require_matching_kek(db, kek)
        except Exception:
            await db.dispose()
            raise
        keyring = KeyRing(db, kek, clock)
        await keyring.reload()
        policy = PolicyService(db, clock, config.policy_dir, policy_set)
        await policy.archive_current()
        return cls(
            config=config,
            clock=clock,
            db=db,
            kek=kek,
            keyring=keyring,
            policy=policy,
        )

    def build_all(self) -> None:
        """Build every service now: a server does so before its first request, so that none of
        them pays for the imports, and the garbage collector's start-up freeze holds them all.
        Likewise the password hasher's equaliser and the bank holidays' calendar."""
        for name, member in vars(type(self)).items():
            if isinstance(member, cached_property):
                getattr(self, name)
        self.hasher.prepare()
        from hub.workflows import deadlines

        deadlines.prepare(deadlines.local_date(self.clock.now()))

    # The services, each built on first use (the module's note), in the order they depend.

    @cached_property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher(self.config.passwords)

    @cached_property
    def packets(self) -> PacketService:
        from hub.services.packets import PacketService

        return PacketService(self.db, self.keyring, self.policy, self.clock, self.config.limits)

    @cached_property
    def held_shares(self) -> HeldShareService:
        from hub.services.held_shares import HeldShareService

        return HeldShareService(self.db, self.keyring, self.policy, self.clock)

    @cached_property
    def requests(self) -> RequestService:
        from hub.services.requests import RequestService

        return RequestService(self.db, self.clock)

    @cached_property
    def casework(self) -> CaseworkService:
        from hub.services.casework import CaseworkService

        policy = self.policy
        return CaseworkService(self.db, self.clock, lambda: policy.current.transfer)

    @cached_property
    def disclosures(self) -> DisclosureService:
        from hub.services.disclosures import DisclosureService

        return DisclosureService(self.db, self.clock, self.policy)

    @cached_property
    def visor(self) -> VisorRecordService:
        from hub.services.visor import VisorRecordService

        return VisorRecordService(self.db, self.keyring, self.clock)

    @cached_property
    def ledger(self) -> LedgerService:
        from hub.services.checkpoints import LedgerService, pin_path

        return LedgerService(self.db, self.kek, self.clock, pin_path(self.config.kek_path))

    @cached_property
    def peers(self) -> PeerService:
        from hub.services.peers import PeerService

        return PeerService(self.db, self.keyring, self.ledger, self.clock)

    @cached_property
    def auth(self) -> AuthService:
        from hub.services.auth import AuthService

        return AuthService(self.db, self.keyring, self.hasher, self.clock, self.config.sessions)

    @cached_property
    def directory(self) -> DirectoryService:
        from hub.services.directory import DirectoryService

        return DirectoryService(self.db, self.keyring, self.hasher, self.clock)

    @cached_property
    def cases(self) -> CaseService:
        from hub.services.cases import CaseService

        return CaseService(self.db, self.clock)

    @cached_property
    def case_events(self) -> CaseEventService:
        from hub.services.case_events import CaseEventService

        return CaseEventService(self.db, self.clock)

    @cached_property
    def stats(self) -> StatisticsService:
        from hub.services.stats import StatisticsService

        return StatisticsService(self.db, self.clock, self.policy)

    @cached_property
    def accounts(self) -> AccountService:
        from hub.services.accounts import AccountService

        return AccountService(
            self.db, self.keyring, self.hasher, self.clock, self.config.sessions, self.auth
        )

    @cached_property
    def access(self) -> AccessReportService:
        from hub.services.access import AccessReportService

        return AccessReportService(self.db)

    @cached_property
    def tokens(self) -> TokenService:
        from hub.services.tokens import TokenService

        return TokenService(self.db, self.keyring, self.clock, self.policy)

    @cached_property
    def callers(self) -> ApiCallers:
        from hub.services.api_callers import ApiCallers

        return ApiCallers(self.db, self.clock)

    @cached_property
    def sealed(self) -> SealedService:
        from hub.services.sealed import SealedService

        return SealedService(
            self.db, self.keyring, self.policy, self.packets, self.clock, self.config.limits
        )

    @cached_property
    def share_approvals(self) -> ShareApprovals:
        from hub.services.share_approvals import ShareApprovals

        return ShareApprovals(self.db, self.policy, self.clock, self.held_shares)

    @cached_property
    def saved_drafts(self) -> SavedDraftService:
        from hub.services.saved_drafts import SavedDraftService

        return SavedDraftService(
            self.db, self.keyring, self.packets, self.clock, self.config.limits
        )

    @cached_property
    def notifications(self) -> NotificationService:
        from hub.services.notifications import NotificationService

        return NotificationService(self.db, self.clock, self.requests, self.casework)

    @cached_property
    def visor_export(self) -> VisorExportService:
        from hub.services.visor_export import VisorExportService

        return VisorExportService(self.db, self.visor, self.policy, self.clock)

    @cached_property
    def notices(self) -> NoticeService:
        from hub.services.notice_service import NoticeService

        return NoticeService(self.db, self.clock, self.config.email.digest_time)

    @cached_property
    def letters(self) -> DisclosureLetters:
        from hub.services.disclosure_letters import DisclosureLetters

        return DisclosureLetters(self.db, self.clock, self.keyring, self.policy, self.disclosures)

    @cached_property
    def transfers(self) -> TransferService:
        from hub.services.transfers import TransferService

        return TransferService(self.db, self.clock, self.policy)

    @cached_property
    def witness(self) -> WitnessService:
        from hub.client.witness import HttpWitnessTransport
        from hub.services.checkpoints import pin_path
        from hub.services.witness import WitnessService

        return WitnessService(
            self.db,
            self.ledger,
            self.peers,
            self.clock,
            pin_path(self.config.kek_path),
            HttpWitnessTransport(self.peers, self.clock),
        )

    @cached_property
    def inbox_events(self) -> InboxEvents:
        from hub.services.inbox_events import InboxEvents

        return InboxEvents(self.db)

    @cached_property
    def leases(self) -> LeaseService:
        from hub.services.leases import LeaseService

        return LeaseService(self.db, self.config.lease_seconds)

    async def close(self) -> None:
        # Only what was built has anything to finish.
        built = vars(self)
        if "inbox_events" in built:
            await self.inbox_events.stop()
        if "packets" in built:
            await self.packets.close()
        await self.db.dispose()


async def _require_matching_kek(db: Database, kek: KeyEncryptionKey) -> None:
    """Refuse to run with a KEK other than the one the stored private keys are wrapped under."""
    async with db.read() as conn:
        kek_ids = await key_store.kek_ids(conn)
    if kek_ids - {kek.kek_id}:
        raise ConfigError(
            f"the key-encryption key at the configured path (id {kek.kek_id}) is not the one this "
            f"database's keys are wrapped under ({', '.join(sorted(kek_ids))}): restore the right "
            "KEK file from its backup"
        )


async def initialise(config: Config) -> bool:
    """Create the data directory and KEK if missing, and migrate the database to the newest schema.

    Returns True if a new key-encryption key was created (the operator must back it up). Refuses
    to create a KEK for a database that already holds keys wrapped under another one: a lost KEK
    must be restored from backup, never silently replaced.
    """
    from hub.services.checkpoints import LedgerService, pin_path

    config.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.data_dir, 0o700)
    # As the tables' owner where the deployment has two roles: the gateways' role cannot migrate.
    db = Database(config.migration_url)
    try:
        await db.migrate()
        if config.kek_path.exists():
            kek, created = KeyEncryptionKey.load(config.kek_path), False
        else:
            async with db.read() as conn:
                if await key_store.kek_ids(conn):
                    raise ConfigError(
                        f"no key-encryption key at {config.kek_path}, but the database holds keys "
                        "wrapped under one: restore the KEK file from its backup"
                    )
            kek, created = load_or_create_kek(config.kek_path)
        await _require_matching_kek(db, kek)
        await LedgerService(db, kek, SystemClock(), pin_path(config.kek_path)).ensure_hub_key()
    finally:
        await db.dispose()
    if db.is_sqlite:
        # The case index is in clear: the file is for the service user alone (WAL files follow).
        with contextlib.suppress(FileNotFoundError):
            os.chmod(config.database_url.split("///", 1)[1], 0o600)
    return created
