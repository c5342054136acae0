"""The Hub: builds each dependency once. The web app and the CLI both hang off one of these."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from hub.client.witness import HttpWitnessTransport
from hub.clock import Clock, SystemClock
from hub.config import Config
from hub.crypto.kek import KeyEncryptionKey, load_or_create_kek
from hub.crypto.passwords import PasswordHasher
from hub.errors import ConfigError
from hub.policy.loader import load_policy
from hub.services.access import AccessReportService
from hub.services.accounts import AccountService
from hub.services.auth import AuthService
from hub.services.case_events import CaseEventService
from hub.services.cases import CaseService
from hub.services.casework import CaseworkService
from hub.services.checkpoints import LedgerService, pin_path
from hub.services.directory import DirectoryService
from hub.services.disclosure_letters import DisclosureLetters
from hub.services.disclosures import DisclosureService
from hub.services.held_shares import HeldShareService
from hub.services.inbox_events import InboxEvents
from hub.services.keyring import KeyRing
from hub.services.leases import LeaseService
from hub.services.notice_service import NoticeService
from hub.services.notifications import NotificationService
from hub.services.packets import PacketService
from hub.services.peers import PeerService
from hub.services.policy import PolicyService
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
from hub.store import keys as key_store
from hub.store.database import Database


@dataclass
class Hub:
    config: Config
    clock: Clock
    db: Database
    kek: KeyEncryptionKey
    keyring: KeyRing
    policy: PolicyService
    hasher: PasswordHasher
    directory: DirectoryService
    cases: CaseService
    case_events: CaseEventService
    stats: StatisticsService
    packets: PacketService
    auth: AuthService
    accounts: AccountService
    ledger: LedgerService
    access: AccessReportService
    requests: RequestService
    disclosures: DisclosureService
    casework: CaseworkService
    tokens: TokenService
    sealed: SealedService
    held_shares: HeldShareService
    share_approvals: ShareApprovals
    saved_drafts: SavedDraftService
    notifications: NotificationService
    visor: VisorRecordService
    visor_export: VisorExportService
    notices: NoticeService
    letters: DisclosureLetters
    transfers: TransferService
    peers: PeerService
    witness: WitnessService
    inbox_events: InboxEvents
    leases: LeaseService

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
        hasher = PasswordHasher(config.passwords)
        packets = PacketService(db, keyring, policy, clock, config.limits)
        held_shares = HeldShareService(db, keyring, policy, clock)
        requests = RequestService(db, clock)
        casework = CaseworkService(db, clock, lambda: policy.current.transfer)
        disclosures = DisclosureService(db, clock, policy)
        visor = VisorRecordService(db, keyring, clock)
        ledger = LedgerService(db, kek, clock, pin_path(config.kek_path))
        peers = PeerService(db, keyring, ledger, clock)
        auth = AuthService(db, keyring, hasher, clock, config.sessions)
        return cls(
            config=config,
            clock=clock,
            db=db,
            kek=kek,
            keyring=keyring,
            policy=policy,
            hasher=hasher,
            directory=DirectoryService(db, keyring, hasher, clock),
            cases=CaseService(db, clock),
            case_events=CaseEventService(db, clock),
            stats=StatisticsService(db, clock, policy),
            packets=packets,
            auth=auth,
            accounts=AccountService(db, keyring, hasher, clock, config.sessions, auth),
            ledger=ledger,
            access=AccessReportService(db),
            requests=requests,
            disclosures=disclosures,
            casework=casework,
            tokens=TokenService(db, keyring, clock, policy),
            sealed=SealedService(db, keyring, policy, packets, clock, config.limits),
            held_shares=held_shares,
            share_approvals=ShareApprovals(db, policy, clock, held_shares),
            saved_drafts=SavedDraftService(db, keyring, packets, clock, config.limits),
            notifications=NotificationService(db, clock, requests, casework),
            visor=visor,
            visor_export=VisorExportService(db, visor, policy, clock),
            notices=NoticeService(db, clock, config.email.digest_time),
            letters=DisclosureLetters(db, clock, keyring, policy, disclosures),
            transfers=TransferService(db, clock, policy),
            peers=peers,
            witness=WitnessService(
                db,
                ledger,
                peers,
                clock,
                pin_path(config.kek_path),
                HttpWitnessTransport(peers, clock),
            ),
            inbox_events=InboxEvents(db),
            leases=LeaseService(db, config.lease_seconds),
        )

    async def close(self) -> None:
        await self.inbox_events.stop()
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
